/**
 * Writers of the FTPS server's log ({@linkcode FtpsLogWriter}, for `serveFtps`'s `logWriters`):
 * JSON lines, one object per entry, and the classic transfer log (`xferlog(5)`) that wu-ftpd
 * defined and vsftpd (`xferlog_std_format`) and ProFTPD (`TransferLog`) write. Each writes to a
 * file, appended to, or hands its lines to a function.
 *
 * @module
 */

import type { FtpsLogEntry, FtpsLogWriter } from "./server_options.ts";
import { lineSink } from "../io/line_sink.ts";

export { LogLinesDroppedError } from "../io/line_sink.ts";

/** Where a log writer writes: a file's path (created when missing, with mode 0600, and appended
 * to), or a function that takes each line, without its line end. */
export type FtpsLogSink = string | ((line: string) => void);

/** Options of {@linkcode ftpsJsonLogWriter} and {@linkcode ftpsXferLogWriter}. */
export interface FtpsLogWriterOptions {
  /** The clock that stamps each line (default: the system's). */
  now?: () => Date;
  /** Where a failure to write the file goes: the first one (later lines are still tried), and a
   * `LogLinesDroppedError` for the lines dropped while the file fell behind. Without it,
   * `close()` rejects with the first of these. */
  onError?: (error: Error) => void;
  /** How many bytes of lines may wait for the file (default 4 MiB): a file that takes lines
   * slower than they come (a stalled disk, a flood of sessions) holds no more than this in
   * memory; the lines past it are dropped and counted. */
  maxPendingBytes?: number;
}

/** Options of {@linkcode ftpsXferLogWriter}. */
export interface FtpsXferLogOptions extends FtpsLogWriterOptions {
  /** Write the time in the local time zone, as ProFTPD does (default false: UTC, as vsftpd does
   * unless `use_localtime=YES`). */
  localTime?: boolean;
}

/**
 * A log writer that writes every entry as one line of JSON (JSON Lines): the entry's fields after
 * a `time` field (ISO 8601, UTC) for when it was written. Control characters in names come out
 * escaped, so a file name cannot forge a line.
 *
 * A file sink is opened at once (this throws when it cannot be) and written in order; `close()`
 * (the server calls it when it closes) waits for what is pending, then closes the file.
 *
 * @example
 * ```ts
 * import { ftpsJsonLogWriter } from "@ftkit/ftkit/ftps";
 *
 * const lines: string[] = [];
 * const log = ftpsJsonLogWriter((line) => lines.push(line), {
 *   now: () => new Date(Date.UTC(2026, 11, 2, 5, 40, 47)),
 * });
 * log.write({
 *   type: "delete",
 *   sessionId: "3f9a61c2-1",
 *   remoteAddress: "127.0.0.1",
 *   user: "fred",
 *   command: "DELE",
 *   path: "/incoming/old.bin",
 *   durationMs: 2,
 *   outcome: "ok",
 * });
 * await log.close();
 * console.log(lines[0]);
 * // {"time":"2026-12-02T05:40:47.000Z","type":"delete","sessionId":"3f9a61c2-1",...}
 * ```
 *
 * @param sink A file to append to, or a function that takes each line.
 * @param options The clock, and where write failures go.
 * @returns The writer, for `serveFtps`'s `logWriters`.
 * @throws {Error} When the file cannot be opened for appending (the file system's error).
 */
export function ftpsJsonLogWriter(
  sink: FtpsLogSink,
  options: FtpsLogWriterOptions = {},
): FtpsLogWriter {
  const now = options.now ?? (() => new Date());
  const lines = lineSink(sink, options.onError, options.maxPendingBytes);
  return {
    write: (entry) => lines.push(JSON.stringify({ time: now().toISOString(), ...entry })),
    close: () => lines.close(),
  };
}

