/**
 * The FTP/FTPS server control machine, sans-I/O: a whole server session (greeting, RFC 4217 TLS
 * negotiation and policies, login, session parameters, file commands, data connections and
 * transfers, ABOR, CCC, REIN, QUIT, limits). It reads command lines and writes replies; TLS,
 * sockets, storage and credential checks stay with the driver.
 *
 * This file holds the machine's inputs and outputs. Each command is a row of the command table
 * (`_server_session_commands.ts`), its handler in the file of its concern: security and login
 * (`_server_session_security.ts`), data connections and transfers (`_server_session_data.ts`),
 * listings (`_server_session_listing.ts`), file commands (`_server_session_files.ts`), all over
 * one session state (`_server_session_state.ts`).
 *
 * @module
 */

import { canonicalFtpHost } from "../codec/mod.ts";
import type {
  FtpDataResult,
  FtpServerAddresses,
  FtpServerEvent,
  FtpServerSessionOptions,
  FtpStorageResult,
  FtpUserAccess,
} from "./_server_session_types.ts";
import { ServerState } from "./_server_session_state.ts";
import { runCommand, runsDuringTransfer } from "./_server_session_commands.ts";
import * as security from "./_server_session_security.ts";
import { dataListenFailed, dataListening, transferEnded } from "./_server_session_data.ts";

export type {
  FtpDataResult,
  FtpHashAlgorithm,
  FtpServerAddresses,
  FtpServerEvent,
  FtpServerSessionOptions,
  FtpStorageRequest,
  FtpStorageResult,
  FtpTransferCommand,
  FtpUserAccess,
} from "./_server_session_types.ts";

/**
 * One server session over an FTP control connection, as a pure state machine.
 *
 * Inputs: `start`, `receive`, `controlUpgraded`, `controlUpgradeFailed`, `controlCleared`,
 * `loginResult`, `certificateResult`, `storageResult`, `dataListening`, `dataListenFailed`, `dataResult`,
 * `handleTimeout`, `shutdown`. Outputs: `pollTransmit` (reply bytes), `pollEvent`, `pollTimeout`.
 *
 * The whole RFC 959 command set (and MFMT, HASH and the X checksums, SITE CHMOD) is served over
 * an abstract storage: the machine asks for `storage` requests (stat, list, read, write, mkdir,
 * set-modified, chmod, hash, ...) and data connections (`listen-data`, `transfer-data`), and
 * never does file or socket I/O, nor hashing, itself.
 *
 * @example
 * ```ts
 * import { FtpServerSession } from "@ftkit/ftkit/ftps";
 *
 * const session = new FtpServerSession();
 * session.start(0);
 * console.log(new TextDecoder().decode(session.pollTransmit())); // "220 ftkit FTP server ready\r\n"
 * session.receive(1, new TextEncoder().encode("USER fred\r\n"));
 * console.log(new TextDecoder().decode(session.pollTransmit())); // "530 TLS required: use AUTH TLS first.\r\n"
 * ```
 */
export class FtpServerSession {
  readonly #state: ServerState;

  /**
   * Makes a session machine.
   *
   * @param options Policies and limits.
   */
  constructor(options: FtpServerSessionOptions = {}) {
    this.#state = new ServerState(options);
  }

  /** Whether the control connection is protected now. */
  get controlProtected(): boolean {
    return this.#state.protected;
  }

  /** The logged-in user, if any. */
  get user(): string | undefined {
    return this.#state.loggedIn ? this.#state.user : undefined;
  }

  /** The data protection level set by PROT (`"C"` until PROT P). */
  get protection(): "C" | "P" {
    return this.#state.prot;
  }

  /** The representation type set by TYPE (`"A"` until TYPE I). */
  get type(): "A" | "I" {
    return this.#state.type;
  }

  /** The current directory in the virtual tree. */
  get cwd(): string {
    return this.#state.cwd;
  }

  /** Whether the client switched UTF-8 on (`OPTS UTF8 ON`, RFC 2640). */
  get utf8(): boolean {
    return this.#state.utf8;
  }

  /** Whether a data transfer is in progress (its `transfer-data` event out, no result yet). */
  get transferring(): boolean {
    return this.#state.transfer !== undefined;
  }

  /** Whether the session is over. */
  isClosed(): boolean {
    return this.#state.phase === "closed";
  }

  // --- outputs ---

  /** The next reply bytes to write, or `undefined`. */
  pollTransmit(): Uint8Array | undefined {
    return this.#state.transmits.shift();
  }

  /** The next event, or `undefined`. */
  pollEvent(): FtpServerEvent | undefined {
    return this.#state.events.shift();
  }

  /** When `handleTimeout` must next be called, or `undefined` (also while the driver owes an
   * answer or a transfer runs). */
  pollTimeout(): number | undefined {
    const s = this.#state;
    if (s.phase === "waiting" || s.transfer) return undefined;
    let earliest: number | undefined;
    for (const deadline of [s.idleDeadline, s.loginDeadline, s.lineDeadline]) {
      if (deadline !== undefined && (earliest === undefined || deadline < earliest)) {
        earliest = deadline;
      }
    }
    return earliest;
  }

