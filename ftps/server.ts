/**
 * The FTP/FTPS server control machine, sans-I/O: the session layer of a server (greeting, RFC 4217
 * TLS negotiation and policies, login, session parameters, CCC, REIN, QUIT, limits). It reads
 * command lines and writes replies; TLS, sockets and credential checks stay with the driver.
 *
 * @module
 */

import {
  decodeFtpCommand,
  encodeFtpReply,
  formatFtpFeat,
  formatFtpPath,
  formatFtpTime,
  FtpCodecError,
  type FtpCommand,
  FtpLineReader,
} from "../codec/mod.ts";
import { resolveFtpPath } from "./path.ts";

/** What the server machine asks of its storage (paths are absolute in the virtual tree). */
export type FtpStorageRequest =
  | {
    /** Facts about a path: for CWD, SIZE, MDTM, RNFR. */
    readonly op: "stat";
    /** The path. */
    readonly path: string;
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
    readonly stat?: {
      /** File or directory. */
      readonly type: "file" | "dir";
      /** Size in bytes. */
      readonly size: number;
      /** Last modification. */
      readonly modified: Date;
    };
  }
  | {
    /** Refused or failed. */
    readonly ok: false;
    /** The reply code (default 550: not found or no access; 450 busy; 553 name not allowed). */
    readonly code?: 450 | 550 | 553;
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
  /** Inactivity before the session is closed with 421, in ms (default 300000). */
  idleTimeoutMs?: number;
}

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
  }
  | {
    /** Carry out this storage request and call `storageResult(now, result)`. */
    readonly type: "storage";
    /** The request. */
    readonly request: FtpStorageRequest;
  }
  | {
    /** Someone logged in. */
    readonly type: "logged-in";
    /** The user name. */
    readonly user: string;
  }
  | {
    /** The session is over: close the connection once the queued replies are sent. */
    readonly type: "closed";
    /** Why. */
    readonly reason: "quit" | "idle" | "too-many-logins" | "protocol-error" | "tls-failed";
  };

const ANONYMOUS = new Set(["anonymous", "ftp"]);

/**
 * One server session over an FTP control connection, as a pure state machine.
 *
 * Inputs: `start`, `receive`, `controlUpgraded`, `controlUpgradeFailed`, `controlCleared`,
 * `loginResult`, `handleTimeout`. Outputs: `pollTransmit` (reply bytes), `pollEvent`,
 * `pollTimeout`.
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
  readonly #lines: FtpLineReader;

  #transmits: Uint8Array[] = [];
  #events: FtpServerEvent[] = [];
  #phase: "idle" | "running" | "waiting" | "closed" = "idle";
  #pending: string[] = [];
  #deadline: number | undefined;

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
    this.#lines = new FtpLineReader({ maxLineLength: options.maxLineLength ?? 4096 });
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

  /** When `handleTimeout` must next be called, or `undefined`. */
  pollTimeout(): number | undefined {
    return this.#deadline;
  }

  // --- inputs ---

  /**
   * Starts the session on a new connection (already TLS in implicit mode): queues the greeting.
   *
   * @param now The current time in ms.
   */
  start(now: number): void {
    if (this.#phase !== "idle") throw new TypeError("Session already started");
    this.#phase = "running";
    this.#protected = this.#tls === "implicit";
    this.#reply(220, this.#greeting);
    this.#deadline = now + this.#idleTimeoutMs;
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
    this.#deadline = now + this.#idleTimeoutMs;
    let lines: string[];
    try {
      lines = this.#lines.push(bytes);
    } catch {
      this.#reply(500, "Command line too long.");
      this.#close("protocol-error");
      return;
    }
    for (const line of lines) {
      if (this.#phase === "waiting") {
        if (this.#pending.length >= this.#maxPending) {
          this.#reply(421, "Too many commands without waiting for replies.");
          this.#close("protocol-error");
          return;
        }
        this.#pending.push(line);
        continue;
      }
      this.#line(now, line);
      if (this.isClosed()) return;
    }
  }

  /**
   * TLS is up on the control connection (after `upgrade-control`). RFC 4217 section 4: the user
   * and every transfer parameter are reset, as if REIN had come.
   *
   * @param now The current time in ms.
   */
  controlUpgraded(now: number): void {
    this.#expectWaiting("a control upgrade");
    this.#reset();
    this.#protected = true;
    this.#resume(now);
  }

  /**
   * The TLS handshake on the control connection failed: the connection is in an unknown state
   * and is dropped (RFC 4217 section 10.1).
   *
   * @param _now The current time in ms.
   */
  controlUpgradeFailed(_now: number): void {
    this.#expectWaiting("a control upgrade");
    this.#close("tls-failed");
  }

  /**
   * TLS on the control connection is shut down (after `clear-control`).
   *
   * @param now The current time in ms.
   */
  controlCleared(now: number): void {
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
    this.#expectWaiting("a login check");
    if (ok) {
      this.#loggedIn = true;
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
   * The answer to a `storage` event.
   *
   * @param now The current time in ms.
   * @param result What the storage did.
   */
  storageResult(now: number, result: FtpStorageResult): void {
    this.#expectWaiting("a storage result");
    const handle = this.#onStorage;
    if (!handle) throw new TypeError("Not waiting for a storage result");
    this.#onStorage = undefined;
    this.#phase = "running";
    handle(result);
    this.#resume(now);
  }

  /**
   * Fires what expired: an idle session is closed with 421.
   *
   * @param now The current time in ms.
   */
  handleTimeout(now: number): void {
    if (this.#deadline === undefined || now < this.#deadline || this.isClosed()) return;
    if (this.#phase === "waiting") return; // The driver owes an answer; it has its own limits.
    this.#reply(421, "Idle timeout: closing the connection.");
    this.#close("idle");
  }

  // --- commands ---

  #line(_now: number, line: string): void {
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
        return this.#rein();
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
    const user = argument.trim();
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
    });
    this.#phase = "waiting";
  }

  #rein(): void {
    // The reply goes out as the session stands (protected if it is); then everything resets.
    this.#reply(220, "Service ready for new user.");
    const wasProtected = this.#protected && this.#tls === "explicit";
    this.#reset();
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
    features.push(["UTF8"]);
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
  }

  #expectWaiting(what: string): void {
    if (this.#phase !== "waiting") throw new TypeError(`Not waiting for ${what}`);
  }

  #resume(now: number): void {
    if (this.isClosed()) return;
    this.#phase = "running";
    while (this.#pending.length > 0 && this.#phase === "running") {
      this.#line(now, this.#pending.shift()!);
    }
  }

  #reply(code: number, text: string | readonly string[]): void {
    this.#transmits.push(encodeFtpReply(code, text));
  }

  #close(reason: Extract<FtpServerEvent, { type: "closed" }>["reason"]): void {
    this.#phase = "closed";
    this.#pending = [];
    this.#deadline = undefined;
    this.#events.push({ type: "closed", reason });
  }
}
