/**
 * The FTP server's file commands over the storage (RFC 959 section 4.1.3, RFC 3659,
 * draft-somers-ftp-mfxx-04): CWD, MKD, RMD, DELE, SIZE, MDTM, MFMT, RNFR and RNTO on the control
 * connection, and the file transfers RETR, STOR, APPE and STOU on the data connection set up for
 * them.
 *
 * @module
 */

import { formatFtpTime, parseFtpTime } from "../codec/mod.ts";
import { resolveFtpPath } from "./path.ts";
import type { FtpStorageStat } from "./storage.ts";
import { type Refusal, type ServerState, storageRefusal } from "./_server_session_state.ts";
import { takeDataConnection } from "./_server_session_data.ts";

/**
 * CWD (CDUP is CWD ..): changes to a directory the storage has.
 *
 * @param s The session.
 * @param argument The path.
 */
export function cwd(s: ServerState, argument: string): void {
  const path = resolveFtpPath(s.cwd, argument);
  s.storage({ op: "stat", path }, (result) => {
    if (!result.ok) return s.refused(result);
    if (result.stat?.type !== "dir") return s.reply(550, "Not a directory.");
    s.cwd = path;
    s.reply(250, "Directory changed.");
  });
}

/**
 * MKD, RMD or DELE: the storage request on a path, then `done`.
 *
 * @param s The session.
 * @param argument The path.
 * @param op The request.
 * @param done The reply when the storage did it.
 */
export function pathCommand(
  s: ServerState,
  argument: string,
  op: "mkdir" | "rmdir" | "delete",
  done: (path: string) => void,
): void {
  if (argument.trim() === "") return s.reply(501, "A path is needed.");
  const path = resolveFtpPath(s.cwd, argument);
  s.storage({ op, path }, (result) => (result.ok ? done(path) : s.refused(result)));
}

/** A command on a path's facts (SIZE, MDTM, MFMT, RNFR): 501 without a path, 550 when it is
 * not. */
function statCommand(
  s: ServerState,
  argument: string,
  done: (stat: FtpStorageStat, path: string) => void,
): void {
  if (argument.trim() === "") return s.reply(501, "A path is needed.");
  const path = resolveFtpPath(s.cwd, argument);
  s.storage({ op: "stat", path }, (result) => {
    if (!result.ok) return s.refused(result);
    if (!result.stat) return s.reply(550, "No such file.");
    done(result.stat, path);
  });
}

/**
 * SIZE: a file's size in bytes (RFC 3659 section 4).
 *
 * @param s The session.
 * @param argument The path.
 */
export function size(s: ServerState, argument: string): void {
  // RFC 3659 section 4: the octets a transfer in the current TYPE would send, never an
  // estimate. In TYPE A that needs the whole file read and converted, so it is refused
  // (section 4.2 allows 550 when the size is not available), as ProFTPD and pyftpdlib do.
  if (s.type === "A" && argument !== "") {
    return s.reply(550, "SIZE is not available in ASCII mode; use TYPE I.");
  }
  statCommand(
    s,
    argument,
    (stat) =>
      stat.type === "file" ? s.reply(213, String(stat.size)) : s.reply(550, "Not a plain file."),
  );
}

/**
 * MDTM: a path's modification time (RFC 3659 section 3).
 *
 * @param s The session.
 * @param argument The path.
 */
export function mdtm(s: ServerState, argument: string): void {
  statCommand(s, argument, (stat) => s.reply(213, formatFtpTime(stat.modified)));
}

/**
 * What MFMT is refused for before it runs: not served, or not by this user's storage (502, as a
 * command not implemented: FEAT does not list it then).
 *
 * @param s The session.
 * @returns The refusal, if any.
 */
export function mfmtRefusal(s: ServerState): Refusal | undefined {
  return s.policy.mfmt && s.access.setModified ? undefined : [502, "MFMT not implemented."];
}

/**
 * MFMT: sets a path's modification time (draft-somers-ftp-mfxx-04 section 3): `MFMT time path`,
 * answered `213 Modify=time; path`; 501 for a missing path or a time that is not RFC 3659's
 * `YYYYMMDDHHMMSS[.sss]` (UTC), 550 for a missing path or a user who may not change it.
 *
 * @param s The session.
 * @param argument The time, a space, the path.
 */
export function mfmt(s: ServerState, argument: string): void {
  const space = argument.indexOf(" ");
  const name = space === -1 ? "" : argument.slice(space + 1);
  if (name.trim() === "") return s.reply(501, "MFMT takes a time and a path.");
  let modified: Date;
  try {
    modified = parseFtpTime(argument.slice(0, space));
  } catch {
    return s.reply(501, "The time must be YYYYMMDDHHMMSS, in UTC.");
  }
  statCommand(s, name, (stat, path) => {
    if (!s.permissions(path, stat.type).has("set-modified")) {
      return s.reply(550, "Permission denied.");
    }
    s.storage({ op: "set-modified", path, modified }, (result) => {
      if (!result.ok) return s.refused(result);
      s.reply(213, `Modify=${formatFtpTime(modified)}; ${name}`);
    });
  });
}

