/**
 * Bandwidth limits as token buckets: pure (each call takes `now`), so a driver decides how long to
 * pause and a test can check the arithmetic without a clock. A transfer takes its bytes from every
 * bucket that applies to it (its user's, the server's) and pauses as long as the slowest says.
 *
 * @module
 */

/**
 * One rate limit: `rate` bytes per second on average, with bursts of up to `burst` bytes after a
 * quiet time. Bytes are taken first and paid for after: a take that empties the bucket leaves it
 * in debt, and the wait it returns is how long until the debt is paid off. Concurrent takers
 * share the rate: each pays the debt the others left.
 */
export class TokenBucket {
  /** Bytes per second. */
  readonly rate: number;
  /** The most bytes that may go at once after a quiet time. */
  readonly burst: number;
  #tokens: number;
  #at: number | undefined;

  /**
   * @param rate Bytes per second (a positive, finite number).
   * @param burst Bytes that may go at once after a quiet time (default: a quarter second's worth,
   * at least 16 KiB).
   */
  constructor(rate: number, burst: number = Math.max(16_384, rate / 4)) {
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(`A rate is a positive number of bytes per second, not ${rate}`);
    }
    if (!(burst > 0) || !Number.isFinite(burst)) {
      throw new RangeError(`A burst is a positive number of bytes, not ${burst}`);
    }
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
  }

  /**
   * Takes `bytes` at `now` and says how long to wait before the next bytes may go.
   *
   * @param bytes Bytes moved (or about to move).
   * @param now The current time in ms.
   * @returns The pause in ms (0 when the bucket still holds tokens).
   */
  take(bytes: number, now: number): number {
    this.#refill(now);
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.rate) * 1000;
  }

  /**
   * The tokens the bucket holds at `now` (negative while in debt).
   *
   * @param now The current time in ms.
   * @returns The tokens.
   */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /**
   * Takes `amount` at `now` only if the bucket holds that much (no debt): for counting events
   * (log records, answers) where one over the budget is skipped, not delayed.
   *
   * @param amount Tokens to take.
   * @param now The current time in ms.
   * @returns Whether they were taken.
   */
  tryTake(amount: number, now: number): boolean {
    if (this.available(now) < amount) return false;
    this.#tokens -= amount;
    return true;
  }

  #refill(now: number): void {
    if (this.#at !== undefined && now > this.#at) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    }
    if (this.#at === undefined || now > this.#at) this.#at = now;
  }
}

/**
 * Takes `bytes` from each bucket at `now`.
 *
 * @param buckets The limits that apply (none: no limit).
 * @param bytes Bytes moved.
 * @param now The current time in ms.
 * @returns The pause in ms that satisfies them all: the longest.
 */
export function takeFromAll(
  buckets: readonly TokenBucket[],
  bytes: number,
  now: number,
): number {
  let wait = 0;
  for (const bucket of buckets) wait = Math.max(wait, bucket.take(bytes, now));
  return wait;
}

/**
 * The largest piece of a write that keeps each pause short: a quarter second at the slowest rate
 * (at least 1 KiB), so that a slow limit paces a large buffer in small steps rather than one long
 * pause.
 *
 * @param buckets The limits that apply.
 * @returns Bytes per piece (`Infinity` without limits).
 */
export function pieceSize(buckets: readonly TokenBucket[]): number {
  let slowest = Infinity;
  for (const bucket of buckets) slowest = Math.min(slowest, bucket.rate);
  return slowest === Infinity ? Infinity : Math.max(1024, Math.floor(slowest / 4));
}
