// What a forged request can make the server do, on the machines with a virtual clock: the first
// reply is sent once, no file is read before the client answers, transfers are capped in number,
// answers to an address are rate-limited, and uploads are capped in size.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type TftpAddress,
  type TftpClientOptionRequest,
  TftpClientTransfer,
  TftpServerEndpoint,
  type TftpServerEndpointOptions,
  type TftpServerTransfer,
  type TftpTransferEvent,
  type TftpTransmit,
} from "../../tftp/mod.ts";
import { CLIENT, events, pattern, transmits, wire } from "./_script.ts";

const ack = (block: number) => wire({ type: "ack", block });
const data = (block: number, bytes: Uint8Array) => wire({ type: "data", block, data: bytes });
const error = (code: number, message: string) => wire({ type: "error", code, message });
const rrq = (options: Record<string, number> = {}, filename = "boot.img") =>
  wire({ type: "rrq", filename, mode: "octet", options });
const wrq = (options: Record<string, number> = {}) =>
  wire({ type: "wrq", filename: "upload.bin", mode: "octet", options });

const FILE = pattern(300_000);

/** Serves FILE to whatever asks; feeds the transfer every chunk it asks for, as a driver would. */
function serveRead(
  transfer: TftpServerTransfer,
  now: number,
  reads: number[],
): TftpTransferEvent[] {
  const seen: TftpTransferEvent[] = [];
  let offset = reads.reduce((sum, n) => sum + n, 0);
  // Bounded: a chunk per data-wanted, and never more than the file.
  for (let round = 0; round < 100; round++) {
    const batch = events(transfer);
    if (batch.length === 0) break;
    for (const event of batch) {
      seen.push(event);
      if (event.type !== "data-wanted") continue;
      // What a directory source reads: the limit when there is one, else a 128 KiB chunk.
      const size = Math.min(event.limit ?? 131072, FILE.length - offset);
      reads.push(size);
      if (size === 0) transfer.end(now);
      else transfer.write(now, FILE.subarray(offset, offset + size));
      offset += size;
    }
  }
  return seen;
}

/** Steps the virtual clock through every deadline of `transfer` until it is drained (bounded);
 * returns what it sent, and puts its events in `seen`. */
function runOut(
  transfer: TftpServerTransfer,
  reads: number[],
  seen: TftpTransferEvent[] = [],
): TftpTransmit[] {
  const sent: TftpTransmit[] = [];
  for (let i = 0; i < 100 && !transfer.isDrained(); i++) {
    const at = transfer.pollTimeout();
    assert.ok(at !== undefined, "an unfinished transfer always has a deadline");
    transfer.handleTimeout(at);
    seen.push(...serveRead(transfer, at, reads));
    sent.push(...transmits(transfer));
  }
  assert.equal(transfer.isDrained(), true);
  return sent;
}

/** The n-th of many client addresses. */
function other(n: number): TftpAddress {
  return { address: `127.1.${n >> 8}.${n & 0xff}`, port: 40000 };
}

const LISTENING: TftpAddress = { address: "203.0.113.1", port: 69 };
const same = (a: TftpAddress, b: TftpAddress) => a.address === b.address && a.port === b.port;

/**
 * An endpoint and its transfers on a network with a virtual clock, run as a driver runs them:
 * each read is fed FILE, a datagram arrives as soon as it is sent unless `lose` says it is lost,
 * deadlines fire in order. Clients are client machines; any other address only keeps what it is
 * sent.
 */
