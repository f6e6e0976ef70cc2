// The ftkit server and client together over real loopback sockets, on the runtime running the
// tests: options that need no outside peer.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  tftpPathComponents,
  TftpRequestError,
  TftpTransferError,
  type TftpTransferRecord,
  type TftpWriteTarget,
} from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { bytesOf, tempDir } from "../interop/_peers.ts";
import { until } from "../_wait.ts";

describe("TFTP path rules", () => {
  test("names inside the root are split into components", () => {
    assert.deepEqual(tftpPathComponents("pxelinux.cfg/default", false), [
      "pxelinux.cfg",
      "default",
    ]);
    assert.deepEqual(tftpPathComponents("/boot/x", true), ["boot", "x"]);
  });

  for (
    const name of [
      "/etc/passwd",
      "../x",
      "a/../../x",
      "a//b",
      "./a",
      "a/.",
      "a\\b",
      "C:/x",
      "con",
      "NUL.txt",
      "lpt1",
      "a\x01b",
      "",
    ]
  ) {
    test(`refuses ${JSON.stringify(name)} with ERROR 2`, () => {
      assert.throws(
        () => tftpPathComponents(name, false),
        (error: unknown) => error instanceof TftpRequestError && error.code === 2,
      );
    });
  }
});

describe("ftkit server with the ftkit client", () => {
  test("single-port mode, remap rules and records", async () => {
    const api = await tftpApi();
    const root = await tempDir("ftkit-serve-");
    const records: TftpTransferRecord[] = [];
    try {
      await writeFile(join(root.path, "host-a.cfg"), "config a");
      await using server = await api.serveTftp({
        root: root.path,
        host: "127.0.0.1",
        port: 0,
        singlePort: true,
        remap: [{ match: /^pxelinux\.cfg\/01-(.*)$/, replace: "host-$1.cfg", type: "rrq" }],
        onTransfer: (record) => records.push(record),
      });
      const port = server.address.port;
      const got = await api.tftpGet({
        host: "127.0.0.1",
        port,
        remote: "pxelinux.cfg/01-a",
        blksize: 1024,
      });
      assert.equal(new TextDecoder().decode(got), "config a");
      // The server records the transfer when it sees the client's last ACK (bounded wait).
      await until(() => records.length > 0, "the server's record of the transfer").catch(() => {});
      assert.equal(records[0]?.resolvedFilename, "host-a.cfg");
      assert.equal(records[0].filename, "pxelinux.cfg/01-a");
      assert.equal(records[0].outcome, "complete");
      assert.equal(records[0].parameters?.blksize, 1024);
    } finally {
      await root.remove();
    }
  });

  test("port range, windowed put and get, overwrite policy, symlink escape", async () => {
    const api = await tftpApi();
    const root = await tempDir("ftkit-serve-");
    const outside = await tempDir("ftkit-outside-");
    try {
      const { symlink } = await import("node:fs/promises");
      await writeFile(join(outside.path, "secret"), "secret");
      await symlink(outside.path, join(root.path, "link"));
      const file = bytesOf(500_000, 1);
      await using server = await api.serveTftp({
        root: root.path,
        host: "127.0.0.1",
        port: 0,
        allowWrite: true,
        portRange: [41000, 41999],
      });
      const port = server.address.port;
      await api.tftpPut(
        { host: "127.0.0.1", port, remote: "a.bin", blksize: 1468, windowsize: 16 },
        file,
      );
      assert.deepEqual(new Uint8Array(await readFile(join(root.path, "a.bin"))), file);
      assert.deepEqual(await readdir(root.path), ["a.bin", "link"], "no temporary file is left");
      assert.deepEqual(
        await api.tftpGet({
          host: "127.0.0.1",
          port,
          remote: "a.bin",
          windowsize: 64,
          blksize: 8192,
        }),
        file,
      );
      await assert.rejects(
        api.tftpPut({ host: "127.0.0.1", port, remote: "a.bin" }, new Uint8Array(3)),
        (error: unknown) => error instanceof TftpTransferError && error.code === 6,
      );
      await assert.rejects(
        api.tftpGet({ host: "127.0.0.1", port, remote: "link/secret" }),
        (error: unknown) => error instanceof TftpTransferError && error.code === 2,
      );
      await assert.rejects(
        api.tftpPut({ host: "127.0.0.1", port, remote: "link/planted" }, new Uint8Array(3)),
        (error: unknown) => error instanceof TftpTransferError && error.code === 2,
      );
    } finally {
      await root.remove();
      await outside.remove();
    }
  });

  test("a handler serves dynamic content and sees uploads; a failed upload is aborted", async () => {
    const api = await tftpApi();
    const stored: Uint8Array[] = [];
    const outcomes: string[] = [];
    await using server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      maxWriteSize: 1000,
      handler: {
        read(request) {
          if (request.filename === "stream") {
            return Promise.resolve({
              stream: new ReadableStream<Uint8Array>({
                start(controller) {
                  controller.enqueue(new TextEncoder().encode("from a "));
                  controller.enqueue(new TextEncoder().encode("stream"));
                  controller.close();
                },
              }),
            });
          }
          return Promise.resolve(new TextEncoder().encode(`hello ${request.peer.address}`));
        },
        write(): Promise<TftpWriteTarget> {
          const chunks: Uint8Array[] = [];
          return Promise.resolve({
            write: (chunk) => {
              chunks.push(chunk.slice());
              return Promise.resolve();
            },
            commit: () => {
              stored.push(...chunks);
              outcomes.push("commit");
              return Promise.resolve();
            },
            abort: () => {
              outcomes.push("abort");
              return Promise.resolve();
            },
          });
        },
      },
    });
    const port = server.address.port;
    assert.equal(
      new TextDecoder().decode(await api.tftpGet({ host: "127.0.0.1", port, remote: "x" })),
      "hello 127.0.0.1",
    );
    assert.equal(
      new TextDecoder().decode(await api.tftpGet({ host: "127.0.0.1", port, remote: "stream" })),
      "from a stream",
    );
    await api.tftpPut({ host: "127.0.0.1", port, remote: "up" }, new Uint8Array(700).fill(1));
    assert.equal(stored.reduce((n, c) => n + c.length, 0), 700);
    // No tsize announced (a stream of unknown size): the limit is enforced on the bytes.
    const big = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(1500));
        controller.close();
      },
    });
    await assert.rejects(
      api.tftpPut({ host: "127.0.0.1", port, remote: "up2" }, big),
      (error: unknown) => error instanceof TftpTransferError && error.code === 3,
    );
    // The server aborts the target as its transfer winds down, after the client has its ERROR.
    await until(() => outcomes.length >= 2, "the failed upload to be aborted").catch(() => {});
    assert.deepEqual(outcomes, ["commit", "abort"]);
  });

  test("the client's AbortSignal ends a transfer with ERROR 0", async () => {
    const api = await tftpApi();
    const records: TftpTransferRecord[] = [];
    const controller = new AbortController();
    await using server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      onTransfer: (record) => records.push(record),
      handler: {
        read: () =>
          Promise.resolve({
            read: () =>
              new Promise<Uint8Array | null>((resolve) =>
                setTimeout(() => resolve(new Uint8Array(512)), 5)
              ),
            close: () => Promise.resolve(),
          }),
      },
    });
    const pending = api.tftpGet({
      host: "127.0.0.1",
      port: server.address.port,
      remote: "endless",
      signal: controller.signal,
      onProgress: ({ bytes }) => {
        if (bytes > 10_000) controller.abort();
      },
    });
    await assert.rejects(
      pending,
      (error: unknown) => error instanceof TftpTransferError && error.reason === "aborted",
    );
    await until(() => records.length > 0, "the server's record of the transfer").catch(() => {});
    assert.equal(records[0]?.outcome, "failed");
  });

  test("close ends a finished upload's dally at once: nothing keeps the process alive", async () => {
    const api = await tftpApi();
    const stored: Uint8Array[] = [];
    const server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      // The server dallies 2 x 5 s after the final ACK of an upload.
      retransmit: { timeoutMs: 5000 },
      handler: {
        write: () =>
          Promise.resolve({
            write: (chunk: Uint8Array) => {
              stored.push(chunk.slice());
              return Promise.resolve();
            },
            commit: () => Promise.resolve(),
            abort: () => Promise.resolve(),
          }),
      },
    });
    let closed = false;
    try {
      const file = new Uint8Array(3000).fill(7);
      await api.tftpPut({ host: "127.0.0.1", port: server.address.port, remote: "up" }, file);
      assert.equal(server.activeTransfers, 1, "the upload is dallying");
      closed = true;
      await server.close();
      assert.equal(server.activeTransfers, 0, "closed without waiting out the dally");
      assert.equal(stored.reduce((n, chunk) => n + chunk.length, 0), 3000);
    } finally {
      if (!closed) await server.close();
    }
  });
});
