/**
 * The FTP/FTPS server's security commands and login: AUTH, PBSZ, PROT, CCC and REIN (RFC 4217),
 * USER and PASS with their policies (TLS before login, anonymous users, certificate logins), and
 * the driver's answers to the events they raise. Each handler runs once the command table's
 * gates (login, control connection state) let the command through.
 *
 * @module
 */

import { FtpLineReader } from "../codec/mod.ts";
import { isAnonymous, type Refusal, type ServerState } from "./_server_session_state.ts";
import { ftpUserPermissions, fullAccess } from "./_server_session_permissions.ts";
import type { FtpUserAccess } from "./_server_session_types.ts";

/**
 * What AUTH is refused for before its control connection gate: AUTH not offered (502), or a
 * mechanism other than TLS (504).
 *
 * @param s The session.
 * @param argument The mechanism.
 * @returns The refusal, if any.
 */
export function authRefusal(s: ServerState, argument: string): Refusal | undefined {
  if (s.policy.tls !== "explicit") return [502, "AUTH not available."];
  // RFC 4217 sections 4 and 6: TLS, and its synonym TLS-C; nothing else.
  const mechanism = argument.trim().toUpperCase();
  if (mechanism !== "TLS" && mechanism !== "TLS-C") {
    return [504, `AUTH ${argument.trim()} not supported; use AUTH TLS.`];
  }
  return undefined;
}

/**
 * AUTH TLS, accepted: 234, then the driver runs TLS on the control connection.
 *
 * @param s The session.
 */
export function auth(s: ServerState): void {
  s.reply(234, "Proceed with negotiation.");
  s.ask({ type: "upgrade-control" });
  // RFC 4217 section 4: the session starts again under TLS. Whatever followed AUTH in plain
  // text (whole lines held, and the start of one) is dropped, never run under TLS.
  s.control = "upgrading";
  s.pending = [];
  s.lines = new FtpLineReader({ maxLineLength: s.policy.maxLineLength });
  s.lineDeadline = undefined;
}

/**
 * PBSZ on a protected control connection: its value is 0 for TLS (RFC 4217 section 9).
 *
 * @param s The session.
 * @param argument The buffer size.
 */
export function pbsz(s: ServerState, argument: string): void {
  if (!/^\d+$/.test(argument.trim())) return s.reply(501, "PBSZ takes a number.");
  s.pbsz = true;
  s.reply(200, "PBSZ=0");
}

/**
 * PROT on a protected control connection, after PBSZ (RFC 4217 section 9); P only where the
 * policy offers data protection (section 10.2).
 *
 * @param s The session.
 * @param argument The level.
 */
export function prot(s: ServerState, argument: string): void {
  if (!s.pbsz) return s.reply(503, "PROT needs PBSZ first.");
  const level = argument.trim().toUpperCase();
  if (level === "S" || level === "E") {
    return s.reply(536, "Requested PROT level not supported by mechanism.");
  }
  if (level !== "C" && level !== "P") return s.reply(504, "PROT is C or P.");
  if (level === "P" && s.policy.dataProtection === "none") {
    return s.reply(534, "Data protection is not offered here.");
  }
  s.prot = level;
  s.reply(200, `Protection level set to ${level}.`);
}

/**
 * What CCC is refused for before its control connection gate: CCC not accepted (500; RFC 4217
 * section 5 checks this first).
 *
 * @param s The session.
 * @returns The refusal, if any.
 */
export function cccRefusal(s: ServerState): Refusal | undefined {
  return s.policy.allowCcc ? undefined : [500, "CCC not accepted."];
}

/**
 * CCC on a protected control connection: 200, then the driver shuts TLS down.
 *
 * @param s The session.
 */
export function ccc(s: ServerState): void {
  s.control = "clearing";
  s.reply(200, "Control connection cleared.");
  s.ask({ type: "clear-control" });
}

/**
 * What USER is refused for before its control connection gate: no name (501), or an anonymous
 * user where none is let in (530).
 *
 * @param s The session.
 * @param argument The user name, exactly as sent ("alice " is not "alice").
 * @returns The refusal, if any.
 */
export function userRefusal(s: ServerState, argument: string): Refusal | undefined {
  if (argument === "") return [501, "USER needs a name."];
  if (isAnonymous(argument) && !s.policy.allowAnonymous) {
    return [530, "Anonymous login not allowed."];
  }
  return undefined;
}

/**
 * Whether USER may come over a plain control connection (RFC 4217 section 10.1): when TLS is not
 * required for login, or for the anonymous user when it may log in without TLS.
 *
 * @param s The session.
 * @param argument The user name.
 * @returns Whether the plain connection is enough.
 */
export function userWithoutTls(s: ServerState, argument: string): boolean {
  return !s.policy.requireTlsForLogin || (isAnonymous(argument) && s.policy.anonymousWithoutTls);
}

