/**
 * FTP's ASCII representation type on the data connection (RFC 959 section 3.1.1.1): lines end
 * with CRLF on the wire and with LF in the files ftkit serves. Internal to the server driver.
 *
 * @module
 */

const CR = 13;
const LF = 10;

/**
 * A chunk of a file as it goes on the wire: each LF not already after a CR becomes CRLF.
 *
 * @param chunk The file's bytes.
 * @param afterCr Whether the previous chunk ended with CR.
 * @returns The wire bytes, and whether this chunk ended with CR.
 */
export function asciiToWire(chunk: Uint8Array, afterCr: boolean): [Uint8Array, boolean] {
  let lines = 0;
  for (let i = 0; i < chunk.length; i++) {
    if (chunk[i] === LF && !(i === 0 ? afterCr : chunk[i - 1] === CR)) lines++;
  }
  const last = chunk.length > 0 ? chunk[chunk.length - 1] === CR : afterCr;
  if (lines === 0) return [chunk, last];
  const out = new Uint8Array(chunk.length + lines);
  let j = 0;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i];
    if (byte === LF && !(i === 0 ? afterCr : chunk[i - 1] === CR)) out[j++] = CR;
    out[j++] = byte;
  }
  return [out, last];
}

/**
 * A chunk from the wire as it goes in the file: CRLF becomes LF. A CR at the end of a chunk is
 * held back until the next chunk shows whether an LF follows.
 *
 * @param chunk The wire bytes.
 * @param heldCr Whether a CR was held back from the previous chunk.
 * @returns The file's bytes, and whether a CR is held back now (write it if the stream ends).
 */
export function wireToAscii(chunk: Uint8Array, heldCr: boolean): [Uint8Array, boolean] {
  const out = new Uint8Array(chunk.length + 1);
  let j = 0;
  let held = heldCr;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i];
    if (held) {
      held = false;
      if (byte !== LF) out[j++] = CR;
    }
    if (byte === CR) held = true;
    else out[j++] = byte;
  }
  return [out.subarray(0, j), held];
}
