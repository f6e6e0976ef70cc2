import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeTftpPacket,
  encodeTftpPacket,
  encodeTftpPacketInto,
  TftpDecodeError,
  type TftpDecodeErrorKind,
  tftpEncodingLength,
  TftpErrorCode,
  type TftpPacket,
} from "../../codec/mod.ts";
import { bytes, u16 } from "../_bytes.ts";

/** Vectors written from the RFC figures: the packet and its exact bytes on the wire. */
const vectors: { name: string; packet: TftpPacket; wire: Uint8Array }[] = [
  {
    name: "RFC 1350 section 5: RRQ, filename and mode",
    packet: { type: "rrq", filename: "foobar", mode: "octet", options: {} },
    wire: bytes(...u16(1), "foobar", 0, "octet", 0),
  },
  {
    name: "RFC 1350 section 5: WRQ in netascii",
    packet: { type: "wrq", filename: "motd", mode: "netascii", options: {} },
    wire: bytes(...u16(2), "motd", 0, "netascii", 0),
  },
  {
    name: "RFC 1350 section 5: DATA block 1",
    packet: { type: "data", block: 1, data: bytes("hello") },
    wire: bytes(...u16(3), ...u16(1), "hello"),
  },
  {
    name: "RFC 1350 section 6: a DATA of 0 bytes ends a transfer",
    packet: { type: "data", block: 65535, data: new Uint8Array(0) },
    wire: bytes(...u16(3), 0xff, 0xff),
  },
  {
    name: "RFC 1350 section 5: ACK",
    packet: { type: "ack", block: 513 },
    wire: bytes(...u16(4), ...u16(513)),
  },
  {
    name: "RFC 1350 section 5: ERROR",
    packet: { type: "error", code: TftpErrorCode.FileNotFound, message: "File not found" },
    wire: bytes(...u16(5), ...u16(1), "File not found", 0),
  },
  {
    name: "RFC 1350 section 5: ERROR with an empty message",
    packet: { type: "error", code: 0, message: "" },
    wire: bytes(...u16(5), ...u16(0), 0),
  },
  {
    name: "RFC 2348: RRQ with blksize 1428",
    packet: { type: "rrq", filename: "foobar", mode: "octet", options: { blksize: 1428 } },
    wire: bytes(...u16(1), "foobar", 0, "octet", 0, "blksize", 0, "1428", 0),
  },
  {
    name: "RFC 2348: OACK of blksize 1428",
    packet: { type: "oack", options: { blksize: 1428 } },
    wire: bytes(...u16(6), "blksize", 0, "1428", 0),
  },
  {
    name: "RFC 2349: RRQ with timeout 1",
    packet: { type: "rrq", filename: "foobar", mode: "octet", options: { timeout: 1 } },
    wire: bytes(...u16(1), "foobar", 0, "octet", 0, "timeout", 0, "1", 0),
  },
  {
    name: "RFC 2349: WRQ with tsize 673312",
    packet: { type: "wrq", filename: "foobar", mode: "octet", options: { tsize: 673312 } },
    wire: bytes(...u16(2), "foobar", 0, "octet", 0, "tsize", 0, "673312", 0),
  },
  {
    name: "RFC 7440 section 3: RRQ with windowsize 16",
    packet: { type: "rrq", filename: "foobar", mode: "octet", options: { windowsize: 16 } },
    wire: bytes(...u16(1), "foobar", 0, "octet", 0, "windowsize", 0, "16", 0),
  },
  {
    name: "RRQ with every known option, in ftkit's order",
    packet: {
      type: "rrq",
      filename: "pxelinux.0",
      mode: "octet",
      options: {
        blksize: 1468,
        tsize: 0,
        timeout: 3,
        utimeout: 500000,
        windowsize: 8,
        rollover: 1,
      },
    },
    wire: bytes(
      ...u16(1),
      "pxelinux.0",
      0,
      "octet",
      0,
      ...["blksize", 0, "1468", 0, "tsize", 0, "0", 0, "timeout", 0, "3", 0],
      ...["utimeout", 0, "500000", 0, "windowsize", 0, "8", 0, "rollover", 0, "1", 0],
    ),
  },
  {
    name: "RFC 2347: unknown options are kept after the known ones",
    packet: {
      type: "rrq",
      filename: "a",
      mode: "octet",
      options: { blksize: 512 },
      unknownOptions: [{ name: "multicast", value: "" }],
    },
    wire: bytes(...u16(1), "a", 0, "octet", 0, "blksize", 0, "512", 0, "multicast", 0, 0),
  },
  {
    name: "OACK with tsize above 2^32, not truncated",
    packet: { type: "oack", options: { tsize: 2 ** 40 } },
    wire: bytes(...u16(6), "tsize", 0, String(2 ** 40), 0),
  },
];

