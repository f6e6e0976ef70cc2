/**
 * Where a log's lines go: a file appended to (opened once, written in order without holding up
 * the caller, flushed and closed on `close()`), or a function that takes each line. The FTPS
 * server's log writers and the TFTP command's `--log` write through it.
 *
 * What waits for the file is bounded: a file that takes lines slower than clients make them (a
 * stalled disk or pipe, a flood of requests) would otherwise hold every line in memory. Past the
 * bound, lines are dropped, counted, and said to `onError` once a write has made room.
 *
 * @module
 */

import { close, openSync, write } from "node:fs";
import { currentRuntime } from "./runtime.ts";

/** Lines going to a sink, in order. */
export interface LineSink {
  /** Writes a line (its line end added for a file). */
  push(line: string): void;
  /** Waits for what is pending, then lets go of the file. */
  close(): Promise<void>;
}

/** How many bytes of lines may wait for the file, by default: 4 MiB. */
export const DEFAULT_MAX_PENDING_BYTES: number = 4 << 20;

/**
 * Log lines dropped because the log file fell behind: more than the writer's `maxPendingBytes`
 * waited for it (`ftpsJsonLogWriter`, `ftpsXferLogWriter`). It goes to the writer's `onError`
 * once a write has made room, or without one makes its `close()` reject.
 *
 * @example
 * ```ts
 * import { mkdtemp, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { ftpsJsonLogWriter, LogLinesDroppedError } from "@ftkit/ftkit/ftps";
 *
 * const logs = await mkdtemp(join(tmpdir(), "ftkit-logs-"));
 * const log = ftpsJsonLogWriter(join(logs, "ftps.jsonl"), {
 *   maxPendingBytes: 1 << 20,
 *   onError: (error) => {
 *     if (error instanceof LogLinesDroppedError) console.warn(`log: ${error.dropped} lost`);
 *     else console.error(`log: ${error.message}`);
 *   },
 * });
 * await log.close();
 * await rm(logs, { recursive: true });
 * ```
 */
export class LogLinesDroppedError extends Error {
  /** How many lines were dropped. */
  readonly dropped: number;

  /**
   * Makes the error.
   *
   * @param dropped How many lines were dropped.
   * @param maxPendingBytes The bound they would have gone past.
   */
  constructor(dropped: number, maxPendingBytes: number) {
    super(
      `${dropped} log line${dropped === 1 ? "" : "s"} dropped: the log file fell behind ` +
        `(more than ${maxPendingBytes} bytes waited for it)`,
    );
    this.name = "LogLinesDroppedError";
    this.dropped = dropped;
  }
}

/**
 * A sink for lines: a function called with each, or a file appended to (created when missing,
 * with mode 0600). The first failure to write the file goes to `onError`, or without it makes
 * `close()` reject; later lines are still tried. A line that would make more than
 * `maxPendingBytes` wait for the file is dropped; once a write has made room, a
 * {@linkcode LogLinesDroppedError} says how many went to `onError` (or without it makes `close()`
 * reject).
 *
 * @param sink A file's path, or a function that takes each line without its line end.
 * @param onError Where a failure to write, and lines dropped, are said.
 * @param maxPendingBytes How many bytes of lines may wait for the file.
 * @returns The sink.
 * @throws {Error} When the file cannot be opened for appending (the file system's error).
 */
export function lineSink(
  sink: string | ((line: string) => void),
  onError: ((error: Error) => void) | undefined,
  maxPendingBytes: number = DEFAULT_MAX_PENDING_BYTES,
): LineSink {
  if (typeof sink === "function") return { push: sink, close: () => Promise.resolve() };
  return new FileLines(sink, onError, maxPendingBytes);
}

const encoder = new TextEncoder();

/**
 * A file appended to: opened once, written in order, lines that come meanwhile in one write, at
 * most `maxPendingBytes` of them waiting (queued or being written).
 */
class FileLines implements LineSink {
  #file: AppendFile | undefined;
  #queue: Uint8Array[] = [];
  /** Bytes queued or being written. */
  #pending = 0;
  /** Lines dropped since the file last caught up. */
  #dropped = 0;
  #draining: Promise<void> | undefined;
  #failure: Error | undefined;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #maxPendingBytes: number;

