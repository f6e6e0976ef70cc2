// Helpers to run real peers: find them by what they report, start daemons and wait until they
// listen, run clients, pick free ports.
//
// A peer is recognised by its own version output, never by its path alone: `/usr/sbin/in.tftpd`
// is tftpd-hpa or atftpd depending on which package was installed last. Each peer is asked once
// per process; a test that needs a peer that is not there is skipped, loudly, with the reason.

import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { until, WAIT_MS, within } from "../_wait.ts";

/** How a peer is found: where it may be, how to make it say what it is, how to read the answer. */
interface PeerSpec {
  /** Its name (the Debian package's, where there is one). */
  readonly title: string;
  /** Where it may be installed: Debian's place first, then where scripts/peers.ts unpacks it. */
  readonly candidates: readonly string[];
  /** The command line that makes `program` print what it is. */
  readonly ask: (program: string) => [string, string[]];
  /** Its version when `answer` (stdout and stderr) is this peer's, else `undefined`. */
  readonly recognise: (answer: string) => string | undefined;
  /** Files it needs beside the program, relative to the program's directory. */
  readonly beside?: readonly string[];
}

const firstMatch = (pattern: RegExp) => (answer: string): string | undefined =>
  pattern.exec(answer)?.[1];

/** OpenStack Swift with the S3 front end (s3api needs lxml), as Debian's python3 imports it. */
const SWIFT_VERSION =
  "import swift, swift.proxy.server, swift.common.middleware.s3api.s3api; print('swift', swift.__version__)";

const PYFTPDLIB_VERSION =
  "import pyftpdlib, OpenSSL; print('pyftpdlib', pyftpdlib.__ver__, 'pyOpenSSL', OpenSSL.__version__)";

/** A peer the interop tests use. */
export type PeerName =
  | "tftpdHpa"
  | "tftpHpa"
  | "atftp"
  | "atftpd"
  | "curl"
  | "busybox"
  | "vsftpd"
  | "proftpd"
  | "pureFtpd"
  | "purePw"
  | "python"
  | "pyftpdlib"
  | "openssl"
  | "lftp"
  | "haproxy"
  | "danted"
  | "tinyproxy"
  | "swift"
  | "memcached";

