// The retransmission timer of a transfer machine: the timeout in force and its backoff, the retry
// budget, the dally after the last block, and the receiver's window-stall deadline. It holds
// deadlines only; the machine's `handleTimeout(now)` fires them.

/** Retransmission timing. Every wait on the network is bounded by these. */
export interface TftpRetransmitOptions {
  /**
   * Time before the first retransmission, in ms (default 1000). A timeout negotiated with the
   * `timeout` or `utimeout` option (RFC 2349) wins, from the first reply on: a server waits that
   * long for its client's answer too, since the client waits that long before it sends a lost
   * answer again (see {@linkcode TftpTransferInit.firstReplyRetransmits}).
   */
  timeoutMs?: number;
  /** Factor applied to the timeout after each consecutive retransmission (default 2). */
  backoff?: number;
  /** Longest timeout after backoff, in ms (default 8000). */
  maxTimeoutMs?: number;
  /** Consecutive timeouts before the transfer fails (default 6). */
  retries?: number;
  /** How long the receiver of the last block stays to re-ACK a retransmitted final DATA, in ms
   * (default: twice the timeout). */
  dallyMs?: number;
  /** Receiver, windowsize above 1: when a window stops arriving part-way (its tail was lost, say
   * to a full socket buffer), ACK the last block in order after this long instead of waiting the
   * whole timeout (RFC 7440 section 4 lets the receiver ACK on a timeout of its choosing). The
   * default adapts: 8 times the usual gap between blocks of a window, at least 2 ms, at most the
   * timeout. */
  windowStallMs?: number;
}

/** The deadlines of one transfer, and the timing they are computed from. */
export class RetransmitTimer {
  /** Consecutive timeouts allowed before the transfer fails. */
  readonly retryBudget: number;
  /** Server: times the first reply may be sent again on a timeout before the client answers. */
  readonly firstReplyRetransmits: number;
  readonly #baseTimeoutMs: number;
  readonly #backoff: number;
  readonly #maxTimeoutMs: number;
  readonly #dallyMs: number | undefined;
  readonly #windowStallMs: number | undefined;

  /** When the retransmission timeout (or the end of the dally) falls due. */
  at: number | undefined;
  /** Receiver, windowed: when the window in progress counts as stalled. */
  stallAt: number | undefined;
  /** The timeout in force, in ms: the base or negotiated one, grown by backoff. */
  timeoutMs: number;
  /** Consecutive timeouts so far. */
  retries = 0;

  /**
   * Checks the timing and starts with the base timeout.
   *
   * @param retransmit The retransmission options.
   * @param firstReplyRetransmits Server: repetitions of the first reply on a timeout (default:
   * the retry budget).
   */
  constructor(retransmit: TftpRetransmitOptions = {}, firstReplyRetransmits?: number) {
    this.#baseTimeoutMs = positive("timeoutMs", retransmit.timeoutMs ?? 1000);
    this.#backoff = retransmit.backoff ?? 2;
    if (!(this.#backoff >= 1)) {
      throw new RangeError(`backoff must be 1 or more, got ${this.#backoff}`);
    }
    this.#maxTimeoutMs = positive("maxTimeoutMs", retransmit.maxTimeoutMs ?? 8000);
    this.retryBudget = retransmit.retries ?? 6;
    if (!Number.isInteger(this.retryBudget) || this.retryBudget < 0) {
      throw new RangeError(`retries must be a whole number, got ${this.retryBudget}`);
    }
    this.#dallyMs = retransmit.dallyMs;
    this.firstReplyRetransmits = firstReplyRetransmits ?? this.retryBudget;
    if (!Number.isInteger(this.firstReplyRetransmits) || this.firstReplyRetransmits < 0) {
      throw new RangeError(
        `firstReplyRetransmits must be a whole number, got ${this.firstReplyRetransmits}`,
      );
    }
    if (retransmit.windowStallMs !== undefined) {
      this.#windowStallMs = positive("windowStallMs", retransmit.windowStallMs);
    }
    this.timeoutMs = this.#baseTimeoutMs;
  }

  /** The earliest deadline, or `undefined`. */
  get next(): number | undefined {
    const stall = this.stallAt;
    if (stall === undefined) return this.at;
    return this.at === undefined || stall < this.at ? stall : this.at;
  }

  /** Sets the retransmission deadline one timeout from `now`. */
  arm(now: number): void {
    this.at = now + this.timeoutMs;
  }

  /** Goes back to the timeout negotiated (RFC 2349), or the base one, without backoff. */
  restoreTimeout(negotiatedMs: number | undefined): void {
    this.timeoutMs = negotiatedMs ?? this.#baseTimeoutMs;
  }

  /** The peer answered: no retries spent, the timeout restored, no deadline until the next send. */
  reset(negotiatedMs: number | undefined): void {
    this.retries = 0;
    this.restoreTimeout(negotiatedMs);
    this.at = undefined;
  }

  /** A timeout fired and a retry is spent on it: the next wait is longer. */
  backOff(): void {
    this.retries++;
    this.timeoutMs = Math.min(this.timeoutMs * this.#backoff, this.#maxTimeoutMs);
  }

  /** The receiver of the last block stays this long from `now` to re-ACK a repeated final DATA. */
  dally(now: number): void {
    this.at = now + (this.#dallyMs ?? 2 * this.timeoutMs);
  }

  /**
   * How long a window may pause before the receiver ACKs what it has: `windowStallMs`, or 8
   * times `blockGapMs` (the usual gap between blocks of a window) within 2 ms and the timeout.
   */
  stallMs(blockGapMs: number | undefined): number {
    if (this.#windowStallMs !== undefined) return this.#windowStallMs;
    if (blockGapMs === undefined) return Math.min(this.timeoutMs, 20);
    return Math.min(this.timeoutMs, Math.max(2, 8 * blockGapMs));
  }

  /** Clears both deadlines: the transfer is over. */
  stop(): void {
    this.at = undefined;
    this.stallAt = undefined;
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
  return value;
}
