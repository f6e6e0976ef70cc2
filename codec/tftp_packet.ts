/**
 * TFTP packets (RFC 1350, with RFC 2347's options and OACK): types, encoders and a strict decoder.
 *
 * @module
 */

import { readUtf8Lenient, readUtf8Strict, utf8Length, writeUtf8 } from "./_utf8.ts";
import { TftpDecodeError } from "./tftp_decode_error.ts";
import {
  checkTftpOptionValue,
  isTftpOptionName,
  parseTftpOptionValue,
  TFTP_OPTION_NAMES,
  type TftpOptionName,
  TftpOptionRange,
  type TftpOptions,
  type TftpUnknownOption,
} from "./tftp_options.ts";

/** The opcodes of RFC 1350 section 5 and RFC 2347 (OACK). */
export const TftpOpcode = {
  /** Read request. */
  RRQ: 1,
  /** Write request. */
  WRQ: 2,
  /** Data block. */
  DATA: 3,
  /** Acknowledgment. */
  ACK: 4,
  /** Error. */
  ERROR: 5,
  /** Option acknowledgment (RFC 2347). */
  OACK: 6,
} as const;

/** A TFTP opcode. */
export type TftpOpcode = typeof TftpOpcode[keyof typeof TftpOpcode];

/** A transfer mode of RFC 1350, lower-cased. */
export type TftpMode = "netascii" | "octet" | "mail";

/** The block size without a blksize option (RFC 1350). */
export const TFTP_DEFAULT_BLKSIZE = 512;
/** The largest DATA payload: RFC 2348's largest blksize. */
export const TFTP_MAX_BLKSIZE = 65464;
/** The largest request packet RFC 2347 allows, in bytes. */
export const TFTP_MAX_REQUEST_LENGTH = 512;
/** Bytes before the payload of a DATA packet (opcode and block number). */
export const TFTP_DATA_HEADER_LENGTH = 4;

/** A read (RRQ) or write (WRQ) request. */
export interface TftpRequest {
  /** `"rrq"` to read a file from the server, `"wrq"` to write one to it. */
  readonly type: "rrq" | "wrq";
  /** The file name, never empty and never containing NUL. */
  readonly filename: string;
  /** The transfer mode. */
  readonly mode: TftpMode;
  /** The known options requested. */
  readonly options: TftpOptions;
  /** Options ftkit does not know, in the order sent; absent when there were none. */
  readonly unknownOptions?: readonly TftpUnknownOption[];
}

/** A DATA packet. */
export interface TftpData {
  /** Discriminant. */
  readonly type: "data";
  /** The block number, 0-65535. */
  readonly block: number;
  /** The payload, 0-65464 bytes; when decoded, a view into the datagram (not a copy). */
  readonly data: Uint8Array;
}

/** An ACK packet. */
export interface TftpAck {
  /** Discriminant. */
  readonly type: "ack";
  /** The block number acknowledged, 0-65535. */
  readonly block: number;
}

/** An ERROR packet. */
export interface TftpErrorPacket {
  /** Discriminant. */
  readonly type: "error";
  /** The error code (see `TftpErrorCode`); any 16-bit value is carried. */
  readonly code: number;
  /** The error message, never containing NUL. */
  readonly message: string;
}

/** An OACK packet (RFC 2347): the options the server accepted. */
export interface TftpOack {
  /** Discriminant. */
  readonly type: "oack";
  /** The known options acknowledged. */
  readonly options: TftpOptions;
  /** Options ftkit does not know, in the order sent; absent when there were none. */
  readonly unknownOptions?: readonly TftpUnknownOption[];
}

/** Any TFTP packet. */
export type TftpPacket = TftpRequest | TftpData | TftpAck | TftpErrorPacket | TftpOack;

/** Options for {@linkcode decodeTftpPacket}. */
export interface DecodeTftpPacketOptions {
  /**
   * The longest request (RRQ or WRQ) accepted, in bytes. RFC 2347 sets 512, the default; a server
   * may raise it for clients that send longer ones.
   */
  maxRequestLength?: number;
}

const MODES: readonly TftpMode[] = ["netascii", "octet", "mail"];

