// The real server, on the runtime running the tests, against hostile raw datagrams on loopback:
// forged requests nobody answers, blind ACKs in single-port mode, floods from one address,
// repeated requests, upload races and sizes.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeTftpPacket, encodeTftpPacket, type TftpPacket } from "../../codec/mod.ts";
import {
  type ServeTftpOptions,
  tftpDirectoryHandler,
  type TftpReadSource,
  type TftpServer,
  type TftpTransferRecord,
} from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { bytesOf, tempDir } from "../interop/_peers.ts";

interface Received {
  packet: TftpPacket;
  bytes: number;
  port: number;
}

/** A raw UDP peer: sends hand-made datagrams and keeps what comes back. */
class RawPeer {
  readonly received: Received[] = [];
  readonly #socket: Socket;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("message", (message, from) => {
      this.received.push({
        packet: decodeTftpPacket(new Uint8Array(message)),
        bytes: message.length,
        port: from.port,
      });
      this.#wake?.();
    });
  }

  static open(address = "127.0.0.1"): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = createSocket("udp4");
      socket.once("error", reject);
      socket.bind(0, address, () => resolve(new RawPeer(socket)));
    });
  }

  send(packet: TftpPacket, port: number): Promise<void> {
    return new Promise((resolve) =>
      this.#socket.send(encodeTftpPacket(packet), port, "127.0.0.1", () => resolve())
    );
  }

  /** Waits until `count` datagrams have come (at most 10 s); returns them all. */
  async until(count: number): Promise<Received[]> {
    const deadline = performance.now() + 10_000;
    while (this.received.length < count && performance.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, 100);
      });
      clearTimeout(timer);
    }
    assert.ok(this.received.length >= count, `${this.received.length} of ${count} datagrams came`);
    return this.received;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

/** Waits until `ready()` holds, checking every 10 ms for at most 10 s. */
async function until(ready: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(await ready(), `waited 10 s for ${what}`);
}

const rrq = (filename: string, options: Record<string, number> = {}): TftpPacket => ({
  type: "rrq",
  filename,
  mode: "octet",
  options,
});
const ack = (block: number): TftpPacket => ({ type: "ack", block });

/** A server for `root`, whose file reads are counted in `read` (bytes taken from the disk). */
async function countingServer(
  root: string,
  options: Partial<ServeTftpOptions>,
  read: { bytes: number },
): Promise<TftpServer> {
  const directory = tftpDirectoryHandler(root, options);
  const api = await tftpApi();
  return await api.serveTftp({
    host: "127.0.0.1",
    port: 0,
    ...options,
    handler: {
      ...directory,
      async read(request) {
        const source = (await directory.read!(request)) as TftpReadSource;
        return {
          size: source.size,
          async read(limit) {
            const chunk = await source.read(limit);
            read.bytes += chunk?.length ?? 0;
            return chunk;
          },
          close: () => source.close(),
        };
      },
    },
  });
}

