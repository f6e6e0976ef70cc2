/**
 * The FTP/FTPS server control machine, sans-I/O: a whole server session (greeting, RFC 4217 TLS
 * negotiation and policies, login, session parameters, file commands, data connections and
 * transfers, ABOR, CCC, REIN, QUIT, limits). It reads command lines and writes replies; TLS,
 * sockets, storage and credential checks stay with the driver.
 *
 * @module
 */

import {
  canonicalFtpHost,
  decodeFtpCommand,
  decodeFtpEprt,
  decodeFtpPort,
  encodeFtpReply,
  formatFtpEpsv,
  formatFtpFacts,
  formatFtpFeat,
  formatFtpListLine,
  formatFtpPasv,
  formatFtpPath,
  formatFtpTime,
  FtpCodecError,
  type FtpCommand,
  type FtpHostPort,
  FtpLineReader,
  sameFtpHost,
} from "../codec/mod.ts";

/** 4 for an IPv4 address (or an IPv4-mapped one), 6 for IPv6, `undefined` for anything else. */
function hostFamily(text: string): 4 | 6 | undefined {
  const host = canonicalFtpHost(text);
  return host === undefined ? undefined : host.includes(":") ? 6 : 4;
}
import { resolveFtpPath } from "./path.ts";
import type { FtpStorageEntry, FtpStorageStat } from "./storage.ts";

/** What the server machine asks of its storage (paths are absolute in the virtual tree). */
export type FtpStorageRequest =
  | {
    /** Facts about a path: for CWD, SIZE, MDTM, RNFR, MLST, STAT and the listings. */
    readonly op: "stat";
    /** The path. */
    readonly path: string;
  }
  | {
    /** A directory's entries (LIST, NLST, MLSD, STAT). */
    readonly op: "list";
    /** The directory. */
    readonly path: string;
  }
  | {
    /** Open a file for reading from `offset` (RETR; the offset comes from REST). The driver keeps
     * what it opened for the `transfer-data` event that follows a successful result. */
    readonly op: "read";
    /** The path. */
    readonly path: string;
    /** Where to start, in bytes. */
    readonly offset: number;
  }
  | {
    /** Open a file for writing (STOR, APPE): truncated at `offset` (0 makes it new or empty; REST
     * gives more), or appended to. The driver keeps what it opened for `transfer-data`. */
    readonly op: "write";
    /** The path. */
    readonly path: string;
    /** Where to start, in bytes (ignored when appending). */
    readonly offset: number;
    /** Whether to append (APPE). */
    readonly append: boolean;
  }
  | {
    /** Create a file under a name of the storage's choosing (STOU), in `directory`; its path goes
     * back in the result. */
    readonly op: "write-unique";
    /** Where. */
    readonly directory: string;
  }
  | {
    /** Make a directory (MKD). */
    readonly op: "mkdir";
    /** The path. */
    readonly path: string;
  }
  | {
    /** Remove an empty directory (RMD). */
    readonly op: "rmdir";
    /** The path. */
    readonly path: string;
  }
  | {
    /** Delete a file (DELE). */
    readonly op: "delete";
    /** The path. */
    readonly path: string;
  }
  | {
    /** Rename (RNFR, RNTO). */
    readonly op: "rename";
    /** The current path. */
    readonly from: string;
    /** The new path. */
    readonly to: string;
  };

/** The storage's answer to a request. */
export type FtpStorageResult =
  | {
    /** Done. */
    readonly ok: true;
    /** For `stat`: what the path is. */
    readonly stat?: FtpStorageStat;
    /** For `read`, when known: the file's whole size in bytes (it goes in the 150 reply). */
    readonly size?: number;
    /** For `list`: the entries. */
    readonly entries?: readonly FtpStorageEntry[];
    /** For `list`: the wall-clock time of the listing, for LIST's rule that entries older than
     * six months show a year instead of a time (without it every entry shows its year). */
    readonly now?: Date;
    /** For `write-unique`: the path of the file made. */
    readonly path?: string;
  }
  | {
    /** Refused or failed. */
    readonly ok: false;
    /** The reply code (default 550: not found or no access; 450 busy; 451 local error; 452 or
     * 552 out of space; 553 name not allowed). */
    readonly code?: 450 | 451 | 452 | 550 | 552 | 553;
    /** The reply text (default "Requested action not taken."). Never a real server path. */
    readonly message?: string;
  };

/** Options of {@linkcode FtpServerSession}. */
export interface FtpServerSessionOptions {
  /** TLS on the control connection: offered through AUTH TLS (`"explicit"`, default), there from
   * the first byte (`"implicit"`), or not at all (`"none"`). */
  tls?: "explicit" | "implicit" | "none";
  /** Refuse USER until the control connection is protected (default true when TLS is offered;
   * RFC 4217 section 10.1). */
  requireTlsForLogin?: boolean;
  /** Let `anonymous` and `ftp` log in (default false). */
  allowAnonymous?: boolean;
  /** Let the anonymous user log in without TLS even when TLS is required (default false). */
  anonymousWithoutTls?: boolean;
  /** The data protection the server accepts (RFC 4217 section 10.2): `"required"` (PROT P before
   * any transfer; default), `"optional"`, or `"none"` (PROT C only). */
  dataProtection?: "required" | "optional" | "none";
  /** Accept CCC (default false: 500, RFC 4217 section 5). */
  allowCcc?: boolean;
  /** The greeting's text (default `"ftkit FTP server ready"`). */
  greeting?: string;
  /** Failed logins before the session is closed with 421 (default 3). */
  maxLoginAttempts?: number;
  /** The longest command line, in bytes (default 4096). */
  maxLineLength?: number;
  /** Commands held while the machine waits (a TLS handshake, a credential check); more close the
   * session (default 16). */
  maxPendingCommands?: number;
  /** Inactivity before the session is closed with 421, in ms (default 300000): the time since the
   * last whole command line, or the server's last answer to one (a byte at a time is no
   * activity); a transfer in progress is not inactivity. */
  idleTimeoutMs?: number;
  /** The time from the greeting (or REIN) to a completed login, in ms, after which the session is
   * closed with 421 (default 60000): a client that connects and never logs in holds no slot for
   * long. */
  loginTimeoutMs?: number;
  /** The time a command line may take to arrive, from its first byte to its end, in ms (default
   * 30000): a client that trickles a byte at a time is closed with 421. */
  lineTimeoutMs?: number;
  /** The IPv4 address a 227 reply names (default: the control connection's local address), for a
   * server behind NAT. */
  passiveHost?: string;
  /** Let data connections come from, and PORT/EPRT point to, hosts other than the control
   * connection's peer and ports below 1024 (default false: RFC 2577 section 3's bounce attack and
   * section 7's port stealing). */
  allowForeignDataHosts?: boolean;
  /** Refuse a protected data connection whose TLS session is not a resumption of the control
   * connection's (522; RFC 4217 section 10.2). Default false. Never after REIN, which may not
   * mandate cached sessions (RFC 4217 section 13). */
  requireTlsResumption?: boolean;
  /** Ask the driver whether the TLS client certificate alone identifies the user named by USER
   * on a protected control connection (an `authenticate-certificate` event); if it does, USER is
   * answered 232 and no password is asked (RFC 4217 section 12.2). Default false. */
  certificateLogin?: boolean;
}

