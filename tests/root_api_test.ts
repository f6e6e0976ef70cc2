// The root module's server and client functions, imported as users import them (mod.ts), over
// real loopback sockets on the runtime running the tests: each loads that runtime's adapter.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  connectFtps,
  createFtpsCertificate,
  FtpReplyError,
  serveFtps,
  serveTftp,
  tftpGet,
  tftpGetFile,
  tftpGetStream,
  tftpPut,
  tftpPutFile,
  TftpTransferError,
} from "../mod.ts";
import * as tftpModule from "../tftp/mod.ts";
import * as ftpsModule from "../ftps/mod.ts";
import * as tftpOnNode from "../tftp/adapters/node.ts";
import { bytesOf, tempDir } from "./interop/_peers.ts";

/** Whether `actual` holds exactly the bytes of `expected`. */
function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(actual), Buffer.from(expected)) === 0;
}

describe("root module: TFTP", () => {
  test("serves a directory; gets, streams, downloads, puts and uploads a file", async () => {
    const dir = await tempDir("ftkit-root-");
    try {
      const root = join(dir.path, "srv");
      const local = join(dir.path, "local");
      await Promise.all([mkdir(root), mkdir(local)]);
      // More than 65535 / 1468 blocks would take long; several windows of blocks is enough.
      const image = bytesOf(70_000, 18);
      await writeFile(join(root, "boot.img"), image);
      await using server = await serveTftp({ root, allowWrite: true, host: "127.0.0.1", port: 0 });
      const at = { host: "127.0.0.1", port: server.address.port };

      const bytes = await tftpGet({ ...at, remote: "boot.img", blksize: 1468, windowsize: 4 });
      assert.ok(sameBytes(bytes, image), "tftpGet: the served file's bytes");

      const chunks: Uint8Array[] = [];
      const streamed = await tftpGetStream(
        { ...at, remote: "boot.img" },
        new WritableStream({ write: (chunk) => void chunks.push(chunk) }),
      );
      assert.equal(streamed.bytes, image.length);
      assert.ok(sameBytes(Buffer.concat(chunks), image), "tftpGetStream: the same bytes");

      const downloaded = join(local, "boot.img");
      const result = await tftpGetFile({ ...at, remote: "boot.img", blksize: 1024 }, downloaded);
      assert.equal(result.blksize, 1024);
      assert.ok(sameBytes(await readFile(downloaded), image), "tftpGetFile: the same bytes");

      const config = new TextEncoder().encode("hostname r1\n");
      const put = await tftpPut({ ...at, remote: "r1.cfg" }, config);
      assert.equal(put.bytes, config.length);
      assert.equal(await readFile(join(root, "r1.cfg"), "utf8"), "hostname r1\n");

      await tftpPutFile({ ...at, remote: "copy.img" }, downloaded);
      assert.ok(sameBytes(await readFile(join(root, "copy.img")), image), "tftpPutFile");
    } finally {
      await dir.remove();
    }
  });

  test("a refused read rejects with TftpTransferError and the server's code", async () => {
    await using server = await serveTftp({ host: "127.0.0.1", port: 0, handler: {} });
    await assert.rejects(
      tftpGet({ host: "127.0.0.1", port: server.address.port, remote: "missing.bin" }),
      (error) =>
        error instanceof TftpTransferError && error.reason === "peer-error" &&
        error.code === 2,
    );
  });

  test("tftp/mod.ts exports the same functions; a per-runtime entry point its own", () => {
    const fromRoot = { serveTftp, tftpGet, tftpGetStream, tftpGetFile, tftpPut, tftpPutFile };
    for (const name of Object.keys(fromRoot) as (keyof typeof fromRoot)[]) {
      assert.equal(typeof fromRoot[name], "function", name);
      assert.equal(tftpModule[name], fromRoot[name], name);
      // The Node entry point keeps node:dgram whatever the runtime: a function of its own.
      assert.equal(typeof tftpOnNode[name], "function", name);
      assert.notEqual(tftpOnNode[name], fromRoot[name], name);
    }
  });
});

describe("root module: FTPS", () => {
  test("serveFtps, then connectFtps with the server's CA: get, put, list", async () => {
    const dir = await tempDir("ftkit-root-ftps-");
    try {
      const image = bytesOf(200_000, 4);
      await writeFile(join(dir.path, "image.bin"), image);
      const certificate = await createFtpsCertificate();
      await using server = await serveFtps({
        root: dir.path,
        allowWrite: true,
        users: { fred: "secret" },
        tls: { cert: certificate.certPem, key: certificate.keyPem },
        host: "127.0.0.1",
        port: 0,
      });
      await using client = await connectFtps({
        host: "127.0.0.1",
        port: server.address.port,
        user: "fred",
        password: "secret",
        ca: certificate.caPem,
      });
      assert.ok(sameBytes(await client.get("image.bin"), image), "get: the served file's bytes");
      assert.equal(client.lastTransfer?.tls, true, "the data connection was protected");
      await client.put("r1.cfg", "hostname r1\n");
      assert.equal(await readFile(join(dir.path, "r1.cfg"), "utf8"), "hostname r1\n");
      const names = (await client.list()).map((entry) => entry.name).sort();
      assert.deepEqual(names, ["image.bin", "r1.cfg"]);
    } finally {
      await dir.remove();
    }
  });

  test("without the CA the server's certificate is refused; a wrong password gets 530", async () => {
    const certificate = await createFtpsCertificate();
    const dir = await tempDir("ftkit-root-ftps-");
    try {
      await using server = await serveFtps({
        root: dir.path,
        users: { fred: "secret" },
        tls: { cert: certificate.certPem, key: certificate.keyPem },
        host: "127.0.0.1",
        port: 0,
        loginFailureDelayMs: 1,
        // A Bun client gives up on the certificate without a TLS alert, and the server notices
        // the abandoned handshake only when this runs out (close() waits for it too).
        tlsHandshakeTimeoutMs: 1_000,
      });
      const at = { host: "127.0.0.1", port: server.address.port, user: "fred", timeoutMs: 10_000 };
      await assert.rejects(connectFtps({ ...at, password: "secret" }), (error) => {
        assert.equal((error as { code?: string }).code, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        return true;
      });
      await assert.rejects(
        connectFtps({ ...at, password: "wrong", ca: certificate.caPem }),
        (error) => error instanceof FtpReplyError && error.code === 530,
      );
    } finally {
      await dir.remove();
    }
  });

  test("ftps/mod.ts exports the same functions as the root module", () => {
    assert.equal(ftpsModule.connectFtps, connectFtps);
    assert.equal(ftpsModule.serveFtps, serveFtps);
  });
});
