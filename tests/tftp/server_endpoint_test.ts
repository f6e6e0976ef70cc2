import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TftpServerEndpoint, type TftpServerEndpointOptions } from "../../tftp/mod.ts";
import { CLIENT, events, pattern, SERVER, transmits, wire } from "./_script.ts";

const ack = (block: number) => wire({ type: "ack", block });
const data = (block: number, bytes: Uint8Array) => wire({ type: "data", block, data: bytes });
const error = (code: number, message: string) => wire({ type: "error", code, message });
const rrq = (options: Record<string, number> = {}, mode: "octet" | "netascii" = "octet") =>
  wire({ type: "rrq", filename: "boot.img", mode, options });
const wrq = (options: Record<string, number> = {}) =>
  wire({ type: "wrq", filename: "upload.bin", mode: "octet", options });

function endpoint(options: TftpServerEndpointOptions = {}) {
  return new TftpServerEndpoint({
    retransmit: { timeoutMs: 1000, backoff: 1, retries: 2 },
    ...options,
  });
}

describe("TFTP server: endpoint", () => {
  test("a valid request is handed out with its client TID", () => {
    const server = endpoint();
    const pending = server.handleDatagram(5, rrq({ blksize: 1024 }), CLIENT);
    assert.deepEqual(pending, {
      from: CLIENT,
      request: { type: "rrq", filename: "boot.img", mode: "octet", options: { blksize: 1024 } },
      receivedAt: 5,
    });
    assert.deepEqual(transmits(server), []);
  });

  test("a malformed request is answered with ERROR 4, a bad option with ERROR 8", () => {
    const server = endpoint();
    assert.equal(server.handleDatagram(0, new Uint8Array([0, 1, 0x61, 0]), CLIENT), undefined);
    assert.deepEqual(transmits(server), [{
      to: CLIENT,
      bytes: error(4, "Request has no mode (RRQ, byte 4)"),
    }]);
    const bad = new Uint8Array([...rrq(), ...new TextEncoder().encode("blksize\x004\x00")]);
    assert.equal(server.handleDatagram(0, bad, CLIENT), undefined);
    const [answer] = transmits(server);
    assert.deepEqual(answer.bytes.subarray(0, 4), new Uint8Array([0, 5, 0, 8]));
  });

  test("mail mode is refused with ERROR 4", () => {
    const server = endpoint();
    const mail = wire({ type: "wrq", filename: "root", mode: "mail", options: {} });
    assert.equal(server.handleDatagram(0, mail, CLIENT), undefined);
    assert.deepEqual(transmits(server), [{
      to: CLIENT,
      bytes: error(4, 'Mode "mail" is not supported'),
    }]);
  });

  test("non-requests on the listening port are dropped without an answer", () => {
    const server = endpoint();
    assert.equal(server.handleDatagram(0, ack(1), CLIENT), undefined);
    assert.equal(server.handleDatagram(0, new Uint8Array([0, 9]), CLIENT), undefined);
    assert.equal(server.handleDatagram(0, new Uint8Array([0, 4, 0]), CLIENT), undefined);
    assert.deepEqual(transmits(server), []);
    assert.equal(server.ignored, 3);
  });

  test("a repeated request while the first is pending or running is dropped", () => {
    const server = endpoint();
    const pending = server.handleDatagram(0, rrq(), CLIENT)!;
    assert.equal(server.handleDatagram(1, rrq(), CLIENT), undefined);
    const transfer = server.accept(2, pending, { size: 10 })!;
    assert.equal(server.handleDatagram(3, rrq(), CLIENT), undefined);
    assert.equal(server.ignored, 2);
    transfer.write(3, pattern(10));
    transfer.end(3);
    transfer.handleDatagram(4, ack(1), CLIENT);
    assert.equal(transfer.isDrained(), true);
    assert.notEqual(
      server.handleDatagram(5, rrq(), CLIENT),
      undefined,
      "a new request once it is over",
    );
  });

  test("reject queues the ERROR; a request can be settled only once", () => {
    const server = endpoint();
    const pending = server.handleDatagram(0, rrq(), CLIENT)!;
    server.reject(pending, 1, "File not found");
    assert.deepEqual(transmits(server), [{ to: CLIENT, bytes: error(1, "File not found") }]);
    assert.throws(() => server.reject(pending, 1, "again"), TypeError);
    assert.throws(() => server.accept(0, pending), TypeError);
  });

  test("maxTransfers: beyond it the client is told the server is busy", () => {
    const server = endpoint({ maxTransfers: 1 });
    assert.notEqual(server.handleDatagram(0, rrq(), CLIENT), undefined);
    const other = { address: "127.0.0.1", port: 40001 };
    assert.equal(server.handleDatagram(0, rrq(), other), undefined);
    assert.deepEqual(transmits(server), [{
      to: other,
      bytes: error(0, "Server busy, try again later"),
    }]);
    assert.equal(server.activeTransfers(), 1);
  });
});

