/**
 * The FTPS transport over `node:net` and `node:tls`, which Node, Bun and Deno all provide: the
 * socket wrapper both sides read and write through, the listeners, and the client and server
 * transports. The TLS handshakes live in _node_tcp_client.ts and _node_tcp_server.ts. Internal:
 * the runtime entry points use it.
 *
 * @module
 */

import { createServer, type Server, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type {
  FtpPeerCertificate,
  FtpServerListener,
  FtpServerSocket,
  FtpServerTransport,
  FtpSocket,
  FtpTlsClientOptions,
  FtpTlsServerContext,
  FtpTlsSessionStore,
  FtpTransport,
} from "../transport.ts";
import { NodeSessionStore, secure } from "./_node_tcp_client.ts";
import type { RecordFeed } from "./_node_record_feed.ts";
import {
  acceptServerTls,
  type NodeServerSocketOptions,
  NodeTlsServerContext,
} from "./_node_tcp_server.ts";

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

/** The longest a server's end waits for the client's. */
const LINGER_MS = 30_000;

/** The most bytes one `read()` joins from what is buffered. */
const COALESCE = 1 << 20;

/**
 * A TCP stream, plain or TLS, client's or server's: bounded buffered reads, writes that wait for
 * the socket to drain, the server's lingering close, and the TLS handshakes in both roles.
 */
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
  /** Set on a record-fed TLS stream: whether it ended with the peer's close_notify. */
  readonly #closeNotified: (() => boolean | undefined) | undefined;

  constructor(
    socket: Socket,
    tls?: { protocol: string; resumed: boolean },
    peerCertificate?: FtpPeerCertificate,
    extra?: NodeServerSocketOptions & {
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
    return this.#write(bytes, false);
  }

  writeBorrowed(bytes: Uint8Array): Promise<void> {
    return this.#write(bytes, true);
  }

  /** Writes; resolves once the socket has taken the bytes (below its high-water mark, or once it
   * drained), or with `settle` once it is done with them (the write's callback). */
  #write(bytes: Uint8Array, settle: boolean): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      const socket = this.#socket;
      let done = false;
      const finish = (error?: Error | null) => {
        if (done) return;
        done = true;
        socket.off("drain", drained);
        socket.off("error", finish);
        socket.off("close", closed);
        if (error) reject(error);
        else resolve();
      };
      const drained = () => finish();
      // A socket dropped while a write waits (a stalled peer) ends the wait too.
      const closed = () => finish(this.#error ?? new Error("The connection was closed"));
      socket.once("error", finish);
      socket.once("close", closed);
      if (settle) socket.write(bytes, finish);
      else if (socket.write(bytes)) finish();
      else socket.once("drain", drained);
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
   * read yet (RFC 9112 section 9.6's lingering close). The transfer does not wait for it (a
   * client may keep its side open until it has the transfer's reply); a graceful close of the
   * server does, until its grace ends.
   */
  linger(): Promise<void> {
    if (this.#lingering || this.#socket.destroyed) return Promise.resolve();
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
      return Promise.resolve();
    }
    this.#addressOf.unref();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        socket.off("end", finish);
        socket.off("error", finish);
        socket.off("close", finish);
        socket.destroy();
        resolve();
      };
      const timer = setTimeout(finish, LINGER_MS);
      (timer as { unref?: () => void }).unref?.();
      socket.once("end", finish);
      socket.once("error", finish);
      socket.once("close", finish);
    });
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

  startTls(
    options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore; readsToEnd?: boolean },
  ): Promise<FtpSocket> {
    // Plain bytes that came before the handshake are dropped (RFC 4217 section 4).
    this.#chunks.length = 0;
    this.#detach();
    return secure(this.#socket, options, clientTlsSocket);
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
    options: { clearable?: boolean; receiveOnly?: boolean; preread?: Uint8Array } = {},
  ): Promise<FtpServerSocket> {
    if (!(context instanceof NodeTlsServerContext)) {
      return Promise.reject(new TypeError("A TLS context from another transport"));
    }
    if (this.#chunks.length > 0 && !options.preread) {
      return Promise.reject(new Error("Bytes arrived before the TLS handshake"));
    }
    if (this.#ended || this.#error) {
      return Promise.reject(this.#error ?? new Error("The connection was closed"));
    }
    // Read past a PROXY header: those bytes, then what came after them, begin the handshake.
    const preread = options.preread ? [options.preread, ...this.#chunks.splice(0)] : undefined;
    this.#detach();
    return acceptServerTls(this.#socket, context, { ...options, preread }, NodeFtpSocket);
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

/** A client's TLS stream, its handshake done, as a socket; `tcp` is the connection under it,
 * `fed` the record feed TLS runs over, if any (which tells `closeNotified`). */
function clientTlsSocket(tls: TLSSocket, tcp: Socket | undefined, fed?: RecordFeed): NodeFtpSocket {
  return new NodeFtpSocket(
    tls,
    { protocol: tls.getProtocol() ?? "", resumed: tls.isSessionReused() },
    undefined,
    {
      ...(tcp ? { tcp } : {}),
      // Over the feed, the TCP socket gives the addresses and is what pauses (as a server's).
      ...(fed && tcp ? { closeNotified: fed.closeNotified, addressOf: tcp, pauseSocket: tcp } : {}),
    },
  );
}

/** Opens a TCP connection to `host` at `port` (from `localAddress`, if given), without Nagle. */
function connectTcp(host: string, port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.once("error", reject);
    socket.connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () => {
      socket.off("error", reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
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
  get host(): string | undefined {
    const address = this.#server.address();
    return typeof address === "object" && address ? address.address : undefined;
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
  listen({ host, port, fd }) {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      // An inherited socket listens already: Node, Bun and Deno (node:net) all adopt one by its
      // descriptor (measured: Node 20, Bun 1.4, Deno 2.9); one that is no listening socket fails
      // with EINVAL.
      const where = fd !== undefined ? { fd } : { port, host, backlog: 511, exclusive: true };
      server.listen(where, () => {
        server.off("error", reject);
        resolve(new NodeTcpListener(server, true));
      });
    });
  },
  async connect({ host, port, localAddress }) {
    const socket = await connectTcp(host, port, localAddress);
    return new NodeFtpSocket(socket, undefined, undefined, { server: true });
  },
};

/** The FTPS transport on `node:net` and `node:tls`. */
export const nodeFtpTransport: FtpTransport = {
  async connect({ host, port, tls }) {
    if (tls) return await secure(undefined, { ...tls, host, port }, clientTlsSocket);
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
