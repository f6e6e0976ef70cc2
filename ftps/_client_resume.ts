/**
 * The FTPS client's retries: {@linkcode retrying} runs an operation again after a failure the
 * policy retries (client_retry.ts), after a bounded pause that the operation's AbortSignal cuts
 * short; and the transfers that go on from where a failed attempt stopped instead of starting
 * again.
 *
 * - {@linkcode resumableDownload}: each attempt after the first asks for the bytes not yet
 *   delivered with REST (RFC 3659 section 5); a server that refuses REST sends the file again
 *   from its start, and the bytes delivered already are skipped. A byte is never delivered twice.
 * - {@linkcode resumableUpload}: before a STOR, the remote file's size (SIZE, RFC 3659 section 4)
 *   is noted; after a failure it is asked again. A size that changed and is no more than what was
 *   sent is what the server kept of this upload: it goes on from there (REST then STOR, or APPE
 *   for a server whose FEAT has no REST STREAM). An unchanged size (the server kept nothing, or
 *   stores uploads aside) starts the upload again as it first was; a larger size (bytes not
 *   sent here), or a refused REST, starts it over from byte 0 (STOR, no REST). A source that
 *   cannot give those bytes again (a stream already read) is not retried.
 *
 * @module
 */

import { FtpReplyError } from "./reply_error.ts";
import { type FtpsRetryOptions, isRetryableFtpsError, retryDelayMs } from "./client_retry.ts";
import {
  type TransferReport,
  type Transfers,
  type UploadSource,
  uploadSource,
} from "./_client_transfer.ts";
import { openPartialFile, type PartialFile } from "../io/partial_file.ts";
import { open } from "node:fs/promises";
import type { FtpTransferRequest } from "./client_session.ts";

/** Waits `ms`, or rejects with the signal's reason once it aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Failures that end an operation whatever the policy says (see {@linkcode giveUp}). */
const final = new WeakSet<object>();

/** `error`, marked so that {@linkcode retrying} does not try again (nothing would be different). */
export function giveUp(error: unknown): unknown {
  if (typeof error === "object" && error !== null) final.add(error);
  return error;
}

/**
 * Runs `run(attempt)` until it succeeds, or fails in a way `policy` does not retry (or marked by
 * {@linkcode giveUp}), or its attempts are spent (no policy: once). `again(error)` may ask for one more attempt at once,
 * outside the count and without a pause (at most twice): the attempt changes how it asks (a
 * refused REST).
 */
export async function retrying<T>(
  policy: FtpsRetryOptions | undefined,
  signal: AbortSignal | undefined,
  run: (attempt: number) => Promise<T>,
  again?: (error: unknown) => boolean,
): Promise<T> {
  let free = 0;
  for (let attempt = 1;; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      if (signal?.aborted || (typeof error === "object" && error !== null && final.has(error))) {
        throw error;
      }
      if (free < 2 && again?.(error)) {
        free++;
        attempt--;
        continue;
      }
      const retryable = policy?.retryable ?? isRetryableFtpsError;
      if (!policy || attempt >= policy.attempts || !retryable(error)) throw error;
      await pause(retryDelayMs(policy, attempt + 1), signal);
    }
  }
}

/** What the resumable transfers run on: the policy, and the connection as it is now. */
export interface RetryHost {
  /** The policy, if any. */
  readonly retry: FtpsRetryOptions | undefined;
  /** The transfers of the current connection, once it is up again (reconnected when lost). */
  live(): Promise<Transfers>;
  /** A file's size, or undefined when the server has none (550). */
  remoteSize(path: string): Promise<number | undefined>;
}

/** Whether `error` is a refused REST (a 5yz: the server cannot start elsewhere than at 0). */
function restRefused(error: unknown): boolean {
  return error instanceof FtpReplyError && error.command.startsWith("REST ") &&
    !error.transient;
}

/**
 * A download (RETR) that goes on from the bytes delivered. `already` bytes of the file (from the
 * request's offset) were delivered before the first attempt.
 *
 * @returns What the transfer moved, all attempts together.
 */
