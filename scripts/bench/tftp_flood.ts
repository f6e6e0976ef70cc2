/**
 * TFTP flood and amplification benchmark: the ftkit server (Deno, Bun, Node, each as a child
 * process running `ftkit tftp serve`) next to tftpd-hpa and atftpd, in one run, on 127.0.0.0/8.
 *
 * - Flood: N RRQs for a large file from N sources within a few seconds, never acknowledged (as
 *   forged requests would be). The sources are N ports of 127.0.0.1, or N addresses of 127/8 (the
 *   per-client limits do not apply then). Prints the server's peak memory (RSS, and PSS summed
 *   over its process tree: tftpd-hpa forks a process per request), its memory once the flood is
 *   over, the bytes it sent per request, and how many requests it refused with an ERROR.
 * - Amplification: forged requests (never answered) from distinct addresses; prints the bytes the
 *   server sent to each victim per request and the ratio of bytes out to bytes in, next to the
 *   peers' figures. Attacks: a plain RRQ; an RRQ asking for blksize 65464 and windowsize 64
 *   followed by blind ACKs 0..10 to the server's port (which drive a single-port server).
 *
 * A run ends for a server once it has sent nothing for `--quiet` seconds (its retransmissions are
 * over), or after 150 s.
 *
 * Usage: deno run -A scripts/bench/tftp_flood.ts [--flood N] [--seconds S] [--forged N]
 *   [--quiet S] [--only flood|amplification] [--runtimes deno,bun,node]
 *   Needs the peers (scripts/peers.ts) and, for Node, the npm build (scripts/build_npm.ts).
 *
 * @module
 */

import { findPeer, PEER, TFTPD_ARGS } from "../../tests/interop/_peers.ts";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createSocket, type Socket } from "node:dgram";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { freeUdpPort } from "./_udp_port.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => join(root, "node_modules/.bin", name);
const { values } = parseArgs({
  args: Deno.args,
  options: {
    flood: { type: "string" },
    seconds: { type: "string" },
    forged: { type: "string" },
    quiet: { type: "string" },
    only: { type: "string" },
    runtimes: { type: "string" },
  },
});
const floodCount = Number(values.flood ?? 5000);
const floodSeconds = Number(values.seconds ?? 3);
const forgedCount = Number(values.forged ?? 20);
const quietMs = Number(values.quiet ?? 15) * 1000;
const only = values.only;
const runtimes = (values.runtimes ?? "deno,bun,node").split(",") as Runtime[];
const LONGEST_MS = 150_000;

type Runtime = "deno" | "bun" | "node";

interface ServerSpec {
  name: string;
  /** Serves `dir` on 127.0.0.1:`port`. */
  command(dir: string, port: number): [string, string[]] | undefined;
}

function ftkit(runtime: Runtime, label: string, extra: string[] = []): ServerSpec {
  return {
    name: `ftkit/${runtime}${label}`,
    command(dir, port) {
      const args = ["tftp", "serve", dir, "--host", "127.0.0.1", "--port", String(port)];
      args.push("--quiet", ...extra);
      if (runtime === "deno") return [bin("deno"), ["run", "-A", join(root, "cli.ts"), ...args]];
      if (runtime === "bun") return [bin("bun"), [join(root, "cli.ts"), ...args]];
      const cli = join(root, "npm/cli.js");
      return existsSync(cli) ? ["node", [cli, ...args]] : undefined;
    },
  };
}

// The peers as found by what they report (tftpd-hpa's in.tftpd may be atftpd's).
const tftpdHpa: ServerSpec = {
  name: "tftpd-hpa",
  command: (dir, port) =>
    findPeer("tftpdHpa")
      ? [PEER.tftpdHpa, [...TFTPD_ARGS.tftpdHpa(dir, port), "-B", "65464"]]
      : undefined,
};

const atftpd: ServerSpec = {
  name: "atftpd",
  command: (dir, port) =>
    findPeer("atftpd") ? [PEER.atftpd, TFTPD_ARGS.atftpd(dir, port)] : undefined,
};

// --- sockets and packets ---

const encoder = new TextEncoder();

