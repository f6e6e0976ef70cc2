import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeTftpPacket,
  encodeTftpPacket,
  encodeTftpPacketInto,
  isTftpOptionName,
  TftpDecodeError,
  tftpEncodingLength,
  TftpOptionRange,
  type TftpOptions,
  type TftpPacket,
} from "../../codec/mod.ts";

// Strings of any Unicode code point but NUL: what a NUL-terminated field can hold.
const fieldString = (minLength: number, maxLength: number) =>
  fc.string({ unit: "binary", minLength, maxLength }).filter((text) => !text.includes("\0"));

const knownOptions: fc.Arbitrary<TftpOptions> = fc.record(
  {
    blksize: fc.integer(TftpOptionRange.blksize),
    tsize: fc.integer(TftpOptionRange.tsize),
    timeout: fc.integer(TftpOptionRange.timeout),
    utimeout: fc.integer(TftpOptionRange.utimeout),
    windowsize: fc.integer(TftpOptionRange.windowsize),
    rollover: fc.constantFrom(0 as const, 1 as const),
  },
  { requiredKeys: [], noNullPrototype: true },
);

const unknownOptions = fc.uniqueArray(
  fc.record({ name: fieldString(1, 12), value: fieldString(0, 12) }, { noNullPrototype: true }),
  {
    maxLength: 4,
    selector: (option) => option.name.replace(/[A-Z]/g, (c) => c.toLowerCase()),
  },
).filter((options) =>
  options.every((option) =>
    !isTftpOptionName(option.name.replace(/[A-Z]/g, (c) => c.toLowerCase()))
  )
);

const withUnknown = <T extends object>(
  packet: T,
  unknown: { name: string; value: string }[],
): T => (unknown.length > 0 ? { ...packet, unknownOptions: unknown } : packet);

const request: fc.Arbitrary<TftpPacket> = fc.tuple(
  fc.constantFrom("rrq" as const, "wrq" as const),
  fieldString(1, 120),
  fc.constantFrom("netascii" as const, "octet" as const, "mail" as const),
  knownOptions,
  unknownOptions,
).map(([type, filename, mode, options, unknown]) =>
  withUnknown({ type, filename, mode, options }, unknown) as TftpPacket
).filter((packet) => {
  try {
    tftpEncodingLength(packet);
    return true;
  } catch {
    return false; // longer than RFC 2347's 512 bytes
  }
});

const packet: fc.Arbitrary<TftpPacket> = fc.oneof(
  request,
  fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 1500 }))
    .map(([block, data]) => ({ type: "data" as const, block, data })),
  fc.integer({ min: 0, max: 65535 }).map((block) => ({ type: "ack" as const, block })),
  fc.tuple(fc.integer({ min: 0, max: 65535 }), fieldString(0, 100))
    .map(([code, message]) => ({ type: "error" as const, code, message })),
  fc.tuple(knownOptions, unknownOptions).map(([options, unknown]) =>
    withUnknown({ type: "oack" as const, options }, unknown)
  ),
);

function decodesOrThrowsTyped(bytes: Uint8Array): void {
  try {
    decodeTftpPacket(bytes);
  } catch (error) {
    if (!(error instanceof TftpDecodeError)) throw error;
  }
}

describe("TFTP codec properties", () => {
  test("decode(encode(x)) = x for every packet kind", () => {
    fc.assert(
      fc.property(packet, (original) => {
        assert.deepEqual(decodeTftpPacket(encodeTftpPacket(original)), original);
      }),
      { numRuns: 2000 },
    );
  });

  test("encodeTftpPacketInto writes the same bytes as encodeTftpPacket at any offset", () => {
    fc.assert(
      fc.property(packet, fc.nat(64), (original, offset) => {
        const expected = encodeTftpPacket(original);
        const buf = new Uint8Array(offset + expected.length + 8);
        const written = encodeTftpPacketInto(original, buf, offset);
        assert.equal(written, expected.length);
        assert.equal(tftpEncodingLength(original), expected.length);
        assert.deepEqual(buf.subarray(offset, offset + written), expected);
      }),
    );
  });

  test("random bytes either decode or throw TftpDecodeError", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), decodesOrThrowsTyped), {
      numRuns: 5000,
    });
  });

  test("random bytes after a valid opcode either decode or throw TftpDecodeError", () => {
    // Bias towards NULs and option-like text so the request and OACK parsers are reached deeply.
    const body = fc.array(
      fc.oneof(
        fc.constant([0]),
        fc.constantFrom(
          ..."blksize tsize timeout windowsize octet netascii 0 1 512 99999999999999999"
            .split(" ").map((word) => [...new TextEncoder().encode(word)]),
        ),
        fc.uint8Array({ maxLength: 8 }).map((bytes) => [...bytes]),
      ),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), body, (opcode, parts) => {
        decodesOrThrowsTyped(new Uint8Array([0, opcode, ...parts.flat()]));
      }),
      { numRuns: 5000 },
    );
  });

  test("any single byte changed in a valid packet decodes or throws TftpDecodeError", () => {
    fc.assert(
      fc.property(packet, fc.nat(), fc.integer({ min: 0, max: 255 }), (original, at, value) => {
        const bytes = encodeTftpPacket(original);
        bytes[at % bytes.length] = value;
        decodesOrThrowsTyped(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});