export async function resumableDownload(
  host: RetryHost,
  request: FtpTransferRequest,
  controls: { onProgress?: (bytes: number) => void; signal?: AbortSignal },
  sink: (chunk: Uint8Array) => void | Promise<void>,
  already = 0,
): Promise<TransferReport> {
  const start = request.offset ?? 0;
  const { onProgress, signal } = controls;
  let delivered = already;
  let rest = true;
  let last: TransferReport | undefined;
  await retrying(host.retry, signal, async () => {
    const transfers = await host.live();
    // REST for what is delivered, else the file again from the start, what was delivered skipped.
    let skip = rest ? 0 : delivered;
    const offset = rest ? start + delivered : start;
    await transfers.run(
      { ...request, ...(offset > 0 || request.offset !== undefined ? { offset } : {}) },
      signal ? { signal } : {},
      {
        sink: async (chunk) => {
          if (skip >= chunk.length) return void (skip -= chunk.length);
          const fresh = skip > 0 ? chunk.subarray(skip) : chunk;
          skip = 0;
          delivered += fresh.length;
          await sink(fresh);
          onProgress?.(delivered - already);
        },
      },
    );
    last = transfers.last;
  }, (error) => {
    // A refused REST on a file read from its start: read it again from there, skipping.
    if (!restRefused(error) || delivered === 0 || !rest || start > 0) return false;
    rest = false;
    return true;
  });
  return { tls: last?.tls ?? false, resumed: last?.resumed ?? false, bytes: delivered - already };
}

/** The bytes of an upload, from any position of the remote file, when the source can give them;
 * undefined when it cannot (a stream already read, bytes before the ones given). */
export type UploadFrom = (position: number) => UploadSource | undefined;

/** An upload source that notes whether it was read from. */
function watched(source: UploadSource): UploadSource & { readonly pulled: boolean } {
  let pulled = false;
  return {
    replayable: source.replayable,
    get pulled() {
      return pulled;
    },
    chunks: () => {
      const chunks = source.chunks();
      return {
        [Symbol.asyncIterator]: () => {
          pulled = true;
          return chunks[Symbol.asyncIterator]();
        },
      };
    },
  };
}

/**
 * An upload (STOR or APPE) that goes on from what the server kept; see the module's
 * documentation. `from(position)` gives the bytes from remote byte `position`.
 *
 * @returns What the transfer moved: the bytes from the request's offset to the end.
 */
export async function resumableUpload(
  host: RetryHost,
  request: FtpTransferRequest & { path: string },
  controls: { onProgress?: (bytes: number) => void; signal?: AbortSignal },
  from: UploadFrom,
  restStream: () => boolean,
): Promise<TransferReport> {
  const start = request.offset ?? 0;
  const { onProgress, signal } = controls;
  // Only a STOR is continued: what an APPE added to is not known.
  const resumable = host.retry !== undefined && request.command === "STOR";
  let before: number | undefined;
  let measured = false;
  // The furthest remote byte sent, and the last attempt's source if it was never read.
  let reach = start;
  let spare: { position: number; source: ReturnType<typeof watched> } | undefined;
  let overFromZero = false;
  let ours = false;
  let failure: unknown;
  let report: TransferReport | undefined;
  await retrying(host.retry, signal, async (attempt) => {
    const transfers = await host.live();
    if (resumable && !measured) {
      before = await host.remoteSize(request.path);
      measured = true;
    }
    let position = start;
    let command = request.command;
    let rest = request.offset !== undefined;
    if (attempt > 1 && resumable) {
      const now = await host.remoteSize(request.path);
      if (overFromZero || (now !== undefined && now !== before && now > reach)) {
        // Bytes this upload did not send, or a server that cannot start elsewhere: from 0.
        position = 0;
        rest = false;
      } else if (now !== undefined && now !== before) {
        position = now;
        rest = now > 0;
      } else if (now === undefined && start > 0) {
        position = 0;
        rest = false;
      }
      if (rest && position > 0 && position === now && !restStream()) {
        // RFC 3659 leaves REST before STOR to the server; APPE adds at the end, which is here.
        command = "APPE";
        rest = false;
      }
    }
    let source: ReturnType<typeof watched> | undefined;
    if (spare && spare.position === position && !spare.source.pulled) source = spare.source;
    else if (attempt === 1 || resumable) {
      const made = from(position);
      if (made) source = watched(made);
    }
    // Not one that can be given again: the failure stands.
    if (!source) {
      throw giveUp(failure ?? new Error(`The upload of ${request.path} cannot be sent again`));
    }
    spare = { position, source };
    // A REST this side chose (not the caller's offset): a refusal starts the upload over.
    ours = attempt > 1 && rest;
    try {
      await transfers.run(
        { command, path: request.path, ...(rest ? { offset: position } : {}) },
        {
          ...(signal ? { signal } : {}),
          onProgress: (bytes) => {
            reach = Math.max(reach, position + bytes);
            onProgress?.(Math.max(0, position + bytes - start));
          },
        },
        { source },
      );
    } catch (error) {
      failure = error;
      throw error;
    }
    const last = transfers.last;
    report = {
      tls: last?.tls ?? false,
      resumed: last?.resumed ?? false,
      bytes: Math.max(0, position + (last?.bytes ?? 0) - start),
    };
  }, (error) => {
    if (!resumable || overFromZero || !ours || !restRefused(error)) return false;
    overFromZero = true;
    return true;
  });
  return report!;
}