  // --- inputs ---

  /**
   * Starts the session on a new connection (already TLS in implicit mode): queues the greeting.
   *
   * @param now The current time in ms.
   * @param addresses The control connection's ends. Without them, data commands are refused
   * (425): PASV has no address to name, and the data connection checks have no peer to check.
   */
  start(now: number, addresses?: FtpServerAddresses): void {
    const s = this.#state;
    if (s.phase !== "idle") throw new TypeError("Session already started");
    if (addresses) {
      for (const host of [addresses.local, addresses.remote]) {
        if (canonicalFtpHost(host) === undefined) {
          throw new TypeError(`Not an IP address: "${host}"`);
        }
      }
      s.addresses = addresses;
    }
    s.phase = "running";
    s.control = s.policy.tls === "implicit" ? "protected" : "plain";
    s.reply(220, s.policy.greeting);
    s.idleDeadline = now + s.policy.idleTimeoutMs;
    s.loginDeadline = now + s.policy.loginTimeoutMs;
  }

  /**
   * Feeds bytes read from the control connection.
   *
   * @param now The current time in ms.
   * @param bytes The bytes.
   */
  receive(now: number, bytes: Uint8Array): void {
    const s = this.#state;
    if (s.phase === "idle") throw new TypeError("Session not started");
    if (s.phase === "closed") return;
    // RFC 4217 section 4: after AUTH TLS is accepted, nothing sent in plain text counts (the
    // CVE-2011-0411 class: commands smuggled before the handshake would run as protected ones).
    if (s.upgrading) return;
    const held = s.lines.pending > 0;
    let lines: string[];
    try {
      lines = s.lines.push(bytes);
    } catch {
      s.reply(500, "Command line too long.");
      s.close("protocol-error");
      return;
    }
    // Only whole lines are activity: a byte at a time keeps no session alive.
    if (lines.length > 0) s.idleDeadline = now + s.policy.idleTimeoutMs;
    if (s.lines.pending === 0) s.lineDeadline = undefined;
    else if (!held || lines.length > 0) s.lineDeadline = now + s.policy.lineTimeoutMs;
    for (const line of lines) {
      if (s.pending.length >= s.policy.maxPendingCommands) {
        s.reply(421, "Too many commands without waiting for replies.");
        s.close("protocol-error");
        return;
      }
      s.pending.push(line);
      this.#drain(now);
      if (this.isClosed() || s.upgrading) return;
    }
  }

  /**
   * TLS is up on the control connection (after `upgrade-control`). RFC 4217 section 4: the user
   * and every transfer parameter are reset, as if REIN had come.
   *
   * @param now The current time in ms.
   */
  controlUpgraded(now: number): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a control upgrade");
    security.controlUpgraded(this.#state);
    this.#resume(now);
  }

  /**
   * TLS on the control connection did not come up (after `upgrade-control`); the session ends as
   * RFC 4217 section 10.1 says for each case:
   *
   * - `"handshake"` (default): it failed during the handshake; the connection is in an unknown
   *   state and is dropped without a reply;
   * - `"no-handshake"`: no negotiation took place (the client sent no TLS); a 421 is queued, to be
   *   sent in plain text, then the session closes;
   * - `"rejected"`: the handshake completed but the driver refuses the session (a client
   *   certificate not allowed here); a 421 is queued, to be sent inside TLS, then it closes.
   *
   * @param _now The current time in ms.
   * @param how How it failed.
   */
  controlUpgradeFailed(
    _now: number,
    how: "handshake" | "no-handshake" | "rejected" = "handshake",
  ): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a control upgrade");
    security.controlUpgradeFailed(this.#state, how);
  }

  /**
   * TLS on the control connection is shut down (after `clear-control`).
   *
   * @param now The current time in ms.
   */
  controlCleared(now: number): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a control clearing");
    security.controlCleared(this.#state);
    this.#resume(now);
  }

  /**
   * The answer to an `authenticate` event.
   *
   * @param now The current time in ms.
   * @param ok Whether the credentials are good.
   * @param access What the user may do (default: nothing but read and list), for the `perm` fact
   * and the commands that need it (MFMT, SITE CHMOD).
   * @param refusal With `ok` false: the text of a 530 for a login refused for another reason
   * than its credentials (a limit, such as the user's sessions), which counts as no failed login.
   */
  loginResult(now: number, ok: boolean, access: FtpUserAccess = {}, refusal?: string): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a login check");
    security.loginResult(this.#state, ok, access, refusal);
    this.#resume(now);
  }

  /**
   * The answer to an `authenticate-certificate` event: with `ok`, the user is logged in (232);
   * without, a password is asked (331), as for any USER.
   *
   * @param now The current time in ms.
   * @param ok Whether the client's certificate identifies the user.
   * @param access What the user may do, as for `loginResult`.
   */
  certificateResult(now: number, ok: boolean, access: FtpUserAccess = {}): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a certificate check");
    security.certificateResult(this.#state, ok, access);
    this.#resume(now);
  }

