/**
 * The error the TFTP client functions throw when a transfer fails.
 *
 * @module
 */

import type { TftpFailureReason, TftpTransferStats } from "./transfer.ts";

/**
 * A failed transfer: why, the TFTP error code sent or received, and the counters.
 *
 * @example
 * ```ts
 * import { serveTftp, tftpGet, TftpTransferError } from "@ftkit/ftkit";
 *
 * // A server with nothing to read: every read is refused with ERROR 2 (access violation).
 * await using server = await serveTftp({ host: "127.0.0.1", port: 0, handler: {} });
 * try {
 *   await tftpGet({ host: "127.0.0.1", port: server.address.port, remote: "missing.bin" });
 * } catch (error) {
 *   if (error instanceof TftpTransferError) console.log(error.reason, error.code); // "peer-error" 2
 * }
 * ```
 */
export class TftpTransferError extends Error {
  /** Why it failed. */
  readonly reason: TftpFailureReason;
  /** The TFTP error code (from the peer's ERROR, or the one sent). */
  readonly code: number;
  /** The counters at the end. */
  readonly stats: TftpTransferStats;

  /**
   * Makes the error.
   *
   * @param reason Why it failed.
   * @param code The TFTP error code.
   * @param message What happened.
   * @param stats The counters.
   */
  constructor(reason: TftpFailureReason, code: number, message: string, stats: TftpTransferStats) {
    super(message);
    this.name = "TftpTransferError";
    this.reason = reason;
    this.code = code;
    this.stats = stats;
  }
}
