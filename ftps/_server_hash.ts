/**
 * The FTPS server's hashing of files for HASH and the X commands: the machine's `hash` storage
 * request carried out over `FtpStorage.read`, bounded in bytes (the length the machine allows)
 * and in how many run at once across the whole server (more are refused with 450, as
 * draft-bryan-ftpext-hash-02 section 3.5 says for a busy server).
 *
 * @module
 */

import { createDigest, type DigestAlgorithm } from "../io/digest.ts";
import type { FtpHashAlgorithm, FtpStorageRequest, FtpStorageResult } from "./server_session.ts";
import type { FtpStorage } from "./storage.ts";

/** The hashes running in a server, and how many may. */
export interface HashSlots {
  /** Hashes at once, across every session. */
  readonly max: number;
  /** Hashes running now. */
  running: number;
}

/** Each HASH algorithm, as io/digest.ts names it. */
export const DIGESTS: Readonly<Record<FtpHashAlgorithm, DigestAlgorithm>> = {
  "SHA-256": "sha256",
  "SHA-1": "sha1",
  MD5: "md5",
  CRC32: "crc32",
};

/**
 * Hashes the first `length` bytes of a file, as the machine asked.
 *
 * @param storage The user's storage.
 * @param request The request.
 * @param slots The server's hashes; a full house is answered 450.
 * @param stopped Whether the session ended meanwhile (the hash stops reading).
 * @returns The digest and the bytes hashed, or the refusal. The storage's errors are thrown.
 */
export async function hashFile(
  storage: FtpStorage,
  request: Extract<FtpStorageRequest, { op: "hash" }>,
  slots: HashSlots,
  stopped: () => boolean,
): Promise<FtpStorageResult> {
  if (slots.running >= slots.max) {
    return { ok: false, code: 450, message: "Busy hashing other files; try again later." };
  }
  slots.running++;
  try {
    const stream = await storage.read(request.path, request.offset ?? 0);
    try {
      const digest = createDigest(DIGESTS[request.algorithm]);
      let size = 0;
      while (size < request.length) {
        if (stopped()) return { ok: false, code: 451, message: "Session closed." };
        const chunk = await stream.read();
        if (chunk === null) break;
        const part = chunk.subarray(0, request.length - size);
        digest.update(part);
        size += part.length;
      }
      return { ok: true, hash: digest.hex(), size };
    } finally {
      await stream.close();
    }
  } finally {
    slots.running--;
  }
}
