/**
 * The runtime-agnostic FTPS server: its options, and the accept loop that keeps the server's
 * limits (sessions, sessions per address, locked-out addresses, the implicit TLS handshake's
 * time) and gives each control connection its session: one `FtpServerSession` machine, bound to
 * a TCP/TLS transport, a storage per user and real time.
 *
 * @module
 */

import { canonicalFtpHost, encodeFtpReply } from "../codec/mod.ts";
import { checkPortRange } from "../io/port_range.ts";
import { within } from "../io/timeout.ts";
import type {
  FtpServerSocket,
  FtpServerTransport,
  FtpTlsServerContext,
  FtpTlsServerOptions,
} from "./transport.ts";
import { clientKey, LoginGuard } from "./_server_login.ts";
import { ServerLimits } from "./_server_limits.ts";
import { ServerQuotas } from "./_server_quota.ts";
import { AddressRules } from "../io/address_rules.ts";
import { ServerSessionDriver, type ServerShared } from "./_server_control.ts";
import { PassiveHosts, resolvePassiveHost } from "./_server_passive.ts";
import { proxyPolicy, readProxyHeader, type SessionPeer } from "./_server_proxy.ts";
import type {
  FtpsHashOptions,
  FtpsLogWriter,
  FtpsServer,
  FtpsServerCloseOptions,
  ServeFtpsOptions,
} from "./server_options.ts";
import { FtpServerSession } from "./server_session.ts";
import { HASH_ALGORITHMS } from "./_server_session_state.ts";

export * from "./server_options.ts";

/** Whether a value is a context already made (rather than options to make one). */
function isContext(value: FtpTlsServerOptions | FtpTlsServerContext): value is FtpTlsServerContext {
  return "options" in value && typeof (value as FtpTlsServerContext).options === "object";
}

/** Runs `call`, a hook of the application's: what it throws, or the promise it returns rejects
 * with, goes to `onError`. */
function guarded(call: () => unknown, onError: (error: Error) => void): void {
  const report = (error: unknown) =>
    onError(error instanceof Error ? error : new Error(String(error)));
  try {
    const result = call();
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
      Promise.resolve(result).catch(report);
    }
  } catch (error) {
    report(error);
  }
}

/** Connections refused with a 421 at once; more are dropped unanswered. */
const MAX_REFUSALS = 64;

/**
 * Starts an FTPS server over the given transport. `serveFtps` (from `@ftkit/ftkit`, npm `ftkit`)
 * binds this to the running runtime's transport, and the per-runtime entry points to theirs.
 *
 * @param transport The TCP/TLS transport.
 * @param options What to serve, to whom, and how.
 * @returns The running server.
 */
export async function serveFtpsWith(
  transport: FtpServerTransport,
  options: ServeFtpsOptions,
): Promise<FtpsServer> {
  const onError = (error: Error): void => options.onError?.(error);
  const writers = options.logWriters ?? [];
  /** Closes the log writers, reporting what fails. */
  const closeWriters = async (): Promise<void> => {
    await Promise.all(
      writers.map((writer) =>
        Promise.resolve().then(() => writer.close()).catch((error) => onError(error))
      ),
    );
  };
  try {
    return await serve(transport, options, { onError, writers, closeWriters });
  } catch (error) {
    await closeWriters();
    throw error;
  }
}

/** What the server reports through: `onError`, and the log writers it owns. */
interface ServerReports {
  readonly onError: (error: Error) => void;
  readonly writers: readonly FtpsLogWriter[];
  readonly closeWriters: () => Promise<void>;
}

