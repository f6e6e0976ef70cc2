// The real server, on the runtime running the tests, against hostile raw datagrams on loopback:
// forged requests nobody answers, forged requests holding every slot, blind ACKs in single-port
// mode, floods from one address, repeated requests, upload races and sizes. Nothing here depends
// on how fast the server runs: each step waits, bounded, for what it needs to have happened.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { readdir, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import process from "node:process";
import { join } from "node:path";
import { decodeTftpPacket, encodeTftpPacket, type TftpPacket } from "../../codec/mod.ts";
import {
  type ServeTftpOptions,
  tftpDirectoryHandler,
  type TftpReadSource,
  type TftpRetransmitOptions,
  type TftpServer,
  type TftpTransferRecord,
} from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { until } from "../_wait.ts";
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

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("message", (message, from) => {
      this.received.push({
        packet: decodeTftpPacket(new Uint8Array(message)),
        bytes: message.length,
        port: from.port,
      });
    });
  }

  /** The port it sends from. */
  get port(): number {
    return this.#socket.address().port;
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

  /** Waits until `count` datagrams have come (bounded); returns them all. */
  async until(count: number): Promise<Received[]> {
    await until(() => this.received.length >= count, `${count} datagrams`);
    return this.received;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

// A server timeout longer than any bounded wait in a test (WAIT_MS): the server's own timer never
// fires during one, so no test passes thanks to it.
const NO_TIMER: TftpRetransmitOptions = { timeoutMs: 120_000 };

const rrq = (filename: string, options: Record<string, number> = {}): TftpPacket => ({
  type: "rrq",
  filename,
  mode: "octet",
  options,
});
const ack = (block: number): TftpPacket => ({ type: "ack", block });

/** A server for `root`, whose file reads are counted in `read` (bytes taken from the disk, by
 * `read` or `readInto`, and files opened and closed). */
async function countingServer(
  root: string,
  options: Partial<ServeTftpOptions>,
  read: { bytes: number; opened?: number; closed?: number },
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
        read.opened = (read.opened ?? 0) + 1;
        return {
          size: source.size,
          async read(limit) {
            const chunk = await source.read(limit);
            read.bytes += chunk?.length ?? 0;
            return chunk;
          },
          // Node and Bun read straight into the DATA packets: counted the same.
          ...(source.readInto
            ? {
              async readInto(buffers: Uint8Array[]) {
                const bytes = await source.readInto!(buffers);
                read.bytes += bytes;
                return bytes;
              },
            }
            : {}),
          async close() {
            await source.close();
            read.closed = (read.closed ?? 0) + 1;
          },
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
        retransmit: NO_TIMER,
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
          // The server's own timer never fires: only the repeated request can bring the reply.
          retransmit: NO_TIMER,
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

  test("an unanswered transfer ends silently when its retry schedule runs out, on the timeout it negotiated; its file and socket go; a repeat then starts a new transfer", async () => {
    const root = await tempDir("ftkit-unanswered-");
    const records: TftpTransferRecord[] = [];
    const read = { bytes: 0, opened: 0, closed: 0 };
    const [plain, timed] = [await RawPeer.open(), await RawPeer.open()];
    try {
      await writeFile(join(root.path, "f.bin"), bytesOf(1000, 8));
      await using server = await countingServer(root.path, {
        // A short schedule, so the transfers give up within the test: 20 ms, then 40 ms 3 times.
        retransmit: { timeoutMs: 20, maxTimeoutMs: 40, retries: 3 },
        onTransfer: (record) => records.push(record),
      }, read);
      const port = server.address.port;
      const withOptions = rrq("f.bin", { utimeout: 30_000, blksize: 1024 });
      await plain.send(rrq("f.bin"), port);
      await timed.send(withOptions, port);
      await until(() => records.length === 2, "both transfers to give up");
      for (const record of records) {
        assert.equal(record.outcome, "failed");
        assert.equal(record.error?.message, "The client never answered after 4 tries");
      }
      await until(() => server.activeTransfers === 0, "both transfer sockets closed");
      assert.deepEqual([read.opened, read.closed], [2, 2], "both files closed");
      assert.deepEqual(plain.received.map(({ packet }) => packet.type), ["data"], "no ERROR");
      assert.deepEqual(timed.received.map(({ packet }) => packet), [
        { type: "oack", options: { utimeout: 30_000, blksize: 1024 } },
      ]);
      // The client asks again (as one whose reply was lost would): a new transfer answers it,
      // from a port of its own.
      await timed.send(withOptions, port);
      const [first, again] = await timed.until(2);
      assert.deepEqual(again.packet, first.packet, "the OACK again");
      assert.notEqual(again.port, first.port, "from a new transfer");
      await until(() => records.length === 3, "the new transfer to give up too");
      await until(() => server.activeTransfers === 0, "its socket closed");
      assert.deepEqual([read.opened, read.closed], [3, 3]);
      assert.equal(timed.received.length, 2, "still no ERROR");
    } finally {
      await plain.close();
      await timed.close();
      await root.remove();
    }
  });

  test("a client whose answer to the OACK comes after the server's own timeout, within the one it negotiated, is served", async () => {
    const api = await tftpApi();
    const records: TftpTransferRecord[] = [];
    const [late, other] = [await RawPeer.open(), await RawPeer.open()];
    try {
      const file = bytesOf(700, 5);
      await using server = await api.serveTftp({
        host: "127.0.0.1",
        port: 0,
        // The server's own schedule is 20 ms, then 40 ms; the late client asks for 255 s.
        retransmit: { timeoutMs: 20, retries: 1 },
        onTransfer: (record) => records.push(record),
        handler: { read: () => Promise.resolve(file) },
      });
      const port = server.address.port;
      await late.send(rrq("f", { timeout: 255 }), port);
      const [oack] = await late.until(1);
      assert.deepEqual(oack.packet, { type: "oack", options: { timeout: 255 } });
      // A transfer started later on the server's own schedule gives up: by then a transfer that
      // waited for the late client on that schedule would have given up first.
      await other.send(rrq("f"), port);
      await until(() => records.some((r) => r.peer.port === other.port), "the other to give up");
      assert.equal(records[0].error?.message, "The client never answered after 2 tries");
      assert.deepEqual(records.map((r) => r.peer.port), [other.port], "the late one still waits");
      // ACK 0 comes at last (the client's first was lost, and its timer is 255 s long).
      await late.send(ack(0), oack.port);
      const [, first] = await late.until(2);
      assert.deepEqual(first.packet, { type: "data", block: 1, data: file.subarray(0, 512) });
      await late.send(ack(1), oack.port);
      const [, , second] = await late.until(3);
      assert.deepEqual(second.packet, { type: "data", block: 2, data: file.subarray(512) });
      await late.send(ack(2), oack.port);
      await until(() => records.length === 2, "the late client's transfer to end");
      assert.equal(records[1].outcome, "complete");
    } finally {
      await late.close();
      await other.close();
    }
  });

  test("every slot held by forged requests: a new request ends the oldest unanswered transfer and is served; answered transfers are never ended", async () => {
    const api = await tftpApi();
    const records: TftpTransferRecord[] = [];
    const peers: RawPeer[] = [];
    const file = bytesOf(5000, 9);
    try {
      await using server = await api.serveTftp({
        host: "127.0.0.1",
        port: 0,
        maxTransfers: 3,
        // No transfer ends on its own timer: only a new request can end one.
        retransmit: NO_TIMER,
        onTransfer: (record) => records.push(record),
        handler: { read: () => Promise.resolve(file) },
      });
      const port = server.address.port;
      /** A raw peer on `address` that requests the file and waits for the first reply. */
      const request = async (address: string): Promise<RawPeer> => {
        const peer = await RawPeer.open(address);
        peers.push(peer);
        await peer.send(rrq("f"), port);
        await peer.until(1);
        return peer;
      };
      // Three forged requests, from three addresses, fill every slot; nobody answers them.
      const forged = [];
      for (let i = 0; i < 3; i++) forged.push(await request(`127.0.20.${i + 1}`));
      assert.equal(server.activeTransfers, 3);
      // A real client is served in full; the oldest forged transfer made room, silently.
      const got = await api.tftpGet({ host: "127.0.0.1", port, remote: "f" });
      assert.deepEqual(got, file);
      await until(() => records.length === 2, "the evicted transfer and the real one");
      const evicted = records.find((record) => record.peer.address === "127.0.20.1");
      assert.equal(evicted?.error?.message, "Ended for a newer request before the client answered");
      assert.equal(records.find((r) => r.peer.address === "127.0.0.1")?.outcome, "complete");
      // Clients that answer: each takes a free slot or a forged transfer's place.
      const answered = [];
      for (let i = 0; i < 3; i++) {
        const peer = await request(`127.0.30.${i + 1}`);
        const [first] = peer.received;
        assert.equal(first.packet.type, "data");
        await peer.send(ack(1), first.port);
        await peer.until(2);
        answered.push(peer);
      }
      await until(() => records.length === 4, "the other two forged transfers ended");
      for (const peer of forged) {
        assert.deepEqual(peer.received.map(({ packet }) => packet.type), ["data"], "DATA 1 only");
      }
      // Every slot is held by a client that answered: now, and only now, the server is busy.
      const late = await request("127.0.40.1");
      assert.deepEqual(late.received.map(({ packet }) => packet), [
        { type: "error", code: 0, message: "Server busy, try again later" },
      ]);
      for (const peer of answered) {
        assert.equal(peer.received[1].packet.type, "data");
        assert.equal(peer.received.length, 2, "nothing but DATA 1 and DATA 2");
      }
    } finally {
      for (const peer of peers) await peer.close();
    }
  });

  test("one address: its 17th request ends its oldest unanswered transfer instead of being refused", async () => {
    const api = await tftpApi();
    const records: TftpTransferRecord[] = [];
    const peers: RawPeer[] = [];
    try {
      await using server = await api.serveTftp({
        host: "127.0.0.1",
        port: 0,
        retransmit: NO_TIMER,
        onTransfer: (record) => records.push(record),
        handler: { read: () => Promise.resolve(bytesOf(10_000, 7)) },
      });
      // One request at a time: each is a running transfer before the next comes.
      for (let i = 0; i < 17; i++) {
        const peer = await RawPeer.open();
        peers.push(peer);
        await peer.send(rrq("f"), server.address.port);
        const [reply] = await peer.until(1);
        assert.equal(reply.packet.type, "data", `request ${i + 1} is served`);
        if (i === 0) {
          // The first client answers: it keeps its transfer.
          await peer.send(ack(1), reply.port);
          await peer.until(2);
        }
      }
      await until(() => records.length === 1, "one transfer ended");
      assert.equal(records[0].peer.port, peers[1].port, "the oldest unanswered one");
      assert.equal(
        records[0].error?.message,
        "Ended for a newer request before the client answered",
      );
      await until(() => server.activeTransfers === 16, "its socket closed");
    } finally {
      for (const peer of peers) await peer.close();
    }
  });

  /**
   * `count` RRQs for a missing file from as many ports of 127.0.0.1, then one from another address
   * (answered once every request before it was decided on): the peers of 127.0.0.1 that got an
   * answer, once `expected` of them did.
   */
  async function burst(
    options: { requestBurst?: number },
    count: number,
    expected: number,
  ): Promise<RawPeer[]> {
    const root = await tempDir("ftkit-burst-");
    const peers: RawPeer[] = [];
    try {
      const api = await tftpApi();
      await using server = await api.serveTftp({
        root: root.path,
        host: "127.0.0.1",
        port: 0,
        // No token comes back during the test, however slowly the server handles the burst.
        requestRate: 0.0001,
        ...options,
      });
      for (let i = 0; i < count; i++) {
        const peer = await RawPeer.open();
        peers.push(peer);
        await peer.send(rrq("missing.bin"), server.address.port);
      }
      const probe = await RawPeer.open("127.0.0.3");
      await probe.send(rrq("missing.bin"), server.address.port);
      await probe.until(1);
      await probe.close();
      const answered = () => peers.filter((p) => p.received.length > 0);
      await until(() => answered().length >= expected, `${expected} answers`);
      return answered();
    } finally {
      for (const peer of peers) await peer.close();
      await root.remove();
    }
  }

  test("requestBurst (default 20): a burst beyond it from one address gets 20 answers and no more", async () => {
    const answered = await burst({}, 40, 20);
    assert.equal(answered.length, 20);
    for (const peer of answered) {
      // File not found; or busy, when 16 of the address's requests were still being looked up.
      assert.equal(peer.received.length, 1);
      const [{ packet }] = peer.received;
      assert.ok(
        packet.type === "error" && (packet.code === 1 || packet.code === 0),
        JSON.stringify(packet),
      );
    }
  });

  test("requestRate and requestBurst: beyond the burst an address gets no answer", async () => {
    const answered = await burst({ requestBurst: 5 }, 25, 5);
    assert.equal(answered.length, 5);
    for (const peer of answered) {
      assert.deepEqual(peer.received.map((r) => r.packet), [
        { type: "error", code: 1, message: "File not found" },
      ]);
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
        retransmit: NO_TIMER,
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
        retransmit: NO_TIMER,
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
        retransmit: NO_TIMER,
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

describe("TFTP server: a FIFO in its tree", () => {
  test(
    "RRQs for a FIFO nobody writes are refused at once (ERROR 1), and the server goes on serving files",
    {
      skip: process.platform === "win32" ? "no FIFOs here" : false,
    },
    async () => {
      // Opened as a regular file would be, each would wait for a writer and hold one of the
      // runtime's few file threads: a handful of requests would stop every later read.
      const root = await tempDir("ftkit-fifo-");
      const peers: RawPeer[] = [];
      try {
        execFileSync("mkfifo", [join(root.path, "pipe")]);
        await writeFile(join(root.path, "ok.txt"), "hello\n");
        const api = await tftpApi();
        await using server = await api.serveTftp({
          root: root.path,
          host: "127.0.0.1",
          port: 0,
          retransmit: NO_TIMER,
        });
        for (let i = 0; i < 8; i++) {
          const peer = await RawPeer.open();
          peers.push(peer);
          await peer.send(rrq("pipe"), server.address.port);
        }
        for (const peer of peers) {
          const [{ packet }] = await peer.until(1);
          assert.equal(packet.type, "error", JSON.stringify(packet));
          assert.equal(packet.type === "error" && packet.code, 1);
        }
        const reader = await RawPeer.open();
        peers.push(reader);
        await reader.send(rrq("ok.txt"), server.address.port);
        const [{ packet }] = await reader.until(1);
        assert.equal(packet.type, "data");
        assert.equal(
          packet.type === "data" && new TextDecoder().decode(packet.data),
          "hello\n",
        );
        await reader.send(ack(1), reader.received[0].port);
      } finally {
        for (const peer of peers) await peer.close();
        await root.remove();
      }
    },
  );
});
