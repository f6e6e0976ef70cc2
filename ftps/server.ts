/**
 * The runtime-agnostic FTPS server: one {@linkcode FtpServerSession} machine per control
 * connection, bound to a TCP/TLS transport, a storage per user, real time and the server's
 * limits (sessions, sessions per address, failed logins, timeouts).
 *
 * @module
 */

import { canonicalFtpHost, FtpAsciiDecoder, FtpAsciiEncoder, sameFtpHost } from "../codec/mod.ts";
import {
  type FtpDataResult,
  type FtpServerEvent,
  FtpServerSession,
  type FtpServerSessionOptions,
  type FtpStorageRequest,
  type FtpStorageResult,
} from "./server_session.ts";
import {
  type FtpReadStream,
  type FtpStorage,
  FtpStorageError,
  type FtpWriteStream,
} from "./storage.ts";
import { ftpDirectoryStorage } from "./directory.ts";
import { bindInRange, checkPortRange } from "../io/port_range.ts";
import { sleep, TimeoutError, within } from "../io/timeout.ts";
import type {
  FtpPeerCertificate,
  FtpServerListener,
  FtpServerSocket,
  FtpServerTransport,
  FtpTlsServerContext,
  FtpTlsServerOptions,
} from "./transport.ts";

/** One user of {@linkcode ServeFtpsOptions.users}. */
export interface FtpsUserOptions {
  /** The password (absent: this user logs in only with a certificate). */
  password?: string;
  /** SHA-256 fingerprints (`AB:CD:...`, colons and case optional) of TLS client certificates
   * that log this user in without a password (232, RFC 4217 section 12.2). */
  certificates?: readonly string[];
  /** The directory this user sees as `/` (default: the server's `root`). */
  root?: string;
  /** What this user sees, instead of a directory. */
  storage?: FtpStorage;
  /** Whether this user may change files (default: the server's `allowWrite`). */
  allowWrite?: boolean;
}

/** What an {@linkcode ServeFtpsOptions.authenticate} hook is asked. */
export interface FtpsLoginRequest {
  /** The user name sent. */
  readonly user: string;
  /** The password sent; absent when only the client certificate is offered as identity. */
  readonly password?: string;
  /** The TLS client certificate of the control connection, if one came. */
  readonly certificate?: FtpPeerCertificate;
  /** The client's IP address. */
  readonly remoteAddress: string;
  /** Whether the control connection is protected. */
  readonly protected: boolean;
}

/** One line of the server's log ({@linkcode ServeFtpsOptions.onLog}). */
export type FtpsLogEntry =
  | {
    /** A connection was refused before its session began. */
    readonly type: "refused";
    /** The client. */
    readonly remoteAddress: string;
    /** Why. */
    readonly reason: "max-sessions" | "max-sessions-per-ip" | "locked-out" | "tls";
  }
  | {
    /** A data connection was refused: it came from another host than the client's
     * (`foreign-host`, RFC 2577 section 3), or to a passive port that had its connection already
     * (`extra-connection`; from the client's own address it fails the transfer, 426: one of the
     * two is another program), or its TLS session did not resume when it had to
     * (`not-resumed`, 522). */
    readonly type: "data-refused";
    /** The client of the session. */
    readonly remoteAddress: string;
    /** Where the data connection came from. */
    readonly from: string;
    /** Why. */
    readonly reason: "foreign-host" | "extra-connection" | "not-resumed";
  }
  | {
    /** A login succeeded or failed. */
    readonly type: "login";
    /** The client. */
    readonly remoteAddress: string;
    /** The user name. */
    readonly user: string;
    /** Whether it succeeded. */
    readonly ok: boolean;
    /** How: a password, or the client's certificate alone (232). */
    readonly method: "password" | "certificate";
  }
  | {
    /** A data transfer ended. */
    readonly type: "transfer";
    /** The client. */
    readonly remoteAddress: string;
    /** The user. */
    readonly user: string | undefined;
    /** `send` (RETR, listings) or `receive` (STOR, APPE, STOU). */
    readonly direction: "send" | "receive";
    /** Bytes moved on the data connection. */
    readonly bytes: number;
    /** Wall time in ms. */
    readonly durationMs: number;
    /** Whether the data connection was TLS, and its session resumed. */
    readonly tls: { readonly protocol: string; readonly resumed: boolean } | undefined;
    /** A protected upload: whether the client ended its TLS stream with close_notify (absent
     * when the upload did not reach its end, or the transport cannot tell). */
    readonly closeNotified?: boolean;
    /** `ok`, `aborted` (ABOR or the session closing), or why it failed (`truncated`: a
     * protected upload ended without TLS close_notify, and nothing was kept). */
    readonly outcome: "ok" | "aborted" | Exclude<FtpDataResult, { ok: true }>["reason"];
  }
  | {
    /** A session ended. */
    readonly type: "closed";
    /** The client. */
    readonly remoteAddress: string;
    /** The user, if one logged in. */
    readonly user: string | undefined;
    /** Why: the machine's reason, or `disconnected` when the client went away. */
    readonly reason: Extract<FtpServerEvent, { type: "closed" }>["reason"] | "disconnected";
  };

