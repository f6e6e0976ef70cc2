/**
 * Time bounds for the drivers of both protocols: a promise raced against a timer, a pause, and a
 * watchdog that fails a transfer once nothing moved for a while. Timers are the drivers' business;
 * the machines take `now` and never hold one.
 *
 * @module
 */

/** A step did not finish in its time. */
export class TimeoutError extends Error {
  /** @param message What did not finish, and in how long. */
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

/**
 * Resolves or rejects as `promise` does, or rejects with a {@linkcode TimeoutError} carrying
 * `message` once `ms` pass first (and then runs `onTimeout`, e.g. to close what came too late).
 * The timer is cleared either way.
 */
export function within<T>(
  promise: Promise<T>,
  ms: number,
  message: string,
  onTimeout?: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new TimeoutError(message));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Lets the process exit while `timer` is pending: Node's and Bun's timers are objects with
 * `unref()`, Deno's are numbers it unrefs with `Deno.unrefTimer`.
 */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) {
    (timer as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno;
  if (typeof timer === "number") deno?.unrefTimer?.(timer);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/** A transfer's watchdog: see {@linkcode idleGuard}. */
export interface IdleGuard {
  /** Something moved. */
  touch(): void;
  /** `step`, or a rejection once nothing moved for the guard's time (`step` is left to settle
   * on its own, its outcome unread). */
  within<T>(step: Promise<T>): Promise<T>;
  /** Ends the watch. */
  stop(): void;
}

/**
 * Watches a transfer: once nothing moved for `ms`, the step it waits on fails with a
 * {@linkcode TimeoutError}, "nothing moved". The connection is not touched: how to drop it (a reset, or ABOR first for an upload)
 * is the caller's choice.
 */
export function idleGuard(ms: number, what = "Data"): IdleGuard {
  const now = (): number => performance.now();
  let last = now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stalled: TimeoutError | undefined;
  // The steps waited on now, each by its own promise. Not one promise raced by every step: each
  // race would leave a reaction on it that holds the step's result (a chunk read) until the
  // guard goes, and a transfer would keep every byte it moved in memory.
  const waiting = new Set<(error: Error) => void>();
  const check = () => {
    const quiet = now() - last;
    if (quiet < ms) {
      timer = setTimeout(check, ms - quiet);
      return;
    }
    stalled = new TimeoutError(`${what}: nothing moved for ${ms} ms`);
    for (const fail of waiting) fail(stalled);
    waiting.clear();
  };
  timer = setTimeout(check, ms);
  return {
    touch: () => void (last = now()),
    within: <T>(step: Promise<T>) => {
      step.catch(() => {}); // Its failure after a stall is not news.
      if (stalled) return Promise.reject(stalled);
      return new Promise<T>((resolve, reject) => {
        waiting.add(reject);
        step.then(
          (value) => (waiting.delete(reject), resolve(value)),
          (error) => (waiting.delete(reject), reject(error)),
        );
      });
    },
    stop: () => clearTimeout(timer),
  };
}
