// The servers on a real S3 store: a single-node OpenStack Swift with s3api (tests/interop/_swift.ts)
// holds a bucket; `ftkit ftps serve --storage s3://...` and `ftkit tftp serve s3://...` serve it,
// and curl fetches (and, over FTPS, stores) files through them. A wrong secret stops the command
// at its start with the store's refusal, in one line.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { S3Client } from "../../io/s3/client.ts";
import { bytesOf, PEER, runPeer, tempDir } from "../interop/_peers.ts";
import { startSwift, swiftMissing, type SwiftStore } from "../interop/_swift.ts";
import { ftkitChild } from "./_ftkit_child.ts";

const BUCKET = "ftkit-cli";

describe(
  "ftkit servers on a Swift bucket, fetched with curl",
  { skip: swiftMissing() ?? false },
  () => {
    let store: SwiftStore;
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let home: string;
    let bucket: S3Client;
    const boot = bytesOf(200_000, 11);
    const keys = (secret = store.secretAccessKey) => ({
      AWS_ACCESS_KEY_ID: store.accessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_REGION: store.region,
    });

    before(async () => {
      dir = await tempDir("ftkit-cli-swift-");
      home = join(dir.path, "home");
      await mkdir(home);
      store = await startSwift();
      await store.createBucket(BUCKET);
      bucket = new S3Client({
        endpoint: store.endpoint,
        region: store.region,
        bucket: BUCKET,
        credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
      });
      await bucket.put("ftp/readme.txt", new TextEncoder().encode("hello from swift\n"));
      await bucket.put("netboot/pxelinux.0", boot);
    });

    after(async () => {
      await store?.stop();
      await dir?.remove();
    });

    test("ftps serve --storage: curl gets a file and puts one over FTPS", async () => {
      const ca = join(dir.path, "ca.pem");
      const running = ftkitChild(
        [
          "ftps",
          "serve",
          "--storage",
          `s3://${BUCKET}/ftp`,
          "--s3-endpoint",
          store.endpoint,
          "--allow-write",
          "--port",
          "0",
          "--user",
          "fred:fredpw",
          "--ca-out",
          ca,
        ],
        home,
        keys(),
      );
      try {
        const [, port] = await running.line(
          /^Serving s3:\/\/ftkit-cli\/ftp at \S+ over FTPS .* on 127\.0\.0\.1:(\d+) \(writes allowed\)$/m,
        );
        const curl = (...args: string[]) =>
          runPeer(PEER.curl, ["-sS", "--ssl-reqd", "--cacert", ca, "-u", "fred:fredpw", ...args]);
        const got = join(dir.path, "readme.txt");
        const get = await curl("-o", got, `ftp://127.0.0.1:${port}/readme.txt`);
        assert.equal(get.code, 0, get.stderr);
        assert.equal(await readFile(got, "utf8"), "hello from swift\n");
        const sent = join(dir.path, "upload.bin");
        await writeFile(sent, bytesOf(70_000, 3));
        const put = await curl(
          "--ftp-create-dirs",
          "-T",
          sent,
          `ftp://127.0.0.1:${port}/in/up.bin`,
        );
        assert.equal(put.code, 0, put.stderr);
        assert.equal((await bucket.head("ftp/in/up.bin"))?.size, 70_000);
      } finally {
        running.stop();
      }
      const { code, stdout, stderr } = await running.exited;
      assert.equal(code, 0, stderr);
      assert.ok(!(stdout + stderr).includes(store.secretAccessKey));
    });

    test("tftp serve s3://: curl gets a file over TFTP", async () => {
      const running = ftkitChild(
        ["tftp", "serve", `s3://${BUCKET}/netboot`, "--s3-endpoint", store.endpoint, "--port", "0"],
        home,
        keys(),
      );
      try {
        const [, port] = await running.line(
          /^Serving s3:\/\/ftkit-cli\/netboot at \S+ over TFTP on 127\.0\.0\.1:(\d+) \(read-only\)$/m,
        );
        const got = join(dir.path, "pxelinux.0");
        const get = await runPeer(PEER.curl, [
          "-sS",
          "-o",
          got,
          `tftp://127.0.0.1:${port}/pxelinux.0`,
        ]);
        assert.equal(get.code, 0, get.stderr);
        assert.deepEqual(new Uint8Array(await readFile(got)), boot);
      } finally {
        running.stop();
      }
      const { code, stderr } = await running.exited;
      assert.equal(code, 0, stderr);
    });

    test("a wrong secret: the store's refusal in one line at start, exit 1", async () => {
      const { code, stdout, stderr } = await ftkitChild(
        ["tftp", "serve", `s3://${BUCKET}/netboot`, "--s3-endpoint", store.endpoint, "--port", "0"],
        home,
        keys("not-the-secret"),
      ).exited;
      assert.equal(code, 1, stderr);
      assert.equal(stdout, "");
      assert.equal(
        stderr,
        `ftkit: cannot reach s3://${BUCKET}/netboot at ${store.endpoint}: S3 GET /: 403 ` +
          "SignatureDoesNotMatch\n",
      );
    });
  },
);
