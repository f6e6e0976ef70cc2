// The runtime's UDP adapter over real loopback sockets: the receive buffer a windowed receiver
// asks for.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import {
  makeTftpApi,
  type TftpTransferRecord,
  type TftpUdpBind,
  type TftpUdpSocket,
} from "../../tftp/mod.ts";
import { windowFit, windowReceiveBuffer } from "../../tftp/_window_buffer.ts";
import { runtime } from "../_runtime.ts";
import { until, within } from "../_wait.ts";

async function adapterBind(): Promise<TftpUdpBind> {
  if (runtime === "deno") return (await import("../../tftp/adapters/deno.ts")).bindUdp;
  if (runtime === "bun") return (await import("../../tftp/adapters/bun.ts")).bindUdp;
  return (await import("../../tftp/adapters/node.ts")).bindUdp;
}

/** Sends `count` datagrams of `size` bytes in one burst; resolves with how many arrived. */
async function burst(receiveBufferSize: number | undefined, size: number, count: number) {
  const bind = await adapterBind();
  let received = 0;
  let settle: () => void = () => {};
  const all = new Promise<void>((resolve) => (settle = resolve));
  const sockets: TftpUdpSocket[] = [];
  try {
    const receiver = await bind({
      host: "127.0.0.1",
      port: 0,
      receiveBufferSize,
      onMessage: () => {
        if (++received === count) settle();
      },
    });
    sockets.push(receiver);
    const sender = await bind({ host: "127.0.0.1", port: 0, onMessage: () => {} });
    sockets.push(sender);
    const datagram = new Uint8Array(size);
    // No await between sends: the receiver cannot read until the burst is queued.
    for (let i = 0; i < count; i++) sender.send(datagram, receiver.local);
    // On loopback a datagram is queued for the receiver or dropped as it is sent: every one not
    // dropped arrives, however slowly this process runs. Bounded, generously, for the dropped.
    await within(all, `${count} datagrams`, 10_000).catch(() => {});
    return received;
  } finally {
    for (const socket of sockets) await socket.close();
  }
}

