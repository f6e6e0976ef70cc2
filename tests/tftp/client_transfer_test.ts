import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TftpClientTransfer, type TftpTransferEvent } from "../../tftp/mod.ts";
import { events, pattern, SERVER, SERVER_TID, transmits, wire } from "./_script.ts";

const ack = (block: number) => wire({ type: "ack", block });
const data = (block: number, bytes: Uint8Array) => wire({ type: "data", block, data: bytes });
const error = (code: number, message: string) => wire({ type: "error", code, message });
const oack = (options: Record<string, number>) => wire({ type: "oack", options });

function reader(
  options: ConstructorParameters<typeof TftpClientTransfer>[0]["options"] = {},
  extra = {},
) {
  const client = new TftpClientTransfer({
    type: "rrq",
    filename: "foobar",
    server: SERVER,
    options,
    retransmit: { timeoutMs: 1000, backoff: 2, maxTimeoutMs: 4000, retries: 3, dallyMs: 3000 },
    ...extra,
  });
  client.start(0);
  return client;
}

function writer(
  options: ConstructorParameters<typeof TftpClientTransfer>[0]["options"] = {},
  extra = {},
) {
  const client = new TftpClientTransfer({
    type: "wrq",
    filename: "foobar",
    server: SERVER,
    options,
    retransmit: { timeoutMs: 1000, backoff: 1, retries: 3 },
    ...extra,
  });
  client.start(0);
  return client;
}

function final(list: TftpTransferEvent[]): TftpTransferEvent | undefined {
  return list.find((event) => event.type === "complete" || event.type === "failed");
}

