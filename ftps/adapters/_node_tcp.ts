/**
 * The FTPS transport over `node:net` and `node:tls`, which Node, Bun and Deno all provide.
 * Internal: the runtime entry points use it.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { createServer, isIP, type Server, Socket } from "node:net";
import { Duplex } from "node:stream";
import {
  connect as tlsConnect,
  createSecureContext,
  type DetailedPeerCertificate,
  type SecureContext,
  Server as TlsServer,
  TLSSocket,
} from "node:tls";
import type {
  FtpPeerCertificate,
  FtpServerListener,
  FtpServerSocket,
  FtpServerTransport,
  FtpSocket,
  FtpTlsClientOptions,
  FtpTlsServerContext,
  FtpTlsServerOptions,
  FtpTlsSessionStore,
  FtpTransport,
} from "../transport.ts";
import { verifyServerChain } from "./_verify_chain.ts";

/** The store behind {@linkcode FtpTlsSessionStore}: the newest session, as node:tls gives it. */
class NodeSessionStore implements FtpTlsSessionStore {
  session: Buffer | undefined;
  get ready(): boolean {
    return this.session !== undefined;
  }
}

/** Chunks buffered before the socket is paused. */
const HIGH_WATER = 16;

const IS_DENO = "Deno" in globalThis;

/**
 * Whether to pause a socket that is read slower than it receives. Not on Deno: its node:tls loses
 * the end of the stream (the peer's close_notify) when a TLS socket is paused and resumed near it,
 * and a download from a server that waits for the client's close_notify (Pure-FTPd) then never
 * ends (measured with Deno 2.9.5: 4 runs of 6 stalled with pausing, none of 10 without). A Deno
 * server pauses its plain sockets, and the TCP socket under each TLS stream, instead (an upload
 * must not pile up in memory).
 */
const PAUSES = !IS_DENO;

/** What an upload's TLS may hold back before the client's end (see `acceptRecordFedTls`). */
const MAX_HELD_BYTES = 65536;

/** The longest a server's end waits for the client's. */
const LINGER_MS = 30_000;

/** The most bytes one `read()` joins from what is buffered. */
const COALESCE = 1 << 20;

const IS_NODE = !IS_DENO && !("Bun" in globalThis);

/** TLS 1.2 sessions a server keeps for resumption by session ID. */
const SESSION_CACHE_SIZE = 4096;

/** How long a cached TLS 1.2 session can be resumed, as OpenSSL's default session timeout. */
const SESSION_LIFETIME_MS = 300_000;

/**
 * A bounded cache of TLS 1.2 sessions by session ID, for clients that resume by ID rather than by
 * ticket (curl turns TLS 1.2 tickets off). A server-side `TLSSocket` made outside a `tls.Server`
 * has no session cache of its own; Node takes one from the `server` option's `newSession` and
 * `resumeSession` handlers. Bun and Deno ignore those handlers (measured: Bun 1.4, Deno 2.9), so
 * this is made on Node only. TLS 1.2 tickets and TLS 1.3 resume on all three without it.
 */
function sessionCacheServer(): TlsServer {
  const sessions = new Map<string, { data: Buffer; expires: number }>();
  // Never listens: it only carries the session handlers (and must not keep the process alive).
  const server = new TlsServer();
  server.on("newSession", (id: Buffer, data: Buffer, done: () => void) => {
    const now = Date.now();
    // Entries go in in expiry order (one lifetime for all), so the oldest are first: drop the
    // expired ones, and the oldest while the cache is full.
    for (const [key, entry] of sessions) {
      if (entry.expires > now && sessions.size < SESSION_CACHE_SIZE) break;
      sessions.delete(key);
    }
    sessions.set(id.toString("hex"), { data, expires: now + SESSION_LIFETIME_MS });
    done();
  });
  server.on(
    "resumeSession",
    (id: Buffer, done: (error: Error | null, data: Buffer | null) => void) => {
      const key = id.toString("hex");
      const entry = sessions.get(key);
      if (entry && entry.expires <= Date.now()) sessions.delete(key);
      done(null, entry && entry.expires > Date.now() ? entry.data : null);
    },
  );
  return server;
}

