/**
 * The FTP/FTPS client control machine, sans-I/O: it holds a whole session (greeting, TLS, login,
 * protection, features, commands, data transfers) and never touches a socket. The driver feeds it
 * control bytes and tells it when TLS and data connections are done; it says what to send and
 * what to do.
 *
 * @module
 */

import {
  decodeFtpCommand,
  encodeFtpCommand,
  encodeFtpEprt,
  encodeFtpPort,
  type FtpCommand,
  type FtpHostPort,
  type FtpReply,
  FtpReplyParser,
  isFtpIpv4,
  parseFtpEpsv,
  parseFtpFeat,
  parseFtpPasv,
} from "../codec/mod.ts";
import { FtpReplyError } from "./reply_error.ts";

/** How the client gets TLS on the control connection (RFC 4217 section 4). */
export type FtpTlsMode =
  /** `AUTH TLS` after the greeting (RFC 4217); refused AUTH ends the session. */
  | "explicit"
  /** The connection is TLS from its first byte (port 990 style): the driver connects with TLS. */
  | "implicit"
  /** Plain FTP: no TLS at all. */
  | "none";

/** How data connections are made. */
export type FtpDataConnectionMode =
  /** EPSV first, PASV when the server refuses it (remembered for the session). */
  | "passive"
  /** The client listens and sends EPRT (or PORT for IPv4 when EPRT is refused). */
  | "active";

/** Options of {@linkcode FtpClientSession}. */
export interface FtpClientSessionOptions {
  /** TLS on the control connection (default `"explicit"`). */
  tls?: FtpTlsMode;
  /** The user name (default `"anonymous"`). */
  user?: string;
  /** The password (default `"anonymous@"`). */
  password?: string;
  /** The account, for servers that answer 332 (RFC 959 ACCT). */
  account?: string;
  /** Data protection under TLS: `"P"` private (default) or `"C"` clear (RFC 4217 section 9). */
  protection?: "P" | "C";
  /** When PBSZ and PROT are sent: before USER (default, as RFC 4217 section 12.1 shows) or after
   * login, for servers that refuse them earlier (section 10.3). */
  protectAfterLogin?: boolean;
  /** Send `OPTS UTF8 ON` when FEAT lists UTF8 (default true). */
  utf8?: boolean;
  /** Data connections (default `"passive"`). */
  dataConnections?: FtpDataConnectionMode;
  /** The longest wait for a reply, in ms (default 30000). The time a transfer's data takes does
   * not count: a transfer's final reply is timed from the end of its data. */
  replyTimeoutMs?: number;
  /** Command lines to send after the greeting and before AUTH, for servers that need a SITE or
   * such command first (RFC 4217 section 10.3). A negative reply ends the session. */
  beforeAuth?: readonly string[];
}

/** A data transfer command. */
export interface FtpTransferRequest {
  /** The command: a download (RETR), an upload (STOR, APPE), or a listing (LIST, NLST, MLSD). */
  readonly command: "RETR" | "STOR" | "APPE" | "LIST" | "NLST" | "MLSD";
  /** The path (optional for listings). */
  readonly path?: string;
  /** Resume at this byte (REST before the command; RFC 3659 section 5). */
  readonly offset?: number;
}

/** What the client machine tells its driver. `closed` is final. */
export type FtpClientEvent =
  | {
    /** AUTH TLS was accepted: start TLS on the control connection as its client, then call
     * `controlUpgraded(now)`. Nothing is sent until then. */
    readonly type: "upgrade-control";
  }
  | {
    /** CCC was accepted (RFC 4217 section 5): shut TLS down on the control connection, keep the
     * TCP connection, then call `controlCleared(now)`. */
    readonly type: "clear-control";
  }
  | {
    /** The session is logged in and set up; operations may be queued (they may be earlier). */
    readonly type: "ready";
    /** The FEAT reply's features (empty when the server has no FEAT). */
    readonly features: ReadonlyMap<string, string>;
    /** The data protection level in force, or `undefined` without TLS. */
    readonly protection: "P" | "C" | undefined;
  }
  | {
    /** Passive mode: open a TCP connection to the control connection's host at `port`, then
     * call `dataConnected(now, id)` (or `dataFailed`). */
    readonly type: "connect-data";
    /** The operation. */
    readonly id: number;
    /** The port to connect to. */
    readonly port: number;
    /** The host the server named (227 only). The driver connects to the control connection's
     * host instead: a reply naming another host is how FTP bounce attacks start (RFC 2577). */
    readonly announcedHost?: string;
  }
  | {
    /** Active mode: listen for the server's data connection and call `dataListening(now, id,
     * address)` with the address the server should connect to. */
    readonly type: "listen-data";
    /** The operation. */
    readonly id: number;
  }
  | {
    /** The server accepted the transfer (125/150): move the bytes now. Under PROT P, first run
     * a TLS handshake on the data connection as its client (RFC 4217 section 7, also in active
     * mode). Call `dataEnded(now, id)` once a download reached its end or an upload was sent and
     * closed. */
    readonly type: "transfer-data";
    /** The operation. */
    readonly id: number;
    /** Whether the data connection must be TLS. */
    readonly tls: boolean;
    /** Which way the bytes go. */
    readonly direction: "download" | "upload";
  }
  | {
    /** `abort` stopped this transfer: close its data connection (or listener) now, unread, and
     * report nothing more about it. */
    readonly type: "abort-data";
    /** The transfer's operation. */
    readonly id: number;
  }
  | {
    /** An operation succeeded: its final reply (for a transfer, after the data ended too). */
    readonly type: "complete";
    /** The operation. */
    readonly id: number;
    /** The final reply. */
    readonly reply: FtpReply;
  }
  | {
    /** An operation failed; the session goes on. Close its data connection, if any. */
    readonly type: "failed";
    /** The operation. */
    readonly id: number;
    /** Why. */
    readonly error: FtpReplyError | Error;
  }
  | {
    /** The session is over: after QUIT, or for a fatal reason. Close every connection. */
    readonly type: "closed";
    /** Why: `"quit"`, `"timeout"`, `"server-closed"` (421 or end of stream), `"login-failed"`,
     * `"tls-refused"` (AUTH, PBSZ or PROT refused), `"tls-failed"` (the control connection's TLS
     * did not come up), `"protocol-error"`. */
    readonly reason:
      | "quit"
      | "timeout"
      | "server-closed"
      | "login-failed"
      | "tls-refused"
      | "tls-failed"
      | "protocol-error";
    /** The reply or error behind it. */
    readonly error?: FtpReplyError | Error;
  };