/** The control connection's two ends, for PASV replies and the data connection checks. */
export interface FtpServerAddresses {
  /** The server's address on the control connection. */
  readonly local: string;
  /** The client's address. */
  readonly remote: string;
}

/** How a data connection ended, as its driver reports it to `dataResult`. */
export type FtpDataResult =
  | {
    /** Every byte moved, and the connection closed cleanly. */
    readonly ok: true;
  }
  | {
    /** It failed. */
    readonly ok: false;
    /** Where: no connection came or could be made (425), the TLS handshake failed (522), the
     * TLS session was not resumed when that is required (522), the connection broke (426), a
     * protected upload ended without TLS close_notify (`truncated`, 426), a second data
     * connection came from the client's host (`contested`, 426: one of them is not the
     * client's), or the storage failed (`code`, default 451). */
    readonly reason:
      | "connect"
      | "tls"
      | "tls-resumption"
      | "broken"
      | "truncated"
      | "contested"
      | "storage";
    /** For `storage`: the reply code (451 local error; 452 or 552 out of space). */
    readonly code?: 451 | 452 | 552;
    /** For `storage`: the reply text. Never a real server path. */
    readonly message?: string;
  };

/** What the server machine tells its driver. `closed` is final. */
export type FtpServerEvent =
  | {
    /** The 234 to AUTH TLS is queued: send it, then run TLS on the control connection as its
     * server and call `controlUpgraded(now)` (or `controlUpgradeFailed(now)`). */
    readonly type: "upgrade-control";
  }
  | {
    /** The 200 to CCC, or the 220 to REIN, is queued: send it, shut TLS down on the control
     * connection (keeping TCP), then call `controlCleared(now)`. */
    readonly type: "clear-control";
  }
  | {
    /** Check these credentials and call `loginResult(now, ok)`. */
    readonly type: "authenticate";
    /** The user name. */
    readonly user: string;
    /** The password. */
    readonly password: string;
    /** Whether the control connection is protected. */
    readonly protected: boolean;
    /** Whether the user is `anonymous` or `ftp` (let this far only with `allowAnonymous`): any
     * password is taken, and the session gets the anonymous storage. */
    readonly anonymous: boolean;
  }
  | {
    /** USER on a protected control connection, with `certificateLogin` on: check whether the
     * client's TLS certificate identifies this user and call `certificateResult(now, ok)`. */
    readonly type: "authenticate-certificate";
    /** The user name. */
    readonly user: string;
  }
  | {
    /** Carry out this storage request and call `storageResult(now, result)`. */
    readonly type: "storage";
    /** The request. */
    readonly request: FtpStorageRequest;
  }
  | {
    /** PASV or EPSV: listen on a fresh TCP port of the control connection's local address
     * (`family` 4 or 6), then call `dataListening(now, port)` (or `dataListenFailed(now)`). */
    readonly type: "listen-data";
    /** The address family. */
    readonly family: 4 | 6;
  }
  | {
    /** Close the passive listener (or a data connection accepted early) and forget it. */
    readonly type: "close-data";
  }
  | {
    /** A transfer is accepted and its 150 queued: get the data connection (accept it on the
     * passive listener, or connect to `connect`), run TLS on it as its server when `tls`, move
     * the bytes, close it, then call `dataResult(now, id, result)`. */
    readonly type: "transfer-data";
    /** The transfer. */
    readonly id: number;
    /** `send` (RETR, and listings) or `receive` (STOR, APPE, STOU). */
    readonly direction: "send" | "receive";
    /** Active mode: where to connect. Absent in passive mode. */
    readonly connect?: FtpHostPort;
    /** Passive mode: the only host a data connection may come from (others are closed unread),
     * as the control connection's peer was given to `start`; compare addresses with
     * `sameFtpHost`, not as text. `undefined` when any host may connect. */
    readonly acceptFrom?: string;
    /** Whether the data connection is TLS (PROT P). */
    readonly tls: boolean;
    /** Whether the data connection's TLS session must resume the control connection's. */
    readonly requireTlsResumption: boolean;
    /** The representation type (TYPE): `I` bytes as they are, `A` text with CRLF line ends. */
    readonly representation: "A" | "I";
    /** For a listing: the bytes to send as they are, whatever the representation type (the
     * storage was not opened). */
    readonly listing?: Uint8Array;
  }
  | {
    /** ABOR: drop the transfer's data connection now, and with it what the storage opened (an
     * upload stays incomplete). No `dataResult` is expected; one that comes is ignored. */
    readonly type: "abort-data";
    /** The transfer. */
    readonly id: number;
  }
  | {
    /** Someone logged in. */
    readonly type: "logged-in";
    /** The user name. */
    readonly user: string;
  }
  | {
    /** The session is over: close the control connection once the queued replies are sent, and
     * any data connection or listener at once. */
    readonly type: "closed";
    /** Why. */
    readonly reason:
      | "quit"
      | "idle"
      | "login-timeout"
      | "line-timeout"
      | "too-many-logins"
      | "protocol-error"
      | "tls-failed";
  };

const ANONYMOUS = new Set(["anonymous", "ftp"]);
/** A LIST or STAT argument less the `ls` options clients put first (`-la`). */
function withoutLsOptions(argument: string): string {
  return argument.replace(/^\s*(-[a-zA-Z]+\s*)+/, "");
}

/** The MLST/MLSD facts served (RFC 3659 section 7.5). */
const MLST_FACTS: readonly string[] = ["type", "size", "modify"];