describe("TFTP packet vectors", () => {
  for (const { name, packet, wire } of vectors) {
    test(`encodes ${name}`, () => {
      assert.deepEqual(encodeTftpPacket(packet), wire);
      assert.equal(tftpEncodingLength(packet), wire.length);
    });
    test(`decodes ${name}`, () => {
      assert.deepEqual(decodeTftpPacket(wire), packet);
    });
  }
});

describe("TFTP decoding", () => {
  test("RFC 1350: the mode is case-insensitive", () => {
    const packet = decodeTftpPacket(bytes(...u16(1), "f", 0, "NetASCII", 0));
    assert.equal(packet.type === "rrq" && packet.mode, "netascii");
  });

  test("RFC 2347: option names are case-insensitive", () => {
    const packet = decodeTftpPacket(
      bytes(...u16(1), "f", 0, "octet", 0, "BlkSize", 0, "1024", 0, "TSIZE", 0, "0", 0),
    );
    assert.deepEqual(packet, {
      type: "rrq",
      filename: "f",
      mode: "octet",
      options: { blksize: 1024, tsize: 0 },
    });
  });

  test("unknown option names keep the case they were sent in", () => {
    const packet = decodeTftpPacket(bytes(...u16(6), "X-Vendor", 0, "On", 0));
    assert.deepEqual(packet, {
      type: "oack",
      options: {},
      unknownOptions: [{ name: "X-Vendor", value: "On" }],
    });
  });

  test("an OACK with no options decodes; the client decides what it means", () => {
    assert.deepEqual(decodeTftpPacket(bytes(...u16(6))), { type: "oack", options: {} });
  });

  test("a DATA payload is a view into the datagram, not a copy", () => {
    const wire = bytes(...u16(3), ...u16(9), "payload");
    const packet = decodeTftpPacket(wire);
    assert.ok(packet.type === "data");
    assert.equal(packet.data.buffer, wire.buffer);
    assert.equal(packet.data.byteOffset, wire.byteOffset + 4);
    wire[4] = 0x50;
    assert.equal(packet.data[0], 0x50);
  });

  test("a DATA of the largest blksize, 65464 bytes, decodes", () => {
    const wire = new Uint8Array(4 + 65464);
    wire.set([0, 3, 0, 1]);
    const packet = decodeTftpPacket(wire);
    assert.equal(packet.type === "data" && packet.data.length, 65464);
  });

  test("filenames are UTF-8", () => {
    const packet = decodeTftpPacket(bytes(...u16(1), "прошивка.bin", 0, "octet", 0));
    assert.equal(packet.type === "rrq" && packet.filename, "прошивка.bin");
  });

  test("the longest request RFC 2347 allows, 512 bytes, decodes", () => {
    const name = "n".repeat(512 - 2 - 1 - "octet".length - 1);
    const wire = bytes(...u16(1), name, 0, "octet", 0);
    assert.equal(wire.length, 512);
    assert.equal(decodeTftpPacket(wire).type, "rrq");
  });

  test("maxRequestLength lets a server accept a longer request", () => {
    const wire = bytes(...u16(2), "n".repeat(600), 0, "octet", 0);
    assert.equal(decodeTftpPacket(wire, { maxRequestLength: 1024 }).type, "wrq");
  });

  test("tsize accepts 2^53-1", () => {
    const packet = decodeTftpPacket(bytes(...u16(6), "tsize", 0, "9007199254740991", 0));
    assert.deepEqual(packet, { type: "oack", options: { tsize: Number.MAX_SAFE_INTEGER } });
  });

  test("numeric values may have leading zeros", () => {
    const packet = decodeTftpPacket(bytes(...u16(6), "blksize", 0, "01428", 0));
    assert.deepEqual(packet, { type: "oack", options: { blksize: 1428 } });
  });

  test("error codes outside 0-8 are carried as they are", () => {
    assert.deepEqual(decodeTftpPacket(bytes(...u16(5), ...u16(4242), "vendor", 0)), {
      type: "error",
      code: 4242,
      message: "vendor",
    });
  });

  test("an error message that is not UTF-8 is decoded with replacement characters", () => {
    const packet = decodeTftpPacket(bytes(...u16(5), ...u16(0), 0xff, 0x41, 0));
    assert.equal(packet.type === "error" && packet.message, "\ufffdA");
  });
});

