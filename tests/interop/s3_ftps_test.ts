// ftkit's FTPS server serving a real S3-compatible store (OpenStack Swift's s3api, single node on
// loopback: tests/interop/_swift.ts) through s3Storage, against curl, lftp and ftkit's own client:
// every FTP operation on the bucket, a 100 MB upload (multipart) and download byte for byte, an
// aborted upload that leaves no object and no pending multipart upload, REST resume, and the
// refusals (RMD of a non-empty folder, overwrite without allowOverwrite).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import { PASSWORD, USER } from "./_ftps_servers.ts";
import {
  CA_PEM,
  curl,
  type FtpsLogEntry,
  lftp,
  logged,
  type LoggedServer,
  startFtkit,
} from "./_ftps_clients.ts";
import { startSwift, swiftMissing, type SwiftStore } from "./_swift.ts";
import { connectFtps } from "../ftps/_connect.ts";
import { until } from "../_wait.ts";
import { s3Storage, type S3StorageOptions } from "../../ftps/s3_storage.ts";
import { S3Client } from "../../io/s3/client.ts";

const BIG = 100 * 1024 * 1024;
const medium = bytesOf(6 * 1024 * 1024 + 5, 11);

let readBack: (key: string) => Promise<Uint8Array>;
async function object(key: string): Promise<Uint8Array> {
  return await readBack(key);
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(Buffer.compare(actual, expected) === 0, `${what}: bytes differ`);
}

const skip = swiftMissing() ?? missing("curl");

