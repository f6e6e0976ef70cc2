// ftkit's TFTP server serving a real S3-compatible store (OpenStack Swift's s3api on loopback:
// tests/interop/_swift.ts) through tftpS3Handler: reads and writes with curl and tftp-hpa, tsize
// from the object's size, uploads stored whole (multipart above a part) only after their last
// block, a cancelled upload that leaves no object and no pending multipart upload, and read
// requests from a client that never answers (its address may be forged), in raw bytes: each
// costs the store a HEAD and a ranged GET of the first reply's bytes, never the whole object.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createSocket } from "node:dgram";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TftpServer, TftpTransferRecord } from "../../tftp/mod.ts";
import { tftpS3Handler } from "../../tftp/s3_handler.ts";
import { S3Client, type S3Options } from "../../io/s3/client.ts";
import { tftpApi } from "../_tftp_api.ts";
import { until, within } from "../_wait.ts";
import { bytesOf, missing, PEER, runPeer, tempDir } from "./_peers.ts";
import { startSwift, swiftMissing, type SwiftStore } from "./_swift.ts";

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(Buffer.compare(actual, expected) === 0, `${what}: bytes differ`);
}

async function object(s3: S3Client, key: string): Promise<Uint8Array> {
  return new Uint8Array(await (await s3.get(key))!.arrayBuffer());
}