function rrq(filename: string, options: Record<string, number> = {}): Uint8Array {
  const parts = [filename, "octet"];
  for (const [name, value] of Object.entries(options)) parts.push(name, String(value));
  const text = encoder.encode(parts.map((part) => part + "\0").join(""));
  const out = new Uint8Array(2 + text.length);
  out[1] = 1;
  out.set(text, 2);
  return out;
}

function ack(block: number): Uint8Array {
  return new Uint8Array([0, 4, block >> 8, block & 0xff]);
}

/** The i-th source address of 127/8 (never 127.0.0.1, never .0 or .255). */
function sourceAddress(i: number): string {
  return `127.${100 + Math.floor(i / 62500)}.${(Math.floor(i / 250) % 250) + 1}.${(i % 250) + 1}`;
}

/** A socket that counts what arrives and never answers: a victim, or a forged source. */
interface Victim {
  socket: Socket;
  bytesIn: number;
  datagrams: number;
  errors: number;
  /** DATA or OACK datagrams: a transfer was started for it. */
  served: number;
}

let lastArrival = 0;

function victim(address: string): Promise<Victim> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    const entry: Victim = { socket, bytesIn: 0, datagrams: 0, errors: 0, served: 0 };
    socket.on("error", reject);
    socket.on("message", (message) => {
      entry.bytesIn += message.length;
      entry.datagrams++;
      if (message[1] === 5) entry.errors++;
      if (message[1] === 3 || message[1] === 6) entry.served++;
      lastArrival = performance.now();
    });
    socket.bind(0, address, () => resolve(entry));
  });
}

function send(socket: Socket, bytes: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve) => socket.send(bytes, port, "127.0.0.1", () => resolve()));
}

function closeAll(victims: Victim[]): Promise<unknown> {
  return Promise.all(
    victims.map((v) => new Promise<void>((resolve) => v.socket.close(() => resolve()))),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the server process and its memory ---

interface Running {
  pid: number;
  stop(): Promise<void>;
}

/** Starts the server in its own process group; resolves once it answers a request. */
async function start(spec: ServerSpec, dir: string, port: number): Promise<Running | undefined> {
  const command = spec.command(dir, port);
  if (!command) return undefined;
  const child = spawn(command[0], command[1], { stdio: "ignore", detached: true });
  const running: Running = {
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        process.kill(-child.pid!, "SIGKILL");
      }),
  };
  const probe = await victim("127.0.0.1");
  try {
    // Bounded: 100 tries, 200 ms apart.
    for (let i = 0; i < 100 && probe.datagrams === 0 && child.exitCode === null; i++) {
      await send(probe.socket, rrq("no-such-file.bin"), port);
      await sleep(200);
    }
  } finally {
    await closeAll([probe]);
  }
  if (probe.datagrams === 0) {
    await running.stop();
    throw new Error(
      child.exitCode !== null
        ? `${spec.name} exited at once (code ${child.exitCode}): not available`
        : `${spec.name} does not answer on port ${port}`,
    );
  }
  return running;
}

interface Memory {
  rss: number;
  pss: number;
}

/** RSS and PSS in bytes, summed over every process of the group `pgid`. */
function groupMemory(pgid: number): Memory {
  let rss = 0;
  let pss = 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // Fields after the command's closing parenthesis: state, ppid, pgrp, ...
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      const rollup = readFileSync(`/proc/${name}/smaps_rollup`, "utf8");
      rss += Number(rollup.match(/^Rss:\s+(\d+)/m)?.[1] ?? 0) * 1024;
      pss += Number(rollup.match(/^Pss:\s+(\d+)/m)?.[1] ?? 0) * 1024;
    } catch {
      // Gone meanwhile.
    }
  }
  return { rss, pss };
}

