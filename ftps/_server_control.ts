/**
 * One control connection of an FTPS server, driven: the read loop feeds the
 * {@linkcode FtpServerSession} machine, its replies go out, and its events are carried out (TLS
 * on and off the control connection, logins, storage requests, transfers), with real time.
 *
 * @module
 */

import {
  type FtpServerEvent,
  FtpServerSession,
  type FtpServerSessionOptions,
  type FtpStorageRequest,
  type FtpStorageResult,
  type FtpUserAccess,
} from "./server_session.ts";
import type { FtpReadStream, FtpStorage, FtpWriteStream } from "./storage.ts";
import { sleep, within } from "../io/timeout.ts";
import type { FtpServerSocket, FtpServerTransport, FtpTlsServerContext } from "./transport.ts";
import { clientKey, type LoginGuard, type UserLogin } from "./_server_login.ts";
import { hashFile, type HashSlots } from "./_server_hash.ts";
import {
  ServerTransfer,
  type ServerTransferContext,
  storageRefusal,
  type TransferDataEvent,
} from "./_server_transfer.ts";
import type { FtpsEvent, FtpsLogEntry } from "./server_options.ts";
import type { ServerLimits } from "./_server_limits.ts";
import type { ServerQuotas } from "./_server_quota.ts";
import type { PassiveHosts } from "./_server_passive.ts";
import type { ProxyPolicy, SessionPeer } from "./_server_proxy.ts";
import { canonicalFtpHost, isProxyProtocolStart } from "../codec/mod.ts";

/** What the server shares with its sessions. */
export interface ServerShared {
  /** Listens for passive data connections and connects active ones. */
  readonly transport: FtpServerTransport;
  /** The options of each session's machine. */
  readonly session: FtpServerSessionOptions;
  /** The server's TLS context for new handshakes, now (`undefined` for plain FTP): replaced when
   * the server's certificate is (`setTls`), while each session keeps the one it secured its
   * control connection with, which its data connections need to resume its TLS session. */
  readonly context: FtpTlsServerContext | undefined;
  /** Checks logins, and locks out addresses. */
  readonly guard: LoginGuard;
  /** Sessions per user, and bandwidth. */
  readonly limits: ServerLimits;
  /** Storage quotas. */
  readonly quotas: ServerQuotas;
  /** The passive port range, if one is set. */
  readonly passivePorts: readonly [number, number] | undefined;
  /** What PASV replies name, per client network. */
  readonly passiveHosts: PassiveHosts;
  /** Resolves a passive host name to an IPv4 address, bounded in time. */
  readonly resolvePassiveHost: (name: string) => Promise<string | undefined>;
  /** The PROXY protocol policy, when it is on. */
  readonly proxy: ProxyPolicy | undefined;
  /** How long a data connection may take to come and be secured, and a transfer may stall; also
   * how long a reply may take to be written. */
  readonly dataTimeoutMs: number;
  /** How long a TLS handshake (or shutdown) on the control connection may take. */
  readonly handshakeTimeoutMs: number;
  /** Keep a protected upload only when it ended with TLS close_notify. */
  readonly requireCloseNotify: boolean;
  /** How much later a failed login is answered. */
  readonly loginFailureDelayMs: number;
  /** The hashes (HASH, XCRC, ...) running across the server, and how many may. */
  readonly hashing: HashSlots;
  /** Writes a line of the server's log. */
  readonly log: (entry: FtpsLogEntry) => void;
  /** Hands an event to the application. */
  readonly event: (event: FtpsEvent) => void;
  /** Reports anything unexpected. */
  readonly onError: (error: Error) => void;
  /** Keeps a data connection's lingering close (it settles once closed) for a graceful close of
   * the server to wait for. */
  readonly linger: (closed: Promise<void>) => void;
}