describe("TFTP client: read (RRQ)", () => {
  test("RFC 1350: RRQ, DATA/ACK lock-step, a short block ends it, then the dally", () => {
    const client = reader();
    assert.deepEqual(transmits(client), [
      { to: SERVER, bytes: wire({ type: "rrq", filename: "foobar", mode: "octet", options: {} }) },
    ]);
    assert.equal(client.pollTimeout(), 1000);
    const block1 = pattern(512);
    client.handleDatagram(10, data(1, block1), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(1) }]);
    assert.deepEqual(client.peer, SERVER_TID, "the server's TID is latched from its first reply");
    const first = events(client);
    assert.equal(first[0].type, "negotiated");
    assert.deepEqual(first[1], { type: "data", data: block1 });
    client.handleDatagram(20, data(2, pattern(100, 2)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(2) }]);
    const last = events(client);
    assert.deepEqual(last[0], { type: "data", data: pattern(100, 2) });
    assert.equal(last[1].type, "complete");
    assert.equal(last[1].type === "complete" && last[1].stats.bytes, 612);
    assert.equal(client.isDrained(), false, "the receiver of the last block dallies");
    client.handleDatagram(1500, data(2, pattern(100, 2)), SERVER_TID);
    assert.deepEqual(
      transmits(client),
      [{ to: SERVER_TID, bytes: ack(2) }],
      "a repeated final DATA is ACKed",
    );
    assert.deepEqual(events(client), []);
    assert.equal(client.pollTimeout(), 3020);
    client.handleTimeout(3019);
    assert.equal(client.isDrained(), false);
    client.handleTimeout(3020);
    assert.equal(client.isDrained(), true);
    assert.equal(client.pollTimeout(), undefined);
  });

  test("RFC 2347/2348: an OACK lowering blksize is accepted and answered with ACK 0", () => {
    const client = reader({ blksize: 1468, tsize: true });
    assert.deepEqual(
      transmits(client)[0].bytes,
      wire({
        type: "rrq",
        filename: "foobar",
        mode: "octet",
        options: { blksize: 1468, tsize: 0 },
      }),
    );
    client.handleDatagram(5, oack({ blksize: 1024, tsize: 2000 }), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(0) }]);
    assert.deepEqual(events(client), [{
      type: "negotiated",
      parameters: {
        blksize: 1024,
        windowsize: 1,
        rollover: 0,
        tsize: 2000,
        options: { blksize: 1024, tsize: 2000 },
      },
    }]);
    client.handleDatagram(6, data(1, pattern(1024)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(1) }]);
    client.handleDatagram(7, data(2, pattern(976)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(2) }]);
    assert.equal(final(events(client))?.type, "complete");
  });

  test("RFC 2347: a repeated OACK (our ACK 0 was lost) is answered with ACK 0 again", () => {
    const client = reader({ blksize: 1024 });
    transmits(client);
    client.handleDatagram(5, oack({ blksize: 1024 }), SERVER_TID);
    transmits(client);
    client.handleDatagram(1005, oack({ blksize: 1024 }), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(0) }]);
  });

  test("RFC 2347: a server that ignores the options answers with DATA: defaults apply", () => {
    const client = reader({ blksize: 1468, windowsize: 8 });
    transmits(client);
    client.handleDatagram(5, data(1, pattern(100)), SERVER_TID);
    const list = events(client);
    assert.deepEqual(list[0], {
      type: "negotiated",
      parameters: { blksize: 512, windowsize: 1, rollover: 0, options: {} },
    });
    assert.equal(final(list)?.type, "complete", "100 bytes is a short block at the default 512");
  });

  const refusals: [string, Record<string, number>, Record<string, number>, string][] = [
    [
      "RFC 2348: blksize raised",
      { blksize: 1024 },
      { blksize: 2048 },
      "OACK raises blksize from 1024 to 2048",
    ],
    [
      "RFC 7440: windowsize raised",
      { windowsize: 4 },
      { windowsize: 8 },
      "OACK raises windowsize from 4 to 8",
    ],
    [
      "RFC 2349: timeout changed",
      { timeout: 3 },
      { timeout: 5 },
      "OACK changes timeout from 3 to 5",
    ],
    [
      "utimeout changed",
      { utimeout: 50000 },
      { utimeout: 60000 },
      "OACK changes utimeout from 50000 to 60000",
    ],
    ["rollover changed", { rollover: 1 }, { rollover: 0 }, "OACK changes rollover from 1 to 0"],
    [
      "RFC 2347: an option never requested",
      { blksize: 1024 },
      { windowsize: 4 },
      'OACK holds option "windowsize", never requested',
    ],
  ];
  for (const [name, requested, granted, message] of refusals) {
    test(`${name}: the client sends ERROR 8 and fails`, () => {
      const client = reader(requested);
      transmits(client);
      client.handleDatagram(5, oack(granted), SERVER_TID);
      assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: error(8, message) }]);
      const list = events(client);
      assert.equal(list.length, 1);
      assert.equal(list[0].type, "failed");
      assert.ok(list[0].type === "failed");
      assert.equal(list[0].reason, "option-negotiation");
      assert.equal(list[0].code, 8);
      assert.equal(list[0].message, message);
      assert.equal(client.isDrained(), true);
    });
  }

  test("RFC 2347: an OACK with an unknown option is refused with ERROR 8", () => {
    const client = reader({ blksize: 1024 });
    transmits(client);
    client.handleDatagram(
      5,
      wire({ type: "oack", options: {}, unknownOptions: [{ name: "multicast", value: "1" }] }),
      SERVER_TID,
    );
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: error(8, 'OACK holds option "multicast", never requested'),
    }]);
  });

  test("RFC 2348/7440: an OACK may lower blksize and windowsize; timeout equal is fine", () => {
    const client = reader({ blksize: 1468, windowsize: 16, timeout: 2, rollover: 1 });
    transmits(client);
    client.handleDatagram(
      5,
      oack({ blksize: 512, windowsize: 4, timeout: 2, rollover: 1 }),
      SERVER_TID,
    );
    const [negotiated] = events(client);
    assert.ok(negotiated.type === "negotiated");
    assert.deepEqual(
      [
        negotiated.parameters.blksize,
        negotiated.parameters.windowsize,
        negotiated.parameters.timeoutMs,
        negotiated.parameters.rollover,
      ],
      [512, 4, 2000, 1],
    );
    assert.equal(client.pollTimeout(), 2005, "the negotiated timeout drives retransmission");
  });

  for (const rollover of [0, 1] as const) {
    test(`past block 65535 the wire number wraps to ${rollover}, and the ACKs follow it`, () => {
      // 65536 blocks of 8 bytes and a short last one, lossless, a window of 64 blocks at a time.
      const last = 65537;
      const wireNumber = (n: number) =>
        n <= 65535 ? n : rollover === 0 ? n % 65536 : ((n - 1) % 65535) + 1;
      const client = reader({ blksize: 8, windowsize: 64, ...(rollover ? { rollover } : {}) });
      transmits(client);
      client.handleDatagram(
        1,
        oack({ blksize: 8, windowsize: 64, ...(rollover ? { rollover } : {}) }),
        SERVER_TID,
      );
      transmits(client);
      const block = pattern(8);
      const acks: number[] = [];
      let bytes = 0;
      for (let n = 1; n <= last; n++) {
        client.handleDatagram(
          2,
          data(wireNumber(n), n === last ? block.subarray(0, 3) : block),
          SERVER_TID,
        );
        for (const sent of transmits(client)) acks.push((sent.bytes[2] << 8) | sent.bytes[3]);
        for (const event of events(client)) if (event.type === "data") bytes += event.data.length;
      }
      assert.equal(bytes, 65536 * 8 + 3);
      assert.deepEqual(acks.slice(-3), [65472, wireNumber(65536), wireNumber(last)]);
      assert.equal(client.stats.blocks, last);
      assert.equal(client.isFinished(), true);
    });
  }

  test("an ERROR from the server ends the transfer with its code; nothing is sent back", () => {
    const client = reader();
    transmits(client);
    client.handleDatagram(5, error(1, "File not found"), SERVER_TID);
    assert.deepEqual(transmits(client), []);
    assert.deepEqual(events(client), [{
      type: "failed",
      reason: "peer-error",
      code: 1,
      message: "File not found",
      stats: {
        bytes: 0,
        blocks: 0,
        retransmits: 0,
        timeouts: 0,
        duplicates: 0,
        startedAt: 0,
        endedAt: 5,
      },
    }]);
    assert.equal(client.isDrained(), true);
  });

  test("RFC 1350 section 4: a datagram from another TID gets ERROR 5 and the transfer goes on", () => {
    const client = reader();
    transmits(client);
    client.handleDatagram(5, data(1, pattern(512)), SERVER_TID);
    transmits(client);
    events(client);
    const stranger = { address: "127.0.0.1", port: 50002 };
    client.handleDatagram(6, data(2, pattern(10)), stranger);
    assert.deepEqual(transmits(client), [{ to: stranger, bytes: error(5, "Unknown transfer ID") }]);
    assert.deepEqual(events(client), []);
    client.handleDatagram(7, data(2, pattern(10)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(2) }]);
  });

  test("the first reply must come from the server's address; another host gets ERROR 5", () => {
    const client = reader();
    transmits(client);
    const elsewhere = { address: "127.0.0.2", port: 50001 };
    client.handleDatagram(5, data(1, pattern(512)), elsewhere);
    assert.deepEqual(transmits(client), [{
      to: elsewhere,
      bytes: error(5, "Unknown transfer ID"),
    }]);
    assert.deepEqual(client.peer, SERVER, "nothing latched");
    client.handleDatagram(6, data(1, pattern(512)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(1) }]);
  });

  test("retransmission: the RRQ is repeated with backoff, then the transfer fails cleanly", () => {
    const client = reader();
    const rrq = transmits(client)[0].bytes;
    const times: number[] = [];
    for (let i = 0; i < 10 && !client.isDrained(); i++) {
      const at = client.pollTimeout()!;
      times.push(at);
      client.handleTimeout(at - 1);
      assert.deepEqual(transmits(client), [], "nothing fires early");
      client.handleTimeout(at);
      const sent = transmits(client);
      if (!client.isDrained()) assert.deepEqual(sent, [{ to: SERVER, bytes: rrq }]);
      else {assert.deepEqual(sent, [{
          to: SERVER,
          bytes: error(0, "No reply from the server after 4 tries"),
        }]);}
    }
    assert.deepEqual(times, [1000, 3000, 7000, 11000], "1 s, doubled, capped at 4 s, 3 retries");
    const [failed] = events(client);
    assert.ok(failed.type === "failed");
    assert.equal(failed.reason, "timeout");
    assert.equal(failed.stats.retransmits, 3);
    assert.equal(failed.stats.timeouts, 4);
  });

  test("the receiver re-sends its last ACK when DATA stops coming", () => {
    const client = reader();
    transmits(client);
    client.handleDatagram(100, data(1, pattern(512)), SERVER_TID);
    transmits(client);
    assert.equal(client.pollTimeout(), 1100);
    client.handleTimeout(1100);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(1) }]);
    assert.equal(client.pollTimeout(), 3100, "backoff: 2 s");
    client.handleDatagram(2000, data(2, pattern(512)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(2) }]);
    assert.equal(client.pollTimeout(), 3000, "progress resets the timeout to 1 s");
  });

  test("a repeated DATA (our ACK was lost) is ACKed again; older ones are ignored", () => {
    const client = reader();
    transmits(client);
    client.handleDatagram(1, data(1, pattern(512)), SERVER_TID);
    client.handleDatagram(2, data(2, pattern(512)), SERVER_TID);
    transmits(client);
    client.handleDatagram(3, data(2, pattern(512)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(2) }]);
    client.handleDatagram(4, data(1, pattern(512)), SERVER_TID);
    assert.deepEqual(transmits(client), []);
    assert.equal(client.stats.duplicates, 2);
  });

  test("RFC 7440: the receiver ACKs once per window, and once on a gap", () => {
    const client = reader({ windowsize: 4, blksize: 8 });
    transmits(client);
    client.handleDatagram(1, oack({ windowsize: 4, blksize: 8 }), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(0) }]);
    for (let block = 1; block <= 4; block++) {
      client.handleDatagram(2, data(block, pattern(8, block)), SERVER_TID);
    }
    assert.deepEqual(
      transmits(client),
      [{ to: SERVER_TID, bytes: ack(4) }],
      "one ACK for the window",
    );
    client.handleDatagram(3, data(5, pattern(8, 5)), SERVER_TID);
    client.handleDatagram(3, data(7, pattern(8, 7)), SERVER_TID); // 6 was lost
    client.handleDatagram(3, data(8, pattern(8, 8)), SERVER_TID);
    assert.deepEqual(
      transmits(client),
      [{ to: SERVER_TID, bytes: ack(5) }],
      "the gap is ACKed once",
    );
    for (let block = 6; block <= 9; block++) {
      client.handleDatagram(4, data(block, pattern(8, block)), SERVER_TID);
    }
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(9) }]);
    client.handleDatagram(5, data(10, new Uint8Array(3)), SERVER_TID);
    assert.deepEqual(
      transmits(client),
      [{ to: SERVER_TID, bytes: ack(10) }],
      "the short block is ACKed at once",
    );
    const delivered = events(client).filter((e) => e.type === "data").map((e) =>
      e.type === "data" ? e.data : new Uint8Array()
    );
    assert.equal(delivered.reduce((n, d) => n + d.length, 0), 9 * 8 + 3);
  });

  test("RFC 7440 section 4: a window that stops part-way is ACKed after the stall time", () => {
    const client = reader({ windowsize: 4, blksize: 8 }, {
      retransmit: { timeoutMs: 1000, retries: 3, windowStallMs: 5 },
    });
    transmits(client);
    client.handleDatagram(1, oack({ windowsize: 4, blksize: 8 }), SERVER_TID);
    transmits(client);
    client.handleDatagram(10, data(1, pattern(8, 1)), SERVER_TID);
    client.handleDatagram(11, data(2, pattern(8, 2)), SERVER_TID);
    // Blocks 3 and 4 were dropped (a full socket buffer drops the tail of a burst).
    assert.deepEqual(transmits(client), []);
    assert.equal(client.pollTimeout(), 16, "the stall deadline comes before the timeout");
    client.handleTimeout(15.9);
    assert.deepEqual(transmits(client), [], "nothing before the deadline");
    client.handleTimeout(16);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(2) }]);
    assert.equal(client.pollTimeout(), 1016, "then only the full timeout is pending");
    assert.equal(client.stats.timeouts, 0);
    // The sender starts again at 3; the window counts from the block ACKed.
    for (let block = 3; block <= 6; block++) {
      client.handleDatagram(20, data(block, pattern(8, block)), SERVER_TID);
    }
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(6) }]);
  });

  test("the stall time adapts to the gap between blocks of a window", () => {
    const client = reader({ windowsize: 8, blksize: 8 });
    transmits(client);
    client.handleDatagram(1, oack({ windowsize: 8, blksize: 8 }), SERVER_TID);
    transmits(client);
    client.handleDatagram(100, data(1, pattern(8, 1)), SERVER_TID);
    assert.equal(client.pollTimeout(), 120, "no gap measured yet: 20 ms");
    client.handleDatagram(100.5, data(2, pattern(8, 2)), SERVER_TID);
    assert.equal(client.pollTimeout(), 104.5, "8 gaps of 0.5 ms");
    const fast = reader({ windowsize: 8, blksize: 8 });
    transmits(fast);
    fast.handleDatagram(1, oack({ windowsize: 8, blksize: 8 }), SERVER_TID);
    fast.handleDatagram(200, data(1, pattern(8, 1)), SERVER_TID);
    fast.handleDatagram(200.125, data(2, pattern(8, 2)), SERVER_TID);
    fast.handleDatagram(200.25, data(3, pattern(8, 3)), SERVER_TID);
    assert.equal(fast.pollTimeout(), 202.25, "8 gaps of 0.125 ms is under the 2 ms floor");
    fast.handleDatagram(230, data(4, pattern(8, 4)), SERVER_TID);
    // A long pause raises the smoothed gap (7/8 old, 1/8 new): (0.125 * 7 + 29.75) / 8.
    assert.equal(fast.pollTimeout(), 230 + 8 * ((0.125 * 7 + 29.75) / 8));
    const slow = reader({ windowsize: 8, blksize: 8 }, {
      retransmit: { timeoutMs: 10, retries: 3 },
    });
    transmits(slow);
    slow.handleDatagram(1, oack({ windowsize: 8, blksize: 8 }), SERVER_TID);
    slow.handleDatagram(100, data(1, pattern(8, 1)), SERVER_TID);
    assert.equal(slow.pollTimeout(), 110, "never past the timeout");
    assert.throws(
      () => reader({ windowsize: 2 }, { retransmit: { windowStallMs: 0 } }),
      /windowStallMs must be a positive number/,
    );
  });

  test("in a window, copies of blocks after the last ACK get no answer; its own block does", () => {
    const client = reader({ windowsize: 4, blksize: 8 }, {
      retransmit: { timeoutMs: 1000, retries: 3, windowStallMs: 5 },
    });
    transmits(client);
    client.handleDatagram(1, oack({ windowsize: 4, blksize: 8 }), SERVER_TID);
    transmits(client);
    for (let block = 1; block <= 4; block++) {
      client.handleDatagram(2, data(block, pattern(8, block)), SERVER_TID);
    }
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(4) }]);
    client.handleDatagram(3, data(5, pattern(8, 5)), SERVER_TID);
    client.handleTimeout(8); // stalled: ACK 5
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(5) }]);
    // The sender had gone on before it heard ACK 5: block 6 arrives, then its restarted window
    // repeats 6. Answering that copy would make the sender start over once more, and again.
    client.handleDatagram(9, data(6, pattern(8, 6)), SERVER_TID);
    client.handleDatagram(9, data(6, pattern(8, 6)), SERVER_TID);
    assert.deepEqual(transmits(client), [], "a copy of a block after the last ACK");
    // A copy of block 5 means the sender missed ACK 5: tell it everything we have.
    client.handleDatagram(9, data(5, pattern(8, 5)), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(6) }]);
    for (let block = 7; block <= 10; block++) {
      client.handleDatagram(10, data(block, pattern(8, block)), SERVER_TID);
    }
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(10) }]);
    assert.equal(client.stats.duplicates, 2);
  });

  test("netascii: CR LF and CR NUL are converted, also across blocks", () => {
    const client = reader({ blksize: 8 }, { mode: "netascii" });
    transmits(client);
    client.handleDatagram(1, oack({ blksize: 8 }), SERVER_TID);
    client.handleDatagram(2, data(1, new TextEncoder().encode("line1\r\nx")), SERVER_TID);
    client.handleDatagram(3, data(2, new TextEncoder().encode("\r")), SERVER_TID);
    const text = events(client).filter((e) => e.type === "data").map((e) =>
      e.type === "data" ? new TextDecoder().decode(e.data) : ""
    ).join("");
    assert.equal(text, "line1\nx\r", "a CR ending the file is kept");
  });

  test("maxSize: more bytes than allowed get ERROR 3", () => {
    const client = reader({}, { maxSize: 600 });
    transmits(client);
    client.handleDatagram(1, data(1, pattern(512)), SERVER_TID);
    client.handleDatagram(2, data(2, pattern(512)), SERVER_TID);
    const sent = transmits(client);
    assert.deepEqual(sent.at(-1), {
      to: SERVER_TID,
      bytes: error(3, "File exceeds the 600 bytes allowed"),
    });
    assert.equal(final(events(client))?.type, "failed");
  });

  test("a malformed or unexpected packet gets ERROR 4 and ends the transfer", () => {
    const client = reader();
    transmits(client);
    client.handleDatagram(1, new Uint8Array([0, 4, 0]), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: error(4, "Malformed packet: Datagram ends before the block number (ACK, byte 3)"),
    }]);
    const other = reader();
    transmits(other);
    other.handleDatagram(1, ack(1), SERVER_TID);
    assert.deepEqual(transmits(other), [{
      to: SERVER_TID,
      bytes: error(4, "Unexpected ACK packet"),
    }]);
    const [failed] = events(other).filter((e) => e.type === "failed");
    assert.ok(failed.type === "failed" && failed.reason === "protocol-error" && failed.code === 4);
  });

  test("a DATA larger than the block size is a protocol error", () => {
    const client = reader();
    transmits(client);
    client.handleDatagram(1, data(1, pattern(513)), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: error(4, "DATA block of 513 bytes exceeds blksize 512"),
    }]);
  });

  test("abort sends ERROR and ends with reason aborted", () => {
    const client = reader();
    transmits(client);
    client.handleDatagram(1, data(1, pattern(512)), SERVER_TID);
    transmits(client);
    events(client);
    client.abort(2, 0, "Cancelled by user");
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: error(0, "Cancelled by user") }]);
    const [failed] = events(client);
    assert.ok(failed.type === "failed" && failed.reason === "aborted");
    client.abort(3);
    assert.deepEqual(transmits(client), [], "a second abort does nothing");
  });

  test("mail mode and bad options are refused when the machine is made", () => {
    assert.throws(
      () => new TftpClientTransfer({ type: "rrq", filename: "x", mode: "mail", server: SERVER }),
      { name: "TypeError", message: 'Mode "mail" is obsolete (RFC 1350) and not supported' },
    );
    assert.throws(
      () =>
        new TftpClientTransfer({
          type: "rrq",
          filename: "x",
          server: SERVER,
          options: { blksize: 4 },
        }),
      RangeError,
    );
    assert.throws(
      () =>
        new TftpClientTransfer({
          type: "wrq",
          filename: "x",
          server: SERVER,
          options: { tsize: true },
        }),
      TypeError,
    );
    assert.throws(
      () =>
        new TftpClientTransfer({
          type: "rrq",
          filename: "x",
          server: SERVER,
          options: { tsize: 5 },
        }),
      TypeError,
    );
    assert.throws(
      () =>
        new TftpClientTransfer({
          type: "rrq",
          filename: "x",
          server: SERVER,
          retransmit: { timeoutMs: 0 },
        }),
      RangeError,
    );
    assert.throws(
      () =>
        new TftpClientTransfer({
          type: "rrq",
          filename: "x",
          server: SERVER,
          retransmit: { backoff: 0.5 },
        }),
      RangeError,
    );
    assert.throws(
      () =>
        new TftpClientTransfer({
          type: "rrq",
          filename: "x",
          server: SERVER,
          retransmit: { retries: -1 },
        }),
      RangeError,
    );
  });

  test("API misuse throws", () => {
    const client = new TftpClientTransfer({ type: "rrq", filename: "x", server: SERVER });
    assert.throws(() => client.handleDatagram(0, ack(0), SERVER_TID), TypeError);
    client.start(0);
    assert.throws(() => client.start(0), TypeError);
    assert.throws(() => client.write(0, new Uint8Array(1)), TypeError, "a reader takes no data");
  });
});

