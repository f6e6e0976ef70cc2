// A bare FTP control connection for tests that must say exactly what a client sends: lines out,
// replies in (multi-line replies joined), TLS on demand, and raw data connections.

import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import { WAIT_MS, within } from "../_wait.ts";

/** One reply: its code and whole text. */
export interface RawReply {
  code: number;
  text: string;
}

/** A control connection driven by hand. */
export class RawFtp {
  #socket: Socket | TLSSocket;
  #buffer = "";
  #waiting: (() => void) | undefined;
  #ended = false;
  readonly #ca: string | undefined;

  private constructor(socket: Socket, ca: string | undefined) {
    this.#socket = socket;
    this.#ca = ca;
    this.#listen(socket);
  }

  /**
   * Connects to `host` (default 127.0.0.1) at `port` (TLS at once when `implicit`), from
   * `localAddress` if given; `before` is written first, ahead of anything else (a PROXY
   * protocol header, before an implicit TLS handshake too).
   */
  static connect(
    port: number,
    options: {
      ca?: string;
      implicit?: boolean;
      localAddress?: string;
      host?: string;
      before?: Uint8Array;
    } = {},
  ): Promise<RawFtp> {
    const host = options.host ?? "127.0.0.1";
    return within(
      new Promise((resolve, reject) => {
        if (options.implicit) {
          const socket = tlsConnect({
            host,
            port,
            ca: options.ca,
            servername: "localhost",
            ...(options.before ? { socket: withPrefix(host, port, options.before) } : {}),
          });
          socket.once("error", reject);
          socket.once("secureConnect", () => {
            socket.off("error", reject);
            resolve(new RawFtp(socket, options.ca));
          });
          return;
        }
        const socket = tcpConnect({
          host,
          port,
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        });
        socket.once("error", reject);
        socket.once("connect", () => {
          socket.off("error", reject);
          if (options.before) socket.write(options.before);
          resolve(new RawFtp(socket, options.ca));
        });
      }),
      `a control connection to port ${port}`,
    );
  }

  #listen(socket: Socket): void {
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      this.#buffer += text;
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  #wake(): void {
    const wake = this.#waiting;
    this.#waiting = undefined;
    wake?.();
  }

  /** Under TLS: the SHA-256 fingerprint of the certificate the server presented. */
  get peerFingerprint(): string | undefined {
    const socket = this.#socket as Partial<TLSSocket>;
    return socket.getPeerCertificate?.()?.fingerprint256;
  }

  /** Whether the server closed the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  /** What came from the server and no reply has taken yet. */
  get unread(): string {
    return this.#buffer;
  }

  /** Sends one line (CRLF added). */
  send(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  /** Sends bytes as they are. */
  write(bytes: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => this.#socket.write(bytes, () => resolve()));
  }

  /**
   * The next reply; rejects after `timeoutMs` (a cap against hangs, not a timing check: replies
   * normally take milliseconds) or when the connection ends first.
   */
  async reply(timeoutMs: number = WAIT_MS): Promise<RawReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.#take();
      if (reply) return reply;
      if (this.#ended) {
        throw new Error(`Connection ended; unparsed: ${JSON.stringify(this.#buffer)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No reply in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  #take(): RawReply | undefined {
    const lines = this.#buffer.split("\r\n");
    if (lines.length < 2) return undefined;
    const first = lines[0];
    const code = Number(first.slice(0, 3));
    if (first[3] !== "-") {
      this.#buffer = lines.slice(1).join("\r\n");
      return { code, text: first };
    }
    for (let i = 1; i < lines.length - 1; i++) {
      if (lines[i].startsWith(`${first.slice(0, 3)} `)) {
        this.#buffer = lines.slice(i + 1).join("\r\n");
        return { code, text: lines.slice(0, i + 1).join("\n") };
      }
    }
    return undefined;
  }

  /** Sends `line` and returns its reply. */
  async command(line: string, timeoutMs?: number): Promise<RawReply> {
    this.send(line);
    return await this.reply(timeoutMs);
  }

  /** Waits until the server closes the connection (rejects after `timeoutMs`). */
  async closed(timeoutMs: number = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Still open");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** AUTH TLS, then the handshake. */
  async authTls(): Promise<void> {
    const reply = await this.command("AUTH TLS");
    if (reply.code !== 234) throw new Error(`AUTH TLS: ${reply.text}`);
    await this.startTls();
  }

  /** The TLS handshake on the control connection (after a 234 read by hand). */
  async startTls(): Promise<void> {
    const plain = this.#socket as Socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("end");
    plain.removeAllListeners("close");
    const secure = tlsConnect({ socket: plain, ca: this.#ca, servername: "localhost" });
    await within(
      new Promise<void>((resolve, reject) => {
        secure.once("secureConnect", () => resolve());
        secure.once("error", reject);
      }),
      "the TLS handshake after AUTH TLS",
    );
    this.#socket = secure;
    this.#listen(secure);
  }

  /** USER and PASS (after AUTH TLS when the server needs it). */
  async login(user: string, password: string): Promise<RawReply> {
    const first = await this.command(`USER ${user}`);
    if (first.code !== 331) return first;
    return await this.command(`PASS ${password}`);
  }

  /** EPSV; returns the port. */
  async epsv(): Promise<number> {
    const reply = await this.command("EPSV");
    const match = reply.text.match(/\(\|\|\|(\d+)\|\)/);
    if (reply.code !== 229 || !match) throw new Error(`EPSV: ${reply.text}`);
    return Number(match[1]);
  }

  /** Drops the connection. */
  close(): void {
    this.#socket.destroy();
  }
}

/**
 * The plain TCP connection under an implicit TLS client that writes `prefix` in the same write
 * as the client's first bytes (its ClientHello): what a proxy that coalesces its PROXY header
 * with the client's data sends.
 */
function withPrefix(host: string, port: number, prefix: Uint8Array): Duplex {
  const raw = tcpConnect({ host, port });
  let first = true;
  const inner = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      const bytes = first ? Buffer.concat([prefix, chunk]) : chunk;
      first = false;
      raw.write(bytes, () => callback());
    },
    final(callback) {
      raw.end();
      callback();
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on("data", (chunk: Uint8Array) => inner.push(chunk));
  raw.on("end", () => inner.push(null));
  raw.on("close", () => inner.destroy());
  raw.on("error", (error) => inner.destroy(error));
  return inner;
}

/** A plain TCP connection to `host` (default 127.0.0.1) at `port`, from `localAddress` if given. */
export function dataConnection(
  port: number,
  options: { host?: string; localAddress?: string } = {},
): Promise<Socket> {
  return within(
    new Promise((resolve, reject) => {
      const socket = tcpConnect({
        host: options.host ?? "127.0.0.1",
        port,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(socket);
      });
    }),
    `a data connection to port ${port}`,
  );
}

/** Reads a socket to its end (rejects after `timeoutMs`). */
export function readAll(
  socket: Socket | TLSSocket,
  timeoutMs: number = WAIT_MS,
): Promise<Uint8Array> {
  return within(readToEnd(socket), "the end of a data connection", timeoutMs);
}

function readToEnd(socket: Socket | TLSSocket): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    socket.once("end", () => {
      const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      const out = new Uint8Array(total);
      let offset = 0;
      for (const chunk of chunks) {
        out.set(chunk, offset);
        offset += chunk.length;
      }
      resolve(out);
    });
    socket.once("error", reject);
  });
}