class VirtualNetwork {
  readonly server: TftpServerEndpoint;
  /** Every transfer the endpoint made, with its transfer ID. */
  readonly transfers: TftpServerTransfer[] = [];
  readonly #tids: TftpAddress[] = [];
  readonly #reads = new Map<TftpServerTransfer, number[]>();
  readonly #finals = new Map<TftpServerTransfer, TftpTransferEvent>();
  readonly #clients: {
    local: TftpAddress;
    machine: TftpClientTransfer;
    events: TftpTransferEvent[];
  }[] = [];
  readonly #inbox = new Map<string, Uint8Array[]>();
  readonly #queue: { from: TftpAddress; to: TftpAddress; bytes: Uint8Array }[] = [];
  readonly #lose: (bytes: Uint8Array, from: TftpAddress) => boolean;
  now = 0;

  constructor(
    server: TftpServerEndpoint,
    lose: (bytes: Uint8Array, from: TftpAddress) => boolean = () => false,
  ) {
    this.server = server;
    this.#lose = lose;
  }

  /** `from` sends `bytes` to the listening port. */
  request(bytes: Uint8Array, from: TftpAddress): void {
    this.#queue.push({ from, to: LISTENING, bytes });
    this.#settle();
  }

  /** Starts a client machine reading FILE from `local`, asking for `options`. */
  client(
    local: TftpAddress,
    options: TftpClientOptionRequest = {},
  ): { local: TftpAddress; machine: TftpClientTransfer } {
    const machine = new TftpClientTransfer({
      type: "rrq",
      filename: "boot.img",
      server: LISTENING,
      options,
    });
    const entry = { local, machine, events: [] };
    this.#clients.push(entry);
    machine.start(this.now);
    this.#settle();
    return entry;
  }

  /** The final event of a client machine, if it came. */
  finalOf(machine: TftpClientTransfer): TftpTransferEvent | undefined {
    return this.eventsOf(machine).find((e) => e.type === "complete" || e.type === "failed");
  }

  /** The final event of a server transfer, if it came. */
  serverFinalOf(transfer: TftpServerTransfer): TftpTransferEvent | undefined {
    return this.#finals.get(transfer);
  }

  /** Every event of a client machine so far. */
  eventsOf(machine: TftpClientTransfer): TftpTransferEvent[] {
    return this.#clients.find((c) => c.machine === machine)!.events;
  }

  /** What was sent to `to`. */
  inbox(to: TftpAddress): Uint8Array[] {
    return this.#inbox.get(`${to.address}|${to.port}`) ?? [];
  }

  /** Moves the clock to `until`, firing every deadline on the way, in order (bounded). */
  advance(until: number): void {
    for (let i = 0; i < 100_000; i++) {
      const machines = [...this.transfers, ...this.#clients.map((c) => c.machine)];
      const deadlines = machines.map((m) => m.pollTimeout()).filter((t) => t !== undefined);
      const next = Math.min(...deadlines);
      if (!(next <= until)) break;
      this.now = Math.max(this.now, next);
      for (const machine of machines) {
        const at = machine.pollTimeout();
        if (at !== undefined && at <= this.now) machine.handleTimeout(this.now);
      }
      this.#settle();
    }
    this.now = Math.max(this.now, until);
  }

  /** Delivers every datagram and handles every event until all is quiet (bounded). */
  #settle(): void {
    for (let round = 0; round < 100_000; round++) {
      for (let t = this.server.pollTransmit(); t; t = this.server.pollTransmit()) {
        this.#queue.push({ from: LISTENING, to: t.to, bytes: t.bytes });
      }
      // Every live transfer is polled below, whatever the endpoint did to it.
      events(this.server);
      for (const [i, transfer] of this.transfers.entries()) {
        if (transfer.isDrained() && !this.#reads.has(transfer)) continue;
        for (const event of serveRead(transfer, this.now, this.#reads.get(transfer) ?? [])) {
          if (event.type === "complete" || event.type === "failed") {
            this.#finals.set(transfer, event);
          }
        }
        for (const t of transmits(transfer)) {
          this.#queue.push({ from: this.#tids[i], to: t.to, bytes: t.bytes });
        }
        if (transfer.isDrained()) this.#reads.delete(transfer);
      }
      for (const client of this.#clients) {
        client.events.push(...events(client.machine));
        for (const t of transmits(client.machine)) {
          this.#queue.push({ from: client.local, to: t.to, bytes: t.bytes });
        }
      }
      const datagram = this.#queue.shift();
      if (!datagram) return;
      if (this.#lose(datagram.bytes, datagram.from)) continue;
      this.#deliver(datagram.from, datagram.to, datagram.bytes);
    }
    throw new Error("The network never went quiet");
  }

  #deliver(from: TftpAddress, to: TftpAddress, bytes: Uint8Array): void {
    if (same(to, LISTENING)) {
      const pending = this.server.handleDatagram(this.now, bytes, from);
      const transfer = pending && this.server.accept(this.now, pending, { size: FILE.length });
      if (transfer) {
        this.transfers.push(transfer);
        this.#tids.push({ address: LISTENING.address, port: 10000 + this.transfers.length });
        this.#reads.set(transfer, []);
      }
      return;
    }
    const tid = this.#tids.findIndex((address) => same(address, to));
    if (tid >= 0) return this.transfers[tid].handleDatagram(this.now, bytes, from);
    const key = `${to.address}|${to.port}`;
    this.#inbox.set(key, [...(this.#inbox.get(key) ?? []), bytes]);
    this.#clients.find((c) => same(c.local, to))?.machine.handleDatagram(this.now, bytes, from);
  }
}

describe("TFTP server: what a forged request makes it send", () => {
  test("a plain RRQ nobody answers gets DATA 1 once; the transfer ends silently when its retry schedule runs out", () => {
    const server = new TftpServerEndpoint();
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), CLIENT)!, {
      size: FILE.length,
    })!;
    const reads: number[] = [];
    serveRead(transfer, 0, reads);
    const seen: TftpTransferEvent[] = [];
    const sent = [...transmits(server), ...transmits(transfer), ...runOut(transfer, reads, seen)];
    assert.deepEqual(sent, [{ to: CLIENT, bytes: data(1, FILE.subarray(0, 512)) }]);
    assert.deepEqual(reads, [512], "one block read from the file, not a 128 KiB chunk");
    const final = seen.at(-1);
    assert.ok(final?.type === "failed" && final.reason === "timeout");
    assert.equal(final.message, "The client never answered after 7 tries");
    // The whole retry schedule, as for any other reply: 1 + 2 + 4 + 8 x 4 s.
    assert.equal(final.stats.endedAt, 39_000);
  });

  test("the request's timeout and utimeout set the wait for its client's answer, as for every later one (RFC 2349)", () => {
    const server = new TftpServerEndpoint();
    const at = (n: number): TftpAddress => ({ ...CLIENT, port: 41000 + n });
    for (const [n, options] of [[1, { timeout: 5 }], [2, { utimeout: 5_000_000 }]] as const) {
      const transfer = server.accept(0, server.handleDatagram(0, rrq(options), at(n))!)!;
      assert.deepEqual(transmits(transfer), [{
        to: at(n),
        bytes: wire({ type: "oack", options }),
      }]);
      assert.equal(transfer.pollTimeout(), 5000, "the client's 5 s, not the server's 1 s");
      const seen: TftpTransferEvent[] = [];
      assert.deepEqual(runOut(transfer, [], seen), [], "nothing more sent");
      const final = seen.at(-1);
      assert.ok(final?.type === "failed" && final.reason === "timeout");
      // 5 s, then the backoff from there (10 s capped at maxTimeoutMs, 8 s) six times.
      assert.equal(final.stats.endedAt, 5000 + 6 * 8000);
    }
    // Answered (ACK 0 to a read, DATA 1 to a write): the client's timeout stays the transfer's.
    const read = server.accept(0, server.handleDatagram(0, rrq({ timeout: 255 }), at(3))!, {
      size: FILE.length,
    })!;
    transmits(read);
    assert.equal(read.pollTimeout(), 255_000);
    read.handleDatagram(500, ack(0), at(3));
    serveRead(read, 500, []);
    assert.equal(transmits(read).length, 1, "DATA 1");
    assert.equal(read.pollTimeout(), 500 + 255_000);
    const write = server.accept(0, server.handleDatagram(0, wrq({ timeout: 255 }), at(4))!)!;
    transmits(write);
    assert.equal(write.pollTimeout(), 255_000);
    write.handleDatagram(600, data(1, pattern(512)), at(4));
    assert.deepEqual(transmits(write), [{ to: at(4), bytes: ack(1) }]);
    assert.equal(write.pollTimeout(), 600 + 255_000);
  });

  test("an RRQ with options nobody answers gets its OACK once and reads nothing", () => {
    const server = new TftpServerEndpoint();
    const transfer = server.accept(
      0,
      server.handleDatagram(0, rrq({ blksize: 65464, windowsize: 64, tsize: 0 }), CLIENT)!,
      { size: FILE.length },
    )!;
    const reads: number[] = [];
    const seen = serveRead(transfer, 0, reads);
    const sent = [...transmits(transfer), ...runOut(transfer, reads)];
    assert.deepEqual(sent, [{
      to: CLIENT,
      bytes: wire({ type: "oack", options: { blksize: 65464, tsize: FILE.length, windowsize: 1 } }),
    }]);
    assert.deepEqual(reads, [], "no file read before ACK 0");
    assert.deepEqual(seen.map((event) => event.type), ["negotiated"]);
  });

  test("a WRQ nobody answers gets ACK 0 once", () => {
    const server = new TftpServerEndpoint();
    const transfer = server.accept(0, server.handleDatagram(0, wrq(), CLIENT)!)!;
    assert.deepEqual([...transmits(transfer), ...runOut(transfer, [])], [{
      to: CLIENT,
      bytes: ack(0),
    }]);
  });

  test("firstReplyRetransmits allows repetitions on the server's own timer", () => {
    const server = new TftpServerEndpoint({ firstReplyRetransmits: 2 });
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), CLIENT)!)!;
    const reads: number[] = [];
    serveRead(transfer, 0, reads);
    const sent = [...transmits(transfer), ...runOut(transfer, reads)];
    const first = data(1, FILE.subarray(0, 512));
    assert.deepEqual(sent.map((t) => t.bytes), [first, first, first]);
  });
});

