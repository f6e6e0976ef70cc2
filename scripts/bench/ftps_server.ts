/**
 * FTPS server benchmark: ftkit's server on Deno, Bun and Node next to vsftpd (and pyftpdlib), in
 * one run, over loopback with TLS 1.3 and PROT P.
 *
 * - Throughput: curl (explicit TLS, `--ssl-reqd`, EPSV) downloads (RETR) and uploads (STOR) a
 *   file of `--size` MB; curl's own wall time per transfer, MB/s best of `--runs`, and the ratio
 *   ftkit/vsftpd. ftkit runs as its command (`ftkit ftps serve`). Sizes are checked every run and
 *   the upload's bytes compared once per server, outside the timing.
 * - Concurrency: `--clients` clients at once (one Node process, ftps_server_clients.mjs), each
 *   AUTH TLS, login, PBSZ 0, PROT P, EPSV, RETR of 1 MB on a resumed TLS data connection, QUIT,
 *   against ftkit (`ftkit ftps serve` with session limits above `--clients`), vsftpd and
 *   pyftpdlib; wall time best of `--runs`, failures, CPU time and the server's peak memory.
 * - Idle sessions: `--idle` clients (default 1000; one Node process) each AUTH TLS, login, PBSZ 0,
 *   PROT P, then stay idle, against ftkit on each runtime, pyftpdlib and vsftpd, each started
 *   afresh and measured once: the server's RSS and PSS, summed over its processes, once steady
 *   (sampled every 250 ms until four samples agree within 1%) before, while the sessions are
 *   held, and after every QUIT; KB per session. vsftpd runs two processes per logged-in session,
 *   so its RSS counts shared pages once per process: compare its PSS.
 * - Within each run the servers take turns, so that load from elsewhere falls on all alike.
 *
 * Usage: deno run -A scripts/bench/ftps_server.ts [--size MB] [--runs N] [--clients N]
 *          [--connects N] [--idle N] [--only throughput,concurrency,idle] [--semi-space MB]
 *   --connects: clients between their connect and the server's greeting at a time (default 16,
 *   0: all at once; vsftpd, with its listen backlog of 32, leaves some of a burst of 300 hanging).
 *   --semi-space: V8's `--max-semi-space-size` for ftkit on Deno and Node (its young generation).
 *   Needs vsftpd, pyftpdlib and curl (scripts/peers.ts), root (the upload directory belongs to
 *   the ftp user, and the servers and the client worker get room for their open files with
 *   prlimit), and the npm build (scripts/build_npm.ts) for Node.
 *
 * Memory, measured on 2 shared AMD EPYC cores (Deno 2.9.5, Bun 1.4.5, Node 20.20.2, pyftpdlib
 * 1.5.7, vsftpd 3.0.3, OpenSSL 3.0): first reading into new memory per chunk, then into one buffer
 * lent to the storage, then with those buffers budgeted by bytes and reused, and Node's young
 * generation held by the command (io/runtime.ts `holdYoungGeneration`):
 *
 * | server     | 1000 idle: RSS MB (KB/session)     | 300 concurrent RETR: peak RSS MB |
 * | ---------- | ---------------------------------- | -------------------------------- |
 * | ftkit/deno | 126.2 (74) -> 127.2 (75) -> 134.8  | 214-230 -> 200 -> 185-199        |
 * | ftkit/bun  | 85.2 (42) -> 88.0 (45) -> 92.0     | 253-321 -> 128 -> 88-97          |
 * | ftkit/node | 123.3 (74) -> 122.5 (73) -> 100.3  | 157-162 -> 115 -> 90-97          |
 * | pyftpdlib  | 60.9-61.1 (35)                     | 42-50                            |
 * | vsftpd     | PSS 659-662 (671-676 PSS)          | PSS 126-137 (RSS 2176-2313)      |
 *
 * With `--semi-space 1`: deno 113.1 MB (61 KB/session) idle and 162 MB at 300 concurrent, node
 * 103.1 MB (52) and 99 MB, at the same CPU time. What bounds ftkit there: the runtime itself
 * before any session (Deno 54, Bun 44, Node 51-55 MB of RSS; Python's 27 MB); V8's young
 * generation, which grows to 17-25 MB under the sessions' allocations and stays (the semi-space
 * cap); per session about 14-18 KB of JS objects (the TLS socket, the record-fed stream the
 * control connection needs for CCC and REIN, the session) and 30-37 KB of native memory (OpenSSL
 * and the runtime's socket and TLS wrappers); on Deno, the TLS records of downloads, which its
 * `node:tls` hands over in new buffers collected late (65-80 MB at the 300-client peak).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  chownFtp,
  FIXTURES,
  PASSWORD,
  PYFTPDLIB_SCRIPT,
  startVsftpd,
  USER,
} from "../../tests/interop/_ftps_servers.ts";
import { type Daemon, onFreePort, PEER, startDaemon } from "../../tests/interop/_peers.ts";
import {
  cpuSeconds,
  listenDrops,
  type Memory,
  memoryOf,
  processTree,
  procStatus,
  roomForFiles,
  run,
  running,
  startChild,
  steadyMemory,
  version,
} from "./_processes.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string" },
    runs: { type: "string" },
    clients: { type: "string" },
    connects: { type: "string" },
    idle: { type: "string" },
    only: { type: "string" },
    "semi-space": { type: "string" },
  },
});
const sizeMb = Number(values.size ?? 100);
const runs = Number(values.runs ?? 3);
const clients = Number(values.clients ?? 300);
const connects = Number(values.connects ?? 16);
const idle = Number(values.idle ?? 1000);
/** V8's young generation cap for ftkit on Deno and Node, MB (`--max-semi-space-size`), if given. */
const semiSpace = values["semi-space"];
if (semiSpace !== undefined && !(Number(semiSpace) > 0)) {
  throw new RangeError(`--semi-space: ${semiSpace}`);
}
const v8Flag = semiSpace === undefined ? [] : [`--max-semi-space-size=${semiSpace}`];
for (const [name, value] of Object.entries({ size: sizeMb, runs, clients, connects, idle })) {
  if (!Number.isInteger(value) || value < (name === "connects" ? 0 : 1)) {
    throw new RangeError(`--${name}: ${value}`);
  }
}
const PARTS = ["throughput", "concurrency", "idle"] as const;
const only = new Set((values.only ?? PARTS.join(",")).split(","));
for (const part of only) {
  if (!(PARTS as readonly string[]).includes(part)) {
    throw new RangeError(`--only: ${part} (${PARTS.join(", ")})`);
  }
}
/** Sessions a server must hold at once: the crowd's or the idle ones, and some room. */
const room = Math.max(clients, idle) + 16;
const SMALL = 1024 * 1024;
/** How long one client may take, all told (the client worker enforces it). */
const CLIENT_TIMEOUT_MS = 60_000;
/** How long one curl transfer may take. */
const CURL_TIMEOUT_MS = 120_000;
const ca = join(FIXTURES, "ca.pem");
const cert = join(FIXTURES, "leaf.pem");
const key = join(FIXTURES, "leaf.key");
const bin = (name: string) => join(root, "node_modules/.bin", name);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server under test: where it listens, who logs in, which process holds it. */
interface Target {
  port: number;
  user: string;
  password: string;
  pid: number;
  stop(): Promise<void>;
}