/** The context behind {@linkcode FtpTlsServerContext}: one node:tls secure context. */
class NodeTlsServerContext implements FtpTlsServerContext {
  readonly options: FtpTlsServerOptions;
  readonly secureContext: SecureContext;
  /** Node only: the holder of the session-ID cache, given to each server-side `TLSSocket`. */
  readonly sessionServer: TlsServer | undefined;
  constructor(options: FtpTlsServerOptions) {
    this.options = options;
    const list = (value: string | readonly string[]) =>
      typeof value === "string" ? value : value.join("\n");
    this.secureContext = createSecureContext({
      cert: list(options.cert),
      key: options.key,
      ...(options.ca !== undefined ? { ca: list(options.ca) } : {}),
      minVersion: options.minVersion ?? "TLSv1.2",
      maxVersion: options.maxVersion ?? "TLSv1.3",
      // OpenSSL refuses to resume a session when client certificates are requested and the
      // context has no session ID context (Node answered curl's TLS 1.3 data connection with an
      // internal_error alert); one per context, as a tls.Server makes.
      sessionIdContext: "ftkit-ftps",
    });
    this.sessionServer = IS_NODE ? sessionCacheServer() : undefined;
  }
}

class NodeFtpSocket implements FtpServerSocket {
  readonly #socket: Socket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #detached = false;
  #flowing = false;
  /** After a server's end: what comes is dropped. */
  #discard = false;
  /** A server's end is sent: it closes once the client's end came (`linger`). */
  #lingering = false;
  /** What to pause when reads fall behind (the socket, or the TCP socket under it), if anything. */
  readonly #pauseTarget: Socket | undefined;
  /** Where the addresses come from. */
  readonly #addressOf: Socket;
  /** The TCP socket a client TLS stream runs over, reset by `reset` (client side only). */
  readonly #tcp: Socket | undefined;
  readonly tls?: { readonly protocol: string; readonly resumed: boolean };
  readonly peerCertificate?: FtpPeerCertificate;

  /** Set on a clearable TLS stream: shuts TLS down and gives the plain stream back. */
  #clear: (() => Promise<FtpServerSocket>) | undefined;
  /** Set on a server's record-fed TLS stream: whether it ended with the peer's close_notify. */
  readonly #closeNotified: (() => boolean | undefined) | undefined;