describe("TFTP client: write (WRQ)", () => {
  test("RFC 1350: WRQ, ACK 0, then DATA/ACK lock-step until a short block", () => {
    const client = writer();
    assert.deepEqual(transmits(client), [
      { to: SERVER, bytes: wire({ type: "wrq", filename: "foobar", mode: "octet", options: {} }) },
    ]);
    assert.deepEqual(events(client), [{ type: "data-wanted" }], "asks for data ahead of time");
    const file = pattern(600);
    client.write(1, file);
    client.end(1);
    assert.deepEqual(transmits(client), [], "nothing is sent before ACK 0");
    client.handleDatagram(2, ack(0), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: data(1, file.subarray(0, 512)),
    }]);
    client.handleDatagram(3, ack(1), SERVER_TID);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: data(2, file.subarray(512)) }]);
    client.handleDatagram(4, ack(2), SERVER_TID);
    const list = events(client).filter((event) => event.type !== "data-wanted");
    assert.equal(list[0].type, "negotiated");
    assert.equal(list.at(-1)?.type, "complete");
    assert.equal(client.isDrained(), true, "the sender does not dally");
  });

  test("RFC 2347: an OACK to a WRQ is answered with DATA 1; tsize is sent as given", () => {
    const client = writer({ blksize: 8, tsize: 10 });
    assert.deepEqual(
      transmits(client)[0].bytes,
      wire({
        type: "wrq",
        filename: "foobar",
        mode: "octet",
        options: { blksize: 8, tsize: 10 },
      }),
    );
    client.write(0, pattern(10));
    client.end(0);
    client.handleDatagram(1, oack({ blksize: 8, tsize: 10 }), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: data(1, pattern(10).subarray(0, 8)),
    }]);
  });

  test("RFC 2349: an OACK that changes tsize on a write is refused", () => {
    const client = writer({ tsize: 10 });
    transmits(client);
    client.handleDatagram(1, oack({ tsize: 11 }), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: error(8, "OACK changes tsize from 10 to 11"),
    }]);
  });

  test("a file that fills its last block exactly ends with an empty DATA", () => {
    const client = writer();
    transmits(client);
    client.write(0, pattern(512));
    client.end(0);
    client.handleDatagram(1, ack(0), SERVER_TID);
    client.handleDatagram(2, ack(1), SERVER_TID);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [
      data(1, pattern(512)),
      data(2, new Uint8Array(0)),
    ]);
  });

  test("an empty file is one empty DATA", () => {
    const client = writer();
    transmits(client);
    client.end(0);
    client.handleDatagram(1, ack(0), SERVER_TID);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [data(1, new Uint8Array(0))]);
    client.handleDatagram(2, ack(1), SERVER_TID);
    assert.equal(final(events(client))?.type, "complete");
  });

  test("RFC 1123 4.2.3.1: a duplicate ACK is not answered (no Sorcerer's Apprentice)", () => {
    const client = writer();
    transmits(client);
    client.write(0, pattern(2000));
    client.handleDatagram(1, ack(0), SERVER_TID);
    client.handleDatagram(2, ack(1), SERVER_TID);
    assert.equal(transmits(client).length, 2);
    client.handleDatagram(3, ack(1), SERVER_TID);
    assert.deepEqual(transmits(client), []);
    assert.equal(client.stats.duplicates, 1);
  });

  test("allowSorcerersApprentice: a duplicate ACK sends the window again", () => {
    const client = writer({}, { allowSorcerersApprentice: true });
    transmits(client);
    client.write(0, pattern(2000));
    client.handleDatagram(1, ack(0), SERVER_TID);
    client.handleDatagram(2, ack(1), SERVER_TID);
    transmits(client);
    client.handleDatagram(3, ack(1), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: data(2, pattern(2000).subarray(512, 1024)),
    }]);
  });

  test("RFC 7440: a window of blocks goes out at once; an ACK inside it restarts the window", () => {
    const client = writer({ windowsize: 4, blksize: 8 });
    transmits(client);
    const file = pattern(100);
    client.write(0, file);
    client.end(0);
    client.handleDatagram(1, oack({ windowsize: 4, blksize: 8 }), SERVER_TID);
    const block = (n: number) => data(n, file.subarray((n - 1) * 8, n * 8));
    assert.deepEqual(transmits(client).map((t) => t.bytes), [
      block(1),
      block(2),
      block(3),
      block(4),
    ]);
    client.handleDatagram(2, ack(2), SERVER_TID);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [
      block(3),
      block(4),
      block(5),
      block(6),
    ]);
    client.handleDatagram(3, ack(2), SERVER_TID);
    assert.deepEqual(transmits(client), [], "the duplicate ACK is ignored");
    client.handleDatagram(4, ack(6), SERVER_TID);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [
      block(7),
      block(8),
      block(9),
      block(10),
    ]);
    assert.equal(client.pollTimeout(), 1004);
    client.handleTimeout(1004);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [
      block(7),
      block(8),
      block(9),
      block(10),
    ], "a timeout repeats the window");
    client.handleDatagram(2005, ack(10), SERVER_TID);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [block(11), block(12), block(13)]);
    client.handleDatagram(2006, ack(13), SERVER_TID);
    assert.equal(final(events(client))?.type, "complete");
    assert.equal(client.stats.bytes, 100);
  });

  test("an ACK for a block never sent is ignored", () => {
    const client = writer();
    transmits(client);
    client.write(0, pattern(2000));
    client.handleDatagram(1, ack(0), SERVER_TID);
    transmits(client);
    client.handleDatagram(2, ack(7), SERVER_TID);
    assert.deepEqual(transmits(client), []);
  });

  test("data-wanted comes again only after write, and never for more than a window ahead", () => {
    const client = writer({ windowsize: 2, blksize: 8 }, { readAhead: 0 });
    transmits(client);
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    client.write(0, pattern(4));
    assert.deepEqual(events(client), [{ type: "data-wanted" }], "4 bytes do not fill a window");
    client.write(0, pattern(20));
    assert.deepEqual(events(client), [], "24 bytes fill a window of 2 x 8");
    client.handleDatagram(1, oack({ windowsize: 2, blksize: 8 }), SERVER_TID);
    assert.equal(transmits(client).length, 2);
    assert.deepEqual(events(client).map((e) => e.type), ["negotiated", "data-wanted"]);
    client.end(2);
    assert.throws(() => client.end(2), TypeError, "end twice");
    assert.throws(() => client.write(2, pattern(1)), TypeError, "write after end");
  });

  test("netascii: LF becomes CR LF on the wire", () => {
    const client = writer({}, { mode: "netascii" });
    transmits(client);
    client.write(0, new TextEncoder().encode("a\nb\r"));
    client.end(0);
    client.handleDatagram(1, ack(0), SERVER_TID);
    assert.deepEqual(
      transmits(client)[0].bytes,
      data(1, new Uint8Array([0x61, 13, 10, 0x62, 13, 0])),
    );
  });

  test("a repeated OACK while sending is ignored", () => {
    const client = writer({ blksize: 8 });
    transmits(client);
    client.write(0, pattern(100));
    client.handleDatagram(1, oack({ blksize: 8 }), SERVER_TID);
    transmits(client);
    client.handleDatagram(2, oack({ blksize: 8 }), SERVER_TID);
    assert.deepEqual(transmits(client), []);
    client.handleDatagram(2, data(1, pattern(8)), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER_TID,
      bytes: error(4, "Unexpected DATA packet"),
    }]);
  });
});