/**
 * The number of bytes `packet` takes on the wire.
 *
 * @param packet The packet.
 * @returns Its encoded length in bytes.
 * @throws {TypeError | RangeError} When a field is invalid (see {@linkcode encodeTftpPacket}).
 *
 * @example
 * ```ts
 * import { tftpEncodingLength } from "@ftkit/ftkit/codec";
 *
 * tftpEncodingLength({ type: "ack", block: 1 }); // 4
 * ```
 */
export function tftpEncodingLength(packet: TftpPacket): number {
  switch (packet.type) {
    case "rrq":
    case "wrq": {
      checkString("filename", packet.filename, false);
      if (!MODES.includes(packet.mode)) {
        throw new TypeError(`Mode must be "netascii", "octet" or "mail", got "${packet.mode}"`);
      }
      const length = 2 + utf8Length(packet.filename) + 1 + packet.mode.length + 1 +
        optionsLength(packet.options, packet.unknownOptions);
      if (length > TFTP_MAX_REQUEST_LENGTH) {
        throw new RangeError(
          `Request is ${length} bytes, more than the ${TFTP_MAX_REQUEST_LENGTH} RFC 2347 allows`,
        );
      }
      return length;
    }
    case "data":
      checkBlock(packet.block);
      if (!(packet.data instanceof Uint8Array)) {
        throw new TypeError("DATA payload must be a Uint8Array");
      }
      if (packet.data.length > TFTP_MAX_BLKSIZE) {
        throw new RangeError(
          `DATA payload is ${packet.data.length} bytes, more than the ${TFTP_MAX_BLKSIZE} allowed`,
        );
      }
      return TFTP_DATA_HEADER_LENGTH + packet.data.length;
    case "ack":
      checkBlock(packet.block);
      return 4;
    case "error":
      if (!Number.isInteger(packet.code) || packet.code < 0 || packet.code > 0xffff) {
        throw new RangeError(`Error code must be an integer from 0 to 65535, got ${packet.code}`);
      }
      checkString("error message", packet.message, true);
      return 4 + utf8Length(packet.message) + 1;
    case "oack":
      return 2 + optionsLength(packet.options, packet.unknownOptions);
    default:
      throw new TypeError(`Unknown TFTP packet type "${(packet as { type: unknown }).type}"`);
  }
}

/**
 * Encodes a packet into a new buffer of exactly its length.
 *
 * @param packet The packet to encode.
 * @returns The datagram.
 * @throws {TypeError} When a string contains NUL or is not well-formed, a filename is empty, or
 * the mode is unknown.
 * @throws {RangeError} When a number is out of range or a request is longer than 512 bytes.
 *
 * @example
 * ```ts
 * import { encodeTftpPacket } from "@ftkit/ftkit/codec";
 *
 * const rrq = encodeTftpPacket({
 *   type: "rrq",
 *   filename: "pxelinux.0",
 *   mode: "octet",
 *   options: { blksize: 1468, tsize: 0 },
 * });
 * ```
 */
export function encodeTftpPacket(packet: TftpPacket): Uint8Array {
  const buf = new Uint8Array(tftpEncodingLength(packet));
  writePacket(packet, buf, 0);
  return buf;
}

/**
 * Encodes a packet into `buf` at `offset`.
 *
 * A DATA payload that already sits in `buf` right after the 4-byte header (a sender that read the
 * file into `buf.subarray(offset + 4)`) is not copied.
 *
 * @param packet The packet to encode.
 * @param buf The buffer to write into.
 * @param offset Where to start writing.
 * @returns The number of bytes written.
 * @throws {RangeError} When the packet does not fit, or as {@linkcode encodeTftpPacket} does.
 *
 * @example
 * ```ts
 * import { encodeTftpPacketInto } from "@ftkit/ftkit/codec";
 *
 * const buf = new Uint8Array(516);
 * const length = encodeTftpPacketInto({ type: "ack", block: 7 }, buf, 0); // 4
 * ```
 */
export function encodeTftpPacketInto(packet: TftpPacket, buf: Uint8Array, offset = 0): number {
  const length = tftpEncodingLength(packet);
  if (!Number.isInteger(offset) || offset < 0 || offset + length > buf.length) {
    throw new RangeError(
      `Packet of ${length} bytes does not fit in a buffer of ${buf.length} bytes at offset ${offset}`,
    );
  }
  writePacket(packet, buf, offset);
  return length;
}