/** Options of `serveFtps`. */
export interface ServeFtpsOptions extends
  Pick<
    FtpServerSessionOptions,
    | "requireTlsForLogin"
    | "dataProtection"
    | "allowCcc"
    | "greeting"
    | "maxLoginAttempts"
    | "maxLineLength"
    | "idleTimeoutMs"
    | "loginTimeoutMs"
    | "lineTimeoutMs"
    | "passiveHost"
    | "allowForeignDataHosts"
    | "requireTlsResumption"
  > {
  /** The directory served (to every user without a `root` or `storage` of their own). */
  root?: string;
  /** What is served, instead of `root`. */
  storage?: FtpStorage;
  /** Let users change files in `root` (default false: read-only). */
  allowWrite?: boolean;
  /** Users by name: a password, or their options. */
  users?: Readonly<Record<string, string | FtpsUserOptions>>;
  /**
   * Checks logins instead of `users`: resolve `true` (the server's `root`/`storage`), the storage
   * the user gets, or `false`. It also decides certificate logins (`password` absent).
   */
  authenticate?: (
    request: FtpsLoginRequest,
  ) => boolean | FtpStorage | Promise<boolean | FtpStorage>;
  /** Let `anonymous` and `ftp` in, read-only, with any password (default false); `root` gives
   * them a directory of their own. */
  anonymous?: boolean | { root?: string; storage?: FtpStorage };
  /** The server's certificate and key (and client-certificate settings), or a context already
   * made by the transport. Required unless `secure` is `"none"`. */
  tls?: FtpTlsServerOptions | FtpTlsServerContext;
  /** FTPS through AUTH TLS (`"explicit"`, default), TLS from the first byte (`"implicit"`), or
   * plain FTP (`"none"`, for tests and closed networks only). */
  secure?: "explicit" | "implicit" | "none";
  /** The address to listen on (default `"0.0.0.0"`). */
  host?: string;
  /** The port (default 21, or 990 when implicit; 0 picks a free one). */
  port?: number;
  /** Passive data ports come from this inclusive range (default: any free port). */
  passivePorts?: readonly [number, number];
  /** Sessions at once (default 256); more are answered 421 and closed. */
  maxSessions?: number;
  /** Sessions at once from one IP address, or one IPv6 /64 (default 10). */
  maxSessionsPerIp?: number;
  /**
   * Keep a protected (PROT P) upload only when the client ended its TLS stream with close_notify
   * (default true). Without it, the end of the TCP stream is all that marks the end of the file,
   * and a connection cut short, or a forged FIN (RFC 8446 section 6.1's truncation attack), would
   * commit a partial file. curl, lftp, Python's ftplib, basic-ftp and ftkit's client all send
   * close_notify; turn this off only for a client that does not (as vsftpd's
   * `strict_ssl_read_eof=NO`). A transport of your own whose sockets cannot tell
   * (`closeNotified` undefined) gets every protected upload refused (426) while this is on.
   */
  requireCloseNotify?: boolean;
  /** A failed login is answered this much later, in ms (default 1000). */
  loginFailureDelayMs?: number;
  /** Failed logins from one address within `windowMs` that lock it out for `durationMs`: its
   * new connections are answered 421 and its logins fail (default 10 in 10 minutes lock out for
   * 15 minutes; `false` turns it off). */
  lockout?: false | { attempts: number; windowMs: number; durationMs: number };
  /** How long a data connection may take to come and be secured, and a transfer may stall, in ms
   * (default 30000). */
  dataTimeoutMs?: number;
  /** How long a control connection's TLS handshake may take, in ms (default 10000). */
  tlsHandshakeTimeoutMs?: number;
  /** Sessions, logins and transfers, as they happen. */
  onLog?: (entry: FtpsLogEntry) => void;
  /** Errors of the listening socket, and anything unexpected in a session. */
  onError?: (error: Error) => void;
}

/** A running FTPS server. */
export interface FtpsServer extends AsyncDisposable {
  /** Where it listens. */
  readonly address: { readonly host: string; readonly port: number };
  /** Sessions open now. */
  readonly sessions: number;
  /** Stops listening and closes every session and transfer. */
  close(): Promise<void>;
}

/** Whether a value is a context already made (rather than options to make one). */
function isContext(value: FtpTlsServerOptions | FtpTlsServerContext): value is FtpTlsServerContext {
  return "options" in value && typeof (value as FtpTlsServerContext).options === "object";
}

/** A fingerprint without colons, upper case, for comparisons. */
function fingerprintKey(text: string): string {
  return text.replace(/:/g, "").toUpperCase();
}

/** Compares two strings in time that depends only on their lengths. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}

/**
 * What session limits and lockouts count by: an IPv4 address, or an IPv6 address's /64 (one
 * subscriber's network: a client there can take any of its 2^64 addresses).
 */
function clientKey(address: string): string {
  const canonical = canonicalFtpHost(address) ?? address;
  if (!canonical.includes(":")) return canonical;
  return `${canonical.split(":").slice(0, 4).join(":")}::/64`;
}

/** Connections refused with a 421 at once; more are dropped unanswered. */
const MAX_REFUSALS = 64;

/** Failed logins per address, and lockouts. */
class LoginGuard {
  readonly #failures = new Map<string, number[]>();
  readonly #lockedUntil = new Map<string, number>();
  readonly #policy: { attempts: number; windowMs: number; durationMs: number } | undefined;

