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
 * transfer. The storage is asked for it `paged`: a driver whose storage lists a page at a time
 * answers with the first page and `more`, and the transfer gets, besides that page's bytes, the
 * formatter of the pages that follow.
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
  listEntries(s, path, verb === "MLSD", true, (directory, entries, wallClock, more) => {
    const format = listingFormat(s, verb, directory, wallClock);
    transfer.start("send", path, `Here comes the directory listing.`, "", {
      bytes: format(entries),
      ...(more ? { format } : {}),
    });
  }, transfer.refuse);
}

/** Lists a directory, or a file as a listing of one (its directory: the file's parent);
 * `directoryOnly` refuses a file (MLSD); `paged` lets the driver give the first page only
 * (`more`: others follow). */
function listEntries(
  s: ServerState,
  path: string,
  directoryOnly: boolean,
  paged: boolean,
  done: (
    directory: string,
    entries: readonly FtpStorageEntry[],
    wallClock: Date | undefined,
    more: boolean,
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
        false,
      );
    }
    s.storage({ op: "list", path, ...(paged ? { paged } : {}) }, (listed) => {
      if (!listed.ok) return refuse(...storageRefusal(listed, "Cannot list."));
      done(path, listed.entries ?? [], listed.now, paged && listed.more === true);
    });
  });
}

/**
 * The formatter of a listing's data (LIST, NLST or MLSD of `directory`): each entry's line,
 * CRLF-ended, in one block. What it needs of the session (the MLST facts selected, the user's
 * permissions) is taken now, so that later pages of the same listing look like the first
 * whatever comes meanwhile (OPTS MLST, REIN).
 */
function listingFormat(
  s: ServerState,
  verb: "LIST" | "NLST" | "MLSD",
  directory: string,
  wallClock: Date | undefined,
): (entries: readonly FtpStorageEntry[]) => Uint8Array {
  const line = listingLine(s, verb, directory, wallClock);
  const encoder = new TextEncoder();
  return (entries) => {
    let text = "";
    for (const entry of entries) {
      const one = line(entry);
      if (one !== undefined) text += `${one}\r\n`;
    }
    return encoder.encode(text);
  };
}

/**
 * The line of an entry in a listing (LIST, NLST or MLSD) of `directory`, without its end, or
 * `undefined` for an entry left out; the session's facts and permissions are taken now.
 */
function listingLine(
  s: ServerState,
  verb: "LIST" | "NLST" | "MLSD",
  directory: string,
  wallClock: Date | undefined,
): (entry: FtpStorageEntry) => string | undefined {
  // Without a clock, a date far in the future: every entry shows its year.
  const now = wallClock ?? new Date(8.64e15);
  const chosen = { mlstFacts: s.mlstFacts, permissions: s.permissions };
  return (entry) => {
    // A name that cannot be written on one line is left out, never sent broken.
    if (/[\r\n\0/]/.test(entry.name) || entry.name === "") return undefined;
    if (verb === "NLST") return entry.name;
    if (verb === "LIST") return formatFtpListLine(entry, now);
    const path = directory === "/" ? `/${entry.name}` : `${directory}/${entry.name}`;
    return formatFtpFacts({ name: entry.name, facts: facts(chosen, entry, path) });
  };
}

/** A `unique` fact's value as RFC 3659 section 7.5.2 allows it: a token (section 2.1's RCHAR:
 * letters, digits and ,.:!@#$%^&()-_+?/\'"), here at most 64 of them. */
const UNIQUE_TOKEN = /^[A-Za-z0-9,.:!@#$%^&()\-_+?/\\'"]{1,64}$/;

/** The facts of an entry at `path` that OPTS MLST selected (RFC 3659 section 7.9). */
function facts(
  s: Pick<ServerState, "mlstFacts" | "permissions">,
  stat: FtpStorageStat,
  path: string,
): Record<string, string> {
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
  listEntries(s, path, false, false, (directory, entries, wallClock) => {
    const line = listingLine(s, "LIST", directory, wallClock);
    const lines = entries.map(line).filter((one) => one !== undefined);
    s.reply(213, [`Status of ${path}:`, ...lines, "End of status"]);
  }, (code, text) => s.reply(code, text));
}