/** One control connection, driven. */
export class ServerSessionDriver {
  readonly #shared: ServerShared;
  readonly #machine: FtpServerSession;
  #control: FtpServerSocket;
  readonly #remote: string;
  /** What limits and lockouts count this client by. */
  readonly #key: string;
  /** The session's id, on its log entries and events. */
  readonly #sessionId: string;
  #storage: FtpStorage | undefined;
  #user: string | undefined;
  /** Whose session slot this session holds (anonymous users share `anonymous`), while logged in. */
  #slot: string | undefined;
  /** Whether `#user` logged in as the anonymous user. */
  #anonymous = false;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** What the transfers of this session take from it (made for the first one). */
  #transferContext: ServerTransferContext | undefined;
  /** The proxies passive data connections of this session may come through, if any. */
  readonly #dataProxies: ServerTransferContext["dataProxies"];
  /** The next transfer, being prepared: its passive listener, the file opened for it. */
  #pending: ServerTransfer | undefined;
  /** The transfer running. */
  #transfer: ServerTransfer | undefined;
  #transferDone: Promise<void> = Promise.resolve();
  #closed = false;
  /** The control stream being replaced (TLS coming up or going away), until it is. */
  #swap: Promise<void> | undefined;
  #closeReason: Extract<FtpsLogEntry, { type: "closed" }>["reason"] = "disconnected";
  /** Bytes read past a PROXY header: the client's first bytes, fed to the machine at start. */
  #preread: Uint8Array | undefined;
  /** Until the first bytes come: whether a PROXY header among them is refused. */
  #refuseProxyHeader: boolean;
  /** The TLS context of this session: the one its control connection was secured with. */
  #tls: FtpTlsServerContext | undefined;

  /**
   * Makes the session's machine; `run` starts it.
   *
   * @param shared What the server shares with its sessions.
   * @param control The control connection (under TLS already when implicit).
   * @param peer The client, as the connection (and its PROXY header) say, and any bytes read
   * from it already.
   * @param sessionId The session's id, for its log entries and events.
   * @param tls The TLS context of an implicit connection's handshake (default: the server's now).
   */
  constructor(
    shared: ServerShared,
    control: FtpServerSocket,
    peer: SessionPeer,
    sessionId: string,
    tls: FtpTlsServerContext | undefined = shared.context,
  ) {
    this.#shared = shared;
    this.#control = control;
    this.#sessionId = sessionId;
    this.#tls = tls;
    this.#remote = peer.remote;
    this.#preread = peer.preread;
    this.#key = clientKey(this.#remote);
    const proxy = shared.proxy;
    // A PROXY header from a peer that is not a trusted proxy is refused (not under implicit
    // TLS, where it fails the handshake).
    this.#refuseProxyHeader = proxy !== undefined && peer.proxy === undefined &&
      shared.session.tls !== "implicit";
    this.#dataProxies = peer.proxy !== undefined && proxy?.dataThroughProxy
      ? proxy.trusted
      : undefined;
    this.#machine = new FtpServerSession({
      ...shared.session,
      passiveHost: shared.passiveHosts.hostFor(canonicalFtpHost(this.#remote)!),
    });
  }

