// io/digest.ts under the runtime running the tests: its CRC-32 table against the check value and
// zlib, and each digest fed in pieces against the same bytes hashed at once.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { crc32Table, createDigest, type DigestAlgorithm } from "../../io/digest.ts";
import { pattern } from "../tftp/_script.ts";

const encoder = new TextEncoder();

describe("io/digest", () => {
  test("CRC-32: the check value of 123456789, the empty string, and zlib's on any bytes", () => {
    // The CRC-32 catalogue's check value (the IEEE 802.3 polynomial, reflected).
    assert.equal(crc32Table(encoder.encode("123456789")), 0xcbf43926);
    assert.equal(crc32Table(new Uint8Array(0)), 0);
    const bytes = pattern(100_003, 11);
    const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
    const whole = crc32Table(bytes);
    if (typeof native === "function") assert.equal(whole, native(bytes));
    // Continued from a value: the same as at once.
    assert.equal(crc32Table(bytes.subarray(5000), crc32Table(bytes.subarray(0, 5000))), whole);
  });

  test("each algorithm, fed in pieces, gives the digest of the whole, in lower-case hex", () => {
    const bytes = pattern(300_001, 3);
    const names: Record<Exclude<DigestAlgorithm, "crc32">, number> = {
      sha256: 64,
      sha1: 40,
      md5: 32,
    };
    for (const [algorithm, length] of Object.entries(names)) {
      const digest = createDigest(algorithm as DigestAlgorithm);
      for (let at = 0; at < bytes.length; at += 65536) {
        digest.update(bytes.subarray(at, at + 65536));
      }
      const hex = digest.hex();
      assert.equal(hex, createHash(algorithm).update(bytes).digest("hex"), algorithm);
      assert.match(hex, new RegExp(`^[0-9a-f]{${length}}$`));
    }
    const crc = createDigest("crc32");
    crc.update(bytes.subarray(0, 7));
    crc.update(bytes.subarray(7));
    assert.equal(crc.hex(), crc32Table(bytes).toString(16).padStart(8, "0"));
    // Eight digits always: a CRC with leading zero nibbles keeps them.
    const small = createDigest("crc32");
    assert.equal(small.hex(), "00000000");
  });
});
