// The TFTP server on every core (`workers`): many clients at once, uploads, global limits, a
// shutdown that ends the process, and single-port mode, on the runtime running the tests.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { decodeTftpPacket, encodeTftpPacket, type TftpPacket } from "../../codec/mod.ts";
import type { TftpServer, TftpTransferRecord } from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { projectFile, runtime, runtimeCommand } from "../_runtime.ts";
import { until, within } from "../_wait.ts";
import { bytesOf, freePort, missing, PEER, runPeer, tempDir } from "./_peers.ts";

const api = await tftpApi();

/** A UDP socket that sends hand-made TFTP packets and keeps every answer with its source port. */
async function rawClient(): Promise<{
  socket: Socket;
  got: { packet: TftpPacket; port: number }[];
  send(packet: TftpPacket, port: number): void;
}> {
  const socket = createSocket("udp4");
  const got: { packet: TftpPacket; port: number }[] = [];
  socket.on("message", (bytes, from) => {
    got.push({ packet: decodeTftpPacket(new Uint8Array(bytes)), port: from.port });
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    socket,
    got,
    send: (packet, port) => socket.send(encodeTftpPacket(packet), port, "127.0.0.1"),
  };
}

const rrq = (filename: string): TftpPacket => ({
  type: "rrq",
  filename,
  mode: "octet",
  options: {},
});

describe("TFTP server workers serving many clients at once", () => {
  let root: { path: string; remove(): Promise<void> };
  const file = bytesOf(1_000_000, 3);
  const small = bytesOf(200_000, 5);

  before(async () => {
    root = await tempDir("ftkit-workers-");
    await writeFile(join(root.path, "big.bin"), file);
    await writeFile(join(root.path, "small.bin"), small);
  });

  after(async () => {
    await root?.remove();
  });

  test("workers: 2 serves 100 reads at once byte for byte, and curl's", async () => {
    const records: TftpTransferRecord[] = [];
    await using server = await api.serveTftp({
      root: root.path,
      port: 0,
      workers: 2,
      requestRate: Infinity,
      requestBurst: 1000,
      maxTransfersPerClient: Infinity,
      onTransfer: (record) => records.push(record),
    });
    const { port } = server.address;
    const reads = Array.from(
      { length: 100 },
      (_, i) => api.tftpGet({ host: "127.0.0.1", port, remote: "small.bin", blksize: 1024 + i }),
    );
    const curls = missing("curl") ? [] : Array.from({ length: 4 }, async (_, i) => {
      const out = join(root.path, `curl-${i}.out`);
      const ran = await runPeer(PEER.curl, [
        "-sS",
        "--tftp-blksize",
        "1468",
        "-o",
        out,
        `tftp://127.0.0.1:${port}/big.bin`,
      ]);
      assert.equal(ran.code, 0, ran.stderr + ran.stdout);
      assert.equal(Buffer.compare(await readFile(out), file), 0);
    });
    const got = await within(Promise.all(reads), "100 reads through workers", 120_000);
    for (const bytes of got) assert.equal(Buffer.compare(bytes, small), 0);
    await within(Promise.all(curls), "curl's reads", 120_000);
    await until(() => records.length === got.length + curls.length, "every transfer's record");
    assert.ok(records.every((record) => record.outcome === "complete"), JSON.stringify(records));
    assert.equal(records.filter((record) => record.bytes === small.length).length, 100);
  });

  test("uploads through workers land whole, and a failed one leaves nothing", async () => {
    const dir = await tempDir("ftkit-workers-up-");
    try {
      await using server = await api.serveTftp({
        root: dir.path,
        port: 0,
        workers: 2,
        allowWrite: true,
        requestRate: Infinity,
        maxTransfersPerClient: Infinity,
      });
      const { port } = server.address;
      await within(
        Promise.all(Array.from({ length: 20 }, (_, i) =>
          api.tftpPut(
            { host: "127.0.0.1", port, remote: `up-${i}.bin`, blksize: 1468, windowsize: 4 },
            bytesOf(150_000 + i, i),
          ))),
        "20 uploads through workers",
        120_000,
      );
      for (let i = 0; i < 20; i++) {
        const stored = await readFile(join(dir.path, `up-${i}.bin`));
        assert.equal(Buffer.compare(stored, bytesOf(150_000 + i, i)), 0);
      }
      // The worker's handler refuses as the server's thread would: the name exists (ERROR 6).
      await assert.rejects(
        api.tftpPut({ host: "127.0.0.1", port, remote: "up-0.bin" }, new Uint8Array(10)),
        (error: Error & { code?: number }) => error.code === 6,
      );
      await assert.rejects(
        api.tftpGet({ host: "127.0.0.1", port, remote: "missing.bin" }),
        (error: Error & { code?: number }) => error.code === 1,
      );
      // An upload whose client stops after its first block: aborted, nothing stays.
      const client = await rawClient();
      try {
        client.send({ type: "wrq", filename: "cut.bin", mode: "octet", options: {} }, port);
        await until(() => client.got.length > 0, "ACK 0 from the worker's socket");
        const { packet, port: tid } = client.got[0];
        assert.deepEqual(packet, { type: "ack", block: 0 });
        assert.notEqual(tid, port);
        client.send({ type: "data", block: 1, data: new Uint8Array(512) }, tid);
        await until(() => client.got.length > 1, "ACK 1");
        client.send({ type: "error", code: 0, message: "client gives up" }, tid);
        await until(() => server.activeTransfers === 0, "the cut upload to end");
      } finally {
        client.socket.close();
      }
      const names = (await readdir(dir.path)).sort();
      assert.deepEqual(names, Array.from({ length: 20 }, (_, i) => `up-${i}.bin`).sort());
    } finally {
      await dir.remove();
    }
  });

  test("maxTransfersPerClient counts across workers", async () => {
    await using server = await api.serveTftp({
      root: root.path,
      port: 0,
      workers: 2,
      maxTransfersPerClient: 2,
      retransmit: { timeoutMs: 120_000 },
    });
    const { port } = server.address;
    const clients = await Promise.all([rawClient(), rawClient(), rawClient()]);
    try {
      const [one, two, three] = clients;
      // Two transfers whose clients answer: the least loaded worker takes each, one apiece.
      for (const client of [one, two]) {
        client.send(rrq("big.bin"), port);
        await until(() => client.got.length === 1, "DATA 1");
        client.send({ type: "ack", block: 1 }, client.got[0].port);
        await until(() => client.got.length === 2, "DATA 2");
      }
      assert.notEqual(one.got[0].port, two.got[0].port);
      // A third from the same address finds no unanswered transfer to end: busy.
      three.send(rrq("big.bin"), port);
      await until(() => three.got.length === 1, "an answer to the third request");
      assert.deepEqual(three.got[0], {
        packet: { type: "error", code: 0, message: "Server busy, try again later" },
        port,
      });
      assert.equal(server.activeTransfers, 2);
    } finally {
      for (const client of clients) client.socket.close();
    }
  });

  test("unanswered transfers make room across workers: never more than the limit", async () => {
    await using server = await api.serveTftp({
      root: root.path,
      port: 0,
      workers: 2,
      maxTransfersPerClient: 3,
      requestRate: Infinity,
      retransmit: { timeoutMs: 120_000 },
    });
    const { port } = server.address;
    const clients = await Promise.all(Array.from({ length: 10 }, rawClient));
    try {
      for (const client of clients) {
        client.send(rrq("small.bin"), port);
        await until(() => client.got.length === 1, "DATA 1");
        assert.equal(client.got[0].packet.type, "data");
      }
      await until(() => server.activeTransfers === 3, "the evicted transfers to end");
    } finally {
      for (const client of clients) client.socket.close();
    }
  });

  test("single-port mode with workers serves from the listening port", async () => {
    await using server = await api.serveTftp({
      root: root.path,
      port: 0,
      workers: 2,
      singlePort: true,
      requestRate: Infinity,
      maxTransfersPerClient: Infinity,
    });
    const { port } = server.address;
    const got = await within(
      Promise.all(Array.from(
        { length: 10 },
        () => api.tftpGet({ host: "127.0.0.1", port, remote: "small.bin" }),
      )),
      "10 single-port reads",
      120_000,
    );
    for (const bytes of got) assert.equal(Buffer.compare(bytes, small), 0);
    const client = await rawClient();
    try {
      client.send(rrq("small.bin"), port);
      await until(() => client.got.length === 1, "DATA 1");
      assert.equal(client.got[0].port, port);
    } finally {
      client.socket.close();
    }
  });

  test("workers need root, and a whole number", async () => {
    await assert.rejects(
      api.serveTftp({
        handler: { read: () => Promise.resolve(new Uint8Array(1)) },
        port: 0,
        workers: 2,
      }),
      TypeError,
    );
    await assert.rejects(api.serveTftp({ root: root.path, port: 0, workers: 0 }), RangeError);
    await assert.rejects(api.serveTftp({ root: root.path, port: 0, workers: 1.5 }), RangeError);
  });

  test("close() ends the workers' transfers with ERROR 0", async () => {
    const server: TftpServer = await api.serveTftp({
      root: root.path,
      port: 0,
      workers: 2,
      retransmit: { timeoutMs: 120_000 },
    });
    const client = await rawClient();
    try {
      client.send(rrq("big.bin"), server.address.port);
      await until(() => client.got.length === 1, "DATA 1");
      await within(server.close(), "close()");
      await until(() => client.got.length === 2, "the ERROR");
      assert.deepEqual(client.got[1].packet, {
        type: "error",
        code: 0,
        message: "Server shutting down",
      });
    } finally {
      client.socket.close();
    }
  });

  test(
    "a worker that cannot start fails the start, and the command exits",
    { skip: runtime !== "deno" && "only Deno can deny a worker its module (permissions)" },
    async () => {
      const [program] = runtimeCommand(projectFile("cli.ts"));
      const ran = await runPeer(program, [
        "run",
        "--no-prompt",
        "--allow-net=127.0.0.1",
        `--allow-read=${root.path}`,
        projectFile("cli.ts"),
        "tftp",
        "serve",
        root.path,
        "--port",
        "0",
        "--workers",
        "2",
      ]);
      assert.equal(ran.code, 1, ran.stderr + ran.stdout);
      assert.match(ran.stderr, /^ftkit: Requires read access to .*_tftp_worker\.ts/m);
    },
  );

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`ftkit tftp serve --workers 2 ends on ${signal} with a transfer running`, async () => {
      const port = await freePort();
      const [program, args] = runtimeCommand(projectFile("cli.ts"));
      const child = spawn(program, [
        ...args,
        "tftp",
        "serve",
        root.path,
        "--port",
        String(port),
        "--workers",
        "2",
      ], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout!.on("data", (chunk) => (out += chunk));
      child.stderr!.on("data", (chunk) => (out += chunk));
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      const client = await rawClient();
      try {
        await within(until(() => /Serving/.test(out), "the ready line"), out, 60_000);
        client.send(rrq("big.bin"), port);
        await until(() => client.got.length === 1, "DATA 1");
        process.kill(child.pid!, signal);
        assert.equal(await within(exited, "the command to exit"), 0, out);
        await until(() => client.got.length === 2, "the ERROR");
        assert.equal(client.got[1].packet.type, "error");
      } finally {
        clearTimeout(timer);
        client.socket.close();
        child.kill("SIGKILL");
      }
    });
  }
});