/** A transfer command as errors show it. */
function describe(request: FtpTransferRequest): string {
  return request.path === undefined ? request.command : `${request.command} ${request.path}`;
}

interface DataState {
  readonly id: number;
  readonly request: FtpTransferRequest;
  phase: "negotiating" | "connecting" | "listening" | "commanding" | "transferring";
  dataEnded: boolean;
  finalReply: FtpReply | undefined;
  error?: Error;
  /** Whether the transfer command itself went out. */
  commandSent?: boolean;
  /** Whether `abort` was called. */
  aborted?: boolean;
}

/** The error of a transfer that `abort` stopped. */
function abortError(): DOMException {
  return new DOMException("Transfer aborted", "AbortError");
}

const SECURITY = new Set(["AUTH", "PBSZ", "PROT", "CCC"]);

/**
 * What a command's reply will drive: plain data, never a closure. Each reply is handled by the
 * row of the session's reply table named by `on`, with the time of that reply, so a command sent
 * from a handler is timed from the input that sent it, never from an earlier one.
 */
type Awaiting =
  /** A command of `beforeAuth` (RFC 4217 section 10.3). */
  | { readonly on: "before-auth" }
  | { readonly on: "auth" }
  | { readonly on: "pbsz" }
  | { readonly on: "prot"; readonly level: "P" | "C" }
  | { readonly on: "user" }
  | { readonly on: "pass" }
  | { readonly on: "acct" }
  | { readonly on: "feat" }
  | { readonly on: "opts-utf8" }
  | { readonly on: "type" }
  /** QUIT: of the operation `id`, or of a failed control upgrade (no operation). */
  | { readonly on: "quit"; readonly id?: number }
  | { readonly on: "command"; readonly id: number }
  | { readonly on: "rnfr"; readonly id: number; readonly to: string }
  | { readonly on: "rnto"; readonly id: number }
  | { readonly on: "ccc"; readonly id: number }
  | { readonly on: "rein"; readonly id: number }
  /** ABOR: queued as an operation of its own, or overtaking the transfer in progress. */
  | { readonly on: "abor"; readonly id: number; readonly overtaking: boolean }
  | { readonly on: "epsv"; readonly data: DataState }
  | { readonly on: "pasv"; readonly data: DataState }
  | { readonly on: "eprt"; readonly data: DataState; readonly address: FtpHostPort }
  | { readonly on: "port"; readonly data: DataState }
  | { readonly on: "rest"; readonly data: DataState }
  /** The transfer command: its 125/150 (a 1yz is the answer here), or a final reply at once. */
  | { readonly on: "transfer"; readonly data: DataState }
  /** A transfer's final reply after its 1yz: awaited ahead of any later command's, and not timed
   * while the data still moves (the driver bounds that). */
  | { readonly on: "transfer-end"; readonly data: DataState };

/** One command sent and its reply awaited. */
type Step = Awaiting & {
  /** The command as errors show it (passwords masked). */
  readonly shown: string;
};

/** A row of the reply table: what the reply to one kind of command does. */
type ReplyRow<K extends Awaiting["on"]> = (
  session: FtpClientSession,
  now: number,
  reply: FtpReply,
  step: Extract<Step, { on: K }>,
) => void;

/** One stage of setting the session up, in order (RFC 4217 section 12.1). */
type SetupStage =
  | { readonly stage: "before-auth"; readonly command: FtpCommand }
  | { readonly stage: "auth" | "protect" | "login" | "feat" | "utf8" | "type" | "ready" };

/** An operation waiting for its turn. */
type Queued =
  | {
    readonly op: "command";
    readonly id: number;
    readonly verb: string;
    readonly argument: string | undefined;
  }
  | { readonly op: "rename"; readonly id: number; readonly from: string; readonly to: string }
  | { readonly op: "transfer"; readonly id: number; readonly request: FtpTransferRequest }
  | { readonly op: "ccc"; readonly id: number }
  | { readonly op: "abor"; readonly id: number }
  | { readonly op: "rein"; readonly id: number }
  | { readonly op: "quit"; readonly id: number };

/** Queued operations as callers describe them (the id comes when queued). */
type QueuedRequest = Queued extends infer Q ? Q extends Queued ? Omit<Q, "id"> : never : never;

/**
 * One client session over an FTP control connection, as a pure state machine.
 *
 * Inputs: `start`, `receive`, `controlUpgraded`, `controlCleared`, `dataConnected`,
 * `dataListening`, `dataEnded`, `dataFailed`, `handleTimeout`, and the operations `command`,
 * `transfer`, `rename`, `abort`, `cancel`, `reinitialize`, `clearControl`, `quit`. Outputs:
 * `pollTransmit` (bytes for the control connection), `pollEvent`, `pollTimeout`.
 *
 * Every input takes `now`, and everything it causes (a command sent, its reply deadline) counts
 * from that `now`: what each reply does is a row of one table that gets the reply's own time.
 *
 * @example
 * ```ts
 * import { FtpClientSession } from "@ftkit/ftkit/ftps";
 *
 * const session = new FtpClientSession({ tls: "explicit", user: "fred", password: "pass" });
 * session.start(0);
 * session.receive(1, new TextEncoder().encode("220 Service ready\r\n"));
 * console.log(new TextDecoder().decode(session.pollTransmit())); // "AUTH TLS\r\n"
 * ```
 */
