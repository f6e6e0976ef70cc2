/**
 * The FTPS client's error for a protected download whose data connection ended without TLS
 * close_notify ({@linkcode FtpTruncationError}): what came may be only part of the data.
 *
 * @module
 */

/**
 * A download (RETR) or a listing over TLS whose data connection ended with a bare TCP FIN, no TLS
 * close_notify before it, and could not be shown whole (a RETR whose bytes are not the file's
 * SIZE): an attacker or a broken middlebox may have cut it short (RFC 4217 sections 12.6 and
 * 12.7, RFC 8446 section 6.1). Nothing is delivered as whole: `getFile` leaves the local file as
 * it was. The retry policy retries it ({@linkcode isRetryableFtpsError}): a download goes on from
 * the bytes it had (REST). For a server that never sends close_notify, see
 * `FtpsClientOptions.requireCloseNotify`.
 *
 * @example
 * ```ts
 * import { FtpTruncationError, isRetryableFtpsError } from "@ftkit/ftkit/ftps";
 *
 * const error = new FtpTruncationError("RETR fw.bin", 98304, 3150049);
 * console.log(error.name, error.received, isRetryableFtpsError(error));
 * // "FtpTruncationError" 98304 true
 * ```
 */
export class FtpTruncationError extends Error {
  /** The command whose data connection it was (`"RETR fw.bin"`, `"MLSD"`). */
  readonly command: string;
  /** The bytes received on it. */
  readonly received: number;
  /** The bytes expected (the file's SIZE, less the offset), when the server said. */
  readonly expected?: number;

  /**
   * Makes the error.
   *
   * @param command The command whose data connection it was.
   * @param received The bytes received.
   * @param expected The bytes expected, if known.
   */
  constructor(command: string, received: number, expected?: number) {
    super(
      `${command}: the data connection ended without TLS close_notify after ${received} ` +
        `bytes${expected !== undefined ? ` of ${expected}` : ""}: the ` +
        `${command.startsWith("RETR") ? "download" : "listing"} may be truncated (RFC 4217 ` +
        "section 12.7). For a server that never sends close_notify: requireCloseNotify: false",
    );
    this.name = "FtpTruncationError";
    this.command = command;
    this.received = received;
    if (expected !== undefined) this.expected = expected;
  }
}
