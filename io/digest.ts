/**
 * Incremental digests of byte streams, for checksums a server computes over a file: SHA-256,
 * SHA-1 and MD5 from `node:crypto` (present on Deno, Bun and Node), and CRC-32 (the IEEE 802.3
 * polynomial of zip and PNG) from `node:zlib` where it has `crc32`, else from a table here.
 * Imports no protocol code.
 *
 * @module
 */

import { createHash } from "node:crypto";
import * as zlib from "node:zlib";

/** A digest algorithm, by the name `node:crypto` gives it (and `crc32`). */
export type DigestAlgorithm = "sha256" | "sha1" | "md5" | "crc32";

/** A digest being computed: feed it bytes, then take its value once. */
export interface Digest {
  /** Adds the next bytes. */
  update(bytes: Uint8Array): void;
  /** The digest of every byte given, as lower-case hex (CRC-32: 8 digits, big-endian). */
  hex(): string;
}

/** The CRC-32 table for the reflected polynomial 0xEDB88320, made on first use. */
let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * CRC-32 (ISO 3309, as zip and PNG compute it) of `bytes`, continuing from `crc` (the value of
 * the bytes before them; 0 to start), one table lookup a byte.
 *
 * @param bytes The next bytes.
 * @param crc The CRC-32 of what came before (0 at the start).
 * @returns The CRC-32 of everything so far, unsigned.
 */
export function crc32Table(bytes: Uint8Array, crc = 0): number {
  const t = crcTable();
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** `zlib.crc32` where the runtime has it (Node 20.15, Deno, Bun), else the table. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
const crc32: (bytes: Uint8Array, crc: number) => number = typeof nativeCrc32 === "function"
  ? (bytes, crc) => nativeCrc32(bytes, crc)
  : crc32Table;

/**
 * Starts a digest.
 *
 * @param algorithm Which.
 * @returns The digest, empty.
 */
export function createDigest(algorithm: DigestAlgorithm): Digest {
  if (algorithm === "crc32") {
    let crc = 0;
    return {
      update: (bytes) => void (crc = crc32(bytes, crc)),
      hex: () => crc.toString(16).padStart(8, "0"),
    };
  }
  const hash = createHash(algorithm);
  return {
    update: (bytes) => void hash.update(bytes),
    hex: () => hash.digest("hex"),
  };
}
