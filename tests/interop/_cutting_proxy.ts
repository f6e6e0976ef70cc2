// A TCP proxy the test controls, to break FTPS sessions mid-transfer: it forwards a client's
// control AND data connections to a server on loopback (with backpressure), counts the data
// bytes, and cuts once a set number of data bytes went through, or when told: the whole session
// (every connection reset where the runtime can, else closed), or the data connections alone
// (the server's side reset; the client's side left open and silent, as a NAT that dropped its
// state: the client's idle timeout notices). Or it ends a data connection toward the client with
// a clean FIN after a set number of bytes from the server (`finAfter`), while it reads the rest
// the server sends to its end, so that the server completes and answers 226: a TLS stream cut
// without close_notify (RFC 8446 section 6.1's truncation), which the client must not take for
// the whole download.
//
// Design. Under TLS the proxy cannot read or rewrite a 227/229 reply, and need not: ftkit's
// client always opens a passive data connection to the address its control connection reached
// (RFC 2577 bounce protection), with the port the reply names. So the proxy listens at
// 127.0.0.2 — the control port, and the very port numbers of the server's passive range — and
// forwards each to the same port at 127.0.0.1, where the server listens (its passive range is
// set to the proxy's, `passivePorts`). Control and data connections both arrive at the server
// from 127.0.0.1, the address it expects a session's data connections from.

import { createServer, type Server, Socket } from "node:net";
import { once } from "node:events";

/** The address the proxy listens on; the server is at 127.0.0.1. */
export const PROXY_HOST = "127.0.0.2";

