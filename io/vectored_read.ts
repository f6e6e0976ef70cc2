// A file's next bytes read straight into several buffers with one system call (readv), where the
// runtime's node:fs does it right.

import type { FileHandle } from "node:fs/promises";
import { currentRuntime } from "./runtime.ts";

/**
 * Reads the file's next bytes into `buffers`, in order, with one `readv` at the current position;
 * resolves with how many it read (0 at the end). `undefined` on Deno, whose node:fs `readv` (2.9)
 * keeps reading until every buffer is full, and so spins for ever at the end of the file
 * (denoland/deno#36211): the caller reads into one buffer there instead.
 */
export function vectoredRead(
  file: FileHandle,
): ((buffers: Uint8Array[]) => Promise<number>) | undefined {
  if (currentRuntime() === "deno") return undefined;
  return async (buffers) => (await file.readv(buffers)).bytesRead;
}