/** Samples the group's memory until `done()`; returns the peak. */
function sampler(pgid: number): { stop(): Promise<Memory> } {
  const peak: Memory = { rss: 0, pss: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const now = groupMemory(pgid);
      peak.rss = Math.max(peak.rss, now.rss);
      peak.pss = Math.max(peak.pss, now.pss);
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** Waits until nothing has arrived for `quietMs` (the server gave up), at most LONGEST_MS. */
async function untilQuiet(since: number): Promise<number> {
  lastArrival = Math.max(lastArrival, since);
  while (performance.now() - lastArrival < quietMs && performance.now() - since < LONGEST_MS) {
    await sleep(250);
  }
  return (lastArrival - since) / 1000;
}

const mb = (bytes: number) => (bytes / 1048576).toFixed(1);

// --- the runs ---

interface FloodResult {
  name: string;
  baseline: Memory;
  peak: Memory;
  after: Memory;
  bytesPerRequest: number;
  ratio: number;
  refused: number;
  served: number;
  unanswered: number;
  seconds: number;
}

async function flood(
  spec: ServerSpec,
  dir: string,
  sources: "ports" | "addresses",
): Promise<FloodResult | undefined> {
  const port = await freeUdpPort();
  const server = await start(spec, dir, port);
  if (!server) {
    console.log(`${spec.name}: not available, skipped`);
    return undefined;
  }
  const victims: Victim[] = [];
  try {
    await sleep(500);
    const baseline = groupMemory(server.pid);
    const request = rrq("big.bin");
    const memory = sampler(server.pid);
    const started = performance.now();
    // Spread evenly over the flood's seconds, in ticks of 10 ms.
    const ticks = Math.max(1, Math.round(floodSeconds * 100));
    const perTick = Math.ceil(floodCount / ticks);
    for (let sent = 0; sent < floodCount;) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < perTick && sent < floodCount; i++, sent++) {
        const address = sources === "ports" ? "127.0.0.1" : sourceAddress(sent);
        batch.push(
          victim(address).then((v) => {
            victims.push(v);
            return send(v.socket, request, port);
          }),
        );
      }
      await Promise.all(batch);
      const due = started + (sent / floodCount) * floodSeconds * 1000;
      if (due > performance.now()) await sleep(due - performance.now());
    }
    const seconds = await untilQuiet(started);
    const peak = await memory.stop();
    const after = groupMemory(server.pid);
    const bytesOut = victims.reduce((sum, v) => sum + v.bytesIn, 0);
    return {
      name: spec.name,
      baseline,
      peak,
      after,
      bytesPerRequest: bytesOut / floodCount,
      ratio: bytesOut / (floodCount * request.length),
      refused: victims.filter((v) => v.served === 0 && v.errors > 0).length,
      served: victims.filter((v) => v.served > 0).length,
      unanswered: victims.filter((v) => v.datagrams === 0).length,
      seconds,
    };
  } finally {
    await server.stop();
    await closeAll(victims);
  }
}

interface AmplificationResult {
  name: string;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
}

async function amplification(
  spec: ServerSpec,
  dir: string,
  attack: "plain" | "blind-acks",
): Promise<AmplificationResult | undefined> {
  const port = await freeUdpPort();
  const server = await start(spec, dir, port);
  if (!server) return undefined;
  const victims: Victim[] = [];
  try {
    for (let i = 0; i < forgedCount; i++) victims.push(await victim(sourceAddress(i)));
    const request = attack === "plain"
      ? rrq("big.bin")
      : rrq("big.bin", { blksize: 65464, windowsize: 64, tsize: 0 });
    let bytesIn = 0;
    const started = performance.now();
    await Promise.all(victims.map((v) => send(v.socket, request, port)));
    bytesIn += forgedCount * request.length;
    if (attack === "blind-acks") {
      // The attacker never sees the replies: ACK 0..10, one every 50 ms, to the server's port.
      for (let block = 0; block <= 10; block++) {
        await sleep(50);
        await Promise.all(victims.map((v) => send(v.socket, ack(block), port)));
        bytesIn += forgedCount * 4;
      }
    }
    const seconds = await untilQuiet(started);
    const bytesOut = victims.reduce((sum, v) => sum + v.bytesIn, 0);
    return {
      name: spec.name,
      bytesIn: bytesIn / forgedCount,
      bytesOut: bytesOut / forgedCount,
      seconds,
    };
  } finally {
    await server.stop();
    await closeAll(victims);
  }
}