/**
 * A log writer in the transfer log format of `xferlog(5)`, as vsftpd (`xferlog_std_format=YES`)
 * and ProFTPD write it: one line per file transfer (RETR, STOR, APPE, STOU; listings and file
 * operations have no place in it, and are left out), whether it completed or not:
 *
 * ```text
 * current-time transfer-time remote-host file-size filename transfer-type special-action-flag
 *   direction access-mode username service-name authentication-method authenticated-user-id
 *   completion-status
 * Wed Dec  2 05:40:47 2026 1 127.0.0.1 1024 /incoming/a_b.bin b _ i r fred ftp 0 * c
 * ```
 *
 * The time is when the transfer ended (UTC unless `localTime`), the transfer time whole seconds
 * and at least 1 (as vsftpd), the size the bytes moved on the data connection, the file name the
 * client's view of it (`/incoming/a.bin`). Spaces in the file and user names become `_`, as
 * vsftpd does, and control characters `?`, so every line has its 14 fields. Then `a` (TYPE A) or
 * `b`, `_` (no special action), `o` (sent) or `i` (received), `a` (anonymous) or `r` (a real
 * user), the user name (for the anonymous user too: vsftpd writes the password it gave), `ftp`,
 * `0` and `*` (no RFC 931 identity), `c` (complete) or `i` (incomplete).
 *
 * A file sink is opened at once (this throws when it cannot be) and written in order; `close()`
 * (the server calls it when it closes) waits for what is pending, then closes the file.
 *
 * @example
 * ```ts
 * import { ftpsXferLogWriter } from "@ftkit/ftkit/ftps";
 *
 * const lines: string[] = [];
 * const xferlog = ftpsXferLogWriter((line) => lines.push(line), {
 *   now: () => new Date(Date.UTC(2026, 11, 2, 5, 40, 47)),
 * });
 * xferlog.write({
 *   type: "transfer",
 *   sessionId: "3f9a61c2-1",
 *   remoteAddress: "127.0.0.1",
 *   user: "fred",
 *   anonymous: false,
 *   command: "STOR",
 *   path: "/incoming/a b.bin",
 *   direction: "receive",
 *   representation: "I",
 *   bytes: 1024,
 *   durationMs: 310,
 *   tls: { protocol: "TLSv1.3", resumed: true },
 *   outcome: "ok",
 * });
 * await xferlog.close();
 * console.log(lines[0]);
 * // "Wed Dec  2 05:40:47 2026 1 127.0.0.1 1024 /incoming/a_b.bin b _ i r fred ftp 0 * c"
 * ```
 *
 * @param sink A file to append to, or a function that takes each line.
 * @param options The clock, local time or UTC, and where write failures go.
 * @returns The writer, for `serveFtps`'s `logWriters`.
 * @throws {Error} When the file cannot be opened for appending (the file system's error).
 */
export function ftpsXferLogWriter(
  sink: FtpsLogSink,
  options: FtpsXferLogOptions = {},
): FtpsLogWriter {
  const now = options.now ?? (() => new Date());
  const lines = lineSink(sink, options.onError, options.maxPendingBytes);
  return {
    write: (entry) => {
      const line = xferLine(entry, now(), options.localTime ?? false);
      if (line !== undefined) lines.push(line);
    },
    close: () => lines.close(),
  };
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A time as C's `asctime` writes it, without the line end: `Wed Dec  2 05:40:47 2026`. */
function asctime(date: Date, local: boolean): string {
  // Local time: the same instant moved by the zone's offset, then read as UTC.
  const at = local ? new Date(date.getTime() - date.getTimezoneOffset() * 60_000) : date;
  const two = (value: number) => String(value).padStart(2, "0");
  const day = String(at.getUTCDate()).padStart(2, " ");
  const time = `${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())}`;
  return `${DAYS[at.getUTCDay()]} ${
    MONTHS[at.getUTCMonth()]
  } ${day} ${time} ${at.getUTCFullYear()}`;
}

/** A name as one field of a line: spaces as `_` (vsftpd's rule), control characters as `?`. */
function field(name: string): string {
  // deno-lint-ignore no-control-regex
  return name.replace(/ /g, "_").replace(/[\x00-\x1f\x7f]/g, "?") || "-";
}

/** The xferlog line of a file transfer's entry; `undefined` for any other entry. */
function xferLine(entry: FtpsLogEntry, time: Date, local: boolean): string | undefined {
  if (entry.type !== "transfer") return undefined;
  if (!["RETR", "STOR", "APPE", "STOU"].includes(entry.command)) return undefined;
  return [
    asctime(time, local),
    Math.max(1, Math.round(entry.durationMs / 1000)),
    entry.remoteAddress,
    entry.bytes,
    field(entry.path),
    entry.representation === "A" ? "a" : "b",
    "_",
    entry.direction === "send" ? "o" : "i",
    entry.anonymous ? "a" : "r",
    field(entry.user ?? ""),
    "ftp",
    "0",
    "*",
    entry.outcome === "ok" ? "c" : "i",
  ].join(" ");
}