/** A running proxy; see the module's comment. */
export interface CuttingProxy {
  /** The control port at {@linkcode PROXY_HOST}. */
  readonly port: number;
  /** The passive port range the server must use (at 127.0.0.1). */
  readonly passivePorts: readonly [number, number];
  /** Control connections accepted so far. */
  readonly sessions: number;
  /** Cuts made so far. */
  readonly cuts: number;
  /** Data bytes forwarded so far, both ways. */
  readonly dataBytes: number;
  /** The server's control port at 127.0.0.1 (set once the server runs: it needs
   * `passivePorts` first). */
  serverPort: number;
  /**
   * Cuts once, when `bytes` more data bytes have gone through: the data connections only
   * (`"data"`), or the control connections too (`"session"`).
   */
  cutAfter(bytes: number, scope: "data" | "session"): void;
  /**
   * Once: after `bytes` more bytes from the server on a data connection, ends that connection's
   * client side with a FIN (no reset, no close_notify), and reads what else the server sends to
   * its end, dropping it; what the client sends still reaches the server, and the client's close
   * ends the server's side with a FIN. With `holdClient`, what the client sends and its end reach
   * the server only once the server has ended its side (a server that stops a download at the
   * client's end, as ftkit's does, completes first; one that waits for the client's close_notify
   * before its FIN, as vsftpd does, needs them at once).
   */
  finAfter(bytes: number, options?: { holdClient?: boolean }): void;
  /** Cuts every connection now. */
  cutAll(): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** Closes `socket` abruptly: a reset where the runtime has one, else a plain destroy. */
function cut(socket: Socket): void {
  const reset = (socket as Socket & { resetAndDestroy?: () => void }).resetAndDestroy;
  try {
    if (typeof reset === "function") reset.call(socket);
    else socket.destroy();
  } catch {
    socket.destroy();
  }
}

async function listen(server: Server, host: string, port: number): Promise<boolean> {
  const failed = once(server, "error").then(() => false);
  server.listen(port, host);
  return await Promise.race([once(server, "listening").then(() => true), failed]);
}

/** Whether `port` can be bound at 127.0.0.1 now (the server will bind it there). */
async function freeAtServer(port: number): Promise<boolean> {
  const probe = createServer();
  const ok = await listen(probe, "127.0.0.1", port);
  if (ok) await new Promise((resolve) => probe.close(resolve));
  return ok;
}

/**
 * Starts the proxy, with `count` passive ports (tried at up to 50 random places); its
 * `serverPort` is to be set before a client connects.
 */
export async function startCuttingProxy(count = 4): Promise<CuttingProxy> {
  let serverPort = 0;
  const servers: Server[] = [];
  const control: Socket[] = [];
  const data: Socket[] = [];
  /** Client sides of cut data connections, silent until the proxy closes. */
  const silent = new Set<Socket>();
  let sessions = 0;
  let cuts = 0;
  let dataBytes = 0;
  let armed: { at: number; scope: "data" | "session" } | undefined;
  /** Server bytes on data connections until a FIN toward the client (`finAfter`). */
  let finIn: number | undefined;
  let holdClient = false;
  /** What finned clients sent, held until the server's end (`holdClient`), and whether they
   * ended. */
  const held = new WeakMap<Socket, { chunks: Uint8Array[]; ended: boolean }>();
  /** Client sides ended by `finAfter`: their server sides are read to their end. */
  const finned = new WeakSet<Socket>();

  const cutNow = (scope: "data" | "session") => {
    armed = undefined;
    cuts++;
    for (const socket of data.splice(0)) {
      if (scope === "data" && clients.has(socket)) silent.add(socket);
      else cut(socket);
    }
    if (scope === "session") { for (const socket of control.splice(0)) cut(socket); }
  };

  const clients = new WeakSet<Socket>();
  const forward = (client: Socket, port: number, kind: Socket[], isData: boolean) => {
    const server = new Socket();
    kind.push(client, server);
    clients.add(client);
    client.pause();
    const onData = (from: Socket, to: Socket) => (chunk: Uint8Array) => {
      // A finned client gets nothing more; what it sends (its close_notify) still goes through.
      if (silent.has(from) || silent.has(to) || finned.has(to)) return;
      const holding = held.get(from);
      if (holding) return void holding.chunks.push(chunk);
      if (isData && finIn !== undefined && to === client) {
        if (chunk.length >= finIn) {
          // The client gets the bytes up to the mark, then a FIN; the server is read on.
          const last = chunk.subarray(0, finIn);
          finIn = undefined;
          cuts++;
          dataBytes += last.length;
          finned.add(client);
          if (holdClient) held.set(client, { chunks: [], ended: false });
          client.end(last);
          return;
        }
        finIn -= chunk.length;
      }
      if (isData) {
        if (armed && dataBytes + chunk.length >= armed.at) {
          // The bytes up to the mark go on, and are all that is counted (a runtime may read a
          // chunk of megabytes at once), then the cut.
          const last = chunk.subarray(0, armed.at - dataBytes);
          dataBytes += last.length;
          if (last.length > 0 && !to.destroyed) to.write(last);
          return cutNow(armed.scope);
        }
        dataBytes += chunk.length;
      }
      if (to.destroyed) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
    };
    const end = () => {
      if (!silent.has(client)) client.destroy();
      if (!finned.has(client)) server.destroy();
    };
    client.on("data", onData(client, server));
    server.on("data", onData(server, client));
    client.on("end", () => {
      const holding = held.get(client);
      if (holding) holding.ended = true;
      else server.end();
    });
    server.on("end", () => {
      // A finned connection's server side: what the client held back goes, then the end.
      const holding = held.get(client);
      if (holding) {
        held.delete(client);
        for (const chunk of holding.chunks) server.write(chunk);
        server.end();
      } else if (finned.has(client)) server.end();
      else if (!silent.has(client)) client.end();
    });
    client.on("error", end);
    server.on("error", end);
    const forget = (socket: Socket) => {
      const at = kind.indexOf(socket);
      if (at !== -1) kind.splice(at, 1);
    };
    client.on("close", () => {
      forget(client);
      silent.delete(client);
      // A finned connection's server side is ended, never reset: the server completes.
      if (held.has(client)) held.get(client)!.ended = true;
      else if (finned.has(client)) server.end();
      else server.destroy();
    });
    server.on("close", () => (forget(server), silent.has(client) || client.destroy()));
    server.connect(port, "127.0.0.1", () => client.resume());
  };

  const add = async (port: number, handle: (socket: Socket) => void): Promise<Server | false> => {
    const server = createServer(handle);
    if (!(await listen(server, PROXY_HOST, port))) return false;
    servers.push(server);
    return server;
  };

  const controlServer = await add(0, (socket) => {
    sessions++;
    forward(socket, serverPort, control, false);
  });
  if (!controlServer) throw new Error(`The proxy cannot listen at ${PROXY_HOST}`);
  const controlPort = (controlServer.address() as { port: number }).port;

  let passive: [number, number] | undefined;
  for (let tries = 0; tries < 50 && !passive; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    const bound: Server[] = [];
    for (let port = base; port < base + count; port++) {
      if (!(await freeAtServer(port))) break;
      const server = await add(port, (socket) => forward(socket, port, data, true));
      if (!server) break;
      bound.push(server);
    }
    if (bound.length === count) passive = [base, base + count - 1];
    else {
      for (const server of bound) {
        servers.splice(servers.indexOf(server), 1);
        server.close();
      }
    }
  }
  if (!passive) throw new Error("No free passive port range for the proxy");

  return {
    port: controlPort,
    passivePorts: passive,
    get sessions() {
      return sessions;
    },
    get cuts() {
      return cuts;
    },
    get dataBytes() {
      return dataBytes;
    },
    get serverPort() {
      return serverPort;
    },
    set serverPort(port: number) {
      serverPort = port;
    },
    cutAfter(bytes, scope) {
      armed = { at: dataBytes + bytes, scope };
    },
    finAfter(bytes, options = {}) {
      finIn = bytes;
      holdClient = options.holdClient ?? false;
    },
    cutAll() {
      cutNow("session");
    },
    async close() {
      armed = undefined;
      finIn = undefined;
      for (const socket of [...data.splice(0), ...control.splice(0), ...silent]) socket.destroy();
      silent.clear();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}