/** Each malformed datagram, the error kind it must raise, and the byte offset reported. */
const malformed: {
  name: string;
  wire: Uint8Array;
  kind: TftpDecodeErrorKind;
  offset: number;
  errorCode: number;
}[] = [
  { name: "empty datagram", wire: bytes(), kind: "truncated", offset: 0, errorCode: 4 },
  { name: "one byte", wire: bytes(0), kind: "truncated", offset: 1, errorCode: 4 },
  { name: "opcode 0", wire: bytes(0, 0, 0, 0), kind: "unknown-opcode", offset: 0, errorCode: 4 },
  {
    name: "opcode 7",
    wire: bytes(...u16(7), 0, 0),
    kind: "unknown-opcode",
    offset: 0,
    errorCode: 4,
  },
  { name: "opcode 256", wire: bytes(1, 0, 0, 0), kind: "unknown-opcode", offset: 0, errorCode: 4 },
  {
    name: "RRQ without a NUL after the filename",
    wire: bytes(...u16(1), "foobar"),
    kind: "missing-nul",
    offset: 8,
    errorCode: 4,
  },
  {
    name: "RRQ with no mode",
    wire: bytes(...u16(1), "foobar", 0),
    kind: "missing-nul",
    offset: 9,
    errorCode: 4,
  },
  {
    name: "RRQ without a NUL after the mode",
    wire: bytes(...u16(1), "foobar", 0, "octet"),
    kind: "missing-nul",
    offset: 14,
    errorCode: 4,
  },
  {
    name: "RRQ with an empty filename",
    wire: bytes(...u16(1), 0, "octet", 0),
    kind: "empty-filename",
    offset: 2,
    errorCode: 4,
  },
  {
    name: "WRQ with mode binary",
    wire: bytes(...u16(2), "f", 0, "binary", 0),
    kind: "unknown-mode",
    offset: 4,
    errorCode: 4,
  },
  {
    name: "RRQ with an empty mode",
    wire: bytes(...u16(1), "f", 0, 0),
    kind: "unknown-mode",
    offset: 4,
    errorCode: 4,
  },
  {
    name: "RRQ filename that is not UTF-8",
    wire: bytes(...u16(1), 0xc3, 0x28, 0, "octet", 0),
    kind: "invalid-utf8",
    offset: 2,
    errorCode: 4,
  },
  {
    name: "RRQ with an option that has no value",
    wire: bytes(...u16(1), "f", 0, "octet", 0, "blksize", 0),
    kind: "malformed-option",
    offset: 18,
    errorCode: 8,
  },
  {
    name: "RRQ with an option value without NUL",
    wire: bytes(...u16(1), "f", 0, "octet", 0, "blksize", 0, "512"),
    kind: "missing-nul",
    offset: 21,
    errorCode: 4,
  },
  {
    name: "RRQ with an option name without NUL",
    wire: bytes(...u16(1), "f", 0, "octet", 0, "blk"),
    kind: "missing-nul",
    offset: 13,
    errorCode: 4,
  },
  {
    name: "RRQ with an empty option name",
    wire: bytes(...u16(1), "f", 0, "octet", 0, 0, "1", 0),
    kind: "malformed-option",
    offset: 10,
    errorCode: 8,
  },
  {
    name: "RFC 2347: an option given twice, in different case",
    wire: bytes(...u16(1), "f", 0, "octet", 0, "blksize", 0, "512", 0, "BLKSIZE", 0, "1024", 0),
    kind: "duplicate-option",
    offset: 22,
    errorCode: 8,
  },
  {
    name: "an unknown option given twice",
    wire: bytes(...u16(6), "x", 0, "1", 0, "X", 0, "2", 0),
    kind: "duplicate-option",
    offset: 6,
    errorCode: 8,
  },
  {
    name: "RFC 2348: blksize 7",
    wire: bytes(...u16(1), "f", 0, "octet", 0, "blksize", 0, "7", 0),
    kind: "invalid-option-value",
    offset: 18,
    errorCode: 8,
  },
  {
    name: "RFC 2348: blksize 65465",
    wire: bytes(...u16(6), "blksize", 0, "65465", 0),
    kind: "invalid-option-value",
    offset: 10,
    errorCode: 8,
  },
  {
    name: "a non-numeric blksize",
    wire: bytes(...u16(6), "blksize", 0, "1k", 0),
    kind: "invalid-option-value",
    offset: 10,
    errorCode: 8,
  },
  {
    name: "a signed blksize",
    wire: bytes(...u16(6), "blksize", 0, "+512", 0),
    kind: "invalid-option-value",
    offset: 10,
    errorCode: 8,
  },
  {
    name: "an empty tsize",
    wire: bytes(...u16(6), "tsize", 0, 0),
    kind: "invalid-option-value",
    offset: 8,
    errorCode: 8,
  },
  {
    name: "tsize of 2^53",
    wire: bytes(...u16(6), "tsize", 0, "9007199254740992", 0),
    kind: "invalid-option-value",
    offset: 8,
    errorCode: 8,
  },
  {
    name: "RFC 2349: timeout 0",
    wire: bytes(...u16(6), "timeout", 0, "0", 0),
    kind: "invalid-option-value",
    offset: 10,
    errorCode: 8,
  },
  {
    name: "RFC 2349: timeout 256",
    wire: bytes(...u16(6), "timeout", 0, "256", 0),
    kind: "invalid-option-value",
    offset: 10,
    errorCode: 8,
  },
  {
    name: "RFC 7440: windowsize 0",
    wire: bytes(...u16(6), "windowsize", 0, "0", 0),
    kind: "invalid-option-value",
    offset: 13,
    errorCode: 8,
  },
  {
    name: "RFC 7440: windowsize 65536",
    wire: bytes(...u16(6), "windowsize", 0, "65536", 0),
    kind: "invalid-option-value",
    offset: 13,
    errorCode: 8,
  },
  {
    name: "utimeout below 10 ms",
    wire: bytes(...u16(6), "utimeout", 0, "9999", 0),
    kind: "invalid-option-value",
    offset: 11,
    errorCode: 8,
  },
  {
    name: "rollover 2",
    wire: bytes(...u16(6), "rollover", 0, "2", 0),
    kind: "invalid-option-value",
    offset: 11,
    errorCode: 8,
  },
  {
    name: "RFC 2347: a request of 513 bytes",
    wire: bytes(...u16(1), "n".repeat(513 - 2 - 1 - 6), 0, "octet", 0),
    kind: "request-too-long",
    offset: 512,
    errorCode: 4,
  },
  {
    name: "DATA without a block number",
    wire: bytes(...u16(3), 0),
    kind: "truncated",
    offset: 3,
    errorCode: 4,
  },
  {
    name: "RFC 2348: DATA of 65465 bytes",
    wire: new Uint8Array([0, 3, 0, 1, ...new Uint8Array(65465)]),
    kind: "data-too-long",
    offset: 65468,
    errorCode: 4,
  },
  { name: "ACK of 3 bytes", wire: bytes(...u16(4), 0), kind: "truncated", offset: 3, errorCode: 4 },
  {
    name: "bytes after an ACK",
    wire: bytes(...u16(4), ...u16(1), 0),
    kind: "trailing-bytes",
    offset: 4,
    errorCode: 4,
  },
  {
    name: "ERROR without an error code",
    wire: bytes(...u16(5), 0),
    kind: "truncated",
    offset: 3,
    errorCode: 4,
  },
  {
    name: "ERROR without a NUL after the message",
    wire: bytes(...u16(5), ...u16(1), "nope"),
    kind: "missing-nul",
    offset: 8,
    errorCode: 4,
  },
  {
    name: "ERROR with no message and no NUL",
    wire: bytes(...u16(5), ...u16(1)),
    kind: "missing-nul",
    offset: 4,
    errorCode: 4,
  },
  {
    name: "bytes after an ERROR message",
    wire: bytes(...u16(5), ...u16(1), "x", 0, "y"),
    kind: "trailing-bytes",
    offset: 6,
    errorCode: 4,
  },
];