/**
 * Decodes one datagram strictly.
 *
 * DATA payloads are views into `bytes`, not copies. Option names are matched case-insensitively;
 * options ftkit does not know are kept in `unknownOptions`.
 *
 * @param bytes The datagram.
 * @param options Limits (see {@linkcode DecodeTftpPacketOptions}).
 * @returns The packet.
 * @throws {TftpDecodeError} For any datagram that is not a valid TFTP packet, and nothing else.
 *
 * @example
 * ```ts
 * import { decodeTftpPacket } from "@ftkit/ftkit/codec";
 *
 * const packet = decodeTftpPacket(new Uint8Array([0, 3, 0, 1, 104, 105]));
 * if (packet.type === "data") console.log(packet.block, packet.data.length); // 1 2
 * ```
 */
export function decodeTftpPacket(
  bytes: Uint8Array,
  options: DecodeTftpPacketOptions = {},
): TftpPacket {
  if (bytes.length < 2) {
    throw new TftpDecodeError(
      "truncated",
      bytes.length,
      undefined,
      "Datagram is too short for an opcode",
    );
  }
  const opcode = (bytes[0] << 8) | bytes[1];
  switch (opcode) {
    case TftpOpcode.RRQ:
    case TftpOpcode.WRQ:
      return decodeRequest(bytes, opcode, options.maxRequestLength ?? TFTP_MAX_REQUEST_LENGTH);
    case TftpOpcode.DATA: {
      checkFixedLength(bytes, opcode, 4, "block number");
      if (bytes.length - 4 > TFTP_MAX_BLKSIZE) {
        throw new TftpDecodeError(
          "data-too-long",
          4 + TFTP_MAX_BLKSIZE,
          opcode,
          `Payload is ${bytes.length - 4} bytes, more than ${TFTP_MAX_BLKSIZE}`,
        );
      }
      return { type: "data", block: (bytes[2] << 8) | bytes[3], data: bytes.subarray(4) };
    }
    case TftpOpcode.ACK:
      checkFixedLength(bytes, opcode, 4, "block number");
      if (bytes.length > 4) {
        throw new TftpDecodeError(
          "trailing-bytes",
          4,
          opcode,
          `${trailing(bytes.length - 4)} the ACK`,
        );
      }
      return { type: "ack", block: (bytes[2] << 8) | bytes[3] };
    case TftpOpcode.ERROR: {
      checkFixedLength(bytes, opcode, 4, "error code");
      const end = findNul(bytes, 4, opcode, "Error message");
      if (end + 1 < bytes.length) {
        throw new TftpDecodeError(
          "trailing-bytes",
          end + 1,
          opcode,
          `${trailing(bytes.length - end - 1)} the error message`,
        );
      }
      return {
        type: "error",
        code: (bytes[2] << 8) | bytes[3],
        message: readUtf8Lenient(bytes.subarray(4, end)),
      };
    }
    case TftpOpcode.OACK: {
      const decoded = decodeOptions(bytes, 2, opcode);
      return decoded.unknownOptions.length > 0
        ? { type: "oack", options: decoded.options, unknownOptions: decoded.unknownOptions }
        : { type: "oack", options: decoded.options };
    }
    default:
      throw new TftpDecodeError(
        "unknown-opcode",
        0,
        undefined,
        `Opcode ${opcode} is not a TFTP opcode`,
      );
  }
}

/**
 * Decodes one datagram like {@linkcode decodeTftpPacket}, returning the error instead of throwing
 * it: handy in a receive loop, where bad datagrams are expected.
 *
 * @param bytes The datagram.
 * @param options Limits (see {@linkcode DecodeTftpPacketOptions}).
 * @returns The packet, or the `TftpDecodeError` that says what is wrong with it.
 *
 * @example
 * ```ts
 * import { TftpDecodeError, tryDecodeTftpPacket } from "@ftkit/ftkit/codec";
 *
 * const result = tryDecodeTftpPacket(new Uint8Array([0, 9]));
 * if (result instanceof TftpDecodeError) console.log(result.kind); // "unknown-opcode"
 * ```
 */
export function tryDecodeTftpPacket(
  bytes: Uint8Array,
  options?: DecodeTftpPacketOptions,
): TftpPacket | TftpDecodeError {
  try {
    return decodeTftpPacket(bytes, options);
  } catch (error) {
    if (error instanceof TftpDecodeError) return error;
    throw error; // not reached: the decoder throws nothing else (see the property tests)
  }
}