describe("TFTP server: the client's answer", () => {
  test("a client that lost the first reply repeats its request and gets it again, `retries` times at most", () => {
    const server = new TftpServerEndpoint({ retransmit: { retries: 2 } });
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), CLIENT)!)!;
    const reads: number[] = [];
    serveRead(transfer, 0, reads);
    const first = data(1, FILE.subarray(0, 512));
    assert.deepEqual(transmits(transfer).map((t) => t.bytes), [first]);
    assert.equal(server.handleDatagram(10, rrq(), CLIENT), undefined, "not a new transfer");
    assert.deepEqual(events(server), [{ type: "repeated-request", transfer }], "poll the transfer");
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: first }], "DATA 1 again");
    assert.equal(server.handleDatagram(11, rrq({}, "other.img"), CLIENT), undefined);
    assert.deepEqual(transmits(transfer), [], "another request from the TID is not answered");
    server.handleDatagram(12, rrq(), CLIENT);
    server.handleDatagram(13, rrq(), CLIENT);
    assert.deepEqual(transmits(transfer).map((t) => t.bytes), [first], "at most retries (2)");
    // The client answers at last: the file follows, read in large chunks from now on.
    transfer.handleDatagram(14, ack(1), CLIENT);
    serveRead(transfer, 14, reads);
    assert.deepEqual(transmits(transfer).map((t) => t.bytes), [
      data(2, FILE.subarray(512, 1024)),
    ]);
    assert.equal(reads[0], 512);
    assert.ok(reads.length > 1 && reads.slice(1).every((n) => n === 131072), "then 128 KiB chunks");
    assert.equal(transfer.answered, true);
  });

  test("the OACK is repeated for a repeated request; after ACK 0 the file is read", () => {
    const server = new TftpServerEndpoint();
    const request = rrq({ blksize: 1024, tsize: 0 });
    const transfer = server.accept(0, server.handleDatagram(0, request, CLIENT)!, {
      size: FILE.length,
    })!;
    const oack = wire({ type: "oack", options: { blksize: 1024, tsize: FILE.length } });
    const reads: number[] = [];
    serveRead(transfer, 0, reads);
    assert.deepEqual(transmits(transfer).map((t) => t.bytes), [oack]);
    server.handleDatagram(5, request, CLIENT);
    assert.deepEqual(transmits(transfer).map((t) => t.bytes), [oack]);
    assert.deepEqual(reads, []);
    transfer.handleDatagram(6, ack(0), CLIENT);
    serveRead(transfer, 6, reads);
    assert.ok(reads.length > 0 && reads.every((n) => n === 131072), "128 KiB chunks");
    assert.deepEqual(transmits(transfer).map((t) => t.bytes), [
      data(1, FILE.subarray(0, 1024)),
    ]);
    server.handleDatagram(7, request, CLIENT);
    assert.deepEqual(transmits(transfer), [], "once answered, a repeated request is a duplicate");
  });

  test("a client whose ACK 0 to the OACK is lost sends it again after its own timeout (5 s, its timeout option) and gets the file", () => {
    // The server answers the OACK's loss with silence (firstReplyRetransmits 0), so the client's
    // own timer brings ACK 0 again: the transfer must still be there 5 s after its OACK.
    let ack0s = 0;
    const isAck0 = (bytes: Uint8Array) => bytes[1] === 4 && bytes[2] === 0 && bytes[3] === 0;
    const local: TftpAddress = { address: "198.51.100.9", port: 50000 };
    const net = new VirtualNetwork(
      new TftpServerEndpoint(),
      (bytes, from) => same(from, local) && isAck0(bytes) && ++ack0s === 1,
    );
    const { machine } = net.client(local, { timeout: 5, blksize: 1024 });
    net.advance(120_000);
    const final = net.finalOf(machine);
    assert.equal(final?.type, "complete", JSON.stringify(final));
    assert.equal(ack0s, 2, "ACK 0 twice: the first was lost");
    const received = net.eventsOf(machine).flatMap((e) => e.type === "data" ? [...e.data] : []);
    assert.deepEqual(new Uint8Array(received), FILE);
    assert.equal(net.transfers.length, 1, "served by the transfer it first asked, not a new one");
    const [transfer] = net.transfers;
    assert.equal(transfer.parameters.timeoutMs, 5000);
    const first = net.inbox(local).slice(0, 2);
    assert.deepEqual(first, [
      wire({ type: "oack", options: { timeout: 5, blksize: 1024 } }),
      data(1, FILE.subarray(0, 1024)),
    ], "the OACK once, then DATA 1 once ACK 0 came again");
  });

  test("once the client has answered, retransmissions are as usual and the end is told", () => {
    const server = new TftpServerEndpoint({ retransmit: { retries: 2 } });
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), CLIENT)!)!;
    const reads: number[] = [];
    serveRead(transfer, 0, reads);
    transmits(transfer);
    transfer.handleDatagram(1, ack(1), CLIENT);
    serveRead(transfer, 1, reads);
    const second = data(2, FILE.subarray(512, 1024));
    assert.deepEqual(transmits(transfer).map((t) => t.bytes), [second]);
    assert.deepEqual(runOut(transfer, reads).map((t) => t.bytes), [
      second,
      second,
      error(0, "Peer stopped answering after 3 tries"),
    ]);
  });

  test("a single-port read is held to the limits accept gives", () => {
    const server = new TftpServerEndpoint();
    const transfer = server.accept(
      0,
      server.handleDatagram(0, rrq({ blksize: 65464, windowsize: 64 }), CLIENT)!,
      { maxBlksize: 512, maxWindowsize: 1 },
    )!;
    assert.deepEqual(transmits(transfer), [{
      to: CLIENT,
      bytes: wire({ type: "oack", options: { blksize: 512, windowsize: 1 } }),
    }]);
  });
});

