// A named pipe that nobody reads until a test says so: a log file that has stalled (a full disk
// that hangs, a pipe to a reader that stopped). The test holds the pipe open for reading and
// writing itself, so that a writer's open does not wait for a reader; once the pipe's buffer is
// full, a writer's writes wait. `release()` lets a reader (`cat`) take everything, and gives it
// once every writer has closed.

import { spawn, spawnSync } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { within } from "./_wait.ts";

/** A stalled pipe. */
export interface StalledPipe {
  /** The pipe's path, for the writer to open. */
  readonly path: string;
  /** Starts reading; `writersClosed` is when the writer under test has closed its end (so that
   * the reader sees the end once the test's own end is closed too). Resolves with every byte. */
  release(writersClosed: () => Promise<void>): Promise<Buffer>;
}

/** Makes a named pipe in `dir`, held open so that writes stall once its buffer is full. */
export function stalledPipe(dir: string): StalledPipe {
  const path = join(dir, "stalled.fifo");
  const made = spawnSync("mkfifo", ["-m", "600", path]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
  // Read and write at once: Linux opens a pipe so without waiting for the other side.
  const held = openSync(path, constants.O_RDWR);
  return {
    path,
    async release(writersClosed) {
      const reader = spawn("cat", [path], { stdio: ["ignore", "pipe", "inherit"] });
      const chunks: Buffer[] = [];
      reader.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise<void>((resolve, reject) => {
        reader.once("error", reject);
        reader.once(
          "close",
          (code) => code === 0 ? resolve() : reject(new Error(`cat exited with ${code}`)),
        );
      });
      try {
        await within(writersClosed(), "the writer to finish and close");
      } finally {
        closeSync(held);
      }
      await within(ended, "the reader to read the pipe to its end");
      return Buffer.concat(chunks);
    },
  };
}
