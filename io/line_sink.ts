/**
 * Where a log's lines go: a file appended to (opened once, written in order without holding up
 * the caller, flushed and closed on `close()`), or a function that takes each line. The FTPS
 * server's log writers and the TFTP command's `--log` write through it.
 *
 * @module
 */

import { close, openSync, write } from "node:fs";

/** Lines going to a sink, in order. */
export interface LineSink {
  /** Writes a line (its line end added for a file). */
  push(line: string): void;
  /** Waits for what is pending, then lets go of the file. */
  close(): Promise<void>;
}

/**
 * A sink for lines: a function called with each, or a file appended to (created when missing,
 * with mode 0600). The first failure to write the file goes to `onError`, or without it makes
 * `close()` reject; later lines are still tried.
 *
 * @param sink A file's path, or a function that takes each line without its line end.
 * @param onError Where a failure to write goes.
 * @returns The sink.
 * @throws {Error} When the file cannot be opened for appending (the file system's error).
 */
export function lineSink(
  sink: string | ((line: string) => void),
  onError: ((error: Error) => void) | undefined,
): LineSink {
  if (typeof sink === "function") return { push: sink, close: () => Promise.resolve() };
  return new FileLines(sink, onError);
}

const encoder = new TextEncoder();

/** A file appended to: opened once, written in order, lines that come meanwhile in one write. */
class FileLines implements LineSink {
  #fd: number | undefined;
  #queue: string[] = [];
  #draining: Promise<void> | undefined;
  #failure: Error | undefined;
  readonly #onError: ((error: Error) => void) | undefined;

  constructor(path: string, onError: ((error: Error) => void) | undefined) {
    this.#onError = onError;
    this.#fd = openSync(path, "a", 0o600);
  }

  push(line: string): void {
    if (this.#fd === undefined) return;
    this.#queue.push(`${line}\n`);
    this.#draining ??= this.#drain(this.#fd);
  }

  async close(): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) return;
    await this.#draining;
    this.#fd = undefined;
    await new Promise<void>((resolve, reject) =>
      close(fd, (error) => (error ? reject(error) : resolve()))
    );
    if (this.#failure && !this.#onError) throw this.#failure;
  }

  /** Writes the queued lines, and those queued meanwhile, until none is left. */
  async #drain(fd: number): Promise<void> {
    while (this.#queue.length > 0) {
      const bytes = encoder.encode(this.#queue.join(""));
      this.#queue = [];
      try {
        await writeAll(fd, bytes);
      } catch (error) {
        if (!this.#failure) {
          this.#failure = error as Error;
          this.#onError?.(error as Error);
        }
      }
    }
    this.#draining = undefined;
  }
}

/** Writes every byte at the file's end (short writes continue). */
async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const written = await new Promise<number>((resolve, reject) =>
      write(
        fd,
        bytes,
        offset,
        bytes.length - offset,
        null,
        (error, count) => (error ? reject(error) : resolve(count)),
      )
    );
    if (written <= 0) throw new Error("The log file takes no more bytes");
    offset += written;
  }
}