describe("TFTP server under forged requests", () => {
  test("forged RRQs nobody answers: DATA 1 once each, no ERROR, one block read from disk", async () => {
    const root = await tempDir("ftkit-forged-");
    const peers: RawPeer[] = [];
    const records: TftpTransferRecord[] = [];
    const read = { bytes: 0 };
    try {
      await writeFile(join(root.path, "big.bin"), bytesOf(2_000_000, 3));
      await using server = await countingServer(root.path, {
        // Short timeouts, so the transfers give up within the test.
        retransmit: { timeoutMs: 20, maxTimeoutMs: 40, retries: 3 },
        onTransfer: (record) => records.push(record),
      }, read);
      for (let i = 0; i < 8; i++) {
        const peer = await RawPeer.open(`127.0.${i + 10}.1`);
        peers.push(peer);
        await peer.send(rrq("big.bin"), server.address.port);
      }
      await until(() => records.length === 8, "every transfer to give up");
      for (const record of records) {
        assert.equal(record.error?.message, "The client never answered after 4 tries");
      }
      for (const peer of peers) {
        assert.deepEqual(
          peer.received.map(({ packet, bytes }) => [packet.type, bytes]),
          [["data", 516]],
          "one DATA 1 and nothing else",
        );
      }
      assert.ok(read.bytes <= 8 * 512, `${read.bytes} bytes read for 8 unanswered requests`);
    } finally {
      for (const peer of peers) await peer.close();
      await root.remove();
    }
  });

  test("an RRQ with options nobody answers gets one OACK and no file read", async () => {
    const root = await tempDir("ftkit-forged-");
    const records: TftpTransferRecord[] = [];
    const read = { bytes: 0 };
    const peer = await RawPeer.open();
    try {
      await writeFile(join(root.path, "big.bin"), bytesOf(500_000, 3));
      await using server = await countingServer(root.path, {
        retransmit: { timeoutMs: 20, maxTimeoutMs: 40, retries: 3 },
        onTransfer: (record) => records.push(record),
      }, read);
      await peer.send(rrq("big.bin", { blksize: 1468, tsize: 0 }), server.address.port);
      await until(() => records.length === 1, "the transfer to give up");
      assert.deepEqual(peer.received.map(({ packet }) => packet), [
        { type: "oack", options: { blksize: 1468, tsize: 500_000 } },
      ]);
      assert.equal(read.bytes, 0);
    } finally {
      await peer.close();
      await root.remove();
    }
  });

  test("single-port: a forged RRQ with blind ACKs gets blksize 512, one block per ACK", async () => {
    const api = await tftpApi();
    const peer = await RawPeer.open();
    try {
      const file = bytesOf(100_000, 4);
      await using server = await api.serveTftp({
        host: "127.0.0.1",
        port: 0,
        singlePort: true,
        // No retransmission comes between the steps, however slow the machine.
        retransmit: { timeoutMs: 30_000 },
        handler: { read: () => Promise.resolve(file) },
      });
      const port = server.address.port;
      await peer.send(rrq("f", { blksize: 65464, windowsize: 64, tsize: 0 }), port);
      // The replies are awaited only to keep the steps in order; the ACKs do not depend on them.
      await peer.until(1);
      for (let block = 0; block < 4; block++) {
        await peer.send(ack(block), port);
        await peer.until(block + 2);
      }
      const [oack, ...blocks] = peer.received;
      assert.deepEqual(oack.packet, {
        type: "oack",
        options: { blksize: 512, windowsize: 1, tsize: 100_000 },
      });
      assert.deepEqual(blocks.map(({ packet, bytes }) => [packet.type, bytes]), [
        ["data", 516],
        ["data", 516],
        ["data", 516],
        ["data", 516],
      ]);
      assert.ok(blocks.every(({ port: from }) => from === port), "all from the one port");
    } finally {
      await peer.close();
    }
  });

  for (const singlePort of [false, true]) {
    test(`${singlePort ? "single-port" : "a port per transfer"}: a repeated request gets the first reply again`, async () => {
      const api = await tftpApi();
      const peer = await RawPeer.open();
      try {
        const file = bytesOf(700, 6);
        await using server = await api.serveTftp({
          host: "127.0.0.1",
          port: 0,
          singlePort,
          // The server's own timer would take 30 s: only the repeated request can bring it.
          retransmit: { timeoutMs: 30_000 },
          handler: { read: () => Promise.resolve(file) },
        });
        await peer.send(rrq("f"), server.address.port);
        const [first] = await peer.until(1);
        assert.equal(first.packet.type, "data");
        await peer.send(rrq("f"), server.address.port);
        const [, again] = await peer.until(2);
        assert.deepEqual(again, first, "the same DATA 1 from the same port");
        await peer.send(ack(1), first.port);
        const [, , second] = await peer.until(3);
        assert.deepEqual(second.packet, { type: "data", block: 2, data: file.subarray(512) });
        await peer.send(ack(2), first.port);
      } finally {
        await peer.close();
      }
    });
  }

  test("one address: 16 transfers at most, then busy, then no answer at all", async () => {
    const api = await tftpApi();
    const peers: RawPeer[] = [];
    const file = bytesOf(10_000, 7);
    try {
      await using server = await api.serveTftp({
        host: "127.0.0.1",
        port: 0,
        // Transfers stay for the whole test.
        retransmit: { timeoutMs: 30_000 },
        handler: { read: () => Promise.resolve(file) },
      });
      const started = performance.now();
      for (let i = 0; i < 40; i++) {
        const peer = await RawPeer.open();
        peers.push(peer);
        await peer.send(rrq("f"), server.address.port);
      }
      // Tokens refill at 10 per second while the requests go out (slowly on a loaded machine).
      const refilled = Math.ceil(((performance.now() - started) / 1000) * 10);
      const data = () => peers.filter((p) => p.received.some((r) => r.packet.type === "data"));
      const busy = () =>
        peers.filter((p) =>
          p.received.some((r) => r.packet.type === "error" && r.packet.code === 0)
        );
      // The default burst is 20 answers: 16 transfers and 4 ERRORs (more if tokens refilled).
      await until(() => data().length >= 16 && busy().length >= 4, "16 transfers and 4 refusals");
      // A request from another address is answered after those before it were handled.
      const probe = await RawPeer.open("127.0.0.2");
      peers.push(probe);
      await probe.send(rrq("f"), server.address.port);
      await probe.until(1);
      assert.equal(data().length - 1, 16, "16 transfers for 127.0.0.1, one for 127.0.0.2");
      const answered = peers.filter((p) => p.received.length > 0).length - 1;
      assert.ok(
        answered <= 20 + refilled,
        `${answered} of 40 requests answered, at most the burst of 20 and ${refilled} refilled`,
      );
      for (const peer of busy()) {
        const [only] = peer.received;
        assert.deepEqual(only.packet, {
          type: "error",
          code: 0,
          message: "Server busy, try again later",
        });
      }
    } finally {
      for (const peer of peers) await peer.close();
    }
  });

  test("requestRate and requestBurst: beyond the burst an address gets no answer", async () => {
    const root = await tempDir("ftkit-rate-");
    const peers: RawPeer[] = [];
    try {
      const api = await tftpApi();
      await using server = await api.serveTftp({
        root: root.path,
        host: "127.0.0.1",
        port: 0,
        requestRate: 0.0001,
        requestBurst: 5,
      });
      for (let i = 0; i < 25; i++) {
        const peer = await RawPeer.open();
        peers.push(peer);
        await peer.send(rrq("missing.bin"), server.address.port);
      }
      const probe = await RawPeer.open("127.0.0.3");
      await probe.send(rrq("missing.bin"), server.address.port);
      await probe.until(1);
      await probe.close();
      await until(() => peers.filter((p) => p.received.length > 0).length >= 5, "5 answers");
      const answered = peers.filter((p) => p.received.length > 0);
      assert.equal(answered.length, 5);
      for (const peer of answered) {
        assert.deepEqual(peer.received.map((r) => r.packet), [
          { type: "error", code: 1, message: "File not found" },
        ]);
      }
    } finally {
      for (const peer of peers) await peer.close();
      await root.remove();
    }
  });
});

