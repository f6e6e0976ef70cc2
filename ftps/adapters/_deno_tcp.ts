/**
 * The FTPS transport over Deno's own `Deno.connect`, `Deno.startTls` and `Deno.listen`. Internal: `ftps/adapters/deno.ts` uses it.
 *
 * Deno's native TLS (rustls) ends a stream at the server's close_notify, which its `node:tls` does
 * not (a server that shuts TLS down both ways, as Pure-FTPd does, then waits on a download's end
 * forever). It cannot resume a session, cap the version, or skip verification: `connectFtps` on
 * Deno uses `node:tls` instead (`_deno_isolated.ts`).
 *
 * @module
 */

import type {
  FtpListener,
  FtpSocket,
  FtpTlsClientOptions,
  FtpTlsSessionStore,
  FtpTransport,
} from "../transport.ts";

// The slice of Deno's API used here, typed by hand so no Deno types reach npm users.
interface DenoAddr {
  hostname: string;
  port: number;
}
interface DenoConn {
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
  handshake?(): Promise<unknown>;
}
interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}
interface DenoTlsOptions {
  hostname?: string;
  caCerts?: string[];
}
interface DenoNamespace {
  connect(options: { hostname: string; port: number; transport?: "tcp" }): Promise<DenoConn>;
  startTls(conn: DenoConn, options?: DenoTlsOptions): Promise<DenoConn>;
  listen(options: { hostname: string; port: number; transport?: "tcp" }): DenoListener;
}

function deno(): DenoNamespace {
  return (globalThis as unknown as { Deno: DenoNamespace }).Deno;
}

/** The read buffer's size. */
const READ_SIZE = 65536;

/** Why native TLS cannot take these options, or `undefined` when it can. */
export function nativeTlsCannot(options: FtpTlsClientOptions): string | undefined {
  if (options.rejectUnauthorized === false) return "skip certificate verification";
  if (options.maxVersion === "TLSv1.2") return "stop at TLS 1.2";
  if (options.minVersion === "TLSv1.3") return "insist on TLS 1.3";
  // Deno.startTls (AUTH TLS, data connections) takes no client certificate (Deno 2.9).
  if (options.cert !== undefined) return "send a client certificate";
  return undefined;
}

function denoTls(host: string, options: FtpTlsClientOptions): DenoTlsOptions {
  const cannot = nativeTlsCannot(options);
  if (cannot) {
    throw new Error(
      `Deno's native TLS cannot ${cannot}: use the node:tls transport for that ` +
        "(connectFtps from ftkit's Deno entry point picks it by itself)",
    );
  }
  const ca = options.ca === undefined
    ? undefined
    : typeof options.ca === "string"
    ? [options.ca]
    : [...options.ca];
  return { hostname: options.servername ?? host, ...(ca ? { caCerts: ca } : {}) };
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Deno sessions are never resumed: the store stays empty. */
const EMPTY_STORE: FtpTlsSessionStore = { ready: false };

class DenoFtpSocket implements FtpSocket {
  readonly #conn: DenoConn;
  readonly #host: string;
  readonly tls?: { readonly protocol: string; readonly resumed: boolean };
  #closed = false;
  readonly #buffer = new Uint8Array(READ_SIZE);
  #closeNotified: boolean | undefined;

  constructor(conn: DenoConn, host: string, tls: boolean) {
    this.#conn = conn;
    this.#host = host;
    // Deno does not tell the negotiated version.
    if (tls) this.tls = { protocol: "TLS", resumed: false };
  }

  get localAddress(): string {
    return this.#conn.localAddr.hostname;
  }

  get remoteAddress(): string {
    return this.#conn.remoteAddr.hostname;
  }

  /** Under TLS, once read to its end: rustls ends a stream at the peer's close_notify and fails
   * a read at a TCP end without one (`UnexpectedEof`). */
  get closeNotified(): boolean | undefined {
    return this.#closeNotified;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    // One buffer for the socket's life; each read is copied out at its own size (rustls hands
    // out a record at a time, so a fresh 64 KiB buffer per read would mostly go to waste).
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buffer);
    } catch (error) {
      // A peer that closes without close_notify (vsftpd after a refusal, some servers after a
      // download) ends the stream, as node:tls has it.
      // FTP learns from the reply whether the transfer completed; `closeNotified` says how it
      // ended, for a download to be checked (RFC 4217 sections 12.6 and 12.7).
      if ((error as Error).name === "UnexpectedEof") {
        if (this.tls) this.#closeNotified = false;
        return null;
      }
      throw error;
    }
    if (n === null && this.tls) this.#closeNotified ??= true;
    return n === null ? null : this.#buffer.slice(0, n);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error("The connection was closed");
    for (let at = 0; at < bytes.length;) {
      at += await this.#conn.write(at === 0 ? bytes : bytes.subarray(at));
    }
  }

  async end(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#conn.closeWrite();
    } catch {
      // Already closed by the peer: nothing left to end.
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
  }

  async startTls(options: FtpTlsClientOptions): Promise<FtpSocket> {
    const tlsOptions = denoTls(this.#host, options);
    this.#closed = true; // this wrapper lets go of the TCP connection
    let conn: DenoConn;
    try {
      conn = await deno().startTls(this.#conn, tlsOptions);
    } catch (error) {
      closeQuietly(this.#conn);
      throw error;
    }
    try {
      await conn.handshake?.();
    } catch (error) {
      closeQuietly(conn);
      throw error;
    }
    return new DenoFtpSocket(conn, this.#host, true);
  }
}

class DenoFtpListener implements FtpListener {
  readonly #listener: DenoListener;
  constructor(listener: DenoListener) {
    this.#listener = listener;
  }
  get port(): number {
    return this.#listener.addr.port;
  }
  async accept(): Promise<FtpSocket> {
    const conn = await this.#listener.accept();
    conn.setNoDelay?.(true);
    return new DenoFtpSocket(conn, conn.remoteAddr.hostname, false);
  }
  close(): void {
    closeQuietly(this.#listener);
  }
}

/** The FTPS transport on Deno's native TCP and TLS. */
export const denoFtpTransport: FtpTransport = {
  async connect({ host, port, tls }) {
    // Options native TLS cannot honour are refused before connecting.
    if (tls) denoTls(host, tls);
    const conn = await deno().connect({ hostname: host, port, transport: "tcp" });
    conn.setNoDelay?.(true);
    const socket = new DenoFtpSocket(conn, host, false);
    // TCP first, then TLS, for implicit FTPS too: connectTls would take the name to check for
    // the address to connect to.
    return tls ? await socket.startTls(tls) : socket;
  },
  listen(host) {
    return Promise.resolve(
      new DenoFtpListener(deno().listen({ hostname: host, port: 0, transport: "tcp" })),
    );
  },
  sessionStore() {
    return EMPTY_STORE;
  },
  resumesSessions: false,
};
