/**
 * The sender's lent payloads: file bytes read straight into DATA packets (`lendPayloads`,
 * `filled`), with written chunks, short reads and the end of the file in between.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TftpClientTransfer } from "../../tftp/mod.ts";
import { events, pattern, SERVER, SERVER_TID, transmits, wire } from "./_script.ts";

const ack = (block: number) => wire({ type: "ack", block });
const data = (block: number, bytes: Uint8Array) => wire({ type: "data", block, data: bytes });
const oack = (options: Record<string, number>) => wire({ type: "oack", options });

function writer(options: { blksize?: number; windowsize?: number }, mode = "octet" as const) {
  const client = new TftpClientTransfer({
    type: "wrq",
    filename: "foobar",
    server: SERVER,
    mode,
    options,
    retransmit: { timeoutMs: 1000, backoff: 1, retries: 3 },
    readAhead: 0,
  });
  client.start(0);
  transmits(client);
  return client;
}

/** Copies `file[from..]` into `payloads` in order; the bytes copied. */
function fill(payloads: Uint8Array[], file: Uint8Array, from: number, most = Infinity): number {
  let at = from;
  for (const payload of payloads) {
    const take = Math.min(payload.length, file.length - at, most - (at - from));
    if (take <= 0) break;
    payload.set(file.subarray(at, at + take));
    at += take;
  }
  return at - from;
}

describe("TFTP sender: lent payloads", () => {
  test("nothing is lent before the block size is settled, nor in netascii mode", () => {
    const client = writer({ blksize: 8, windowsize: 2 });
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    assert.equal(client.lendPayloads(), undefined, "the OACK may lower blksize");
    const ascii = writer({ blksize: 8 }, "netascii" as "octet");
    ascii.handleDatagram(1, oack({ blksize: 8 }), SERVER_TID);
    assert.ok(events(ascii).some((event) => event.type === "data-wanted"));
    assert.equal(ascii.lendPayloads(), undefined, "netascii changes the length of the bytes");
  });

  test("bytes read into lent payloads go out as DATA without a copy, in order after written ones", () => {
    const file = pattern(30);
    const client = writer({ blksize: 8, windowsize: 2 });
    client.write(0, file.subarray(0, 4));
    assert.deepEqual(events(client), [{ type: "data-wanted" }, { type: "data-wanted" }]);
    client.handleDatagram(1, oack({ blksize: 8, windowsize: 2 }), SERVER_TID);
    assert.deepEqual(transmits(client), [], "4 bytes are not a block");
    assert.deepEqual(events(client).map((event) => event.type), ["negotiated"], "still asked");
    const payloads = client.lendPayloads()!;
    assert.ok(payloads !== undefined);
    assert.equal(client.lendPayloads(), payloads, "asked again, the same payloads");
    // A window (2 x 8) and the 4 waiting bytes: 3 payloads, the first after the 4 bytes.
    assert.deepEqual(payloads.map((payload) => payload.length), [4, 8, 8]);
    assert.equal(fill(payloads, file, 4), 20);
    client.filled(2, 20);
    const sent = transmits(client);
    assert.deepEqual(sent.map((t) => t.bytes), [
      data(1, file.subarray(0, 8)),
      data(2, file.subarray(8, 16)),
    ]);
    assert.equal(sent[0].bytes.buffer, payloads[0].buffer, "DATA 1 is the lent buffer");
    assert.equal(sent[1].bytes.buffer, payloads[1].buffer, "DATA 2 is the lent buffer");
    assert.equal(sent[1].bytes.byteOffset + 4, payloads[1].byteOffset);
    client.handleDatagram(3, ack(2), SERVER_TID);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [data(3, file.subarray(16, 24))]);
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    const more = client.lendPayloads()!;
    assert.equal(fill(more, file, 24), 6);
    client.filled(4, 6);
    assert.deepEqual(transmits(client), [], "a short read is no final block: the file may go on");
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    const last = client.lendPayloads()!;
    assert.equal(last[0].length, 2, "the 6 waiting bytes are carried into the next payload");
    client.filled(5, 0);
    assert.deepEqual(
      transmits(client).map((t) => t.bytes),
      [data(4, file.subarray(24, 30))],
      "the end makes the waiting bytes the final block, inside the window",
    );
    client.handleDatagram(6, ack(4), SERVER_TID);
    assert.equal(events(client).at(-1)?.type, "complete");
  });

  test("a file of whole blocks ends with an empty DATA", () => {
    const file = pattern(16);
    const client = writer({ blksize: 8 });
    client.handleDatagram(1, oack({ blksize: 8 }), SERVER_TID);
    events(client);
    const payloads = client.lendPayloads()!;
    assert.equal(payloads.length, 1, "a window of one block");
    client.filled(2, fill(payloads, file, 0));
    assert.deepEqual(transmits(client).map((t) => t.bytes), [data(1, file.subarray(0, 8))]);
    client.handleDatagram(3, ack(1), SERVER_TID);
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    client.filled(3, fill(client.lendPayloads()!, file, 8));
    assert.deepEqual(transmits(client).map((t) => t.bytes), [data(2, file.subarray(8, 16))]);
    assert.deepEqual(events(client), [{ type: "data-wanted" }]);
    client.lendPayloads();
    client.filled(4, 0);
    client.handleDatagram(5, ack(2), SERVER_TID);
    assert.deepEqual(transmits(client).map((t) => t.bytes), [data(3, new Uint8Array(0))]);
    client.handleDatagram(6, ack(3), SERVER_TID);
    assert.equal(events(client).at(-1)?.type, "complete");
  });

  test("writing instead of filling drops the lent payloads and keeps every byte", () => {
    const file = pattern(20);
    const client = writer({ blksize: 8 });
    client.write(0, file.subarray(0, 3));
    client.handleDatagram(1, oack({ blksize: 8 }), SERVER_TID);
    events(client);
    assert.ok(client.lendPayloads());
    client.write(2, file.subarray(3));
    client.end(2);
    assert.throws(() => client.filled(3, 1), TypeError, "filled after end");
    const sent = [];
    for (let block = 1; block <= 3; block++) {
      sent.push(...transmits(client).map((t) => t.bytes));
      client.handleDatagram(3 + block, ack(block), SERVER_TID);
    }
    assert.deepEqual(sent, [
      data(1, file.subarray(0, 8)),
      data(2, file.subarray(8, 16)),
      data(3, file.subarray(16)),
    ]);
  });

  test("filled is checked: nothing lent, or more bytes than lent", () => {
    const client = writer({ blksize: 8 });
    client.handleDatagram(1, oack({ blksize: 8 }), SERVER_TID);
    events(client);
    assert.throws(() => client.filled(2, 1), TypeError);
    const payloads = client.lendPayloads()!;
    const capacity = payloads.reduce((sum, payload) => sum + payload.length, 0);
    assert.throws(() => client.filled(2, capacity + 1), RangeError);
    assert.throws(() => client.filled(2, 1.5), RangeError);
  });

  test("a reader takes no payloads", () => {
    const client = new TftpClientTransfer({ type: "rrq", filename: "f", server: SERVER });
    client.start(0);
    assert.throws(() => client.lendPayloads(), TypeError);
  });
});
