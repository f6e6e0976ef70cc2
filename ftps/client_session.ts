/**
 * The FTP/FTPS client control machine, sans-I/O: it holds a whole session (greeting, TLS, login,
 * protection, features, commands, data transfers) and never touches a socket. The driver feeds it
 * control bytes and tells it when TLS and data connections are done; it says what to send and
 * what to do.
 *
 * The session is in one of the states of `SessionState`; every reply comes in through one entry
 * (`#reply`), which asks the state whether a reply is expected and hands it to the command
 * awaited first. Its parts: the control connection's commands, replies and deadline
 * (_client_session_replies.ts), the set-up steps (_client_session_setup.ts), the data channel
 * (_client_session_data.ts), and the types its users see (_client_session_types.ts).
 *
 * @module
 */

import {
  encodeFtpCommand,
  type FtpCommand,
  type FtpHostPort,
  type FtpReply,
} from "../codec/mod.ts";
import { FtpReplyError } from "./reply_error.ts";
import type {
  FtpClientEvent,
  FtpClientSessionOptions,
  FtpTransferRequest,
} from "./_client_session_types.ts";
import {
  ClientSetup,
  replyClass,
  type SetupCommand,
  type SetupOptions,
  setupOptions,
  type SetupOutcome,
} from "./_client_session_setup.ts";
import {
  abortError,
  checkTransfer,
  ClientDataChannel,
  type TransferCommand,
} from "./_client_session_data.ts";
import { commandText, ControlChannel, plainCommand } from "./_client_session_replies.ts";

export type {
  FtpClientEvent,
  FtpClientSessionOptions,
  FtpDataConnectionMode,
  FtpTlsMode,
  FtpTransferRequest,
} from "./_client_session_types.ts";

/**
 * Where a session is: one state at a time, and what moves it on.
 *
 * - `idle`: `start` → `greeting`.
 * - `greeting`: 220 (a 120 may come first) → `setup`; any other reply → `closed`.
 * - `setup`: the reply to a set-up step (_client_session_setup.ts) → its next step, `upgrading`
 *   (AUTH's 234), `ready` after the last, or `closed` (a refusal).
 * - `upgrading`: nothing is read until `controlUpgraded` → `setup`, or `controlUpgradeFailed` →
 *   `closing` (QUIT) or `closed` (RFC 4217 section 10.3).
 * - `ready`: the next queued operation → `command`, `transfer` or `closing` (QUIT).
 * - `command`: the reply to its command → `ready`; `clearing` (CCC's 200); `reinitializing` or
 *   `setup` (REIN's 220).
 * - `transfer`: replies and data (_client_session_data.ts) → `ready`, or `aborting` when an ABOR
 *   overtook the transfer and its reply is still due.
 * - `aborting`: that reply → `ready`; only QUIT may go before it → `closing`.
 * - `clearing`, `reinitializing`: TLS shut down, `controlCleared` → `ready` (CCC), `setup` (REIN).
 * - `closing`: QUIT's reply, or the end of the stream → `closed`.
 * - `closed`: final.
 *
 * In any state a 421, the end of the stream or a missed deadline closes the session. A reply
 * where none is expected (`ready`, `clearing`, `reinitializing`, or a transfer waiting for its
 * data connection) is a protocol error.
 */
type SessionState =
  | "idle"
  | "greeting"
  | "setup"
  | "upgrading"
  | "ready"
  | "command"
  | "transfer"
  | "aborting"
  | "clearing"
  | "reinitializing"
  | "closing"
  | "closed";

/**
 * An operation's command awaiting its reply, named by what the reply does (a row of
 * `#OPERATION_REPLIES`).
 */