describe("TFTP server: an unanswered transfer waits on its retry schedule", () => {
  test("repeated requests are answered but do not stretch the schedule; after its end a repeat starts a new transfer", () => {
    const server = new TftpServerEndpoint({ retransmit: { retries: 2 } });
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), CLIENT)!)!;
    const reads: number[] = [];
    serveRead(transfer, 0, reads);
    transmits(transfer);
    assert.equal(transfer.pollTimeout(), 1000);
    server.handleDatagram(900, rrq(), CLIENT);
    assert.equal(transmits(transfer).length, 1, "DATA 1 again");
    assert.equal(transfer.pollTimeout(), 1000, "the schedule goes on as it was");
    transfer.handleTimeout(1000);
    assert.deepEqual(transmits(transfer), [], "nothing sent on the server's own timer");
    assert.equal(transfer.pollTimeout(), 3000, "then 2 s");
    server.handleDatagram(1800, rrq(), CLIENT);
    assert.equal(transmits(transfer).length, 1);
    // Past `retries` (2) repetitions a repeat is not answered.
    server.handleDatagram(2700, rrq(), CLIENT);
    assert.deepEqual(transmits(transfer), []);
    transfer.handleTimeout(3000);
    assert.equal(transfer.pollTimeout(), 7000, "then 4 s");
    transfer.handleTimeout(7000);
    const final = events(transfer).at(-1);
    assert.ok(final?.type === "failed" && final.reason === "timeout");
    assert.equal(final.message, "The client never answered after 3 tries");
    assert.equal(final.stats.endedAt, 7000);
    assert.deepEqual(transmits(transfer), [], "and no ERROR");
    // The client asks again: a new transfer, which it answers.
    const again = server.handleDatagram(7100, rrq(), CLIENT);
    assert.ok(again, "a new request");
    const second = server.accept(7100, again)!;
    serveRead(second, 7100, []);
    assert.deepEqual(transmits(second).map((t) => t.bytes), [data(1, FILE.subarray(0, 512))]);
    second.handleDatagram(7101, ack(1), CLIENT);
    assert.equal(second.answered, true);
  });

  test("firstReplyRetransmits: the reply is repeated on the negotiated timeout's schedule, which then runs out silently", () => {
    const server = new TftpServerEndpoint({
      firstReplyRetransmits: 2,
      retransmit: { timeoutMs: 1000, backoff: 2 },
    });
    const transfer = server.accept(0, server.handleDatagram(0, wrq({ timeout: 5 }), CLIENT)!)!;
    const oack = wire({ type: "oack", options: { timeout: 5 } });
    const seen: TftpTransferEvent[] = [];
    const sent = [...transmits(transfer), ...runOut(transfer, [], seen)];
    assert.deepEqual(sent.map((t) => t.bytes), [oack, oack, oack]);
    const final = seen.at(-1);
    assert.ok(final?.type === "failed" && final.reason === "timeout");
    assert.equal(final.message, "The client never answered after 7 tries");
    // 5 s, then 8 s (10 s capped at maxTimeoutMs) for each of the 6 retries.
    assert.equal(final.stats.endedAt, 5000 + 6 * 8000);
  });
});