/**
 * USER: asks for the password (331), or for a certificate check (RFC 4217 section 12.2).
 *
 * @param s The session.
 * @param user The user name, exactly as sent.
 */
export function user(s: ServerState, user: string): void {
  s.loggedIn = false;
  s.user = user;
  const anonymous = isAnonymous(user);
  if (s.policy.certificateLogin && s.protected && !anonymous) {
    return s.ask({ type: "authenticate-certificate", user });
  }
  s.reply(
    331,
    anonymous ? "Anonymous login ok, send your email as password." : "Password required.",
  );
}

/**
 * PASS: asks the driver to check the credentials.
 *
 * @param s The session.
 * @param password The password.
 */
export function pass(s: ServerState, password: string): void {
  if (s.user === undefined || s.loggedIn) return s.reply(503, "Login with USER first.");
  s.ask({
    type: "authenticate",
    user: s.user,
    password,
    protected: s.protected,
    anonymous: isAnonymous(s.user),
  });
}

/**
 * REIN: 220 as the session stands (protected if it is), then everything resets; a protected
 * control connection of explicit TLS is cleared (RFC 4217 section 13).
 *
 * @param s The session.
 * @param now The current time in ms.
 */
export function rein(s: ServerState, now: number): void {
  s.reply(220, "Service ready for new user.");
  // A new login gets its own time, but only after one: REIN before any login keeps the
  // deadline (or a client could hold its slot forever, never logging in).
  if (s.loginDeadline === undefined) s.loginDeadline = now + s.policy.loginTimeoutMs;
  const wasProtected = s.protected && s.policy.tls === "explicit";
  s.reset();
  s.resumptionWaived = true;
  if (s.control === "cleared") s.control = "plain";
  if (wasProtected) s.ask({ type: "clear-control" });
}

/**
 * TLS is up on the control connection: the user and every transfer parameter are reset, as if
 * REIN had come (RFC 4217 section 4).
 *
 * @param s The session.
 */
export function controlUpgraded(s: ServerState): void {
  s.reset();
  s.control = "protected";
}

/**
 * TLS on the control connection did not come up: the 421 RFC 4217 section 10.1 asks for, if
 * any, then the session closes.
 *
 * @param s The session.
 * @param how How it failed.
 */
export function controlUpgradeFailed(
  s: ServerState,
  how: "handshake" | "no-handshake" | "rejected",
): void {
  if (s.control === "upgrading") s.control = "plain";
  if (how === "rejected") {
    s.control = "protected";
    s.reply(421, "TLS session not acceptable; closing the connection.");
  } else if (how === "no-handshake") {
    s.reply(421, "TLS negotiation failed; closing the connection.");
  }
  s.close("tls-failed");
}

/**
 * TLS on the control connection is shut down (after CCC, or REIN).
 *
 * @param s The session.
 */
export function controlCleared(s: ServerState): void {
  if (s.control === "clearing") s.control = "cleared";
  else if (s.control === "protected") s.control = "plain";
}

/**
 * The driver's answer to `authenticate`: 230, or 530 (421 and the end after too many).
 *
 * @param s The session.
 * @param ok Whether the credentials are good.
 * @param access What the user may do.
 * @param refusal A 530 text for a login refused by a limit rather than its credentials.
 */
export function loginResult(
  s: ServerState,
  ok: boolean,
  access: FtpUserAccess,
  refusal?: string,
): void {
  if (ok) return loggedIn(s, 230, "Login successful.", access);
  s.user = undefined;
  // Refused for another reason than the credentials (a limit): no failed login.
  if (refusal !== undefined) return s.reply(530, refusal);
  s.failedLogins++;
  if (s.failedLogins >= s.policy.maxLoginAttempts) {
    s.reply(421, "Too many failed logins.");
    return s.close("too-many-logins");
  }
  s.reply(530, "Login incorrect.");
}

/**
 * The driver's answer to `authenticate-certificate`: 232, or 331 for a password.
 *
 * @param s The session.
 * @param ok Whether the client's certificate identifies the user.
 * @param access What the user may do.
 * @throws {TypeError} When no certificate check was asked for.
 */
export function certificateResult(s: ServerState, ok: boolean, access: FtpUserAccess): void {
  if (s.user === undefined || s.loggedIn) {
    throw new TypeError("Not waiting for a certificate check");
  }
  if (ok) return loggedIn(s, 232, "User logged in, authorized by security data exchange.", access);
  s.reply(331, "Password required.");
}

function loggedIn(s: ServerState, code: number, text: string, access: FtpUserAccess): void {
  s.loggedIn = true;
  s.access = fullAccess(access);
  s.permissions = ftpUserPermissions(s.access, access.directories);
  s.loginDeadline = undefined;
  s.failedLogins = 0;
  s.reply(code, text);
  s.emit({ type: "logged-in", user: s.user! });
}
