/**
 * TFTP error codes: RFC 1350 section 5 (0-7) and RFC 2347 (8).
 *
 * @example
 * ```ts
 * import { TftpErrorCode, tftpErrorMeaning } from "@ftkit/ftkit/codec";
 *
 * console.log(tftpErrorMeaning(TftpErrorCode.FileNotFound)); // "File not found"
 * ```
 *
 * @module
 */

/** The error codes of an ERROR packet, by name. */
export const TftpErrorCode = {
  /** 0: not defined, see the error message (RFC 1350). */
  NotDefined: 0,
  /** 1: file not found (RFC 1350). */
  FileNotFound: 1,
  /** 2: access violation (RFC 1350). */
  AccessViolation: 2,
  /** 3: disk full or allocation exceeded (RFC 1350). */
  DiskFull: 3,
  /** 4: illegal TFTP operation (RFC 1350). */
  IllegalOperation: 4,
  /** 5: unknown transfer ID (RFC 1350). */
  UnknownTransferId: 5,
  /** 6: file already exists (RFC 1350). */
  FileAlreadyExists: 6,
  /** 7: no such user (RFC 1350). */
  NoSuchUser: 7,
  /** 8: the transfer ends because option negotiation failed (RFC 2347). */
  OptionNegotiation: 8,
} as const;

/** One of the error codes defined by RFC 1350 and RFC 2347. */
export type TftpErrorCode = typeof TftpErrorCode[keyof typeof TftpErrorCode];

const meanings: readonly string[] = [
  "Not defined",
  "File not found",
  "Access violation",
  "Disk full or allocation exceeded",
  "Illegal TFTP operation",
  "Unknown transfer ID",
  "File already exists",
  "No such user",
  "Option negotiation failed",
];

/**
 * The meaning of a TFTP error code as the RFCs word it.
 *
 * @param code An error code from an ERROR packet (any 16-bit value).
 * @returns The RFC meaning for 0-8, or `"Unknown error code N"` for any other value.
 *
 * @example
 * ```ts
 * import { tftpErrorMeaning } from "@ftkit/ftkit/codec";
 *
 * tftpErrorMeaning(2); // "Access violation"
 * tftpErrorMeaning(42); // "Unknown error code 42"
 * ```
 */
export function tftpErrorMeaning(code: number): string {
  return meanings[code] ?? `Unknown error code ${code}`;
}