// --- the servers ---

/** ftkit's command, `ftkit ftps serve` (with `extra` flags), on a runtime; the port it printed. */
async function startFtkitCli(
  command: [string, string[]],
  top: string,
  extra: string[] = [],
): Promise<Target> {
  const [program, args] = command;
  const child = startChild(program, [
    ...args,
    "ftps",
    "serve",
    top,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--user",
    `${USER}:${PASSWORD}`,
    "--cert",
    cert,
    "--key",
    key,
    "--allow-write",
    "--quiet",
    ...extra,
  ]);
  try {
    const line = await child.line(30_000);
    const port = Number(/ on 127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
    if (!port) throw new Error(`Unexpected first line: ${line}`);
    return { port, user: USER, password: PASSWORD, pid: child.child.pid!, stop: child.stop };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

function fromDaemon(daemon: Daemon, port: number, user: string, password: string): Target {
  return { port, user, password, pid: daemon.child.pid!, stop: () => daemon.stop() };
}

/**
 * vsftpd as the interop launcher configures it (anonymous users, TLS required, session reuse
 * required), plus room for every client from one address: its defaults are 2000 sessions and 50
 * per address, and the launcher has no option for them. The launcher writes the configuration;
 * its server is stopped and a new one started on the same configuration with the limits added.
 */
async function startRoomyVsftpd(dir: string, top: string): Promise<Target> {
  const probe = await startVsftpd(dir, top);
  await probe.stop();
  const config = join(dir, `vsftpd-${probe.port}.conf`);
  const text = await readFile(config, "utf8").catch(() => {
    throw new Error(`No ${config}: has startVsftpd changed where it writes its configuration?`);
  });
  await writeFile(config, `${text}max_clients=${room}\nmax_per_ip=${room}\n`);
  const daemon = await startDaemon(PEER.vsftpd, [config], { tcp: probe.port });
  return fromDaemon(daemon, probe.port, "anonymous", "");
}

/**
 * pyftpdlib as the interop launcher runs it (TLS_FTPHandler, TLS required on control and data,
 * its default single-process async server), with `max_cons` raised: it counts every socket of
 * the server (control, data and passive listeners), 512 by default, below two per client. Its
 * log is cut to warnings, as vsftpd's and ftkit's are off.
 */
async function startRoomyPyftpdlib(top: string): Promise<Target> {
  return await onFreePort("tcp", async (port) => {
    const daemon = await startDaemon(PEER.python, [
      "-c",
      PYFTPDLIB_SCRIPT,
      String(port),
      top,
      cert,
      key,
      USER,
      PASSWORD,
      "no",
      String(Math.max(4 * clients, 2 * idle) + 16),
      "quiet",
    ], { tcp: port });
    return fromDaemon(daemon, port, USER, PASSWORD);
  });
}

// --- the measurements ---

/** One curl transfer: its seconds (curl's time_total) and bytes moved. */
async function curl(target: Target, args: string[]): Promise<{ seconds: number; bytes: number }> {
  const out = await run(PEER.curl, [
    "-sS",
    "--ssl-reqd",
    "--tlsv1.3",
    "--cacert",
    ca,
    "--ftp-pasv",
    "--max-time",
    String(CURL_TIMEOUT_MS / 1000),
    ...(target.password ? ["--user", `${target.user}:${target.password}`] : []),
    "-w",
    "%{time_total} %{size_download} %{size_upload}",
    ...args,
  ], CURL_TIMEOUT_MS + 10_000);
  const [seconds, down, up] = out.trim().split(" ").map(Number);
  return { seconds, bytes: Math.max(down, up) };
}

/** One RETR and one STOR of the big file, seconds each; with `compare`, the stored bytes are
 * compared with the sent ones (after the timing). */
async function transfers(
  target: Target,
  pub: string,
  compare: string | undefined,
): Promise<{ retr: number; stor: number }> {
  const size = sizeMb * 1024 * 1024;
  const url = `ftp://127.0.0.1:${target.port}/pub`;
  const uploaded = join(pub, "up.bin");
  const retr = await curl(target, [`${url}/big.bin`, "-o", "/dev/null"]);
  if (retr.bytes !== size) throw new Error(`RETR moved ${retr.bytes} bytes, not ${size}`);
  await rm(uploaded, { force: true });
  try {
    const stor = await curl(target, ["-T", join(pub, "big.bin"), `${url}/up.bin`]);
    const stored = (await stat(uploaded)).size;
    if (stor.bytes !== size || stored !== size) {
      throw new Error(`STOR sent ${stor.bytes} bytes, stored ${stored}, not ${size}`);
    }
    if (compare) {
      const hash = createHash("sha256").update(await readFile(uploaded)).digest("hex");
      if (hash !== compare) throw new Error("STOR stored other bytes than were sent");
    }
    return { retr: retr.seconds, stor: stor.seconds };
  } finally {
    await rm(uploaded, { force: true });
  }
}

/** What the client worker reports for one crowd. */
interface Crowd {
  wallMs: number;
  failures: number;
  errors: Record<string, number>;
  clientMs: { min: number; median: number; max: number };
  cpuMs: { user: number; system: number };
  listenDrops: number;
  /** CPU seconds the server spent, sessions winding down included. */
  serverCpu: number;
}

/** Open files a process needs for `sessions` sessions (a control and a data connection, a
 * passive listener each) and its own. */
const filesFor = (sessions: number) => 3 * sessions + 256;

/** The client worker, for `count` clients against `target`, started and ready ("-": idle). */
async function clientWorker(target: Target, path: string, size: number, count: number) {
  const worker = startChild("node", [
    join(root, "scripts/bench/ftps_server_clients.mjs"),
    String(target.port),
    ca,
    target.user,
    target.password,
    path,
    String(size),
    String(count),
    String(connects),
    String(CLIENT_TIMEOUT_MS),
  ]);
  try {
    const ready = await worker.line(30_000);
    if (ready !== "ready") throw new Error(`Client worker: ${ready} ${worker.stderr()}`);
    await roomForFiles(worker.child.pid!, filesFor(count));
    await roomForFiles(target.pid, filesFor(count));
    return worker;
  } catch (error) {
    await worker.stop();
    throw error;
  }
}

/** `clients` clients at once against `target`; with `sample`, the server's memory meanwhile. */
async function crowd(
  target: Target,
  sample?: (pids: number[]) => void,
): Promise<Crowd> {
  const worker = await clientWorker(target, "pub/small.bin", SMALL, clients);
  let sampling = sample !== undefined;
  try {
    const sampler = (async () => {
      while (sampling) {
        sample!(processTree(target.pid));
        await sleep(5);
      }
    })();
    const drops = listenDrops();
    const cpu = cpuSeconds(target.pid);
    worker.child.stdin!.write("go\n");
    const report = JSON.parse(await worker.line(CLIENT_TIMEOUT_MS + 30_000));
    sampling = false;
    await sampler;
    await sleep(500); // Let the sessions wind down (vsftpd's processes exit and are reaped).
    return {
      ...report,
      listenDrops: listenDrops() - drops,
      serverCpu: cpuSeconds(target.pid) - cpu,
    };
  } finally {
    sampling = false;
    await worker.stop();
  }
}

/** The peak memory of a server of many processes, sampled as fast as it goes during a crowd
 * (not timed: the sampling takes CPU from client and server). */
async function sampledPeak(
  target: Target,
): Promise<{ rssMb: number; pssMb: number; processes: number; crowd: Crowd }> {
  let peak = { rss: 0, pss: 0, processes: 0 };
  let pss = 0;
  const sampled = await crowd(target, (pids) => {
    const now = memoryOf(pids);
    if (now.rss > peak.rss) peak = now;
    pss = Math.max(pss, now.pss);
  });
  return {
    rssMb: peak.rss / 1024,
    pssMb: pss / 1024,
    processes: peak.processes,
    crowd: sampled,
  };
}

/** What holding `idle` idle sessions costs a server. */
interface Idle {
  /** Before the sessions, while they are held, and after they have all quit. */
  before: Memory;
  holding: Memory;
  after: Memory;
  failures: number;
  errors: Record<string, number>;
  /** Sessions whose QUIT was answered, at the end. */
  quits: number;
  /** Setting up the sessions (connect, TLS, login, PBSZ, PROT), wall ms. */
  wallMs: number;
}

/** `idle` sessions set up against `target` (AUTH TLS, login, PBSZ 0, PROT P), held idle, then
 * ended with QUIT; the server's steady memory before, meanwhile and after. */
async function idleSessions(target: Target): Promise<Idle> {
  const worker = await clientWorker(target, "-", 0, idle);
  try {
    const before = await steadyMemory(target.pid);
    worker.child.stdin!.write("go\n");
    const report = JSON.parse(await worker.line(CLIENT_TIMEOUT_MS + 30_000));
    const holding = await steadyMemory(target.pid);
    worker.child.stdin!.write("quit\n");
    const { quits } = JSON.parse(await worker.line(CLIENT_TIMEOUT_MS + 30_000));
    await sleep(500); // vsftpd's session processes exit and are reaped.
    const after = await steadyMemory(target.pid);
    return {
      before,
      holding,
      after,
      failures: report.failures,
      errors: report.errors,
      quits,
      wallMs: report.wallMs,
    };
  } finally {
    await worker.stop();
  }
}

/** A server in a comparison: once started, its process; its results; why it failed, if it did. */
interface Entry<T> {
  name: string;
  target?: Target;
  results: T[];
  error?: string;
}

const message = (error: unknown) => String((error as Error)?.message ?? error).slice(0, 300);

/** Starts a server for `name` (its failure is kept, not thrown); `started` gets it to stop. */
async function entry<T>(
  name: string,
  start: () => Promise<Target>,
  started: Target[],
): Promise<Entry<T>> {
  try {
    const target = await start();
    started.push(target);
    return { name, target, results: [] };
  } catch (error) {
    return { name, results: [], error: message(error) };
  }
}

/** `runs` rounds; each measures every server still standing once, in turn, so that load from
 * elsewhere on the machine falls on all of them alike. */
async function rounds<T>(
  entries: Entry<T>[],
  measure: (target: Target, round: number) => Promise<T>,
): Promise<void> {
  for (let round = 0; round < runs; round++) {
    for (const each of entries) {
      if (!each.target || each.error) continue;
      try {
        each.results.push(await measure(each.target, round));
      } catch (error) {
        each.error = message(error);
      }
    }
  }
}

// --- the run ---

const runtimes: Record<string, [string, string[]]> = {
  deno: [bin("deno"), [
    "run",
    "-A",
    ...v8Flag.map((flag) => `--v8-flags=${flag}`),
    join(root, "cli.ts"),
  ]],
  bun: [bin("bun"), [join(root, "cli.ts")]],
  node: ["node", [...v8Flag, join(root, "npm/cli.js")]],
};

const versions = {
  deno: (await version(bin("deno"), ["--version"])).replace(/ \(.*/, ""),
  bun: `bun ${await version(bin("bun"), ["--version"])}`,
  node: `node ${await version("node", ["--version"])}`,
  vsftpd: `vsftpd ${await version("dpkg-query", ["-W", "-f", "${Version}", "vsftpd"])}`,
  pyftpdlib: `pyftpdlib ${await version(PEER.python, [
    "-c",
    "import pyftpdlib, OpenSSL; print(pyftpdlib.__ver__, 'pyOpenSSL', OpenSSL.__version__)",
  ])}`,
  curl: (await version(PEER.curl, ["--version"])).split(" ").slice(0, 2).join(" "),
  openssl: await version(PEER.openssl, ["version"]),
};
const cpu = cpus();
const load = () => loadavg().map((value) => value.toFixed(2)).join(" ");

const dir = await mkdtemp(join(tmpdir(), "ftkit-bench-ftps-server-"));
const top = join(dir, "top");
const pub = join(top, "pub");
const started: Target[] = [];
const notes: string[] = [];
/** ftkit's session limits: room for every client from one address. */
const LIMITS = ["--max-sessions", String(room), "--max-sessions-per-ip", String(room)];
/** The vsftpd of the throughput and concurrency runs, started on first use. */
let sharedVsftpd: Target | undefined;
const roomyVsftpd = async (): Promise<Target> => {
  if (!sharedVsftpd) {
    sharedVsftpd = await startRoomyVsftpd(dir, top);
    started.push(sharedVsftpd);
  }
  return sharedVsftpd;
};
// Interrupted: every server and client goes, and the directory, as at a normal end.
const interrupt = async () => {
  for (const child of running) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  for (const target of started) await target.stop();
  await rm(dir, { recursive: true, force: true });
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", interrupt);
Deno.addSignalListener("SIGTERM", interrupt);
try {
  await mkdir(pub, { recursive: true });
  await chmod(dir, 0o755);
  await chmod(top, 0o755);
  const big = new Uint8Array(sizeMb * 1024 * 1024);
  for (let at = 0; at < big.length; at += 65536) {
    crypto.getRandomValues(big.subarray(at, at + 65536));
  }
  await writeFile(join(pub, "big.bin"), big);
  const bigHash = createHash("sha256").update(big).digest("hex");
  await writeFile(join(pub, "small.bin"), big.subarray(0, SMALL));
  await chownFtp(pub, join(pub, "big.bin"), join(pub, "small.bin"));

  console.log(
    `Runtimes and peers: ${versions.deno}, ${versions.bun}, ${versions.node}, ${versions.vsftpd}, ` +
      `${versions.pyftpdlib}, ${versions.curl}, ${versions.openssl}`,
  );
  console.log(
    `Machine: ${cpu.length} x ${cpu[0]?.model ?? "?"}, Linux ${Deno.osRelease()}; ` +
      `load average at start ${load()}`,
  );
  console.log(
    `Parameters: --size ${sizeMb} --runs ${runs} --clients ${clients} --connects ${connects} ` +
      `--idle ${idle} --only ${[...only].join(",")}` +
      (semiSpace === undefined ? "; " : ` --semi-space ${semiSpace} (Deno, Node); `) +
      "loopback, TLS 1.3, PROT P; the servers take turns within each run",
  );
  console.log();

  if (only.has("throughput")) {
    // Throughput: vsftpd and ftkit's command on each runtime.
    const vsftpd = await roomyVsftpd();
    const moving: Entry<{ retr: number; stor: number }>[] = [
      { name: "vsftpd", target: vsftpd, results: [] },
    ];
    for (const [runtime, cli] of Object.entries(runtimes)) {
      moving.push(await entry(`ftkit/${runtime}`, () => startFtkitCli(cli, top), started));
    }
    await rounds(moving, (target, round) => transfers(target, pub, round === 0 ? bigHash : ""));
    const peaks = new Map<string, number | undefined>();
    for (const each of moving.slice(1)) {
      const peak = each.target && procStatus(each.target.pid)?.VmHWM;
      peaks.set(each.name, peak ? peak / 1024 : undefined);
      await each.target?.stop();
    }
    const mbps = (seconds: number[]) => sizeMb * 1.048576 / Math.min(...seconds);
    console.log(
      `Throughput: ${sizeMb} MB, curl client (explicit TLS, --ssl-reqd, EPSV), ` +
        `MB/s best of ${runs} (ratio to vsftpd); ftkit as "ftkit ftps serve", its VmHWM after ` +
        `the runs`,
    );
    console.log("server".padEnd(16) + "RETR".padEnd(20) + "STOR".padEnd(20) + "peak RSS MB");
    const base = moving[0];
    for (const each of moving) {
      if (each.error || each.results.length === 0) {
        console.log(each.name.padEnd(16) + "failed");
        notes.push(`${each.name} throughput: ${each.error}`);
        continue;
      }
      const cell = (way: "retr" | "stor") => {
        const rate = mbps(each.results.map((result) => result[way]));
        const ratio = each === base || base.error
          ? ""
          : ` (${(rate / mbps(base.results.map((result) => result[way]))).toFixed(2)}x)`;
        return `${rate.toFixed(1)}${ratio}`.padEnd(20);
      };
      console.log(
        each.name.padEnd(16) + cell("retr") + cell("stor") +
          (peaks.get(each.name)?.toFixed(1) ?? "-"),
      );
    }
    console.log();
  }
  if (only.has("concurrency")) {
    // Concurrency: vsftpd, ftkit's command on each runtime with room for every client from one
    // address, pyftpdlib.
    const vsftpd = await roomyVsftpd();
    const crowding: (Entry<Crowd> & { idleRssMb?: number })[] = [
      { name: "vsftpd", target: vsftpd, results: [] },
    ];
    for (const [runtime, cli] of Object.entries(runtimes)) {
      crowding.push(
        await entry(`ftkit/${runtime}`, () => startFtkitCli(cli, top, LIMITS), started),
      );
    }
    crowding.push(await entry("pyftpdlib", () => startRoomyPyftpdlib(top), started));
    for (const each of crowding) {
      if (each.target) each.idleRssMb = memoryOf(processTree(each.target.pid)).rss / 1024;
    }
    await rounds(crowding, (target) => crowd(target));
    const forked = await sampledPeak(vsftpd).catch((error) => message(error));
    console.log(
      `Concurrency: ${clients} clients at once (one Node process, node:tls), each AUTH TLS, ` +
        `login, PBSZ 0, PROT P, EPSV, RETR 1 MB (data TLS resumed), QUIT; ` +
        `${connects || "all"} connecting at a time; best of ${runs}`,
    );
    console.log(
      "server".padEnd(16) + "time s".padEnd(9) + "clients/s".padEnd(11) + "vs vsftpd".padEnd(11) +
        "peak RSS MB".padEnd(13) + "idle RSS MB".padEnd(13) + "failures".padEnd(10) +
        "client ms min/med/max".padEnd(24) + "server CPU s".padEnd(14) + "client CPU s".padEnd(14) +
        "listen drops",
    );
    const best = (results: Crowd[]) => results.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
    const vsftpdTime = crowding[0].results.length > 0
      ? best(crowding[0].results).wallMs
      : undefined;
    for (const each of crowding) {
      const all = [
        ...each.results,
        ...(each === crowding[0] && typeof forked !== "string" ? [forked.crowd] : []),
      ];
      const failures = all.reduce((sum, result) => sum + result.failures, 0);
      for (const result of all) {
        for (const [text, count] of Object.entries(result.errors)) {
          notes.push(`${each.name}: ${count} x ${text}`);
        }
      }
      if (each.error) notes.push(`${each.name} concurrency: ${each.error}`);
      if (each.results.length === 0) {
        console.log(each.name.padEnd(16) + "failed");
        continue;
      }
      const fastest = best(each.results);
      const ms = fastest.clientMs;
      const peak = each === crowding[0]
        ? (typeof forked === "string" ? undefined : forked.rssMb)
        : (procStatus(each.target!.pid)?.VmHWM ?? NaN) / 1024;
      console.log(
        each.name.padEnd(16) + (fastest.wallMs / 1000).toFixed(2).padEnd(9) +
          (clients / fastest.wallMs * 1000).toFixed(0).padEnd(11) +
          (vsftpdTime ? `${(fastest.wallMs / vsftpdTime).toFixed(2)}x` : "-").padEnd(11) +
          (peak?.toFixed(1) ?? "-").padEnd(13) + (each.idleRssMb?.toFixed(1) ?? "-").padEnd(13) +
          String(failures).padEnd(10) +
          (ms.min === undefined
            ? "-"
            : `${ms.min.toFixed(0)}/${ms.median.toFixed(0)}/${ms.max.toFixed(0)}`).padEnd(24) +
          fastest.serverCpu.toFixed(2).padEnd(14) +
          ((fastest.cpuMs.user + fastest.cpuMs.system) / 1000).toFixed(2).padEnd(14) +
          String(fastest.listenDrops),
      );
    }
    if (typeof forked === "string") notes.push(`vsftpd memory: ${forked}`);
    else {
      console.log(
        `Peak RSS: VmHWM of the server's process after all runs; for vsftpd (a process per session ` +
          `and one more per logged-in session) the peak sum of VmRSS over its processes, sampled ` +
          `during one more crowd (${forked.processes} processes at that peak; their shared ` +
          `pages are counted once per process: the peak sum of PSS was ` +
          `${forked.pssMb.toFixed(1)} MB).`,
      );
    }
    console.log(
      `time: from the start signal until the last client is done, measured in the client ` +
        `process; CPU s: of the server (its processes reaped by it included) and of the client ` +
        `process, in the best run, on ${cpu.length} CPUs; listen drops: connections the kernel ` +
        `dropped at a full listen queue during the best run (all sockets). ` +
        `Load average at the end: ${load()}.`,
    );
  }
  if (only.has("idle")) {
    // Idle sessions: each server started afresh, `idle` sessions set up and held.
    const idling: Entry<Idle>[] = [];
    for (const [runtime, cli] of Object.entries(runtimes)) {
      idling.push(await entry(`ftkit/${runtime}`, () => startFtkitCli(cli, top, LIMITS), started));
    }
    idling.push(await entry("pyftpdlib", () => startRoomyPyftpdlib(top), started));
    idling.push(await entry("vsftpd", () => startRoomyVsftpd(dir, top), started));
    // One server at a time, one run each; each is stopped once measured.
    for (const each of idling) {
      if (!each.target) continue;
      try {
        each.results.push(await idleSessions(each.target));
      } catch (error) {
        each.error = message(error);
      }
      await each.target.stop();
    }
    console.log(
      `Idle sessions: ${idle} clients (one Node process), each AUTH TLS, login, PBSZ 0, PROT P, ` +
        `then idle; ${connects || "all"} connecting at a time; the server's memory (summed over ` +
        `its processes) when steady before, while they are held, and after they have all quit`,
    );
    console.log(
      "server".padEnd(16) + "RSS MB before".padEnd(15) + `RSS MB, ${idle} idle`.padEnd(20) +
        "KB/session".padEnd(15) + "PSS MB before/idle".padEnd(20) + "RSS MB after".padEnd(14) +
        "processes".padEnd(11) + "set-up s".padEnd(10) + "failures",
    );
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    for (const each of idling) {
      if (each.error) notes.push(`${each.name} idle: ${each.error}`);
      const result = each.results[0];
      if (!result) {
        console.log(each.name.padEnd(16) + "failed");
        continue;
      }
      for (const [text, count] of Object.entries(result.errors)) {
        notes.push(`${each.name} idle: ${count} x ${text}`);
      }
      const held = idle - result.failures;
      if (result.quits !== held) {
        notes.push(`${each.name} idle: ${held - result.quits} of ${held} QUITs unanswered`);
      }
      const perSession = (way: "rss" | "pss") =>
        held > 0 ? ((result.holding[way] - result.before[way]) / held).toFixed(0) : "-";
      console.log(
        each.name.padEnd(16) + mb(result.before.rss).padEnd(15) +
          mb(result.holding.rss).padEnd(20) +
          `${perSession("rss")}/${perSession("pss")}`.padEnd(15) +
          `${mb(result.before.pss)}/${mb(result.holding.pss)}`.padEnd(20) +
          mb(result.after.rss).padEnd(14) + String(result.holding.processes).padEnd(11) +
          (result.wallMs / 1000).toFixed(1).padEnd(10) + String(result.failures),
      );
    }
    console.log(
      "KB/session: (held - before) / sessions held, of RSS and of PSS. vsftpd runs a process per session and " +
        "one more per logged-in session: its RSS counts the pages they share once per process, " +
        "its PSS divides them among them (compare its PSS).",
    );
    console.log();
  }
  for (const note of notes) console.log(note);
} finally {
  Deno.removeSignalListener("SIGINT", interrupt);
  Deno.removeSignalListener("SIGTERM", interrupt);
  for (const target of started) await target.stop();
  await rm(dir, { recursive: true, force: true });
}
