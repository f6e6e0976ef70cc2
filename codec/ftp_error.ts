/** What was wrong with FTP input that could not be decoded. */
export type FtpCodecErrorKind =
  /** A line is longer than the cap. */
  | "line-too-long"
  /** A multi-line reply has more lines than the cap. */
  | "reply-too-long"
  /** A command's verb is empty or not letters. */
  | "invalid-verb"
  /** CR, LF or NUL inside a command argument or a reply line. */
  | "forbidden-character"
  /** A reply line does not start with a three-digit code. */
  | "malformed-reply"
  /** A PORT, EPRT, PASV or EPSV address is not well-formed. */
  | "malformed-address"
  /** MLSD/MLST facts are not well-formed (RFC 3659 section 7). */
  | "malformed-facts"
  /** A time value is not YYYYMMDDHHMMSS[.sss] (RFC 3659 section 2.3). */
  | "malformed-time"
  /** A number (SIZE, REST) is not a decimal integer in range. */
  | "malformed-number"
  /** A 257 reply holds no quoted path (RFC 959 appendix II). */
  | "malformed-path"
  /** A LIST line is in no known format. */
  | "malformed-listing";

/**
 * The error every FTP codec throws for bad input: what was wrong, and where in the text.
 *
 * @example
 * ```ts
 * import { decodeFtpCommand, FtpCodecError } from "@ftkit/ftkit/codec";
 *
 * try {
 *   decodeFtpCommand("RETR a\nDELE b");
 * } catch (error) {
 *   if (error instanceof FtpCodecError) console.log(error.kind, error.offset); // "forbidden-character" 6
 * }
 * ```
 */
export class FtpCodecError extends Error {
  /** What was wrong. */
  readonly kind: FtpCodecErrorKind;
  /** Offset (characters of the text, or bytes of a stream) where the problem was found. */
  readonly offset: number;

  /**
   * Makes the error; codecs call this, users normally only catch it.
   *
   * @param kind What was wrong.
   * @param offset Where.
   * @param detail A sentence saying what was found.
   */
  constructor(kind: FtpCodecErrorKind, offset: number, detail: string) {
    super(`${detail} (at ${offset})`);
    this.name = "FtpCodecError";
    this.kind = kind;
    this.offset = offset;
  }
}
