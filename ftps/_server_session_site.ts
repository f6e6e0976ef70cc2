/**
 * The FTP server's SITE commands (RFC 959 section 4.1.3: services specific to this server):
 * `SITE HELP`, and `SITE CHMOD mode path` where the policy serves it. An unknown subcommand is
 * 504 (a parameter of SITE not implemented), a SITE without one 501.
 *
 * @module
 */

import { resolveFtpPath } from "./path.ts";
import type { ServerState } from "./_server_session_state.ts";

/** A mode SITE CHMOD takes: octal, 0 to 777 (a leading 0 allowed); no setuid, setgid or sticky
 * bit, and no symbolic modes. */
const OCTAL_MODE = /^0*[0-7]{1,3}$/;

/** Whether SITE CHMOD is served to this user's storage (whether the user may use it is the
 * permissions' say). */
function chmodServed(s: ServerState): boolean {
  return s.policy.siteChmod && s.access.chmod;
}

/**
 * SITE: runs the subcommand its argument names.
 *
 * @param s The session.
 * @param argument The subcommand and its arguments.
 */
export function site(s: ServerState, argument: string): void {
  const text = argument.trimStart();
  const space = text.search(/\s/);
  const subcommand = (space === -1 ? text : text.slice(0, space)).toUpperCase();
  const rest = space === -1 ? "" : text.slice(space + 1);
  if (subcommand === "") return s.reply(501, "SITE needs a command: see SITE HELP.");
  if (subcommand === "HELP") return siteHelp(s);
  if (subcommand === "CHMOD" && chmodServed(s)) return siteChmod(s, rest);
  s.reply(504, "SITE command not supported.");
}

/** SITE HELP: the SITE commands this user may use (214). */
function siteHelp(s: ServerState): void {
  if (!chmodServed(s) || !s.access.write) return s.reply(214, "No SITE commands here.");
  s.reply(214, ["SITE commands:", " CHMOD <mode> <path>", " HELP", "End"]);
}

/**
 * SITE CHMOD: sets a path's permission bits (200); 501 for a mode that is not octal 0 to 777 or a
 * missing path, 550 for a missing path or a user who may not change it.
 */
function siteChmod(s: ServerState, argument: string): void {
  const text = argument.trimStart();
  const space = text.search(/\s/);
  const mode = space === -1 ? text : text.slice(0, space);
  const name = space === -1 ? "" : text.slice(space + 1);
  if (!OCTAL_MODE.test(mode) || name.trim() === "") {
    return s.reply(501, "SITE CHMOD takes an octal mode from 0 to 777 and a path.");
  }
  const path = resolveFtpPath(s.cwd, name);
  s.storage({ op: "stat", path }, (result) => {
    if (!result.ok) return s.refused(result);
    if (!result.stat) return s.reply(550, "No such file.");
    if (!s.permissions(path, result.stat.type).has("chmod")) {
      return s.reply(550, "Permission denied.");
    }
    s.storage({ op: "chmod", path, mode: parseInt(mode, 8) }, (changed) => {
      if (!changed.ok) return s.refused(changed);
      s.reply(200, "SITE CHMOD command successful.");
    });
  });
}
