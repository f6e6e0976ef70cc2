// Test helpers: build datagrams from readable pieces.

/** Concatenates numbers (single bytes), `[hi, lo]` 16-bit pairs and strings (UTF-8) into bytes. */
export function bytes(...parts: (number | string | readonly number[] | Uint8Array)[]): Uint8Array {
  const chunks: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") chunks.push(part);
    else if (typeof part === "string") chunks.push(...new TextEncoder().encode(part));
    else chunks.push(...part);
  }
  return new Uint8Array(chunks);
}

/** A 16-bit big-endian number as two bytes. */
export function u16(value: number): number[] {
  return [value >> 8, value & 0xff];
}
