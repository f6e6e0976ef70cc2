// UDP on Deno: Deno.listenDatagram (with --unstable-net), else node:dgram. The Deno entry point
// exports it as bindUdp, and the runtime-detecting functions load it on Deno.

import type { TftpUdpBind, TftpUdpSocket } from "../transport.ts";
import { bindNodeDgram } from "./_dgram.ts";

// The slice of Deno's API used here, typed by hand so no Deno types reach npm users.
interface DenoNetAddr {
  transport: "udp";
  hostname: string;
  port: number;
}
interface DenoDatagramConn {
  readonly addr: DenoNetAddr;
  receive(buffer?: Uint8Array): Promise<[Uint8Array, DenoNetAddr]>;
  send(bytes: Uint8Array, addr: DenoNetAddr): Promise<number>;
  close(): void;
  /** Present at run time, though Deno's types leave it out. */
  unref?(): void;
}
interface DenoNamespace {
  listenDatagram?: (
    options: { transport: "udp"; hostname: string; port: number },
  ) => DenoDatagramConn;
  readTextFileSync(path: string): string;
  permissions: { querySync?(descriptor: { name: "read"; path: string }): { state: string } };
}

const RMEM_DEFAULT = "/proc/sys/net/core/rmem_default";
let systemReceiveBuffer: number | null | undefined;

/** The size every UDP socket gets (Linux's `net.core.rmem_default`), read once when allowed. */
function defaultReceiveBuffer(deno: DenoNamespace): number | undefined {
  if (systemReceiveBuffer === undefined) {
    systemReceiveBuffer = null;
    try {
      // Ask first: reading without the permission would prompt.
      const state = deno.permissions.querySync?.({ name: "read", path: RMEM_DEFAULT }).state;
      if (state === "granted") {
        const value = Number(deno.readTextFileSync(RMEM_DEFAULT).trim());
        if (Number.isInteger(value) && value > 0) systemReceiveBuffer = value;
      }
    } catch {
      // Not Linux, or not readable: unknown.
    }
  }
  return systemReceiveBuffer ?? undefined;
}

/**
 * Binds a UDP socket with `Deno.listenDatagram`, or with `node:dgram` without `--unstable-net`.
 * The receive buffer keeps the system's default size (Deno offers no way to change it).
 */
export const bindDenoUdp: TftpUdpBind = async (options): Promise<TftpUdpSocket> => {
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  // Neither Deno.listenDatagram nor Deno's node:dgram (whose setRecvBufferSize has no effect on
  // its socket) can size the receive buffer: the socket keeps the system's default, and says so,
  // so that windowed receivers keep their windows within it.
  const receiveBufferSize = deno ? defaultReceiveBuffer(deno) : undefined;
  const known = receiveBufferSize !== undefined ? { receiveBufferSize } : {};
  if (typeof deno?.listenDatagram !== "function") {
    // Nor can it unref a bound socket (Deno 2.9): a client's dally keeps the process alive there.
    const { receiveBufferSize: _unapplied, unref: _noEffect, ...socket } = await bindNodeDgram(
      options,
    );
    return { ...socket, ...known };
  }
  const conn = deno.listenDatagram({
    transport: "udp",
    hostname: options.host,
    port: options.port,
  });
  let closed = false;
  // One receive buffer for the socket's life: without it Deno allocates 64 KiB per datagram.
  // Each datagram is copied out at its own size, since the machines may keep views of it. Sized
  // to what the socket expects: a server keeps a socket per pending transfer.
  const buffer = new Uint8Array(Math.min(65536, Math.max(4, options.maxDatagramSize ?? 65536)));
  const loop = (async () => {
    while (!closed) {
      let received: [Uint8Array, DenoNetAddr];
      try {
        received = await conn.receive(buffer);
      } catch (error) {
        if (!closed) options.onError?.(error as Error);
        if (!closed) continue;
        return;
      }
      const [bytes, from] = received;
      options.onMessage(bytes.slice(), { address: from.hostname, port: from.port });
    }
  })();
  const socket: TftpUdpSocket = {
    local: { address: conn.addr.hostname, port: conn.addr.port },
    ...known,
    send(bytes, to) {
      if (closed) return;
      conn.send(bytes, { transport: "udp", hostname: to.address, port: to.port }).catch((error) => {
        if (!closed) options.onError?.(error);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      conn.close();
      await loop;
    },
    unref() {
      conn.unref?.();
    },
  };
  return socket;
};
