import { FtpCodecError } from "./ftp_error.ts";

/** One entry of a LIST reply, in whichever format the server wrote it. */
export interface FtpListEntry {
  /** The name (for a link, without ` -> target`). */
  readonly name: string;
  /** What it is. */
  readonly type: "file" | "dir" | "link" | "other";
  /** Size in bytes, when the line says. */
  readonly size?: number;
  /** A link's target (Unix format). */
  readonly target?: string;
  /** The permission string (`rwxr-xr-x`; Unix format). */
  readonly permissions?: string;
  /** When it was modified, as far as the line says: Unix lines of the last six months give no
   * year (`year` is then undefined), older ones give no time of day. */
  readonly modified: {
    readonly year?: number;
    readonly month: number;
    readonly day: number;
    readonly hour?: number;
    readonly minute?: number;
  };
  /** The format the line was in. */
  readonly format: "unix" | "dos";
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

// drwxr-xr-x  2 owner group  4096 Nov 23 10:34 name   (owner/group may be missing, as on some
// servers; the group may hold spaces on none we know).
const UNIX =
  /^([-dlbcps])([-rwxsStTl]{9})[.+@]?\s+(\d+\s+)?(?:(\S+)\s+)?(?:(\S+)\s+)?(\d+)\s+([A-Za-z]{3})\s+(\d{1,2})\s+(?:(\d{1,2}):(\d{2})|(\d{4}))\s(.*)$/;
// 11-23-26  10:34AM       <DIR>          name   /   2026-11-23  10:34       1234 name
const DOS =
  /^(\d{1,4})[-/](\d{1,2})[-/](\d{1,4})\s+(\d{1,2}):(\d{2})\s*([AaPp][Mm])?\s+(<DIR>|\d+)\s+(.+)$/;

/**
 * Reads one line of a LIST reply: Unix `ls -l` style (vsftpd, ProFTPD, pyftpdlib, Pure-FTPd,
 * FileZilla Server) or DOS style (IIS). Returns `undefined` for lines that carry no entry, such
 * as `total 12`.
 *
 * @example
 * ```ts
 * import { parseFtpListLine } from "@ftkit/ftkit/codec";
 *
 * const entry = parseFtpListLine("-rw-r--r--    1 1000     1000         1234 Nov 23 10:34 boot.cfg");
 * console.log(entry?.name, entry?.type, entry?.size); // "boot.cfg" "file" 1234
 * ```
 *
 * @param line One line of the listing, without its end.
 * @returns The entry, or `undefined` for a line without one.
 * @throws {FtpCodecError} `malformed-listing` for a line in no known format.
 */
export function parseFtpListLine(line: string): FtpListEntry | undefined {
  if (line.trim() === "" || /^total\s+\d+/i.test(line)) return undefined;
  const unix = UNIX.exec(line);
  if (unix) {
    const [, kind, permissions, , , , size, monthName, day, hour, minute, year, rest] = unix;
    const month = MONTHS.indexOf(monthName.toLowerCase()) + 1;
    if (month === 0) throw new FtpCodecError("malformed-listing", 0, `Unknown month ${monthName}`);
    const type = kind === "d" ? "dir" : kind === "-" ? "file" : kind === "l" ? "link" : "other";
    const arrow = type === "link" ? rest.indexOf(" -> ") : -1;
    return {
      name: arrow === -1 ? rest : rest.slice(0, arrow),
      type,
      size: Number(size),
      ...(arrow === -1 ? {} : { target: rest.slice(arrow + 4) }),
      permissions,
      modified: year
        ? { year: Number(year), month, day: Number(day) }
        : { month, day: Number(day), hour: Number(hour), minute: Number(minute) },
      format: "unix",
    };
  }
  const dos = DOS.exec(line);
  if (dos) {
    const [, a, b, c, hourText, minute, meridiem, sizeOrDir, name] = dos;
    // MM-DD-YY (IIS default) or YYYY-MM-DD (IIS with four-digit years).
    const [year, month, day] = a.length === 4 ? [a, b, c].map(Number) : [c, a, b].map(Number);
    let hour = Number(hourText) % (meridiem ? 12 : 24);
    if (meridiem?.toUpperCase() === "PM") hour += 12;
    const isDir = sizeOrDir === "<DIR>";
    return {
      name,
      type: isDir ? "dir" : "file",
      ...(isDir ? {} : { size: Number(sizeOrDir) }),
      modified: {
        year: year < 100 ? (year < 70 ? 2000 + year : 1900 + year) : year,
        month,
        day,
        hour,
        minute: Number(minute),
      },
      format: "dos",
    };
  }
  throw new FtpCodecError("malformed-listing", 0, `Not a listing line: "${line.slice(0, 60)}"`);
}

/** What {@linkcode formatFtpListLine} writes about one file. */
export interface FtpListLineInput {
  /** The name (no CR, LF or NUL). */
  readonly name: string;
  /** What it is. */
  readonly type: "file" | "dir" | "link" | "other";
  /** Size in bytes. */
  readonly size: number;
  /** When it was last modified. */
  readonly modified: Date;
  /** The permission string (default `rw-r--r--`, or `rwxr-xr-x` for a directory). */
  readonly permissions?: string;
  /** A link's target. */
  readonly target?: string;
}

const SIX_MONTHS_MS = 182 * 24 * 60 * 60 * 1000;

/**
 * Writes one LIST line in Unix `ls -l` style, as vsftpd does, so that every client's parser
 * reads it. Times are UTC; a time more than six months from `now` shows the year instead of the
 * time of day, as `ls` does.
 *
 * @example
 * ```ts
 * import { formatFtpListLine } from "@ftkit/ftkit/codec";
 *
 * const line = formatFtpListLine({
 *   name: "boot.cfg",
 *   type: "file",
 *   size: 1234,
 *   modified: new Date("2026-11-23T10:34:00Z"),
 * }, new Date("2026-11-24T00:00:00Z"));
 * console.log(line); // "-rw-r--r--    1 ftp      ftp          1234 Nov 23 10:34 boot.cfg"
 * ```
 *
 * @param entry The file.
 * @param now The current time, for the six-month rule.
 * @returns The line, without its end.
 * @throws {FtpCodecError} `forbidden-character` when the name or target holds CR, LF or NUL.
 * @throws {RangeError} For permissions other than nine of `rwx-sStT`, or a size that is not a
 * whole number of bytes.
 */
export function formatFtpListLine(entry: FtpListLineInput, now: Date): string {
  for (const text of [entry.name, entry.target ?? ""]) {
    const at = text.search(/[\r\n\0]/);
    if (at !== -1) throw new FtpCodecError("forbidden-character", at, "CR, LF or NUL in a name");
  }
  const kind = entry.type === "dir" ? "d" : entry.type === "link" ? "l" : "-";
  const permissions = entry.permissions ?? (entry.type === "dir" ? "rwxr-xr-x" : "rw-r--r--");
  if (!/^[-rwxsStT]{9}$/.test(permissions)) {
    throw new RangeError(`Permissions are nine of rwx-sStT, got "${permissions}"`);
  }
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) {
    throw new RangeError(`A size is a whole number of bytes, got ${entry.size}`);
  }
  const time = entry.modified;
  const month = MONTHS[time.getUTCMonth()];
  const label = `${month[0].toUpperCase()}${month.slice(1)} ${
    String(time.getUTCDate()).padStart(2)
  }`;
  const recent = Math.abs(now.getTime() - time.getTime()) < SIX_MONTHS_MS;
  const clock = recent
    ? `${String(time.getUTCHours()).padStart(2, "0")}:${
      String(time.getUTCMinutes()).padStart(2, "0")
    }`
    : ` ${time.getUTCFullYear()}`;
  const name = entry.type === "link" && entry.target !== undefined
    ? `${entry.name} -> ${entry.target}`
    : entry.name;
  const links = entry.type === "dir" ? 2 : 1;
  return `${kind}${permissions} ${String(links).padStart(4)} ftp      ftp      ${
    String(entry.size).padStart(8)
  } ${label} ${clock} ${name}`;
}
