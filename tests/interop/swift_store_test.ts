// The single-node Swift store the S3 tests and benchmarks use (tests/interop/_swift.ts), driven
// with curl's own SigV4 signing (--aws-sigv4): a bucket is created, an object goes up and comes
// back byte for byte, the bucket lists it, a wrong secret is refused, and stop() ends the store.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bytesOf, PEER, runPeer, tempDir } from "./_peers.ts";
import { startSwift, swiftMissing, type SwiftStore } from "./_swift.ts";

const BUCKET = "ftkit-store";

/** What curl got: the HTTP status and the body (or the file it was written to). */
interface S3Answer {
  status: number;
  body: string;
}

/**
 * A signed request with curl: `path` below the endpoint, the body from `upload` (a file) or
 * none, the answer's body into `output` when given.
 */
async function s3(
  store: SwiftStore,
  method: string,
  path: string,
  options: { upload?: string; output?: string; secret?: string } = {},
): Promise<S3Answer> {
  const body = options.upload === undefined ? new Uint8Array() : await readFile(options.upload);
  const hash = createHash("sha256").update(body).digest("hex");
  const secret = options.secret ?? store.secretAccessKey;
  // The access key has a colon, which curl's --user would split at: credentials go in the URL.
  const url = new URL(path, store.endpoint);
  url.username = encodeURIComponent(store.accessKeyId);
  url.password = encodeURIComponent(secret);
  const args = [
    "-sS",
    "--aws-sigv4",
    `aws:amz:${store.region}:s3`,
    "-H",
    `x-amz-content-sha256: ${hash}`,
    "-X",
    method,
    "-w",
    "\n%{http_code}",
  ];
  if (options.upload !== undefined) args.push("-T", options.upload);
  if (options.output !== undefined) args.push("-o", options.output);
  args.push(url.href);
  const ran = await runPeer(PEER.curl, args);
  assert.equal(ran.code, 0, `curl ${method} ${path}: ${ran.stderr}`);
  const lines = ran.stdout.trimEnd().split("\n");
  return { status: Number(lines.pop()), body: lines.join("\n") };
}

describe("single-node Swift with s3api", { skip: swiftMissing() ?? false }, () => {
  let store: SwiftStore;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    dir = await tempDir("ftkit-s3-");
    store = await startSwift();
  });

  after(async () => {
    await store?.stop();
    await dir?.remove();
  });

  test("describes itself", () => {
    assert.match(store.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(store.region, "us-east-1");
    assert.equal(store.accessKeyId, "test:tester");
    assert.equal(store.secretAccessKey, "testing");
  });

  test("creates a bucket, stores an object and gives it back byte for byte", async () => {
    await store.createBucket(BUCKET);
    const head = await s3(store, "HEAD", `/${BUCKET}`);
    assert.equal(head.status, 200);

    const sent = bytesOf(300_000, 7);
    const upload = join(dir.path, "upload.bin");
    await writeFile(upload, sent);
    const put = await s3(store, "PUT", `/${BUCKET}/dir/object.bin`, { upload });
    assert.equal(put.status, 200, put.body);

    const download = join(dir.path, "download.bin");
    const get = await s3(store, "GET", `/${BUCKET}/dir/object.bin`, { output: download });
    assert.equal(get.status, 200);
    assert.deepEqual(new Uint8Array(await readFile(download)), sent);

    const list = await s3(store, "GET", `/${BUCKET}?list-type=2&prefix=dir%2F`);
    assert.equal(list.status, 200, list.body);
    assert.match(list.body, /<ListBucketResult[ >]/);
    assert.match(list.body, /<Key>dir\/object\.bin<\/Key>/);
    assert.match(list.body, /<Size>300000<\/Size>/);
    assert.match(list.body, /<KeyCount>1<\/KeyCount>/);
  });

  test("refuses a request signed with the wrong secret", async () => {
    const answer = await s3(store, "GET", `/${BUCKET}?list-type=2`, { secret: "wrong" });
    assert.equal(answer.status, 403);
    assert.match(answer.body, /<Code>SignatureDoesNotMatch<\/Code>/);
  });

  test("stop() ends the store", async () => {
    const { endpoint } = store;
    await store.stop();
    const ran = await runPeer(PEER.curl, ["-sS", "-m", "5", `${endpoint}/healthcheck`]);
    // 7: could not connect.
    assert.equal(ran.code, 7, ran.stdout + ran.stderr);
  });
});