export class FtpClientSession {
  readonly #options:
    & Required<Omit<FtpClientSessionOptions, "account" | "beforeAuth">>
    & { account?: string };
  readonly #beforeAuth: readonly FtpCommand[];
  /** Why the session closes once the QUIT in flight is answered. */
  #quitting: { reason: "quit" | "tls-failed"; error?: Error } = { reason: "quit" };
  /** Replaced at AUTH's 234: a line begun in plain text must not end under TLS. */
  #parser = new FtpReplyParser();
  #transmits: Uint8Array[] = [];
  #events: FtpClientEvent[] = [];
  /** Commands sent and awaiting their replies, oldest first (more than one only while ABOR
   * overtakes a transfer). */
  #steps: Step[] = [];
  #deadline: number | undefined;
  #phase: "idle" | "greeting" | "upgrading" | "setup" | "ready" | "clearing" | "closed" = "idle";
  #setup: SetupStage[] = [];
  #queue: Queued[] = [];
  #busy = false;
  #current: number | undefined;
  #nextId = 1;
  #features: Map<string, string> = new Map();
  #protected = false;
  #protection: "P" | "C" | undefined;
  #epsvRefused = false;
  #eprtRefused = false;
  #data: DataState | undefined;
  /** The last transfer aborted, or ended by a negative reply before its data: the driver's late
   * reports on it are ignored. */
  #dropped: number | undefined;
  #reinitializing = false;