describe("TFTP server uploads under attack", () => {
  test("two uploads racing for one new name: the second to finish gets ERROR 6", async () => {
    const api = await tftpApi();
    const root = await tempDir("ftkit-race-");
    const [a, b] = [await RawPeer.open(), await RawPeer.open()];
    try {
      await using server = await api.serveTftp({
        root: root.path,
        host: "127.0.0.1",
        port: 0,
        allowWrite: true,
        retransmit: { timeoutMs: 30_000 },
      });
      const wrq: TftpPacket = { type: "wrq", filename: "same.bin", mode: "octet", options: {} };
      await a.send(wrq, server.address.port);
      await b.send(wrq, server.address.port);
      const [ackA] = await a.until(1);
      const [ackB] = await b.until(1);
      assert.deepEqual([ackA.packet, ackB.packet], [ack(0), ack(0)], "both start");
      const first = new Uint8Array(512).fill(1);
      await a.send({ type: "data", block: 1, data: first }, ackA.port);
      await b.send({ type: "data", block: 1, data: first }, ackB.port);
      await a.until(2);
      await b.until(2);
      await a.send({ type: "data", block: 2, data: new Uint8Array([0xa]) }, ackA.port);
      assert.deepEqual((await a.until(3))[2].packet, ack(2), "the first one is stored");
      await b.send({ type: "data", block: 2, data: new Uint8Array([0xb]) }, ackB.port);
      assert.deepEqual((await b.until(3))[2].packet, {
        type: "error",
        code: 6,
        message: "File already exists",
      });
      await until(async () => (await readdir(root.path)).length === 1, "the loser's file gone");
    } finally {
      await a.close();
      await b.close();
      await root.remove();
    }
  });

  test("uploads: a tsize over 1 GiB is refused with ERROR 3 by default; one that grows past maxWriteSize is stopped and removed", async () => {
    const api = await tftpApi();
    const root = await tempDir("ftkit-size-");
    const peer = await RawPeer.open();
    const small = await RawPeer.open();
    try {
      await using server = await api.serveTftp({
        root: root.path,
        host: "127.0.0.1",
        port: 0,
        allowWrite: true,
        retransmit: { timeoutMs: 30_000 },
      });
      await peer.send({
        type: "wrq",
        filename: "huge.bin",
        mode: "octet",
        options: { tsize: Number.MAX_SAFE_INTEGER },
      }, server.address.port);
      assert.deepEqual((await peer.until(1))[0].packet, {
        type: "error",
        code: 3,
        message: `File of ${Number.MAX_SAFE_INTEGER} bytes exceeds the 1073741824 allowed`,
      });
      await using capped = await api.serveTftp({
        root: root.path,
        host: "127.0.0.1",
        port: 0,
        allowWrite: true,
        maxWriteSize: 1000,
        retransmit: { timeoutMs: 30_000 },
      });
      await small.send(
        { type: "wrq", filename: "grows.bin", mode: "octet", options: {} },
        capped.address.port,
      );
      const [start] = await small.until(1);
      assert.deepEqual(start.packet, ack(0));
      const block = new Uint8Array(512).fill(2);
      await small.send({ type: "data", block: 1, data: block }, start.port);
      await small.until(2);
      await small.send({ type: "data", block: 2, data: block }, start.port);
      assert.deepEqual((await small.until(3))[2].packet, {
        type: "error",
        code: 3,
        message: "File exceeds the 1000 bytes allowed",
      });
      await until(async () => (await readdir(root.path)).length === 0, "the partial upload gone");
    } finally {
      await peer.close();
      await small.close();
      await root.remove();
    }
  });
});
