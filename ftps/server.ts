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
import { ServerSessionDriver, type ServerShared } from "./_server_control.ts";
import type { FtpsHashOptions, FtpsServer, ServeFtpsOptions } from "./server_options.ts";
import { FtpServerSession } from "./server_session.ts";
import { HASH_ALGORITHMS } from "./_server_session_state.ts";

export * from "./server_options.ts";

/** Whether a value is a context already made (rather than options to make one). */
function isContext(value: FtpTlsServerOptions | FtpTlsServerContext): value is FtpTlsServerContext {
  return "options" in value && typeof (value as FtpTlsServerContext).options === "object";
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
  const secure = options.secure ?? "explicit";
  if (secure !== "none" && !options.tls) {
    throw new TypeError(`FTPS (${secure}) needs tls: a certificate and key`);
  }
  const context = secure === "none" || !options.tls
    ? undefined
    : isContext(options.tls)
    ? options.tls
    : transport.tlsContext(options.tls);
  const onError = (error: Error): void => options.onError?.(error);
  const guard = new LoginGuard(options, onError);
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
  const hash: FtpsHashOptions | undefined = options.hash === true
    ? {}
    : options.hash === false
    ? undefined
    : options.hash;
  const hashAlgorithms = hash ? hash.algorithms ?? HASH_ALGORITHMS : [];
  if (hash && hashAlgorithms.length === 0) throw new TypeError("hash.algorithms is empty");
  const maxHashes = positive(hash?.maxConcurrent, "hash.maxConcurrent", 2);

  const shared: ServerShared = {
    transport,
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
      passiveHost: options.passiveHost,
      allowForeignDataHosts: options.allowForeignDataHosts,
      requireTlsResumption: options.requireTlsResumption,
      certificateLogin: context?.options.requestClientCertificate ?? false,
      mfmt: guard.setModifiedOffered,
      siteChmod: options.siteChmod ?? false,
      hashAlgorithms,
      hashMaxBytes: hash?.maxBytes,
    },
    context,
    guard,
    passivePorts: options.passivePorts,
    dataTimeoutMs,
    handshakeTimeoutMs,
    requireCloseNotify: options.requireCloseNotify ?? true,
    loginFailureDelayMs: options.loginFailureDelayMs ?? 1000,
    hashing: { max: maxHashes, running: 0 },
    log: (entry) => {
      try {
        options.onLog?.(entry);
      } catch (error) {
        onError(error as Error);
      }
    },
    onError,
  };
  // Options every session would refuse (a bad hash limit, say) are refused now, not per client.
  new FtpServerSession(shared.session);

  // Loopback unless told otherwise: serving the network is a choice made out loud.
  const host = options.host ?? "127.0.0.1";
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

  /** Implicit FTPS: TLS from the first byte, its handshake bounded in time. */
  const implicitTls = (socket: FtpServerSocket): Promise<FtpServerSocket> =>
    within(
      socket.acceptTls(context!),
      handshakeTimeoutMs,
      "TLS handshake timed out",
      () => socket.close(),
    );

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
        stream = await implicitTls(socket);
      }
      const reply = encodeFtpReply(
        421,
        reason === "locked-out"
          ? "Too many failed logins from your address; try again later."
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
    const key = clientKey(address);
    const count = perIp.get(key) ?? 0;
    if (guard.locked(key, performance.now())) {
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
          control = await implicitTls(socket);
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
      const task = handle(socket).catch((error) => onError(error as Error));
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