  /**
   * Makes a session machine.
   *
   * @param options TLS, login, protection and timing.
   */
  constructor(options: FtpClientSessionOptions = {}) {
    this.#options = {
      tls: options.tls ?? "explicit",
      user: options.user ?? "anonymous",
      password: options.password ?? "anonymous@",
      protection: options.protection ?? "P",
      protectAfterLogin: options.protectAfterLogin ?? false,
      utf8: options.utf8 ?? true,
      dataConnections: options.dataConnections ?? "passive",
      replyTimeoutMs: options.replyTimeoutMs ?? 30_000,
      ...(options.account !== undefined ? { account: options.account } : {}),
    };
    // Checked now, so a bad line throws at the caller.
    this.#beforeAuth = (options.beforeAuth ?? []).map((line) => decodeFtpCommand(line));
  }

  /** Whether the session is over (its `closed` event is out). */
  isClosed(): boolean {
    return this.#phase === "closed";
  }

  /** Whether the control connection is under TLS now. */
  get controlProtected(): boolean {
    return this.#protected;
  }

  // --- outputs ---

  /** The next bytes to write on the control connection, or `undefined`. */
  pollTransmit(): Uint8Array | undefined {
    return this.#transmits.shift();
  }

  /** The next event, or `undefined`. */
  pollEvent(): FtpClientEvent | undefined {
    return this.#events.shift();
  }

  /** When `handleTimeout` must next be called, or `undefined`. */
  pollTimeout(): number | undefined {
    return this.#deadline;
  }

  // --- inputs ---

  /**
   * Starts the session on a connected control connection (already TLS in implicit mode): the
   * machine waits for the server's greeting.
   *
   * @param now The current time in ms.
   */
  start(now: number): void {
    if (this.#phase !== "idle") throw new TypeError("Session already started");
    this.#phase = "greeting";
    this.#protected = this.#options.tls === "implicit";
    this.#deadline = now + this.#options.replyTimeoutMs;
    this.#planSetup();
  }

  /**
   * Feeds bytes read from the control connection. After the 234 that accepts AUTH TLS, the rest
   * of the bytes, a partial line included, and anything fed before `controlUpgraded` are dropped:
   * they came in plain text, where anyone on the path could have put them (RFC 4217 section 4:
   * AUTH starts the session over).
   *
   * @param now The current time in ms.
   * @param bytes The bytes.
   */
  receive(now: number, bytes: Uint8Array): void {
    if (this.#phase === "idle") throw new TypeError("Session not started");
    // A line at a time, so that nothing after the reply that starts TLS is read.
    for (let rest = bytes; rest.length > 0 && this.#reading();) {
      const end = rest.indexOf(0x0a) + 1 || rest.length;
      let replies: FtpReply[];
      try {
        replies = this.#parser.push(rest.subarray(0, end));
      } catch (error) {
        this.#close("protocol-error", error as Error);
        return;
      }
      rest = rest.subarray(end);
      for (const reply of replies) {
        this.#reply(now, reply);
        // A reply can end the session (421, a failed login): the rest is not read.
        if (this.isClosed()) return;
      }
    }
  }

  /** Whether control bytes are read now: not once closed, nor between AUTH's 234 and TLS. */
  #reading(): boolean {
    return this.#phase !== "closed" && this.#phase !== "upgrading";
  }

  /**
   * The control connection's end of stream: the server went away.
   *
   * @param _now The current time in ms.
   */
  receiveEnd(_now: number): void {
    if (this.#phase === "closed") return;
    if (this.#steps[0]?.on === "quit") this.#close(this.#quitting.reason, this.#quitting.error);
    else this.#close("server-closed", new Error("The server closed the control connection"));
  }

  /**
   * The control connection now runs over TLS (after `upgrade-control`).
   *
   * @param now The current time in ms.
   */
  controlUpgraded(now: number): void {
    if (this.#phase !== "upgrading") throw new TypeError("No control upgrade pending");
    this.#protected = true;
    this.#phase = "setup";
    this.#continueSetup(now);
  }

  /**
   * TLS on the control connection did not come up (after `upgrade-control`); the session ends as
   * RFC 4217 section 10.3 says for each case:
   *
   * - `"handshake"` (default): it failed during the handshake; the connection is in an unknown
   *   state: close it, nothing is sent;
   * - `"no-handshake"`: no negotiation took place; QUIT is sent in plain text;
   * - `"rejected"`: the handshake completed but the server is not the one expected (its
   *   certificate); QUIT is sent inside TLS.
   *
   * The session closes with reason `"tls-failed"`.
   *
   * @param now The current time in ms.
   * @param how How it failed.
   * @param error What went wrong, for the `closed` event.
   */
  controlUpgradeFailed(
    now: number,
    how: "handshake" | "no-handshake" | "rejected" = "handshake",
    error: Error = new Error("TLS on the control connection failed"),
  ): void {
    if (this.#phase !== "upgrading") throw new TypeError("No control upgrade pending");
    if (how === "handshake") {
      this.#close("tls-failed", error);
      return;
    }
    this.#protected = how === "rejected";
    this.#phase = "setup";
    this.#quitting = { reason: "tls-failed", error };
    this.#send(now, "QUIT", undefined, { on: "quit" });
  }

  /**
   * TLS on the control connection was shut down (after `clear-control`).
   *
   * @param now The current time in ms.
   */
  controlCleared(now: number): void {
    if (this.#phase !== "clearing") throw new TypeError("No control clearing pending");
    this.#protected = false;
    if (this.#reinitializing) {
      // After REIN the session starts over: AUTH, protection, login, features (RFC 4217
      // section 13: the server cleared TLS after its reply).
      this.#reinitializing = false;
      this.#phase = "setup";
      this.#planSetup();
      this.#continueSetup(now);
      return;
    }
    this.#phase = "ready";
    this.#finishOperation(now);
  }

  /**
   * Passive mode: the data connection is open (after `connect-data`).
   *
   * @param now The current time in ms.
   * @param id The operation.
   */
  dataConnected(now: number, id: number): void {
    if (this.#stale(id)) return;
    const data = this.#dataFor(id, "connecting");
    if (this.#cancelled(now, data)) return;
    data.phase = "commanding";
    this.#sendTransferCommand(now, data);
  }

  /**
   * Active mode: the client listens for the data connection here (after `listen-data`).
   *
   * @param now The current time in ms.
   * @param id The operation.
   * @param address Where the server should connect.
   */
  dataListening(now: number, id: number, address: FtpHostPort): void {
    if (this.#stale(id)) return;
    const data = this.#dataFor(id, "listening");
    if (this.#cancelled(now, data)) return;
    data.phase = "negotiating";
    const eprt = !this.#eprtRefused || !isFtpIpv4(address.host);
    if (eprt) this.#send(now, "EPRT", encodeFtpEprt(address), { on: "eprt", data, address });
    else this.#send(now, "PORT", encodeFtpPort(address), { on: "port", data });
  }

  /**
   * The data connection ended: a download reached its end, or an upload was sent and closed.
   *
   * @param now The current time in ms.
   * @param id The operation.
   */
  dataEnded(now: number, id: number): void {
    if (this.#stale(id) || (this.#data?.id === id && this.#data.aborted)) return;
    const data = this.#dataFor(id, "transferring");
    data.dataEnded = true;
    this.#rearm(now);
    this.#maybeFinishTransfer(now, data);
  }

  /**
   * The data connection could not be made or broke: the operation fails once the server's reply,
   * if one is due, is in.
   *
   * @param now The current time in ms.
   * @param id The operation.
   * @param error What went wrong.
   */
  dataFailed(now: number, id: number, error: Error): void {
    if (this.#stale(id)) return;
    const data = this.#data;
    if (!data || data.id !== id) throw new TypeError(`No data connection for operation ${id}`);
    if (data.aborted) {
      this.#cancelled(now, data); // Or the transfer command's reply ends it.
      return;
    }
    if (data.phase === "connecting" || data.phase === "listening") {
      this.#failData(now, data, error);
      return;
    }
    // The server still answers the transfer command (426 or so): the operation fails then.
    data.dataEnded = true;
    data.error = error;
    this.#rearm(now);
    this.#maybeFinishTransfer(now, data);
  }

  /**
   * Fires what expired: a reply that did not come ends the session.
   *
   * @param now The current time in ms.
   */
  handleTimeout(now: number): void {
    if (this.#deadline === undefined || now < this.#deadline) return;
    if (this.#phase === "closed") return;
    this.#close("timeout", new Error(`No reply within ${this.#options.replyTimeoutMs} ms`));
  }

  // --- operations ---

  /**
   * Queues a command without data: CWD, CDUP, PWD, MKD, RMD, DELE, SIZE, MDTM, NOOP, SITE, STAT,
   * HELP, TYPE, MODE, STRU, OPTS, ... A positive completion (2yz) completes it; anything else
   * fails it with an {@linkcode FtpReplyError}.
   *
   * @param now The current time in ms.
   * @param verb The command.
   * @param argument Its argument.
   * @returns The operation's id.
   */
  command(now: number, verb: string, argument?: string): number {
    const upper = verb.toUpperCase();
    if (SECURITY.has(upper) || ["USER", "PASS", "ACCT", "QUIT", "REIN"].includes(upper)) {
      throw new TypeError(`${upper} is handled by the session itself`);
    }
    if (upper === "ABOR") throw new TypeError("ABOR is sent by abort()");
    if (
      ["RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD", "PASV", "EPSV", "PORT", "EPRT"]
        .includes(upper)
    ) {
      throw new TypeError(`${upper} needs a data connection: use transfer()`);
    }
    // Checked now, so a bad argument throws at the caller.
    encodeFtpCommand({ verb: upper, argument });
    return this.#enqueue(now, { op: "command", verb: upper, argument });
  }

  /**
   * Queues a rename: RNFR, then RNTO once the server answered 350.
   *
   * @param now The current time in ms.
   * @param from The current path.
   * @param to The new path.
   * @returns The operation's id.
   */
  rename(now: number, from: string, to: string): number {
    encodeFtpCommand({ verb: "RNFR", argument: from });
    encodeFtpCommand({ verb: "RNTO", argument: to });
    return this.#enqueue(now, { op: "rename", from, to });
  }

  /**
   * Queues a data transfer: data connection negotiation, REST when resuming, the command, the
   * bytes, the final reply (RFC 959 section 5.2; RFC 4217 section 12.4-12.7).
   *
   * @param now The current time in ms.
   * @param request The command, the path and any offset.
   * @returns The operation's id.
   */
  transfer(now: number, request: FtpTransferRequest): number {
    encodeFtpCommand({ verb: request.command, argument: request.path });
    if (
      request.offset !== undefined && !(Number.isSafeInteger(request.offset) && request.offset >= 0)
    ) {
      throw new RangeError(`Offset must be a whole number of bytes, got ${request.offset}`);
    }
    return this.#enqueue(now, { op: "transfer", request });
  }

  /**
   * Queues CCC (RFC 4217 section 5): after 200 the control connection goes back to plain text
   * (`clear-control`); data protection stays as it was.
   *
   * @param now The current time in ms.
   * @returns The operation's id.
   */
  clearControl(now: number): number {
    return this.#enqueue(now, { op: "ccc" });
  }

  /**
   * Aborts the transfer in progress (RFC 959 section 4.1.3, RFC 4217 section 14): ABOR goes out
   * at once, ahead of anything queued and inside TLS; the driver is told to drop the data
   * connection (`abort-data`); the transfer fails with an `AbortError` once the server answered
   * its command (426, or 226 when it had finished), and this operation completes with ABOR's own
   * reply (225 or 226). A transfer whose command has not gone out yet is dropped where it stands.
   * With no transfer, ABOR is simply sent next.
   *
   * @param now The current time in ms.
   * @returns The operation's id (of the ABOR command).
   */
  abort(now: number): number {
    if (this.#phase === "closed") throw new TypeError("Session closed");
    const data = this.#data;
    if (data && !data.aborted) {
      data.aborted = true;
      this.#dropped = data.id;
      this.#events.push({ type: "abort-data", id: data.id });
      if (data.commandSent) {
        const id = this.#nextId++;
        data.dataEnded = true;
        this.#send(now, "ABOR", undefined, { on: "abor", id, overtaking: true });
        this.#maybeFinishTransfer(now, data);
        return id;
      }
    }
    return this.#enqueue(now, { op: "abor" }, true);
  }

  /**
   * Drops operation `id` if it is still queued, before anything was sent for it: it fails with an
   * `AbortError`. An operation that started is not touched (a transfer in progress stops with
   * `abort`).
   *
   * @param now The current time in ms.
   * @param id The operation.
   * @returns Whether it was queued and is now dropped.
   */
  cancel(now: number, id: number): boolean {
    const at = this.#queue.findIndex((operation) => operation.id === id);
    if (at === -1) return false;
    this.#queue.splice(at, 1);
    this.#events.push({ type: "failed", id, error: abortError() });
    this.#next(now); // What waited behind it may go now.
    return true;
  }

  /**
   * Queues REIN (RFC 959; RFC 4217 section 13): after the server's 220 the session starts over:
   * TLS on the control connection is cleared (`clear-control`) when it was negotiated with AUTH,
   * then AUTH, protection, login, FEAT and TYPE run again and `ready` comes once more.
   *
   * @param now The current time in ms.
   * @returns The operation's id.
   */
  reinitialize(now: number): number {
    return this.#enqueue(now, { op: "rein" });
  }

  /**
   * Queues QUIT; the session closes with reason `"quit"` after the server's 221.
   *
   * @param now The current time in ms.
   * @returns The operation's id.
   */
  quit(now: number): number {
    return this.#enqueue(now, { op: "quit" });
  }

  // --- the tables: set-up stages, operations, replies ---

  /** What each set-up stage sends (RFC 4217 section 12.1 gives the order). */
  static readonly #SETUP: {
    readonly [K in SetupStage["stage"]]: (
      session: FtpClientSession,
      now: number,
      stage: Extract<SetupStage, { stage: K }>,
    ) => void;
  } = {
    "before-auth": (session, now, { command }) =>
      session.#send(now, command.verb, command.argument, { on: "before-auth" }),
    auth: (session, now) => session.#send(now, "AUTH", "TLS", { on: "auth" }),
    // RFC 4217 section 9: PBSZ 0 must come before PROT.
    protect: (session, now) => session.#send(now, "PBSZ", "0", { on: "pbsz" }),
    login: (session, now) => session.#send(now, "USER", session.#options.user, { on: "user" }),
    feat: (session, now) => session.#send(now, "FEAT", undefined, { on: "feat" }),
    utf8: (session, now) => {
      // Servers that need no switch refuse it; either way names go as UTF-8 (RFC 2640).
      if (session.#options.utf8 && session.#features.has("UTF8")) {
        session.#send(now, "OPTS", "UTF8 ON", { on: "opts-utf8" });
      } else {
        session.#continueSetup(now);
      }
    },
    type: (session, now) => session.#send(now, "TYPE", "I", { on: "type" }),
    ready: (session, now) => {
      session.#phase = "ready";
      session.#events.push({
        type: "ready",
        features: session.#features,
        protection: session.#protection,
      });
      session.#next(now);
    },
  };

  /** What each operation sends when its turn comes. */
  static readonly #RUN: {
    readonly [K in Queued["op"]]: (
      session: FtpClientSession,
      now: number,
      operation: Extract<Queued, { op: K }>,
    ) => void;
  } = {
    command: (session, now, { id, verb, argument }) =>
      session.#send(now, verb, argument, { on: "command", id }),
    rename: (session, now, { id, from, to }) =>
      session.#send(now, "RNFR", from, { on: "rnfr", id, to }),
    transfer: (session, now, { id, request }) => {
      const data: DataState = {
        id,
        request,
        phase: "negotiating",
        dataEnded: false,
        finalReply: undefined,
      };
      session.#data = data;
      if (session.#options.dataConnections === "active") {
        data.phase = "listening";
        session.#events.push({ type: "listen-data", id });
      } else {
        session.#passive(now, data);
      }
    },
    ccc: (session, now, { id }) => session.#send(now, "CCC", undefined, { on: "ccc", id }),
    abor: (session, now, { id }) =>
      session.#send(now, "ABOR", undefined, { on: "abor", id, overtaking: false }),
    rein: (session, now, { id }) => session.#send(now, "REIN", undefined, { on: "rein", id }),
    quit: (session, now, { id }) => session.#send(now, "QUIT", undefined, { on: "quit", id }),
  };

  /** What each reply does, by the command it answers; `now` is the reply's time. */
  static readonly #ON_REPLY: { readonly [K in Awaiting["on"]]: ReplyRow<K> } = {
    "before-auth": (session, now, reply, { shown }) => {
      // RFC 4217 section 10.3: the user's commands before AUTH; a refusal ends the session.
      if (reply.code >= 400) {
        return session.#close("protocol-error", new FtpReplyError(shown, reply));
      }
      session.#continueSetup(now);
    },
    auth: (session, _now, reply) => {
      if (reply.code === 234) {
        // RFC 4217 section 4.1: TLS negotiation starts right after 234; nothing else is sent.
        // Nothing more received in plain text is read (`receive`), and a partial line held
        // from before is dropped: AUTH starts the session over (section 4), and only protected
        // replies may answer protected commands.
        session.#phase = "upgrading";
        session.#parser = new FtpReplyParser();
        session.#events.push({ type: "upgrade-control" });
        return;
      }
      // Never fall back to plain text silently: the user asked for TLS.
      session.#close("tls-refused", new FtpReplyError("AUTH TLS", reply));
    },
    pbsz: (session, now, reply) => {
      if (reply.code !== 200) {
        return session.#close("tls-refused", new FtpReplyError("PBSZ 0", reply));
      }
      const level = session.#options.protection;
      session.#send(now, "PROT", level, { on: "prot", level });
    },
    prot: (session, now, reply, { level }) => {
      if (reply.code !== 200) {
        return session.#close("tls-refused", new FtpReplyError(`PROT ${level}`, reply));
      }
      session.#protection = level;
      session.#continueSetup(now);
    },
    user: (session, now, reply, { shown }) => {
      // 230 logged in; 232 logged in on the strength of TLS (RFC 4217 section 12.2).
      if (reply.code === 230 || reply.code === 232) return session.#continueSetup(now);
      if (reply.code === 332) return session.#account(now, shown, reply);
      if (reply.code !== 331) return session.#loginFailed(shown, reply);
      session.#send(now, "PASS", session.#options.password, { on: "pass" }, "PASS ****");
    },
    pass: (session, now, reply, { shown }) => {
      if (reply.code === 230 || reply.code === 202) return session.#continueSetup(now);
      if (reply.code === 332) return session.#account(now, shown, reply);
      session.#loginFailed(shown, reply);
    },
    acct: (session, now, reply, { shown }) => {
      if (reply.code === 230 || reply.code === 202) session.#continueSetup(now);
      else session.#loginFailed(shown, reply);
    },
    feat: (session, now, reply) => {
      session.#features = parseFtpFeat(reply);
      session.#continueSetup(now);
    },
    "opts-utf8": (session, now) => session.#continueSetup(now),
    type: (session, now, reply) => {
      if (reply.code !== 200) {
        return session.#close("protocol-error", new FtpReplyError("TYPE I", reply));
      }
      session.#continueSetup(now);
    },
    quit: (session, _now, reply, { id }) => {
      if (id !== undefined) {
        session.#events.push({ type: "complete", id, reply });
        session.#current = undefined;
      }
      session.#close(session.#quitting.reason, session.#quitting.error);
    },
    command: (session, now, reply, { id, shown }) => session.#settle(now, id, shown, reply),
    rnfr: (session, now, reply, { id, shown, to }) => {
      if (reply.code !== 350) return session.#fail(now, id, new FtpReplyError(shown, reply));
      session.#send(now, "RNTO", to, { on: "rnto", id });
    },
    rnto: (session, now, reply, { id, shown }) => session.#settle(now, id, shown, reply),
    ccc: (session, now, reply, { id }) => {
      if (reply.code !== 200) return session.#fail(now, id, new FtpReplyError("CCC", reply));
      // RFC 4217 section 5: the TLS shutdown comes next; nothing is sent until it is done.
      session.#phase = "clearing";
      session.#events.push({ type: "clear-control" });
      session.#events.push({ type: "complete", id, reply });
    },
    rein: (session, now, reply, { id }) => {
      if (reply.code !== 220) return session.#fail(now, id, new FtpReplyError("REIN", reply));
      session.#features = new Map();
      session.#protection = undefined;
      session.#busy = false;
      session.#current = undefined;
      if (session.#protected && session.#options.tls === "explicit") {
        // The reply came protected; TLS goes next, then the session is set up again.
        session.#reinitializing = true;
        session.#phase = "clearing";
        session.#events.push({ type: "clear-control" }, { type: "complete", id, reply });
        return;
      }
      session.#events.push({ type: "complete", id, reply });
      session.#phase = "setup";
      session.#planSetup();
      session.#continueSetup(now);
    },
    abor: (session, now, reply, { id, overtaking }) => {
      if (!overtaking) return session.#settle(now, id, "ABOR", reply);
      // ABOR overtook the transfer, which was the operation in progress: the queue waited only
      // for this reply.
      if (reply.code >= 200 && reply.code < 300) {
        session.#events.push({ type: "complete", id, reply });
      } else {
        session.#events.push({ type: "failed", id, error: new FtpReplyError("ABOR", reply) });
      }
      session.#next(now);
    },
    epsv: (session, now, reply, { data }) => {
      if (session.#cancelled(now, data)) return;
      if (reply.code === 229) {
        let port: number;
        try {
          port = parseFtpEpsv(reply.lines.join(" "));
        } catch (error) {
          return session.#failData(now, data, error as Error);
        }
        data.phase = "connecting";
        session.#events.push({ type: "connect-data", id: data.id, port });
      } else if ([500, 501, 502].includes(reply.code)) {
        // RFC 2428: a server that does not know EPSV; ask for PASV from now on.
        session.#epsvRefused = true;
        session.#passive(now, data);
      } else {
        session.#failData(now, data, new FtpReplyError("EPSV", reply));
      }
    },
    pasv: (session, now, reply, { data }) => {
      if (session.#cancelled(now, data)) return;
      if (reply.code !== 227) return session.#failData(now, data, new FtpReplyError("PASV", reply));
      let address: FtpHostPort;
      try {
        address = parseFtpPasv(reply.lines.join(" "));
      } catch (error) {
        return session.#failData(now, data, error as Error);
      }
      data.phase = "connecting";
      session.#events.push({
        type: "connect-data",
        id: data.id,
        port: address.port,
        announcedHost: address.host,
      });
    },
    eprt: (session, now, reply, { data, address, shown }) => {
      if (session.#cancelled(now, data)) return;
      if (reply.code === 200) {
        data.phase = "commanding";
        session.#sendTransferCommand(now, data);
      } else if (isFtpIpv4(address.host) && [500, 501, 502, 522].includes(reply.code)) {
        // RFC 2428 section 2: a server without EPRT; PORT does IPv4.
        session.#eprtRefused = true;
        data.phase = "listening";
        session.dataListening(now, data.id, address);
      } else {
        session.#failData(now, data, new FtpReplyError(shown, reply));
      }
    },
    port: (session, now, reply, { data, shown }) => {
      if (session.#cancelled(now, data)) return;
      if (reply.code !== 200) return session.#failData(now, data, new FtpReplyError(shown, reply));
      data.phase = "commanding";
      session.#sendTransferCommand(now, data);
    },
    rest: (session, now, reply, { data, shown }) => {
      if (session.#cancelled(now, data)) return;
      if (reply.code !== 350) return session.#failData(now, data, new FtpReplyError(shown, reply));
      session.#sendCommandProper(now, data);
    },
    transfer: (session, now, reply, { data }) => {
      if (reply.code < 200 && data.aborted) {
        // ABOR is on its way: no data connection now; the final reply follows.
        return session.#await(now, { on: "transfer-end", data, shown: describe(data.request) });
      }
      if (reply.code === 125 || reply.code === 150) {
        data.phase = "transferring";
        const upload = data.request.command === "STOR" || data.request.command === "APPE";
        session.#events.push({
          type: "transfer-data",
          id: data.id,
          tls: session.#protection === "P",
          direction: upload ? "upload" : "download",
        });
        // The final reply follows on the same command: keep waiting for it.
        return session.#await(now, { on: "transfer-end", data, shown: describe(data.request) });
      }
      // A final reply without a preliminary one: a refusal (or a server that skipped 150).
      if (reply.code >= 200 && reply.code < 300) {
        data.phase = "transferring";
        data.finalReply = reply;
        data.dataEnded = true;
        return session.#maybeFinishTransfer(now, data);
      }
      session.#failData(now, data, new FtpReplyError(describe(data.request), reply));
    },
    "transfer-end": (session, now, reply, { data }) => {
      data.finalReply = reply;
      if (reply.code >= 300 && !data.dataEnded) {
        // A refusal after 150 (425: the server could not connect; 426; 451): no data will come,
        // or what came is void. The transfer fails now; its connection is dropped.
        data.dataEnded = true;
        session.#dropped = data.id;
      }
      session.#maybeFinishTransfer(now, data);
    },
  };

  // --- session set-up ---

  #planSetup(): void {
    const options = this.#options;
    const stages: SetupStage[] = this.#beforeAuth.map((command) => ({
      stage: "before-auth",
      command,
    }));
    if (options.tls === "explicit") stages.push({ stage: "auth" });
    if (options.tls !== "none" && !options.protectAfterLogin) stages.push({ stage: "protect" });
    stages.push({ stage: "login" });
    if (options.tls !== "none" && options.protectAfterLogin) stages.push({ stage: "protect" });
    stages.push({ stage: "feat" }, { stage: "utf8" }, { stage: "type" }, { stage: "ready" });
    this.#setup = stages;
  }

  #continueSetup(now: number): void {
    const stage = this.#setup.shift();
    if (!stage) return;
    const begin = FtpClientSession.#SETUP[stage.stage] as (
      session: FtpClientSession,
      now: number,
      stage: SetupStage,
    ) => void;
    begin(this, now, stage);
  }

  /** ACCT after a 332 (RFC 959 section 4.1.1), or a failed login when there is no account. */
  #account(now: number, after: string, reply: FtpReply): void {
    const account = this.#options.account;
    if (account === undefined) return this.#loginFailed(after, reply);
    this.#send(now, "ACCT", account, { on: "acct" }, "ACCT ****");
  }

  #loginFailed(command: string, reply: FtpReply): void {
    this.#close("login-failed", new FtpReplyError(command, reply));
  }

  // --- data transfers ---

  #passive(now: number, data: DataState): void {
    if (this.#epsvRefused) this.#send(now, "PASV", undefined, { on: "pasv", data });
    else this.#send(now, "EPSV", undefined, { on: "epsv", data });
  }

  /** REST first when resuming (RFC 3659 section 5), then the transfer command. */
  #sendTransferCommand(now: number, data: DataState): void {
    const offset = data.request.offset;
    if (offset === undefined) this.#sendCommandProper(now, data);
    else this.#send(now, "REST", String(offset), { on: "rest", data });
  }

  #sendCommandProper(now: number, data: DataState): void {
    data.commandSent = true;
    this.#send(now, data.request.command, data.request.path, { on: "transfer", data });
  }

  #maybeFinishTransfer(now: number, data: DataState): void {
    // RFC 959: a transfer is over only when both the data and the final reply are in.
    const reply = data.finalReply;
    if (!reply || !data.dataEnded) return;
    this.#data = undefined;
    if (data.aborted) {
      this.#fail(now, data.id, abortError());
    } else if (reply.code === 226 || reply.code === 250) {
      if (data.error) {
        this.#fail(now, data.id, data.error);
      } else {
        this.#events.push({ type: "complete", id: data.id, reply });
        this.#finishOperation(now);
      }
    } else {
      // The server's word, and the local cause when the data connection failed first.
      const cause = data.error && `The data connection failed first: ${data.error.message}`;
      this.#fail(now, data.id, new FtpReplyError(describe(data.request), reply, cause));
    }
  }

  /** Whether `id` is a transfer aborted or refused and over: the driver's late reports on it are
   * dropped. */
  #stale(id: number): boolean {
    return id === this.#dropped && this.#data?.id !== id;
  }

  /** Ends a transfer that `abort` stopped before its command went out, at its next step. */
  #cancelled(now: number, data: DataState): boolean {
    if (!data.aborted || data.commandSent) return false;
    this.#failData(now, data, abortError());
    return true;
  }

  #failData(now: number, data: DataState, error: Error): void {
    this.#data = undefined;
    this.#fail(now, data.id, error);
  }

  #dataFor(id: number, phase: DataState["phase"]): DataState {
    const data = this.#data;
    if (!data || data.id !== id || data.phase !== phase) {
      throw new TypeError(`Operation ${id} is not waiting for that (${phase})`);
    }
    return data;
  }

  // --- the command/reply loop ---

  #enqueue(now: number, request: QueuedRequest, first = false): number {
    if (this.#phase === "closed") throw new TypeError("Session closed");
    const operation = { ...request, id: this.#nextId++ } as Queued;
    if (first) this.#queue.unshift(operation);
    else this.#queue.push(operation);
    this.#next(now);
    return operation.id;
  }

  /** Starts the next queued operation, if the session is ready and idle. Call with the time. */
  #next(now: number): void {
    if (this.#phase !== "ready" || this.#busy || !this.#mayGo(this.#queue[0])) return;
    const operation = this.#queue.shift();
    if (!operation) return;
    this.#busy = true;
    this.#current = operation.id;
    const run = FtpClientSession.#RUN[operation.op] as (
      session: FtpClientSession,
      now: number,
      operation: Queued,
    ) => void;
    run(this, now, operation);
  }

  /**
   * Whether `operation` may go out now: when no reply is awaited, or for QUIT, when only the
   * replies to ABORs that overtook a transfer are. Some servers answer an aborted transfer and its
   * ABOR with one reply (Pure-FTPd: a single 226), and QUIT must not wait for a second that never
   * comes; the replies still come in order, and the session ends with QUIT's.
   */
  #mayGo(operation: Queued | undefined): boolean {
    if (this.#steps.length === 0) return true;
    return operation?.op === "quit" &&
      this.#steps.every((step) => step.on === "abor" && step.overtaking);
  }

  /** Completes operation `id` on a positive completion (2yz), else fails it with the reply. */
  #settle(now: number, id: number, shown: string, reply: FtpReply): void {
    if (reply.code >= 200 && reply.code < 300) {
      this.#events.push({ type: "complete", id, reply });
      this.#finishOperation(now);
    } else {
      this.#fail(now, id, new FtpReplyError(shown, reply));
    }
  }

  #fail(now: number, id: number, error: Error): void {
    this.#events.push({ type: "failed", id, error });
    this.#finishOperation(now);
  }

  #finishOperation(now: number): void {
    if (this.#phase === "clearing") return;
    this.#busy = false;
    this.#current = undefined;
    this.#next(now);
  }

  /** Sends a command; its reply goes to the reply table's row `awaiting.on`. */
  #send(
    now: number,
    verb: string,
    argument: string | undefined,
    awaiting: Awaiting,
    shown: string = argument === undefined ? verb : `${verb} ${argument}`,
  ): void {
    this.#transmits.push(encodeFtpCommand({ verb, argument }));
    this.#await(now, { ...awaiting, shown });
  }

  #await(now: number, step: Step): void {
    // A transfer's final reply comes before any later command's.
    if (step.on === "transfer-end") this.#steps.unshift(step);
    else this.#steps.push(step);
    this.#rearm(now);
  }

  /** Times the reply awaited first, unless it is a transfer's final reply and its data still
   * moves. */
  #rearm(now: number): void {
    const step = this.#steps[0];
    const moving = step?.on === "transfer-end" && !step.data.dataEnded;
    this.#deadline = step && !moving ? now + this.#options.replyTimeoutMs : undefined;
  }

  #reply(now: number, reply: FtpReply): void {
    if (reply.code === 421) {
      // RFC 959: service closing; the connection goes away.
      this.#close(
        "server-closed",
        new FtpReplyError(this.#steps[0]?.shown ?? "(no command)", reply),
      );
      return;
    }
    if (this.#phase === "greeting") {
      if (reply.code === 120) return; // Ready in a while: the 220 follows.
      if (reply.code !== 220) {
        this.#close("server-closed", new FtpReplyError("(greeting)", reply));
        return;
      }
      this.#phase = "setup";
      this.#deadline = undefined;
      this.#continueSetup(now);
      return;
    }
    const step = this.#steps[0];
    if (!step) {
      // A reply nobody asked for.
      this.#close("protocol-error", new FtpReplyError("(no command)", reply));
      return;
    }
    // A 1yz answers only a transfer command (its 125/150); to anything else it is a note, and
    // the final reply follows.
    if (reply.code < 200 && step.on !== "transfer") return;
    this.#steps.shift();
    this.#rearm(now);
    const row = FtpClientSession.#ON_REPLY[step.on] as (
      session: FtpClientSession,
      now: number,
      reply: FtpReply,
      step: Step,
    ) => void;
    row(this, now, reply, step);
  }

  #close(reason: Extract<FtpClientEvent, { type: "closed" }>["reason"], error?: Error): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#steps = [];
    this.#deadline = undefined;
    const pending = [...this.#queue];
    this.#queue = [];
    // A transfer whose data connection failed first fails with that cause.
    const cause = this.#data?.id === this.#current ? this.#data?.error : undefined;
    this.#data = undefined;
    // The operation in progress (a command or a transfer) fails with the session's reason.
    if (this.#current !== undefined) {
      this.#events.push({
        type: "failed",
        id: this.#current,
        error: cause ?? error ?? new Error(reason),
      });
      this.#current = undefined;
    }
    for (const operation of pending) {
      this.#events.push({
        type: "failed",
        id: operation.id,
        error: new Error(`Session closed (${reason}) before this ran`),
      });
    }
    this.#events.push({ type: "closed", reason, ...(error ? { error } : {}) });
  }
}
