/**
 * The FTPS client's retry policy, as pure decisions: which failures are worth another attempt
 * ({@linkcode isRetryableFtpsError}) and how long to wait before attempt `k`
 * ({@linkcode retryDelayMs}). No timers and no I/O here: the client (`_client_resume.ts`) waits,
 * reconnects and resumes.
 *
 * Retried: a connection lost, reset or refused, the end of the control connection, a timeout, a
 * protected download whose data connection ended without TLS close_notify (`FtpTruncationError`),
 * and the replies that say the failure is the connection's (RFC 959 section 4.2: 421 service
 * closing, 425 cannot open the data connection, 426 connection closed, transfer aborted), and a
 * protected data connection refused because its TLS handshake did not resume the control
 * connection's session while this side had tickets (`FtpSessionReuseError`, vsftpd's 522: a new
 * session brings new ones). Never a refused login (530), a missing file or permission (550), any
 * other permanent 5yz, nor a TLS certificate that failed verification: trying again would only
 * fail again, or worse, wear an account's lockout.
 *
 * @module
 */

import { FtpReplyError, FtpSessionReuseError } from "./reply_error.ts";
import { FtpTruncationError } from "./truncation_error.ts";

/**
 * Retrying and resuming the FTPS client's operations after a lost connection
 * ({@linkcode FtpsClientOptions.retry}). Off unless given.
 */
export interface FtpsRetryOptions {
  /** The most attempts in all, the first included (1-100): `3` tries twice more. */
  attempts: number;
  /** The wait before the second attempt, in ms (default 1000); it doubles for each next one. */
  baseDelayMs?: number;
  /** The longest wait between two attempts, in ms (default 30000). */
  maxDelayMs?: number;
  /** The random source of the jitter, in [0, 1) (default `Math.random`). */
  random?: () => number;
  /**
   * Which failures are retried (default {@linkcode isRetryableFtpsError}). An operation stopped
   * by its AbortSignal is never retried, whatever this says.
   */
  retryable?: (error: unknown) => boolean;
}

/** Reply codes retried: the connection failed, not the request (RFC 959 section 4.2). */
const RETRYABLE_REPLIES: ReadonlySet<number> = new Set([421, 425, 426]);

/** System error codes of a connection lost, reset, refused or unreachable (Node, Bun). */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTCONN",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** Deno's error classes for the same (`Deno.errors.*`), and io/timeout.ts's. */
const NETWORK_NAMES: ReadonlySet<string> = new Set([
  "ConnectionReset",
  "ConnectionRefused",
  "ConnectionAborted",
  "BrokenPipe",
  "NotConnected",
  "UnexpectedEof",
  "TimedOut",
  "TimeoutError",
]);

/** What the client's session says when the control connection ends under it. */
const LOST_CONTROL = /closed the control connection|^FTP session closed|^Session closed/;

/** A TLS verification failure (OpenSSL's codes through node:tls; rustls's words in Deno). */
const CERTIFICATE =
  /^(CERT_|ERR_TLS_CERT|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_SSL)/;
const CERTIFICATE_TEXT = /certificate|UnknownIssuer|NotValidForName/i;

/**
 * Whether `error` is worth another attempt: see the module's documentation. Walks `cause`
 * chains (at most 8 deep); a certificate failure anywhere in one is never retried.
 *
 * @example
 * ```ts
 * import { FtpReplyError, isRetryableFtpsError } from "@ftkit/ftkit/ftps";
 *
 * console.log(isRetryableFtpsError(new FtpReplyError("RETR a", { code: 426, lines: ["Cut"] })));
 * // true
 * console.log(isRetryableFtpsError(new FtpReplyError("PASS", { code: 530, lines: ["No"] })));
 * // false
 * ```
 *
 * @param error What an operation failed with.
 * @returns Whether to try again.
 */
export function isRetryableFtpsError(error: unknown): boolean {
  let retryable = false;
  let at: unknown = error;
  for (let depth = 0; depth < 8 && at instanceof Error; depth++, at = at.cause) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === "string" && CERTIFICATE.test(code)) return false;
    // Stale or used-up tickets: the next session's resume.
    if (at instanceof FtpSessionReuseError) return true;
    if (at instanceof FtpReplyError) {
      // A reply says it all: its cause, if any, is not the server's word.
      return RETRYABLE_REPLIES.has(at.code);
    }
    if (at.name === "AbortError") return false;
    // A protected download cut short at a bare FIN: the next attempt goes on from its bytes.
    if (at instanceof FtpTruncationError) return true;
    if (at.name === "InvalidData" && CERTIFICATE_TEXT.test(at.message)) return false;
    if (
      (typeof code === "string" && NETWORK_CODES.has(code)) || NETWORK_NAMES.has(at.name) ||
      LOST_CONTROL.test(at.message)
    ) retryable = true;
  }
  return retryable;
}

/**
 * The wait before attempt `attempt` (2 for the first retry): `baseDelayMs` doubled for each
 * attempt after the second, at most `maxDelayMs`, of which a random half is kept off ("equal
 * jitter": clients cut off together do not all come back at once). Always within
 * [cap / 2, cap], cap = min(maxDelayMs, baseDelayMs * 2^(attempt - 2)).
 *
 * @param options The policy.
 * @param attempt The attempt about to be made (2 or more).
 * @returns Milliseconds, a whole number.
 */
export function retryDelayMs(options: FtpsRetryOptions, attempt: number): number {
  const base = options.baseDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  const cap = Math.min(max, base * 2 ** Math.min(Math.max(attempt - 2, 0), 30));
  const drawn = (options.random ?? Math.random)();
  const random = Number.isNaN(drawn) ? 0 : Math.min(Math.max(drawn, 0), 1);
  return Math.round(cap / 2 + (cap / 2) * random);
}

/**
 * `options` checked: attempts a whole number in 1-100, delays finite and not negative.
 *
 * @param options The policy given.
 * @returns The same policy.
 * @throws RangeError naming the value refused.
 */
export function checkRetryOptions(options: FtpsRetryOptions): FtpsRetryOptions {
  const { attempts, baseDelayMs, maxDelayMs } = options;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) {
    throw new RangeError(`retry.attempts must be a whole number in 1-100, not ${attempts}`);
  }
  for (const [name, value] of [["baseDelayMs", baseDelayMs], ["maxDelayMs", maxDelayMs]]) {
    if (value !== undefined && !(Number.isFinite(value) && (value as number) >= 0)) {
      throw new RangeError(`retry.${name} must be a finite number of ms, not ${value}`);
    }
  }
  return options;
}
