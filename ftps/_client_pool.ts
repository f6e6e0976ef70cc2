/**
 * Spreading jobs over connections: the client's own and up to `parallel - 1` more, each a client
 * of its own (connected and logged in with the same options, so each resumes its own TLS
 * session). A job that fails is handed to `failed` and the rest go on; a connection that no
 * longer answers (a failure that is no FTP reply, then a NOOP that fails) takes no more jobs. Every
 * connection opened here is closed here, whatever happens.
 *
 * @module
 */

import type { FtpsClient } from "./client.ts";
import { FtpReplyError } from "./reply_error.ts";

/** The most connections a pool opens. */
export const MAX_PARALLEL = 16;

/** How {@linkcode runOnPool} runs. */
export interface PoolOptions<T> {
  /** The client's own connection: the first to take jobs. */
  readonly client: FtpsClient;
  /** Opens one more connection. */
  readonly connect: () => Promise<FtpsClient>;
  /** Connections at most, 1-16. */
  readonly parallel: number;
  /** Runs one job on one connection. */
  readonly run: (connection: FtpsClient, job: T) => Promise<void>;
  /** Told of a job that failed (not because of `signal`). */
  readonly failed: (job: T, error: Error) => void;
  /** Told of a connection that could not be opened (the others go on). */
  readonly warn: (message: string) => void;
  /** Stops handing out jobs; the pool then rejects with its reason. */
  readonly signal?: AbortSignal;
}

/** Checks `parallel` (1-16 connections). */
export function checkParallel(parallel: number): void {
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > MAX_PARALLEL) {
    throw new RangeError(
      `parallel must be a whole number from 1 to ${MAX_PARALLEL}, not ${parallel}`,
    );
  }
}

/** Whether `connection` still answers (NOOP, within its reply timeout). */
async function answers(connection: FtpsClient): Promise<boolean> {
  try {
    await connection.raw("NOOP");
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `jobs` in order of their start over the pool's connections.
 *
 * @returns How many connections took jobs.
 */
export async function runOnPool<T>(jobs: readonly T[], options: PoolOptions<T>): Promise<number> {
  checkParallel(options.parallel);
  const { signal } = options;
  let next = 0;
  let working = 0;
  const opened: FtpsClient[] = [];
  const work = async (connection: FtpsClient) => {
    working++;
    while (next < jobs.length && !signal?.aborted) {
      const job = jobs[next++];
      try {
        await options.run(connection, job);
      } catch (error) {
        if (signal?.aborted) return;
        const failure = error instanceof Error ? error : new Error(String(error));
        options.failed(job, failure);
        if (!(error instanceof FtpReplyError) && !(await answers(connection))) {
          options.warn(`a connection stopped answering (${failure.message}); the others go on`);
          return;
        }
      }
    }
  };
  const workers = [work(options.client)];
  for (let i = 1; i < Math.min(options.parallel, jobs.length); i++) {
    workers.push((async () => {
      let connection: FtpsClient;
      try {
        connection = await options.connect();
      } catch (error) {
        options.warn(
          `connection ${i + 1} of ${options.parallel} could not be opened (${
            error instanceof Error ? error.message : String(error)
          }); going on with fewer`,
        );
        return;
      }
      opened.push(connection);
      await work(connection);
    })());
  }
  try {
    await Promise.all(workers);
  } finally {
    await Promise.all(opened.map((connection) => connection.close().catch(() => {})));
  }
  signal?.throwIfAborted();
  // Every connection gave up: what is left fails.
  while (next < jobs.length) options.failed(jobs[next++], new Error("no connection left"));
  return working;
}