  /** What the transfers of this session take from it, made when first needed: most sessions
   * hold no transfer most of the time. */
  #transfers(): ServerTransferContext {
    const shared = this.#shared;
    const sessionId = this.#sessionId;
    // deno-lint-ignore no-this-alias
    const session = this;
    return this.#transferContext ??= {
      transport: shared.transport,
      get tls() {
        return session.#tls;
      },
      passivePorts: shared.passivePorts,
      timeoutMs: shared.dataTimeoutMs,
      requireCloseNotify: shared.requireCloseNotify,
      sessionId,
      remoteAddress: this.#remote,
      dataProxies: this.#dataProxies,
      localAddress: () => this.#control.localAddress,
      user: () => this.#user,
      buckets: (direction) => shared.limits.buckets(this.#slot, direction),
      anonymous: () => this.#anonymous,
      log: shared.log,
      event: shared.event,
      onError: shared.onError,
      linger: shared.linger,
    };
  }

  /** Runs the session to its end. */
  async run(): Promise<void> {
    try {
      this.#machine.start(performance.now(), {
        local: this.#control.localAddress,
        remote: this.#remote,
      });
      await this.#enqueue(() => {});
      const preread = this.#preread;
      this.#preread = undefined;
      if (preread && preread.length > 0) {
        await this.#enqueue(() => this.#machine.receive(performance.now(), preread));
      }
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
        if (this.#refuseProxyHeader) {
          this.#refuseProxyHeader = false;
          if (isProxyProtocolStart(bytes)) {
            // A proxy that is not trusted: its clients must not all pass for its address.
            this.#shared.log({
              type: "refused",
              sessionId: this.#sessionId,
              remoteAddress: this.#remote,
              reason: "proxy-untrusted",
            });
            this.#closeReason = "protocol-error";
            break;
          }
        }
        await this.#enqueue(() => this.#machine.receive(performance.now(), bytes));
      }
    } catch (error) {
      this.#shared.onError(error as Error);
    } finally {
      await this.#teardown();
    }
  }

  /**
   * Ends the session as soon as it can (the server is going down): at once with 421 when it is
   * idle, else once its transfer (or the command being answered) is done.
   */
  shutdown(): void {
    this.#enqueue(() => this.#machine.shutdown(performance.now()));
  }

  /** Stops the session now (the server is closing). */
  kill(): void {
    this.#closed = true;
    this.#control.close();
    this.#transfer?.abort();
    this.#pending?.abort();
  }

  /** Runs `input` on the machine, then does what the machine asks; inputs never interleave. */
  #enqueue(input: () => void): Promise<void> {
    const next = this.#chain.then(async () => {
      if (this.#closed) return;
      input();
      await this.#flush();
    });
    this.#chain = next.catch((error) => {
      this.#shared.onError(error as Error);
      this.kill();
    });
    return this.#chain;
  }

  /** Sends the queued replies and carries out the machine's events, until it has none. */
  async #flush(): Promise<void> {
    const machine = this.#machine;
    // A session dropped meanwhile (the server closing during a long storage request, a hash)
    // writes nothing more: a write to a closed socket may never complete.
    while (!this.#closed) {
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

  /** Sets the timer for the machine's next deadline. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = this.#machine.pollTimeout();
    if (deadline === undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#enqueue(() => this.#machine.handleTimeout(performance.now()));
    }, Math.max(0, deadline - performance.now()));
  }

  /** The transfer being prepared, made when first needed. */
  #next(): ServerTransfer {
    return this.#pending ??= new ServerTransfer(this.#transfers());
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
        this.#tls = context;
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
      case "authenticate-certificate":
        return await this.#authenticateCertificate(event.user);
      case "storage": {
        const started = now();
        const result = await this.#store(event.request);
        this.#reportFileOperation(event, result, Math.round((now() - started) * 1000) / 1000);
        machine.storageResult(now(), result);
        return;
      }
      case "listen-data": {
        // PASV to a passive host name: its address first (no listener for a 425).
        const address = event.resolve === undefined
          ? undefined
          : await this.#shared.resolvePassiveHost(event.resolve);
        if (event.resolve !== undefined && address === undefined) {
          machine.dataListenFailed(now(), "unresolved");
          return;
        }
        const port = await this.#next().listen(event.family);
        if (port !== undefined) machine.dataListening(now(), port, address);
        else machine.dataListenFailed(now());
        return;
      }
      case "close-data":
        this.#pending?.closeListener();
        return;
      case "transfer-data": {
        const transfer = this.#next();
        this.#pending = undefined;
        this.#transfer = transfer;
        this.#transferDone = this.#runTransfer(transfer, event);
        return;
      }
      case "abort-data":
        if (this.#transfer?.id === event.id) this.#transfer.abort();
        return;
      case "logged-in":
        return;
      case "logged-out":
        this.#releaseSlot();
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

  /** Takes the login's storage; returns what the user may do there, for the machine. */
  #loggedIn(user: string, login: UserLogin, anonymous: boolean): FtpUserAccess {
    this.#user = user;
    this.#storage = login.storage;
    this.#anonymous = anonymous;
    return {
      write: login.write,
      overwrite: login.overwrite,
      setModified: typeof login.storage.setModified === "function",
      chmod: typeof login.storage.chmod === "function",
      ...(login.directories ? { directories: login.directories } : {}),
    };
  }

  /** A login, in the log and as an event (`refused`: good credentials refused by a limit). */
  #reportLogin(
    user: string,
    ok: boolean,
    method: "password" | "certificate",
    refused?: "max-sessions-per-user",
  ): void {
    const login = {
      sessionId: this.#sessionId,
      remoteAddress: this.#remote,
      user,
      ok,
      method,
    } as const;
    this.#shared.log({ type: "login", ...login, ...(refused ? { refused } : {}) });
    this.#shared.event({ type: "login", ...login });
  }

  /** A file operation's end (DELE, MKD, RMD, RNTO) in the log, and as an event when done. */
  #reportFileOperation(
    event: Extract<FtpServerEvent, { type: "storage" }>,
    result: FtpStorageResult,
    durationMs: number,
  ): void {
    const request = event.request;
    if (
      request.op !== "delete" && request.op !== "mkdir" && request.op !== "rmdir" &&
      request.op !== "rename"
    ) return;
    const session = {
      sessionId: this.#sessionId,
      remoteAddress: this.#remote,
      user: this.#user ?? "",
    };
    const done = request.op === "rename"
      ? { type: request.op, ...session, from: request.from, to: request.to }
      : { type: request.op, ...session, path: request.path };
    this.#shared.log({
      ...done,
      command: event.command,
      durationMs,
      ...(result.ok ? { outcome: "ok" } : { outcome: "failed", code: result.code ?? 550 }),
    });
    if (result.ok) this.#shared.event(done);
  }

  /** Takes a session slot of the user's (`key`); false when they hold all they may. */
  #claimSlot(key: string): boolean {
    this.#releaseSlot();
    if (!this.#shared.limits.claim(key)) return false;
    this.#slot = key;
    return true;
  }

  #releaseSlot(): void {
    if (this.#slot !== undefined) this.#shared.limits.release(this.#slot);
    this.#slot = undefined;
  }

  /** USER and PASS: the machine says whether the user is anonymous; a refusal comes late. */
  async #authenticate(event: Extract<FtpServerEvent, { type: "authenticate" }>): Promise<void> {
    const shared = this.#shared;
    const storage = await shared.guard.password({
      user: event.user,
      password: event.password,
      anonymous: event.anonymous,
      protected: event.protected,
      certificate: this.#control.peerCertificate,
      remoteAddress: this.#remote,
    }, this.#key);
    // Good credentials, but the user holds every session they may: refused, no failed login.
    const full = storage !== undefined &&
      !this.#claimSlot(event.anonymous ? "anonymous" : event.user);
    this.#reportLogin(
      event.user,
      storage !== undefined && !full,
      "password",
      full ? "max-sessions-per-user" : undefined,
    );
    if (full) {
      this.#machine.loginResult(performance.now(), false, {}, "Too many sessions for this user.");
      return;
    }
    if (storage) {
      this.#machine.loginResult(
        performance.now(),
        true,
        this.#loggedIn(event.user, storage, event.anonymous),
      );
      return;
    }
    await sleep(shared.loginFailureDelayMs);
    this.#machine.loginResult(performance.now(), false);
  }

  /** USER with a client certificate that may stand for the password (RFC 4217 section 12.2). */
  async #authenticateCertificate(user: string): Promise<void> {
    const certificate = this.#control.peerCertificate;
    const found = certificate
      ? await this.#shared.guard.certificate(user, certificate, this.#remote, this.#key)
      : undefined;
    // A user who holds every session they may is asked for a password (331), which PASS then
    // refuses the same way.
    const storage = found && this.#claimSlot(user) ? found : undefined;
    const access = storage ? this.#loggedIn(user, storage, false) : undefined;
    if (certificate) this.#reportLogin(user, storage !== undefined, "certificate");
    this.#machine.certificateResult(performance.now(), storage !== undefined, access);
  }

  /** Carries out a storage request; a file opened for a transfer goes to the next transfer. */
  async #store(request: FtpStorageRequest): Promise<FtpStorageResult> {
    const storage = this.#storage;
    if (!storage) return { ok: false, code: 550, message: "Not logged in." };
    try {
      switch (request.op) {
        case "stat":
          return { ok: true, stat: await storage.stat(request.path) };
        case "list":
          return request.paged && storage.listPages
            ? await this.#firstPage(storage, request.path)
            : { ok: true, entries: await storage.list(request.path), now: new Date() };
        case "read": {
          const { read } = await this.#next().open(async () => {
            const opened = await storage.read(request.path, request.offset);
            return { read: request.length === undefined ? opened : capped(opened, request.length) };
          });
          return read.size === undefined ? { ok: true } : { ok: true, size: read.size };
        }
        case "write": {
          const open = async () => ({
            path: request.path,
            stream: await storage.write(request.path, {
              offset: request.offset,
              append: request.append,
            }),
          });
          const { stream } = await this.#withinQuota(storage, request.path, {
            offset: request.offset,
            append: request.append,
            unique: false,
            ...(request.size !== undefined ? { size: request.size } : {}),
          }, open);
          await this.#next().open(() => Promise.resolve({ write: stream }));
          return { ok: true };
        }
        case "write-unique": {
          const { path, stream } = await this.#withinQuota(storage, request.directory, {
            offset: 0,
            append: false,
            unique: true,
            ...(request.size !== undefined ? { size: request.size } : {}),
          }, () => storage.writeUnique(request.directory));
          await this.#next().open(() => Promise.resolve({ write: stream }));
          return { ok: true, path };
        }
        case "mkdir":
          await storage.mkdir(request.path);
          return { ok: true };
        case "rmdir":
          await storage.rmdir(request.path);
          return { ok: true };
        case "delete":
          await this.#shared.quotas.removing(
            storage,
            request.path,
            () => storage.delete(request.path),
          );
          return { ok: true };
        case "rename":
          // A rename onto an existing file (with overwrites allowed) removes that file.
          await this.#shared.quotas.removing(
            storage,
            request.to,
            () => storage.rename(request.from, request.to),
          );
          return { ok: true };
        // The machine asks these only of a storage that has them (the user's access says so).
        case "set-modified":
          await storage.setModified!(request.path, request.modified);
          return { ok: true };
        case "chmod":
          await storage.chmod!(request.path, request.mode);
          return { ok: true };
        case "hash":
          return await hashFile(storage, request, this.#shared.hashing, () => this.#closed);
      }
    } catch (error) {
      return { ok: false, ...storageRefusal(error, this.#shared.onError) };
    }
  }

  /**
   * A listing from a storage that lists a page at a time: only its first page is read now (a
   * refusal is answered in place of the 150), and the rest is kept for the transfer that follows,
   * as a file opened for RETR is.
   */
  async #firstPage(storage: FtpStorage, path: string): Promise<FtpStorageResult> {
    const now = new Date();
    const pages = storage.listPages!(path)[Symbol.asyncIterator]();
    const first = await pages.next();
    if (first.done) return { ok: true, entries: [], now };
    if (this.#closed) {
      // The session ended meanwhile: no transfer will take the pages.
      await (async () => await pages.return?.())().catch(() => {});
      return { ok: false, code: 451, message: "Session closed." };
    }
    await this.#next().open(() => Promise.resolve({ pages }));
    return { ok: true, entries: first.value, now, more: true };
  }

  /** Opens an upload, within the user's quota when they have one. */
  #withinQuota<T extends { path: string; stream: FtpWriteStream }>(
    storage: FtpStorage,
    path: string,
    options: { offset: number; append: boolean; unique: boolean; size?: number },
    open: () => Promise<T>,
  ): Promise<T> {
    const quota = this.#shared.quotas.quotaOf(this.#anonymous ? undefined : this.#user);
    return quota ? this.#shared.quotas.open(storage, quota, path, options, open) : open();
  }

  /** Runs a transfer, then gives the machine its result (none once aborted). */
  async #runTransfer(transfer: ServerTransfer, event: TransferDataEvent): Promise<void> {
    const result = await transfer.run(event);
    if (this.#transfer === transfer) this.#transfer = undefined;
    if (result) this.#enqueue(() => this.#machine.dataResult(performance.now(), event.id, result));
  }

  async #teardown(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#transfer?.abort();
    const pending = this.#pending;
    this.#pending = undefined;
    await Promise.all([this.#transferDone, pending?.close()]);
    // The last replies are out; close_notify, then FIN (bounded: a client that does not read
    // is dropped).
    // The user's slot is free before the client can see the end.
    this.#releaseSlot();
    await within(this.#control.end(), 2000, "Control close timed out").catch(() => {});
    this.#control.close();
    const end = {
      sessionId: this.#sessionId,
      remoteAddress: this.#remote,
      user: this.#user,
      reason: this.#closeReason,
    };
    this.#shared.log({ type: "closed", ...end });
    this.#shared.event({ type: "session-end", ...end });
  }
}

/** A read stream that ends after `length` bytes (RANG's range): its size is what it will give. */
function capped(stream: FtpReadStream, length: number): FtpReadStream {
  let left = length;
  return {
    ...(stream.size !== undefined ? { size: Math.max(0, Math.min(stream.size, length)) } : {}),
    async read(into?: Uint8Array) {
      if (left <= 0) return null;
      const chunk = await stream.read(into);
      if (chunk === null) return null;
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= part.length;
      return part;
    },
    close: () => stream.close(),
  };
}
