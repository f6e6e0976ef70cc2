/**
 * The FTP server's listings: LIST, NLST and MLSD over the data connection, MLST and STAT on the
 * control connection, and OPTS MLST's choice of facts (RFC 959 section 4.1.3, RFC 3659
 * section 7).
 *
 * @module
 */

import { formatFtpFacts, formatFtpListLine, formatFtpTime } from "../codec/mod.ts";
import { resolveFtpPath } from "./path.ts";
import type { FtpStorageEntry, FtpStorageStat } from "./storage.ts";
import { MLST_FACTS, type ServerState, storageRefusal } from "./_server_session_state.ts";
import { takeDataConnection } from "./_server_session_data.ts";
import { permFact } from "./_server_session_permissions.ts";

/** A LIST or STAT argument less the `ls` options clients put first (`-la`). */
function withoutLsOptions(argument: string): string {
  return argument.replace(/^\s*(-[a-zA-Z]+\s*)+/, "");
}

/**
 * LIST, NLST or MLSD: a directory's listing (or a file's, but for MLSD) as the data of a
 * transfer.
 *
 * @param s The session.
 * @param verb Which listing.
 * @param argument The path, with `ls` options for LIST and NLST.
 */
export function listing(s: ServerState, verb: "LIST" | "NLST" | "MLSD", argument: string): void {
  const transfer = takeDataConnection(s, verb);
  if (!transfer) return;
  // `LIST -la` and such: ls options, which the listing does not need.
  const target = verb === "MLSD" ? argument : withoutLsOptions(argument);
  const path = resolveFtpPath(s.cwd, target);
  listEntries(s, path, verb === "MLSD", (directory, entries, wallClock) => {
    const lines = listingLines(s, verb, directory, entries, wallClock);
    const bytes = new TextEncoder().encode(lines.map((line) => `${line}\r\n`).join(""));
    transfer.start("send", path, `Here comes the directory listing.`, "", bytes);
  }, transfer.refuse);
}

/** Lists a directory, or a file as a listing of one (its directory: the file's parent);
 * `directoryOnly` refuses a file (MLSD). */
function listEntries(
  s: ServerState,
  path: string,
  directoryOnly: boolean,
  done: (
    directory: string,
    entries: readonly FtpStorageEntry[],
    wallClock: Date | undefined,
  ) => void,
  refuse: (code: number, text: string) => void,
): void {
  s.storage({ op: "stat", path }, (result) => {
    if (!result.ok) return refuse(...storageRefusal(result, "No such directory."));
    const stat = result.stat;
    if (!stat) return refuse(550, "No such directory.");
    if (stat.type !== "dir") {
      // RFC 3659 section 7.2.1: MLSD of anything but a directory is a 501.
      if (directoryOnly) return refuse(501, "Not a directory.");
      const slash = path.lastIndexOf("/");
      return done(
        path.slice(0, slash) || "/",
        [{ ...stat, name: path.slice(slash + 1) }],
        undefined,
      );
    }
    s.storage({ op: "list", path }, (listed) => {
      if (!listed.ok) return refuse(...storageRefusal(listed, "Cannot list."));
      done(path, listed.entries ?? [], listed.now);
    });
  });
}

/** The lines of a listing (LIST, NLST or MLSD) of `directory`, without their ends. */
function listingLines(
  s: ServerState,
  verb: "LIST" | "NLST" | "MLSD",
  directory: string,
  entries: readonly FtpStorageEntry[],
  wallClock: Date | undefined,
): string[] {
  const lines: string[] = [];
  // Without a clock, a date far in the future: every entry shows its year.
  const now = wallClock ?? new Date(8.64e15);
  for (const entry of entries) {
    // A name that cannot be written on one line is left out, never sent broken.
    if (/[\r\n\0/]/.test(entry.name) || entry.name === "") continue;
    if (verb === "NLST") lines.push(entry.name);
    else if (verb === "LIST") lines.push(formatFtpListLine(entry, now));
    else {
      const path = directory === "/" ? `/${entry.name}` : `${directory}/${entry.name}`;
      lines.push(formatFtpFacts({ name: entry.name, facts: facts(s, entry, path) }));
    }
  }
  return lines;
}