describe("ftkit's TFTP server on an S3 bucket (Swift s3api)", { skip: swiftMissing() }, () => {
  let store: SwiftStore;
  let s3: S3Client;
  let server: TftpServer;
  let port: number;
  let local: { path: string; remove(): Promise<void> };
  const records: TftpTransferRecord[] = [];
  const image = bytesOf(12 * 1024 * 1024 + 7, 21);
  const small = bytesOf(70_000, 22);

  before(async () => {
    store = await startSwift();
    await store.createBucket("netboot");
    const options: S3Options = {
      endpoint: store.endpoint,
      region: store.region,
      bucket: "netboot",
      credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
    };
    s3 = new S3Client(options);
    await s3.put("tftp/images/kernel.img", image);
    await s3.put("tftp/small.bin", small);
    await s3.put("private.bin", new TextEncoder().encode("not served\n"));
    const api = await tftpApi();
    server = await api.serveTftp({
      handler: tftpS3Handler({ ...options, prefix: "tftp/", allowWrite: true, partSize: 5 << 20 }),
      host: "127.0.0.1",
      port: 0,
      onTransfer: (record) => records.push(record),
    });
    port = server.address.port;
    local = await tempDir("ftkit-s3-tftp-");
  });

  after(async () => {
    await server?.close();
    await store?.stop();
    await local?.remove();
  });

  const url = (name: string) => `tftp://127.0.0.1:${port}/${name}`;

  for (const blksize of [1468, 65464]) {
    test(`curl reads 12 MB from the bucket at blksize ${blksize}`, {
      skip: missing("curl"),
    }, async () => {
      const out = join(local.path, `curl-${blksize}.img`);
      const ran = await runPeer(PEER.curl, [
        "-sS",
        "--tftp-blksize",
        String(blksize),
        "-o",
        out,
        url("images/kernel.img"),
      ]);
      assert.equal(ran.code, 0, ran.stderr);
      sameBytes(await readFile(out), image, `blksize ${blksize}`);
    });
  }

  test("names with .. are refused (ERROR 2); a missing object is ERROR 1", {
    skip: missing("curl"),
  }, async () => {
    // curl takes dot segments out of its URLs: ftkit's client sends the name as given.
    const api = await tftpApi();
    await assert.rejects(
      api.tftpGet({ host: "127.0.0.1", port, remote: "../private.bin" }),
      (error: { code?: number }) => error.code === 2,
    );
    // curl's exit code 68 is TFTP's ERROR 1 (not found).
    const absent = await runPeer(PEER.curl, ["-sS", "-o", "/dev/null", url("absent.bin")]);
    assert.equal(absent.code, 68, `absent: ${absent.code} ${absent.stderr}`);
  });

  test("curl writes 12 MB (multipart), stored whole after the last block", {
    skip: missing("curl"),
  }, async () => {
    const file = join(local.path, "up.img");
    await writeFile(file, image);
    const ran = await runPeer(PEER.curl, [
      "-sS",
      "--tftp-blksize",
      "65464",
      "-T",
      file,
      url("uploads/curl.img"),
    ]);
    assert.equal(ran.code, 0, ran.stderr);
    const head = await s3.head("tftp/uploads/curl.img");
    assert.match(head?.etag ?? "", /-3"$/);
    sameBytes(await object(s3, "tftp/uploads/curl.img"), image, "curl upload");
  });

  test("tftp-hpa reads and writes; tsize is the object's size", {
    skip: missing("tftpHpa"),
  }, async () => {
    const out = join(local.path, "hpa.out");
    // tftp-hpa, binary, one command.
    const hpa = (...command: string[]) =>
      runPeer(PEER.tftpHpa, ["-m", "octet", "127.0.0.1", String(port), "-c", ...command]);
    const get = await hpa("get", "small.bin", out);
    assert.equal(get.code, 0, get.stderr + get.stdout);
    sameBytes(await readFile(out), small, "tftp-hpa get");
    const put = await hpa("put", out, "uploads/hpa.bin");
    assert.equal(put.code, 0, put.stderr + put.stdout);
    sameBytes(await object(s3, "tftp/uploads/hpa.bin"), small, "tftp-hpa put");
    // An existing object is not replaced (allowOverwrite is off).
    const again = await hpa("put", out, "images/kernel.img");
    assert.match(again.stderr + again.stdout, /exists/i);
    sameBytes(await object(s3, "tftp/images/kernel.img"), image, "kept");
  });

  test("tsize: the server reports the object's size to ftkit's client", async () => {
    const api = await tftpApi();
    let total: number | undefined;
    const bytes = await api.tftpGet({
      host: "127.0.0.1",
      port,
      remote: "images/kernel.img",
      blksize: 65464,
      onProgress: (progress) => total = progress.total,
    });
    assert.equal(total, image.length);
    sameBytes(bytes, image, "ftkit get");
  });

  test("a cancelled upload leaves no object and no pending multipart upload", async () => {
    const api = await tftpApi();
    const controller = new AbortController();
    let release = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    async function* chunks() {
      // 11 MiB: two 5 MiB parts are sent to the store, then the client cancels.
      for (let i = 0; i < 11; i++) yield new Uint8Array(1024 * 1024);
      await until(async () => (await s3.listUploads("tftp/")).length > 0, "an upload started");
      controller.abort();
      await held;
    }
    await assert.rejects(
      api.tftpPut({
        host: "127.0.0.1",
        port,
        remote: "uploads/cancelled.bin",
        blksize: 65464,
        signal: controller.signal,
      }, chunks()),
    );
    release();
    await until(
      async () => (await s3.listUploads("tftp/")).length === 0,
      "the multipart upload aborted",
    );
    assert.equal(await s3.head("tftp/uploads/cancelled.bin"), undefined);
    const cancelled = await until(
      () => records.some((record) => record.filename === "uploads/cancelled.bin"),
      "the transfer's record",
    ).then(() => records.find((record) => record.filename === "uploads/cancelled.bin"));
    assert.equal(cancelled?.outcome, "failed");
  });

  test("requests never answered (forged sources): a HEAD and a ranged GET of the first reply each", async () => {
    // The store's requests, as the server's S3 client makes them.
    const asked: { method: string; range: string | null }[] = [];
    const counting: typeof fetch = (input, init) => {
      asked.push({
        method: init?.method ?? "GET",
        range: new Headers(init?.headers).get("range"),
      });
      return fetch(input, init);
    };
    const api = await tftpApi();
    const watched = await api.serveTftp({
      handler: tftpS3Handler({
        endpoint: store.endpoint,
        region: store.region,
        bucket: "netboot",
        credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
        prefix: "tftp/",
        fetch: counting,
      }),
      host: "127.0.0.1",
      port: 0,
    });
    // Six RRQs with blksize 65464 and tsize (answered OACK) and six plain ones (answered DATA 1,
    // 512 bytes), each from its own port, none of them ever ACKed.
    const rrq = (options: string[]) =>
      Buffer.from([
        0,
        1,
        ...Buffer.from(["images/kernel.img", "octet", ...options].join("\0") + "\0"),
      ]);
    const sockets = Array.from({ length: 12 }, () => createSocket("udp4"));
    try {
      const firsts = await within(
        Promise.all(sockets.map((socket, i) =>
          new Promise<Buffer>((resolve, reject) => {
            socket.once("error", reject);
            socket.once("message", resolve);
            socket.bind(0, "127.0.0.1", () =>
              socket.send(
                i < 6 ? rrq(["blksize", "65464", "tsize", "0"]) : rrq([]),
                watched.address.port,
                "127.0.0.1",
              ));
          })
        )),
        "the first reply to each request",
      );
      // OACK (opcode 6) to the requests with options; DATA 1 (opcode 3, block 1) to the others.
      assert.deepEqual(
        firsts.map((reply) => reply.readUInt16BE(0)),
        [...new Array(6).fill(6), ...new Array(6).fill(3)],
      );
      for (const reply of firsts.slice(6)) assert.equal(reply.length, 4 + 512);
    } finally {
      for (const socket of sockets) socket.close();
      await watched.close();
    }
    const heads = asked.filter((request) => request.method === "HEAD");
    const gets = asked.filter((request) => request.method === "GET");
    assert.equal(heads.length, 12, JSON.stringify(asked));
    assert.equal(asked.length, heads.length + gets.length, JSON.stringify(asked));
    assert.ok(gets.length <= 12, JSON.stringify(gets));
    // Every GET is ranged, and all of them together ask for no more than the first replies could
    // carry: at most one block of 65464 for an OACKed request, 512 bytes for a plain one.
    let bytes = 0;
    for (const { range } of gets) {
      const [, first, last] = /^bytes=(\d+)-(\d+)$/.exec(range ?? "") ?? [];
      assert.ok(first !== undefined, `a ranged GET: ${range}`);
      bytes += Number(last) - Number(first) + 1;
    }
    assert.ok(
      bytes <= 6 * 65464 + 6 * 512,
      `${bytes} bytes asked of a ${image.length}-byte object`,
    );
  });
});
