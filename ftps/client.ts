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

/** One command sent and its reply awaited. */
interface Step {
  /** The command as errors show it (passwords masked). */
  readonly shown: string;
  readonly handle: (reply: FtpReply, now: number) => void;
  /** Whether a 1yz reply is the answer (a transfer command's 125/150); else it is skipped. */
  readonly preliminary: boolean;
  /** A transfer's final reply: not timed while its data still moves (the driver bounds that). */
  readonly after?: DataState;
}

/** A transfer command as errors show it. */
function describe(request: FtpTransferRequest): string {
  return request.path === undefined ? request.command : `${request.command} ${request.path}`;
}

interface Operation {
  readonly id: number;
  readonly run: (now: number) => void;
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
 * One client session over an FTP control connection, as a pure state machine.
 *
 * Inputs: `start`, `receive`, `controlUpgraded`, `controlCleared`, `dataConnected`,
 * `dataListening`, `dataEnded`, `dataFailed`, `handleTimeout`, and the operations `command`,
 * `transfer`, `rename`, `abort`, `reinitialize`, `clearControl`, `quit`. Outputs: `pollTransmit` (bytes for the control
 * connection), `pollEvent`, `pollTimeout`.
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
  readonly #parser = new FtpReplyParser();
  #transmits: Uint8Array[] = [];
  #events: FtpClientEvent[] = [];
  /** Commands sent and awaiting their replies, oldest first (more than one only while ABOR
   * overtakes a transfer). */
  #steps: Step[] = [];
  #deadline: number | undefined;
  #phase: "idle" | "greeting" | "upgrading" | "setup" | "ready" | "clearing" | "closed" = "idle";
  #setup: ((now: number) => void)[] = [];
  #queue: Operation[] = [];
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
   * Feeds bytes read from the control connection.
   *
   * @param now The current time in ms.
   * @param bytes The bytes.
   */
  receive(now: number, bytes: Uint8Array): void {
    if (this.#phase === "idle") throw new TypeError("Session not started");
    if (this.#phase === "closed") return;
    let replies: FtpReply[];
    try {
      replies = this.#parser.push(bytes);
    } catch (error) {
      this.#close("protocol-error", error as Error);
      return;
    }
    for (const reply of replies) {
      this.#reply(now, reply);
      // A reply can end the session (421, a failed login): the rest is not read.
      if (this.isClosed()) return;
    }
  }

  /**
   * The control connection's end of stream: the server went away.
   *
   * @param _now The current time in ms.
   */
  receiveEnd(_now: number): void {
    if (this.#phase === "closed") return;
    const quitting = this.#steps[0]?.shown === "QUIT";
    if (quitting) this.#close(this.#quitting.reason, this.#quitting.error);
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
    this.#send(now, "QUIT", undefined, () => this.#close("tls-failed", error));
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
    const verb = eprt ? "EPRT" : "PORT";
    const argument = eprt ? encodeFtpEprt(address) : encodeFtpPort(address);
    this.#send(now, verb, argument, (reply) => {
      if (this.#cancelled(now, data)) return;
      if (reply.code === 200) {
        data.phase = "commanding";
        this.#sendTransferCommand(now, data);
      } else if (eprt && isFtpIpv4(address.host) && [500, 501, 502, 522].includes(reply.code)) {
        // RFC 2428 section 2: a server without EPRT; PORT does IPv4.
        this.#eprtRefused = true;
        data.phase = "listening";
        this.dataListening(now, id, address);
      } else {
        this.#failData(now, data, new FtpReplyError(`${verb} ${argument}`, reply));
      }
    });
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
    return this.#enqueue(
      now,
      (at, id) =>
        this.#send(
          at,
          upper,
          argument,
          (reply, when) => this.#settle(when, id, upper, argument, reply),
        ),
    );
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
    return this.#enqueue(now, (at, id) =>
      this.#send(at, "RNFR", from, (reply, when) => {
        if (reply.code !== 350) {
          this.#fail(when, id, new FtpReplyError(`RNFR ${from}`, reply));
          return;
        }
        this.#send(when, "RNTO", to, (second, last) => this.#settle(last, id, "RNTO", to, second));
      }));
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
    return this.#enqueue(now, (at, id) => {
      const data: DataState = {
        id,
        request,
        phase: "negotiating",
        dataEnded: false,
        finalReply: undefined,
      };
      this.#data = data;
      if (this.#options.dataConnections === "active") {
        data.phase = "listening";
        this.#events.push({ type: "listen-data", id });
      } else {
        this.#passive(at, data);
      }
    });
  }

  /**
   * Queues CCC (RFC 4217 section 5): after 200 the control connection goes back to plain text
   * (`clear-control`); data protection stays as it was.
   *
   * @param now The current time in ms.
   * @returns The operation's id.
   */
  clearControl(now: number): number {
    return this.#enqueue(now, (at, id) =>
      this.#send(at, "CCC", undefined, (reply, when) => {
        if (reply.code !== 200) {
          this.#fail(when, id, new FtpReplyError("CCC", reply));
          return;
        }
        // RFC 4217 section 5: the TLS shutdown comes next; nothing is sent until it is done.
        this.#phase = "clearing";
        this.#events.push({ type: "clear-control" });
        this.#events.push({ type: "complete", id, reply });
      }));
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
        this.#transmits.push(encodeFtpCommand({ verb: "ABOR" }));
        this.#steps.push({
          shown: "ABOR",
          preliminary: false,
          handle: (reply, when) => {
            if (reply.code >= 200 && reply.code < 300) {
              this.#events.push({ type: "complete", id, reply });
            } else {
              this.#events.push({ type: "failed", id, error: new FtpReplyError("ABOR", reply) });
            }
            this.#next(when);
          },
        });
        this.#rearm(now);
        this.#maybeFinishTransfer(now, data);
        return id;
      }
    }
    return this.#enqueue(
      now,
      (at, id) =>
        this.#send(
          at,
          "ABOR",
          undefined,
          (reply, when) => this.#settle(when, id, "ABOR", undefined, reply),
        ),
      true,
    );
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
    return this.#enqueue(now, (at, id) =>
      this.#send(at, "REIN", undefined, (reply, when) => {
        if (reply.code !== 220) {
          this.#fail(when, id, new FtpReplyError("REIN", reply));
          return;
        }
        this.#features = new Map();
        this.#protection = undefined;
        this.#busy = false;
        this.#current = undefined;
        if (this.#protected && this.#options.tls === "explicit") {
          // The reply came protected; TLS goes next, then the session is set up again.
          this.#reinitializing = true;
          this.#phase = "clearing";
          this.#events.push({ type: "clear-control" });
          this.#events.push({ type: "complete", id, reply });
          return;
        }
        this.#events.push({ type: "complete", id, reply });
        this.#phase = "setup";
        this.#planSetup();
        this.#continueSetup(when);
      }));
  }

  /**
   * Queues QUIT; the session closes with reason `"quit"` after the server's 221.
   *
   * @param now The current time in ms.
   * @returns The operation's id.
   */
  quit(now: number): number {
    return this.#enqueue(now, (at, id) =>
      this.#send(at, "QUIT", undefined, (reply) => {
        this.#events.push({ type: "complete", id, reply });
        this.#current = undefined;
        this.#close("quit");
      }));
  }

  // --- session set-up ---

  #planSetup(): void {
    const options = this.#options;
    const steps: ((now: number) => void)[] = [];
    for (const command of this.#beforeAuth) {
      steps.push((now) =>
        this.#send(now, command.verb, command.argument, (reply) => {
          if (reply.code >= 400) {
            const shown = command.argument === undefined
              ? command.verb
              : `${command.verb} ${command.argument}`;
            return this.#close("protocol-error", new FtpReplyError(shown, reply));
          }
          this.#continueSetup(now);
        })
      );
    }
    if (options.tls === "explicit") steps.push((now) => this.#auth(now));
    const protect = (now: number) => this.#protect(now);
    if (options.tls !== "none" && !options.protectAfterLogin) steps.push(protect);
    steps.push((now) => this.#login(now));
    if (options.tls !== "none" && options.protectAfterLogin) steps.push(protect);
    steps.push((now) => this.#feat(now));
    steps.push((now) => {
      if (options.utf8 && this.#features.has("UTF8")) {
        // Servers that need no switch refuse it; either way names go as UTF-8 (RFC 2640).
        this.#send(now, "OPTS", "UTF8 ON", () => this.#continueSetup(now));
      } else {
        this.#continueSetup(now);
      }
    });
    steps.push((now) =>
      this.#send(now, "TYPE", "I", (reply) => {
        if (reply.code !== 200) {
          return this.#close("protocol-error", new FtpReplyError("TYPE I", reply));
        }
        this.#continueSetup(now);
      })
    );
    steps.push((now) => {
      this.#phase = "ready";
      this.#events.push({
        type: "ready",
        features: this.#features,
        protection: this.#protection,
      });
      this.#next(now);
    });
    this.#setup = steps;
  }

  #continueSetup(now: number): void {
    const step = this.#setup.shift();
    step?.(now);
  }

  #auth(now: number): void {
    this.#send(now, "AUTH", "TLS", (reply) => {
      if (reply.code === 234) {
        // RFC 4217 section 4.1: TLS negotiation starts right after 234; nothing else is sent.
        this.#phase = "upgrading";
        this.#events.push({ type: "upgrade-control" });
        return;
      }
      // Never fall back to plain text silently: the user asked for TLS.
      this.#close("tls-refused", new FtpReplyError("AUTH TLS", reply));
    });
  }

  #protect(now: number): void {
    // RFC 4217 section 9: PBSZ 0 must come before PROT.
    this.#send(now, "PBSZ", "0", (reply) => {
      if (reply.code !== 200) return this.#close("tls-refused", new FtpReplyError("PBSZ 0", reply));
      const level = this.#options.protection;
      this.#send(now, "PROT", level, (second) => {
        if (second.code !== 200) {
          return this.#close("tls-refused", new FtpReplyError(`PROT ${level}`, second));
        }
        this.#protection = level;
        this.#continueSetup(now);
      });
    });
  }

  #login(now: number): void {
    const { user, password, account } = this.#options;
    const done = () => this.#continueSetup(now);
    const failed = (command: string, reply: FtpReply) =>
      this.#close("login-failed", new FtpReplyError(command, reply));
    const acct = (reply: FtpReply, after: string) => {
      if (account === undefined) return failed(after, reply);
      this.#send(now, "ACCT", account, (third) => {
        if (third.code === 230 || third.code === 202) done();
        else failed("ACCT ****", third);
      }, { shown: "ACCT ****" });
    };
    this.#send(now, "USER", user, (reply) => {
      // 230 logged in; 232 logged in on the strength of TLS (RFC 4217 section 12.2).
      if (reply.code === 230 || reply.code === 232) return done();
      if (reply.code === 332) return acct(reply, `USER ${user}`);
      if (reply.code !== 331) return failed(`USER ${user}`, reply);
      this.#send(now, "PASS", password, (second) => {
        if (second.code === 230 || second.code === 202) return done();
        if (second.code === 332) return acct(second, "PASS ****");
        failed("PASS ****", second);
      }, { shown: "PASS ****" });
    });
  }

  #feat(now: number): void {
    this.#send(now, "FEAT", undefined, (reply) => {
      this.#features = parseFtpFeat(reply);
      this.#continueSetup(now);
    });
  }

  // --- data transfers ---

  #passive(now: number, data: DataState): void {
    if (!this.#epsvRefused) {
      this.#send(now, "EPSV", undefined, (reply) => {
        if (this.#cancelled(now, data)) return;
        if (reply.code === 229) {
          let port: number;
          try {
            port = parseFtpEpsv(reply.lines.join(" "));
          } catch (error) {
            this.#failData(now, data, error as Error);
            return;
          }
          data.phase = "connecting";
          this.#events.push({ type: "connect-data", id: data.id, port });
        } else if ([500, 501, 502].includes(reply.code)) {
          // RFC 2428: a server that does not know EPSV; ask for PASV from now on.
          this.#epsvRefused = true;
          this.#passive(now, data);
        } else {
          this.#failData(now, data, new FtpReplyError("EPSV", reply));
        }
      });
      return;
    }
    this.#send(now, "PASV", undefined, (reply) => {
      if (this.#cancelled(now, data)) return;
      if (reply.code !== 227) {
        this.#failData(now, data, new FtpReplyError("PASV", reply));
        return;
      }
      let address: FtpHostPort;
      try {
        address = parseFtpPasv(reply.lines.join(" "));
      } catch (error) {
        this.#failData(now, data, error as Error);
        return;
      }
      data.phase = "connecting";
      this.#events.push({
        type: "connect-data",
        id: data.id,
        port: address.port,
        announcedHost: address.host,
      });
    });
  }

  #sendTransferCommand(now: number, data: DataState): void {
    const { command, path, offset } = data.request;
    const go = () => {
      data.commandSent = true;
      this.#send(now, command, path, (reply) => this.#transferReply(now, data, reply), {
        preliminary: true,
      });
    };
    if (offset === undefined) return go();
    this.#send(now, "REST", String(offset), (reply) => {
      if (this.#cancelled(now, data)) return;
      if (reply.code !== 350) {
        this.#failData(now, data, new FtpReplyError(`REST ${offset}`, reply));
        return;
      }
      go();
    });
  }

  #transferReply(now: number, data: DataState, reply: FtpReply): void {
    const shown = describe(data.request);
    if (reply.code < 200 && data.aborted) {
      // ABOR is on its way: no data connection now; the final reply follows.
      this.#await(
        now,
        shown,
        (final) => {
          data.finalReply = final;
          this.#maybeFinishTransfer(now, data);
        },
        false,
        data,
      );
      return;
    }
    if (reply.code === 125 || reply.code === 150) {
      data.phase = "transferring";
      const upload = data.request.command === "STOR" || data.request.command === "APPE";
      this.#events.push({
        type: "transfer-data",
        id: data.id,
        tls: this.#protection === "P",
        direction: upload ? "upload" : "download",
      });
      // The final reply follows on the same command: keep waiting for it.
      this.#await(
        now,
        shown,
        (final) => {
          data.finalReply = final;
          if (final.code >= 300 && !data.dataEnded) {
            // A refusal after 150 (425: the server could not connect; 426; 451): no data will
            // come, or what came is void. The transfer fails now; its connection is dropped.
            data.dataEnded = true;
            this.#dropped = data.id;
          }
          this.#maybeFinishTransfer(now, data);
        },
        false,
        data,
      );
      return;
    }
    // A final reply without a preliminary one: a refusal (or a server that skipped 150).
    if (reply.code >= 200 && reply.code < 300) {
      data.phase = "transferring";
      data.finalReply = reply;
      data.dataEnded = true;
      this.#maybeFinishTransfer(now, data);
      return;
    }
    this.#failData(now, data, new FtpReplyError(shown, reply));
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

  #enqueue(now: number, run: (now: number, id: number) => void, first = false): number {
    if (this.#phase === "closed") throw new TypeError("Session closed");
    const id = this.#nextId++;
    const operation = { id, run: (at: number) => run(at, id) };
    if (first) this.#queue.unshift(operation);
    else this.#queue.push(operation);
    this.#next(now);
    return id;
  }

  /** Starts the next queued operation, if the session is ready and idle. Call with the time. */
  #next(now: number): void {
    if (this.#phase !== "ready" || this.#busy || this.#steps.length > 0) return;
    const operation = this.#queue.shift();
    if (!operation) return;
    this.#busy = true;
    this.#current = operation.id;
    operation.run(now);
  }

  #settle(
    now: number,
    id: number,
    verb: string,
    argument: string | undefined,
    reply: FtpReply,
  ): void {
    if (reply.code >= 200 && reply.code < 300) {
      this.#events.push({ type: "complete", id, reply });
      this.#finishOperation(now);
    } else {
      this.#fail(
        now,
        id,
        new FtpReplyError(argument === undefined ? verb : `${verb} ${argument}`, reply),
      );
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

  #send(
    now: number,
    verb: string,
    argument: string | undefined,
    handle: (reply: FtpReply, now: number) => void,
    step: { shown?: string; preliminary?: boolean } = {},
  ): void {
    this.#transmits.push(encodeFtpCommand({ verb, argument }));
    const shown = step.shown ?? (argument === undefined ? verb : `${verb} ${argument}`);
    this.#await(now, shown, handle, step.preliminary ?? false);
  }

  #await(
    now: number,
    shown: string,
    handle: (reply: FtpReply, now: number) => void,
    preliminary = false,
    after?: DataState,
  ): void {
    if (after) {
      // A transfer's final reply comes before any later command's.
      this.#steps.unshift({ shown, handle, preliminary, after });
    } else {
      this.#steps.push({ shown, handle, preliminary });
    }
    this.#rearm(now);
  }

  /** Times the reply awaited first, unless it is a transfer's final reply and its data still
   * moves. */
  #rearm(now: number): void {
    const step = this.#steps[0];
    const moving = step?.after !== undefined && !step.after.dataEnded;
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
    if (reply.code < 200 && !step.preliminary) {
      return; // A preliminary reply to a command that has no use for it: wait for the final one.
    }
    this.#steps.shift();
    this.#rearm(now);
    step.handle(reply, now);
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
