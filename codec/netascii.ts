/**
 * netascii (RFC 1350 section 5, after RFC 764): line ends travel as CR LF and a lone CR as CR NUL.
 *
 * The encoder maps every LF to CR LF and every CR to CR NUL, so any bytes survive the round trip.
 * The decoder carries a CR that ends one chunk over to the next, and is lenient on input a strict
 * encoder never produces: a CR followed by anything but LF or NUL is kept as it is, and so is a CR
 * at the very end of the input. No byte is ever dropped.
 *
 * @example
 * ```ts
 * import { NetasciiDecoder, NetasciiEncoder } from "@ftkit/ftkit/codec";
 *
 * const wire = new NetasciiEncoder().encode(new TextEncoder().encode("a\nb"));
 * // wire is "a\r\nb"
 * const decoder = new NetasciiDecoder();
 * const text = [decoder.decode(wire.subarray(0, 2)), decoder.decode(wire.subarray(2)), decoder.flush()];
 * ```
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const EMPTY = new Uint8Array(0);

/**
 * The number of bytes `bytes` takes once netascii-encoded: each LF and each CR gains one byte.
 *
 * Sum it over chunks to get the encoded length of a stream.
 *
 * @param bytes The local bytes.
 * @returns Their encoded length.
 *
 * @example
 * ```ts
 * import { netasciiEncodedLength } from "@ftkit/ftkit/codec";
 *
 * netasciiEncodedLength(new TextEncoder().encode("one\ntwo\n")); // 10
 * ```
 */
export function netasciiEncodedLength(bytes: Uint8Array): number {
  return bytes.length + countLineBytes(bytes);
}

/**
 * Streaming netascii encoder: LF becomes CR LF, CR becomes CR NUL.
 *
 * Each byte maps on its own, so chunk boundaries never matter; `flush()` exists for symmetry with
 * the decoder and returns nothing.
 *
 * @example
 * ```ts
 * import { NetasciiEncoder } from "@ftkit/ftkit/codec";
 *
 * const encoder = new NetasciiEncoder();
 * encoder.encode(new Uint8Array([0x61, 0x0a])); // [0x61, 0x0d, 0x0a]
 * ```
 */
export class NetasciiEncoder {
  /** Total bytes given to `encode` so far. */
  bytesIn = 0;
  /** Total bytes returned by `encode` so far. */
  bytesOut = 0;

  /**
   * Encodes one chunk.
   *
   * @param chunk Local bytes.
   * @returns The encoded bytes: `chunk` itself when it holds no CR or LF, otherwise a new array.
   */
  encode(chunk: Uint8Array): Uint8Array {
    this.bytesIn += chunk.length;
    const extra = countLineBytes(chunk);
    if (extra === 0) {
      this.bytesOut += chunk.length;
      return chunk;
    }
    const out = new Uint8Array(chunk.length + extra);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === LF) {
        out[o++] = CR;
        out[o++] = LF;
      } else if (byte === CR) {
        out[o++] = CR;
        out[o++] = NUL;
      } else {
        out[o++] = byte;
      }
    }
    this.bytesOut += out.length;
    return out;
  }

  /**
   * Ends the stream.
   *
   * @returns An empty array: the encoder never holds bytes back.
   */
  flush(): Uint8Array {
    return EMPTY;
  }
}

/**
 * Streaming netascii decoder: CR LF becomes LF, CR NUL becomes CR.
 *
 * A CR at the end of a chunk is held until the next chunk (or `flush()`) shows what follows it.
 *
 * @example
 * ```ts
 * import { NetasciiDecoder } from "@ftkit/ftkit/codec";
 *
 * const decoder = new NetasciiDecoder();
 * decoder.decode(new Uint8Array([0x61, 0x0d])); // [0x61]: the CR is held
 * decoder.decode(new Uint8Array([0x0a])); // [0x0a]
 * decoder.flush(); // []
 * ```
 */
export class NetasciiDecoder {
  #pendingCr = false;

  /** Whether a CR from the previous chunk is waiting for the next byte. */
  get pending(): boolean {
    return this.#pendingCr;
  }

  /**
   * Decodes one chunk.
   *
   * @param chunk Bytes as received.
   * @returns The local bytes decoded so far: `chunk` itself when it holds no CR and no CR is held.
   */
  decode(chunk: Uint8Array): Uint8Array {
    if (!this.#pendingCr && chunk.indexOf(CR) < 0) return chunk;
    // Output is at most one byte longer than the input (a held CR that turns out to be literal).
    const out = new Uint8Array(chunk.length + 1);
    let o = 0;
    let i = 0;
    if (this.#pendingCr) {
      if (chunk.length === 0) return EMPTY;
      this.#pendingCr = false;
      o = this.#resolveCr(chunk[0], out, o);
      i = chunk[0] === LF || chunk[0] === NUL ? 1 : 0;
    }
    for (; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte !== CR) {
        out[o++] = byte;
        continue;
      }
      if (i + 1 === chunk.length) {
        this.#pendingCr = true;
        break;
      }
      const next = chunk[i + 1];
      o = this.#resolveCr(next, out, o);
      if (next === LF || next === NUL) i++;
    }
    return out.subarray(0, o);
  }

  /**
   * Ends the stream.
   *
   * @returns A lone CR if the input ended with one, otherwise nothing.
   */
  flush(): Uint8Array {
    if (!this.#pendingCr) return EMPTY;
    this.#pendingCr = false;
    return new Uint8Array([CR]);
  }

  /** Writes what a CR followed by `next` stands for; `next` itself is consumed only if LF or NUL. */
  #resolveCr(next: number, out: Uint8Array, o: number): number {
    if (next === LF) out[o++] = LF;
    else out[o++] = CR; // CR NUL, or a CR not followed by LF/NUL that is kept as it is
    return o;
  }
}

function countLineBytes(bytes: Uint8Array): number {
  let count = 0;
  let i = bytes.indexOf(LF);
  while (i >= 0) {
    count++;
    i = bytes.indexOf(LF, i + 1);
  }
  i = bytes.indexOf(CR);
  while (i >= 0) {
    count++;
    i = bytes.indexOf(CR, i + 1);
  }
  return count;
}