  constructor(policy: false | { attempts: number; windowMs: number; durationMs: number }) {
    this.#policy = policy === false ? undefined : policy;
  }

  locked(address: string, now: number): boolean {
    const until = this.#lockedUntil.get(address);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#lockedUntil.delete(address);
    return false;
  }

  failed(address: string, now: number): void {
    const policy = this.#policy;
    if (!policy) return;
    const recent = (this.#failures.get(address) ?? []).filter((t) => now - t < policy.windowMs);
    recent.push(now);
    if (recent.length >= policy.attempts) {
      this.#lockedUntil.set(address, now + policy.durationMs);
      this.#failures.delete(address);
    } else {
      this.#failures.set(address, recent);
    }
    // Bounded: forget addresses whose failures all aged out.
    if (this.#failures.size > 10_000) {
      for (const [key, times] of this.#failures) {
        if (times.every((t) => now - t >= policy.windowMs)) this.#failures.delete(key);
      }
    }
  }
}

/** What the server shares with its sessions. */
interface ServerShared {
  readonly transport: FtpServerTransport;
  readonly options: ServeFtpsOptions;
  readonly secure: "explicit" | "implicit" | "none";
  readonly context: FtpTlsServerContext | undefined;
  readonly guard: LoginGuard;
  readonly dataTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly requireCloseNotify: boolean;
  readonly login: (request: FtpsLoginRequest) => Promise<FtpStorage | undefined>;
  readonly anonymousStorage: () => FtpStorage;
  readonly log: (entry: FtpsLogEntry) => void;
}

/** An open data transfer. */
interface RunningTransfer {
  readonly id: number;
  aborted: boolean;
  /** Another connection to the passive port came from the client's address. */
  contested: boolean;
  socket: FtpServerSocket | undefined;
  /** Drops the data connection (ABOR, the session closing). */
  abort(): void;
}

/** One control connection, driven. */
class ServerSessionDriver {
  readonly #shared: ServerShared;
  readonly #machine: FtpServerSession;
  #control: FtpServerSocket;
  readonly #remote: string;
  /** What limits and lockouts count this client by. */
  readonly #key: string;
  #storage: FtpStorage | undefined;
  #user: string | undefined;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #listener: FtpServerListener | undefined;
  #opened: { read?: FtpReadStream; write?: FtpWriteStream } = {};
  #transfer: RunningTransfer | undefined;
  #transferDone: Promise<void> = Promise.resolve();
  #closed = false;
  /** The control stream being replaced (TLS coming up or going away), until it is. */
  #swap: Promise<void> | undefined;
  #closeReason: Extract<FtpsLogEntry, { type: "closed" }>["reason"] = "disconnected";

