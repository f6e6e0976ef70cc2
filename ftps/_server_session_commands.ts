/**
 * The FTP/FTPS server's command table: for each verb, where it may run (before login, during a
 * transfer, in which state of the control connection's protection), whether it forgets a pending
 * RNFR, its handler and the RFC section that defines it; and the dispatcher that runs a command
 * line through those gates. A verb not in the table is answered 502 (530 before login).
 *
 * @module
 */

import { decodeFtpCommand, formatFtpFeat, formatFtpPath, type FtpCommand } from "../codec/mod.ts";
import type { Refusal, ServerState } from "./_server_session_state.ts";
import {
  auth,
  authRefusal,
  ccc,
  cccRefusal,
  pass,
  pbsz,
  prot,
  rein,
  user,
  userRefusal,
  userWithoutTls,
} from "./_server_session_security.ts";
import { abor, active, passive, rang, rest } from "./_server_session_data.ts";
import { listing, mlst, mlstFeature, optsMlst, stat } from "./_server_session_listing.ts";
import {
  allo,
  cwd,
  fileTransfer,
  mdtm,
  mfmt,
  mfmtRefusal,
  pathCommand,
  rnfr,
  rnto,
  size,
  stou,
} from "./_server_session_files.ts";
import {
  hash,
  hashFeatures,
  hashRefusal,
  optsHash,
  X_HASH_COMMANDS,
  xHash,
  xHashRefusal,
} from "./_server_session_hash.ts";
import { site } from "./_server_session_site.ts";

/**
 * Where a command stands with the control connection's protection (RFC 4217): the states it is
 * refused in, each with its reply. A state left out lets the command run.
 */
export interface ControlGate {
  /** Before AUTH TLS, or where TLS is not offered. */
  readonly plain?: Refusal;
  /** After AUTH TLS (or with implicit TLS). */
  readonly protected?: Refusal;
  /** After CCC (RFC 4217 section 12.3), until REIN. */
  readonly cleared?: Refusal;
  /** Lifts the gate for this session and argument (USER: TLS not required for this user). */
  readonly unless?: (s: ServerState, argument: string) => boolean;
}

/** One row of the command table. */
export interface FtpCommandRule {
  /** Where the command is defined: an RFC, or the Internet-Draft servers follow for it. */
  readonly rfc: string;
  /** Whether it runs before a login; if not, it is answered 530 until one. */
  readonly beforeLogin: boolean;
  /** Whether it runs during a transfer when sent with no argument (RFC 959 section 4.1.3);
   * anything else waits for the transfer's end, so that replies keep the order of their
   * commands. */
  readonly duringTransfer: boolean;
  /** Whether it forgets a pending RNFR (RFC 959 section 4.1.3: RNTO follows RNFR at once). */
  readonly resetsRnfr: boolean;
  /** Refusals that come before the control connection gate: the command not offered by the
   * policy, or an argument it never takes. */
  readonly precheck?: (s: ServerState, argument: string) => Refusal | undefined;
  /** The control connection states it is refused in; absent, it runs in any. */
  readonly control?: ControlGate;
  /** Carries the command out, once the gates let it through. */
  readonly run: (s: ServerState, argument: string, now: number) => void;
}

const AUTH_AGAIN: Refusal = [503, "Already protected or cleared; AUTH not allowed again."];
const NOT_PROTECTED: Refusal = [533, "Control connection not protected."];
const TLS_FIRST: Refusal = [530, "TLS required: use AUTH TLS first."];

/** Commands of the session itself: before login, never during a transfer, RNFR kept. */
const SESSION = { beforeLogin: true, duringTransfer: false, resetsRnfr: false } as const;
/** Commands of a logged-in user: never during a transfer; RNFR forgotten. */
const LOGGED_IN = { beforeLogin: false, duringTransfer: false, resetsRnfr: true } as const;
/** Transfer parameters: after login, never during a transfer, RNFR kept. */
const PARAMETER = { beforeLogin: false, duringTransfer: false, resetsRnfr: false } as const;

