// Helpers to run real peers: find them, start daemons, run clients, pick free ports.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createSocket } from "node:dgram";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The peers' programs. */
export const PEER = {
  tftpdHpa: "/usr/sbin/in.tftpd",
  tftpHpa: "/usr/bin/tftp",
  atftp: "/usr/bin/atftp",
  atftpd: "/opt/atftpd/usr/sbin/atftpd",
  curl: "/usr/bin/curl",
  busybox: "/usr/bin/busybox",
  vsftpd: "/usr/sbin/vsftpd",
  proftpd: "/opt/proftpd/usr/sbin/proftpd",
  pureFtpd: "/opt/pure-ftpd/usr/sbin/pure-ftpd",
  purePw: "/opt/pure-ftpd/usr/bin/pure-pw",
  /** Debian's Python, which has pyftpdlib and pyOpenSSL (not a pyenv shim's). */
  python: "/usr/bin/python3",
  pyftpdlib: "/usr/lib/python3/dist-packages/pyftpdlib/__init__.py",
  openssl: "/usr/bin/openssl",
  lftp: "/usr/bin/lftp",
};

/** Why a test must be skipped: a loud message when the peer is missing, else `false`. */
export function missing(program: string): string | false {
  if (existsSync(program)) return false;
  const message = `!!! ${program} is not installed: run "deno run -A scripts/peers.ts" as root`;
  console.warn(message);
  return message;
}

/** A free UDP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.on("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** A free TCP port on 127.0.0.1. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Waits until something accepts TCP connections at 127.0.0.1:`port` (bounded). */
export async function waitForTcp(port: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** The result of a finished command. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`). */
export function runPeer(
  program: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 124) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** A daemon started in its own process group, stopped by `stop()`. */
export interface Daemon {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a daemon and waits `settleMs` for it to bind. */
export async function startDaemon(
  program: string,
  args: string[],
  settleMs = 300,
): Promise<Daemon> {
  const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr?.on("data", (chunk) => (stderr += chunk));
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  if (child.exitCode !== null) throw new Error(`${program} exited at once: ${stderr}`);
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      }),
  };
}

/** A temporary directory, removed by `remove()`. */
export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes. */
export function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
