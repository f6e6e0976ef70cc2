/**
 * The FTPS client transport Deno uses: `node:net` and `node:tls`, each client session with a TLS
 * session store of its own: the isolate's, or a Worker's. Internal: `ftps/adapters/deno.ts` uses
 * it.
 *
 * Deno's `node:tls` resumes TLS sessions from one store per isolate, keyed by server name, and
 * takes no session from the caller (`setSession` does nothing; measured with Deno 2.9.5). What
 * goes wrong when sessions share it, measured against vsftpd and ProFTPD (which refuse a data
 * connection that does not resume its own control connection's session: ProFTPD with 425, vsftpd
 * with 522, and the session ends):
 *
 * - two open sessions to one server offer each other's tickets on their data connections;
 * - tickets an earlier session left are offered before the TLS 1.2 session of the current one (a
 *   session capped at TLS 1.2 after one on TLS 1.3, or one to another server under the same
 *   name, resumes nothing);
 * - a TLS 1.2 session an earlier session left is offered again even once the current one has its
 *   own: a second TLS 1.2 session to ProFTPD resumed nothing.
 *
 * Serialising the sessions' handshakes cannot help: the store holds whatever the last session
 * left. So a session uses the isolate's store only when no open session shares its server name
 * and the last one under the name, if any, was to the same server, with the same TLS settings,
 * and negotiated TLS 1.3; otherwise it runs its connections in a Worker of its own, whose store
 * holds its tickets only and ends with it. The Worker's cost, measured with Deno 2.9.5 against
 * ProFTPD over loopback: its start adds 100-400 ms to connecting and logging in (1-3 s under
 * `deno test`, which type-checks a Worker's modules), and its `node:tls` starts cold (75-80 MB/s
 * over a first 100 MB, where the same code in a warmed-up isolate moves 300-350 MB/s); a message
 * each way per read or write costs little next to that. Deno's native TLS is faster still, but
 * never resumes; whether a server requires resumption shows only when it refuses a data
 * connection (vsftpd then ends the session), so it is not chosen by itself.
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
import { nodeFtpTransport } from "./_node_tcp.ts";

/** What the session's connections look like from here. */
export interface SocketInfo {
  id: number;
  localAddress: string;
  remoteAddress: string;
  tls?: { protocol: string; resumed: boolean };
  reset: boolean;
}

/** What the worker is asked to do. */
export type SessionRequest =
  | { method: "connect"; host: string; port: number; tls?: FtpTlsClientOptions }
  | {
    method: "startTls";
    socket: number;
    tls: FtpTlsClientOptions & { readsToEnd?: boolean };
    resume: boolean;
  }
  | { method: "read" | "end" | "close" | "reset"; socket: number }
  | { method: "write"; socket: number; bytes: Uint8Array }
  | { method: "listen"; host: string }
  | { method: "ping" }
  | { method: "accept" | "unlisten"; listener: number };

/** A message to the worker: a request and its number. */
export type SessionCall = SessionRequest & { call: number };

/** The worker's answer to one call. */
export interface SessionReply {
  call: number;
  value?: unknown;
  error?: { name: string; message: string; code?: string };
}

interface DenoWorker {
  onmessage: ((event: { data: SessionReply }) => void) | null;
  onerror: ((event: { message?: string; preventDefault(): void }) => void) | null;
  postMessage(message: SessionCall, transfer?: ArrayBuffer[]): void;
  terminate(): void;
}

const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./_deno_session_worker.ts" : "./_deno_session_worker.js",
  import.meta.url,
);

/**
 * Sessions that run in this isolate, by server name: how many are open, and the server and TLS
 * settings of the last. The isolate's own store serves a session when no other open session
 * shares its server name and the last one to use the name was to the same server with the same
 * settings: tickets left by another (another server under the name, or TLS 1.3 tickets before a
 * session capped at TLS 1.2) would be offered first, and not resume.
 */
const inIsolate = new Map<string, { open: number; settings: string }>();

/** The server a session is for, as `sessionStore` is told. */
type SessionServer = { host: string; port: number; tls?: FtpTlsClientOptions; again?: boolean };

/** One client session: in this isolate, or in a worker started on the first connection and
 * ended after the last. */
class IsolatedSession implements FtpTlsSessionStore {
  /** The server name whose slot in `inIsolate` this session holds, when it runs here. */
  readonly #name: string | undefined;
  /** The store of a session that runs here. */
  readonly local: FtpTlsSessionStore | undefined;
  #released = false;
  /** A connection here negotiated TLS 1.2: the isolate's store keeps that session. */
  #tls12 = false;
  #worker: DenoWorker | undefined;
  #calls = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void }>();
  #nextCall = 1;
  /** Connections and listeners open. */
  #open = 0;
  /** The last connection or listener has ended: the worker stops once its calls are answered. */
  #idle = false;
  #ready = false;
  /** Deno's node:tls resumes no session of a connection with a client certificate. */
  readonly unresumable: string | undefined;