const SPECS: Record<PeerName, PeerSpec> = {
  tftpdHpa: {
    title: "tftpd-hpa",
    candidates: ["/usr/sbin/in.tftpd", "/opt/tftpd-hpa/usr/sbin/in.tftpd"],
    ask: (program: string) => [program, ["-V"]],
    recognise: firstMatch(/^tftp-hpa (\S+?),?\s/m),
  },
  tftpHpa: {
    title: "tftp-hpa",
    candidates: ["/usr/bin/tftp", "/opt/tftp-hpa/usr/bin/tftp"],
    ask: (program: string) => [program, ["-V"]],
    recognise: firstMatch(/^tftp-hpa (\S+?),?\s/m),
  },
  atftp: {
    title: "atftp",
    candidates: ["/usr/bin/atftp"],
    ask: (program: string) => [program, ["--version"]],
    recognise: firstMatch(/^atftp-(\S+) \(client\)/m),
  },
  atftpd: {
    title: "atftpd",
    candidates: ["/opt/atftpd/usr/sbin/atftpd", "/usr/sbin/atftpd", "/usr/sbin/in.tftpd"],
    ask: (program: string) => [program, ["-V"]],
    recognise: firstMatch(/^atftp-(\S+) \(server\)/m),
  },
  curl: {
    title: "curl",
    candidates: ["/usr/bin/curl"],
    ask: (program: string) => [program, ["--version"]],
    // The tests use its TFTP, FTP and FTPS.
    recognise: (answer: string) => {
      const protocols = /^Protocols: (.*)$/m.exec(answer)?.[1].split(" ") ?? [];
      const all = ["tftp", "ftp", "ftps"].every((name) => protocols.includes(name));
      return all ? /^curl (\S+)/.exec(answer)?.[1] : undefined;
    },
  },
  busybox: {
    title: "busybox",
    candidates: ["/usr/bin/busybox"],
    ask: (program: string) => [program, ["tftp", "--help"]],
    // Its tftp applet is what the tests run.
    recognise: (answer: string) =>
      /^Usage: tftp /m.test(answer) ? /^BusyBox v(\S+)/m.exec(answer)?.[1] : undefined,
  },
  vsftpd: {
    title: "vsftpd",
    candidates: ["/usr/sbin/vsftpd", "/opt/vsftpd/usr/sbin/vsftpd"],
    // vsftpd -v writes its version to file descriptor 0.
    ask: (program: string) => ["/bin/sh", ["-c", 'exec "$0" -v 0>&1', program]],
    recognise: firstMatch(/^vsftpd: version (\S+)/m),
  },
  proftpd: {
    title: "proftpd",
    candidates: ["/opt/proftpd/usr/sbin/proftpd", "/usr/sbin/proftpd"],
    ask: (program: string) => [program, ["--version"]],
    recognise: firstMatch(/^ProFTPD Version (\S+)/m),
    beside: ["../lib/proftpd/mod_tls.so"],
  },
  pureFtpd: {
    title: "pure-ftpd",
    candidates: ["/opt/pure-ftpd/usr/sbin/pure-ftpd", "/usr/sbin/pure-ftpd"],
    ask: (program: string) => [program, ["--help"]],
    recognise: firstMatch(/^pure-ftpd v(\S+)/m),
  },
  purePw: {
    title: "pure-pw",
    candidates: ["/opt/pure-ftpd/usr/bin/pure-pw", "/usr/bin/pure-pw"],
    ask: (program: string) => [program, ["--help"]],
    // It prints no version, only its usage.
    recognise: (answer: string) => (/^pure-pw useradd /m.test(answer) ? "(no version)" : undefined),
  },
  python: {
    title: "python3 (Debian's, with ftplib)",
    candidates: ["/usr/bin/python3"],
    ask: (program: string) => [program, ["-c", "import ftplib, ssl, sys; print(sys.version)"]],
    recognise: firstMatch(/^(3\.\d+\.\d+)/m),
  },
  pyftpdlib: {
    title: "python3-pyftpdlib (with pyOpenSSL)",
    candidates: ["/usr/bin/python3"],
    ask: (program: string) => [program, ["-c", PYFTPDLIB_VERSION]],
    recognise: firstMatch(/^pyftpdlib (\S+) pyOpenSSL/m),
  },
  openssl: {
    title: "openssl",
    candidates: ["/usr/bin/openssl"],
    ask: (program: string) => [program, ["version"]],
    recognise: firstMatch(/^OpenSSL (\S+)/m),
  },
  lftp: {
    title: "lftp",
    candidates: ["/usr/bin/lftp"],
    ask: (program: string) => [program, ["--version"]],
    recognise: firstMatch(/^LFTP \| Version (\S+)/m),
  },
  haproxy: {
    title: "haproxy",
    candidates: ["/usr/sbin/haproxy"],
    ask: (program: string) => [program, ["-v"]],
    recognise: firstMatch(/^HA-?Proxy version (\S+)/m),
  },
  danted: {
    title: "dante-server",
    candidates: ["/usr/sbin/danted"],
    ask: (program: string) => [program, ["-v"]],
    recognise: firstMatch(/^Dante v(\S+?)\.?\s/m),
  },
  tinyproxy: {
    title: "tinyproxy",
    candidates: ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"],
    ask: (program: string) => [program, ["-v"]],
    recognise: firstMatch(/^tinyproxy (\S+)/m),
  },
  swift: {
    title: "python3-swift (OpenStack Swift, with s3api)",
    candidates: ["/usr/bin/python3"],
    ask: (program: string) => [program, ["-c", SWIFT_VERSION]],
    recognise: firstMatch(/^swift (\S+)/m),
  },
  memcached: {
    title: "memcached",
    candidates: ["/usr/bin/memcached"],
    ask: (program: string) => [program, ["-V"]],
    recognise: firstMatch(/^memcached (\S+)/m),
  },
};

