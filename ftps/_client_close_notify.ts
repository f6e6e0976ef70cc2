/**
 * The end of a protected download's data connection, checked: under TLS a data connection ends
 * with close_notify, then FIN (RFC 4217 sections 12.6 and 12.7); a FIN alone may be a truncation
 * (RFC 8446 section 6.1), even when the server answered 226 for what it sent. A RETR whose bytes
 * are the file's size (SIZE, RFC 3659 section 4, asked in that case only; the client transfers
 * in binary, TYPE I) is whole all the same: some servers close without close_notify. Anything
 * else fails with {@linkcode FtpTruncationError}.
 *
 * @module
 */

import { FtpCodecError, ftpReplyText, parseFtpNumber } from "../codec/mod.ts";
import type { ClientControl } from "./_client_control.ts";
import type { FtpTransferRequest } from "./client_session.ts";
import { FtpReplyError } from "./reply_error.ts";
import { FtpTruncationError } from "./truncation_error.ts";

/** How a download's data connection ended, as its job saw it. */
export interface DownloadEnd {
  /** Whether the data connection was TLS. */
  readonly tls: boolean;
  /** The transport's word on its end (`undefined`: it cannot tell). */
  readonly closeNotified: boolean | undefined;
  /** The bytes received on it. */
  readonly bytes: number;
}

/**
 * Resolves when the download `request`, answered as complete, is whole; rejects with
 * {@linkcode FtpTruncationError} when its TLS data connection ended without close_notify and its
 * bytes are not shown to be the file's (a listing never can be).
 */
export async function confirmDownloadEnd(
  control: ClientControl,
  request: FtpTransferRequest,
  end: DownloadEnd,
  requireCloseNotify: boolean,
): Promise<void> {
  if (!requireCloseNotify || !end.tls || end.closeNotified !== false) return;
  const path = request.path;
  const command = path !== undefined ? `${request.command} ${path}` : request.command;
  if (request.command !== "RETR" || path === undefined) {
    throw new FtpTruncationError(command, end.bytes);
  }
  let expected: number | undefined;
  try {
    const reply = await control.operation((session, at) => session.command(at, "SIZE", path));
    const size = parseFtpNumber(ftpReplyText(reply).trim());
    expected = Math.max(0, size - (request.offset ?? 0));
  } catch (error) {
    // No SIZE for it (or an answer that is no number): the end stays unproven.
    if (!(error instanceof FtpReplyError) && !(error instanceof FtpCodecError)) throw error;
  }
  if (expected !== end.bytes) throw new FtpTruncationError(command, end.bytes, expected);
}