  constructor(shared: ServerShared, control: FtpServerSocket) {
    this.#shared = shared;
    this.#control = control;
    this.#remote = control.remoteAddress;
    this.#key = clientKey(this.#remote);
    const options = shared.options;
    this.#machine = new FtpServerSession({
      tls: shared.secure,
      requireTlsForLogin: options.requireTlsForLogin,
      allowAnonymous: options.anonymous !== undefined && options.anonymous !== false,
      dataProtection: options.dataProtection,
      allowCcc: options.allowCcc,
      greeting: options.greeting,
      maxLoginAttempts: options.maxLoginAttempts,
      maxLineLength: options.maxLineLength,
      idleTimeoutMs: options.idleTimeoutMs,
      loginTimeoutMs: options.loginTimeoutMs,
      lineTimeoutMs: options.lineTimeoutMs,
      passiveHost: options.passiveHost,
      allowForeignDataHosts: options.allowForeignDataHosts,
      requireTlsResumption: options.requireTlsResumption,
      certificateLogin: shared.context?.options.requestClientCertificate ?? false,
    });
  }

  /** Runs the session to its end. */
  async run(): Promise<void> {
    try {
      this.#machine.start(performance.now(), {
        local: this.#control.localAddress,
        remote: this.#remote,
      });
      await this.#enqueue(() => {});
      while (!this.#closed) {
        const control = this.#control;
        let bytes: Uint8Array | null;
        try {
          bytes = await control.read();
        } catch {
          bytes = null;
        }
        // TLS came up or went away meanwhile (AUTH TLS or CCC held behind a transfer): what was
        // read from the stream before is not the session's; read the new one.
        if (this.#swap) await this.#swap;
        if (control !== this.#control) continue;
        if (bytes === null || this.#closed) break;
        await this.#enqueue(() => this.#machine.receive(performance.now(), bytes));
      }
    } catch (error) {
      this.#shared.options.onError?.(error as Error);
    } finally {
      await this.#teardown();
    }
  }

  /** Stops the session now (the server is closing). */
  kill(): void {
    this.#closed = true;
    this.#control.close();
    this.#transfer?.abort();
    this.#listener?.close();
  }

  /** Runs `input` on the machine, then does what the machine asks; inputs never interleave. */
  #enqueue(input: () => void): Promise<void> {
    const next = this.#chain.then(async () => {
      if (this.#closed) return;
      input();
      await this.#flush();
    });
    this.#chain = next.catch((error) => {
      this.#shared.options.onError?.(error as Error);
      this.kill();
    });
    return this.#chain;
  }

  /** Sends the queued replies and carries out the machine's events, until it has none. */
  async #flush(): Promise<void> {
    const machine = this.#machine;
    for (;;) {
      for (let bytes = machine.pollTransmit(); bytes; bytes = machine.pollTransmit()) {
        await this.#send(bytes);
      }
      const event = machine.pollEvent();
      if (!event) break;
      await this.#handle(event);
    }
    this.#arm();
  }

  /** Writes to the control connection; a client that stops reading is dropped. */
  async #send(bytes: Uint8Array): Promise<void> {
    try {
      await within(
        this.#control.write(bytes),
        this.#shared.dataTimeoutMs,
        "Control write timed out",
      );
    } catch {
      this.kill();
    }
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = this.#machine.pollTimeout();
    if (deadline === undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#enqueue(() => this.#machine.handleTimeout(performance.now()));
    }, Math.max(0, deadline - performance.now()));
  }

  async #handle(event: FtpServerEvent): Promise<void> {
    const machine = this.#machine;
    const now = () => performance.now();
    switch (event.type) {
      case "upgrade-control": {
        const context = this.#shared.context!;
        try {
          await this.#swapControl(
            this.#control.acceptTls(context, { clearable: true }),
            "TLS handshake",
          );
        } catch {
          machine.controlUpgradeFailed(now(), "handshake");
          return;
        }
        machine.controlUpgraded(now());
        return;
      }
      case "clear-control": {
        // CCC, or REIN on a protected connection: TLS off, TCP kept.
        const clear = this.#control.clearTls;
        if (!clear) {
          this.kill();
          return;
        }
        try {
          await this.#swapControl(clear(), "TLS shutdown");
        } catch {
          this.kill();
          return;
        }
        machine.controlCleared(now());
        return;
      }
      case "authenticate":
        return await this.#authenticate(event);
      case "authenticate-certificate": {
        // No login by certificate from a locked-out address, and a throwing hook is a refusal,
        // as for passwords. A refusal is no failed login: the password step follows (331).
        const certificate = this.#control.peerCertificate;
        let storage: FtpStorage | undefined;
        if (certificate && !this.#shared.guard.locked(this.#key, performance.now())) {
          try {
            storage = await this.#shared.login({
              user: event.user,
              certificate,
              remoteAddress: this.#remote,
              protected: true,
            });
          } catch (error) {
            this.#shared.options.onError?.(error as Error);
          }
        }
        if (storage) this.#loggedIn(event.user, storage);
        if (certificate) {
          this.#shared.log({
            type: "login",
            remoteAddress: this.#remote,
            user: event.user,
            ok: storage !== undefined,
            method: "certificate",
          });
        }
        machine.certificateResult(now(), storage !== undefined);
        return;
      }
      case "storage":
        machine.storageResult(now(), await this.#store(event.request));
        return;
      case "listen-data": {
        this.#listener?.close();
        this.#listener = await this.#listen(event.family);
        if (this.#listener) machine.dataListening(now(), this.#listener.port);
        else machine.dataListenFailed(now());
        return;
      }
      case "close-data":
        this.#listener?.close();
        this.#listener = undefined;
        return;
      case "transfer-data": {
        const listener = this.#listener;
        this.#listener = undefined;
        this.#transferDone = this.#runTransfer(event, listener);
        return;
      }
      case "abort-data":
        if (this.#transfer?.id === event.id) this.#transfer.abort();
        return;
      case "logged-in":
        return;
      case "closed":
        this.#closeReason = event.reason;
        this.#closed = true;
        // The replies before it are out: close_notify and FIN now, so that the read loop ends
        // even when the client says nothing more.
        await within(this.#control.end(), 2000, "Control close timed out").catch(() => {});
        this.#control.close();
        return;
    }
  }

  /** Puts the control connection's new stream (TLS on, or off) in place, bounded in time; the
   * read loop waits for it when its read ended with the old stream. */
  async #swapControl(next: Promise<FtpServerSocket>, what: string): Promise<void> {
    const swapped = within(
      next,
      this.#shared.handshakeTimeoutMs,
      `${what} timed out`,
      () => this.#control.close(),
    );
    this.#swap = swapped.then(() => {}, () => {});
    try {
      this.#control = await swapped;
    } finally {
      this.#swap = undefined;
    }
  }

  #loggedIn(user: string, storage: FtpStorage): void {
    this.#user = user;
    this.#storage = storage;
  }

  async #authenticate(
    event: Extract<FtpServerEvent, { type: "authenticate" }>,
  ): Promise<void> {
    const { user, password, protected: isProtected } = event;
    const shared = this.#shared;
    let storage: FtpStorage | undefined;
    const locked = shared.guard.locked(this.#key, performance.now());
    if (event.anonymous) {
      // The machine lets anonymous users this far only when they are enabled.
      storage = shared.anonymousStorage();
    } else if (!locked) {
      try {
        storage = await shared.login({
          user,
          password,
          ...(this.#control.peerCertificate ? { certificate: this.#control.peerCertificate } : {}),
          remoteAddress: this.#remote,
          protected: isProtected,
        });
      } catch (error) {
        shared.options.onError?.(error as Error);
      }
    }
    shared.log({
      type: "login",
      remoteAddress: this.#remote,
      user,
      ok: storage !== undefined,
      method: "password",
    });
    if (storage) {
      this.#loggedIn(user, storage);
      this.#machine.loginResult(performance.now(), true);
      return;
    }
    shared.guard.failed(this.#key, performance.now());
    await sleep(shared.options.loginFailureDelayMs ?? 1000);
    this.#machine.loginResult(performance.now(), false);
  }

  async #store(request: FtpStorageRequest): Promise<FtpStorageResult> {
    const storage = this.#storage;
    if (!storage) return { ok: false, code: 550, message: "Not logged in." };
    try {
      switch (request.op) {
        case "stat":
          return { ok: true, stat: await storage.stat(request.path) };
        case "list":
          return { ok: true, entries: await storage.list(request.path), now: new Date() };
        case "read": {
          await this.#dropOpened();
          const stream = await storage.read(request.path, request.offset);
          this.#opened.read = stream;
          return stream.size === undefined ? { ok: true } : { ok: true, size: stream.size };
        }
        case "write":
          await this.#dropOpened();
          this.#opened.write = await storage.write(request.path, {
            offset: request.offset,
            append: request.append,
          });
          return { ok: true };
        case "write-unique": {
          await this.#dropOpened();
          const { path, stream } = await storage.writeUnique(request.directory);
          this.#opened.write = stream;
          return { ok: true, path };
        }
        case "mkdir":
          await storage.mkdir(request.path);
          return { ok: true };
        case "rmdir":
          await storage.rmdir(request.path);
          return { ok: true };
        case "delete":
          await storage.delete(request.path);
          return { ok: true };
        case "rename":
          await storage.rename(request.from, request.to);
          return { ok: true };
      }
    } catch (error) {
      if (error instanceof FtpStorageError) {
        return { ok: false, code: error.code, message: error.message };
      }
      this.#shared.options.onError?.(error as Error);
      return { ok: false, code: 451, message: "Local error." };
    }
  }

  /** Releases a file opened for a transfer that never started. */
  async #dropOpened(): Promise<void> {
    const { read, write } = this.#opened;
    this.#opened = {};
    await read?.close().catch(() => {});
    await write?.abort().catch(() => {});
  }

  /** Opens the passive listener on the control connection's local address. */
  async #listen(family: 4 | 6): Promise<FtpServerListener | undefined> {
    const local = this.#control.localAddress;
    const canonical = canonicalFtpHost(local);
    // A dual-stack socket reports IPv4 as ::ffff:a.b.c.d: listen on the IPv4 address itself.
    const host = family === 4 && canonical && !canonical.includes(":") ? canonical : local;
    // Bounded: at most 100 ports of the range are tried.
    return await bindInRange(
      this.#shared.options.passivePorts,
      100,
      (port) => this.#shared.transport.listen({ host, port }),
    ).catch(() => undefined);
  }

  /** Gets the data connection: accepted from the allowed host, or connected to the client. */
  async #dataConnection(
    event: Extract<FtpServerEvent, { type: "transfer-data" }>,
    listener: FtpServerListener | undefined,
    transfer: RunningTransfer,
  ): Promise<FtpServerSocket> {
    const timeoutMs = this.#shared.dataTimeoutMs;
    if (event.connect) {
      const local = canonicalFtpHost(this.#control.localAddress);
      const connecting = this.#shared.transport.connect({
        host: event.connect.host,
        port: event.connect.port,
        ...(local ? { localAddress: local } : {}),
      });
      // A connection that comes after the deadline is closed, not left open.
      return await within(connecting, timeoutMs, "Data connection timed out", () => {
        connecting.then((late) => late.close(), () => {});
      });
    }
    if (!listener) throw new Error("No passive listener");
    const deadline = performance.now() + timeoutMs;
    // Bounded in time; connections from other hosts are closed unread (RFC 2577 section 3).
    while (!transfer.aborted) {
      const left = deadline - performance.now();
      if (left <= 0) throw new TimeoutError("Data connection timed out");
      const socket = await within(
        listener.accept(),
        left,
        "Data connection timed out",
        () => listener.close(),
      );
      if (!socket) throw new Error("Listener closed");
      if (event.acceptFrom === undefined || sameFtpHost(socket.remoteAddress, event.acceptFrom)) {
        return socket;
      }
      this.#refuseData(socket, "foreign-host");
    }
    throw new Error("Aborted");
  }

  /** Closes a data connection unread, and says so in the log. */
  #refuseData(
    socket: FtpServerSocket,
    reason: Extract<FtpsLogEntry, { type: "data-refused" }>["reason"],
  ): void {
    this.#shared.log({
      type: "data-refused",
      remoteAddress: this.#remote,
      from: socket.remoteAddress,
      reason,
    });
    socket.close();
  }

  /**
   * While a transfer runs, its passive port takes no other connection: each is closed unread and
   * logged, and one from the client's own address contests the transfer (two programs there
   * connected; the first may not be the client: RFC 2577 section 7's port theft).
   */
  async #watchPassivePort(listener: FtpServerListener, transfer: RunningTransfer): Promise<void> {
    for (;;) {
      const extra = await listener.accept();
      if (!extra) return;
      if (sameFtpHost(extra.remoteAddress, this.#remote)) transfer.contested = true;
      this.#refuseData(extra, "extra-connection");
    }
  }

  async #runTransfer(
    event: Extract<FtpServerEvent, { type: "transfer-data" }>,
    listener: FtpServerListener | undefined,
  ): Promise<void> {
    const started = performance.now();
    const opened = this.#opened;
    this.#opened = {};
    const transfer: RunningTransfer = {
      id: event.id,
      aborted: false,
      contested: false,
      socket: undefined,
      abort() {
        transfer.aborted = true;
        transfer.socket?.close();
        listener?.close();
      },
    };
    this.#transfer = transfer;
    let bytes = 0;
    let result: FtpDataResult;
    let socket: FtpServerSocket | undefined;
    let committed = false;
    let lastProgress = performance.now();
    let stalled = false;
    let watching: Promise<void> | undefined;
    let closeNotified: boolean | undefined;
    let ended = false;
    const timeoutMs = this.#shared.dataTimeoutMs;
    const watchdog = setInterval(() => {
      if (transfer.socket && performance.now() - lastProgress > timeoutMs) {
        stalled = true;
        transfer.socket.close();
      }
    }, Math.max(10, Math.min(1000, timeoutMs / 4)));
    try {
      try {
        socket = await this.#dataConnection(event, listener, transfer);
      } catch {
        result = { ok: false, reason: "connect" };
        return;
      }
      // The passive port stays open until the transfer ends, taking no other connection.
      if (listener) watching = this.#watchPassivePort(listener, transfer);
      transfer.socket = socket;
      if (transfer.aborted) {
        socket.close();
        return;
      }
      if (event.tls) {
        const plain = socket;
        try {
          socket = await within(
            plain.acceptTls(this.#shared.context!, {
              receiveOnly: event.direction === "receive",
            }),
            timeoutMs,
            "Data TLS handshake timed out",
            () => plain.close(),
          );
        } catch {
          result = { ok: false, reason: "tls" };
          return;
        }
        transfer.socket = socket;
        if (event.requireTlsResumption && !socket.tls?.resumed) {
          this.#refuseData(socket, "not-resumed");
          result = { ok: false, reason: "tls-resumption" };
          return;
        }
      }
      lastProgress = performance.now();
      const ascii = event.representation === "A";
      const done: FtpDataResult = { ok: true };
      if (event.direction === "send") {
        let failure: FtpDataResult | undefined;
        if (event.listing) {
          bytes += event.listing.length;
          await socket.write(event.listing);
        } else {
          const source = opened.read!;
          const encoder = ascii ? new FtpAsciiEncoder() : undefined;
          for (;;) {
            let chunk: Uint8Array | null;
            try {
              chunk = await source.read();
            } catch (error) {
              failure = storageFailure(error, this.#shared);
              break;
            }
            if (chunk === null || transfer.aborted) break;
            const wire = encoder ? encoder.encode(chunk) : chunk;
            await socket.write(wire);
            bytes += wire.length;
            lastProgress = performance.now();
          }
        }
        if (failure) {
          socket.close();
          result = failure;
          return;
        }
        // close_notify, then FIN: the client learns the file ended here (RFC 4217 section 8).
        await within(socket.end(), timeoutMs, "Data close timed out", () => socket?.close());
        ended = true;
        result = transfer.contested ? { ok: false, reason: "contested" } : done;
      } else {
        const target = opened.write!;
        const decoder = ascii ? new FtpAsciiDecoder() : undefined;
        for (;;) {
          const chunk = await socket.read();
          if (chunk === null) break;
          lastProgress = performance.now();
          bytes += chunk.length;
          const data = decoder ? decoder.decode(chunk) : chunk;
          try {
            await target.write(data);
          } catch (error) {
            socket.close();
            result = storageFailure(error, this.#shared);
            return;
          }
        }
        // Dropped by ABOR or for stalling: not the end of the file (RFC 959 section 3.4.1).
        if (transfer.aborted) return;
        if (stalled) {
          result = { ok: false, reason: "broken" };
          return;
        }
        // RFC 4217 sections 12.6 and 12.7: a protected upload ends with the client's TLS
        // shutdown. An end without it may be a cut (or forged) connection: nothing is kept.
        closeNotified = socket.closeNotified;
        if (event.tls && this.#shared.requireCloseNotify && closeNotified !== true) {
          result = { ok: false, reason: "truncated" };
          return;
        }
        // Two connections from the client's address: the data may be another program's.
        if (transfer.contested) {
          result = { ok: false, reason: "contested" };
          return;
        }
        try {
          // A CR the decoder held: the file ended with it.
          const held = decoder?.flush();
          if (held && held.length > 0) await target.write(held);
          await target.commit();
          committed = true;
        } catch (error) {
          result = storageFailure(error, this.#shared);
          return;
        }
        await within(socket.end(), timeoutMs, "Data close timed out").then(
          () => (ended = true),
          () => {},
        );
        result = done;
      }
    } catch {
      result = { ok: false, reason: "broken" };
    } finally {
      // How it ended is settled now: the session may close while the files are let go below
      // (curl closes its control connection as soon as a data connection is refused), and that
      // must not turn a refusal into an abort.
      const aborted = transfer.aborted;
      const final = result!;
      clearInterval(watchdog);
      // Ended cleanly: closed once the client has ended too (a close before that may reset the
      // connection under the end of a download). Otherwise dropped now.
      if (ended && socket?.linger) socket.linger();
      else socket?.close();
      listener?.close();
      await watching;
      await opened.read?.close().catch(() => {});
      if (!committed) await opened.write?.abort().catch(() => {});
      if (this.#transfer === transfer) this.#transfer = undefined;
      this.#shared.log({
        type: "transfer",
        remoteAddress: this.#remote,
        user: this.#user,
        direction: event.direction,
        bytes,
        durationMs: performance.now() - started,
        tls: socket?.tls,
        ...(closeNotified !== undefined ? { closeNotified } : {}),
        outcome: aborted ? "aborted" : final?.ok ? "ok" : final?.reason ?? "broken",
      });
      if (!aborted && final) {
        this.#enqueue(() => this.#machine.dataResult(performance.now(), event.id, final));
      }
    }
  }

  async #teardown(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#transfer?.abort();
    this.#listener?.close();
    await this.#transferDone;
    await this.#dropOpened();
    // The last replies are out; close_notify, then FIN (bounded: a client that does not read
    // is dropped).
    await within(this.#control.end(), 2000, "Control close timed out").catch(() => {});
    this.#control.close();
    this.#shared.log({
      type: "closed",
      remoteAddress: this.#remote,
      user: this.#user,
      reason: this.#closeReason,
    });
  }
}