/** Every peer the interop tests use. */
export const PEER_NAMES: readonly PeerName[] = Object.keys(SPECS) as PeerName[];

/** A peer that was found: its program and the version it reported. */
export interface FoundPeer {
  readonly name: PeerName;
  readonly title: string;
  readonly program: string;
  readonly version: string;
}

type Detection = { found: FoundPeer } | { reason: string };
const detected = new Map<PeerName, Detection>();

/** The first line of `text`, shortened, for messages. */
function firstLine(text: string): string {
  const line = text.trim().split("\n")[0] ?? "";
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

function detect(name: PeerName): Detection {
  const spec = SPECS[name];
  const seen: string[] = [];
  for (const program of spec.candidates) {
    if (!existsSync(program)) {
      seen.push(`${program} is absent`);
      continue;
    }
    const [command, args] = spec.ask(program);
    const ran = spawnSync(command, args, {
      input: "",
      encoding: "utf8",
      timeout: 60_000,
      killSignal: "SIGKILL",
      maxBuffer: 1 << 20,
    });
    if (ran.error) {
      seen.push(`${program} did not answer (${ran.error.message})`);
      continue;
    }
    const answer = `${ran.stdout ?? ""}\n${ran.stderr ?? ""}`;
    const version = spec.recognise(answer);
    if (version === undefined) {
      seen.push(`${program} reports ${JSON.stringify(firstLine(answer))}`);
      continue;
    }
    const lacking = (spec.beside ?? []).map((file) => join(dirname(program), file))
      .filter((file) => !existsSync(file));
    if (lacking.length > 0) {
      seen.push(`${program} (${spec.title} ${version}) lacks ${lacking.join(", ")}`);
      continue;
    }
    return { found: { name, title: spec.title, program, version } };
  }
  return { reason: `${spec.title} not found: ${seen.join("; ")}` };
}

function detection(name: PeerName): Detection {
  let known = detected.get(name);
  if (!known) {
    known = detect(name);
    detected.set(name, known);
  }
  return known;
}

/** Forgets what was found, so that the next question asks the peers again (after installing). */
export function forgetPeers(): void {
  detected.clear();
}

/** The peer `name` as it reports itself, or `undefined` when it is not installed (asked once). */
export function findPeer(name: PeerName): FoundPeer | undefined {
  const known = detection(name);
  return "found" in known ? known.found : undefined;
}

/** Why the peer `name` is not usable, or `undefined` when it is. */
export function whyMissing(name: PeerName): string | undefined {
  const known = detection(name);
  return "reason" in known ? known.reason : undefined;
}

const warned = new Set<PeerName>();

/**
 * Why a test must be skipped: a loud message naming the first of `names` that is not installed
 * (and what was found instead), else `false`.
 */
export function missing(...names: PeerName[]): string | false {
  for (const name of names) {
    const reason = whyMissing(name);
    if (reason === undefined) continue;
    const message = `!!! ${reason} (run "deno run -A scripts/peers.ts" as root)`;
    if (!warned.has(name)) {
      warned.add(name);
      console.warn(message);
    }
    return message;
  }
  return false;
}

/**
 * The peers' programs, as found by what they report (a peer that is not installed gives its
 * usual path, for messages; tests check {@linkcode missing} first).
 */
export const PEER: Readonly<Record<PeerName, string>> = Object.defineProperties(
  {} as Record<PeerName, string>,
  Object.fromEntries(
    PEER_NAMES.map((name) => [name, {
      enumerable: true,
      get: () => findPeer(name)?.program ?? SPECS[name].candidates[0],
    }]),
  ),
);

/** The directory of ProFTPD's loadable modules (mod_tls.so), beside the ProFTPD found. */
export function proftpdModules(): string {
  return join(dirname(PEER.proftpd), "../lib/proftpd");
}

/** A UDP port on 127.0.0.1 that was free a moment ago (someone may take it: retry on failure). */
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

/** A TCP port on 127.0.0.1 that was free a moment ago (someone may take it: retry on failure). */
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

/** The result of a finished command. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`, exit code 124 then). */
export function runPeer(
  program: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      args,
      {
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 60_000,
        killSignal: "SIGKILL",
        maxBuffer: 16 << 20,
      },
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

/** A daemon ended before it listened (its port may have been taken: try another). */
export class DaemonExitedError extends Error {
  override name = "DaemonExitedError";
}

/** Where a daemon must listen before it counts as started. */
export type Listening = { tcp: number } | { udp: number };

/** The inodes of the sockets bound to `port` (TCP: listening) in /proc/net's tables. */
async function socketInodes(protocol: "tcp" | "udp", port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of [protocol, `${protocol}6`]) {
    const text = await readFile(`/proc/net/${table}`, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || !fields[1].endsWith(`:${hexPort}`)) continue;
      if (protocol === "tcp" && fields[3] !== "0A") continue; // TCP_LISTEN
      inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * Whether process `pid` itself holds a socket bound to `port`: read from /proc, so a port that
 * someone else took in the meantime is not mistaken for the daemon's.
 */
async function holdsPort(pid: number, protocol: "tcp" | "udp", port: number): Promise<boolean> {
  const inodes = await socketInodes(protocol, port);
  if (inodes.size === 0) return false;
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && inodes.has(inode)) return true;
  }
  return false;
}

/**
 * Starts a daemon in its own process group and resolves once it listens where `listening` says
 * (bounded by `timeoutMs`). If it exits first, it rejects with a {@linkcode DaemonExitedError}
 * carrying its standard error.
 */
export async function startDaemon(
  program: string,
  args: string[],
  listening: Listening,
  timeoutMs: number = WAIT_MS,
): Promise<Daemon> {
  const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr?.on("data", (chunk) => (stderr = (stderr + chunk).slice(-8192)));
  let ended: string | undefined;
  child.once("error", (error) => (ended ??= error.message));
  child.once("exit", (code, signal) => (ended ??= `exit code ${code ?? signal}`));
  const exited = () => child.exitCode !== null || child.signalCode !== null || ended !== undefined;
  const daemon: Daemon = {
    child,
    async stop() {
      if (child.pid === undefined || exited()) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      await within(gone, `${program} (pid ${child.pid}) to exit after SIGKILL`);
    },
  };
  const [protocol, port] = "tcp" in listening
    ? ["tcp" as const, listening.tcp]
    : ["udp" as const, listening.udp];
  try {
    await until(
      async () => {
        if (exited()) {
          throw new DaemonExitedError(
            `${program} ended (${ended ?? "exited"}) before it listened on ${protocol} port ` +
              `${port}: ${stderr.trim()}`,
          );
        }
        return child.pid !== undefined && await holdsPort(child.pid, protocol, port);
      },
      `${program} to listen on ${protocol} port ${port}`,
      timeoutMs,
      25,
    );
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  return daemon;
}

/**
 * Runs `start` with a free port of `protocol`; when the daemon it starts ends before listening
 * (someone took the port meanwhile), tries again with another port, at most `attempts` times.
 */
export async function onFreePort<T>(
  protocol: "tcp" | "udp",
  start: (port: number) => Promise<T>,
  attempts = 5,
): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = protocol === "tcp" ? await freeTcpPort() : await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (!(error instanceof DaemonExitedError)) throw error;
      last = error;
    }
  }
  throw last;
}

/**
 * How each TFTP daemon serves `dir` on `host` (default 127.0.0.1) and `port` in the foreground
 * (see peers.md). tftpd-hpa takes an IPv6 address in brackets: `-a [::1]:PORT`.
 */
export const TFTPD_ARGS: Readonly<
  Record<"tftpdHpa" | "atftpd", (dir: string, port: number, host?: string) => string[]>
> = {
  tftpdHpa: (dir, port, host = "127.0.0.1") => [
    "-L",
    "-a",
    `${host.includes(":") ? `[${host}]` : host}:${port}`,
    "-s",
    dir,
    "-u",
    "root",
  ],
  atftpd: (dir, port, host = "127.0.0.1") => [
    "--daemon",
    "--no-fork",
    "--port",
    String(port),
    "--bind-address",
    host,
    "--user",
    "root.root",
    dir,
  ],
};

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
