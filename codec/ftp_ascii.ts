/**
 * FTP's ASCII representation type on the data connection (RFC 959 section 3.1.1.1, TYPE A): lines
 * end with CRLF on the wire and with LF in local files.
 *
 * The encoder turns each LF not already after a CR into CRLF. The decoder turns CRLF into LF and
 * keeps any other CR; a CR at the end of a chunk is held until the next chunk (or `flush()`) shows
 * what follows it, so no byte is ever dropped.
 *
 * @example
 * ```ts
 * import { FtpAsciiDecoder, FtpAsciiEncoder } from "@ftkit/ftkit/codec";
 *
 * new FtpAsciiEncoder().encode(new TextEncoder().encode("a\nb\n")); // "a\r\nb\r\n"
 * const decoder = new FtpAsciiDecoder();
 * decoder.decode(new TextEncoder().encode("a\r")); // "a": the CR is held
 * decoder.decode(new TextEncoder().encode("\nb\r")); // "\nb"
 * decoder.flush(); // "\r": the file ended with a lone CR
 * ```
 *
 * @module
 */

const CR = 13;
const LF = 10;
const EMPTY = new Uint8Array(0);
const HELD_CR = new Uint8Array([CR]);

/**
 * Streaming TYPE A encoder, file to wire: each LF not already after a CR becomes CRLF.
 *
 * @example
 * ```ts
 * import { FtpAsciiEncoder } from "@ftkit/ftkit/codec";
 *
 * const encoder = new FtpAsciiEncoder();
 * encoder.encode(new TextEncoder().encode("one\ntwo\r")); // "one\r\ntwo\r"
 * encoder.encode(new TextEncoder().encode("\n")); // "\n": already after a CR
 * ```
 */
export class FtpAsciiEncoder {
  #afterCr = false;

  /**
   * Encodes one chunk.
   *
   * @param chunk File bytes.
   * @returns The wire bytes: `chunk` itself when no LF needs a CR, otherwise a new array.
   */
  encode(chunk: Uint8Array): Uint8Array {
    const afterCr = this.#afterCr;
    let lines = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === LF && !(i === 0 ? afterCr : chunk[i - 1] === CR)) lines++;
    }
    if (chunk.length > 0) this.#afterCr = chunk[chunk.length - 1] === CR;
    if (lines === 0) return chunk;
    const out = new Uint8Array(chunk.length + lines);
    let j = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === LF && !(i === 0 ? afterCr : chunk[i - 1] === CR)) out[j++] = CR;
      out[j++] = byte;
    }
    return out;
  }
}

/**
 * Streaming TYPE A decoder, wire to file: CRLF becomes LF; any other CR is kept.
 *
 * @example
 * ```ts
 * import { FtpAsciiDecoder } from "@ftkit/ftkit/codec";
 *
 * const decoder = new FtpAsciiDecoder();
 * decoder.decode(new TextEncoder().encode("one\r\ntwo\r")); // "one\ntwo": the last CR is held
 * decoder.flush(); // "\r"
 * ```
 */
export class FtpAsciiDecoder {
  #heldCr = false;

  /**
   * Decodes one chunk.
   *
   * @param chunk Wire bytes.
   * @returns The file's bytes.
   */
  decode(chunk: Uint8Array): Uint8Array {
    const out = new Uint8Array(chunk.length + 1);
    let j = 0;
    let held = this.#heldCr;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (held) {
        held = false;
        if (byte !== LF) out[j++] = CR;
      }
      if (byte === CR) held = true;
      else out[j++] = byte;
    }
    this.#heldCr = held;
    return out.subarray(0, j);
  }

  /**
   * Ends the stream.
   *
   * @returns A CR held from the last chunk, or nothing.
   */
  flush(): Uint8Array {
    const held = this.#heldCr;
    this.#heldCr = false;
    return held ? HELD_CR.slice() : EMPTY;
  }
}