  /**
   * The answer to a `storage` event.
   *
   * @param now The current time in ms.
   * @param result What the storage did.
   */
  storageResult(now: number, result: FtpStorageResult): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a storage result");
    const s = this.#state;
    const handle = s.onStorage;
    if (!handle) throw new TypeError("Not waiting for a storage result");
    s.onStorage = undefined;
    s.phase = "running";
    handle(result);
    // The handler may have asked the storage again (a listing's stat, then its list).
    if (s.phase === "running") this.#resume(now);
  }

  /**
   * The passive listener is open (after `listen-data`).
   *
   * @param now The current time in ms.
   * @param port Its TCP port.
   * @param address When `listen-data` asked to `resolve` the passive host name: the IPv4 address
   * it resolved to, named by this session's 227 replies from now on.
   */
  dataListening(now: number, port: number, address?: string): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a passive listener");
    dataListening(this.#state, port, address);
    this.#resume(now);
  }

  /**
   * The passive listener could not be opened, or the passive host name could not be resolved
   * (after `listen-data`): 425.
   *
   * @param now The current time in ms.
   * @param reason `unresolved` when `listen-data` asked to `resolve` a name that gave no IPv4
   * address in time (default `listen`: no listener could be opened).
   */
  dataListenFailed(now: number, reason: "listen" | "unresolved" = "listen"): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a passive listener");
    dataListenFailed(this.#state, reason);
    this.#resume(now);
  }

  /**
   * How a transfer's data connection ended (after `transfer-data`): the transfer's final reply
   * goes out (226, or 425, 426, 451, 452, 522, 552). A result for a transfer already aborted is
   * ignored.
   *
   * @param now The current time in ms.
   * @param id The transfer.
   * @param result How it ended.
   */
  dataResult(now: number, id: number, result: FtpDataResult): void {
    const s = this.#state;
    const transfer = s.transfer;
    if (!transfer || transfer.id !== id) {
      if (Number.isInteger(id) && id > 0 && id <= s.lastTransferId) return; // aborted
      throw new TypeError(`No transfer ${id}`);
    }
    if (this.isClosed()) return;
    s.idleDeadline = now + s.policy.idleTimeoutMs;
    transferEnded(s, transfer, result);
    this.#drain(now);
  }

  /**
   * Fires what expired, closing the session with 421: no login in time, a command line that took
   * too long, or inactivity.
   *
   * @param now The current time in ms.
   */
  handleTimeout(now: number): void {
    const s = this.#state;
    // The driver owes an answer, or bytes are moving: neither is inactivity.
    if (this.isClosed() || s.phase === "waiting" || s.transfer) return;
    const expired = (deadline: number | undefined) => deadline !== undefined && now >= deadline;
    if (expired(s.loginDeadline)) {
      s.reply(421, "Login timeout: closing the connection.");
      s.close("login-timeout");
    } else if (expired(s.lineDeadline)) {
      s.reply(421, "Command line timeout: closing the connection.");
      s.close("line-timeout");
    } else if (expired(s.idleDeadline)) {
      s.reply(421, "Idle timeout: closing the connection.");
      s.close("idle");
    }
  }

  /**
   * The server is going down: the session ends with 421 (RFC 959 section 4.2: "Service not
   * available, closing control connection", which may answer any command when the service must
   * shut down) as soon as it can. At once when it is idle; a transfer running (or one the command
   * being answered starts) runs to its end and gets its reply first; commands not run yet are
   * dropped, except those that may run during the transfer (ABOR, STAT, ...).
   *
   * @param now The current time in ms.
   */
  shutdown(now: number): void {
    const s = this.#state;
    if (s.phase === "idle") throw new TypeError("Session not started");
    if (this.isClosed()) return;
    s.shuttingDown = true;
    this.#drain(now);
  }

  #expectWaiting(what: string): void {
    if (this.#state.phase !== "waiting") throw new TypeError(`Not waiting for ${what}`);
  }

  #resume(now: number): void {
    if (this.isClosed()) return;
    this.#state.phase = "running";
    this.#state.idleDeadline = now + this.#state.policy.idleTimeoutMs;
    this.#drain(now);
  }

  /** Runs the held command lines in order, while the machine can: not while it waits for the
   * driver, and during a transfer only the commands the table lets run then, so that replies
   * keep the order of their commands. Once the server is shutting down and nothing runs, the
   * session ends. */
  #drain(now: number): void {
    const s = this.#state;
    while (s.pending.length > 0 && s.phase === "running") {
      if (s.transfer ? !runsDuringTransfer(s.pending[0]) : s.shuttingDown) break;
      runCommand(s, s.pending.shift()!, now);
    }
    if (s.shuttingDown && s.phase === "running" && !s.transfer) {
      s.reply(421, "Server shutting down: closing the connection.");
      s.close("shutdown");
    }
  }
}
