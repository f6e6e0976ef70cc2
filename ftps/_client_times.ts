/**
 * The FTPS client's kept modification times: setting a remote file's time after an upload, with
 * what servers offer. MFMT (draft-somers-ftp-mfxx-04 section 3) when FEAT lists it (ProFTPD,
 * Pure-FTPd, pyftpdlib, ftkit; read back with MDTM when its reply does not say the time set); else `SITE UTIME` when FEAT's SITE lists UTIME (ProFTPD's
 * mod_site_misc); else MDTM with a time before the path, which vsftpd takes as a change
 * (`mdtm_write`, on by default) and no RFC defines. The last two are checked by reading the time
 * back with MDTM (RFC 3659 section 3): a server that read `MDTM <time> <path>` as a question about
 * a file of that name must not pass for one that set the time.
 *
 * @module
 */

import { formatFtpTime, type FtpReply, ftpReplyText, parseFtpTime } from "../codec/mod.ts";
import { FtpUnsupportedError } from "./checksum_error.ts";
import { FtpReplyError } from "./reply_error.ts";

/** How the time setting reaches the server. */
export interface TimePeer {
  /** Sends a command and gives its positive reply (a negative one rejects with FtpReplyError). */
  readonly raw: (verb: string, argument?: string) => Promise<FtpReply>;
  /** The server's features (FEAT). */
  readonly features: ReadonlyMap<string, string>;
}

/** How a remote file's time was set. */
export type SetTimeMethod = "MFMT" | "SITE UTIME" | "MDTM";

/**
 * `time` to the whole second below it: MDTM gives no more, and many servers take no fraction.
 *
 * @param time A time.
 * @returns The time, without its milliseconds.
 */
export function wholeSecond(time: Date): Date {
  return new Date(Math.floor(time.getTime() / 1000) * 1000);
}

/**
 * Throws unless `time` can be written as RFC 3659 section 2.3's time value (years 1 to 9999).
 *
 * @param time A time.
 * @throws {RangeError} For an invalid date or one out of range.
 */
export function checkTime(time: Date): void {
  const year = time.getUTCFullYear();
  if (Number.isNaN(time.getTime()) || year < 1 || year > 9999) {
    throw new RangeError(`Not a time a server can be given: ${String(time)}`);
  }
}

/**
 * Reads a positive reply to MFMT: the time set, when it says it as draft-somers-ftp-mfxx-04
 * section 3 has it (`213 Modify=<time>; <path>`); Pure-FTPd answers `213 UTIME OK.`, which does
 * not (the time is then read back).
 *
 * @param command The command line, for errors.
 * @param reply The reply.
 * @returns The time the server says it set, if it says.
 * @throws {FtpReplyError} For a reply other than 213, or a `Modify=` that is no time.
 */
export function mfmtReplyTime(command: string, reply: FtpReply): Date | undefined {
  const text = (reply.lines.at(-1) ?? "").trim();
  const match = /^Modify=([^;]*);/i.exec(text);
  if (reply.code === 213 && !match) return undefined;
  if (reply.code === 213 && match) {
    try {
      return parseFtpTime(match[1]);
    } catch {
      // Not a time: the error below.
    }
  }
  throw new FtpReplyError(command, reply, "Not MFMT's 213 Modify=<time>; <path>");
}

/**
 * Whether a reply to `MDTM <time> <path>` says the time was set rather than give a time: vsftpd
 * answers `213 File modification time set.`; a server that read it as a question about a file named
 * `<time> <path>` answers with that file's time (or 550).
 *
 * @param reply The positive reply.
 * @returns Whether it is no time value.
 */
export function mdtmWriteAccepted(reply: FtpReply): boolean {
  try {
    parseFtpTime(ftpReplyText(reply).trim());
    return false;
  } catch {
    return true;
  }
}

/**
 * Sets a remote file's modification time to `time` (to the whole second), by the first way the
 * server offers (see the module's documentation).
 *
 * @param peer The server.
 * @param path The file.
 * @param time The time.
 * @returns How it was set.
 * @throws {FtpUnsupportedError} When the server offers no way, or its way did not set the time.
 */
export async function setRemoteTime(
  peer: TimePeer,
  path: string,
  time: Date,
): Promise<SetTimeMethod> {
  checkTime(time);
  const when = wholeSecond(time);
  const value = formatFtpTime(when);
  if (peer.features.has("MFMT")) {
    const command = `MFMT ${value} ${path}`;
    const said = mfmtReplyTime(command, await peer.raw("MFMT", `${value} ${path}`));
    const set = said ?? await lastModified(peer, path);
    if (wholeSecond(set).getTime() !== when.getTime()) {
      throw new FtpUnsupportedError(
        "set-time",
        `${command}: the server set ${set.toISOString()}, not ${when.toISOString()}`,
      );
    }
    return "MFMT";
  }
  const tried: string[] = [];
  const site = (peer.features.get("SITE") ?? "").toUpperCase().split(/[\s;,]+/);
  if (site.includes("UTIME")) {
    // ProFTPD's five-argument form names its time zone; the two-argument one takes the server's.
    const argument = `UTIME ${path} ${value} ${value} ${value} UTC`;
    if (await attempt(peer, "SITE", argument, tried, () => true, path, when)) return "SITE UTIME";
  }
  if (await attempt(peer, "MDTM", `${value} ${path}`, tried, mdtmWriteAccepted, path, when)) {
    return "MDTM";
  }
  throw new FtpUnsupportedError(
    "set-time",
    `Cannot set the modification time of ${path}: the server has no MFMT in FEAT, and ` +
      tried.join("; "),
  );
}

/** Tries one way of setting the time, and reads it back; false (and why, in `tried`) when it
 * did not set it. Errors other than the server's refusals are thrown. */
async function attempt(
  peer: TimePeer,
  verb: string,
  argument: string,
  tried: string[],
  accepted: (reply: FtpReply) => boolean,
  path: string,
  when: Date,
): Promise<boolean> {
  let reply: FtpReply;
  try {
    reply = await peer.raw(verb, argument);
  } catch (error) {
    if (!(error instanceof FtpReplyError)) throw error;
    tried.push(error.message);
    return false;
  }
  const line = `${verb} ${argument}: ${reply.code} ${ftpReplyText(reply).trim()}`;
  if (!accepted(reply)) {
    tried.push(`${line} (a time, not a change)`);
    return false;
  }
  const now = await lastModified(peer, path);
  if (now.getTime() === when.getTime()) return true;
  tried.push(`${line}, yet MDTM then says ${formatFtpTime(now)}`);
  return false;
}

/** MDTM (RFC 3659 section 3). */
async function lastModified(peer: TimePeer, path: string): Promise<Date> {
  return parseFtpTime(ftpReplyText(await peer.raw("MDTM", path)).trim());
}
