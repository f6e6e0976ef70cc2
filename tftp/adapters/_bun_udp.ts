// UDP on Bun: Bun.udpSocket, or node:dgram for sockets that ask for a receive buffer size. The
// Bun entry point exports it as bindUdp, and the runtime-detecting functions load it on Bun.

import type { TftpUdpBind, TftpUdpSocket } from "../transport.ts";
import { bindNodeDgram } from "./_dgram.ts";

// The slice of Bun's API used here, typed by hand so no Bun types reach npm users.
interface BunUdpSocket {
  readonly address: { address: string; port: number };
  send(data: Uint8Array, port: number, address: string): boolean;
  /** Flat triples: data, port, address; returns how many were sent. */
  sendMany(packets: readonly (Uint8Array | number | string)[]): number;
  close(): void;
  unref(): void;
}
interface BunNamespace {
  udpSocket(options: {
    hostname: string;
    port: number;
    socket: {
      data(socket: BunUdpSocket, data: Uint8Array, port: number, address: string): void;
      drain?(socket: BunUdpSocket): void;
      error?(socket: BunUdpSocket, error: Error): void;
    };
  }): Promise<BunUdpSocket>;
}

/** Binds a UDP socket with `Bun.udpSocket`, or with `node:dgram` for sockets that ask for a receive
 * buffer size. */
export const bindBunUdp: TftpUdpBind = async (options): Promise<TftpUdpSocket> => {
  const bun = (globalThis as { Bun?: BunNamespace }).Bun;
  if (!bun) throw new TypeError("Bun.udpSocket is not available: this adapter runs on Bun");
  // Bun.udpSocket cannot size its receive buffer, and a windowed receiver needs a big one.
  if (options.receiveBufferSize !== undefined) return bindNodeDgram(options);
  let closed = false;
  // Datagrams refused for backpressure wait here until the socket drains.
  const backlog: { bytes: Uint8Array; to: { address: string; port: number } }[] = [];
  const udp = await bun.udpSocket({
    hostname: options.host,
    port: options.port,
    socket: {
      data(_socket, data, port, address) {
        if (!closed) options.onMessage(data, { address, port });
      },
      drain(socket) {
        while (backlog.length > 0 && !closed) {
          const next = backlog[0];
          if (!socket.send(next.bytes, next.to.port, next.to.address)) return;
          backlog.shift();
        }
      },
      error(_socket, error) {
        if (!closed) options.onError?.(error);
      },
    },
  });
  const socket: TftpUdpSocket = {
    local: { address: udp.address.address, port: udp.address.port },
    send(bytes, to) {
      if (closed) return;
      if (backlog.length > 0 || !udp.send(bytes, to.port, to.address)) {
        // Bounded: a backlog this deep means the peer is gone; retransmission will recover.
        if (backlog.length < 4096) backlog.push({ bytes, to });
      }
    },
    sendMany(datagrams, to) {
      if (closed) return;
      let sent = 0;
      if (backlog.length === 0) {
        const packets: (Uint8Array | number | string)[] = [];
        for (const bytes of datagrams) packets.push(bytes, to.port, to.address);
        // One sendmmsg for them all.
        sent = udp.sendMany(packets);
      }
      for (let i = sent; i < datagrams.length && backlog.length < 4096; i++) {
        backlog.push({ bytes: datagrams[i], to });
      }
    },
    close() {
      if (!closed) {
        closed = true;
        udp.close();
      }
      return Promise.resolve();
    },
    unref() {
      udp.unref();
    },
  };
  return socket;
};
