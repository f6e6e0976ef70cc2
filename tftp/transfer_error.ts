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
 * ```ts ignore
 * import { TftpTransferError } from "@ftkit/ftkit/tftp";
 * import { tftpGet } from "@ftkit/ftkit/tftp/deno";
 *
 * try {
 *   await tftpGet({ host: "127.0.0.1", remote: "missing.bin" });
 * } catch (error) {
 *   if (error instanceof TftpTransferError && error.code === 1) console.log("not found");
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