/**
 * One server session over an FTP control connection, as a pure state machine.
 *
 * Inputs: `start`, `receive`, `controlUpgraded`, `controlUpgradeFailed`, `controlCleared`,
 * `loginResult`, `certificateResult`, `storageResult`, `dataListening`, `dataListenFailed`, `dataResult`,
 * `handleTimeout`. Outputs: `pollTransmit` (reply bytes), `pollEvent`, `pollTimeout`.
 *
 * The whole RFC 959 command set is served over an abstract storage: the machine asks for
 * `storage` requests (stat, list, read, write, mkdir, ...) and data connections
 * (`listen-data`, `transfer-data`), and never does file or socket I/O itself.
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
  readonly #tls: "explicit" | "implicit" | "none";
  readonly #requireTls: boolean;
  readonly #allowAnonymous: boolean;
  readonly #anonymousWithoutTls: boolean;
  readonly #dataProtection: "required" | "optional" | "none";
  readonly #allowCcc: boolean;
  readonly #greeting: string;
  readonly #maxLoginAttempts: number;
  readonly #maxPending: number;
  readonly #idleTimeoutMs: number;
  readonly #loginTimeoutMs: number;
  readonly #lineTimeoutMs: number;
  readonly #passiveHost: string | undefined;
  readonly #allowForeign: boolean;
  readonly #requireResumption: boolean;
  readonly #certificateLogin: boolean;
  readonly #maxLineLength: number;
  #lines: FtpLineReader;
  #addresses: FtpServerAddresses | undefined;

  #transmits: Uint8Array[] = [];
  #events: FtpServerEvent[] = [];
  #phase: "idle" | "running" | "waiting" | "closed" = "idle";
  #pending: string[] = [];
  /** When the session counts as idle: the last whole command line, or answer, plus the idle
   * timeout. */
  #idleDeadline: number | undefined;
  /** Until a login completes: the greeting (or REIN) plus the login timeout. */
  #loginDeadline: number | undefined;
  /** While part of a command line is held: its first byte plus the line timeout. */
  #lineDeadline: number | undefined;

  // Session state (RFC 4217 section 4: AUTH resets all but itself; REIN resets all).
  #protected = false;
  #cleared = false;
  #pbsz = false;
  #prot: "C" | "P" = "C";
  #user: string | undefined;
  #loggedIn = false;
  #failedLogins = 0;
  #type: "A" | "I" = "A";
  #utf8 = false;
  #cwd = "/";
  #renameFrom: string | undefined;
  #onStorage: ((result: FtpStorageResult) => void) | undefined;
  #restart = 0;
  #epsvAll = false;
  #mlstFacts: readonly string[] = MLST_FACTS;
  /** The data connection set up by PASV/EPSV (port undefined while the driver opens it) or
   * PORT/EPRT, until a transfer command uses it. */
  #channel:
    | { readonly kind: "passive"; readonly extended: boolean; port?: number }
    | { readonly kind: "active"; readonly address: FtpHostPort }
    | undefined;
  #transfer: { readonly id: number; readonly verb: string; readonly note: string } | undefined;
  #lastTransferId = 0;
  /** AUTH TLS was accepted and the handshake has not finished: plain input is dropped. */
  #upgrading = false;
  /** The passive listener of a refused transfer command, kept until the next command. */
  #refusedListener = false;
  /** After REIN, resumption of TLS sessions may not be mandated (RFC 4217 section 13). */
  #resumptionWaived = false;

  /**
   * Makes a session machine.
   *
   * @param options Policies and limits.
   */
  constructor(options: FtpServerSessionOptions = {}) {
    this.#tls = options.tls ?? "explicit";
    this.#requireTls = options.requireTlsForLogin ?? this.#tls !== "none";
    this.#allowAnonymous = options.allowAnonymous ?? false;
    this.#anonymousWithoutTls = options.anonymousWithoutTls ?? false;
    this.#dataProtection = options.dataProtection ?? "required";
    this.#allowCcc = options.allowCcc ?? false;
    this.#greeting = options.greeting ?? "ftkit FTP server ready";
    this.#maxLoginAttempts = options.maxLoginAttempts ?? 3;
    this.#maxPending = options.maxPendingCommands ?? 16;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
    this.#loginTimeoutMs = options.loginTimeoutMs ?? 60_000;
    this.#lineTimeoutMs = options.lineTimeoutMs ?? 30_000;
    this.#passiveHost = options.passiveHost;
    if (this.#passiveHost !== undefined && hostFamily(this.#passiveHost) !== 4) {
      throw new TypeError(`passiveHost must be an IPv4 address, got "${this.#passiveHost}"`);
    }
    this.#allowForeign = options.allowForeignDataHosts ?? false;
    this.#requireResumption = options.requireTlsResumption ?? false;
    this.#certificateLogin = options.certificateLogin ?? false;
    this.#maxLineLength = options.maxLineLength ?? 4096;
    this.#lines = new FtpLineReader({ maxLineLength: this.#maxLineLength });
  }

  /** Whether the control connection is protected now. */
  get controlProtected(): boolean {
    return this.#protected;
  }

  /** The logged-in user, if any. */
  get user(): string | undefined {
    return this.#loggedIn ? this.#user : undefined;
  }

  /** The data protection level set by PROT (`"C"` until PROT P). */
  get protection(): "C" | "P" {
    return this.#prot;
  }

  /** The representation type set by TYPE (`"A"` until TYPE I). */
  get type(): "A" | "I" {
    return this.#type;
  }

  /** The current directory in the virtual tree. */
  get cwd(): string {
    return this.#cwd;
  }

  /** Whether the client switched UTF-8 on (`OPTS UTF8 ON`, RFC 2640). */
  get utf8(): boolean {
    return this.#utf8;
  }

  /** Whether a data transfer is in progress (its `transfer-data` event out, no result yet). */
  get transferring(): boolean {
    return this.#transfer !== undefined;
  }

  /** Whether the session is over. */
  isClosed(): boolean {
    return this.#phase === "closed";
  }

  // --- outputs ---

  /** The next reply bytes to write, or `undefined`. */
  pollTransmit(): Uint8Array | undefined {
    return this.#transmits.shift();
  }

  /** The next event, or `undefined`. */
  pollEvent(): FtpServerEvent | undefined {
    return this.#events.shift();
  }

  /** When `handleTimeout` must next be called, or `undefined` (also while the driver owes an
   * answer or a transfer runs). */
  pollTimeout(): number | undefined {
    if (this.#phase === "waiting" || this.#transfer) return undefined;
    let earliest: number | undefined;
    for (const deadline of [this.#idleDeadline, this.#loginDeadline, this.#lineDeadline]) {
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
    if (this.#phase !== "idle") throw new TypeError("Session already started");
    if (addresses) {
      for (const host of [addresses.local, addresses.remote]) {
        if (canonicalFtpHost(host) === undefined) {
          throw new TypeError(`Not an IP address: "${host}"`);
        }
      }
      this.#addresses = addresses;
    }
    this.#phase = "running";
    this.#protected = this.#tls === "implicit";
    this.#reply(220, this.#greeting);
    this.#idleDeadline = now + this.#idleTimeoutMs;
    this.#loginDeadline = now + this.#loginTimeoutMs;
  }

  /**
   * Feeds bytes read from the control connection.
   *
   * @param now The current time in ms.
   * @param bytes The bytes.
   */
  receive(now: number, bytes: Uint8Array): void {
    if (this.#phase === "idle") throw new TypeError("Session not started");
    if (this.#phase === "closed") return;
    // RFC 4217 section 4: after AUTH TLS is accepted, nothing sent in plain text counts (the
    // CVE-2011-0411 class: commands smuggled before the handshake would run as protected ones).
    if (this.#upgrading) return;
    const held = this.#lines.pending > 0;
    let lines: string[];
    try {
      lines = this.#lines.push(bytes);
    } catch {
      this.#reply(500, "Command line too long.");
      this.#close("protocol-error");
      return;
    }
    // Only whole lines are activity: a byte at a time keeps no session alive.
    if (lines.length > 0) this.#idleDeadline = now + this.#idleTimeoutMs;
    if (this.#lines.pending === 0) this.#lineDeadline = undefined;
    else if (!held || lines.length > 0) this.#lineDeadline = now + this.#lineTimeoutMs;
    for (const line of lines) {
      if (this.#pending.length >= this.#maxPending) {
        this.#reply(421, "Too many commands without waiting for replies.");
        this.#close("protocol-error");
        return;
      }
      this.#pending.push(line);
      this.#drain(now);
      if (this.isClosed() || this.#upgrading) return;
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
    this.#upgrading = false;
    this.#reset();
    this.#protected = true;
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
    this.#upgrading = false;
    if (how === "rejected") {
      this.#protected = true;
      this.#reply(421, "TLS session not acceptable; closing the connection.");
    } else if (how === "no-handshake") {
      this.#reply(421, "TLS negotiation failed; closing the connection.");
    }
    this.#close("tls-failed");
  }

  /**
   * TLS on the control connection is shut down (after `clear-control`).
   *
   * @param now The current time in ms.
   */
  controlCleared(now: number): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a control clearing");
    this.#protected = false;
    this.#resume(now);
  }

  /**
   * The answer to an `authenticate` event.
   *
   * @param now The current time in ms.
   * @param ok Whether the credentials are good.
   */
  loginResult(now: number, ok: boolean): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a login check");
    if (ok) {
      this.#loggedIn = true;
      this.#loginDeadline = undefined;
      this.#failedLogins = 0;
      this.#reply(230, "Login successful.");
      this.#events.push({ type: "logged-in", user: this.#user! });
    } else {
      this.#user = undefined;
      this.#failedLogins++;
      if (this.#failedLogins >= this.#maxLoginAttempts) {
        this.#reply(421, "Too many failed logins.");
        this.#close("too-many-logins");
        return;
      }
      this.#reply(530, "Login incorrect.");
    }
    this.#resume(now);
  }

  /**
   * The answer to an `authenticate-certificate` event: with `ok`, the user is logged in (232);
   * without, a password is asked (331), as for any USER.
   *
   * @param now The current time in ms.
   * @param ok Whether the client's certificate identifies the user.
   */
  certificateResult(now: number, ok: boolean): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a certificate check");
    if (this.#user === undefined || this.#loggedIn) {
      throw new TypeError("Not waiting for a certificate check");
    }
    if (ok) {
      this.#loggedIn = true;
      this.#loginDeadline = undefined;
      this.#failedLogins = 0;
      this.#reply(232, "User logged in, authorized by security data exchange.");
      this.#events.push({ type: "logged-in", user: this.#user });
    } else {
      this.#reply(331, "Password required.");
    }
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
    const handle = this.#onStorage;
    if (!handle) throw new TypeError("Not waiting for a storage result");
    this.#onStorage = undefined;
    this.#phase = "running";
    handle(result);
    // The handler may have asked the storage again (a listing's stat, then its list).
    if (this.#phase === "running") this.#resume(now);
  }

  /**
   * The passive listener is open (after `listen-data`).
   *
   * @param now The current time in ms.
   * @param port Its TCP port.
   */
  dataListening(now: number, port: number): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a passive listener");
    const channel = this.#channel;
    if (channel?.kind !== "passive" || channel.port !== undefined) {
      throw new TypeError("Not waiting for a passive listener");
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`A port is 1-65535, got ${port}`);
    }
    channel.port = port;
    if (channel.extended) {
      this.#reply(229, formatFtpEpsv(port));
    } else {
      const host = canonicalFtpHost(this.#passiveHost ?? this.#addresses!.local)!;
      this.#reply(227, formatFtpPasv({ host, port }));
    }
    this.#resume(now);
  }

  /**
   * The passive listener could not be opened (after `listen-data`).
   *
   * @param now The current time in ms.
   */
  dataListenFailed(now: number): void {
    if (this.isClosed()) return;
    this.#expectWaiting("a passive listener");
    if (this.#channel?.kind !== "passive" || this.#channel.port !== undefined) {
      throw new TypeError("Not waiting for a passive listener");
    }
    this.#channel = undefined;
    this.#reply(425, "Cannot open a passive connection.");
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
    const transfer = this.#transfer;
    if (!transfer || transfer.id !== id) {
      if (Number.isInteger(id) && id > 0 && id <= this.#lastTransferId) return; // aborted
      throw new TypeError(`No transfer ${id}`);
    }
    if (this.isClosed()) return;
    this.#transfer = undefined;
    this.#idleDeadline = now + this.#idleTimeoutMs;
    if (result.ok) {
      this.#reply(226, `Transfer complete${transfer.note}.`);
    } else {
      switch (result.reason) {
        case "connect":
          this.#reply(425, "Cannot open the data connection.");
          break;
        case "tls":
          // RFC 4217 section 10.2: the data port is closed and 522 follows the 150.
          this.#reply(522, "TLS negotiation on the data connection failed.");
          break;
        case "tls-resumption":
          this.#reply(522, "The data connection must resume the control connection's TLS session.");
          break;
        case "broken":
          this.#reply(426, "Connection closed; transfer aborted.");
          break;
        case "truncated":
          // RFC 4217 sections 12.6 and 12.7: a protected transfer ends with a TLS shutdown.
          this.#reply(426, "Data connection closed without TLS close_notify; transfer aborted.");
          break;
        case "contested":
          this.#reply(
            426,
            "Another data connection came from your address; transfer aborted.",
          );
          break;
        case "storage":
          this.#reply(result.code ?? 451, result.message ?? "Local error in processing.");
          break;
      }
    }
    this.#drain(now);
  }

  /**
   * Fires what expired, closing the session with 421: no login in time, a command line that took
   * too long, or inactivity.
   *
   * @param now The current time in ms.
   */
  handleTimeout(now: number): void {
    // The driver owes an answer, or bytes are moving: neither is inactivity.
    if (this.isClosed() || this.#phase === "waiting" || this.#transfer) return;
    const expired = (deadline: number | undefined) => deadline !== undefined && now >= deadline;
    if (expired(this.#loginDeadline)) {
      this.#reply(421, "Login timeout: closing the connection.");
      this.#close("login-timeout");
    } else if (expired(this.#lineDeadline)) {
      this.#reply(421, "Command line timeout: closing the connection.");
      this.#close("line-timeout");
    } else if (expired(this.#idleDeadline)) {
      this.#reply(421, "Idle timeout: closing the connection.");
      this.#close("idle");
    }
  }

  // --- commands ---

  #line(now: number, line: string): void {
    if (this.#refusedListener) {
      this.#refusedListener = false;
      this.#events.push({ type: "close-data" });
    }
    let command: FtpCommand;
    try {
      command = decodeFtpCommand(line);
    } catch (error) {
      if (error instanceof FtpCodecError) {
        this.#reply(500, "Syntax error, command unrecognized.");
        return;
      }
      throw error;
    }
    const argument = command.argument ?? "";
    switch (command.verb) {
      case "AUTH":
        return this.#auth(argument);
      case "PBSZ":
        return this.#pbszCommand(argument);
      case "PROT":
        return this.#protCommand(argument);
      case "CCC":
        return this.#ccc();
      case "USER":
        return this.#userCommand(argument);
      case "PASS":
        return this.#pass(argument);
      case "ACCT":
        return this.#reply(202, "ACCT not needed.");
      case "REIN":
        return this.#rein(now);
      case "QUIT":
        this.#reply(221, "Goodbye.");
        return this.#close("quit");
      case "FEAT":
        return this.#feat();
      case "NOOP":
        return this.#reply(200, "NOOP ok.");
      case "SYST":
        return this.#reply(215, "UNIX Type: L8");
      case "OPTS":
        if (/^utf8\s+on$/i.test(argument.trim())) {
          this.#utf8 = true;
          return this.#reply(200, "UTF8 mode on.");
        }
        if (/^mlst(\s|$)/i.test(argument.trim())) return this.#optsMlst(argument.trim().slice(4));
        return this.#reply(501, "Option not understood.");
      case "HELP":
        return this.#reply(214, "See FEAT for the extensions; RFC 959 commands are recognized.");
    }
    if (!this.#loggedIn) return this.#reply(530, "Please login with USER and PASS.");
    switch (command.verb) {
      case "TYPE":
        return this.#typeCommand(argument);
      case "MODE":
        return /^s$/i.test(argument)
          ? this.#reply(200, "Mode set to S.")
          : this.#reply(504, "Only stream mode.");
      case "STRU":
        return /^f$/i.test(argument)
          ? this.#reply(200, "Structure set to F.")
          : this.#reply(504, "Only file structure.");
    }
    if (command.verb !== "RNTO") this.#renameFrom = undefined;
    switch (command.verb) {
      case "ABOR":
        return this.#abor();
      case "STAT":
        return this.#stat(argument);
      case "PASV":
        return this.#passive(false, argument);
      case "EPSV":
        return this.#passive(true, argument);
      case "PORT":
        return this.#active(false, argument);
      case "EPRT":
        return this.#active(true, argument);
      case "REST":
        if (!/^\d{1,15}$/.test(argument.trim())) {
          return this.#reply(501, "REST takes a byte offset.");
        }
        this.#restart = Number(argument.trim());
        return this.#reply(350, `Restarting at ${this.#restart}. Send RETR or STOR.`);
      case "RETR":
      case "STOR":
      case "APPE":
      case "STOU":
      case "LIST":
      case "NLST":
      case "MLSD":
        return this.#transferCommand(command.verb, argument);
      case "MLST":
        return this.#mlst(argument);
      case "ALLO":
        return this.#reply(202, "ALLO not needed.");
      case "SITE":
        return /^help\b/i.test(argument.trim())
          ? this.#reply(214, "No SITE commands here.")
          : this.#reply(504, "SITE command not supported.");
      case "PWD":
      case "XPWD":
        return this.#reply(257, formatFtpPath(this.#cwd, "is the current directory."));
      case "CWD":
      case "XCWD":
        return this.#cwdCommand(argument);
      case "CDUP":
      case "XCUP":
        return this.#cwdCommand("..");
      case "MKD":
      case "XMKD":
        return this.#pathCommand(
          argument,
          "mkdir",
          (path) => this.#reply(257, formatFtpPath(path, "created.")),
        );
      case "RMD":
      case "XRMD":
        return this.#pathCommand(argument, "rmdir", () => this.#reply(250, "Directory removed."));
      case "DELE":
        return this.#pathCommand(argument, "delete", () => this.#reply(250, "File deleted."));
      case "SIZE":
        // RFC 3659 section 4: the octets a transfer in the current TYPE would send, never an
        // estimate. In TYPE A that needs the whole file read and converted, so it is refused
        // (section 4.2 allows 550 when the size is not available), as ProFTPD and pyftpdlib do.
        if (this.#type === "A" && argument !== "") {
          return this.#reply(550, "SIZE is not available in ASCII mode; use TYPE I.");
        }
        return this.#statCommand(
          argument,
          (stat) =>
            stat.type === "file"
              ? this.#reply(213, String(stat.size))
              : this.#reply(550, "Not a plain file."),
        );
      case "MDTM":
        return this.#statCommand(
          argument,
          (stat) => this.#reply(213, formatFtpTime(stat.modified)),
        );
      case "RNFR":
        return this.#statCommand(argument, (_stat, path) => {
          this.#renameFrom = path;
          this.#reply(350, "Ready for RNTO.");
        });
      case "RNTO":
        return this.#rnto(argument);
    }
    this.#reply(502, `${command.verb} not implemented.`);
  }

  #storage(request: FtpStorageRequest, handle: (result: FtpStorageResult) => void): void {
    this.#events.push({ type: "storage", request });
    this.#onStorage = handle;
    this.#phase = "waiting";
  }

  #refused(result: Extract<FtpStorageResult, { ok: false }>): void {
    this.#reply(result.code ?? 550, result.message ?? "Requested action not taken.");
  }

  #cwdCommand(argument: string): void {
    const path = resolveFtpPath(this.#cwd, argument);
    this.#storage({ op: "stat", path }, (result) => {
      if (!result.ok) return this.#refused(result);
      if (result.stat?.type !== "dir") return this.#reply(550, "Not a directory.");
      this.#cwd = path;
      this.#reply(250, "Directory changed.");
    });
  }

  #pathCommand(
    argument: string,
    op: "mkdir" | "rmdir" | "delete",
    done: (path: string) => void,
  ): void {
    if (argument.trim() === "") return this.#reply(501, "A path is needed.");
    const path = resolveFtpPath(this.#cwd, argument);
    this.#storage({ op, path }, (result) => (result.ok ? done(path) : this.#refused(result)));
  }

  #statCommand(
    argument: string,
    done: (
      stat: NonNullable<Extract<FtpStorageResult, { ok: true }>["stat"]>,
      path: string,
    ) => void,
  ): void {
    if (argument.trim() === "") return this.#reply(501, "A path is needed.");
    const path = resolveFtpPath(this.#cwd, argument);
    this.#storage({ op: "stat", path }, (result) => {
      if (!result.ok) return this.#refused(result);
      if (!result.stat) return this.#reply(550, "No such file.");
      done(result.stat, path);
    });
  }

  #rnto(argument: string): void {
    const from = this.#renameFrom;
    this.#renameFrom = undefined;
    if (from === undefined) return this.#reply(503, "RNFR first.");
    if (argument.trim() === "") return this.#reply(501, "A path is needed.");
    const to = resolveFtpPath(this.#cwd, argument);
    this.#storage(
      { op: "rename", from, to },
      (result) => result.ok ? this.#reply(250, "Rename successful.") : this.#refused(result),
    );
  }

  // --- data connections (RFC 959 section 4.1.2, RFC 2428, RFC 4217 sections 7 and 10.2) ---

  #closeChannel(): void {
    if (this.#channel?.kind === "passive" || this.#refusedListener) {
      this.#events.push({ type: "close-data" });
    }
    this.#channel = undefined;
    this.#refusedListener = false;
  }

  #passive(extended: boolean, argument: string): void {
    const addresses = this.#addresses;
    if (!addresses) return this.#reply(425, "No data connections on this session.");
    const family = hostFamily(addresses.local)!;
    if (extended) {
      const wanted = argument.trim().toUpperCase();
      if (wanted === "ALL") {
        // RFC 2428 section 4: from now on, only EPSV sets up data connections.
        this.#epsvAll = true;
        return this.#reply(200, "EPSV ALL ok.");
      }
      if (wanted !== "") {
        if (wanted !== "1" && wanted !== "2") return this.#reply(501, "EPSV takes 1, 2 or ALL.");
        if ((wanted === "1") !== (family === 4)) {
          // RFC 2428 section 3: the protocols this connection can do.
          return this.#reply(522, `Network protocol not supported, use (${family === 4 ? 1 : 2})`);
        }
      }
    } else {
      if (this.#epsvAll) return this.#reply(503, "EPSV ALL is in force: use EPSV.");
      if (family !== 4 && this.#passiveHost === undefined) {
        return this.#reply(425, "PASV works over IPv4 only: use EPSV.");
      }
    }
    this.#closeChannel();
    this.#channel = { kind: "passive", extended };
    this.#events.push({ type: "listen-data", family });
    this.#phase = "waiting";
  }

  #active(extended: boolean, argument: string): void {
    const addresses = this.#addresses;
    if (!addresses) return this.#reply(425, "No data connections on this session.");
    if (this.#epsvAll) return this.#reply(503, "EPSV ALL is in force: use EPSV.");
    const text = argument.trim();
    if (extended) {
      const protocol = text.split(text[0] ?? "|")[1];
      if (text.length > 0 && protocol !== "1" && protocol !== "2") {
        // RFC 2428 section 2: 522 names the protocols the server does.
        return this.#reply(522, "Network protocol not supported, use (1,2)");
      }
    }
    let address: FtpHostPort;
    try {
      address = extended ? decodeFtpEprt(text) : decodeFtpPort(text);
    } catch (error) {
      if (error instanceof FtpCodecError) {
        return this.#reply(501, `Syntax error in ${extended ? "EPRT" : "PORT"}.`);
      }
      throw error;
    }
    if (!this.#allowForeign) {
      // RFC 2577 section 3: no data connection to a third host, nor to a well-known port.
      if (!sameFtpHost(address.host, addresses.remote)) {
        return this.#reply(504, "Data connections go to the control connection's host only.");
      }
      if (address.port < 1024) return this.#reply(504, "Data ports below 1024 are refused.");
    }
    this.#closeChannel();
    this.#channel = { kind: "active", address };
    this.#reply(200, `${extended ? "EPRT" : "PORT"} command successful.`);
  }

  /** Whether this session's transfers must be protected and are not (RFC 4217 section 10.2). */
  #protectionLacking(): boolean {
    if (this.#dataProtection !== "required" || this.#prot === "P") return false;
    // An anonymous user let in without TLS cannot have PROT P: its data goes in the clear.
    const anonymous = ANONYMOUS.has((this.#user ?? "").toLowerCase());
    return !(anonymous && this.#anonymousWithoutTls && !this.#protected);
  }

  #transferCommand(verb: string, argument: string): void {
    const channel = this.#channel;
    if (!channel || (channel.kind === "passive" && channel.port === undefined)) {
      return this.#reply(425, "Use PORT, PASV, EPRT or EPSV first.");
    }
    // The set-up serves one transfer, whatever becomes of it.
    this.#channel = undefined;
    const offset = this.#restart;
    this.#restart = 0;
    const refuse = (code: number, text: string) => {
      // The passive listener, and a data connection the client made already, stay until its
      // next command: a client that runs TLS on the data connection at once (curl) would
      // otherwise see it fail before it reads this reply, and report that instead.
      if (channel.kind === "passive") this.#refusedListener = true;
      this.#reply(code, text);
    };
    if (this.#protectionLacking()) {
      // RFC 4217 section 10.2: checked on the transfer command, before any 1xx reply.
      return refuse(521, "Data connection cannot be opened with this PROT setting.");
    }
    const start = (
      direction: "send" | "receive",
      opening: string,
      note: string,
      listing?: Uint8Array,
    ) => {
      const id = ++this.#lastTransferId;
      this.#transfer = { id, verb, note };
      this.#reply(150, opening);
      this.#events.push({
        type: "transfer-data",
        id,
        direction,
        ...(channel.kind === "active"
          ? { connect: channel.address }
          : this.#allowForeign
          ? {}
          : { acceptFrom: this.#addresses!.remote }),
        tls: this.#prot === "P",
        requireTlsResumption: this.#prot === "P" && this.#requireResumption &&
          !this.#resumptionWaived,
        representation: this.#type,
        ...(listing ? { listing } : {}),
      });
    };
    const mode = this.#type === "I" ? "BINARY" : "ASCII";
    if (verb === "LIST" || verb === "NLST" || verb === "MLSD") {
      // `LIST -la` and such: ls options, which the listing does not need.
      const target = verb === "MLSD" ? argument : withoutLsOptions(argument);
      const path = resolveFtpPath(this.#cwd, target);
      return this.#listing(path, verb === "MLSD", (entries, wallClock) => {
        const lines = this.#listingLines(verb, entries, wallClock);
        const bytes = new TextEncoder().encode(lines.map((line) => `${line}\r\n`).join(""));
        start("send", `Here comes the directory listing.`, "", bytes);
      }, refuse);
    }
    if (verb === "STOU") {
      return this.#storage({ op: "write-unique", directory: this.#cwd }, (result) => {
        if (!result.ok) {
          return refuse(result.code ?? 550, result.message ?? "Cannot create a file.");
        }
        const name = result.path ?? "";
        if (/[\r\n\0]/.test(name)) return refuse(451, "Local error in processing.");
        // RFC 1123 section 4.1.2.9: the name goes in the 150 reply as "FILE: name".
        start("receive", `FILE: ${name}`, ` (unique file name: ${name})`);
      });
    }
    if (argument.trim() === "") return refuse(501, "A path is needed.");
    const path = resolveFtpPath(this.#cwd, argument);
    if (verb === "RETR") {
      return this.#storage({ op: "read", path, offset }, (result) => {
        if (!result.ok) return refuse(result.code ?? 550, result.message ?? "Failed to open file.");
        const size = result.size !== undefined ? ` (${result.size} bytes)` : "";
        start("send", `Opening ${mode} mode data connection for ${argument.trim()}${size}.`, "");
      });
    }
    this.#storage({ op: "write", path, offset, append: verb === "APPE" }, (result) => {
      if (!result.ok) return refuse(result.code ?? 550, result.message ?? "Cannot create file.");
      start("receive", `Opening ${mode} mode data connection for ${argument.trim()}.`, "");
    });
  }

  /** Lists a directory, or a file as a listing of one; `directoryOnly` refuses a file (MLSD). */
  #listing(
    path: string,
    directoryOnly: boolean,
    done: (entries: readonly FtpStorageEntry[], wallClock: Date | undefined) => void,
    refuse: (code: number, text: string) => void,
  ): void {
    this.#storage({ op: "stat", path }, (result) => {
      if (!result.ok) return refuse(result.code ?? 550, result.message ?? "No such directory.");
      const stat = result.stat;
      if (!stat) return refuse(550, "No such directory.");
      if (stat.type !== "dir") {
        // RFC 3659 section 7.2.1: MLSD of anything but a directory is a 501.
        if (directoryOnly) return refuse(501, "Not a directory.");
        const name = path.slice(path.lastIndexOf("/") + 1);
        return done([{ ...stat, name }], undefined);
      }
      this.#storage({ op: "list", path }, (listed) => {
        if (!listed.ok) return refuse(listed.code ?? 550, listed.message ?? "Cannot list.");
        done(listed.entries ?? [], listed.now);
      });
    });
  }

  /** The lines of a listing (LIST, NLST or MLSD), without their ends. */
  #listingLines(
    verb: string,
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
      else lines.push(formatFtpFacts({ name: entry.name, facts: this.#facts(entry) }));
    }
    return lines;
  }

  /** The facts of an entry that OPTS MLST selected (RFC 3659 section 7.9). */
  #facts(stat: FtpStorageStat): Record<string, string> {
    const facts: Record<string, string> = {};
    for (const fact of this.#mlstFacts) {
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
      } else {
        facts.modify = formatFtpTime(stat.modified);
      }
    }
    return facts;
  }

  #optsMlst(argument: string): void {
    // RFC 3659 section 7.9: the facts wanted, of those offered; unknown ones are dropped.
    const wanted = argument.trim().toLowerCase().split(";");
    this.#mlstFacts = MLST_FACTS.filter((fact) => wanted.includes(fact));
    this.#reply(200, `MLST OPTS ${this.#mlstFacts.map((fact) => `${fact};`).join("")}`);
  }

  #mlst(argument: string): void {
    const path = resolveFtpPath(this.#cwd, argument);
    this.#storage({ op: "stat", path }, (result) => {
      if (!result.ok) return this.#refused(result);
      if (!result.stat) return this.#reply(550, "No such file.");
      // RFC 3659 section 7.2: one entry, on a line that starts with a space.
      const entry = formatFtpFacts({ name: path, facts: this.#facts(result.stat) });
      this.#reply(250, [`Listing ${path}`, ` ${entry}`, "End"]);
    });
  }

  #stat(argument: string): void {
    if (argument.trim() === "") {
      if (this.#transfer) return this.#reply(213, `Transfer in progress (${this.#transfer.verb}).`);
      return this.#reply(211, [
        "ftkit FTP server status:",
        ` Logged in as ${this.#user}`,
        ` TYPE: ${this.#type === "I" ? "BINARY" : "ASCII"}`,
        ` Control connection: ${this.#protected ? "TLS" : "plain"}`,
        ` Data protection: ${this.#prot === "P" ? "private" : "clear"}`,
        "End of status",
      ]);
    }
    const target = withoutLsOptions(argument);
    const path = resolveFtpPath(this.#cwd, target);
    this.#listing(path, false, (entries, wallClock) => {
      const lines = this.#listingLines("LIST", entries, wallClock);
      this.#reply(213, [`Status of ${path}:`, ...lines, "End of status"]);
    }, (code, text) => this.#reply(code, text));
  }

  #abor(): void {
    this.#restart = 0;
    const transfer = this.#transfer;
    if (transfer) {
      // RFC 959 section 4.1.3: the transfer's 426, then ABOR's 226.
      this.#transfer = undefined;
      this.#events.push({ type: "abort-data", id: transfer.id });
      this.#reply(426, "Transfer aborted.");
      this.#reply(226, "ABOR successful.");
      return;
    }
    this.#closeChannel();
    this.#reply(225, "No transfer to abort.");
  }

  #auth(argument: string): void {
    if (this.#tls !== "explicit") return this.#reply(502, "AUTH not available.");
    // RFC 4217 section 4 and 6: TLS, and its synonym TLS-C; nothing else.
    const mechanism = argument.trim().toUpperCase();
    if (mechanism !== "TLS" && mechanism !== "TLS-C") {
      return this.#reply(504, `AUTH ${argument.trim()} not supported; use AUTH TLS.`);
    }
    if (this.#protected || this.#cleared) {
      return this.#reply(503, "Already protected or cleared; AUTH not allowed again.");
    }
    this.#reply(234, "Proceed with negotiation.");
    this.#events.push({ type: "upgrade-control" });
    this.#phase = "waiting";
    // RFC 4217 section 4: the session starts again under TLS. Whatever followed AUTH in plain
    // text (whole lines held, and the start of one) is dropped, never run under TLS.
    this.#upgrading = true;
    this.#pending = [];
    this.#lines = new FtpLineReader({ maxLineLength: this.#maxLineLength });
    this.#lineDeadline = undefined;
  }

  #pbszCommand(argument: string): void {
    // RFC 4217 section 9: PBSZ needs a successful AUTH; its value is 0 for TLS.
    // RFC 4217 section 5: none after CCC.
    if (this.#cleared) return this.#reply(503, "No PBSZ after CCC.");
    if (!this.#protected) return this.#reply(503, "PBSZ needs AUTH TLS first.");
    if (!/^\d+$/.test(argument.trim())) return this.#reply(501, "PBSZ takes a number.");
    this.#pbsz = true;
    this.#reply(200, "PBSZ=0");
  }

  #protCommand(argument: string): void {
    if (this.#cleared) return this.#reply(503, "No PROT after CCC.");
    if (!this.#protected || !this.#pbsz) return this.#reply(503, "PROT needs PBSZ first.");
    const level = argument.trim().toUpperCase();
    if (level === "S" || level === "E") {
      return this.#reply(536, "Requested PROT level not supported by mechanism.");
    }
    if (level !== "C" && level !== "P") return this.#reply(504, "PROT is C or P.");
    if (level === "P" && this.#dataProtection === "none") {
      return this.#reply(534, "Data protection is not offered here.");
    }
    this.#prot = level;
    this.#reply(200, `Protection level set to ${level}.`);
  }

  #ccc(): void {
    // RFC 4217 section 5, in this order.
    if (!this.#allowCcc) return this.#reply(500, "CCC not accepted.");
    if (!this.#protected) return this.#reply(533, "Control connection not protected.");
    this.#cleared = true;
    this.#reply(200, "Control connection cleared.");
    this.#events.push({ type: "clear-control" });
    this.#phase = "waiting";
  }

  #userCommand(argument: string): void {
    // The name exactly as sent: "alice " is not "alice".
    const user = argument;
    if (user === "") return this.#reply(501, "USER needs a name.");
    const anonymous = ANONYMOUS.has(user.toLowerCase());
    if (anonymous && !this.#allowAnonymous) {
      return this.#reply(530, "Anonymous login not allowed.");
    }
    if (this.#requireTls && !this.#protected && !(anonymous && this.#anonymousWithoutTls)) {
      return this.#reply(530, "TLS required: use AUTH TLS first.");
    }
    this.#loggedIn = false;
    this.#user = user;
    if (this.#certificateLogin && this.#protected && !anonymous) {
      this.#events.push({ type: "authenticate-certificate", user });
      this.#phase = "waiting";
      return;
    }
    this.#reply(
      331,
      anonymous ? "Anonymous login ok, send your email as password." : "Password required.",
    );
  }

  #pass(password: string): void {
    if (this.#user === undefined || this.#loggedIn) {
      return this.#reply(503, "Login with USER first.");
    }
    this.#events.push({
      type: "authenticate",
      user: this.#user,
      password,
      protected: this.#protected,
      anonymous: ANONYMOUS.has(this.#user.toLowerCase()),
    });
    this.#phase = "waiting";
  }

  #rein(now: number): void {
    // The reply goes out as the session stands (protected if it is); then everything resets.
    this.#reply(220, "Service ready for new user.");
    // A new login gets its own time, but only after one: REIN before any login keeps the
    // deadline (or a client could hold its slot forever, never logging in).
    if (this.#loginDeadline === undefined) this.#loginDeadline = now + this.#loginTimeoutMs;
    const wasProtected = this.#protected && this.#tls === "explicit";
    this.#reset();
    this.#resumptionWaived = true;
    this.#cleared = false;
    if (wasProtected) {
      this.#events.push({ type: "clear-control" });
      this.#phase = "waiting";
    }
  }

  #feat(): void {
    const features: [string, string?][] = [];
    if (this.#tls === "explicit") features.push(["AUTH", "TLS"]);
    if (this.#tls !== "none") features.push(["PBSZ"], ["PROT"]);
    if (this.#tls !== "none" && this.#allowCcc) features.push(["CCC"]);
    // RFC 2428, and RFC 3659's features (TVFS: paths are /-separated from one top).
    features.push(["EPRT"], ["EPSV"], ["MDTM"]);
    // RFC 3659 section 7.8: every fact offered, a `*` on those selected.
    const facts = MLST_FACTS.map((fact) => `${fact}${this.#mlstFacts.includes(fact) ? "*" : ""};`);
    features.push(["MLST", facts.join("")]);
    features.push(["PASV"], ["REST", "STREAM"], ["SIZE"], ["TVFS"], ["UTF8"]);
    this.#reply(211, formatFtpFeat(features));
  }

  #typeCommand(argument: string): void {
    const type = argument.trim().toUpperCase();
    if (type === "I" || type === "L 8") {
      this.#type = "I";
      return this.#reply(200, "Switching to Binary mode.");
    }
    if (type === "A" || type === "A N") {
      this.#type = "A";
      return this.#reply(200, "Switching to ASCII mode.");
    }
    this.#reply(504, "TYPE is A or I.");
  }

  // --- helpers ---

  #reset(): void {
    this.#cwd = "/";
    this.#renameFrom = undefined;
    this.#user = undefined;
    this.#loggedIn = false;
    this.#pbsz = false;
    this.#prot = "C";
    this.#type = "A";
    this.#restart = 0;
    this.#epsvAll = false;
    this.#mlstFacts = MLST_FACTS;
    this.#closeChannel();
  }

  #expectWaiting(what: string): void {
    if (this.#phase !== "waiting") throw new TypeError(`Not waiting for ${what}`);
  }

  #resume(now: number): void {
    if (this.isClosed()) return;
    this.#phase = "running";
    this.#idleDeadline = now + this.#idleTimeoutMs;
    this.#drain(now);
  }

  /** Runs the held command lines in order, while the machine can: not while it waits for the
   * driver, and during a transfer only ABOR and STAT (RFC 959 section 4.1.3), so that replies
   * keep the order of their commands. */
  #drain(now: number): void {
    while (this.#pending.length > 0 && this.#phase === "running") {
      if (this.#transfer && !/^\s*(abor|stat)\s*$/i.test(this.#pending[0])) return;
      this.#line(now, this.#pending.shift()!);
    }
  }

  #reply(code: number, text: string | readonly string[]): void {
    this.#transmits.push(encodeFtpReply(code, text));
  }

  #close(reason: Extract<FtpServerEvent, { type: "closed" }>["reason"]): void {
    this.#phase = "closed";
    this.#pending = [];
    this.#idleDeadline = this.#loginDeadline = this.#lineDeadline = undefined;
    this.#events.push({ type: "closed", reason });
  }
}