const work = await mkdtemp(join(tmpdir(), "ftkit-flood-"));
try {
  // A large file: what a flood would ask for to make the server read the most.
  await writeFile(join(work, "big.bin"), new Uint8Array(64 * 1048576).fill(0x5a));
  const defaults = runtimes.map((runtime) => ftkit(runtime, ""));
  // Every limit lifted: all the flood's transfers are admitted, which shows the memory each one
  // costs while it waits.
  const unlimited = runtimes.map((runtime) =>
    ftkit(runtime, " unlimited", [
      "--max-transfers",
      "unlimited",
      "--max-transfers-per-client",
      "unlimited",
      "--request-rate",
      "unlimited",
    ])
  );
  const peers = [tftpdHpa, atftpd];
  console.log(
    `TFTP flood and amplification over 127/8: ftkit (${runtimes.join(", ")}) next to ` +
      `tftpd-hpa and atftpd\n`,
  );

  if (!only || only === "amplification") {
    for (const attack of ["plain", "blind-acks"] as const) {
      console.log(
        attack === "plain"
          ? `== amplification: ${forgedCount} forged plain RRQs (no options), never answered ==`
          : `== amplification: ${forgedCount} forged RRQs (blksize 65464, windowsize 64, tsize) ` +
            `with blind ACKs 0..10 to the server's port ==`,
      );
      const specs = attack === "plain" ? [...peers, ...defaults] : [
        ...peers,
        ...defaults,
        ...runtimes.map((r) => ftkit(r, " --single-port", ["--single-port"])),
      ];
      const results: AmplificationResult[] = [];
      for (const spec of specs) {
        const result = await amplification(spec, work, attack).catch((error) => {
          console.log(`${spec.name}: ${error.message}`);
          return undefined;
        });
        if (!result) {
          console.log(`${spec.name}: not available, skipped`);
          continue;
        }
        results.push(result);
        const peerCells = results
          .filter((r) => peers.some((p) => p.name === r.name) && r.name !== result.name)
          .map((r) => `${(result.bytesOut / r.bytesOut).toFixed(2)}x ${r.name}`);
        console.log(
          `${result.name.padEnd(26)} ${result.bytesIn.toFixed(0).padStart(4)} B in, ` +
            `${result.bytesOut.toFixed(0).padStart(8)} B out per request: ` +
            `${(result.bytesOut / result.bytesIn).toFixed(1).padStart(7)}x amplification, ` +
            `last reply after ${result.seconds.toFixed(1)} s` +
            (peerCells.length > 0 ? ` (bytes out vs ${peerCells.join(", ")})` : ""),
        );
      }
      console.log("");
    }
  }

  if (!only || only === "flood") {
    for (const sources of ["addresses", "ports"] as const) {
      console.log(
        `== flood: ${floodCount} RRQs for a 64 MiB file in ${floodSeconds} s from ${floodCount} ` +
          `${sources === "ports" ? "ports of 127.0.0.1" : "addresses of 127/8"}, never answered ==`,
      );
      const specs = sources === "addresses" ? [...peers, ...defaults, ...unlimited] : [
        ...peers,
        ...defaults,
      ];
      const peerResults: FloodResult[] = [];
      for (const spec of specs) {
        const result = await flood(spec, work, sources).catch((error) => {
          console.log(`${spec.name}: ${error.message}`);
          return undefined;
        });
        if (!result) continue;
        if (peers.includes(spec)) peerResults.push(result);
        const perTransfer = (result.peak.pss - result.baseline.pss) / Math.max(1, result.served);
        // Next to each peer: peak PSS (the fair sum over a forking server's processes) and bytes.
        const versus = peers.includes(spec)
          ? ""
          : peerResults.map((peer) =>
            ` [vs ${peer.name}: peak PSS ${
              (result.peak.pss / peer.peak.pss).toFixed(2)
            }x, bytes out ${(result.bytesPerRequest / peer.bytesPerRequest).toFixed(2)}x]`
          ).join("");
        console.log(
          `${result.name.padEnd(26)} RSS ${mb(result.baseline.rss)} -> peak ${
            mb(result.peak.rss)
          } MiB (PSS peak ${mb(result.peak.pss)}, ${
            (perTransfer / 1024).toFixed(1)
          } KiB per transfer started), after ${mb(result.after.rss)} MiB; ` +
            `${result.bytesPerRequest.toFixed(0)} B out per request (${
              result.ratio.toFixed(1)
            }x); ${result.served} served, ${result.refused} refused with ERROR, ${result.unanswered} ` +
            `unanswered; quiet after ${result.seconds.toFixed(1)} s${versus}`,
        );
      }
      console.log("");
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