type OperationCommand =
  /** A command its reply settles: a 2yz completes the operation, anything else fails it. */
  | { readonly kind: "settle"; readonly id: number }
  /** RNFR: after 350, RNTO. */
  | { readonly kind: "RNFR"; readonly id: number; readonly to: string }
  | { readonly kind: "CCC"; readonly id: number }
  | { readonly kind: "REIN"; readonly id: number }
  /** An ABOR that overtook the transfer in progress (RFC 959 section 4.1.3). */
  | { readonly kind: "ABOR"; readonly id: number }
  /** QUIT: of the operation `id`, or after a failed control upgrade; the session then closes
   * with `reason`. */
  | {
    readonly kind: "QUIT";
    readonly id?: number;
    readonly reason: "quit" | "tls-failed";
    readonly error?: Error;
  };

/** A command sent and awaiting its reply, and how errors show it (passwords masked). */
type Awaiting = (SetupCommand | TransferCommand | OperationCommand) & {
  readonly shown: string;
};

/** Whether `awaiting` is a transfer command (its 1yz is its answer, RFC 959 section 5.4). */
function transferCommand(awaiting: Awaiting): boolean {
  return awaiting.kind === "data" && awaiting.awaits === "transfer";
}

/** A row of `#OPERATION_REPLIES`: what the reply to one kind of command does. */
type OperationRow<K extends OperationCommand["kind"]> = (
  session: FtpClientSession,
  now: number,
  reply: FtpReply,
  awaiting: Extract<OperationCommand, { kind: K }> & { readonly shown: string },
) => void;

/** `T` without its `id`, member by member. */
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

/** An operation waiting for its turn: a command and what its reply does, or a transfer. */
type Queued =
  | { readonly id: number; readonly command: FtpCommand; readonly awaiting: OperationCommand }
  | { readonly id: number; readonly transfer: FtpTransferRequest };

/** Queued operations as callers describe them (the id comes when queued). */
type QueuedRequest =
  | { readonly command: FtpCommand; readonly awaiting: WithoutId<OperationCommand> }
  | { readonly transfer: FtpTransferRequest };