  constructor(server?: SessionServer) {
    if (server?.tls?.cert !== undefined) {
      this.unresumable = "Deno's node:tls resumes no TLS session of a connection with a client " +
        "certificate: run on Node or Bun for such a server";
    }
    if (!server) return;
    const name = server.tls?.servername ?? server.host;
    const tls = server.tls ?? {};
    // The server (a name can serve several: tickets of another would be offered too), and how.
    const settings = JSON.stringify([
      server.host,
      server.port,
      tls.minVersion ?? "",
      tls.maxVersion ?? "",
      tls.rejectUnauthorized !== false,
      tls.ca !== undefined,
      tls.cert ?? "",
    ]);
    const entry = inIsolate.get(name);
    // Otherwise a worker: the isolate's store keeps what the last session here left (a session
    // made again after a break would be offered the broken one's tickets: vsftpd answers 522).
    if (entry && (entry.open > 0 || entry.settings !== settings || server.again)) return;
    inIsolate.set(name, { open: 1, settings });
    this.#name = name;
    this.local = nodeFtpTransport.sessionStore();
  }

  get ready(): boolean {
    return this.local ? this.local.ready : this.#ready;
  }

  set ready(value: boolean) {
    this.#ready = value;
  }

  /** A connection of this session negotiated `protocol` (in this isolate). */
  negotiated(protocol: string): void {
    if (protocol !== "TLSv1.3") this.#tls12 = true;
  }

  /** The name's slot in `inIsolate` is given back once the session's last connection ends. */
  #release(): void {
    if (this.#released || this.#name === undefined) return;
    this.#released = true;
    const entry = inIsolate.get(this.#name);
    if (!entry) return;
    entry.open--;
    // The isolate's store keeps a TLS 1.2 session for the name, and offers it again to the
    // next session's connections even once that session has its own (measured with Deno
    // 2.9.5: a second TLS 1.2 session to ProFTPD resumed nothing). Later sessions under the
    // name run in workers.
    if (this.#tls12) entry.settings = "";
  }

  call(request: SessionRequest, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const worker = this.#worker ??= this.#start();
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      worker.postMessage({ ...request, call: id }, transfer);
    });
  }

  /** Starts the worker, if the session runs in one, and waits until it answers. */
  async prepare(): Promise<void> {
    if (!this.local) await this.call({ method: "ping" });
  }

  opened(): void {
    this.#open++;
    this.#idle = false;
  }

  /** A connection or listener ended: the worker goes with the last. */
  closed(): void {
    this.#open--;
    this.failed();
  }

  /** A connection or listener could not be made: with none open, the worker goes. */
  failed(): void {
    if (this.#open > 0) return;
    this.#idle = true;
    this.#stopIfIdle();
  }

  #stopIfIdle(): void {
    if (!this.#idle || this.#open > 0) return;
    this.#release();
    if (this.#calls.size === 0 && this.#worker) this.#stop(undefined);
  }

  #start(): DenoWorker {
    const Worker = (globalThis as unknown as {
      Worker: new (url: URL, options: { type: "module" }) => DenoWorker;
    }).Worker;
    const worker = new Worker(WORKER_URL, { type: "module" });
    worker.onmessage = (event) => {
      const reply = event.data;
      const pending = this.#calls.get(reply.call);
      if (!pending) return;
      this.#calls.delete(reply.call);
      if (reply.error) {
        const error = new Error(reply.error.message) as Error & { code?: string };
        error.name = reply.error.name;
        if (reply.error.code !== undefined) error.code = reply.error.code;
        pending.reject(error);
      } else {
        pending.resolve(reply.value);
      }
      this.#stopIfIdle();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#stop(new Error(`The FTPS session's worker failed: ${event.message}`));
    };
    return worker;
  }

  #stop(error: Error | undefined): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#open = 0;
    this.#idle = false;
    for (const pending of this.#calls.values()) {
      pending.reject(error ?? new Error("The connection was closed"));
    }
    this.#calls.clear();
  }
}

class IsolatedSocket implements FtpSocket {
  readonly #session: IsolatedSession;
  readonly #info: SocketInfo;
  #gone = false;
  #closeNotified: boolean | undefined;
  readonly tls?: { readonly protocol: string; readonly resumed: boolean };
  readonly reset?: () => void;

  constructor(session: IsolatedSession, info: SocketInfo) {
    this.#session = session;
    this.#info = info;
    session.opened();
    if (info.tls) this.tls = info.tls;
    if (info.reset) this.reset = () => this.#let("reset");
  }

  get localAddress(): string {
    return this.#info.localAddress;
  }

  get remoteAddress(): string {
    return this.#info.remoteAddress;
  }