describe("TFTP decoding refuses malformed datagrams", () => {
  for (const { name, wire, kind, offset, errorCode } of malformed) {
    test(name, () => {
      assert.throws(
        () => decodeTftpPacket(wire),
        (error: unknown) => {
          assert.ok(error instanceof TftpDecodeError, `not a TftpDecodeError: ${error}`);
          assert.equal(error.kind, kind);
          assert.equal(error.offset, offset);
          assert.equal(error.errorCode, errorCode);
          assert.equal(error.name, "TftpDecodeError");
          assert.match(error.message, /\(.*, byte \d+\)$/);
          return true;
        },
      );
    });
  }

  test("the message names the packet, the field and the byte", () => {
    assert.throws(
      () => decodeTftpPacket(bytes(...u16(1), "foobar", 0, "octet")),
      { message: "Mode has no NUL terminator (RRQ, byte 14)" },
    );
    assert.throws(
      () => decodeTftpPacket(bytes(...u16(6), "blksize", 0, "4", 0)),
      { message: 'Option "blksize" has value "4", not a number from 8 to 65464 (OACK, byte 10)' },
    );
  });

  test("an error made for another opcode names it", () => {
    const error = new TftpDecodeError("truncated", 3, 9, "Too short");
    assert.equal(error.message, "Too short (opcode 9, byte 3)");
  });

  test("the error carries the opcode", () => {
    try {
      decodeTftpPacket(bytes(...u16(4), 1));
      assert.fail("decoded a 3-byte ACK");
    } catch (error) {
      assert.ok(error instanceof TftpDecodeError);
      assert.equal(error.opcode, 4);
    }
  });
});

