import { TftpErrorCode } from "./tftp_error_code.ts";

/** What was wrong with a datagram that could not be decoded as a TFTP packet. */
export type TftpDecodeErrorKind =
  /** The datagram ends before a fixed-size field does. */
  | "truncated"
  /** The opcode is not 1-6. */
  | "unknown-opcode"
  /** A string field has no NUL terminator. */
  | "missing-nul"
  /** A request names an empty file. */
  | "empty-filename"
  /** A request's mode is not netascii, octet or mail. */
  | "unknown-mode"
  /** A string field is not valid UTF-8. */
  | "invalid-utf8"
  /** A DATA payload is longer than 65464 bytes (RFC 2348's largest block). */
  | "data-too-long"
  /** Bytes follow the end of an ACK or ERROR packet. */
  | "trailing-bytes"
  /** An option name is empty, or an option has no value. */
  | "malformed-option"
  /** An option appears twice (RFC 2347: "an option may only be specified once"). */
  | "duplicate-option"
  /** A known option's value is not a decimal number in its RFC's range. */
  | "invalid-option-value"
  /** A request is longer than the 512 bytes RFC 2347 allows. */
  | "request-too-long";

/**
 * The error every TFTP decoder throws for bad input: it says what was wrong and at which byte.
 *
 * @example
 * ```ts
 * import { decodeTftpPacket, TftpDecodeError } from "@ftkit/ftkit/codec";
 *
 * try {
 *   decodeTftpPacket(new Uint8Array([0, 4, 0]));
 * } catch (error) {
 *   if (error instanceof TftpDecodeError) console.log(error.kind, error.offset); // "truncated" 3
 * }
 * ```
 */
export class TftpDecodeError extends Error {
  /** What was wrong. */
  readonly kind: TftpDecodeErrorKind;
  /** Byte offset in the datagram where the problem was found. */
  readonly offset: number;
  /** The packet's opcode, when the datagram had one. */
  readonly opcode: number | undefined;

  /**
   * Makes the error; decoders call this, users normally only catch it.
   *
   * @param kind What was wrong.
   * @param offset Byte offset of the problem.
   * @param opcode The datagram's opcode, if it had one.
   * @param detail A sentence saying what was found.
   */
  constructor(
    kind: TftpDecodeErrorKind,
    offset: number,
    opcode: number | undefined,
    detail: string,
  ) {
    super(`${detail} (${opcodeName(opcode)}, byte ${offset})`);
    this.name = "TftpDecodeError";
    this.kind = kind;
    this.offset = offset;
    this.opcode = opcode;
  }

  /**
   * The error code a peer should answer with: 8 when the options were at fault (RFC 2347),
   * 4 (illegal TFTP operation) otherwise.
   */
  get errorCode(): TftpErrorCode {
    return this.kind === "duplicate-option" || this.kind === "invalid-option-value" ||
        this.kind === "malformed-option"
      ? TftpErrorCode.OptionNegotiation
      : TftpErrorCode.IllegalOperation;
  }
}

const opcodeNames: readonly string[] = ["", "RRQ", "WRQ", "DATA", "ACK", "ERROR", "OACK"];

function opcodeName(opcode: number | undefined): string {
  if (opcode === undefined) return "no opcode";
  return opcodeNames[opcode] || `opcode ${opcode}`;
}