/** The server, once its log writers are in hand (the caller closes them if this throws). */
async function serve(
  transport: FtpServerTransport,
  options: ServeFtpsOptions,
  { onError, writers, closeWriters }: ServerReports,
): Promise<FtpsServer> {
  const secure = options.secure ?? "explicit";
  if (secure !== "none" && !options.tls) {
    throw new TypeError(`FTPS (${secure}) needs tls: a certificate and key`);
  }
  const makeContext = (tls: FtpTlsServerOptions | FtpTlsServerContext) =>
    isContext(tls) ? tls : transport.tlsContext(tls);
  /** The TLS context of the handshakes to come (`setTls` replaces it). */
  let context = secure === "none" || !options.tls ? undefined : makeContext(options.tls);
  const guard = new LoginGuard(options, onError);
  const limits = new ServerLimits(options);
  const quotas = new ServerQuotas(options, onError);
  const access = new AddressRules(options.allow, options.deny, "");
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
  const proxy = proxyPolicy(options.proxyProtocol);
  const hash: FtpsHashOptions | undefined = options.hash === true
    ? {}
    : options.hash === false
    ? undefined
    : options.hash;
  const hashAlgorithms = hash ? hash.algorithms ?? HASH_ALGORITHMS : [];
  if (hash && hashAlgorithms.length === 0) throw new TypeError("hash.algorithms is empty");
  const maxHashes = positive(hash?.maxConcurrent, "hash.maxConcurrent", 2);

  /** Data connections whose end is sent, until the client's end came (`linger`). */
  const lingering = new Set<Promise<void>>();
  const shared: ServerShared = {
    transport,
    get context() {
      return context;
    },
    session: {
      tls: secure,
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
      allowForeignDataHosts: options.allowForeignDataHosts,
      requireTlsResumption: options.requireTlsResumption,
      certificateLogin: context?.options.requestClientCertificate ?? false,
      mfmt: guard.setModifiedOffered,
      siteChmod: options.siteChmod ?? false,
      hashAlgorithms,
      hashMaxBytes: hash?.maxBytes,
    },
    guard,
    limits,
    quotas,
    passivePorts: options.passivePorts,
    passiveHosts: new PassiveHosts(options.passiveHost),
    resolvePassiveHost,
    proxy,
    dataTimeoutMs,
    handshakeTimeoutMs,
    requireCloseNotify: options.requireCloseNotify ?? true,
    loginFailureDelayMs: options.loginFailureDelayMs ?? 1000,
    hashing: { max: maxHashes, running: 0 },
    log: (entry) => {
      guarded(() => options.onLog?.(entry), onError);
      for (const writer of writers) guarded(() => writer.write(entry), onError);
    },
    event: (event) => guarded(() => options.onEvent?.(event), onError),
    onError,
    linger: (closed) => {
      lingering.add(closed);
      closed.finally(() => lingering.delete(closed));
    },
  };
  // Unique for the server's life: a count; and a random tag, so that logs of several runs (or
  // servers) appended to one file keep their sessions apart.
  const tag = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
  let connections = 0;
  const nextSessionId = (): string => `${tag}-${++connections}`;
  // Options every session would refuse (a bad hash limit, say) are refused now, not per client.
  new FtpServerSession(shared.session);

  if (options.fd !== undefined) {
    if (!Number.isSafeInteger(options.fd) || options.fd < 0) {
      throw new RangeError(`fd must be a file descriptor (0 or more), got ${options.fd}`);
    }
    if (options.host !== undefined || options.port !== undefined) {
      throw new TypeError("Give fd, or host and port: the socket of fd listens already");
    }
  }
  // Loopback unless told otherwise: serving the network is a choice made out loud.
  const listener = await transport.listen({
    host: options.host ?? "127.0.0.1",
    port: options.port ?? (secure === "implicit" ? 990 : 21),
    ...(options.fd !== undefined ? { fd: options.fd } : {}),
  });
  const host = listener.host ?? options.host ?? "127.0.0.1";
  const sessions = new Set<ServerSessionDriver>();
  const perIp = new Map<string, number>();
  /** Connections holding a session slot: sessions, and those still in their implicit handshake. */
  let open = 0;
  /** Connections being told 421. */
  let refusing = 0;
  const running = new Set<Promise<void>>();
  /** Connections from trusted proxies whose PROXY header has not come yet. */
  const awaitingHeader = new Set<FtpServerSocket>();
  let closing = false;

  /** Implicit FTPS: TLS from the first byte (past a PROXY header: `preread` and on), its
   * handshake bounded in time. */
  const implicitTls = (
    socket: FtpServerSocket,
    tls: FtpTlsServerContext = context!,
    preread?: Uint8Array,
  ): Promise<FtpServerSocket> =>
    within(
      socket.acceptTls(tls, preread ? { preread } : {}),
      handshakeTimeoutMs,
      "TLS handshake timed out",
      () => socket.close(),
    );

  async function refuse(
    socket: FtpServerSocket,
    peer: SessionPeer,
    address: string,
    sessionId: string,
    reason: "max-sessions" | "max-sessions-per-ip" | "locked-out" | "denied",
  ): Promise<void> {
    shared.log({ type: "refused", sessionId, remoteAddress: address, reason });
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
        stream = await implicitTls(socket, context, peer.preread);
      }
      const reply = encodeFtpReply(
        421,
        reason === "locked-out"
          ? "Too many failed logins from your address; try again later."
          : reason === "denied"
          ? "Service not available to your address."
          : "Too many connections; try again later.",
      );
      await within(stream.write(reply), 2000, "Refusal timed out");
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
    // The session keeps the address as the socket spells it, as without a proxy it always did.
    if (!proxy?.trusted.contains(address)) {
      return await admit(socket, { remote: socket.remoteAddress }, address);
    }
    // A trusted proxy: its header first, before any reply (a refusal too). Meanwhile the
    // connection holds a session slot, or once those are taken a refusal slot; past both it is
    // dropped unread.
    const slot = open < maxSessions ? "session" : refusing < MAX_REFUSALS ? "refusal" : undefined;
    if (!slot) {
      shared.log({
        type: "refused",
        sessionId: nextSessionId(),
        remoteAddress: address,
        reason: "max-sessions",
      });
      socket.close();
      return;
    }
    if (slot === "session") open++;
    else refusing++;
    let peer: SessionPeer;
    awaitingHeader.add(socket);
    try {
      peer = await readProxyHeader(socket, address, proxy.headerTimeoutMs);
    } catch {
      // Malformed, too long, too slow, or the proxy went away: dropped without a word
      // (proxy-protocol.txt section 2.1: abort the connection).
      if (!closing) {
        shared.log({
          type: "refused",
          sessionId: nextSessionId(),
          remoteAddress: address,
          reason: "proxy-header",
        });
      }
      socket.close();
      return;
    } finally {
      awaitingHeader.delete(socket);
      if (slot === "session") open--;
      else refusing--;
    }
    return await admit(socket, peer, peer.remote);
  }

  /** Keeps the server's limits for the client `peer` names (`address` in the log's refusals), and
   * runs its session. */
  async function admit(socket: FtpServerSocket, peer: SessionPeer, address: string): Promise<void> {
    const key = clientKey(peer.remote);
    const count = perIp.get(key) ?? 0;
    const sessionId = nextSessionId();
    if (!access.permits(peer.remote)) {
      return await refuse(socket, peer, address, sessionId, "denied");
    }
    if (guard.locked(key, performance.now())) {
      return await refuse(socket, peer, address, sessionId, "locked-out");
    }
    // Counted from here: a connection still in its implicit TLS handshake holds a slot too.
    if (open >= maxSessions) {
      return await refuse(socket, peer, address, sessionId, "max-sessions");
    }
    if (count >= maxPerIp) {
      return await refuse(socket, peer, address, sessionId, "max-sessions-per-ip");
    }
    perIp.set(key, count + 1);
    open++;
    let driver: ServerSessionDriver | undefined;
    try {
      let control = socket;
      let preread = peer.preread;
      const tls = context;
      if (secure === "implicit") {
        try {
          control = await implicitTls(socket, tls, preread);
          preread = undefined;
        } catch {
          socket.close();
          shared.log({ type: "refused", sessionId, remoteAddress: address, reason: "tls" });
          return;
        }
      }
      if (closing) {
        control.close();
        return;
      }
      driver = new ServerSessionDriver(shared, control, { ...peer, preread }, sessionId, tls);
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
      const task = handle(socket).catch((error) => onError(error as Error));
      running.add(task);
      task.finally(() => running.delete(task));
    }
  })();

  /** Cuts a graceful close's grace short. */
  let endGrace: () => void = () => {};
  const graceEnded = new Promise<void>((resolve) => (endGrace = resolve));
  let closed: Promise<void> | undefined;

  async function shutDown(graceMs: number): Promise<void> {
    closing = true;
    listener.close();
    await accepting;
    if (graceMs > 0) {
      // Idle sessions end with 421 now, the others once their transfer is done.
      for (const session of sessions) session.shutdown();
      // Every session done, and every download's last bytes with the client: a process that
      // exits under a data connection still sending (Bun keeps what the system could not take
      // yet) would cut the download its 226 called complete.
      const everyone = Promise.all([...running]).then(() => Promise.all([...lingering]));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        everyone,
        graceEnded,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const session of sessions) session.kill();
    for (const socket of awaitingHeader) socket.close();
    await Promise.all([...running]);
    // Every session's last entry is written: the log files can close.
    await closeWriters();
  }

  function close(closeOptions: FtpsServerCloseOptions = {}): Promise<void> {
    const graceMs = closeOptions.graceMs ?? 0;
    if (!(graceMs >= 0 && graceMs <= 2 ** 31 - 1)) {
      throw new RangeError(`graceMs must be from 0 to 2147483647, got ${graceMs}`);
    }
    if (closed) {
      if (graceMs === 0) endGrace();
      return closed;
    }
    return closed = shutDown(graceMs);
  }

  function setTls(tls: FtpTlsServerOptions | FtpTlsServerContext): void {
    if (!context) throw new TypeError('The server is plain FTP (secure: "none"): no TLS to set');
    const next = makeContext(tls);
    if (
      (next.options.requestClientCertificate ?? false) !==
        (context.options.requestClientCertificate ?? false)
    ) {
      throw new TypeError("setTls cannot change requestClientCertificate");
    }
    context = next;
  }

  return {
    address: { host, port: listener.port },
    get sessions(): number {
      return sessions.size;
    },
    close,
    setTls,
    [Symbol.asyncDispose]: () => close(),
  };
}
