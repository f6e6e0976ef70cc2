// What a forged request can make the server do, on the machines with a virtual clock: the first
// reply is sent once, no file is read before the client answers, transfers are capped in number,
// answers to an address are rate-limited, and uploads are capped in size.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type TftpAddress,
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

describe("TFTP server: what a forged request makes it send", () => {
  test("a plain RRQ nobody answers gets DATA 1 once; the transfer ends silently", () => {
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

describe("TFTP server: transfers at once and answers per address", () => {
  test("maxTransfersPerClient (default 16): one address beyond it is told the server is busy", () => {
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

  test("maxTransfers (default 256): beyond it every address is told the server is busy", () => {
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