  get closeNotified(): boolean | undefined {
    return this.#closeNotified;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#gone) return null;
    const { bytes, closeNotified } = await this.#session.call({
      method: "read",
      socket: this.#info.id,
    }) as { bytes: Uint8Array | null; closeNotified?: boolean };
    if (bytes === null) this.#closeNotified = closeNotified;
    return bytes;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#gone) throw new Error("The connection was closed");
    // The caller keeps its bytes: a copy goes over.
    const copy = bytes.slice();
    await this.#session.call({ method: "write", socket: this.#info.id, bytes: copy }, [
      copy.buffer,
    ]);
  }

  async end(): Promise<void> {
    if (this.#gone) return;
    await this.#session.call({ method: "end", socket: this.#info.id });
  }

  close(): void {
    this.#let("close");
  }

  #let(method: "close" | "reset"): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#session.call({ method, socket: this.#info.id }).catch(() => {});
    this.#session.closed();
  }

  async startTls(
    options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore; readsToEnd?: boolean },
  ): Promise<FtpSocket> {
    if (this.#gone) throw new Error("The connection was closed");
    const { sessions: _, ...tls } = options;
    this.#gone = true; // the worker hands this connection to TLS
    try {
      const info = await this.#session.call({
        method: "startTls",
        socket: this.#info.id,
        tls,
        resume: options.sessions !== undefined,
      }) as SocketInfo;
      this.#session.ready = true;
      return new IsolatedSocket(this.#session, info);
    } finally {
      this.#session.closed();
    }
  }
}

/** A connection of a session that runs in this isolate: `node:tls` with the session's store. */
class LocalSocket implements FtpSocket {
  readonly #session: IsolatedSession;
  readonly #socket: FtpSocket;
  #gone = false;
  readonly reset?: () => void;

  constructor(session: IsolatedSession, socket: FtpSocket) {
    this.#session = session;
    this.#socket = socket;
    session.opened();
    if (socket.tls) session.negotiated(socket.tls.protocol);
    if (socket.reset) {
      this.reset = () => {
        socket.reset?.();
        this.#let();
      };
    }
  }

  get localAddress(): string {
    return this.#socket.localAddress;
  }

  get remoteAddress(): string {
    return this.#socket.remoteAddress;
  }

  get tls(): FtpSocket["tls"] {
    return this.#socket.tls;
  }

  get closeNotified(): boolean | undefined {
    return this.#socket.closeNotified;
  }

  read(): Promise<Uint8Array | null> {
    return this.#socket.read();
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#socket.write(bytes);
  }

  end(): Promise<void> {
    return this.#socket.end();
  }

  close(): void {
    this.#socket.close();
    this.#let();
  }

  #let(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#session.closed();
  }

  async startTls(
    options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore; readsToEnd?: boolean },
  ): Promise<FtpSocket> {
    const { sessions, ...tls } = options;
    this.#gone = true; // TLS takes this connection over
    try {
      return new LocalSocket(
        this.#session,
        await this.#socket.startTls({
          ...tls,
          ...(sessions !== undefined ? { sessions: this.#session.local } : {}),
        }),
      );
    } finally {
      this.#session.closed();
    }
  }
}

/** A listener of a session that runs in this isolate. */
function localListener(session: IsolatedSession, listener: FtpListener): FtpListener {
  session.opened();
  let open = true;
  return {
    get port() {
      return listener.port;
    },
    async accept() {
      return new LocalSocket(session, await listener.accept());
    },
    close() {
      if (!open) return;
      open = false;
      listener.close();
      session.closed();
    },
  };
}

/** The FTPS client transport on Deno: `node:tls`, each session with a store of its own (the
 * isolate's, or a Worker's). A connection outside any session resumes nothing. */
export const isolatedFtpTransport: FtpTransport = {
  async connect({ host, port, tls, sessions }) {
    const { sessions: tlsSessions, ...options } = tls ?? {};
    const session = tlsSessions ?? sessions;
    if (!(session instanceof IsolatedSession)) {
      return await nodeFtpTransport.connect({ host, port, ...(tls ? { tls: options } : {}) });
    }
    if (session.local) {
      try {
        return new LocalSocket(
          session,
          await nodeFtpTransport.connect({
            host,
            port,
            ...(tls ? { tls: { ...options, sessions: session.local } } : {}),
          }),
        );
      } catch (error) {
        session.failed();
        throw error;
      }
    }
    let info: SocketInfo;
    try {
      info = await session.call({
        method: "connect",
        host,
        port,
        ...(tls ? { tls: options } : {}),
      }) as SocketInfo;
    } catch (error) {
      session.failed();
      throw error;
    }
    if (tls) session.ready = true;
    return new IsolatedSocket(session, info);
  },
  async listen(host, session) {
    if (!(session instanceof IsolatedSession)) return await nodeFtpTransport.listen(host);
    if (session.local) {
      try {
        return localListener(session, await nodeFtpTransport.listen(host));
      } catch (error) {
        session.failed();
        throw error;
      }
    }
    let listening: { id: number; port: number };
    try {
      listening = await session.call({ method: "listen", host }) as { id: number; port: number };
    } catch (error) {
      session.failed();
      throw error;
    }
    const { id, port } = listening;
    session.opened();
    let open = true;
    const listener: FtpListener = {
      port,
      async accept() {
        return new IsolatedSocket(
          session,
          await session.call({ method: "accept", listener: id }) as SocketInfo,
        );
      },
      close() {
        if (!open) return;
        open = false;
        session.call({ method: "unlisten", listener: id }).catch(() => {});
        session.closed();
      },
    };
    return listener;
  },
  sessionStore(server) {
    return new IsolatedSession(server);
  },
  resumesSessions: true,
  singleUseTickets: true,
};
