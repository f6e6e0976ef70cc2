import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  checkTftpOack,
  negotiateTftpServerOptions,
  sameTftpAddress,
  TFTP_DEFAULT_MAX_WRITE_SIZE,
  TftpClientTransfer,
  TftpServerEndpoint,
  TftpTransfer,
} from "../../tftp/mod.ts";
import { decodeTftpPacket, TftpDecodeError, tryDecodeTftpPacket } from "../../codec/mod.ts";
import { CLIENT, events, pattern, SERVER, SERVER_TID, transmits, wire } from "./_script.ts";

describe("TFTP option negotiation, server side", () => {
  test("RFC 2349: timeout and utimeout are echoed and become the retransmission timeout", () => {
    const result = negotiateTftpServerOptions(
      { type: "rrq", filename: "f", mode: "octet", options: { timeout: 3 } },
    );
    assert.deepEqual(result, {
      ok: true,
      oack: { timeout: 3 },
      parameters: {
        blksize: 512,
        windowsize: 1,
        rollover: 0,
        timeoutMs: 3000,
        options: { timeout: 3 },
      },
    });
    const micro = negotiateTftpServerOptions(
      { type: "wrq", filename: "f", mode: "octet", options: { utimeout: 250000, rollover: 1 } },
    );
    assert.ok(micro.ok);
    assert.equal(micro.parameters.timeoutMs, 250);
    assert.equal(micro.parameters.rollover, 1);
  });

  test("RFC 2349: a WRQ's tsize within the limit is echoed", () => {
    const result = negotiateTftpServerOptions(
      { type: "wrq", filename: "f", mode: "octet", options: { tsize: 1000 } },
      { maxWriteSize: 1000 },
    );
    assert.ok(result.ok);
    assert.deepEqual(result.oack, { tsize: 1000 });
    assert.equal(result.parameters.tsize, 1000);
  });

  test("RFC 2349: without a maxWriteSize, a WRQ may announce up to 1 GiB", () => {
    const wrq = (tsize: number) => ({
      type: "wrq" as const,
      filename: "f",
      mode: "octet" as const,
      options: { tsize },
    });
    assert.ok(negotiateTftpServerOptions(wrq(TFTP_DEFAULT_MAX_WRITE_SIZE)).ok);
    const over = negotiateTftpServerOptions(wrq(TFTP_DEFAULT_MAX_WRITE_SIZE + 1));
    assert.ok(!over.ok);
    assert.equal(over.code, 3);
  });

  test("nothing honoured means no OACK and the defaults", () => {
    const result = negotiateTftpServerOptions(
      { type: "rrq", filename: "f", mode: "octet", options: { blksize: 1024, windowsize: 4 } },
      { honour: [] },
    );
    assert.deepEqual(result, {
      ok: true,
      oack: undefined,
      parameters: { blksize: 512, windowsize: 1, rollover: 0, options: {} },
    });
  });

  test("defaults: blksize up to 65464, windowsize lowered to 64", () => {
    const result = negotiateTftpServerOptions(
      { type: "wrq", filename: "f", mode: "octet", options: { blksize: 65464, windowsize: 1000 } },
    );
    assert.ok(result.ok);
    assert.deepEqual(result.oack, { blksize: 65464, windowsize: 64 });
  });

  test("a read's window fits a default client socket buffer unless told otherwise", () => {
    const read = (blksize: number, policy = {}) =>
      negotiateTftpServerOptions(
        { type: "rrq", filename: "f", mode: "octet", options: { blksize, windowsize: 64 } },
        policy,
      );
    const windowOf = (result: ReturnType<typeof read>) => result.ok && result.oack?.windowsize;
    // 212992 bytes (Linux's default) queue 12 datagrams of 8196 bytes, 1 of 65468, 53 of 1472.
    assert.equal(windowOf(read(8192)), 12);
    assert.equal(windowOf(read(65464)), 1);
    assert.equal(windowOf(read(1468)), 53);
    assert.equal(windowOf(read(512)), 64, "small blocks: maxWindowsize is the limit");
    assert.equal(windowOf(read(8192, { clientReceiveBuffer: 1 << 20 })), 60);
    assert.equal(windowOf(read(65464, { clientReceiveBuffer: Infinity })), 64);
    const noBlksize = negotiateTftpServerOptions(
      { type: "rrq", filename: "f", mode: "octet", options: { windowsize: 500 } },
      { maxWindowsize: 500 },
    );
    assert.equal(noBlksize.ok && noBlksize.oack?.windowsize, 104, "512-byte blocks by default");
  });
});

describe("TFTP option negotiation, client side", () => {
  test("RFC 2349: tsize on a read is the server's file size, any value", () => {
    const result = checkTftpOack("rrq", { tsize: 0 }, { tsize: 123456789012 });
    assert.ok(result.ok);
    assert.equal(result.parameters.tsize, 123456789012);
  });

  test("an OACK holding fewer options than requested is fine: the rest are not used", () => {
    const result = checkTftpOack("wrq", { blksize: 1024, windowsize: 8 }, { blksize: 1024 });
    assert.ok(result.ok);
    assert.equal(result.parameters.windowsize, 1);
  });
});