const RULES = {
  AUTH: {
    ...SESSION,
    rfc: "RFC 4217 sections 4 and 6",
    precheck: authRefusal,
    control: { protected: AUTH_AGAIN, cleared: AUTH_AGAIN },
    run: auth,
  },
  PBSZ: {
    ...SESSION,
    rfc: "RFC 4217 section 9",
    control: {
      plain: [503, "PBSZ needs AUTH TLS first."],
      cleared: [503, "No PBSZ after CCC."],
    },
    run: pbsz,
  },
  PROT: {
    ...SESSION,
    rfc: "RFC 4217 section 9",
    control: { plain: [503, "PROT needs PBSZ first."], cleared: [503, "No PROT after CCC."] },
    run: prot,
  },
  CCC: {
    ...SESSION,
    rfc: "RFC 4217 section 5",
    precheck: cccRefusal,
    control: { plain: NOT_PROTECTED, cleared: NOT_PROTECTED },
    run: ccc,
  },
  USER: {
    ...SESSION,
    rfc: "RFC 959 section 4.1.1, RFC 4217 section 10.1",
    precheck: userRefusal,
    control: { plain: TLS_FIRST, cleared: TLS_FIRST, unless: userWithoutTls },
    run: user,
  },
  PASS: { ...SESSION, rfc: "RFC 959 section 4.1.1", run: pass },
  ACCT: { ...SESSION, rfc: "RFC 959 section 4.1.1", run: (s) => s.reply(202, "ACCT not needed.") },
  REIN: {
    ...SESSION,
    rfc: "RFC 959 section 4.1.1, RFC 4217 section 13",
    resetsRnfr: true,
    run: (s, _argument, now) => rein(s, now),
  },
  QUIT: {
    ...SESSION,
    rfc: "RFC 959 section 4.1.1",
    run: (s) => {
      s.reply(221, "Goodbye.");
      s.close("quit");
    },
  },
  FEAT: { ...SESSION, rfc: "RFC 2389 section 3", run: feat },
  NOOP: { ...SESSION, rfc: "RFC 959 section 4.1.3", run: (s) => s.reply(200, "NOOP ok.") },
  SYST: { ...SESSION, rfc: "RFC 959 section 4.1.3", run: (s) => s.reply(215, "UNIX Type: L8") },
  OPTS: { ...SESSION, rfc: "RFC 2389 section 4, RFC 2640, RFC 3659 section 7.9", run: opts },
  HELP: {
    ...SESSION,
    rfc: "RFC 959 section 4.1.3",
    run: (s) => s.reply(214, "See FEAT for the extensions; RFC 959 commands are recognized."),
  },
  TYPE: { ...PARAMETER, rfc: "RFC 959 section 4.1.2", run: type },
  MODE: {
    ...PARAMETER,
    rfc: "RFC 959 section 4.1.2",
    run: (s, argument) =>
      /^s$/i.test(argument) ? s.reply(200, "Mode set to S.") : s.reply(504, "Only stream mode."),
  },
  STRU: {
    ...PARAMETER,
    rfc: "RFC 959 section 4.1.2",
    run: (s, argument) =>
      /^f$/i.test(argument)
        ? s.reply(200, "Structure set to F.")
        : s.reply(504, "Only file structure."),
  },
  ABOR: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", duringTransfer: true, run: abor },
  STAT: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", duringTransfer: true, run: stat },
  PASV: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.2", run: (s, a) => passive(s, false, a) },
  EPSV: { ...LOGGED_IN, rfc: "RFC 2428 sections 3 and 4", run: (s, a) => passive(s, true, a) },
  PORT: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.2", run: (s, a) => active(s, false, a) },
  EPRT: { ...LOGGED_IN, rfc: "RFC 2428 section 2", run: (s, a) => active(s, true, a) },
  REST: { ...LOGGED_IN, rfc: "RFC 3659 section 5", run: rest },
  RANG: { ...LOGGED_IN, rfc: "draft-bryan-ftp-range-08 section 3", run: rang },
  RETR: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", run: (s, a) => fileTransfer(s, "RETR", a) },
  STOR: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", run: (s, a) => fileTransfer(s, "STOR", a) },
  APPE: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", run: (s, a) => fileTransfer(s, "APPE", a) },
  STOU: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3, RFC 1123 section 4.1.2.9", run: stou },
  LIST: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", run: (s, a) => listing(s, "LIST", a) },
  NLST: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", run: (s, a) => listing(s, "NLST", a) },
  MLSD: { ...LOGGED_IN, rfc: "RFC 3659 section 7", run: (s, a) => listing(s, "MLSD", a) },
  MLST: { ...LOGGED_IN, rfc: "RFC 3659 section 7", run: mlst },
  ALLO: {
    ...LOGGED_IN,
    rfc: "RFC 959 section 4.1.3",
    run: allo,
  },
  SITE: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", run: site },
  PWD: {
    ...LOGGED_IN,
    rfc: "RFC 959 section 4.1.3",
    run: (s) => s.reply(257, formatFtpPath(s.cwd, "is the current directory.")),
  },
  CWD: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.1", run: cwd },
  CDUP: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.1", run: (s) => cwd(s, "..") },
  MKD: {
    ...LOGGED_IN,
    rfc: "RFC 959 section 4.1.3",
    run: (s, a) =>
      pathCommand(s, a, "mkdir", (path) => s.reply(257, formatFtpPath(path, "created."))),
  },
  RMD: {
    ...LOGGED_IN,
    rfc: "RFC 959 section 4.1.3",
    run: (s, a) => pathCommand(s, a, "rmdir", () => s.reply(250, "Directory removed.")),
  },
  DELE: {
    ...LOGGED_IN,
    rfc: "RFC 959 section 4.1.3",
    run: (s, a) => pathCommand(s, a, "delete", () => s.reply(250, "File deleted.")),
  },
  SIZE: { ...LOGGED_IN, rfc: "RFC 3659 section 4", run: size },
  MDTM: { ...LOGGED_IN, rfc: "RFC 3659 section 3", run: mdtm },
  MFMT: {
    ...LOGGED_IN,
    rfc: "draft-somers-ftp-mfxx-04 section 3",
    precheck: mfmtRefusal,
    run: mfmt,
  },
  HASH: {
    ...LOGGED_IN,
    rfc: "draft-bryan-ftpext-hash-02 section 3",
    precheck: hashRefusal,
    run: hash,
  },
  RNFR: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", run: rnfr },
  // RNTO forgets the RNFR itself, once it has read it.
  RNTO: { ...LOGGED_IN, rfc: "RFC 959 section 4.1.3", resetsRnfr: false, run: rnto },
} satisfies Record<string, FtpCommandRule>;