/**
 * What an upload of `data` can send from remote byte `position` (`data` goes from `start`):
 * bytes and text from any position at or after `start`; a stream or an iterable once, from
 * `start` only (what it gave is not held).
 */
export function uploadFrom(
  data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  start: number,
): UploadFrom {
  if (typeof data === "string" || data instanceof Uint8Array) {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    return (position) =>
      position >= start ? uploadSource(bytes.subarray(position - start)) : undefined;
  }
  const once = uploadSource(data);
  let given = false;
  return (position) => (position !== start || given ? undefined : ((given = true), once));
}

/**
 * A download into `<localPath>.ftkit-part` (io/partial_file.ts), continued from its size and
 * renamed to `localPath` when whole; a failure keeps it. A partial file larger than the remote
 * file (SIZE) is not a part of it and is started over; one of its size is whole already.
 * `download(sink, already)` runs the RETR from byte `already`; `beforeCommit` checks the whole
 * partial file (and may set its times) before it takes its name.
 *
 * @returns What moved.
 */
export async function intoPartialFile(
  host: RetryHost,
  path: string,
  localPath: string,
  signal: AbortSignal | undefined,
  download: (
    sink: (chunk: Uint8Array) => Promise<void>,
    already: number,
  ) => Promise<TransferReport>,
  beforeCommit?: (part: PartialFile) => Promise<void>,
): Promise<TransferReport> {
  const part = await openPartialFile(localPath);
  try {
    if (part.size > 0) {
      const remote = await retrying(host.retry, signal, async () => {
        await host.live();
        return await host.remoteSize(path);
      });
      if (remote !== undefined && part.size > remote) await part.truncate();
      else if (remote === part.size) {
        await beforeCommit?.(part);
        await part.commit();
        return { bytes: 0, tls: false, resumed: false };
      }
    }
    const report = await download((chunk) => part.write(chunk), part.size);
    await beforeCommit?.(part);
    await part.commit();
    return report;
  } catch (error) {
    await part.keep();
    throw error;
  }
}

/**
 * A download continued in place from byte `offset` of `localPath` (which is cut there first):
 * what arrived before stays, to continue again after a failure.
 *
 * @param localPath The local file.
 * @param offset Where the download goes on.
 * @param download Runs the download into the stream given.
 */
export async function intoFileAt(
  localPath: string,
  offset: number,
  download: (destination: WritableStream<Uint8Array>) => Promise<void>,
): Promise<void> {
  const file = await open(localPath, "r+");
  let closed = false;
  let position = offset;
  const destination = new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let at = 0; at < chunk.length;) {
        const { bytesWritten } = await file.write(chunk, at, chunk.length - at, position);
        at += bytesWritten;
        position += bytesWritten;
      }
    },
    async close() {
      closed = true;
      await file.close();
    },
  });
  try {
    await file.truncate(offset);
    await download(destination);
  } finally {
    if (!closed) await file.close().catch(() => {});
  }
}