  constructor(
    path: string,
    onError: ((error: Error) => void) | undefined,
    maxPendingBytes: number,
  ) {
    if (!Number.isSafeInteger(maxPendingBytes) || maxPendingBytes < 1) {
      throw new RangeError(`maxPendingBytes must be a positive integer, not ${maxPendingBytes}`);
    }
    this.#onError = onError;
    this.#maxPendingBytes = maxPendingBytes;
    this.#file = openAppend(path);
  }

  push(line: string): void {
    if (this.#file === undefined) return;
    const bytes = encoder.encode(`${line}\n`);
    if (this.#pending + bytes.length > this.#maxPendingBytes) {
      this.#dropped++;
      return;
    }
    this.#pending += bytes.length;
    this.#queue.push(bytes);
    this.#draining ??= this.#drain(this.#file);
  }

  async close(): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    await this.#draining;
    this.#file = undefined;
    await file.close();
    if (this.#failure && !this.#onError) throw this.#failure;
  }

  /** Writes the queued lines, and those queued meanwhile, until none is left. */
  async #drain(file: AppendFile): Promise<void> {
    while (this.#queue.length > 0) {
      const lines = this.#queue;
      this.#queue = [];
      const bytes = concat(lines);
      try {
        await writeAll(file, bytes);
      } catch (error) {
        this.#fail(error as Error);
      }
      this.#pending -= bytes.length;
      // Said once a write has made room, so at most once a write however fast lines come.
      if (this.#dropped > 0) {
        const dropped = new LogLinesDroppedError(this.#dropped, this.#maxPendingBytes);
        this.#dropped = 0;
        if (this.#onError) this.#onError(dropped);
        else this.#failure ??= dropped;
      }
    }
    this.#draining = undefined;
  }

  /** The first failure to write: said, or kept for `close()`. */
  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#onError?.(error);
  }
}

/** The lines as one run of bytes. */
function concat(lines: readonly Uint8Array[]): Uint8Array {
  if (lines.length === 1) return lines[0];
  const bytes = new Uint8Array(lines.reduce((sum, line) => sum + line.length, 0));
  let offset = 0;
  for (const line of lines) {
    bytes.set(line, offset);
    offset += line.length;
  }
  return bytes;
}

/** A file open for appending. */
interface AppendFile {
  /** Writes some of `bytes` at the end; resolves with how many. */
  write(bytes: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/** The little of Deno's file API that a log needs. */
interface DenoFiles {
  openSync(
    path: string,
    options: { append: true; create: true; mode: number },
  ): { write(bytes: Uint8Array): Promise<number>; close(): void };
}

/**
 * Opens `path` for appending (created with mode 0600). On Deno through its own file API: its
 * `node:fs` writes hold the whole runtime until they end, so a log file that stalls (a pipe
 * nobody reads, a hung network disk) would stop the server; Deno's own writes wait off the event
 * loop, as Node's and Bun's `node:fs` writes do.
 */
function openAppend(path: string): AppendFile {
  if (currentRuntime() === "deno") {
    const deno = (globalThis as unknown as { Deno: DenoFiles }).Deno;
    let file: ReturnType<DenoFiles["openSync"]>;
    try {
      file = deno.openSync(path, { append: true, create: true, mode: 0o600 });
    } catch {
      // The failure in node:fs's words, with its code (ENOENT, EACCES), as on Node and Bun.
      return nodeAppend(path);
    }
    return {
      write: (bytes) => file.write(bytes),
      close: () => Promise.resolve(file.close()),
    };
  }
  return nodeAppend(path);
}

/** Opens `path` for appending through `node:fs`. */
function nodeAppend(path: string): AppendFile {
  const fd = openSync(path, "a", 0o600);
  return {
    write: (bytes) =>
      new Promise<number>((resolve, reject) =>
        write(
          fd,
          bytes,
          0,
          bytes.length,
          null,
          (error, count) => (error ? reject(error) : resolve(count)),
        )
      ),
    close: () =>
      new Promise<void>((resolve, reject) =>
        close(fd, (error) => (error ? reject(error) : resolve()))
      ),
  };
}

/** Writes every byte at the file's end (short writes continue). */
async function writeAll(file: AppendFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const written = await file.write(bytes.subarray(offset));
    if (written <= 0) throw new Error("The log file takes no more bytes");
    offset += written;
  }
}
