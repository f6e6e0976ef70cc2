// UDP over node:dgram, which Node, Bun and Deno all provide. The Node adapter uses it, and the
// Deno adapter falls back to it when Deno.listenDatagram is absent (no --unstable-net).

import { createSocket } from "node:dgram";
import type { TftpUdpBind, TftpUdpSocket } from "../transport.ts";

/** Binds a UDP socket with node:dgram. */
export const bindNodeDgram: TftpUdpBind = (options): Promise<TftpUdpSocket> =>
  new Promise((resolve, reject) => {
    // The host is an IP literal: only IPv6 has colons.
    const family = options.host.includes(":") ? 6 : 4;
    const socket = createSocket({
      type: family === 6 ? "udp6" : "udp4",
      ipv6Only: false,
      // Peers are always IP literals of the socket's family: answer the lookup at once instead of
      // a DNS round through the event loop on every send.
      lookup: (address, _options, callback) => {
        (callback as (error: null, address: string, family: number) => void)(
          null,
          address,
          family,
        );
      },
    });
    let bound = false;
    socket.on("error", (error) => {
      if (!bound) reject(error);
      else options.onError?.(error);
    });
    socket.on("message", (message, remote) => {
      options.onMessage(
        new Uint8Array(message.buffer, message.byteOffset, message.byteLength),
        { address: remote.address, port: remote.port },
      );
    });
    socket.bind(options.port, options.host, () => {
      bound = true;
      if (options.receiveBufferSize !== undefined) {
        // A hint: where the system refuses the size, its default stays.
        try {
          socket.setRecvBufferSize(options.receiveBufferSize);
        } catch {
          // Keep the default.
        }
      }
      let receiveBufferSize: number | undefined;
      try {
        receiveBufferSize = socket.getRecvBufferSize();
      } catch {
        // Unknown.
      }
      const address = socket.address();
      let closed = false;
      const handle: TftpUdpSocket = {
        local: { address: address.address, port: address.port },
        ...(receiveBufferSize !== undefined ? { receiveBufferSize } : {}),
        send(bytes, to) {
          if (closed) return;
          socket.send(bytes, to.port, to.address, (error) => {
            if (error && !closed) options.onError?.(error);
          });
        },
        close() {
          if (closed) return Promise.resolve();
          closed = true;
          return new Promise((done) => socket.close(() => done()));
        },
        unref() {
          socket.unref();
        },
      };
      resolve(handle);
    });
  });