// --- decoding ---

function decodeRequest(bytes: Uint8Array, opcode: number, maxLength: number): TftpRequest {
  if (bytes.length > maxLength) {
    throw new TftpDecodeError(
      "request-too-long",
      maxLength,
      opcode,
      `Request is ${bytes.length} bytes, more than the ${maxLength} allowed`,
    );
  }
  const filenameEnd = findNul(bytes, 2, opcode, "Filename");
  if (filenameEnd === 2) {
    throw new TftpDecodeError("empty-filename", 2, opcode, "Filename is empty");
  }
  const filename = readString(bytes, 2, filenameEnd, opcode, "Filename");
  const modeStart = filenameEnd + 1;
  if (modeStart === bytes.length) {
    throw new TftpDecodeError("missing-nul", modeStart, opcode, "Request has no mode");
  }
  const modeEnd = findNul(bytes, modeStart, opcode, "Mode");
  const modeText = asciiLower(readString(bytes, modeStart, modeEnd, opcode, "Mode"));
  const mode = MODES.find((known) => known === modeText);
  if (mode === undefined) {
    throw new TftpDecodeError(
      "unknown-mode",
      modeStart,
      opcode,
      `Mode "${modeText}" is not netascii, octet or mail`,
    );
  }
  const decoded = decodeOptions(bytes, modeEnd + 1, opcode);
  const type = opcode === TftpOpcode.RRQ ? "rrq" : "wrq";
  return decoded.unknownOptions.length > 0
    ? { type, filename, mode, options: decoded.options, unknownOptions: decoded.unknownOptions }
    : { type, filename, mode, options: decoded.options };
}

interface DecodedOptions {
  options: TftpOptions;
  unknownOptions: TftpUnknownOption[];
}

function decodeOptions(bytes: Uint8Array, start: number, opcode: number): DecodedOptions {
  const options: Record<string, number> = {};
  const unknownOptions: TftpUnknownOption[] = [];
  const seen = new Set<string>();
  let pos = start;
  while (pos < bytes.length) {
    const nameEnd = findNul(bytes, pos, opcode, "Option name");
    if (nameEnd === pos) {
      throw new TftpDecodeError("malformed-option", pos, opcode, "Option name is empty");
    }
    const name = readString(bytes, pos, nameEnd, opcode, "Option name");
    const valueStart = nameEnd + 1;
    if (valueStart === bytes.length) {
      throw new TftpDecodeError(
        "malformed-option",
        valueStart,
        opcode,
        `Option "${name}" has no value`,
      );
    }
    const valueEnd = findNul(bytes, valueStart, opcode, `Value of option "${name}"`);
    const value = readString(bytes, valueStart, valueEnd, opcode, `Value of option "${name}"`);
    const key = asciiLower(name);
    if (seen.has(key)) {
      throw new TftpDecodeError("duplicate-option", pos, opcode, `Option "${name}" appears twice`);
    }
    seen.add(key);
    if (isTftpOptionName(key)) {
      const number = parseTftpOptionValue(key, value);
      if (number === undefined) {
        const range = TftpOptionRange[key];
        throw new TftpDecodeError(
          "invalid-option-value",
          valueStart,
          opcode,
          `Option "${key}" has value "${value}", not a number from ${range.min} to ${range.max}`,
        );
      }
      options[key] = number;
    } else {
      unknownOptions.push({ name, value });
    }
    pos = valueEnd + 1;
  }
  return { options: options as TftpOptions, unknownOptions };
}

function checkFixedLength(bytes: Uint8Array, opcode: number, length: number, field: string): void {
  if (bytes.length < length) {
    throw new TftpDecodeError(
      "truncated",
      bytes.length,
      opcode,
      `Datagram ends before the ${field}`,
    );
  }
}

function findNul(bytes: Uint8Array, start: number, opcode: number, field: string): number {
  const end = bytes.indexOf(0, start);
  if (end < 0) {
    throw new TftpDecodeError(
      "missing-nul",
      bytes.length,
      opcode,
      `${field} has no NUL terminator`,
    );
  }
  return end;
}