  constructor(
    socket: Socket,
    tls?: { protocol: string; resumed: boolean },
    peerCertificate?: FtpPeerCertificate,
    extra?: {
      preloaded?: Uint8Array[];
      clear?: () => Promise<FtpServerSocket>;
      server?: boolean;
      /** The TCP socket under a TLS stream that runs over something else. */
      addressOf?: Socket;
      /** The socket to pause when reads fall behind, instead of this one. */
      pauseSocket?: Socket;
      /** Whether the TLS stream ended with the peer's close_notify (once it ended). */
      closeNotified?: () => boolean | undefined;
      /** A client TLS stream: the TCP socket under it. */
      tcp?: Socket;
    },
  ) {
    this.#socket = socket;
    if (tls) this.tls = tls;
    if (peerCertificate) this.peerCertificate = peerCertificate;
    if (extra?.preloaded) this.#chunks.push(...extra.preloaded);
    this.#clear = extra?.clear;
    this.#closeNotified = extra?.closeNotified;
    this.#addressOf = extra?.addressOf ?? socket;
    this.#tcp = extra?.tcp;
    // Deno: pausing a TLS socket loses the end of the stream (above); a plain server socket, or
    // the TCP socket under a server's record-fed TLS stream, pauses safely.
    this.#pauseTarget = extra?.pauseSocket ??
      (PAUSES || (extra?.server && !tls) ? socket : undefined);
    // A plain socket is read only once asked for: a data connection accepted before its transfer
    // starts keeps the client's TLS hello in the socket for the handshake. A TLS socket is read
    // at once: Deno's node:tls drops the end of the stream (close_notify, FIN) when bytes were
    // buffered before the first 'data' listener came (measured with Deno 2.9.5).
    if (tls) {
      this.#flowing = true;
      socket.on("data", this.#onData);
    }
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  get localAddress(): string {
    return this.#addressOf.localAddress ?? "";
  }

  get remoteAddress(): string {
    return this.#addressOf.remoteAddress ?? "";
  }

  get closeNotified(): boolean | undefined {
    return this.#ended ? this.#closeNotified?.() : undefined;
  }

  #onData = (chunk: Uint8Array) => {
    if (this.#discard) return;
    this.#chunks.push(chunk);
    if (this.#chunks.length >= HIGH_WATER) this.#pauseTarget?.pause();
    this.#notify();
  };
  #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };
  #onError = (error: Error) => {
    this.#error ??= error;
    this.#notify();
  };
  #onClose = () => {
    // Closed without an end: reset by the peer, or dropped here. Never the end of the data.
    if (!this.#ended) this.#error ??= new Error("The connection was closed before its end");
    this.#notify();
  };

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(): Promise<Uint8Array | null> {
    if (!this.#flowing && !this.#detached) {
      this.#flowing = true;
      this.#socket.on("data", this.#onData);
      // A socket paused under a TLS stream before (CCC gave it back) flows again.
      this.#socket.resume();
    }
    for (;;) {
      if (this.#chunks.length > 0) {
        // Everything buffered, in one piece (up to 1 MiB): fewer, larger writes downstream.
        let chunk = this.#chunks.shift()!;
        if (this.#chunks.length > 0 && chunk.length < COALESCE) {
          let total = chunk.length;
          let count = 0;
          while (count < this.#chunks.length && total + this.#chunks[count].length <= COALESCE) {
            total += this.#chunks[count++].length;
          }
          if (count > 0) {
            const joined = new Uint8Array(total);
            joined.set(chunk);
            let offset = chunk.length;
            for (const next of this.#chunks.splice(0, count)) {
              joined.set(next, offset);
              offset += next.length;
            }
            chunk = joined;
          }
        }
        if (this.#chunks.length < HIGH_WATER / 2) this.#pauseTarget?.resume();
        return chunk;
      }
      if (this.#error) throw this.#error;
      // Handed over (to TLS, or back from it): this stream has nothing more to give.
      if (this.#ended || this.#detached) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      const socket = this.#socket;
      const settle = (error?: Error) => {
        socket.off("drain", drained);
        socket.off("error", settle);
        socket.off("close", closed);
        if (error) reject(error);
        else resolve();
      };
      const drained = () => settle();
      // A socket dropped while a write waits (a stalled peer) ends the wait too.
      const closed = () => settle(this.#error ?? new Error("The connection was closed"));
      if (socket.write(bytes)) {
        resolve();
        return;
      }
      socket.once("drain", drained);
      socket.once("error", settle);
      socket.once("close", closed);
    });
  }

  end(): Promise<void> {
    const sent = new Promise<void>((resolve) => {
      if (this.#socket.writableFinished || this.#socket.destroyed) return resolve();
      this.#socket.end(() => resolve());
      this.#socket.once("close", () => resolve());
    });
    return sent;
  }

  /**
   * A server's close, once its end is sent: the socket reads on (and drops what comes) until the
   * client's end, or LINGER_MS, and only then closes, without keeping the process alive. A close
   * with unread bytes, or a client's close_notify that comes after it, makes the system answer
   * with a reset, and a reset can make the client's system drop the end of a download it has not
   * read yet (RFC 9112 section 9.6's lingering close). The caller does not wait for it: a client
   * may keep its side open until it has the transfer's reply.
   */
  linger(): void {
    if (this.#lingering || this.#socket.destroyed) return;
    this.#lingering = true;
    this.#chunks.length = 0;
    this.#discard = true;
    if (!this.#flowing && !this.#detached) {
      this.#flowing = true;
      this.#socket.on("data", this.#onData);
    }
    this.#pauseTarget?.resume();
    const socket = this.#socket;
    if (this.#ended || this.#error) {
      socket.destroy();
      return;
    }
    this.#addressOf.unref();
    const finish = () => {
      clearTimeout(timer);
      socket.off("end", finish);
      socket.off("error", finish);
      socket.destroy();
    };
    const timer = setTimeout(finish, LINGER_MS);
    (timer as { unref?: () => void }).unref?.();
    socket.once("end", finish);
    socket.once("error", finish);
  }

  close(): void {
    this.#socket.destroy();
  }

  reset(): void {
    // Under TLS, the TCP socket below: destroying the TLS socket alone ends with a FIN.
    const tcp = this.#tcp ?? this.#socket;
    // A socket already gone reports that as an error: nothing may go unhandled.
    tcp.on("error", () => {});
    if (!tcp.destroyed) {
      try {
        tcp.resetAndDestroy();
      } catch {
        tcp.destroy();
      }
    }
    this.#socket.destroy();
  }

  startTls(options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore }): Promise<FtpSocket> {
    // Plain bytes that came before the handshake are dropped (RFC 4217 section 4).
    this.#chunks.length = 0;
    this.#detach();
    return secure(this.#socket, options);
  }

  get clearTls(): (() => Promise<FtpServerSocket>) | undefined {
    const clear = this.#clear;
    if (!clear) return undefined;
    return () => {
      this.#clear = undefined;
      this.#detach();
      return clear();
    };
  }

  acceptTls(
    context: FtpTlsServerContext,
    options: { clearable?: boolean; receiveOnly?: boolean } = {},
  ): Promise<FtpServerSocket> {
    if (!(context instanceof NodeTlsServerContext)) {
      return Promise.reject(new TypeError("A TLS context from another transport"));
    }
    if (this.#chunks.length > 0) {
      return Promise.reject(new Error("Bytes arrived before the TLS handshake"));
    }
    if (this.#ended || this.#error) {
      return Promise.reject(this.#error ?? new Error("The connection was closed"));
    }
    this.#detach();
    // What the server only sends (a download's data connection) runs TLS over the TCP socket
    // directly where that keeps its end (Node, Bun): the record-fed stream costs Bun 40-90% more
    // CPU per download (measured), and a download has no end of the client's to check.
    if (!options.clearable && !options.receiveOnly && !IS_DENO) {
      return serverHandshake(this.#socket, this.#socket, context);
    }
    return acceptRecordFedTls(this.#socket, context, options);
  }

  /** Hands the TCP socket over (to TLS): this wrapper lets go of it. */
  #detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    // A read waiting on this stream ends (with nothing).
    this.#notify();
    this.#socket.off("data", this.#onData);
    this.#socket.off("end", this.#onEnd);
    this.#socket.off("error", this.#onError);
    this.#socket.off("close", this.#onClose);
  }
}

function tlsOptions(
  host: string,
  options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore },
) {
  const name = options.servername ?? host;
  const store = options.sessions instanceof NodeSessionStore ? options.sessions : undefined;
  const selfVerify = verifiesItself(options);
  return {
    // SNI carries names only (RFC 6066 section 3); an IP is checked against the certificate.
    ...(isIP(name) ? {} : { servername: name }),
    host: name,
    ...(options.ca !== undefined && !selfVerify
      ? { ca: typeof options.ca === "string" ? options.ca : [...options.ca] }
      : {}),
    rejectUnauthorized: selfVerify ? false : options.rejectUnauthorized ?? true,
    minVersion: options.minVersion ?? "TLSv1.2",
    maxVersion: options.maxVersion ?? "TLSv1.3",
    ...(store?.session ? { session: store.session } : {}),
  };
}

/**
 * Whether the chain is checked here rather than by the runtime's TLS. Deno's node:tls resumes a
 * session (from its own store, by server name) only with its cached verifier, which it uses only
 * when no `ca` is passed: with CAs given, a connection that should resume verifies nothing in TLS
 * and its chain is checked once the handshake is done (verifyServerChain), before a byte moves. A
 * connection that must not resume (a retry without resumption) passes `ca`: Deno verifies, and
 * offers no session.
 */
function verifiesItself(options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore }): boolean {
  return IS_DENO && options.ca !== undefined && options.rejectUnauthorized !== false &&
    options.sessions !== undefined;
}

/** Runs the TLS handshake over `socket` (or a new connection) and wraps the result. */
function secure(
  socket: Socket | undefined,
  options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore; host?: string; port?: number },
): Promise<FtpSocket> {
  const host = options.host ?? socket?.remoteAddress ?? "localhost";
  const store = options.sessions instanceof NodeSessionStore ? options.sessions : undefined;
  return new Promise((resolve, reject) => {
    const tls: TLSSocket = tlsConnect({
      ...tlsOptions(host, options),
      ...(socket ? { socket } : { port: options.port }),
      ...(socket ? {} : { host }),
    });
    // Every new session (TLS 1.3 tickets come after the handshake) replaces the stored one.
    if (store) tls.on("session", (session: Buffer) => (store.session = session));
    const fail = (error: Error) => {
      tls.destroy();
      reject(error);
    };
    tls.once("error", fail);
    tls.once("secureConnect", () => {
      tls.off("error", fail);
      if (verifiesItself(options)) {
        try {
          verifyServerChain(
            peerChain(tls),
            typeof options.ca === "string" ? [options.ca] : [...options.ca!],
            options.servername ?? host,
            Date.now(),
          );
        } catch (error) {
          fail(error as Error);
          return;
        }
      }
      resolve(
        new NodeFtpSocket(
          tls,
          { protocol: tls.getProtocol() ?? "", resumed: tls.isSessionReused() },
          undefined,
          socket ? { tcp: socket } : undefined,
        ),
      );
    });
  });
}

/** The certificates a TLS client was sent, the leaf first, DER. */
function peerChain(tls: TLSSocket): Uint8Array[] {
  const chain: Uint8Array[] = [];
  const seen = new Set<unknown>();
  for (
    let certificate: DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
    certificate?.raw && !seen.has(certificate) && chain.length < 16;
    certificate = certificate.issuerCertificate
  ) {
    seen.add(certificate);
    chain.push(new Uint8Array(certificate.raw));
  }
  return chain;
}

function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.once("error", reject);
    socket.connect(port, host, () => {
      socket.off("error", reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Event-loop turns the end of a TCP stream waits, once TLS has taken every record, for the
 * close_notify in them to end TLS (all three runtimes end it within one; measured). */
const CLOSE_NOTIFY_TURNS = 3;

/** And then a last wait, in ms, before the stream is taken to have ended without close_notify. */
const CLOSE_NOTIFY_GRACE_MS = 200;

/**
 * Server-side TLS over a stream fed whole TLS records from the TCP socket, rather than over the
 * socket itself. It gives the server what node:tls hides on every runtime:
 *
 * - whether the peer ended with close_notify. node:tls reports a bare TCP FIN exactly as it
 *   reports close_notify, but fed this way a close_notify ends TLS by itself, while the TCP end is
 *   held back until TLS has taken every record: an upload cut short by a forged or bare FIN (RFC
 *   8446 section 6.1's truncation attack) shows as such (RFC 4217 sections 12.6 and 12.7: data
 *   connections end with a TLS shutdown, then close).
 * - every record before the end: on Deno, TLS directly over the TCP socket lost the end of uploads
 *   (a 1 MB upload from curl ended after 114688 bytes in most runs, measured with Deno 2.9.5), and
 *   a TCP end handed to TLS with records still unread lost them too.
 * - the plain TCP stream back after TLS shuts down, when `clearable` (CCC, REIN): node:tls takes a
 *   `net.Socket`'s handle over for good; here, once TLS is being shut down, the first bytes that
 *   are not a TLS record are the client's plain commands, and stay with the TCP stream.
 */
function acceptRecordFedTls(
  raw: Socket,
  context: NodeTlsServerContext,
  options: { clearable?: boolean; receiveOnly?: boolean },
): Promise<FtpServerSocket> {
  let pending: Uint8Array = new Uint8Array(0);
  let clearing = false;
  let plain: Uint8Array | undefined;
  let onPlain: (() => void) | undefined;
  /** TLS ended (close_notify, or the end handed to it). */
  let tlsEnded = false;
  /** The TCP end was handed to TLS before TLS ended by itself: no close_notify came. */
  let endHandedOver = false;
  /** The TCP stream broke (a reset, an error): whatever TLS says then, no close_notify came (Bun
   * ends a TLS socket whose stream is destroyed, as if one had). */
  let broken = false;
  /** On a receive-only stream once the handshake is done: what TLS writes before it ends. */
  let held: Uint8Array[] | undefined;
  let heldBytes = 0;
  const inner = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      if (raw.destroyed) return callback(new Error("The connection was closed"));
      // Application data records only (TLS 1.3 wraps its session tickets in them): a TLS 1.2
      // server's last handshake flight may follow the 'secure' event.
      if (held && !tlsEnded && chunk[0] === 23) {
        held.push(chunk);
        heldBytes += chunk.length;
        // A session ticket or two; a client that keeps TLS answering (key updates) is dropped.
        if (heldBytes > MAX_HELD_BYTES) return callback(new Error("Too much TLS output held"));
        return callback();
      }
      if (held) {
        for (const before of held.splice(0)) raw.write(before);
        held = undefined;
      }
      // Taken while the TCP socket's buffer has room; past that, once it drains (or closes).
      if (raw.write(chunk)) return callback();
      const done = () => {
        raw.off("drain", done);
        raw.off("close", done);
        callback();
      };
      raw.on("drain", done);
      raw.on("close", done);
    },
    final(callback) {
      // TLS ended (close_notify sent): FIN, unless TLS is being cleared off the connection.
      if (!clearing && !raw.destroyed) raw.end();
      callback();
    },
    destroy(error, callback) {
      if (!clearing) raw.destroy();
      callback(error);
    },
  });
  const feed = () => {
    // Whole records go to TLS (RFC 8446 section 5.1: type, version 3.x, 16-bit length).
    while (pending.length >= 5) {
      const type = pending[0];
      if (clearing && (type < 20 || type > 24 || pending[1] !== 3)) {
        plain = pending;
        pending = new Uint8Array(0);
        onPlain?.();
        return;
      }
      const length = 5 + ((pending[3] << 8) | pending[4]);
      if (pending.length < length) return;
      inner.push(pending.subarray(0, length));
      pending = pending.subarray(length);
    }
    if (clearing && pending.length > 0 && (pending[0] < 20 || pending[0] > 24)) {
      plain = pending;
      pending = new Uint8Array(0);
      onPlain?.();
    }
  };
  const onData = (chunk: Uint8Array) => {
    if (plain) {
      plain = concat(plain, chunk);
      return;
    }
    pending = pending.length === 0 ? chunk : concat(pending, chunk);
    feed();
  };
  const handOverEnd = () => {
    if (!tlsEnded) endHandedOver = true;
    inner.push(null);
  };
  let rawEnded = false;
  const onEnd = async () => {
    rawEnded = true;
    // Give TLS the records it has not taken yet, and the turns to read them: a close_notify
    // among them ends it. Bounded: a peer that sent none gets its end after a short wait.
    for (let turn = 0, spins = 0; turn < CLOSE_NOTIFY_TURNS && !tlsEnded && spins < 1000; spins++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turn = inner.readableLength > 0 ? 0 : turn + 1;
    }
    if (!tlsEnded) await new Promise((resolve) => setTimeout(resolve, CLOSE_NOTIFY_GRACE_MS));
    handOverEnd();
  };
  // After close_notify, a reset or an error changes nothing of what came.
  const onError = (error: Error) => {
    if (!tlsEnded) broken = true;
    inner.destroy(error);
  };
  // A reset (a close without an end) is no end of the data.
  const onClose = () => {
    if (!clearing && !rawEnded) {
      if (!tlsEnded) broken = true;
      inner.destroy(new Error("The connection was closed before its end"));
    }
  };
  raw.on("data", onData);
  raw.on("end", onEnd);
  raw.on("error", onError);
  raw.on("close", onClose);

  const clear = async (tls: TLSSocket): Promise<FtpServerSocket> => {
    clearing = true;
    feed();
    await new Promise<void>((resolve, reject) => {
      if (plain) return resolve();
      const done = () => {
        tls.off("end", done);
        raw.off("close", gone);
        onPlain = undefined;
        resolve();
      };
      const gone = () => reject(new Error("The connection was closed"));
      onPlain = done;
      tls.once("end", done);
      raw.once("close", gone);
      // Our close_notify; the client answers with its own, or starts talking in plain.
      tls.end();
    });
    raw.off("data", onData);
    raw.off("end", onEnd);
    raw.off("error", onError);
    raw.off("close", onClose);
    tls.destroy();
    const leftover = plain && plain.length > 0 ? [plain] : [];
    return new NodeFtpSocket(raw, undefined, undefined, { preloaded: leftover, server: true });
  };

  return serverHandshake(inner, raw, context, {
    onEnd: () => (tlsEnded = true),
    closeNotified: () => tlsEnded ? !endHandedOver && !broken : undefined,
    // Receive-only (an upload's data connection): nothing the server's TLS writes after the
    // handshake goes out before the client's end. Over this stream Node's and Deno's TLS send
    // their TLS 1.3 session tickets late, mid-upload (measured: after 66 KB and 312 KB), and curl
    // closes an upload's connection as soon as it has sent everything: a record it has not read
    // turns its close into a reset, which drops what it had not yet sent (3 of 20 curl uploads
    // of 1 MB cut short on Deno; every upload after the first on a full handshake on Node).
    ...(options.receiveOnly ? { onSecure: () => (held = []) } : {}),
    ...(options.clearable ? { clearer: (tls: TLSSocket) => () => clear(tls) } : {}),
  });
}

/**
 * Runs the server side of a TLS handshake over `stream` (fed from the TCP socket) and wraps the
 * result; `raw` is the TCP socket, for its addresses and to drop on failure.
 */
function serverHandshake(
  stream: Socket | Duplex,
  raw: Socket,
  context: NodeTlsServerContext,
  hooks: {
    /** Called when TLS ends (before the socket's own end listener). */
    onEnd?: () => void;
    /** Called when the handshake is done. */
    onSecure?: () => void;
    closeNotified?: () => boolean | undefined;
    clearer?: (tls: TLSSocket) => () => Promise<FtpServerSocket>;
  } = {},
): Promise<FtpServerSocket> {
  return new Promise((resolve, reject) => {
    const tls = new TLSSocket(stream, {
      isServer: true,
      secureContext: context.secureContext,
      ...(context.sessionServer ? { server: context.sessionServer } : {}),
      requestCert: context.options.requestClientCertificate ?? false,
      // A missing or unverified client certificate is the driver's to judge.
      rejectUnauthorized: false,
    });
    if (hooks.onEnd) tls.on("end", hooks.onEnd);
    const fail = (error?: Error) => {
      tls.off("secure", secured);
      tls.destroy();
      raw.destroy();
      reject(error ?? new Error("The connection was closed during the TLS handshake"));
    };
    const closed = () => fail();
    const secured = () => {
      hooks.onSecure?.();
      tls.off("error", fail);
      tls.off("close", closed);
      resolve(
        new NodeFtpSocket(
          tls as unknown as Socket,
          { protocol: tls.getProtocol() ?? "", resumed: tls.isSessionReused() },
          peerCertificate(tls),
          {
            ...(hooks.clearer ? { clear: hooks.clearer(tls) } : {}),
            server: true,
            addressOf: raw,
            // Over the record-fed stream, pausing the TLS socket stops nothing (the feed ignores
            // it; Deno must not pause it anyway): the TCP socket feeding it is paused instead.
            ...(stream !== raw ? { pauseSocket: raw } : {}),
            ...(hooks.closeNotified ? { closeNotified: hooks.closeNotified } : {}),
          },
        ),
      );
    };
    tls.once("error", fail);
    tls.once("close", closed);
    tls.once("secure", secured);
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The client certificate a server-side TLS socket received, if any. */
function peerCertificate(tls: TLSSocket): FtpPeerCertificate | undefined {
  const certificate = tls.getPeerCertificate();
  if (!certificate || !certificate.fingerprint256) return undefined;
  const commonName = certificate.subject?.CN;
  return {
    authorized: tls.authorized,
    ...(typeof commonName === "string" ? { commonName } : {}),
    fingerprint256: certificate.fingerprint256,
  };
}

/**
 * The connections a `node:net` server accepts, handed out in order; `null` once closed. The
 * server's listeners and the client's active-mode data listener.
 */
class NodeTcpListener implements FtpServerListener {
  readonly #server: Server;
  readonly #waiting: ((socket: Socket | null) => void)[] = [];
  readonly #arrived: Socket[] = [];
  readonly #serverSide: boolean;
  #closed = false;
  constructor(server: Server, serverSide: boolean) {
    this.#server = server;
    this.#serverSide = serverSide;
    server.on("connection", (socket: Socket) => {
      if (this.#closed) return void socket.destroy();
      // Errors before the socket is taken (a reset while queued) must not go unhandled.
      socket.on("error", () => {});
      const waiter = this.#waiting.shift();
      if (waiter) waiter(socket);
      else this.#arrived.push(socket);
    });
  }
  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : 0;
  }
  async accept(): Promise<NodeFtpSocket | null> {
    const socket = this.#arrived.shift() ??
      (this.#closed
        ? null
        : await new Promise<Socket | null>((resolve) => this.#waiting.push(resolve)));
    if (!socket) return null;
    socket.setNoDelay(true);
    return new NodeFtpSocket(socket, undefined, undefined, { server: this.#serverSide });
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const socket of this.#arrived.splice(0)) socket.destroy();
    for (const waiter of this.#waiting.splice(0)) waiter(null);
  }
}

/** The FTPS server transport on `node:net` and `node:tls` (server-side `TLSSocket`). */
export const nodeFtpServerTransport: FtpServerTransport = {
  tlsContext(options) {
    return new NodeTlsServerContext(options);
  },
  listen({ host, port }) {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen({ port, host, backlog: 511, exclusive: true }, () => {
        server.off("error", reject);
        resolve(new NodeTcpListener(server, true));
      });
    });
  },
  async connect({ host, port, localAddress }) {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const socket = new Socket();
      socket.once("error", reject);
      socket.connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () => {
        socket.off("error", reject);
        socket.setNoDelay(true);
        resolve(socket);
      });
    });
    return new NodeFtpSocket(socket, undefined, undefined, { server: true });
  },
};

/** The FTPS transport on `node:net` and `node:tls`. */
export const nodeFtpTransport: FtpTransport = {
  async connect({ host, port, tls }) {
    if (tls) return await secure(undefined, { ...tls, host, port });
    return new NodeFtpSocket(await connectTcp(host, port));
  },
  listen(host) {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, host, () => {
        server.off("error", reject);
        const listener = new NodeTcpListener(server, false);
        resolve({
          get port() {
            return listener.port;
          },
          async accept() {
            const socket = await listener.accept();
            if (!socket) throw new Error("The data connection listener was closed");
            return socket;
          },
          close: () => listener.close(),
        });
      });
    });
  },
  sessionStore() {
    return new NodeSessionStore();
  },
  // Deno's node:tls resumes through its own store (by server name) when no `ca` is passed: see
  // tlsOptions.
  resumesSessions: true,
  singleUseTickets: IS_DENO,
};