/**
 * RNFR: remembers the path to rename, for the RNTO that must follow.
 *
 * @param s The session.
 * @param argument The path.
 */
export function rnfr(s: ServerState, argument: string): void {
  statCommand(s, argument, (_stat, path) => {
    s.renameFrom = path;
    s.reply(350, "Ready for RNTO.");
  });
}

/**
 * RNTO: renames what RNFR named.
 *
 * @param s The session.
 * @param argument The new path.
 */
export function rnto(s: ServerState, argument: string): void {
  const from = s.renameFrom;
  s.renameFrom = undefined;
  if (from === undefined) return s.reply(503, "RNFR first.");
  if (argument.trim() === "") return s.reply(501, "A path is needed.");
  const to = resolveFtpPath(s.cwd, argument);
  s.storage(
    { op: "rename", from, to },
    (result) => result.ok ? s.reply(250, "Rename successful.") : s.refused(result),
  );
}

/**
 * RETR, STOR or APPE: opens the file in the storage, then starts the transfer.
 *
 * @param s The session.
 * @param verb The command.
 * @param argument The path.
 */
export function fileTransfer(
  s: ServerState,
  verb: "RETR" | "STOR" | "APPE",
  argument: string,
): void {
  const transfer = takeDataConnection(s, verb);
  if (!transfer) return;
  const mode = s.type === "I" ? "BINARY" : "ASCII";
  if (argument.trim() === "") return transfer.refuse(501, "A path is needed.");
  const path = resolveFtpPath(s.cwd, argument);
  if (verb === "RETR") {
    const range = transfer.range;
    const length = range ? { length: range[1] - range[0] + 1 } : {};
    return s.storage({ op: "read", path, offset: transfer.offset, ...length }, (result) => {
      if (!result.ok) return transfer.refuse(...storageRefusal(result, "Failed to open file."));
      const size = result.size !== undefined ? ` (${result.size} bytes)` : "";
      transfer.start(
        "send",
        path,
        `Opening ${mode} mode data connection for ${argument.trim()}${size}.`,
        "",
      );
    });
  }
  if (transfer.range) return transfer.refuse(504, "RANG is for RETR and HASH only.");
  const size = transfer.allocate !== undefined ? { size: transfer.allocate } : {};
  s.storage(
    { op: "write", path, offset: transfer.offset, append: verb === "APPE", ...size },
    (result) => {
      if (!result.ok) return transfer.refuse(...storageRefusal(result, "Cannot create file."));
      transfer.start(
        "receive",
        path,
        `Opening ${mode} mode data connection for ${argument.trim()}.`,
        "",
      );
    },
  );
}

/**
 * STOU: the storage makes a file under a name of its choosing in the current directory, then the
 * transfer starts.
 *
 * @param s The session.
 */
export function stou(s: ServerState): void {
  const transfer = takeDataConnection(s, "STOU");
  if (!transfer) return;
  if (transfer.range) return transfer.refuse(504, "RANG is for RETR and HASH only.");
  const size = transfer.allocate !== undefined ? { size: transfer.allocate } : {};
  s.storage({ op: "write-unique", directory: s.cwd, ...size }, (result) => {
    if (!result.ok) return transfer.refuse(...storageRefusal(result, "Cannot create a file."));
    const name = result.path ?? "";
    if (/[\r\n\0]/.test(name)) return transfer.refuse(451, "Local error in processing.");
    // RFC 1123 section 4.1.2.9: the name goes in the 150 reply as "FILE: name".
    transfer.start(
      "receive",
      resolveFtpPath(s.cwd, name),
      `FILE: ${name}`,
      ` (unique file name: ${name})`,
    );
  });
}

/**
 * ALLO: the size of the file the next transfer command sends (RFC 959 section 4.1.3: `ALLO n`,
 * optionally `R m` for a record size, which is noted and ignored). It goes with the next STOR,
 * APPE or STOU to the storage, which may refuse it at once (552) when it would not fit a quota.
 *
 * @param s The session.
 * @param argument The size.
 */
export function allo(s: ServerState, argument: string): void {
  const match = /^(\d{1,15})(?: +R +\d{1,15})?$/i.exec(argument.trim());
  if (!match) return s.reply(501, "ALLO takes a size in bytes.");
  s.allocate = Number(match[1]);
  s.reply(200, "ALLO noted.");
}