describe("TFTP client: read-ahead", () => {
  test("by default 128 KiB are kept ready beyond the window", () => {
    const client = writer({ blksize: 512 });
    transmits(client);
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    client.write(0, pattern(131071));
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    client.write(0, pattern(1));
    assert.deepEqual(events(client), []);
  });
});

describe("TFTP client: RFC 2347 retry and confirmed end", () => {
  test("RFC 2347: ERROR 8 to a request with options: ask once more without them", () => {
    const client = new TftpClientTransfer({
      type: "rrq",
      filename: "notes.txt",
      mode: "netascii",
      server: SERVER,
      options: { tsize: true },
    });
    client.start(0);
    transmits(client);
    client.handleDatagram(1, error(8, "Unsupported option(s) requested"), SERVER_TID);
    assert.deepEqual(transmits(client), [{
      to: SERVER,
      bytes: wire({ type: "rrq", filename: "notes.txt", mode: "netascii", options: {} }),
    }]);
    assert.deepEqual(events(client), []);
    const second = { address: SERVER.address, port: 50007 };
    client.handleDatagram(2, data(1, pattern(5)), second);
    assert.deepEqual(transmits(client), [{ to: second, bytes: ack(1) }], "the new TID is latched");
    // Only once: a second ERROR 8 ends it.
    const again = new TftpClientTransfer({
      type: "rrq",
      filename: "x",
      server: SERVER,
      options: { blksize: 1024 },
    });
    again.start(0);
    transmits(again);
    again.handleDatagram(1, error(8, "no"), SERVER_TID);
    again.handleDatagram(2, error(8, "no"), SERVER_TID);
    assert.equal(events(again).at(-1)?.type, "failed");
  });

  test("confirmEnd holds the final ACK until the file is stored", () => {
    const client = new TftpClientTransfer({
      type: "rrq",
      filename: "f",
      server: SERVER,
      confirmEnd: true,
    });
    client.start(0);
    transmits(client);
    client.handleDatagram(1, data(1, pattern(10)), SERVER_TID);
    assert.deepEqual(transmits(client), []);
    assert.deepEqual(events(client).map((e) => e.type), ["negotiated", "data", "end-of-data"]);
    assert.equal(client.pollTimeout(), undefined);
    client.handleDatagram(2, data(1, pattern(10)), SERVER_TID);
    assert.deepEqual(transmits(client), [], "a repeated last DATA waits too");
    client.confirmEnd(3);
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: ack(1) }]);
    assert.equal(events(client)[0].type, "complete");
    assert.throws(() => client.confirmEnd(4), TypeError);
  });

  test("confirmEnd after an abort while the file was being stored does nothing", () => {
    const client = new TftpClientTransfer({
      type: "rrq",
      filename: "f",
      server: SERVER,
      confirmEnd: true,
    });
    client.start(0);
    transmits(client);
    client.handleDatagram(1, data(1, pattern(10)), SERVER_TID);
    events(client);
    client.abort(2, 3, "Disk full");
    assert.deepEqual(transmits(client), [{ to: SERVER_TID, bytes: error(3, "Disk full") }]);
    client.confirmEnd(3);
    assert.deepEqual(transmits(client), [], "no final ACK after the abort");
    assert.deepEqual(events(client).map((e) => e.type), ["failed"]);
    assert.ok(client.isDrained());
  });
});
