/**
 * TFTP options (RFC 2347): the known ones with their ranges, and how they are read and written.
 *
 * @module
 */

/**
 * The options ftkit understands, with their values as numbers.
 *
 * - `blksize` (RFC 2348): data bytes per block, 8-65464.
 * - `timeout` (RFC 2349): retransmission timeout in seconds, 1-255.
 * - `tsize` (RFC 2349): transfer size in bytes, 0 to 2^53-1 (0 in a read request asks for it).
 * - `windowsize` (RFC 7440): blocks sent before an ACK is awaited, 1-65535.
 * - `utimeout`: retransmission timeout in microseconds, 10000-255000000 (tftp-hpa's extension).
 * - `rollover`: the block number that follows 65535, 0 or 1 (a common extension).
 */
export interface TftpOptions {
  /** Data bytes per block (RFC 2348), 8-65464. */
  blksize?: number;
  /** Retransmission timeout in seconds (RFC 2349), 1-255. */
  timeout?: number;
  /** Transfer size in bytes (RFC 2349), 0 to 2^53-1. */
  tsize?: number;
  /** Blocks per window (RFC 7440), 1-65535. */
  windowsize?: number;
  /** Retransmission timeout in microseconds, 10000-255000000. */
  utimeout?: number;
  /** The block number after 65535: 0 or 1. */
  rollover?: 0 | 1;
}

/** An option ftkit does not know, kept as sent so a server can ignore it. */
export interface TftpUnknownOption {
  /** The option name as sent (compare it case-insensitively). */
  readonly name: string;
  /** The value as sent. */
  readonly value: string;
}

/** The name of an option ftkit knows. */
export type TftpOptionName = keyof TftpOptions;

/**
 * The inclusive range of values each known option accepts.
 *
 * @example
 * ```ts
 * import { TftpOptionRange } from "@ftkit/ftkit/codec";
 *
 * TftpOptionRange.blksize; // { min: 8, max: 65464 }
 * ```
 */
export const TftpOptionRange: {
  readonly [Name in TftpOptionName]: { readonly min: number; readonly max: number };
} = {
  blksize: { min: 8, max: 65464 },
  timeout: { min: 1, max: 255 },
  tsize: { min: 0, max: Number.MAX_SAFE_INTEGER },
  windowsize: { min: 1, max: 65535 },
  utimeout: { min: 10000, max: 255000000 },
  rollover: { min: 0, max: 1 },
};

/** The known option names, in the order ftkit writes them into a request or OACK. */
export const TFTP_OPTION_NAMES: readonly TftpOptionName[] = [
  "blksize",
  "tsize",
  "timeout",
  "utimeout",
  "windowsize",
  "rollover",
];

/**
 * Whether `name`, already lower-cased, is the name of an option ftkit knows.
 *
 * @param name An option name in lower case.
 * @returns `true` for blksize, timeout, tsize, windowsize, utimeout and rollover.
 *
 * @example
 * ```ts
 * import { isTftpOptionName } from "@ftkit/ftkit/codec";
 *
 * isTftpOptionName("windowsize"); // true
 * isTftpOptionName("multicast"); // false
 * ```
 */
export function isTftpOptionName(name: string): name is TftpOptionName {
  return Object.hasOwn(TftpOptionRange, name);
}

/**
 * Reads a known option's value: a decimal number with digits only, within the option's range.
 *
 * @param name The option.
 * @param text The value as sent.
 * @returns The number, or `undefined` when the text is not a valid value for `name`.
 *
 * @example
 * ```ts
 * import { parseTftpOptionValue } from "@ftkit/ftkit/codec";
 *
 * parseTftpOptionValue("blksize", "1468"); // 1468
 * parseTftpOptionValue("blksize", "4"); // undefined: below RFC 2348's 8
 * ```
 */
export function parseTftpOptionValue(name: TftpOptionName, text: string): number | undefined {
  // 2^53-1 has 16 digits; allow leading zeros but bound the work.
  if (text.length === 0 || text.length > 32) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  const range = TftpOptionRange[name];
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) return undefined;
  return value;
}

/**
 * Throws unless `value` is a valid value for option `name`.
 *
 * @param name The option.
 * @param value The value to check.
 * @throws {RangeError} When `value` is not an integer in the option's range.
 *
 * @example
 * ```ts
 * import { checkTftpOptionValue } from "@ftkit/ftkit/codec";
 *
 * checkTftpOptionValue("windowsize", 16); // fine
 * ```
 */
export function checkTftpOptionValue(name: TftpOptionName, value: number): void {
  const range = TftpOptionRange[name];
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new RangeError(
      `Option "${name}" must be an integer from ${range.min} to ${range.max}, got ${value}`,
    );
  }
}