describe("TFTP encoding", () => {
  test("encodes into a caller's buffer at an offset", () => {
    const buf = new Uint8Array(32).fill(0xee);
    const written = encodeTftpPacketInto({ type: "error", code: 2, message: "no" }, buf, 5);
    assert.equal(written, 7);
    assert.deepEqual(buf.subarray(0, 5), new Uint8Array(5).fill(0xee));
    assert.deepEqual(buf.subarray(5, 12), bytes(...u16(5), ...u16(2), "no", 0));
    assert.equal(buf[12], 0xee);
  });

  test("a DATA payload already in place after the header is not copied", () => {
    const buf = new Uint8Array(4 + 3);
    const payload = buf.subarray(4);
    payload.set([7, 8, 9]);
    assert.equal(encodeTftpPacketInto({ type: "data", block: 2, data: payload }, buf), 7);
    assert.deepEqual(buf, bytes(...u16(3), ...u16(2), 7, 8, 9));
  });

  test("a packet that does not fit is refused", () => {
    assert.throws(
      () => encodeTftpPacketInto({ type: "ack", block: 1 }, new Uint8Array(5), 2),
      RangeError,
    );
  });

  test("a request longer than 512 bytes is refused", () => {
    assert.throws(
      () =>
        encodeTftpPacket({ type: "rrq", filename: "n".repeat(510), mode: "octet", options: {} }),
      RangeError,
    );
  });

  const invalid: [string, TftpPacket, typeof TypeError | typeof RangeError][] = [
    ["an empty filename", { type: "rrq", filename: "", mode: "octet", options: {} }, TypeError],
    [
      "a filename with NUL",
      { type: "rrq", filename: "a\0b", mode: "octet", options: {} },
      TypeError,
    ],
    [
      "a filename with a lone surrogate",
      { type: "wrq", filename: "a\ud800", mode: "octet", options: {} },
      TypeError,
    ],
    [
      "an unknown mode",
      { type: "rrq", filename: "a", mode: "binary" as "octet", options: {} },
      TypeError,
    ],
    ["a block of 65536", { type: "ack", block: 65536 }, RangeError],
    ["a negative block", { type: "data", block: -1, data: new Uint8Array() }, RangeError],
    ["a fractional block", { type: "ack", block: 1.5 }, RangeError],
    ["a payload of 65465", { type: "data", block: 1, data: new Uint8Array(65465) }, RangeError],
    ["an error code of 65536", { type: "error", code: 65536, message: "" }, RangeError],
    ["a message with NUL", { type: "error", code: 0, message: "a\0" }, TypeError],
    ["blksize 7", { type: "oack", options: { blksize: 7 } }, RangeError],
    ["tsize above 2^53-1", { type: "oack", options: { tsize: 2 ** 53 } }, RangeError],
    ["timeout 0", { type: "oack", options: { timeout: 0 } }, RangeError],
    ["windowsize 1.5", { type: "oack", options: { windowsize: 1.5 } }, RangeError],
    ["rollover 2", { type: "oack", options: { rollover: 2 as 1 } }, RangeError],
    [
      "a known option among the unknown ones",
      { type: "oack", options: {}, unknownOptions: [{ name: "BlkSize", value: "512" }] },
      TypeError,
    ],
    [
      "an unknown option twice",
      {
        type: "oack",
        options: {},
        unknownOptions: [{ name: "x", value: "1" }, { name: "X", value: "2" }],
      },
      TypeError,
    ],
    [
      "an empty option name",
      { type: "oack", options: {}, unknownOptions: [{ name: "", value: "1" }] },
      TypeError,
    ],
    ["an unknown packet type", { type: "nope" } as unknown as TftpPacket, TypeError],
    [
      "a payload that is not a Uint8Array",
      { type: "data", block: 1, data: [1, 2] as unknown as Uint8Array },
      TypeError,
    ],
    [
      "a filename that is not a string",
      { type: "rrq", filename: 42 as unknown as string, mode: "octet", options: {} },
      TypeError,
    ],
  ];
  for (const [name, packet, errorType] of invalid) {
    test(`refuses ${name}`, () => {
      assert.throws(() => encodeTftpPacket(packet), errorType);
    });
  }
});
