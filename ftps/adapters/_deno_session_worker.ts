/**
 * The worker side of `_deno_isolated.ts`: one FTPS client session's TCP and TLS connections, over
 * `node:net` and `node:tls`, driven by messages from the session's isolate. Deno's `node:tls`
 * keeps one session store per isolate, keyed by server name: in a worker of its own, a session
 * resumes only its own TLS sessions. Internal.
 *
 * @module
 */

import { nodeFtpTransport } from "./_node_tcp.ts";
import type { FtpListener, FtpSocket, FtpTlsClientOptions } from "../transport.ts";
import type { SessionCall, SessionReply, SocketInfo } from "./_deno_isolated.ts";

interface WorkerScope {
  onmessage: ((event: { data: SessionCall }) => void) | null;
  postMessage(message: SessionReply, transfer?: ArrayBuffer[]): void;
}
const scope = globalThis as unknown as WorkerScope;

const sessions = nodeFtpTransport.sessionStore();
const sockets = new Map<number, FtpSocket>();
const listeners = new Map<number, FtpListener>();
let nextId = 1;

function keep(socket: FtpSocket): SocketInfo {
  const id = nextId++;
  sockets.set(id, socket);
  return {
    id,
    localAddress: socket.localAddress,
    remoteAddress: socket.remoteAddress,
    ...(socket.tls ? { tls: { ...socket.tls } } : {}),
    reset: socket.reset !== undefined,
  };
}

function socketOf(id: number): FtpSocket {
  const socket = sockets.get(id);
  if (!socket) throw new Error("The connection was closed");
  return socket;
}

/** Bytes whose buffer can be handed over whole. */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer
    ? bytes
    : bytes.slice();
}

async function run(call: SessionCall): Promise<[unknown, ArrayBuffer[]]> {
  switch (call.method) {
    case "connect": {
      const { host, port, tls } = call;
      return [keep(await nodeFtpTransport.connect({ host, port, ...tlsWith(tls) })), []];
    }
    case "startTls": {
      const socket = socketOf(call.socket);
      sockets.delete(call.socket);
      const options: FtpTlsClientOptions & { readsToEnd?: boolean } = call.tls;
      return [
        keep(await socket.startTls({ ...options, ...(call.resume ? { sessions } : {}) })),
        [],
      ];
    }
    case "read": {
      const bytes = await socketOf(call.socket).read();
      if (bytes === null) {
        return [{ bytes: null, closeNotified: sockets.get(call.socket)?.closeNotified }, []];
      }
      const owned = own(bytes);
      return [{ bytes: owned }, [owned.buffer as ArrayBuffer]];
    }
    case "write":
      await socketOf(call.socket).write(call.bytes);
      return [undefined, []];
    case "end":
      await socketOf(call.socket).end();
      return [undefined, []];
    case "close":
      sockets.get(call.socket)?.close();
      sockets.delete(call.socket);
      return [undefined, []];
    case "reset":
      sockets.get(call.socket)?.reset?.();
      sockets.delete(call.socket);
      return [undefined, []];
    case "listen": {
      const listener = await nodeFtpTransport.listen(call.host);
      const id = nextId++;
      listeners.set(id, listener);
      return [{ id, port: listener.port }, []];
    }
    case "accept": {
      const listener = listeners.get(call.listener);
      if (!listener) throw new Error("The data connection listener was closed");
      return [keep(await listener.accept()), []];
    }
    case "ping":
      return [undefined, []];
    case "unlisten":
      listeners.get(call.listener)?.close();
      listeners.delete(call.listener);
      return [undefined, []];
  }
}

function tlsWith(tls: FtpTlsClientOptions | undefined) {
  return tls ? { tls: { ...tls, sessions } } : {};
}

scope.onmessage = (event) => {
  const call = event.data;
  run(call).then(
    ([value, transfer]) => scope.postMessage({ call: call.call, value }, transfer),
    (error: unknown) => {
      const failure = error as Error & { code?: unknown };
      scope.postMessage({
        call: call.call,
        error: {
          name: failure?.name ?? "Error",
          message: failure?.message ?? String(error),
          ...(typeof failure?.code === "string" ? { code: failure.code } : {}),
        },
      });
    },
  );
};
