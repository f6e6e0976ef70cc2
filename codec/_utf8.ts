// UTF-8 helpers shared by the codecs. Private to codec/.

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const encoder = new TextEncoder();

/** Number of bytes `text` takes in UTF-8. `text` must be well-formed. */
export function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      // A well-formed surrogate pair is one 4-byte code point.
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

/** Writes `text` as UTF-8 at `offset`; returns the offset after it. The caller checked the room. */
export function writeUtf8(text: string, buf: Uint8Array, offset: number): number {
  // ASCII is the common case in both protocols; skip the encoder for it.
  let i = 0;
  for (; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) break;
    buf[offset + i] = unit;
  }
  if (i === text.length) return offset + i;
  const { written } = encoder.encodeInto(text.slice(i), buf.subarray(offset + i));
  return offset + i + written;
}

/** Decodes UTF-8, or returns `undefined` when the bytes are not valid UTF-8. */
export function readUtf8Strict(bytes: Uint8Array): string | undefined {
  let ascii = "";
  let i = 0;
  for (; i < bytes.length && i < 256; i++) {
    const byte = bytes[i];
    if (byte >= 0x80) break;
    ascii += String.fromCharCode(byte);
  }
  if (i === bytes.length) return ascii;
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Decodes UTF-8, replacing invalid sequences with U+FFFD. */
export function readUtf8Lenient(bytes: Uint8Array): string {
  return lenientDecoder.decode(bytes);
}