/** A `unique` fact's value as RFC 3659 section 7.5.2 allows it: a token (section 2.1's RCHAR:
 * letters, digits and ,.:!@#$%^&()-_+?/\'"), here at most 64 of them. */
const UNIQUE_TOKEN = /^[A-Za-z0-9,.:!@#$%^&()\-_+?/\\'"]{1,64}$/;

/** The facts of an entry at `path` that OPTS MLST selected (RFC 3659 section 7.9). */
function facts(s: ServerState, stat: FtpStorageStat, path: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const fact of s.mlstFacts) {
    if (fact === "type") {
      facts.type = stat.type === "dir"
        ? "dir"
        : stat.type === "file"
        ? "file"
        : stat.type === "link"
        ? "OS.unix=symlink"
        : "OS.unix=special";
    } else if (fact === "size") {
      facts.size = String(stat.size);
    } else if (fact === "modify") {
      facts.modify = formatFtpTime(stat.modified);
    } else if (fact === "perm") {
      facts.perm = permFact(s.permissions(path, stat.type));
    } else if (stat.unique !== undefined && UNIQUE_TOKEN.test(stat.unique)) {
      // A storage that gives no identifier, or one that cannot be a token, gives no fact.
      facts.unique = stat.unique;
    }
  }
  return facts;
}

/**
 * The MLST feature line of FEAT: every fact offered, a `*` on those selected (RFC 3659
 * section 7.8).
 *
 * @param s The session.
 * @returns The feature's parameters.
 */
export function mlstFeature(s: ServerState): string {
  return MLST_FACTS.map((fact) => `${fact}${s.mlstFacts.includes(fact) ? "*" : ""};`).join("");
}

/**
 * OPTS MLST: the facts wanted, of those offered; unknown ones are dropped (RFC 3659
 * section 7.9).
 *
 * @param s The session.
 * @param argument The facts, `;`-separated.
 */
export function optsMlst(s: ServerState, argument: string): void {
  const wanted = argument.trim().toLowerCase().split(";");
  s.mlstFacts = MLST_FACTS.filter((fact) => wanted.includes(fact));
  s.reply(200, `MLST OPTS ${s.mlstFacts.map((fact) => `${fact};`).join("")}`);
}

/**
 * MLST: one entry's facts, on the control connection (RFC 3659 section 7.2).
 *
 * @param s The session.
 * @param argument The path.
 */
export function mlst(s: ServerState, argument: string): void {
  const path = resolveFtpPath(s.cwd, argument);
  s.storage({ op: "stat", path }, (result) => {
    if (!result.ok) return s.refused(result);
    if (!result.stat) return s.reply(550, "No such file.");
    // One entry, on a line that starts with a space.
    const entry = formatFtpFacts({ name: path, facts: facts(s, result.stat, path) });
    s.reply(250, [`Listing ${path}`, ` ${entry}`, "End"]);
  });
}

/**
 * STAT: the session's status (the transfer's, during one), or a path's listing on the control
 * connection (RFC 959 section 4.1.3).
 *
 * @param s The session.
 * @param argument The path, if any, with `ls` options.
 */
export function stat(s: ServerState, argument: string): void {
  if (argument.trim() === "") {
    if (s.transfer) return s.reply(213, `Transfer in progress (${s.transfer.verb}).`);
    return s.reply(211, [
      "ftkit FTP server status:",
      ` Logged in as ${s.user}`,
      ` TYPE: ${s.type === "I" ? "BINARY" : "ASCII"}`,
      ` Control connection: ${s.protected ? "TLS" : "plain"}`,
      ` Data protection: ${s.prot === "P" ? "private" : "clear"}`,
      "End of status",
    ]);
  }
  const path = resolveFtpPath(s.cwd, withoutLsOptions(argument));
  listEntries(s, path, false, (directory, entries, wallClock) => {
    const lines = listingLines(s, "LIST", directory, entries, wallClock);
    s.reply(213, [`Status of ${path}:`, ...lines, "End of status"]);
  }, (code, text) => s.reply(code, text));
}