function storageFailure(error: unknown, shared: ServerShared): FtpDataResult {
  if (error instanceof FtpStorageError) {
    const code = error.code === 452 || error.code === 552 ? error.code : 451;
    return { ok: false, reason: "storage", code, message: error.message };
  }
  shared.options.onError?.(error as Error);
  return { ok: false, reason: "storage", code: 451, message: "Local error." };
}

/**
 * Starts an FTPS server over the given transport. The per-runtime entry points bind this to
 * their adapter; call theirs (`serveFtps` from `@ftkit/ftkit/ftps/deno`, `ftkit/ftps/node`, ...).
 *
 * @param transport The TCP/TLS transport.
 * @param options What to serve, to whom, and how.
 * @returns The running server.
 */
export async function serveFtpsWith(
  transport: FtpServerTransport,
  options: ServeFtpsOptions,
): Promise<FtpsServer> {
  const secure = options.secure ?? "explicit";
  if (secure !== "none" && !options.tls) {
    throw new TypeError(`FTPS (${secure}) needs tls: a certificate and key`);
  }
  const context = secure === "none" || !options.tls
    ? undefined
    : isContext(options.tls)
    ? options.tls
    : transport.tlsContext(options.tls);
  const hasUsers = options.users !== undefined || options.authenticate !== undefined;
  if (!hasUsers && !options.anonymous) {
    throw new TypeError("Give users, authenticate or anonymous: nobody could log in");
  }
  if (options.root === undefined && options.storage === undefined) {
    const everyUserHasOwn = options.authenticate === undefined &&
      Object.values(options.users ?? {}).every((user) =>
        typeof user !== "string" && (user.root !== undefined || user.storage !== undefined)
      ) &&
      (!options.anonymous ||
        (typeof options.anonymous === "object" &&
          (options.anonymous.root !== undefined || options.anonymous.storage !== undefined)));
    if (!everyUserHasOwn) throw new TypeError("Give root or storage: what the server serves");
  }
  const positive = (value: number | undefined, name: string, fallback: number): number => {
    const result = value ?? fallback;
    if (!Number.isFinite(result) || result <= 0) {
      throw new RangeError(`${name} must be a positive number, got ${value}`);
    }
    return result;
  };
  const maxSessions = positive(options.maxSessions, "maxSessions", 256);
  const maxPerIp = positive(options.maxSessionsPerIp, "maxSessionsPerIp", 10);
  const dataTimeoutMs = positive(options.dataTimeoutMs, "dataTimeoutMs", 30_000);
  // The session machine has their defaults; given ones must be usable.
  for (const name of ["idleTimeoutMs", "loginTimeoutMs", "lineTimeoutMs"] as const) {
    if (options[name] !== undefined) positive(options[name], name, 1);
  }
  const handshakeTimeoutMs = positive(
    options.tlsHandshakeTimeoutMs,
    "tlsHandshakeTimeoutMs",
    10_000,
  );
  if (options.passivePorts) checkPortRange(options.passivePorts, "passivePorts");

  const storages = new Map<string, FtpStorage>();
  const directory = (root: string, allowWrite: boolean): FtpStorage => {
    const key = `${allowWrite ? "w" : "r"}:${root}`;
    let storage = storages.get(key);
    if (!storage) storages.set(key, storage = ftpDirectoryStorage(root, { allowWrite }));
    return storage;
  };
  const serverStorage = (allowWrite: boolean): FtpStorage =>
    options.storage ?? directory(options.root!, allowWrite);
  const userStorage = (user: FtpsUserOptions): FtpStorage =>
    user.storage ??
      (user.root !== undefined
        ? directory(user.root, user.allowWrite ?? options.allowWrite ?? false)
        : serverStorage(user.allowWrite ?? options.allowWrite ?? false));

  const login = async (request: FtpsLoginRequest): Promise<FtpStorage | undefined> => {
    if (options.authenticate) {
      const answer = await options.authenticate(request);
      if (answer === true) return serverStorage(options.allowWrite ?? false);
      return answer === false ? undefined : answer;
    }
    const entry = options.users?.[request.user];
    if (entry === undefined || !Object.hasOwn(options.users!, request.user)) return undefined;
    const user: FtpsUserOptions = typeof entry === "string" ? { password: entry } : entry;
    if (request.password === undefined) {
      const certificate = request.certificate;
      if (!certificate || !user.certificates) return undefined;
      const key = fingerprintKey(certificate.fingerprint256);
      return user.certificates.some((pin) => fingerprintKey(pin) === key)
        ? userStorage(user)
        : undefined;
    }
    if (user.password === undefined || !sameSecret(request.password, user.password)) {
      return undefined;
    }
    return userStorage(user);
  };
  const anonymousStorage = (): FtpStorage => {
    const anonymous = typeof options.anonymous === "object" ? options.anonymous : {};
    return anonymous.storage ??
      (anonymous.root !== undefined ? directory(anonymous.root, false) : options.storage ??
        directory(options.root!, false));
  };

  const shared: ServerShared = {
    transport,
    options,
    secure,
    context,
    guard: new LoginGuard(
      options.lockout ?? { attempts: 10, windowMs: 600_000, durationMs: 900_000 },
    ),
    dataTimeoutMs,
    handshakeTimeoutMs,
    requireCloseNotify: options.requireCloseNotify ?? true,
    login,
    anonymousStorage,
    log: (entry) => {
      try {
        options.onLog?.(entry);
      } catch (error) {
        options.onError?.(error as Error);
      }
    },
  };

  const host = options.host ?? "0.0.0.0";
  const listener = await transport.listen({
    host,
    port: options.port ?? (secure === "implicit" ? 990 : 21),
  });
  const sessions = new Set<ServerSessionDriver>();
  const perIp = new Map<string, number>();
  /** Connections holding a session slot: sessions, and those still in their implicit handshake. */
  let open = 0;
  /** Connections being told 421. */
  let refusing = 0;
  const running = new Set<Promise<void>>();
  let closing = false;

  async function refuse(
    socket: FtpServerSocket,
    address: string,
    reason: "max-sessions" | "max-sessions-per-ip" | "locked-out",
  ): Promise<void> {
    shared.log({ type: "refused", remoteAddress: address, reason });
    // Refusals are bounded too: past MAX_REFUSALS at once, a connection is dropped unanswered
    // (a flood gets no 421 each, nor a TLS handshake each in implicit mode).
    if (refusing >= MAX_REFUSALS) {
      socket.close();
      return;
    }
    refusing++;
    let stream: FtpServerSocket = socket;
    try {
      if (secure === "implicit") {
        stream = await within(
          socket.acceptTls(context!),
          handshakeTimeoutMs,
          "TLS handshake timed out",
          () => socket.close(),
        );
      }
      const text = reason === "locked-out"
        ? "421 Too many failed logins from your address; try again later.\r\n"
        : "421 Too many connections; try again later.\r\n";
      await within(stream.write(new TextEncoder().encode(text)), 2000, "Refusal timed out");
      await within(stream.end(), 2000, "Refusal timed out");
    } catch {
      // The client is gone already.
    } finally {
      refusing--;
      stream.close();
    }
  }

  async function handle(socket: FtpServerSocket): Promise<void> {
    const address = canonicalFtpHost(socket.remoteAddress);
    if (address === undefined || canonicalFtpHost(socket.localAddress) === undefined) {
      socket.close(); // Gone before it could be served.
      return;
    }
    const key = clientKey(address);
    const count = perIp.get(key) ?? 0;
    if (shared.guard.locked(key, performance.now())) {
      return await refuse(socket, address, "locked-out");
    }
    // Counted from here: a connection still in its implicit TLS handshake holds a slot too.
    if (open >= maxSessions) return await refuse(socket, address, "max-sessions");
    if (count >= maxPerIp) return await refuse(socket, address, "max-sessions-per-ip");
    perIp.set(key, count + 1);
    open++;
    let driver: ServerSessionDriver | undefined;
    try {
      let control = socket;
      if (secure === "implicit") {
        try {
          control = await within(
            socket.acceptTls(context!),
            handshakeTimeoutMs,
            "TLS handshake timed out",
            () => socket.close(),
          );
        } catch {
          socket.close();
          shared.log({ type: "refused", remoteAddress: address, reason: "tls" });
          return;
        }
      }
      if (closing) {
        control.close();
        return;
      }
      driver = new ServerSessionDriver(shared, control);
      sessions.add(driver);
      await driver.run();
    } finally {
      open--;
      if (driver) sessions.delete(driver);
      const left = (perIp.get(key) ?? 1) - 1;
      if (left > 0) perIp.set(key, left);
      else perIp.delete(key);
    }
  }

  const accepting = (async () => {
    for (;;) {
      const socket = await listener.accept();
      if (!socket) return;
      if (closing) {
        socket.close();
        continue;
      }
      const task = handle(socket).catch((error) => options.onError?.(error as Error));
      running.add(task);
      task.finally(() => running.delete(task));
    }
  })();

  async function close(): Promise<void> {
    if (closing) return;
    closing = true;
    listener.close();
    await accepting;
    for (const session of sessions) session.kill();
    await Promise.all([...running]);
  }

  return {
    address: { host, port: listener.port },
    get sessions(): number {
      return sessions.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