describe("TFTP machines: edges", () => {
  test("a transfer needs its setup", () => {
    assert.throws(
      () => new TftpTransfer({ role: "client", direction: "receive", mode: "octet", peer: SERVER }),
      { name: "TypeError", message: "A client transfer needs a request" },
    );
    assert.throws(
      () => new TftpTransfer({ role: "server", direction: "send", mode: "octet", peer: CLIENT }),
      { name: "TypeError", message: "A server transfer needs its parameters" },
    );
    assert.throws(
      () =>
        new TftpClientTransfer({
          type: "rrq",
          filename: "f",
          server: SERVER,
          mode: "binary" as "octet",
        }),
      { name: "TypeError", message: 'Mode must be "octet" or "netascii", got "binary"' },
    );
  });

  test("a server transfer set up without its request takes no repeated request for its own", () => {
    const transfer = new TftpTransfer({
      role: "server",
      direction: "send",
      mode: "octet",
      peer: CLIENT,
      accepted: {
        oack: wire({ type: "oack", options: { blksize: 8 } }),
        parameters: {
          blksize: 8,
          windowsize: 1,
          rollover: 0,
          options: { blksize: 8 },
        },
      },
    });
    transfer.start(0);
    assert.equal(transmits(transfer).length, 1, "the OACK");
    const rrq = wire({ type: "rrq", filename: "f", mode: "octet", options: { blksize: 8 } });
    transfer.handleDatagram(1, rrq, CLIENT);
    assert.deepEqual(transmits(transfer), [], "no OACK again");
    assert.equal(transfer.stats.duplicates, 1);
  });

  test("parameters are the defaults until negotiation, then the negotiated ones", () => {
    const client = new TftpClientTransfer({
      type: "rrq",
      filename: "f",
      server: SERVER,
      options: { blksize: 1024 },
    });
    assert.equal(client.parameters.blksize, 512);
    client.start(0);
    client.handleDatagram(1, wire({ type: "oack", options: { blksize: 1000 } }), SERVER_TID);
    assert.equal(client.parameters.blksize, 1000);
  });

  test("during the dally, garbage, errors and other packets are ignored", () => {
    const client = new TftpClientTransfer({ type: "rrq", filename: "f", server: SERVER });
    client.start(0);
    client.handleDatagram(1, wire({ type: "data", block: 1, data: pattern(3) }), SERVER_TID);
    transmits(client);
    events(client);
    client.handleDatagram(2, new Uint8Array([0, 42]), SERVER_TID);
    client.handleDatagram(3, wire({ type: "error", code: 0, message: "late" }), SERVER_TID);
    client.handleDatagram(4, wire({ type: "ack", block: 1 }), SERVER_TID);
    client.handleDatagram(5, wire({ type: "data", block: 7, data: pattern(3) }), SERVER_TID);
    assert.deepEqual(transmits(client), []);
    assert.deepEqual(events(client), []);
    client.abort(6);
    assert.deepEqual(transmits(client), [], "abort after completion does nothing");
  });

  test("a receiver that gets an ACK is facing a protocol error", () => {
    const client = new TftpClientTransfer({ type: "rrq", filename: "f", server: SERVER });
    client.start(0);
    client.handleDatagram(1, wire({ type: "data", block: 1, data: pattern(512) }), SERVER_TID);
    transmits(client);
    client.handleDatagram(2, wire({ type: "ack", block: 1 }), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: wire({ type: "error", code: 4, message: "Unexpected ACK packet" }),
    }]);
  });

  test("a WRQ answered with DATA is a protocol error", () => {
    const client = new TftpClientTransfer({ type: "wrq", filename: "f", server: SERVER });
    client.start(0);
    transmits(client);
    client.handleDatagram(1, wire({ type: "data", block: 1, data: pattern(3) }), SERVER_TID);
    const [sent] = transmits(client);
    assert.deepEqual(decodeTftpPacket(sent.bytes), {
      type: "error",
      code: 4,
      message: "Unexpected DATA packet",
    });
  });

  test("the endpoint counts running transfers and forgets finished ones", () => {
    const server = new TftpServerEndpoint();
    const a = server.accept(
      0,
      server.handleDatagram(
        0,
        wire({ type: "wrq", filename: "a", mode: "octet", options: {} }),
        CLIENT,
      )!,
    )!;
    const other = { address: "::1", port: 1 };
    server.accept(
      0,
      server.handleDatagram(
        0,
        wire({ type: "wrq", filename: "b", mode: "octet", options: {} }),
        other,
      )!,
    );
    assert.equal(server.activeTransfers(), 2);
    a.abort(1);
    assert.equal(server.activeTransfers(), 1);
  });

  test("an ERROR without a message is reported with its code; abort before start sends nothing", () => {
    const client = new TftpClientTransfer({ type: "rrq", filename: "f", server: SERVER });
    client.start(0);
    client.handleDatagram(1, wire({ type: "error", code: 2, message: "" }), SERVER_TID);
    const [failed] = events(client);
    assert.ok(failed.type === "failed");
    assert.equal(failed.message, "Peer sent error 2");
    const idle = new TftpClientTransfer({ type: "rrq", filename: "f", server: SERVER });
    idle.abort(0);
    assert.deepEqual(transmits(idle), []);
    assert.equal(idle.isDrained(), true);
    assert.equal(events(idle)[0].type, "failed");
  });

  test("sameTftpAddress compares address and port", () => {
    assert.equal(sameTftpAddress(CLIENT, { ...CLIENT }), true);
    assert.equal(sameTftpAddress(CLIENT, { ...CLIENT, port: 1 }), false);
    assert.equal(sameTftpAddress(CLIENT, { ...CLIENT, address: "::1" }), false);
  });

  test("tryDecodeTftpPacket returns the error instead of throwing it", () => {
    assert.deepEqual(tryDecodeTftpPacket(wire({ type: "ack", block: 2 })), {
      type: "ack",
      block: 2,
    });
    const error = tryDecodeTftpPacket(new Uint8Array([0, 9]));
    assert.ok(error instanceof TftpDecodeError);
    assert.equal(error.kind, "unknown-opcode");
  });
});
