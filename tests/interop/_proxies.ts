// Proxies started on loopback for the tests: Dante's danted (SOCKS5) and tinyproxy (HTTP
// CONNECT) with configurations of their own, the tunnels their logs show, and a small SOCKS5
// server (RFC 1928, RFC 1929) for what danted checks against the system's users.

import { Buffer } from "node:buffer";
import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Daemon, onFreePort, PEER, startDaemon } from "./_peers.ts";

/** A proxy daemon: its port and its log file. */
export interface ProxyDaemon {
  readonly port: number;
  readonly log: string;
  stop(): Promise<void>;
}

/** danted on a free loopback port, no authentication, logging each tunnel it opens. */
export function startDanted(dir: string): Promise<ProxyDaemon> {
  return onFreePort("tcp", async (port) => {
    const log = join(dir, `danted-${port}.log`);
    const config = join(dir, `danted-${port}.conf`);
    await writeFile(
      config,
      [
        `logoutput: ${log}`,
        `internal: 127.0.0.1 port = ${port}`,
        "external: 127.0.0.1",
        "socksmethod: none",
        "clientmethod: none",
        "user.privileged: root",
        "user.unprivileged: nobody",
        "client pass {",
        "  from: 127.0.0.0/8 to: 0.0.0.0/0",
        "  log: error",
        "}",
        "socks pass {",
        "  from: 127.0.0.0/8 to: 0.0.0.0/0",
        "  command: connect",
        "  log: connect error",
        "}",
        "",
      ].join("\n"),
    );
    const daemon: Daemon = await startDaemon(
      PEER.danted,
      ["-f", config, "-N", "1", "-p", join(dir, `danted-${port}.pid`)],
      { tcp: port },
    );
    return { port, log, stop: () => daemon.stop() };
  });
}

/** tinyproxy on a free loopback port, Basic authentication as fred, CONNECT only to `ports`. */
export function startTinyproxy(dir: string, ports: readonly number[]): Promise<ProxyDaemon> {
  return onFreePort("tcp", async (port) => {
    const log = join(dir, `tinyproxy-${port}.log`);
    const config = join(dir, `tinyproxy-${port}.conf`);
    await writeFile(
      config,
      [
        `Port ${port}`,
        "Listen 127.0.0.1",
        "Timeout 60",
        `LogFile "${log}"`,
        "LogLevel Connect",
        "MaxClients 50",
        "Allow 127.0.0.1",
        "BasicAuth fred proxy-pw",
        ...ports.map((allowed) => `ConnectPort ${allowed}`),
        "",
      ].join("\n"),
    );
    const daemon = await startDaemon(PEER.tinyproxy, ["-d", "-c", config], { tcp: port });
    return { port, log, stop: () => daemon.stop() };
  });
}

/** The ports a proxy's log says it opened tunnels to (danted's and tinyproxy's formats). */
export async function tunnelPorts(log: string): Promise<number[]> {
  const text = await readFile(log, "utf8").catch(() => "");
  const ports: number[] = [];
  // danted: "tcp/connect [: CLIENT PROXY -> BOUND TARGET" with addresses as ADDRESS.PORT.
  for (const match of text.matchAll(/tcp\/connect \[: \S+ \S+ -> \S+ \S+\.(\d+)$/gm)) {
    ports.push(Number(match[1]));
  }
  // tinyproxy: "Request (file descriptor N): CONNECT HOST:PORT HTTP/1.1".
  for (const match of text.matchAll(/: CONNECT \S+:(\d+) HTTP\/1\.1$/gm)) {
    ports.push(Number(match[1]));
  }
  return ports;
}

/** A small SOCKS5 server (RFC 1928, RFC 1929) that relays CONNECTs, or refuses with `refuse`. */
export class MiniSocks {
  readonly targets: string[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly options: { user?: string; password?: string; refuse?: number };
  constructor(options: { user?: string; password?: string; refuse?: number }) {
    this.options = options;
    this.#server = createServer((socket) => this.#serve(socket));
  }
  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : 0;
  }
  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
  }
  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => {});
    let buffer = Buffer.alloc(0);
    let stage: "greeting" | "auth" | "request" | "relay" = "greeting";
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === "greeting" && buffer.length >= 2 && buffer.length >= 2 + buffer[1]) {
        const methods = [...buffer.subarray(2, 2 + buffer[1])];
        buffer = buffer.subarray(2 + buffer[1]);
        const wanted = this.options.user === undefined ? 0 : 2;
        socket.write(Uint8Array.of(5, methods.includes(wanted) ? wanted : 0xff));
        if (!methods.includes(wanted)) return void socket.end();
        stage = wanted === 2 ? "auth" : "request";
      }
      if (stage === "auth" && buffer.length >= 2 && buffer.length >= 3 + buffer[1]) {
        const userLength = buffer[1];
        const passwordLength = buffer[2 + userLength];
        if (buffer.length < 3 + userLength + passwordLength) return;
        const user = buffer.subarray(2, 2 + userLength).toString();
        const password = buffer.subarray(3 + userLength, 3 + userLength + passwordLength)
          .toString();
        buffer = buffer.subarray(3 + userLength + passwordLength);
        const ok = user === this.options.user && password === this.options.password;
        socket.write(Uint8Array.of(1, ok ? 0 : 1));
        if (!ok) return void socket.end();
        stage = "request";
      }
      if (stage === "request" && buffer.length >= 5) {
        const type = buffer[3];
        const length = type === 1 ? 4 : type === 4 ? 16 : 1 + buffer[4];
        if (buffer.length < 4 + length + 2) return;
        const address = buffer.subarray(4, 4 + length);
        const host = type === 1 ? [...address].join(".") : address.subarray(1).toString();
        const port = buffer.readUInt16BE(4 + length);
        buffer = buffer.subarray(4 + length + 2);
        this.targets.push(`${host}:${port}`);
        if (this.options.refuse !== undefined) {
          socket.end(Uint8Array.of(5, this.options.refuse, 0, 1, 0, 0, 0, 0, 0, 0));
          return;
        }
        stage = "relay";
        socket.off("data", onData);
        socket.pause();
        const upstream = tcpConnect({ host, port }, () => {
          // A domain-name bound address, as a server may answer: the client must read it.
          socket.write(Uint8Array.of(5, 0, 0, 3, 9, ...Buffer.from("localhost"), 0, 0));
          if (buffer.length > 0) upstream.write(buffer);
          socket.pipe(upstream);
          upstream.pipe(socket);
          socket.resume();
        });
        this.#sockets.add(upstream);
        upstream.on("close", () => (this.#sockets.delete(upstream), socket.destroy()));
        upstream.on("error", () => socket.destroy());
        socket.on("close", () => upstream.destroy());
      }
    };
    socket.on("data", onData);
  }
}
