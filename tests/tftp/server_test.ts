// The ftkit server and client together over real loopback sockets, on the runtime running the
// tests: options that need no outside peer.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { createSocket, type Socket } from "node:dgram";
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

/** A read source that never ends, a block at a time and a little slowly. */
function endless() {
  return {
    read: () =>
      new Promise<Uint8Array | null>((resolve) =>
        setTimeout(() => resolve(new Uint8Array(512)), 2)
      ),
    close: () => Promise.resolve(),
  };
}

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
      // Single-port reads are held to blksize 512 unless maxBlksize says otherwise.
      assert.equal(records[0].parameters?.blksize, 512);
    } finally {
      await root.remove();
    }
  });

  test("a port range that is not [low, high] within 1-65535 is refused before binding", async () => {
    const api = await tftpApi();
    for (const portRange of [[0, 10], [2000, 1000], [1000, 65536], [1.5, 2]] as const) {
      await assert.rejects(
        api.serveTftp({ root: ".", host: "127.0.0.1", port: 0, portRange }),
        (error: unknown) => error instanceof RangeError && /portRange/.test(error.message),
      );
    }
  });

  test("without host, the server listens on loopback only", async () => {
    const api = await tftpApi();
    const root = await tempDir("ftkit-serve-");
    try {
      await writeFile(join(root.path, "boot.cfg"), "loopback");
      await using server = await api.serveTftp({ root: root.path, port: 0 });
      assert.equal(server.address.address, "127.0.0.1");
      const got = await api.tftpGet({
        host: "127.0.0.1",
        port: server.address.port,
        remote: "boot.cfg",
      });
      assert.equal(new TextDecoder().decode(got), "loopback");
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

  test("the client's AbortSignal ends a transfer with ERROR 0 and rejects with its reason", async () => {
    const api = await tftpApi();
    const records: TftpTransferRecord[] = [];
    const controller = new AbortController();
    const reason = new Error("stop now");
    await using server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      onTransfer: (record) => records.push(record),
      handler: { read: () => Promise.resolve(endless()) },
    });
    const pending = api.tftpGet({
      host: "127.0.0.1",
      port: server.address.port,
      remote: "endless",
      signal: controller.signal,
      onProgress: ({ bytes }) => {
        if (bytes > 10_000) controller.abort(reason);
      },
    });
    await assert.rejects(pending, (error: unknown) => error === reason);
    await until(() => records.length > 0, "the server's record of the transfer");
    assert.equal(records[0].outcome, "failed");
    assert.deepEqual(records[0].error, { code: 0, message: "Transfer cancelled" });
  });

  test("a signal aborted already rejects with its reason before anything is sent", async () => {
    const api = await tftpApi();
    let requests = 0;
    await using server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      handler: {
        read: () => {
          requests++;
          return Promise.resolve(new Uint8Array(10));
        },
      },
    });
    const signal = AbortSignal.abort();
    const options = { host: "127.0.0.1", port: server.address.port, remote: "x", signal };
    for (
      const call of [
        () => api.tftpGet(options),
        () => api.tftpPut(options, new Uint8Array(10)),
        () => api.tftpGetFile(options, "/nonexistent/never-made"),
        () => api.tftpPutFile(options, "/nonexistent/never-read"),
        () => api.tftpGetStream(options, new WritableStream()),
      ]
    ) {
      await assert.rejects(call(), (error: unknown) => error === signal.reason);
    }
    // A request that went out would be answered; the next one shows none is pending.
    assert.equal((await api.tftpGet({ ...options, signal: undefined })).length, 10);
    assert.equal(requests, 1);
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

describe("tftpGetFile keeps the user's file", () => {
  const precious = new TextEncoder().encode("precious\n");

  async function withTarget(
    body: (dir: string, target: string) => Promise<void>,
  ): Promise<void> {
    const dir = await tempDir("ftkit-get-");
    try {
      const target = join(dir.path, "keep.txt");
      await writeFile(target, precious);
      await body(dir.path, target);
      assert.deepEqual(new Uint8Array(await readFile(target)), precious, "untouched");
      assert.deepEqual(await readdir(dir.path), ["keep.txt"], "no temporary file left");
    } finally {
      await dir.remove();
    }
  }

  test("a missing remote file (ERROR 1) leaves an existing file as it was", async () => {
    const api = await tftpApi();
    const root = await tempDir("ftkit-root-");
    try {
      await using server = await api.serveTftp({ root: root.path, host: "127.0.0.1", port: 0 });
      await withTarget(async (_dir, target) => {
        await assert.rejects(
          api.tftpGetFile(
            { host: "127.0.0.1", port: server.address.port, remote: "nope.bin" },
            target,
          ),
          (error: unknown) => error instanceof TftpTransferError && error.code === 1,
        );
      });
    } finally {
      await root.remove();
    }
  });

  test("a server that never answers leaves an existing file as it was", async () => {
    const api = await tftpApi();
    // A socket that takes the request and answers nothing.
    const silent = await new Promise<Socket>((resolve) => {
      const socket = createSocket("udp4");
      socket.bind(0, "127.0.0.1", () => resolve(socket));
    });
    try {
      await withTarget(async (_dir, target) => {
        await assert.rejects(
          api.tftpGetFile({
            host: "127.0.0.1",
            port: silent.address().port,
            remote: "x.bin",
            retransmit: { timeoutMs: 20, retries: 1 },
          }, target),
          (error: unknown) => error instanceof TftpTransferError && error.reason === "timeout",
        );
      });
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test("an abort mid-transfer: ERROR 0 to the server, no temporary file, the file as it was", async () => {
    const api = await tftpApi();
    const records: TftpTransferRecord[] = [];
    await using server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      onTransfer: (record) => records.push(record),
      handler: { read: () => Promise.resolve(endless()) },
    });
    await withTarget(async (dir, target) => {
      const controller = new AbortController();
      let temporary: string[] = [];
      const pending = api.tftpGetFile({
        host: "127.0.0.1",
        port: server.address.port,
        remote: "endless",
        signal: controller.signal,
        onProgress: ({ bytes }) => {
          if (bytes < 20_000 || controller.signal.aborted) return;
          temporary = readdirSync(dir).filter((name) => name.endsWith(".part"));
          controller.abort();
        },
      }, target);
      await assert.rejects(pending, (error: unknown) => error === controller.signal.reason);
      assert.equal((controller.signal.reason as Error).name, "AbortError");
      assert.equal(temporary.length, 1, "the bytes went to a temporary file beside the target");
      await until(() => records.length > 0, "the server's record");
      assert.deepEqual(records[0].error, { code: 0, message: "Transfer cancelled" });
    });
  });

  test("a whole download replaces the file; an aborted upload rejects with the reason", async () => {
    const api = await tftpApi();
    const records: TftpTransferRecord[] = [];
    const file = bytesOf(200_000, 5);
    await using server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      onTransfer: (record) => records.push(record),
      handler: {
        read: () => Promise.resolve(file),
        write: () =>
          Promise.resolve({
            write: () => new Promise<void>((resolve) => setTimeout(resolve, 2)),
            commit: () => Promise.resolve(),
            abort: () => Promise.resolve(),
          }),
      },
    });
    const dir = await tempDir("ftkit-get-");
    try {
      const target = join(dir.path, "keep.txt");
      await writeFile(target, "old");
      const port = server.address.port;
      await api.tftpGetFile({ host: "127.0.0.1", port, remote: "f", blksize: 1468 }, target);
      assert.deepEqual(new Uint8Array(await readFile(target)), file);
      assert.deepEqual(await readdir(dir.path), ["keep.txt"]);
      const controller = new AbortController();
      const reason = new Error("enough");
      await assert.rejects(
        api.tftpPut({
          host: "127.0.0.1",
          port,
          remote: "up",
          signal: controller.signal,
          onProgress: ({ bytes }) => {
            if (bytes > 5000) controller.abort(reason);
          },
        }, file),
        (error: unknown) => error === reason,
      );
      await until(() => records.length === 2, "the upload's record");
      assert.deepEqual(records[1].error, { code: 0, message: "Transfer cancelled" });
    } finally {
      await dir.remove();
    }
  });
});
