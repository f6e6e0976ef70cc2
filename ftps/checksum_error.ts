/**
 * The FTPS client's errors for checksums and kept times: a server that offers no way to do what
 * was asked ({@linkcode FtpUnsupportedError}), and a transfer whose checksum on the server differs
 * from the one computed here ({@linkcode FtpChecksumError}).
 *
 * @module
 */

/** A checksum algorithm the FTPS client asks servers for (draft-bryan-ftpext-hash-02 section 3). */
export type FtpsHashAlgorithm = "SHA-256" | "SHA-1" | "MD5" | "CRC32";

/** A part of a file to hash: from `start` (default 0) up to, not including, `end` (default the
 * file's end). */
export interface FtpsHashRange {
  /** The first byte. */
  readonly start?: number;
  /** The byte after the last. */
  readonly end?: number;
}

/**
 * The server offers no way to do what was asked: hash a file with an algorithm (none of HASH,
 * XSHA256, XSHA1, XMD5 or XCRC for it), or set a file's modification time (none of MFMT,
 * `SITE UTIME`, or MDTM with a time).
 *
 * @example
 * ```ts
 * import { FtpUnsupportedError } from "@ftkit/ftkit/ftps";
 *
 * const error = new FtpUnsupportedError("hash", "The server offers no SHA-256 checksum of files");
 * console.log(error.feature, error.name); // "hash" "FtpUnsupportedError"
 * ```
 */
export class FtpUnsupportedError extends Error {
  /** What the server lacks: `"hash"` (a checksum of files) or `"set-time"` (setting a file's
   * modification time). */
  readonly feature: "hash" | "set-time";

  /**
   * Makes the error.
   *
   * @param feature What the server lacks.
   * @param message What was asked, and what the server offers.
   */
  constructor(feature: "hash" | "set-time", message: string) {
    super(message);
    this.name = "FtpUnsupportedError";
    this.feature = feature;
  }
}

/**
 * A transfer checked with `verify` came out different: the server's checksum of the file is not
 * the one of the bytes sent or received. A download that fails so is not renamed into place.
 *
 * @example
 * ```ts
 * import { FtpChecksumError } from "@ftkit/ftkit/ftps";
 *
 * const error = new FtpChecksumError("fw.bin", "CRC32", "0a1b2c3d", "deadbeef");
 * console.log(error.message);
 * // "fw.bin: the server's CRC32 is deadbeef, the bytes transferred have 0a1b2c3d"
 * ```
 */
export class FtpChecksumError extends Error {
  /** The remote file. */
  readonly path: string;
  /** The algorithm compared. */
  readonly algorithm: FtpsHashAlgorithm;
  /** The digest of the bytes sent or received, lower-case hex. */
  readonly local: string;
  /** The server's digest of the file, lower-case hex. */
  readonly remote: string;

  /**
   * Makes the error.
   *
   * @param path The remote file.
   * @param algorithm The algorithm compared.
   * @param local The digest computed here.
   * @param remote The server's digest.
   */
  constructor(path: string, algorithm: FtpsHashAlgorithm, local: string, remote: string) {
    super(`${path}: the server's ${algorithm} is ${remote}, the bytes transferred have ${local}`);
    this.name = "FtpChecksumError";
    this.path = path;
    this.algorithm = algorithm;
    this.local = local;
    this.remote = remote;
  }
}