function readString(
  bytes: Uint8Array,
  start: number,
  end: number,
  opcode: number,
  field: string,
): string {
  const text = readUtf8Strict(bytes.subarray(start, end));
  if (text === undefined) {
    throw new TftpDecodeError("invalid-utf8", start, opcode, `${field} is not valid UTF-8`);
  }
  return text;
}

function trailing(count: number): string {
  return count === 1 ? "1 byte follows" : `${count} bytes follow`;
}

function asciiLower(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase()) : text;
}

// --- encoding ---

function checkBlock(block: number): void {
  if (!Number.isInteger(block) || block < 0 || block > 0xffff) {
    throw new RangeError(`Block number must be an integer from 0 to 65535, got ${block}`);
  }
}

function checkString(field: string, text: string, emptyAllowed: boolean): void {
  if (typeof text !== "string") throw new TypeError(`The ${field} must be a string`);
  if (!emptyAllowed && text.length === 0) throw new TypeError(`The ${field} must not be empty`);
  if (text.includes("\0")) throw new TypeError(`The ${field} must not contain NUL`);
  if (!text.isWellFormed()) throw new TypeError(`The ${field} has a lone surrogate`);
}

function optionsLength(
  options: TftpOptions,
  unknownOptions: readonly TftpUnknownOption[] | undefined,
): number {
  let length = 0;
  for (const name of TFTP_OPTION_NAMES) {
    const value = options[name];
    if (value === undefined) continue;
    checkTftpOptionValue(name, value);
    length += name.length + 1 + String(value).length + 1;
  }
  if (unknownOptions !== undefined && unknownOptions.length > 0) {
    const seen = new Set<string>();
    for (const { name, value } of unknownOptions) {
      checkString("option name", name, false);
      checkString(`value of option "${name}"`, value, true);
      const key = asciiLower(name);
      if (isTftpOptionName(key)) {
        throw new TypeError(`Option "${name}" is a known option; set it in options`);
      }
      if (seen.has(key)) throw new TypeError(`Option "${name}" appears twice`);
      seen.add(key);
      length += utf8Length(name) + 1 + utf8Length(value) + 1;
    }
  }
  return length;
}

function writePacket(packet: TftpPacket, buf: Uint8Array, offset: number): void {
  switch (packet.type) {
    case "rrq":
    case "wrq": {
      writeUint16(buf, offset, packet.type === "rrq" ? TftpOpcode.RRQ : TftpOpcode.WRQ);
      let pos = writeCString(packet.filename, buf, offset + 2);
      pos = writeCString(packet.mode, buf, pos);
      writeOptions(packet.options, packet.unknownOptions, buf, pos);
      return;
    }
    case "data": {
      writeUint16(buf, offset, TftpOpcode.DATA);
      writeUint16(buf, offset + 2, packet.block);
      const { data } = packet;
      const inPlace = data.buffer === buf.buffer && data.byteOffset === buf.byteOffset + offset + 4;
      if (!inPlace) buf.set(data, offset + 4);
      return;
    }
    case "ack":
      writeUint16(buf, offset, TftpOpcode.ACK);
      writeUint16(buf, offset + 2, packet.block);
      return;
    case "error":
      writeUint16(buf, offset, TftpOpcode.ERROR);
      writeUint16(buf, offset + 2, packet.code);
      writeCString(packet.message, buf, offset + 4);
      return;
    case "oack":
      writeUint16(buf, offset, TftpOpcode.OACK);
      writeOptions(packet.options, packet.unknownOptions, buf, offset + 2);
      return;
  }
}

function writeOptions(
  options: TftpOptions,
  unknownOptions: readonly TftpUnknownOption[] | undefined,
  buf: Uint8Array,
  offset: number,
): number {
  let pos = offset;
  for (const name of TFTP_OPTION_NAMES) {
    const value: number | undefined = options[name as TftpOptionName];
    if (value === undefined) continue;
    pos = writeCString(name, buf, pos);
    pos = writeCString(String(value), buf, pos);
  }
  for (const { name, value } of unknownOptions ?? []) {
    pos = writeCString(name, buf, pos);
    pos = writeCString(value, buf, pos);
  }
  return pos;
}

function writeCString(text: string, buf: Uint8Array, offset: number): number {
  const end = writeUtf8(text, buf, offset);
  buf[end] = 0;
  return end + 1;
}

function writeUint16(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value >>> 8;
  buf[offset + 1] = value & 0xff;
}