/** The checksum commands of one algorithm each (the HASH draft's appendix B). */
const X_HASH_RULES: [string, FtpCommandRule][] = Object.keys(X_HASH_COMMANDS).map((verb) => [
  verb,
  {
    ...LOGGED_IN,
    rfc: "draft-bryan-ftpext-hash-02 appendix B",
    precheck: xHashRefusal(verb),
    run: xHash(verb),
  },
]);

/** The command table, by upper-case verb; XPWD to XRMD are the experimental names of RFC 1123
 * section 4.1.3.1. */
export const FTP_COMMANDS: ReadonlyMap<string, FtpCommandRule> = new Map<string, FtpCommandRule>([
  ...Object.entries(RULES),
  ["XPWD", RULES.PWD],
  ["XCWD", RULES.CWD],
  ["XCUP", RULES.CDUP],
  ["XMKD", RULES.MKD],
  ["XRMD", RULES.RMD],
  ...X_HASH_RULES,
]);

/** A verb not in the table: 530 before login, else 502 (RFC 959 section 4.2.1). */
function notImplemented(verb: string): FtpCommandRule {
  return {
    ...LOGGED_IN,
    rfc: "RFC 959 section 4.2.1",
    run: (s) => s.reply(502, `${verb} not implemented.`),
  };
}

/**
 * Whether a command line held during a transfer runs at once: a verb the table lets run during
 * one, alone on its line (RFC 959 section 4.1.3: ABOR, and STAT's status of the transfer).
 *
 * @param line The command line.
 * @returns Whether it runs now.
 */
export function runsDuringTransfer(line: string): boolean {
  const verb = line.trim();
  return /^[A-Za-z]+$/.test(verb) && FTP_COMMANDS.get(verb.toUpperCase())?.duringTransfer === true;
}

