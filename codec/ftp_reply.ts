import { FtpCodecError } from "./ftp_error.ts";
import { FtpLineReader } from "./ftp_line.ts";

/** One FTP reply (RFC 959 section 4.2): a three-digit code and one or more lines of text. */
export interface FtpReply {
  /** The code, 100-659 (RFC 959's 1yz-5yz, and RFC 2228's 6yz protected replies). */
  readonly code: number;
  /** The text of each line: after `ddd ` or `ddd-` on the first and last lines; intermediate
   * lines as sent, less a repeated `ddd-` prefix that some servers put on every line. */
  readonly lines: readonly string[];
}

const encoder = new TextEncoder();

function checkCode(code: number): void {
  if (!Number.isInteger(code) || code < 100 || code > 659) {
    throw new RangeError(`A reply code is 100-659, got ${code}`);
  }
}

/**
 * Encodes a reply. Several lines make a multi-line reply (`ddd-first` ... `ddd last`); an
 * intermediate line that would look like its end (`ddd ` at its start) is indented by a space,
 * as RFC 959 section 4.2 asks.
 *
 * @example
 * ```ts
 * import { encodeFtpReply } from "@ftkit/ftkit/codec";
 *
 * const text = new TextDecoder().decode(
 *   encodeFtpReply(211, ["Features:", " AUTH TLS", " PBSZ", "End"]),
 * );
 * console.log(text); // "211-Features:\r\n AUTH TLS\r\n PBSZ\r\n211 End\r\n"
 * ```
 *
 * @param code The reply code.
 * @param text One line, or the lines.
 * @returns The reply's UTF-8 bytes.
 * @throws {FtpCodecError} When a line holds CR, LF or NUL.
 * @throws {RangeError} For a code outside 100-659.
 */
export function encodeFtpReply(code: number, text: string | readonly string[]): Uint8Array {
  checkCode(code);
  const lines = typeof text === "string" ? [text] : text.length > 0 ? text : [""];
  let offset = 0;
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      const unit = line.charCodeAt(i);
      if (unit === 13 || unit === 10 || unit === 0) {
        throw new FtpCodecError("forbidden-character", offset + i, "CR, LF or NUL inside a reply");
      }
    }
    offset += line.length;
  }
  if (lines.length === 1) return encoder.encode(`${code} ${lines[0]}\r\n`);
  const out = [`${code}-${lines[0]}`];
  for (let i = 1; i < lines.length - 1; i++) {
    const line = lines[i];
    out.push(/^\d{3}( |$)/.test(line) ? ` ${line}` : line);
  }
  out.push(`${code} ${lines[lines.length - 1]}`);
  return encoder.encode(`${out.join("\r\n")}\r\n`);
}

/** Options of {@linkcode FtpReplyParser}. */
export interface FtpReplyParserOptions {
  /** The longest line accepted, in bytes (default 8192). */
  maxLineLength?: number;
  /** The most lines one reply may have (default 10000: a long STAT or HELP fits). */
  maxLines?: number;
}

/**
 * A streaming reply parser for the client side of a control connection: feed it bytes as they
 * arrive, get whole replies out. Tolerant of what real servers send: bare LF line ends, a code
 * with nothing after it (`220`), `ddd-` repeated on every line of a multi-line reply, blank
 * intermediate lines.
 *
 * @example
 * ```ts
 * import { FtpReplyParser } from "@ftkit/ftkit/codec";
 *
 * const parser = new FtpReplyParser();
 * const bytes = new TextEncoder().encode("220-Welcome\r\n to ftkit\r\n220 Ready\r\n331 Password\r\n");
 * for (const reply of parser.push(bytes)) console.log(reply.code, reply.lines);
 * // 220 ["Welcome", " to ftkit", "Ready"]
 * // 331 ["Password"]
 * ```
 */
export class FtpReplyParser {
  readonly #lines: FtpLineReader;
  readonly #maxLines: number;
  #code: number | undefined;
  #text: string[] = [];
  #lineNumber = 0;

  /**
   * Makes a parser.
   *
   * @param options Caps on line length and reply size.
   */
  constructor(options: FtpReplyParserOptions = {}) {
    this.#lines = new FtpLineReader({ maxLineLength: options.maxLineLength ?? 8192 });
    this.#maxLines = options.maxLines ?? 10000;
  }

  /** Whether a multi-line reply has begun and not ended. */
  get inReply(): boolean {
    return this.#code !== undefined;
  }

  /**
   * Takes the next bytes from the server; returns the replies they complete, in order.
   *
   * @param bytes The next bytes.
   * @returns The completed replies.
   * @throws {FtpCodecError} `malformed-reply`, `line-too-long` or `reply-too-long`.
   */
  push(bytes: Uint8Array): FtpReply[] {
    const replies: FtpReply[] = [];
    for (const line of this.#lines.push(bytes)) {
      const reply = this.#line(line);
      if (reply) replies.push(reply);
    }
    return replies;
  }

  #line(line: string): FtpReply | undefined {
    this.#lineNumber++;
    const code = this.#code;
    if (code === undefined) {
      const match = /^([1-6]\d\d)([ -]|$)/.exec(line);
      if (!match) {
        throw new FtpCodecError(
          "malformed-reply",
          0,
          `Reply line ${this.#lineNumber} does not start with a code: "${line.slice(0, 40)}"`,
        );
      }
      const value = Number(match[1]);
      const text = line.slice(4);
      if (match[2] !== "-") return { code: value, lines: [text] };
      this.#code = value;
      this.#text = [text];
      return undefined;
    }
    const prefix = String(code);
    if (line.startsWith(prefix) && (line.length === 3 || line[3] === " ")) {
      const lines = [...this.#text, line.slice(4)];
      this.#code = undefined;
      this.#text = [];
      return { code, lines };
    }
    if (this.#text.length + 1 >= this.#maxLines) {
      throw new FtpCodecError(
        "reply-too-long",
        0,
        `Reply ${code} has more than ${this.#maxLines} lines`,
      );
    }
    this.#text.push(line.startsWith(`${prefix}-`) ? line.slice(4) : line);
    return undefined;
  }
}

/**
 * The whole text of a reply, its lines joined with LF.
 *
 * @example
 * ```ts
 * import { ftpReplyText } from "@ftkit/ftkit/codec";
 *
 * console.log(ftpReplyText({ code: 550, lines: ["No such file"] })); // "No such file"
 * ```
 *
 * @param reply The reply.
 * @returns Its text.
 */
export function ftpReplyText(reply: FtpReply): string {
  return reply.lines.join("\n");
}
