/**
 * The FTPS client's control connection: connecting it in time (under TLS from the first byte for
 * implicit FTPS), and {@linkcode FtpClientSession} bound to it and to real time. A read loop feeds
 * the machine, {@linkcode ClientControl.pump} writes what the machine asks and acts on its events,
 * one timer serves its deadlines, and an accepted AUTH TLS upgrades the connection (RFC 4217
 * section 4). Operations wait here for their final replies; a transfer's data connection is its
 * {@linkcode DataWork}'s business, which is handed the machine's data events.
 *
 * The control connection is closed here alone, by {@linkcode ClientControl.quit} or when the
 * session ends otherwise.
 *
 * @module
 */

import type { FtpReply } from "../codec/mod.ts";
import { within } from "../io/timeout.ts";
import { type FtpClientEvent, FtpClientSession } from "./client_session.ts";
import { parseProxy, proxiedTransport } from "./_client_proxy.ts";
import type { FtpsClientOptions } from "./client_options.ts";
import type {
  FtpSocket,
  FtpTlsClientOptions,
  FtpTlsSessionStore,
  FtpTransport,
} from "./transport.ts";

/** The time the machine is given: a monotonic clock, in ms. */
export const now = (): number => performance.now();

/**
 * `step`, or a `TimeoutError` (io/timeout.ts) saying that `what` had no answer within `ms`. What
 * `step` brings after that goes to `late` (a connection that comes too late is closed there).
 */
export function inTime<T>(
  step: Promise<T>,
  ms: number,
  what: string,
  late?: (value: T) => void,
): Promise<T> {
  const onTimeout = late && (() => void step.then(late).catch(() => {}));
  return within(step, ms, `${what}: no answer within ${ms} ms`, onTimeout);
}

/**
 * The TLS options among the client's options. The name to check is the servername, else the host
 * the user named: data connections go to the control connection's address, which a certificate
 * for a host name does not carry.
 */
export function tlsOptions(options: FtpTlsClientOptions & { host: string }): FtpTlsClientOptions {
  const { ca, rejectUnauthorized, minVersion, maxVersion, cert, key } = options;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError("A client certificate needs its key, and a key its certificate");
  }
  return {
    servername: options.servername ?? options.host,
    ...(ca !== undefined ? { ca } : {}),
    ...(rejectUnauthorized !== undefined ? { rejectUnauthorized } : {}),
    ...(minVersion !== undefined ? { minVersion } : {}),
    ...(maxVersion !== undefined ? { maxVersion } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
  };
}

/** The machine's events about one operation's data connection. */
export type DataEvent = Extract<
  FtpClientEvent,
  { type: "connect-data" | "listen-data" | "transfer-data" | "abort-data" }
>;

/** A transfer's data side, as the control connection sees it: it is handed the machine's data
 * events, and told how its operation ended. */
export interface DataWork {
  /** Acts on one of the machine's data events. */
  handle(event: DataEvent): void;
  /** The operation succeeded: the data connection is let go of. */
  completed(): void;
  /** The operation failed with `error`; resolves with what it rejects with. */
  failed(error: Error): Promise<Error>;
  /** The session ended under the operation with `error`; returns what it rejects with. */
  abandoned(error: Error): Error;
}

/** An operation waiting for its final reply. */
export interface Pending {
  /** Its final reply was positive. */
  resolve(reply: FtpReply): void;
  /** It failed. */
  reject(error: Error): void;
  /** A transfer's data side. */
  data?: DataWork;
}

/** Where and how {@linkcode ClientControl.connect} connects. */
export interface ControlSetup {
  /** The server's host name or address. */
  readonly host: string;
  /** The control port. */
  readonly port: number;
  /** Whether TLS runs from the first byte (implicit FTPS). */
  readonly implicit: boolean;
  /** TLS options for the control and data connections (see {@linkcode tlsOptions}). */
  readonly tls: FtpTlsClientOptions;
  /** The transport. */
  readonly transport: FtpTransport;
  /** The longest wait for a connection or a handshake, in ms. */
  readonly timeoutMs: number;
  /** The session is made again after its connection broke (see `FtpTransport.sessionStore`). */
  readonly again?: boolean;
}