/**
 * Runs one command line: decodes it (500 when it cannot be), finds its row, and runs its handler
 * through the gates: login, RNFR, the precheck, the control connection state.
 *
 * @param s The session.
 * @param line The command line.
 * @param now The current time in ms.
 */
export function runCommand(s: ServerState, line: string, now: number): void {
  // A listener kept for a refused transfer command goes with the next command.
  if (s.refusedListener) {
    s.refusedListener = false;
    s.emit({ type: "close-data" });
  }
  let command: FtpCommand;
  try {
    command = decodeFtpCommand(line);
  } catch {
    return s.reply(500, "Syntax error, command unrecognized.");
  }
  s.command = command.verb;
  const rule = FTP_COMMANDS.get(command.verb) ?? notImplemented(command.verb);
  if (!rule.beforeLogin && !s.loggedIn) return s.reply(530, "Please login with USER and PASS.");
  if (rule.resetsRnfr) s.renameFrom = undefined;
  const argument = command.argument ?? "";
  const refusal = rule.precheck?.(s, argument) ?? gateRefusal(s, rule.control, argument);
  if (refusal) return s.reply(...refusal);
  rule.run(s, argument, now);
}

/** The refusal a control connection gate gives in the session's state, if any. */
function gateRefusal(
  s: ServerState,
  gate: ControlGate | undefined,
  argument: string,
): Refusal | undefined {
  if (!gate || gate.unless?.(s, argument)) return undefined;
  if (s.control === "cleared" || s.control === "clearing") return gate.cleared;
  return s.protected ? gate.protected : gate.plain;
}

/**
 * FEAT: the extensions served (RFC 2389 section 3); the TLS ones as the policy offers them, and
 * those that depend on the user as this one may use them: before login, MFMT when the policy
 * serves it to anyone (a client may take FEAT's list as all there is, section 3.2); after login,
 * only when this user may use it.
 */
function feat(s: ServerState): void {
  const features: [string, string?][] = [];
  const tls = s.policy.tls;
  if (tls === "explicit") features.push(["AUTH", "TLS"]);
  if (tls !== "none") features.push(["PBSZ"], ["PROT"]);
  if (tls !== "none" && s.policy.allowCcc) features.push(["CCC"]);
  const hashes = hashFeatures(s);
  const mfmt = s.policy.mfmt && (!s.loggedIn || (s.access.write && s.access.setModified));
  // RFC 2428, RFC 3659 (TVFS: paths are /-separated from one top), and the drafts' commands.
  features.push(["EPRT"], ["EPSV"], ...hashes.slice(0, 1), ["MDTM"]);
  if (mfmt) features.push(["MFMT"]);
  features.push(["MLST", mlstFeature(s)], ["PASV"], ["RANG", "STREAM"], ["REST", "STREAM"]);
  features.push(["SIZE"], ["TVFS"]);
  features.push(["UTF8"], ...hashes.slice(1));
  s.reply(211, formatFtpFeat(features));
}

/** OPTS: UTF8 ON (the switch clients send for RFC 2640's UTF-8 path names), MLST's facts (RFC
 * 3659 section 7.9) and, where HASH is served, its algorithm (draft-bryan-ftpext-hash-02 section
 * 3.2). */
function opts(s: ServerState, argument: string): void {
  const option = argument.trim();
  if (/^utf8\s+on$/i.test(option)) {
    s.utf8 = true;
    return s.reply(200, "UTF8 mode on.");
  }
  if (/^mlst(\s|$)/i.test(option)) return optsMlst(s, option.slice(4));
  if (/^hash(\s|$)/i.test(option) && s.policy.hashAlgorithms.length > 0) {
    return optsHash(s, option.slice(4));
  }
  s.reply(501, "Option not understood.");
}

/** TYPE: I (or L 8) and A (or A N) only (RFC 959 section 4.1.2). */
function type(s: ServerState, argument: string): void {
  const type = argument.trim().toUpperCase();
  if (type === "I" || type === "L 8") {
    s.type = "I";
    return s.reply(200, "Switching to Binary mode.");
  }
  if (type === "A" || type === "A N") {
    s.type = "A";
    return s.reply(200, "Switching to ASCII mode.");
  }
  s.reply(504, "TYPE is A or I.");
}
