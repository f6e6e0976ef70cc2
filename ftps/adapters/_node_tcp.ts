/**
 * The FTPS transport over `node:net` and `node:tls`, which Node, Bun and Deno all provide.
 * Internal: the runtime entry points use it.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { createServer, isIP, type Server, Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type {
  FtpListener,
  FtpSocket,
  FtpTlsClientOptions,
  FtpTlsSessionStore,
  FtpTransport,
} from "../transport.ts";

/** The store behind {@linkcode FtpTlsSessionStore}: the newest session, as node:tls gives it. */
class NodeSessionStore implements FtpTlsSessionStore {
  session: Buffer | undefined;
  get ready(): boolean {
    return this.session !== undefined;
  }
}

/** Chunks buffered before the socket is paused. */
const HIGH_WATER = 16;

/**
 * Whether to pause a socket that is read slower than it receives. Not on Deno: its node:tls loses
 * the end of the stream (the peer's close_notify) when a TLS socket is paused and resumed near it,
 * and a download from a server that waits for the client's close_notify (Pure-FTPd) then never
 * ends (measured with Deno 2.9.5: 4 runs of 6 stalled with pausing, none of 10 without).
 */
const PAUSES = !("Deno" in globalThis);

class NodeFtpSocket implements FtpSocket {
  readonly #socket: Socket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #detached = false;
  readonly tls?: { readonly protocol: string; readonly resumed: boolean };

  constructor(socket: Socket, tls?: { protocol: string; resumed: boolean }) {
    this.#socket = socket;
    if (tls) this.tls = tls;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  get localAddress(): string {
    return this.#socket.localAddress ?? "";
  }

  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? "";
  }

  #onData = (chunk: Uint8Array) => {
    this.#chunks.push(chunk);
    if (PAUSES && this.#chunks.length >= HIGH_WATER) this.#socket.pause();
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
    this.#ended = true;
    this.#notify();
  };

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk) {
        if (PAUSES && this.#chunks.length < HIGH_WATER / 2) this.#socket.resume();
        return chunk;
      }
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
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
    return new Promise((resolve) => {
      if (this.#socket.writableFinished || this.#socket.destroyed) return resolve();
      this.#socket.end(() => resolve());
      this.#socket.once("close", () => resolve());
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  startTls(options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore }): Promise<FtpSocket> {
    if (this.#chunks.length > 0) {
      return Promise.reject(new Error("Bytes arrived before the TLS handshake"));
    }
    this.#detach();
    return secure(this.#socket, options);
  }

  /** Hands the TCP socket over (to TLS): this wrapper lets go of it. */
  #detach(): void {
    if (this.#detached) return;
    this.#detached = true;
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
  return {
    // SNI carries names only (RFC 6066 section 3); an IP is checked against the certificate.
    ...(isIP(name) ? {} : { servername: name }),
    host: name,
    ...(options.ca !== undefined
      ? { ca: typeof options.ca === "string" ? options.ca : [...options.ca] }
      : {}),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    minVersion: options.minVersion ?? "TLSv1.2",
    maxVersion: options.maxVersion ?? "TLSv1.3",
    ...(store?.session ? { session: store.session } : {}),
  };
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
      resolve(
        new NodeFtpSocket(tls, {
          protocol: tls.getProtocol() ?? "",
          resumed: tls.isSessionReused(),
        }),
      );
    });
  });
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

class NodeFtpListener implements FtpListener {
  readonly #server: Server;
  readonly #waiting: ((socket: Socket) => void)[] = [];
  readonly #arrived: Socket[] = [];
  constructor(server: Server) {
    this.#server = server;
    server.on("connection", (socket: Socket) => {
      const waiter = this.#waiting.shift();
      if (waiter) waiter(socket);
      else this.#arrived.push(socket);
    });
  }
  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : 0;
  }
  async accept(): Promise<FtpSocket> {
    const socket = this.#arrived.shift() ??
      await new Promise<Socket>((resolve) => this.#waiting.push(resolve));
    socket.setNoDelay(true);
    return new NodeFtpSocket(socket);
  }
  close(): void {
    this.#server.close();
    for (const socket of this.#arrived.splice(0)) socket.destroy();
  }
}

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
        resolve(new NodeFtpListener(server));
      });
    });
  },
  sessionStore() {
    return new NodeSessionStore();
  },
  // Deno's node:tls takes a session but does not resume it (measured against vsftpd).
  resumesSessions: !("Deno" in globalThis),
};