describe("TFTP server: read (RRQ)", () => {
  test("RFC 1350: without options the first DATA goes out as soon as there is data", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), CLIENT)!, { size: 700 })!;
    assert.deepEqual(transmits(transfer), []);
    assert.deepEqual(events(transfer).map((e) => e.type), ["negotiated", "data-wanted"]);
    const file = pattern(700);
    transfer.write(1, file.subarray(0, 300));
    assert.deepEqual(transmits(transfer), [], "300 bytes do not make a block");
    transfer.write(1, file.subarray(300));
    transfer.end(1);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: data(1, file.subarray(0, 512)) }]);
    transfer.handleDatagram(2, ack(1), CLIENT);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: data(2, file.subarray(512)) }]);
    transfer.handleDatagram(3, ack(2), CLIENT);
    assert.equal(events(transfer).at(-1)?.type, "complete");
    assert.equal(transfer.isDrained(), true);
  });

  test("RFC 2347/2349: an OACK with tsize, then DATA 1 after ACK 0", () => {
    const server = endpoint({ firstReplyRetransmits: 2 });
    const transfer = server.accept(
      0,
      server.handleDatagram(0, rrq({ tsize: 0, blksize: 8 }), CLIENT)!,
      { size: 5 },
    )!;
    assert.deepEqual(transmits(transfer), [{
      to: CLIENT,
      bytes: wire({ type: "oack", options: { blksize: 8, tsize: 5 } }),
    }]);
    transfer.write(0, pattern(5));
    transfer.end(0);
    assert.deepEqual(transmits(transfer), [], "no DATA before ACK 0");
    assert.equal(transfer.pollTimeout(), 1000);
    transfer.handleTimeout(1000);
    assert.deepEqual(transmits(transfer), [{
      to: CLIENT,
      bytes: wire({ type: "oack", options: { blksize: 8, tsize: 5 } }),
    }], "the OACK is repeated");
    transfer.handleDatagram(1001, ack(0), CLIENT);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: data(1, pattern(5)) }]);
  });

  test("RFC 2347: a client refusing the OACK with ERROR 8 ends the transfer", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, rrq({ blksize: 8 }), CLIENT)!)!;
    transmits(transfer);
    transfer.handleDatagram(1, error(8, "no"), CLIENT);
    const last = events(transfer).at(-1)!;
    assert.ok(last.type === "failed" && last.reason === "peer-error" && last.code === 8);
  });

  test("anything but ACK 0 after the OACK is a protocol error", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, rrq({ blksize: 8 }), CLIENT)!)!;
    transmits(transfer);
    transfer.handleDatagram(1, ack(3), CLIENT);
    assert.deepEqual(transmits(transfer), [{
      to: CLIENT,
      bytes: error(4, "Unexpected ACK packet"),
    }]);
  });

  test("RFC 2349: tsize is left out of the OACK for netascii and for an unknown size", () => {
    const server = endpoint();
    const netascii = server.accept(
      0,
      server.handleDatagram(0, rrq({ tsize: 0, blksize: 8 }, "netascii"), CLIENT)!,
      { size: 5 },
    )!;
    assert.deepEqual(transmits(netascii), [{
      to: CLIENT,
      bytes: wire({ type: "oack", options: { blksize: 8 } }),
    }]);
    const other = { address: "127.0.0.1", port: 40001 };
    const unknown = server.accept(0, server.handleDatagram(0, rrq({ tsize: 0 }), other)!)!;
    assert.deepEqual(transmits(unknown), [], "no option left: no OACK, DATA 1 instead");
    assert.deepEqual(events(unknown).map((e) => e.type), ["negotiated", "data-wanted"]);
  });

  test("policy: blksize and windowsize are lowered to the maxima; options not honoured are left out", () => {
    const server = endpoint({
      maxBlksize: 1468,
      maxWindowsize: 8,
      honour: ["blksize", "windowsize"],
    });
    const transfer = server.accept(
      0,
      server.handleDatagram(
        0,
        rrq({ blksize: 65464, windowsize: 64, timeout: 5, tsize: 0 }),
        CLIENT,
      )!,
      { size: 1 },
    )!;
    assert.deepEqual(transmits(transfer), [{
      to: CLIENT,
      bytes: wire({ type: "oack", options: { blksize: 1468, windowsize: 8 } }),
    }]);
  });

  test("accept's receiveBuffer fits a write's window to the server's socket", () => {
    const server = endpoint({ maxWindowsize: 32 });
    const lowered = server.accept(
      0,
      server.handleDatagram(0, wrq({ blksize: 8192, windowsize: 64 }), CLIENT)!,
      { receiveBuffer: 212992 },
    )!;
    // 212992 bytes queue 12 datagrams of 8196 bytes (Linux loopback).
    assert.deepEqual(transmits(lowered), [{
      to: CLIENT,
      bytes: wire({ type: "oack", options: { blksize: 8192, windowsize: 12 } }),
    }]);
    assert.equal(lowered.parameters.windowsize, 12);
    const other = { address: CLIENT.address, port: CLIENT.port + 1 };
    const endpointLimit = server.accept(
      0,
      server.handleDatagram(0, wrq({ blksize: 8192, windowsize: 64 }), other)!,
      { receiveBuffer: 1 << 24 },
    )!;
    assert.equal(endpointLimit.parameters.windowsize, 32, "never above the endpoint's limit");
    // The fit uses the negotiated block size: lowered to 1468, the same buffer holds 53.
    const small = endpoint({ maxBlksize: 1468 });
    const third = small.accept(
      0,
      small.handleDatagram(0, wrq({ blksize: 8192, windowsize: 64 }), CLIENT)!,
      { receiveBuffer: 212992 },
    )!;
    assert.equal(third.parameters.blksize, 1468);
    assert.equal(third.parameters.windowsize, 53);
  });

  test("the transfer answers a stranger with ERROR 5 and goes on", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), CLIENT)!)!;
    transfer.write(0, pattern(600));
    transmits(transfer);
    const stranger = { address: "127.0.0.1", port: 1234 };
    transfer.handleDatagram(1, ack(1), stranger);
    assert.deepEqual(transmits(transfer), [{
      to: stranger,
      bytes: error(5, "Unknown transfer ID"),
    }]);
    transfer.handleDatagram(1, ack(1), CLIENT);
    assert.equal(transmits(transfer).length, 0, "block 2 waits for the end of the file");
    transfer.end(2);
    assert.equal(transmits(transfer).length, 1);
  });
});