describe("UDP receive buffer for windows", () => {
  test("windowReceiveBuffer: room for a window, none asked for lock-step, capped", () => {
    assert.equal(windowReceiveBuffer(8192, 1), undefined);
    assert.equal(windowReceiveBuffer(8192, 16), 16 * (2 * 8192 + 1024));
    assert.equal(windowReceiveBuffer(65464, 65535), 32 * 1024 * 1024);
    // Linux's default 212992 bytes queue 12 datagrams of 8196 bytes (measured on loopback).
    assert.equal(windowFit(8192, 212992), 12);
    assert.equal(windowFit(65464, 212992), 1);
    assert.equal(windowFit(65464, 1000), 1, "never below 1");
    assert.equal(windowFit(8192, windowReceiveBuffer(8192, 16)!), 16);
  });

  test("a socket says how much it can queue, after what it asked for", async () => {
    const bind = await adapterBind();
    const socket = await bind({
      host: "127.0.0.1",
      port: 0,
      receiveBufferSize: 1 << 20,
      onMessage: () => {},
    });
    try {
      if (runtime === "deno") {
        // Deno keeps the system's default; on Linux it reads it from /proc.
        const rmem = Number(await readFile("/proc/sys/net/core/rmem_default", "utf8"));
        assert.equal(socket.receiveBufferSize, rmem);
      } else {
        // Linux doubles the size asked for (bookkeeping), up to net.core.rmem_max.
        const rmemMax = Number(await readFile("/proc/sys/net/core/rmem_max", "utf8"));
        assert.equal(socket.receiveBufferSize, 2 * Math.min(1 << 20, rmemMax));
      }
    } finally {
      await socket.close();
    }
  });

  test("a windowed read asks for no more than the socket can queue", async () => {
    const api = await import("../_tftp_api.ts").then((m) => m.tftpApi());
    const bind = await adapterBind();
    // A socket that can queue 100000 bytes: 5 blocks of 8192.
    const small: TftpUdpBind = async (options) => {
      const socket = await bind(options);
      return {
        local: socket.local,
        receiveBufferSize: 100_000,
        send: (bytes, to) => socket.send(bytes, to),
        close: () => socket.close(),
      };
    };
    const file = new Uint8Array(200_000).map((_, i) => i * 7);
    const records: TftpTransferRecord[] = [];
    const server = await api.serveTftp({
      host: "127.0.0.1",
      port: 0,
      maxWindowsize: 64,
      onTransfer: (record) => records.push(record),
      handler: {
        read: () => Promise.resolve(file),
        write: () =>
          Promise.resolve({
            write: () => Promise.resolve(),
            commit: () => Promise.resolve(),
            abort: () => Promise.resolve(),
          }),
      },
    });
    try {
      const client = makeTftpApi(small);
      const options = {
        host: "127.0.0.1",
        port: server.address.port,
        remote: "f",
        blksize: 8192,
        windowsize: 64,
      };
      const read = await client.tftpGet(options);
      assert.deepEqual(read, file);
      // The server records a transfer once its last ACK is in: wait for it (bounded).
      await until(() => records.length > 0, "the server's record of the read").catch(() => {});
      assert.equal(records[0]?.parameters?.windowsize, 5, "the read asked for 5, not 64");
      const written = await client.tftpPut(options, file);
      // A write's window is for the server's socket to queue: Node and Bun size it for 64 blocks;
      // Deno cannot, and offers what its default buffer holds.
      const serverQueue = runtime === "deno"
        ? windowFit(8192, Number(await readFile("/proc/sys/net/core/rmem_default", "utf8")))
        : 64;
      assert.equal(written.windowsize, serverQueue, "a write's window is the server's to queue");
      const smallServer = await makeTftpApi(small).serveTftp({
        host: "127.0.0.1",
        port: 0,
        maxWindowsize: 64,
        handler: {
          write: () =>
            Promise.resolve({
              write: () => Promise.resolve(),
              commit: () => Promise.resolve(),
              abort: () => Promise.resolve(),
            }),
        },
      });
      try {
        const upload = await api.tftpPut({ ...options, port: smallServer.address.port }, file);
        assert.equal(upload.windowsize, 5, "the server offers a window its socket can queue");
      } finally {
        await smallServer.close();
      }
    } finally {
      await server.close();
    }
  });

  test(
    "a socket asking for a window's room receives a whole burst of 16 blocks of 8192",
    {
      skip: runtime === "deno"
        ? "Deno cannot size a UDP receive buffer (Deno.listenDatagram has no option, and its " +
          "node:dgram setRecvBufferSize does not reach the socket); windows rely on the stall ACK"
        : false,
    },
    async () => {
      assert.equal(await burst(windowReceiveBuffer(8192, 16), 8196, 16), 16);
    },
  );
});

describe("UDP sendMany", () => {
  test("a run of datagrams to one peer arrives whole and in order (Bun: one sendmmsg)", async () => {
    const bind = await adapterBind();
    const received: number[] = [];
    let settle: () => void = () => {};
    const all = new Promise<void>((resolve) => (settle = resolve));
    let greeted = false;
    const receiver = await bind({
      host: "127.0.0.1",
      port: 0,
      onMessage: (bytes) => {
        if (bytes.length === 1) return void (greeted = true);
        received.push(bytes.length === 100 ? bytes[0] : -1);
        if (received.length === 8) settle();
      },
    });
    const sender = await bind({ host: "127.0.0.1", port: 0, onMessage: () => {} });
    try {
      // One datagram first, as a transfer starts (Deno's node:dgram sends a burst made in the
      // same tick as the bind in reverse order).
      sender.send(new Uint8Array(1), receiver.local);
      await until(() => greeted, "the first datagram");
      // Bun's own sockets have it; node:dgram (Node, Deno) sends one by one.
      assert.equal(typeof sender.sendMany === "function", runtime === "bun");
      const datagrams = Array.from({ length: 8 }, (_, i) => new Uint8Array(100).fill(i));
      if (sender.sendMany) sender.sendMany(datagrams, receiver.local);
      else for (const datagram of datagrams) sender.send(datagram, receiver.local);
      await within(all, "8 datagrams", 10_000);
      assert.deepEqual(received, [0, 1, 2, 3, 4, 5, 6, 7]);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });
});