/** The control connection with its machine; see the module's documentation. */
export class ClientControl {
  /** The machine. */
  readonly session: FtpClientSession;
  /** The transport (data connections are opened with it too). */
  readonly transport: FtpTransport;
  /** TLS options for the control and data connections. */
  readonly tls: FtpTlsClientOptions;
  /** The TLS sessions of this server, which data connections offer to resume. */
  readonly sessions: FtpTlsSessionStore;
  /** The longest wait for a connection, a handshake or data, in ms. */
  readonly timeoutMs: number;
  #socket: FtpSocket;
  #pending = new Map<number, Pending>();
  #writing: Promise<void> = Promise.resolve();
  #upgrade: "none" | "wanted" = "none";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed: Error | undefined;
  #ready: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #features: ReadonlyMap<string, string> = new Map();
  #reading: Promise<void> = Promise.resolve();

  private constructor(
    setup: ControlSetup,
    session: FtpClientSession,
    socket: FtpSocket,
    sessions: FtpTlsSessionStore,
  ) {
    this.session = session;
    this.transport = setup.transport;
    this.tls = setup.tls;
    this.sessions = sessions;
    this.timeoutMs = setup.timeoutMs;
    this.#socket = socket;
  }

  /**
   * Connects and runs `session` on the connection until it is ready (secured and logged in).
   *
   * @param setup Where and how.
   * @param session The machine, not started.
   * @returns The control connection, ready for operations.
   */
  static async connect(setup: ControlSetup, session: FtpClientSession): Promise<ClientControl> {
    const { host, port, transport } = setup;
    const sessions = transport.sessionStore({
      host,
      port,
      tls: setup.tls,
      ...(setup.again ? { again: true } : {}),
    });
    await sessions.prepare?.();
    const tls = { ...setup.tls, sessions };
    const socket = await inTime(
      transport.connect({ host, port, ...(setup.implicit ? { tls } : { sessions }) }),
      setup.timeoutMs,
      `Connecting to ${host}:${port}`,
      (late) => late.close(),
    );
    const control = new ClientControl(setup, session, socket, sessions);
    await control.#start();
    return control;
  }

  /** The control connection as it is now (data connections go to its addresses). */
  get socket(): FtpSocket {
    return this.#socket;
  }

  /** Why the session ended, once it has. */
  get closed(): Error | undefined {
    return this.#closed;
  }

  /** The server's features (FEAT), upper-case names to parameters. */
  get features(): ReadonlyMap<string, string> {
    return this.#features;
  }