describe("TFTP server: write (WRQ)", () => {
  test("RFC 1350: ACK 0, then an ACK for each DATA; the last block ends it after a dally", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, wrq(), CLIENT)!)!;
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: ack(0) }]);
    transfer.handleDatagram(1, data(1, pattern(512)), CLIENT);
    transfer.handleDatagram(2, data(2, pattern(7)), CLIENT);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: ack(1) }, {
      to: CLIENT,
      bytes: ack(2),
    }]);
    const list = events(transfer);
    assert.deepEqual(list.map((e) => e.type), ["negotiated", "data", "data", "complete"]);
    assert.equal(transfer.isDrained(), false);
    transfer.handleTimeout(transfer.pollTimeout()!);
    assert.equal(transfer.isDrained(), true);
  });

  test("RFC 2347: an OACK stands for ACK 0 and is repeated until DATA 1 comes", () => {
    const server = endpoint({ firstReplyRetransmits: 2 });
    const transfer = server.accept(
      0,
      server.handleDatagram(0, wrq({ blksize: 8, tsize: 9, windowsize: 4 }), CLIENT)!,
    )!;
    const theOack = wire({ type: "oack", options: { blksize: 8, tsize: 9, windowsize: 4 } });
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: theOack }]);
    transfer.handleTimeout(1000);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: theOack }]);
    transfer.handleDatagram(1500, data(2, pattern(1)), CLIENT);
    assert.deepEqual(
      transmits(transfer),
      [{ to: CLIENT, bytes: theOack }],
      "a gap before block 1 repeats the OACK",
    );
    transfer.handleDatagram(1600, data(1, pattern(8)), CLIENT);
    assert.deepEqual(transmits(transfer), [], "block 1 of a window of 4 is not ACKed alone");
    transfer.handleDatagram(1700, data(2, pattern(1)), CLIENT);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: ack(2) }], "the short block is");
  });

  test("RFC 2349: a WRQ announcing more than maxWriteSize gets ERROR 3 from the endpoint", () => {
    const server = endpoint({ maxWriteSize: 1000 });
    const pending = server.handleDatagram(0, wrq({ tsize: 1001 }), CLIENT)!;
    assert.equal(server.accept(0, pending), undefined);
    assert.deepEqual(transmits(server), [{
      to: CLIENT,
      bytes: error(3, "File of 1001 bytes exceeds the 1000 allowed"),
    }]);
  });

  test("maxSize is enforced on the bytes actually written, with ERROR 3", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, wrq(), CLIENT)!, { maxSize: 600 })!;
    transmits(transfer);
    transfer.handleDatagram(1, data(1, pattern(512)), CLIENT);
    transfer.handleDatagram(2, data(2, pattern(512)), CLIENT);
    assert.deepEqual(transmits(transfer).at(-1), {
      to: CLIENT,
      bytes: error(3, "File exceeds the 600 bytes allowed"),
    });
    const last = events(transfer).at(-1)!;
    assert.ok(last.type === "failed" && last.reason === "size-limit" && last.code === 3);
  });

  test("the receiver gives up after its retry budget", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, wrq(), CLIENT)!)!;
    transfer.handleDatagram(500, data(1, pattern(512)), CLIENT);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: ack(0) }, {
      to: CLIENT,
      bytes: ack(1),
    }]);
    transfer.handleTimeout(1500);
    transfer.handleTimeout(2500);
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: ack(1) }, {
      to: CLIENT,
      bytes: ack(1),
    }]);
    transfer.handleTimeout(3500);
    assert.deepEqual(transmits(transfer), [{
      to: CLIENT,
      bytes: error(0, "Peer stopped answering after 3 tries"),
    }]);
    const last = events(transfer).at(-1)!;
    assert.ok(last.type === "failed" && last.reason === "timeout");
  });

  test("a peer repeating old DATA cannot keep the transfer alive past its budget", () => {
    const server = endpoint();
    const transfer = server.accept(0, server.handleDatagram(0, wrq(), CLIENT)!)!;
    transfer.handleDatagram(1, data(1, pattern(512)), CLIENT);
    let now = 1;
    for (let i = 0; i < 100 && !transfer.isDrained(); i++) {
      now += 100;
      transfer.handleDatagram(now, data(1, pattern(512)), CLIENT);
      transfer.handleTimeout(now);
    }
    assert.equal(transfer.isDrained(), true);
    assert.ok(now < 5000);
  });

  test("abort before start sends nothing", () => {
    const server = endpoint();
    const pending = server.handleDatagram(0, wrq(), CLIENT)!;
    const transfer = server.accept(0, pending)!;
    transmits(transfer);
    transfer.abort(1, 2, "Access violation");
    assert.deepEqual(transmits(transfer), [{ to: CLIENT, bytes: error(2, "Access violation") }]);
    void SERVER;
  });
});