describe("TFTP server: a new request at a limit ends the oldest unanswered transfer", () => {
  /** Accepts a read from `from` at `now` and sends its DATA 1; returns the transfer. */
  const start = (server: TftpServerEndpoint, now: number, from: TftpAddress) => {
    const transfer = server.accept(now, server.handleDatagram(now, rrq(), from)!, {
      size: FILE.length,
    })!;
    serveRead(transfer, now, []);
    assert.equal(transmits(transfer).length, 1, "DATA 1");
    return transfer;
  };

  test("maxTransfers: the oldest transfer whose client has not answered makes room, silently", () => {
    const server = new TftpServerEndpoint({ maxTransfers: 3 });
    const a = start(server, 0, other(1));
    const b = start(server, 1, other(2));
    const c = start(server, 2, other(3));
    // b's client answers: b is never ended for a newcomer.
    b.handleDatagram(3, ack(1), other(2));
    serveRead(b, 3, []);
    transmits(b);
    const d = server.handleDatagram(4, rrq(), other(4));
    assert.ok(d, "the fourth request is handed out, not told the server is busy");
    assert.deepEqual(transmits(server), []);
    assert.deepEqual(events(server), [{ type: "evicted", transfer: a }]);
    assert.deepEqual(transmits(a), [], "nothing sent to a's client");
    const [final] = events(a).filter((e) => e.type === "failed");
    assert.ok(final?.type === "failed" && final.reason === "evicted" && final.code === 0);
    assert.equal(a.isDrained(), true);
    assert.equal(a.pollTimeout(), undefined);
    assert.equal(server.evicted, 1);
    server.accept(5, d, { size: FILE.length });
    // Next goes c, the oldest unanswered.
    assert.ok(server.handleDatagram(6, rrq(), other(5)));
    assert.deepEqual(events(server), [{ type: "evicted", transfer: c }]);
    assert.equal(c.evict(7), false, "an ended transfer is not ended again");
    assert.equal(b.evict(7), false, "nor one whose client answered");
  });

  test("maxTransfers: only answered transfers and requests being decided on make a request wait", () => {
    const server = new TftpServerEndpoint({ maxTransfers: 2 });
    const a = start(server, 0, other(1));
    a.handleDatagram(1, ack(1), other(1));
    const pending = server.handleDatagram(2, rrq(), other(2));
    assert.ok(pending);
    assert.equal(server.handleDatagram(3, rrq(), other(3)), undefined);
    assert.deepEqual(transmits(server), [{
      to: other(3),
      bytes: error(0, "Server busy, try again later"),
    }]);
    assert.deepEqual(events(server), []);
    assert.equal(server.evicted, 0);
  });

  test("maxTransfersPerClient: the address's own oldest unanswered transfer makes room", () => {
    const server = new TftpServerEndpoint({ maxTransfersPerClient: 2 });
    const port = (n: number): TftpAddress => ({ ...CLIENT, port: 40000 + n });
    const elsewhere = start(server, 0, other(1));
    const a = start(server, 1, port(1));
    const b = start(server, 2, port(2));
    assert.ok(server.handleDatagram(3, rrq(), port(3)), "not busy");
    assert.deepEqual(events(server), [{ type: "evicted", transfer: a }]);
    assert.equal(elsewhere.isFinished(), false, "another address's transfer stays");
    assert.equal(b.isFinished(), false);
  });

  test("256 forged RRQs with timeout=255 fill every slot, one more a second follows, and real clients are served", () => {
    const net = new VirtualNetwork(new TftpServerEndpoint());
    const forged = (n: number): TftpAddress => ({
      address: `192.0.2.${1 + (n % 16)}`,
      port: 1024 + n,
    });
    // 16 addresses x 16 requests: within the burst (20) and the per-address cap (16) of each.
    let sent = 0;
    for (; sent < 256; sent++) net.request(rrq({ timeout: 255, tsize: 0 }), forged(sent));
    assert.equal(net.server.activeTransfers(), 256, "every slot taken");
    const real: { local: TftpAddress; machine: TftpClientTransfer }[] = [];
    // Real clients ask at 0.5 s (every slot still held), then now and then for five minutes,
    // while the attacker sends one forged request a second.
    const arrivals = [500, 10_000, 120_000, 299_000];
    for (let second = 1; second <= 300; second++) {
      for (const at of arrivals) {
        if (at > (second - 1) * 1000 && at <= second * 1000) {
          net.advance(at);
          const before = net.server.evicted;
          real.push(net.client({ address: "198.51.100.7", port: 50000 + real.length }));
          if (at === 500) {
            assert.equal(net.server.evicted, before + 1, "the first took a forged request's place");
          }
        }
      }
      net.advance(second * 1000);
      net.request(rrq({ timeout: 255, tsize: 0 }), forged(sent++));
    }
    // Past the longest schedule a forged transfer can have: 255 s, then 8 s six times.
    const schedule = 255_000 + 6 * 8000;
    net.advance(300_000 + schedule + 1000);
    for (const [i, client] of real.entries()) {
      const final = net.finalOf(client.machine);
      assert.equal(final?.type, "complete", `real client ${i + 1}: ${JSON.stringify(final)}`);
    }
    for (const client of real) {
      const errors = net.inbox(client.local).filter((bytes) => bytes[1] === 5);
      assert.deepEqual(errors, [], "no ERROR to a real client");
    }
    // Each forged request got its OACK and nothing else.
    for (let n = 0; n < sent; n++) {
      assert.deepEqual(
        net.inbox(forged(n)).map((bytes) => bytes[1]),
        [6],
        `forged request ${n}: one OACK`,
      );
    }
    // Every forged transfer made room for a newer request, or waited out its whole schedule (on
    // the timeout its request asked for) and ended silently.
    let evicted = 0;
    for (const transfer of net.transfers) {
      if (transfer.answered) continue;
      const final = net.serverFinalOf(transfer);
      assert.ok(final?.type === "failed", `forged transfer ended: ${JSON.stringify(final)}`);
      if (final.reason === "evicted") {
        evicted++;
        continue;
      }
      assert.equal(final.reason, "timeout");
      assert.equal(final.stats.endedAt! - final.stats.startedAt, schedule);
    }
    assert.equal(evicted, net.server.evicted);
  });
});