describe("ftkit's FTPS server on an S3 bucket (Swift s3api)", { skip }, () => {
  let store: SwiftStore;
  let server: LoggedServer;
  let readOnly: LoggedServer;
  let s3: S3Client;
  let local: { path: string; remove(): Promise<void> };
  let s3Options: S3StorageOptions;

  before(async () => {
    store = await startSwift();
    await store.createBucket("files");
    s3Options = {
      endpoint: store.endpoint,
      region: store.region,
      bucket: "files",
      credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
    };
    s3 = new S3Client(s3Options);
    readBack = async (key) => new Uint8Array(await (await s3.get(key))!.arrayBuffer());
    await s3.put("ftp/hello.txt", new TextEncoder().encode("hello from the bucket\n"));
    await s3.put("ftp/sub/inner.txt", new TextEncoder().encode("inner\n"));
    await s3.put("outside.txt", new TextEncoder().encode("not served\n"));
    const storage = s3Storage({
      ...s3Options,
      prefix: "ftp",
      allowWrite: true,
      allowOverwrite: true,
      partSize: 5 * 1024 * 1024,
    });
    server = await startFtkit("", { root: undefined, storage });
    readOnly = await startFtkit("", {
      root: undefined,
      storage: s3Storage({ ...s3Options, prefix: "ftp", allowWrite: true }),
    });
    local = await tempDir("ftkit-s3-ftps-");
  });

  after(async () => {
    await server?.close();
    await readOnly?.close();
    await store?.stop();
    await local?.remove();
  });

  /** ftkit's client, logged in to the server that may overwrite. */
  const connect = () =>
    connectFtps({
      host: "127.0.0.1",
      port: server.port,
      user: USER,
      password: PASSWORD,
      ca: CA_PEM,
      servername: "localhost",
      timeoutMs: 20_000,
    });

  const url = (path = "", port = server.port) =>
    `ftp://${USER}:${PASSWORD}@127.0.0.1:${port}/${path}`;

  test("curl: LIST, NLST, RETR; nothing outside the prefix is seen", async () => {
    const list = await curl(["--ssl-reqd", url()]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^-.* 22 .* hello\.txt\r?$/m);
    assert.match(list.stdout, /^d.* sub\r?$/m);
    assert.doesNotMatch(list.stdout, /outside/);
    const names = await curl(["--ssl-reqd", "--list-only", url("sub/")]);
    assert.deepEqual(names.stdout.split(/\r?\n/).filter(Boolean), ["inner.txt"]);
    const retr = await curl(["--ssl-reqd", url("hello.txt")]);
    assert.equal(retr.stdout, "hello from the bucket\n");
    const missingFile = await curl(["--ssl-reqd", url("nope.txt")]);
    assert.notEqual(missingFile.code, 0);
    const escape = await curl(["--ssl-reqd", url("../outside.txt")]);
    assert.notEqual(escape.stdout, "not served\n");
  });

  test("curl: STOR (multipart), SIZE and MDTM, APPE, MKD, RNFR/RNTO, DELE, RMD, MFMT", async () => {
    const file = join(local.path, "medium.bin");
    await writeFile(file, medium);
    const stor = await curl(["--ssl-reqd", "-T", file, url("up/medium.bin"), "--ftp-create-dirs"]);
    assert.equal(stor.code, 0, stor.stderr);
    const head = await s3.head("ftp/up/medium.bin");
    assert.equal(head?.size, medium.length);
    // Two parts of 5 MiB and the rest: a multipart object.
    assert.match(head!.etag, /-2"$/);
    const got = await curl([
      "--ssl-reqd",
      "-o",
      join(local.path, "back.bin"),
      url("up/medium.bin"),
    ]);
    assert.equal(got.code, 0, got.stderr);
    sameBytes(await readFile(join(local.path, "back.bin")), medium, "RETR");

    const info = await curl(["--ssl-reqd", "-I", url("up/medium.bin")]);
    assert.match(info.stdout, new RegExp(`Content-Length: ${medium.length}`));
    assert.match(info.stdout, /Last-Modified: /);

    const tail = join(local.path, "tail.txt");
    await writeFile(tail, "appended\n");
    const appe = await curl(["--ssl-reqd", "--append", "-T", tail, url("up/medium.bin")]);
    assert.equal(appe.code, 0, appe.stderr);
    const appended = await (await s3.get("ftp/up/medium.bin"))!.arrayBuffer();
    sameBytes(new Uint8Array(appended), Buffer.concat([medium, Buffer.from("appended\n")]), "APPE");

    const ops = await curl([
      "--ssl-reqd",
      "-Q",
      "MKD /made",
      "-Q",
      "RNFR /up/medium.bin",
      "-Q",
      "RNTO /made/moved.bin",
      "-Q",
      "MFMT 20200102030405 /made/moved.bin",
      url(),
    ]);
    assert.equal(ops.code, 0, ops.stderr);
    assert.equal(await s3.head("ftp/up/medium.bin"), undefined);
    assert.equal((await s3.head("ftp/made/moved.bin"))?.size, medium.length + 9);
    const mdtm = await curl(["--ssl-reqd", "-I", url("made/moved.bin")]);
    assert.match(mdtm.stdout, /Last-Modified: Thu, 02 Jan 2020 03:04:05 GMT/);

    const notEmpty = await curl(["--ssl-reqd", "-Q", "RMD /made", url()]);
    assert.notEqual(notEmpty.code, 0);
    assert.ok(await s3.head("ftp/made/moved.bin"), "RMD of a non-empty folder keeps it");
    const cleaned = await curl([
      "--ssl-reqd",
      "-Q",
      "DELE /made/moved.bin",
      "-Q",
      "RMD /made",
      url(),
    ]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.equal(await s3.head("ftp/made/moved.bin"), undefined);
    assert.equal(await s3.head("ftp/made/"), undefined);
  });

  test("without allowOverwrite: STOR onto an object is refused, the object kept", async () => {
    const file = join(local.path, "other.txt");
    await writeFile(file, "other\n");
    const ran = await curl(["--ssl-reqd", "-T", file, url("hello.txt", readOnly.port)]);
    assert.notEqual(ran.code, 0);
    const body = await (await s3.get("ftp/hello.txt"))!.text();
    assert.equal(body, "hello from the bucket\n");
  });

  test("lftp: mkdir, put, cls, mv, get, rm, rmdir", { skip: missing("lftp") }, async () => {
    const file = join(local.path, "lftp.txt");
    await writeFile(file, "from lftp\n");
    const down = join(local.path, "lftp-down.txt");
    const ran = await lftp(`ftp://127.0.0.1:${server.port}`, [
      "mkdir lf",
      `put ${file} -o lf/a.txt`,
      "mv lf/a.txt lf/b.txt",
      "cls -1 lf/",
      `get lf/b.txt -o ${down}`,
      "rm lf/b.txt",
      "rmdir lf",
      "cls -1",
    ]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^lf\/b\.txt$/m);
    assert.equal(await readFile(down, "utf8"), "from lftp\n");
    assert.doesNotMatch(ran.stdout, /^lf\/?$/m);
    assert.equal((await s3.list("ftp/lf/")).objects.length, 0);
  });

  test("ftkit's client: put, list (MLSD), size, rename, get, remove, mkdir, removeDir", async () => {
    const client = await connect();
    try {
      await client.mkdir("/kit");
      await client.put("/kit/a.bin", medium);
      const listed = await client.list("/kit");
      assert.deepEqual(listed.map((entry) => [entry.name, entry.size]), [["a.bin", medium.length]]);
      assert.equal(await client.size("/kit/a.bin"), medium.length);
      await client.rename("/kit/a.bin", "/kit/b.bin");
      sameBytes(await client.get("/kit/b.bin"), medium, "get");
      sameBytes(await client.get("/kit/b.bin", { offset: 1000 }), medium.subarray(1000), "REST");
      await client.remove("/kit/b.bin");
      await client.removeDir("/kit");
      const names = (await client.list("/")).map((entry) => entry.name);
      assert.ok(names.includes("hello.txt") && !names.includes("kit"), names.join(", "));
    } finally {
      await client.close();
    }
  });

  test("100 MB up (multipart) and down, byte for byte; REST resume of the download", async () => {
    const big = bytesOf(BIG, 0xb16);
    const file = join(local.path, "big.bin");
    await writeFile(file, big);
    const up = await curl(["--ssl-reqd", "-T", file, url("big.bin")]);
    assert.equal(up.code, 0, up.stderr);
    const head = await s3.head("ftp/big.bin");
    assert.equal(head?.size, BIG);
    assert.match(head!.etag, /-20"$/);
    const down = join(local.path, "big-down.bin");
    const got = await curl(["--ssl-reqd", "-o", down, url("big.bin")]);
    assert.equal(got.code, 0, got.stderr);
    sameBytes(await readFile(down), big, "100 MB RETR");
    // A download that broke off at 40 MB, continued by curl from the local file's size (REST).
    const partial = join(local.path, "big-partial.bin");
    await writeFile(partial, big.subarray(0, 40 * 1024 * 1024));
    const resumed = await curl(["--ssl-reqd", "-v", "-C", "-", "-o", partial, url("big.bin")]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /> REST 41943040/);
    sameBytes(await readFile(partial), big, "resumed RETR");
    await s3.delete("ftp/big.bin");
  });

  test("upload resume: curl -C - (SIZE, APPE), ftkit's client REST then STOR", async () => {
    const whole = bytesOf(13 * 1024 * 1024 + 11, 0xa99);
    const first = join(local.path, "first.bin");
    await writeFile(first, whole.subarray(0, 7 * 1024 * 1024));
    assert.equal((await curl(["--ssl-reqd", "-T", first, url("resume.bin")])).code, 0);
    const file = join(local.path, "whole.bin");
    await writeFile(file, whole);
    const resumed = await curl(["--ssl-reqd", "-v", "-C", "-", "-T", file, url("resume.bin")]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /> APPE resume\.bin/);
    // The first 7 MiB were copied by the store (UploadPartCopy), the rest uploaded.
    sameBytes(await object("ftp/resume.bin"), whole, "curl -C - -T");

    const client = await connect();
    try {
      const changed = bytesOf(2 * 1024 * 1024, 0xc0);
      const at = 6 * 1024 * 1024;
      await client.put("/resume.bin", changed, { offset: at });
      sameBytes(
        await object("ftp/resume.bin"),
        Buffer.concat([whole.subarray(0, at), changed]),
        "REST then STOR",
      );
      await assert.rejects(client.put("/resume.bin", changed, { offset: 100 * 1024 * 1024 }));
    } finally {
      await client.close();
    }
    await s3.delete("ftp/resume.bin");
  });

  test("an aborted upload leaves no object and no pending multipart upload", async () => {
    const client = await connect();
    const mark = server.log.length;
    const controller = new AbortController();
    let release = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    // 12 MiB, then the upload is stopped (ABOR): a part is in the store by then.
    async function* chunks() {
      const chunk = new Uint8Array(1024 * 1024);
      for (let sent = 0; sent < 12 * 1024 * 1024; sent += chunk.length) yield chunk;
      controller.abort();
      await held;
    }
    try {
      await assert.rejects(client.put("/aborted.bin", chunks(), { signal: controller.signal }));
    } finally {
      release();
      await client.close().catch(() => {});
    }
    // The server aborts the multipart upload when the data connection ends unfinished.
    await until(
      async () => (await s3.listUploads("ftp/")).length === 0,
      "no pending multipart upload",
    );
    assert.equal(await s3.head("ftp/aborted.bin"), undefined);
    // It was under way: the server received more than a part (5 MiB) before ABOR.
    const [entry] = await logged(server.log, mark, (e) => e.type === "transfer") as Extract<
      FtpsLogEntry,
      { type: "transfer" }
    >[];
    assert.equal(entry?.path, "/aborted.bin", JSON.stringify(server.log.slice(mark)));
    assert.ok(
      entry && entry.outcome !== "ok" && entry.bytes > 5 * 1024 * 1024,
      String(entry?.bytes),
    );
  });
});
