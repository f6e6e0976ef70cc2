import { FtpCodecError } from "./ftp_error.ts";
import { readUtf8Lenient } from "./_utf8.ts";

const IAC = 255;
const WILL = 251;
const DONT = 254;
const CR = 13;
const LF = 10;

/** Options of {@linkcode FtpLineReader}. */
export interface FtpLineReaderOptions {
  /** The longest line accepted, in bytes without its end (default 8192). */
  maxLineLength?: number;
}

/**
 * Splits a control-connection byte stream into lines (RFC 959 section 4: Telnet lines ending in
 * CR LF; a bare LF is accepted too). Telnet commands are removed (RFC 854: IAC IAC is a 255 byte;
 * IAC WILL/WONT/DO/DONT take an option byte; other IAC commands, such as the IP and DM that come
 * with ABOR, are dropped). Lines are decoded as UTF-8 (RFC 2640), leniently.
 *
 * @example
 * ```ts
 * import { FtpLineReader } from "@ftkit/ftkit/codec";
 *
 * const reader = new FtpLineReader();
 * const encode = (text: string) => new TextEncoder().encode(text);
 * console.log(reader.push(encode("USER anonym"))); // []
 * console.log(reader.push(encode("ous\r\nPASS x\r\n"))); // ["USER anonymous", "PASS x"]
 * ```
 */
export class FtpLineReader {
  readonly #maxLineLength: number;
  #line: number[] = [];
  // Telnet command state: 0 none, 1 after IAC, 2 after IAC WILL/WONT/DO/DONT.
  #telnet = 0;
  #offset = 0;

  /**
   * Makes a reader.
   *
   * @param options The line length cap.
   */
  constructor(options: FtpLineReaderOptions = {}) {
    this.#maxLineLength = options.maxLineLength ?? 8192;
  }

  /** Bytes of an unfinished line held so far. */
  get pending(): number {
    return this.#line.length;
  }

  /**
   * Takes the next bytes of the stream and returns the lines they complete, without their ends.
   *
   * @param bytes The next bytes.
   * @returns The completed lines.
   * @throws {FtpCodecError} `line-too-long` when a line passes the cap.
   */
  push(bytes: Uint8Array): string[] {
    const lines: string[] = [];
    for (let i = 0; i < bytes.length; i++, this.#offset++) {
      const byte = bytes[i];
      if (this.#telnet === 1) {
        this.#telnet = byte >= WILL && byte <= DONT ? 2 : 0;
        if (byte === IAC) this.#add(IAC);
        continue;
      }
      if (this.#telnet === 2) {
        this.#telnet = 0;
        continue;
      }
      if (byte === IAC) {
        this.#telnet = 1;
        continue;
      }
      if (byte === LF) {
        const line = this.#line;
        if (line.length > 0 && line[line.length - 1] === CR) line.pop();
        if (line.length > this.#maxLineLength) this.#tooLong();
        // One decoder for every reader (a whole line at a time: no state between calls).
        lines.push(readUtf8Lenient(Uint8Array.from(line)));
        this.#line = [];
        continue;
      }
      this.#add(byte);
    }
    return lines;
  }

  #add(byte: number): void {
    // One more than the cap: room for the CR of a CR LF end.
    if (this.#line.length > this.#maxLineLength) this.#tooLong();
    this.#line.push(byte);
  }

  #tooLong(): never {
    throw new FtpCodecError(
      "line-too-long",
      this.#offset,
      `Line longer than ${this.#maxLineLength} bytes`,
    );
  }
}