describe("TFTP server: transfers at once and answers per address", () => {
  test("maxTransfersPerClient (default 16): one address beyond it, with no unanswered transfer to end, is told the server is busy", () => {
    const server = new TftpServerEndpoint();
    for (let i = 0; i < 16; i++) {
      const from = { address: "127.0.0.1", port: 40000 + i };
      assert.ok(server.handleDatagram(0, rrq(), from), `request ${i + 1} is handed out`);
    }
    const seventeenth = { address: "127.0.0.1", port: 41000 };
    assert.equal(server.handleDatagram(0, rrq(), seventeenth), undefined);
    assert.deepEqual(transmits(server), [{
      to: seventeenth,
      bytes: error(0, "Server busy, try again later"),
    }]);
    assert.ok(server.handleDatagram(0, rrq(), other(0)), "another address is served");
  });

  test("maxTransfers (default 256): beyond it, with no unanswered transfer to end, every address is told the server is busy", () => {
    const server = new TftpServerEndpoint();
    const pending = [];
    for (let i = 0; i < 256; i++) {
      const request = server.handleDatagram(0, rrq(), other(i));
      assert.ok(request, `request ${i + 1} is handed out`);
      pending.push(request);
    }
    assert.equal(server.handleDatagram(0, rrq(), other(300)), undefined);
    assert.deepEqual(transmits(server), [{
      to: other(300),
      bytes: error(0, "Server busy, try again later"),
    }]);
    // A finished transfer makes room.
    const read = server.accept(0, pending[0], { size: 3 })!;
    read.write(0, pattern(3));
    read.end(0);
    transmits(read);
    read.handleDatagram(1, ack(1), other(0));
    assert.equal(read.isDrained(), true);
    assert.ok(server.handleDatagram(2, rrq(), other(301)), "room again");
  });

  test("an upload dallying after its last block does not count", () => {
    const server = new TftpServerEndpoint({ maxTransfers: 1 });
    const upload = server.accept(0, server.handleDatagram(0, wrq(), CLIENT)!)!;
    upload.handleDatagram(1, data(1, pattern(3)), CLIENT);
    assert.equal(upload.isFinished(), true);
    assert.equal(upload.isDrained(), false, "it dallies to re-ACK a repeated last block");
    assert.equal(server.activeTransfers(), 0);
    assert.ok(server.handleDatagram(2, rrq(), other(1)), "room for another");
  });

  test("requestBurst (default 20) answers per address, then requestRate (10/s) refills", () => {
    const server = new TftpServerEndpoint();
    let answered = 0;
    for (let i = 0; i < 25; i++) {
      const from = { address: "127.0.0.1", port: 40000 + i };
      const pending = server.handleDatagram(0, rrq({}, "missing.bin"), from);
      if (pending) server.reject(pending, 1, "File not found");
      answered += transmits(server).length;
    }
    assert.equal(answered, 20, "the burst");
    assert.equal(server.limited, 5, "the rest dropped without an answer");
    // 100 ms later one token is back.
    const later = (port: number, at: number) => {
      const pending = server.handleDatagram(at, rrq({}, "missing.bin"), { ...CLIENT, port });
      if (pending) server.reject(pending, 1, "File not found");
      return transmits(server).length;
    };
    assert.equal(later(50000, 100), 1);
    assert.equal(later(50001, 100), 0);
    assert.equal(server.handleDatagram(100, rrq({}, "x"), other(0)) !== undefined, true);
    // Malformed requests cost tokens too: each is answered with an ERROR.
    assert.equal(server.handleDatagram(100, new Uint8Array([0, 1, 0x61, 0]), CLIENT), undefined);
    assert.deepEqual(transmits(server), []);
  });

  test("a transfer whose client answers gives its token back", () => {
    const server = new TftpServerEndpoint({ requestBurst: 2, requestRate: 0.001 });
    const port = (n: number) => ({ ...CLIENT, port: 40000 + n });
    const a = server.accept(0, server.handleDatagram(0, wrq(), port(1))!)!;
    a.handleDatagram(1, data(1, pattern(3)), port(1));
    assert.equal(a.answered, true);
    assert.ok(server.handleDatagram(2, wrq(), port(2)), "the second token");
    server.accept(2, server.handleDatagram(2, wrq(), port(3)) ?? assert.fail("refunded"));
    assert.equal(server.handleDatagram(3, wrq(), port(4)), undefined, "no token left");
    assert.equal(server.limited, 1);
  });

  test("requestRate Infinity and the caps Infinity lift the limits", () => {
    const server = new TftpServerEndpoint({
      requestRate: Infinity,
      maxTransfers: Infinity,
      maxTransfersPerClient: Infinity,
    });
    for (let i = 0; i < 300; i++) {
      assert.ok(server.handleDatagram(0, rrq(), { ...CLIENT, port: 30000 + i }));
    }
    assert.throws(() => new TftpServerEndpoint({ requestBurst: 0 }), RangeError);
    assert.throws(() => new TftpServerEndpoint({ maxTransfers: -1 }), RangeError);
  });

  test("maxTransfersPerClient 0 serves no address: each is told the server is busy", () => {
    const server = new TftpServerEndpoint({ maxTransfersPerClient: 0 });
    assert.equal(server.handleDatagram(0, rrq(), CLIENT), undefined);
    assert.deepEqual(transmits(server), [{
      to: CLIENT,
      bytes: error(0, "Server busy, try again later"),
    }]);
  });

  test("firstReplyRetransmits must be a whole number", () => {
    for (const firstReplyRetransmits of [-1, 1.5]) {
      const server = new TftpServerEndpoint({ firstReplyRetransmits });
      const pending = server.handleDatagram(0, rrq(), CLIENT)!;
      assert.throws(() => server.accept(0, pending), {
        name: "RangeError",
        message: `firstReplyRetransmits must be a whole number, got ${firstReplyRetransmits}`,
      });
    }
  });
});