  /** Throws why the session ended, once it has. */
  check(): void {
    if (this.#closed) throw this.#closed;
  }

  /** Queues an operation without data on the machine (`queue` returns its id); settles with its
   * final reply. */
  operation(queue: (session: FtpClientSession, now: number) => number): Promise<FtpReply> {
    // A closed session or a refused argument rejects the promise; nothing throws synchronously.
    return new Promise((resolve, reject) => {
      this.check();
      this.track(queue(this.session, now()), { resolve, reject });
      this.pump();
    });
  }

  /** Waits for the final reply of operation `id` (queued on the machine) with `pending`. */
  track(id: number, pending: Pending): void {
    this.#pending.set(id, pending);
  }

  /** Whether operation `id` still waits for its final reply. */
  tracks(id: number): boolean {
    return this.#pending.has(id);
  }

  /** Sends what the machine wrote, acts on its events and sets its timer. */
  pump(): void {
    for (let bytes = this.session.pollTransmit(); bytes; bytes = this.session.pollTransmit()) {
      const socket = this.#socket;
      this.#writing = this.#writing.then(() => socket.write(bytes)).catch((error) => {
        this.#shutdown(error as Error);
      });
    }
    for (let event = this.session.pollEvent(); event; event = this.session.pollEvent()) {
      this.#event(event);
    }
    this.#arm();
  }

  /** Sends QUIT, then closes the connection and fails whatever still waits. */
  async quit(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.operation((session, at) => session.quit(at));
    } catch {
      // Closing anyway.
    }
    this.#shutdown(new Error("Client closed"));
    await this.#reading;
  }

  async #start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => (this.#ready = { resolve, reject }));
    this.session.start(now());
    this.#reading = this.#readLoop();
    this.pump();
    await ready;
  }

  async #readLoop(): Promise<void> {
    try {
      while (!this.#closed) {
        const bytes = await this.#socket.read();
        if (this.#closed) return;
        if (bytes === null) {
          this.session.receiveEnd(now());
          this.pump();
          return;
        }
        this.session.receive(now(), bytes);
        this.pump();
        if (this.#upgrade === "wanted") {
          // AUTH TLS was accepted. The machine read nothing after the 234, and nothing more is
          // read in plain text: the transport drops what is buffered, then the handshake runs
          // (RFC 4217 section 4).
          this.#upgrade = "none";
          await this.#writing;
          this.#socket = await inTime(
            this.#socket.startTls({ ...this.tls, sessions: this.sessions }),
            this.timeoutMs,
            "TLS on the control connection",
          );
          this.session.controlUpgraded(now());
          this.pump();
        }
      }
    } catch (error) {
      if (!this.#closed) {
        this.#shutdown(error as Error);
      }
    }
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = this.session.pollTimeout();
    if (deadline === undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.session.handleTimeout(now());
      this.pump();
    }, Math.max(0, deadline - now()));
  }

  #event(event: FtpClientEvent): void {
    switch (event.type) {
      case "upgrade-control":
        this.#upgrade = "wanted";
        return;
      case "clear-control":
        // node:tls cannot give the TCP connection back after a TLS shutdown.
        this.#shutdown(new Error("CCC is not supported by this transport"));
        return;
      case "ready":
        this.#features = event.features;
        this.#ready?.resolve();
        this.#ready = undefined;
        return;
      case "connect-data":
      case "listen-data":
      case "transfer-data":
      case "abort-data":
        this.#pending.get(event.id)?.data?.handle(event);
        return;
      case "complete": {
        const pending = this.#pending.get(event.id);
        this.#pending.delete(event.id);
        pending?.data?.completed();
        pending?.resolve(event.reply);
        return;
      }
      case "failed": {
        const pending = this.#pending.get(event.id);
        this.#pending.delete(event.id);
        if (pending?.data) void pending.data.failed(event.error).then(pending.reject);
        else pending?.reject(event.error);
        return;
      }
      case "closed":
        this.#shutdown(
          event.error ??
            new Error(`FTP session closed (${event.reason})`),
        );
        return;
    }
  }

  #shutdown(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#socket.close();
    this.#ready?.reject(error);
    this.#ready = undefined;
    for (const [, pending] of this.#pending) {
      pending.reject(pending.data?.abandoned(error) ?? error);
    }
    this.#pending.clear();
  }
}

/** A control connection, secured and logged in, as `options` say; `again` after a break. */
export async function openClientControl(
  options: FtpsClientOptions,
  again = false,
): Promise<ClientControl> {
  const secure = options.secure ?? "explicit";
  const timeoutMs = options.timeoutMs ?? 30_000;
  const proxy = options.proxy === undefined ? undefined : parseProxy(options.proxy);
  const session = new FtpClientSession({
    tls: secure === false ? "none" : secure,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(options.account !== undefined ? { account: options.account } : {}),
    ...(options.protection !== undefined ? { protection: options.protection } : {}),
    dataConnections: options.passive === false ? "active" : "passive",
    replyTimeoutMs: timeoutMs,
  });
  const control = await ClientControl.connect({
    host: options.host,
    port: options.port ?? (secure === "implicit" ? 990 : 21),
    implicit: secure === "implicit",
    tls: tlsOptions(options),
    transport: proxy ? proxiedTransport(options.transport, proxy, timeoutMs) : options.transport,
    timeoutMs,
    ...(again ? { again } : {}),
  }, session);
  return control;
}