/**
 * One client session over an FTP control connection, as a pure state machine.
 *
 * Inputs: `start`, `receive`, `controlUpgraded`, `controlCleared`, `dataConnected`,
 * `dataListening`, `dataEnded`, `dataFailed`, `handleTimeout`, and the operations `command`,
 * `transfer`, `rename`, `abort`, `cancel`, `reinitialize`, `clearControl`, `quit`. Outputs:
 * `pollTransmit` (bytes for the control connection), `pollEvent`, `pollTimeout`.
 *
 * Every input takes `now`, and everything it causes counts from that `now`: a command's reply
 * deadline runs from the input that sent it (a reply that sends the next command passes on its
 * own time), or, for a command sent while others were awaited, from the reply before its own
 * (replies come in order).
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
  readonly #options: SetupOptions;
  #state: SessionState = "idle";
  #events: FtpClientEvent[] = [];
  /** The command lines, the replies, the commands awaiting them (more than one only while an
   * ABOR overtakes a transfer) and the deadline. */
  readonly #control: ControlChannel<Awaiting>;
  /** The set-up steps, and what they learnt: the features, the data protection level. */
  readonly #setup: ClientSetup;
  #queue: Queued[] = [];
  /** The operation in progress. */
  #current: number | undefined;
  #nextId = 1;
  #protected = false;
  readonly #transfers: ClientDataChannel;
  /** The server went away (421, or the end of the control stream) after answering the transfer
   * in progress in full: the session closes once that transfer's data has ended. */
  #closeAfterData: { reason: "server-closed"; error: Error } | undefined;

  /**
   * Makes a session machine.
   *
   * @param options TLS, login, protection and timing.
   */
  constructor(options: FtpClientSessionOptions = {}) {
    this.#options = setupOptions(options);
    this.#setup = new ClientSetup(this.#options, options.beforeAuth ?? []);
    // A transfer's final reply is not timed while its data moves: from the end of the data.
    this.#control = new ControlChannel(
      this.#options.replyTimeoutMs,
      (first) => first.kind === "data" && first.awaits === "final" && !first.transfer.dataEnded,
    );
    this.#transfers = new ClientDataChannel({
      send: (now, command, awaiting) => this.#send(now, command, awaiting),
      awaitFinal: (now, awaiting, shown) => this.#control.await(now, { ...awaiting, shown }, true),
      sendAbort: (now) => {
        const id = this.#nextId++;
        this.#send(now, { verb: "ABOR" }, { kind: "ABOR", id });
        return id;
      },
      dataStopped: (now) => this.#control.time(now),
      event: (event) => this.#events.push(event),
      complete: (now, id, reply) => this.#complete(now, id, reply),
      fail: (now, id, error) => this.#fail(now, id, error),
      protection: () => this.#setup.facts.protection,
    }, this.#options.dataConnections);
  }

  /** Whether the session is over (its `closed` event is out). */
  isClosed(): boolean {
    return this.#state === "closed";
  }

  /** Whether the control connection is under TLS now. */
  get controlProtected(): boolean {
    return this.#protected;
  }

  // --- outputs ---

  /** The next bytes to write on the control connection, or `undefined`. */
  pollTransmit(): Uint8Array | undefined {
    return this.#control.pollTransmit();
  }

  /** The next event, or `undefined`. */
  pollEvent(): FtpClientEvent | undefined {
    return this.#events.shift();
  }

  /** When `handleTimeout` must next be called, or `undefined`. */
  pollTimeout(): number | undefined {
    return this.#control.deadline;
  }

  // --- inputs ---

  /**
   * Starts the session on a connected control connection (already TLS in implicit mode): the
   * machine waits for the server's greeting.
   *
   * @param now The current time in ms.
   */
  start(now: number): void {
    if (this.#state !== "idle") throw new TypeError("Session already started");
    this.#state = "greeting";
    this.#protected = this.#options.tls === "implicit";
    this.#control.greet(now);
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
    if (this.#state === "idle") throw new TypeError("Session not started");
    // Not once closed, nor between AUTH's 234 and TLS; a reply can end the session (421, a
    // failed login) or start TLS: the rest is not read.
    const reading = () =>
      this.#state !== "closed" && this.#state !== "upgrading" && !this.#closeAfterData;
    if (!reading()) return;
    const garbage = this.#control.read(bytes, (reply) => {
      this.#reply(now, reply);
      return reading();
    });
    if (garbage) this.#close("protocol-error", garbage);
  }

  /**
   * The control connection's end of stream: the server went away.
   *
   * @param _now The current time in ms.
   */
  receiveEnd(_now: number): void {
    if (this.#state === "closed" || this.#closeAfterData) return;
    const first = this.#control.awaiting[0];
    if (first?.kind === "QUIT") this.#close(first.reason, first.error);
    else this.#serverGone(new Error("The server closed the control connection"));
  }

  /**
   * The control connection now runs over TLS (after `upgrade-control`).
   *
   * @param now The current time in ms.
   */
  controlUpgraded(now: number): void {
    if (this.#state !== "upgrading") throw new TypeError("No control upgrade pending");
    this.#protected = true;
    this.#state = "setup";
    this.#setupTo(now, this.#setup.resume());
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
    if (this.#state !== "upgrading") throw new TypeError("No control upgrade pending");
    if (how === "handshake") {
      this.#close("tls-failed", error);
      return;
    }
    this.#protected = how === "rejected";
    this.#state = "closing";
    this.#send(now, { verb: "QUIT" }, { kind: "QUIT", reason: "tls-failed", error });
  }

  /**
   * TLS on the control connection was shut down (after `clear-control`).
   *
   * @param now The current time in ms.
   */
  controlCleared(now: number): void {
    const state = this.#state;
    if (state !== "clearing" && state !== "reinitializing") {
      throw new TypeError("No control clearing pending");
    }
    this.#protected = false;
    // After REIN the session starts over: AUTH, protection, login, features (RFC 4217 section
    // 13: the server cleared TLS after its reply). After CCC, the operation is over.
    if (state === "reinitializing") this.#setUp(now);
    else this.#finishOperation(now);
  }

  /**
   * Passive mode: the data connection is open (after `connect-data`).
   *
   * @param now The current time in ms.
   * @param id The operation.
   */
  dataConnected(now: number, id: number): void {
    this.#transfers.connected(now, id);
  }

  /**
   * Active mode: the client listens for the data connection here (after `listen-data`).
   *
   * @param now The current time in ms.
   * @param id The operation.
   * @param address Where the server should connect.
   */
  dataListening(now: number, id: number, address: FtpHostPort): void {
    this.#transfers.listening(now, id, address);
  }

  /**
   * The data connection ended: a download reached its end, or an upload was sent and closed.
   *
   * @param now The current time in ms.
   * @param id The operation.
   */
  dataEnded(now: number, id: number): void {
    this.#transfers.ended(now, id);
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
    this.#transfers.failed(now, id, error);
  }

  /**
   * Fires what expired: a reply that did not come ends the session.
   *
   * @param now The current time in ms.
   */
  handleTimeout(now: number): void {
    const deadline = this.#control.deadline;
    if (deadline === undefined || now < deadline) return;
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
    const command = plainCommand(verb, argument);
    return this.#enqueue(now, { command, awaiting: { kind: "settle" } });
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
    const rnfr = { verb: "RNFR", argument: from };
    return this.#enqueue(now, { command: rnfr, awaiting: { kind: "RNFR", to } });
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
    checkTransfer(request);
    return this.#enqueue(now, { transfer: request });
  }

  /**
   * Queues CCC (RFC 4217 section 5): after 200 the control connection goes back to plain text
   * (`clear-control`); data protection stays as it was.
   *
   * @param now The current time in ms.
   * @returns The operation's id.
   */
  clearControl(now: number): number {
    return this.#enqueue(now, { command: { verb: "CCC" }, awaiting: { kind: "CCC" } });
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
    // With no transfer to overtake, ABOR goes as the next command.
    const abor = { command: { verb: "ABOR" }, awaiting: { kind: "settle" } } as const;
    return this.#transfers.abort(now) ?? this.#enqueue(now, abor, true);
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
    return this.#enqueue(now, { command: { verb: "REIN" }, awaiting: { kind: "REIN" } });
  }

  /**
   * Queues QUIT; the session closes with reason `"quit"` after the server's 221.
   *
   * @param now The current time in ms.
   * @returns The operation's id.
   */
  quit(now: number): number {
    const quit = { kind: "QUIT", reason: "quit" } as const;
    return this.#enqueue(now, { command: { verb: "QUIT" }, awaiting: quit });
  }

  // --- what the reply to each operation's command does ---

  /** What the reply to each operation's command does; `now` is the reply's time. */
  static readonly #OPERATION_REPLIES: {
    readonly [K in OperationCommand["kind"]]: OperationRow<K>;
  } = {
    settle: (session, now, reply, { id, shown }) => session.#settle(now, id, shown, reply),
    RNFR: (session, now, reply, { id, shown, to }) => {
      if (reply.code !== 350) return session.#fail(now, id, new FtpReplyError(shown, reply));
      session.#send(now, { verb: "RNTO", argument: to }, { kind: "settle", id });
    },
    CCC: (session, now, reply, { id, shown }) => {
      if (reply.code !== 200) return session.#fail(now, id, new FtpReplyError(shown, reply));
      // RFC 4217 section 5: the TLS shutdown comes next; nothing is sent until it is done, and
      // the operation ends then.
      session.#state = "clearing";
      session.#events.push({ type: "clear-control" }, { type: "complete", id, reply });
    },
    REIN: (session, now, reply, { id, shown }) => {
      if (reply.code !== 220) return session.#fail(now, id, new FtpReplyError(shown, reply));
      session.#current = undefined;
      if (session.#protected && session.#options.tls === "explicit") {
        // RFC 4217 section 13: the reply came protected; TLS goes next, then the set-up.
        session.#state = "reinitializing";
        session.#events.push({ type: "clear-control" }, { type: "complete", id, reply });
        return;
      }
      session.#events.push({ type: "complete", id, reply });
      session.#setUp(now);
    },
    ABOR: (session, now, reply, { id, shown }) => {
      // ABOR overtook the transfer, which its own replies ended first: the queue waited only for
      // this reply, unless QUIT went already.
      if (replyClass(reply.code) === "2yz") session.#events.push({ type: "complete", id, reply });
      else session.#events.push({ type: "failed", id, error: new FtpReplyError(shown, reply) });
      if (session.#state !== "aborting") return;
      session.#state = "ready";
      session.#next(now);
    },
    QUIT: (session, _now, reply, { id, reason, error }) => {
      if (id !== undefined) {
        session.#events.push({ type: "complete", id, reply });
        session.#current = undefined;
      }
      session.#close(reason, error);
    },
  };

  // --- replies: the one entry ---

  /**
   * Every reply comes here. The state says whether one is expected; the command awaited first
   * says what it means. Anything else is a protocol error, in one place.
   */
  #reply(now: number, reply: FtpReply): void {
    const first = this.#control.awaiting[0];
    if (reply.code === 421) {
      // RFC 959 section 5.4: 421 may answer any command, or none: the server is going away.
      const answered = first?.shown ?? "(no command)";
      return this.#serverGone(new FtpReplyError(answered, reply));
    }
    switch (this.#state) {
      case "greeting":
        return this.#greeting(now, reply);
      case "setup":
      case "command":
      case "transfer":
      case "aborting":
      case "closing":
        if (first === undefined) break; // A transfer waiting for its data connection.
        // RFC 959 section 4.2: a 1yz answers only a transfer command (its 125/150); to anything
        // else it is a note, and the final reply follows.
        if (replyClass(reply.code) === "1yz" && !transferCommand(first)) return;
        this.#control.take(now);
        return this.#answer(now, first, reply);
    }
    // `ready`, `clearing`, `reinitializing`, or nothing awaited: a reply nobody asked for.
    this.#close("protocol-error", new FtpReplyError("(no command)", reply));
  }

  /** The reply to `awaiting`, to the table of its part. */
  #answer(now: number, awaiting: Awaiting, reply: FtpReply): void {
    switch (awaiting.kind) {
      case "setup":
        return this.#setupTo(now, this.#setup.answer(awaiting, reply, awaiting.shown));
      case "data":
        return this.#transfers.answer(now, awaiting, reply, awaiting.shown);
      default: {
        const row = FtpClientSession.#OPERATION_REPLIES[awaiting.kind] as OperationRow<
          OperationCommand["kind"]
        >;
        return row(this, now, reply, awaiting);
      }
    }
  }

  /** The greeting (RFC 959 section 5.4): 120 says a 220 follows; 220 starts the set-up. */
  #greeting(now: number, reply: FtpReply): void {
    if (reply.code === 120) return;
    if (reply.code !== 220) {
      return this.#close("server-closed", new FtpReplyError("(greeting)", reply));
    }
    this.#setUp(now);
  }

  /** Sets the session up from the first step (after the greeting, and again after REIN). */
  #setUp(now: number): void {
    this.#state = "setup";
    this.#setupTo(now, this.#setup.begin());
  }

  /** Carries out what set-up does next: in `setup`, a step's command; else a new state. */
  #setupTo(now: number, outcome: SetupOutcome): void {
    switch (outcome.next) {
      case "send": {
        const { step, command } = outcome;
        return this.#send(now, command, { kind: "setup", step }, step.shown);
      }
      case "upgrade":
        // RFC 4217 section 4.1: TLS negotiation starts right after 234; nothing else is sent.
        // Nothing more received in plain text is read (`receive`), and a partial line held from
        // before is dropped: AUTH starts the session over (section 4), and only protected
        // replies may answer protected commands.
        this.#state = "upgrading";
        this.#control.restart();
        this.#events.push({ type: "upgrade-control" });
        return;
      case "ready": {
        const { features, protection } = this.#setup.facts;
        this.#state = "ready";
        this.#events.push({ type: "ready", features, protection });
        return this.#next(now);
      }
      case "close":
        return this.#close(outcome.reason, outcome.error);
    }
  }

  // --- operations: the queue ---

  #enqueue(now: number, request: QueuedRequest, first = false): number {
    if (this.#state === "closed") throw new TypeError("Session closed");
    const id = this.#nextId++;
    const operation: Queued = "transfer" in request
      ? { id, transfer: request.transfer }
      : { id, command: request.command, awaiting: { ...request.awaiting, id } };
    if (first) this.#queue.unshift(operation);
    else this.#queue.push(operation);
    this.#next(now);
    return operation.id;
  }

  /**
   * Starts the next queued operation when the session is `ready`. While an ABOR's reply is due
   * (`aborting`), only QUIT may go: some servers answer an aborted transfer and its ABOR with one
   * reply (Pure-FTPd: a single 226), and QUIT must not wait for a second that never comes; the
   * replies still come in order, and the session ends with QUIT's.
   */
  #next(now: number): void {
    const operation = this.#queue[0];
    if (operation === undefined) return;
    const quit = "awaiting" in operation && operation.awaiting.kind === "QUIT";
    if (this.#state !== "ready" && !(this.#state === "aborting" && quit)) return;
    this.#queue.shift();
    this.#current = operation.id;
    if ("transfer" in operation) {
      this.#state = "transfer";
      return this.#transfers.begin(now, operation.id, operation.transfer);
    }
    this.#state = quit ? "closing" : "command";
    this.#send(now, operation.command, operation.awaiting);
  }

  /**
   * The server closed the session (421, or the end of the control stream). A transfer it answered
   * in full first (a server shutting down sends 226, then 421) is not lost: its data, on another
   * connection, may still be arriving, and the session closes once it has.
   */
  #serverGone(error: Error): void {
    if (this.#transfers.awaitsOnlyData) this.#closeAfterData = { reason: "server-closed", error };
    else this.#close("server-closed", error);
  }

  /** Completes operation `id` on a positive completion (2yz), else fails it with the reply. */
  #settle(now: number, id: number, shown: string, reply: FtpReply): void {
    if (replyClass(reply.code) === "2yz") this.#complete(now, id, reply);
    else this.#fail(now, id, new FtpReplyError(shown, reply));
  }

  #complete(now: number, id: number, reply: FtpReply): void {
    this.#events.push({ type: "complete", id, reply });
    this.#finishOperation(now);
  }

  #fail(now: number, id: number, error: Error): void {
    this.#events.push({ type: "failed", id, error });
    this.#finishOperation(now);
  }

  /** The operation in progress is over: `ready` for the next, or `aborting` while the reply to
   * an ABOR that overtook it is due. */
  #finishOperation(now: number): void {
    this.#current = undefined;
    const gone = this.#closeAfterData;
    if (gone) return this.#close(gone.reason, gone.error);
    this.#state = this.#control.awaiting.length === 0 ? "ready" : "aborting";
    this.#next(now);
  }

  /** Sends `command`; its reply goes to `awaiting`'s row. */
  #send(
    now: number,
    command: FtpCommand,
    awaiting: SetupCommand | TransferCommand | OperationCommand,
    shown: string = commandText(command),
  ): void {
    this.#control.send(now, command, { ...awaiting, shown });
  }

  #close(reason: Extract<FtpClientEvent, { type: "closed" }>["reason"], error?: Error): void {
    this.#state = "closed";
    this.#control.close();
    const queued = this.#queue;
    this.#queue = [];
    // A transfer whose data connection failed first fails with that cause.
    const cause = this.#transfers.close();
    const fail = (id: number, error: Error) => this.#events.push({ type: "failed", id, error });
    // The operation in progress (a command or a transfer) fails with the session's reason.
    if (this.#current !== undefined) fail(this.#current, cause ?? error ?? new Error(reason));
    this.#current = undefined;
    for (const { id } of queued) fail(id, new Error(`Session closed (${reason}) before this ran`));
    this.#events.push({ type: "closed", reason, ...(error ? { error } : {}) });
  }
}