describe("TFTP server: upload size", () => {
  const endpoint = (options: TftpServerEndpointOptions = {}) => new TftpServerEndpoint(options);

  test("RFC 2349: by default a WRQ announcing more than 1 GiB gets ERROR 3", () => {
    const server = endpoint();
    const huge = server.handleDatagram(0, wrq({ tsize: Number.MAX_SAFE_INTEGER }), CLIENT)!;
    assert.equal(server.accept(0, huge), undefined);
    assert.deepEqual(transmits(server), [{
      to: CLIENT,
      bytes: error(3, `File of ${Number.MAX_SAFE_INTEGER} bytes exceeds the 1073741824 allowed`),
    }]);
    const fits = server.handleDatagram(0, wrq({ tsize: 1073741824 }), other(1))!;
    assert.ok(server.accept(0, fits), "1 GiB fits");
  });

  test("an upload that grows past maxWriteSize is stopped with ERROR 3", () => {
    const server = endpoint({ maxWriteSize: 1000 });
    const transfer = server.accept(0, server.handleDatagram(0, wrq(), CLIENT)!)!;
    transmits(transfer);
    transfer.handleDatagram(1, data(1, pattern(512)), CLIENT);
    transfer.handleDatagram(2, data(2, pattern(512)), CLIENT);
    assert.deepEqual(transmits(transfer).at(-1), {
      to: CLIENT,
      bytes: error(3, "File exceeds the 1000 bytes allowed"),
    });
  });
});
