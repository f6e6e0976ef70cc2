/**
 * TFTP benchmark: ftkit next to real peers, in one run, over loopback. Prints MB/s and ratios.
 *
 * - curl reading from tftpd-hpa vs from the ftkit server (Deno, Bun, Node) at several blksizes,
 *   each next to the runtime's floor (`floor.mjs`: the least a lock-step server can do per block);
 * - the ftkit client (Deno, Bun, Node) vs curl, both reading from tftpd-hpa, each next to the
 *   runtime's client floor (`client_floor.mjs`: the least a lock-step client can do per block);
 * - ftkit client and server (each runtime with itself) with windowsize 16 and 64 vs atftp and
 *   atftpd (a transfer slower than 1 MB/s counts as stalled and is stopped);
 * - 200 concurrent 1 MB reads against the ftkit server vs tftpd-hpa, by curl (a process each),
 *   then by ftkit's own client (all of them in one process, scripts/bench/tftp_clients.mjs) from
 *   tftpd-hpa and from the ftkit server;
 * - the same concurrent reads against the ftkit server with `--workers 1` (every transfer on the
 *   server's thread) vs `--workers N` (default: the core count).
 *
 * The ftkit servers run as `ftkit tftp serve` does by default (a worker thread per core) unless
 * the group says otherwise. Each single-transfer figure is the median of `--repeat` runs (default
 * 3), and every long-running server (ftkit's, the floor, tftpd-hpa, atftpd) serves one untimed
 * transfer first: a runtime's first megabytes run before its compiler has warmed up, which is a
 * start-up cost, not the server's speed (a new process per transfer, as the clients are, keeps it).
 *
 * Usage: deno run -A scripts/bench/tftp.ts [--size MB] [--concurrent N] [--workers N]
 *   [--repeat N] [--only GROUP] (GROUP: server, client, window, concurrent, workers). Needs the peers
 *   (scripts/peers.ts) and the npm build (scripts/build_npm.ts) for Node.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
// The peers as they report themselves (/usr/sbin/in.tftpd may be atftpd's).
import { type Daemon, PEER, startDaemon, TFTPD_ARGS } from "../../tests/interop/_peers.ts";
import { freeUdpPort } from "./_udp_port.ts";
import { ftkitCommand, type Runtime } from "./_processes.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => join(root, "node_modules/.bin", name);
const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string" },
    concurrent: { type: "string" },
    workers: { type: "string" },
    repeat: { type: "string" },
    only: { type: "string" },
  },
});
const sizeMb = Number(values.size ?? 100);
const concurrent = Number(values.concurrent ?? 200);
const only = values.only;
const workers = Number(values.workers ?? availableParallelism());
const repeat = Math.max(1, Number(values.repeat ?? 3));

const RUNTIMES: readonly Runtime[] = ["deno", "bun", "node"];

/** Runs a command; resolves with its exit code and the seconds it took. */
function timed(
  program: string,
  args: string[],
  timeoutMs = 300_000,
): Promise<{ code: number; seconds: number; err: string }> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (chunk) => (err += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, seconds: (performance.now() - start) / 1000, err });
    });
  });
}

/** A server on UDP `port`, started once it holds the port. */
const daemon = (program: string, args: string[], port: number): Promise<Daemon> =>
  startDaemon(program, args, { udp: port });

const tftpdHpa = (dir: string, port: number) =>
  daemon(PEER.tftpdHpa, [...TFTPD_ARGS.tftpdHpa(dir, port), "-B", "65464"], port);
const atftpd = (dir: string, port: number) =>
  daemon(PEER.atftpd, TFTPD_ARGS.atftpd(dir, port), port);
const ftkitServer = (runtime: Runtime, dir: string, port: number, extra: string[] = []) => {
  const [program, args] = ftkitCommand(runtime, [
    "tftp",
    "serve",
    dir,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--quiet",
    "--max-windowsize",
    "64",
    // Every client of the benchmark is 127.0.0.1, and a thousand read at once: lift the limits
    // (tftpd-hpa has none).
    "--max-transfers",
    "unlimited",
    "--max-transfers-per-client",
    "unlimited",
    "--request-rate",
    "unlimited",
    ...extra,
  ]);
  return daemon(program, args, port);
};

const floorServer = (runtime: Runtime, file: string, port: number) => {
  const script = join(root, "scripts/bench/floor.mjs");
  if (runtime === "deno") {
    return daemon(bin("deno"), ["run", "-A", script, file, String(port)], port);
  }
  return daemon(runtime === "bun" ? bin("bun") : "node", [script, file, String(port)], port);
};

/** `concurrent` curl processes reading one.bin (1 MB) from `port` at once: seconds, and how many
 * read it whole. */
async function concurrentReads(
  work: string,
  port: number,
): Promise<{ seconds: number; ok: number }> {
  const start = performance.now();
  const results = await Promise.all(
    Array.from(
      { length: concurrent },
      (_, i) =>
        timed(PEER.curl, [
          "-sS",
          "--tftp-blksize",
          "1468",
          "-o",
          join(work, `c${i}.out`),
          `tftp://127.0.0.1:${port}/one.bin`,
        ]),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  let ok = 0;
  for (let i = 0; i < concurrent; i++) {
    const file = join(work, `c${i}.out`);
    if (results[i].code === 0 && existsSync(file) && (await stat(file)).size === 1_000_000) {
      ok++;
    }
    await rm(file, { force: true });
  }
  return { seconds, ok };
}

/** `concurrent` reads of one.bin (1 MB, blksize 1468) at once by ftkit's client on `runtime`, in
 * one process (scripts/bench/tftp_clients.mjs). */
async function clientReads(
  runtime: Runtime,
  port: number,
): Promise<{ seconds: number; ok: number; failures: string[] }> {
  const script = join(root, "scripts/bench/tftp_clients.mjs");
  const module = runtime === "node" ? join(root, "npm/mod.js") : join(root, "mod.ts");
  const args = [module, String(port), "one.bin", "1000000", String(concurrent), "1468"];
  const [program, prefix] = runtime === "deno"
    ? [bin("deno"), ["run", "-A", script]]
    : [runtime === "bun" ? bin("bun") : "node", [script]];
  const output = await new Promise<string>((resolve) => {
    const child = spawn(program, [...prefix, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    child.stdout.on("data", (chunk) => (text += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
    child.on("exit", () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  try {
    return JSON.parse(output.trim().split("\n").at(-1)!);
  } catch {
    return { seconds: NaN, ok: 0, failures: [`no result: ${output.slice(-200)}`] };
  }
}

const rows: string[][] = [];
function row(...cells: string[]) {
  rows.push(cells);
  console.log(cells.join("  |  "));
}
const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;
const fmt = (value: number) => value.toFixed(1);

async function measure(
  label: string,
  program: string,
  args: string[],
  out: string,
  bytes: number,
  timeoutMs?: number,
) {
  const runs: number[] = [];
  for (let run = 0; run < repeat; run++) {
    await rm(out, { force: true });
    const { code, seconds, err } = await timed(program, args, timeoutMs);
    const size = existsSync(out) ? (await stat(out)).size : -1;
    if (code !== 0 || size !== bytes) {
      const stalled = timeoutMs !== undefined && seconds * 1000 >= timeoutMs;
      const why = stalled
        ? `stalled: killed after ${timeoutMs / 1000} s`
        : err.trim().split("\n").at(-1) ?? "";
      console.log(`${label}: FAILED (exit ${code}, ${size} bytes) ${why}`);
      return NaN;
    }
    runs.push(mbps(bytes, seconds));
  }
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)];
}

/** One untimed read of big.bin from a server on `port` (curl, blksize 1468): its warm-up. */
async function warmUp(port: number): Promise<void> {
  await timed(PEER.curl, [
    "-sS",
    "--tftp-blksize",
    "1468",
    "-o",
    "/dev/null",
    `tftp://127.0.0.1:${port}/big.bin`,
  ]);
}

/** A peer that moves 1 MB/s or less counts as stalled. */
const stallLimitMs = (bytes: number) => Math.max(30_000, bytes / 1000);

const work = await mkdtemp(join(tmpdir(), "ftkit-bench-"));
try {
  const bytes = sizeMb * 1_000_000;
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) data[i] = (i * 2654435761) >>> 24;
  await writeFile(join(work, "big.bin"), data);
  const out = join(work, "out.bin");
  console.log(
    `TFTP benchmark: ${sizeMb} MB over loopback; MB/s (higher is better), ratio = ftkit / peer\n`,
  );

  if (!only || only === "server") {
    console.log("== curl reading from the server ==");
    const hpaPort = await freeUdpPort();
    const hpa = await tftpdHpa(work, hpaPort);
    const servers: [Runtime, number, Daemon][] = [];
    const floors: [Runtime, number, Daemon][] = [];
    for (const runtime of RUNTIMES) {
      const port = await freeUdpPort();
      servers.push([runtime, port, await ftkitServer(runtime, work, port)]);
      const floorPort = await freeUdpPort();
      floors.push([
        runtime,
        floorPort,
        await floorServer(runtime, join(work, "big.bin"), floorPort),
      ]);
    }
    for (const port of [hpaPort, ...[...servers, ...floors].map(([, port]) => port)]) {
      await warmUp(port);
    }
    for (const blksize of [512, 1468, 8192, 65464]) {
      const curlArgs = (
        port: number,
      ) => [
        "-sS",
        "--tftp-blksize",
        String(blksize),
        "-o",
        out,
        `tftp://127.0.0.1:${port}/big.bin`,
      ];
      const peer = await measure("tftpd-hpa", PEER.curl, curlArgs(hpaPort), out, bytes);
      const cells = [`blksize ${blksize}`, `tftpd-hpa ${fmt(peer)}`];
      for (const [runtime, port] of servers) {
        const ours = await measure(`ftkit ${runtime}`, PEER.curl, curlArgs(port), out, bytes);
        const [, floorPort] = floors.find(([name]) => name === runtime)!;
        const floor = await measure(`floor ${runtime}`, PEER.curl, curlArgs(floorPort), out, bytes);
        cells.push(
          `ftkit/${runtime} ${fmt(ours)} (${(ours / peer).toFixed(2)}x; floor ${fmt(floor)})`,
        );
      }
      row(...cells);
    }
    await hpa.stop();
    for (const [, , server] of [...servers, ...floors]) await server.stop();
    console.log(
      "floor: the least a lock-step server can do per block on that runtime's node:dgram " +
        "(scripts/bench/floor.mjs: file in memory, no checks)",
    );
  }

  if (!only || only === "client") {
    console.log("\n== reading from tftpd-hpa: ftkit client vs curl ==");
    const clientFloor = join(root, "scripts/bench/client_floor.mjs");
    const port = await freeUdpPort();
    const hpa = await tftpdHpa(work, port);
    for (const blksize of [512, 1468, 65464]) {
      const peer = await measure(
        "curl",
        PEER.curl,
        ["-sS", "--tftp-blksize", String(blksize), "-o", out, `tftp://127.0.0.1:${port}/big.bin`],
        out,
        bytes,
      );
      const cells = [`blksize ${blksize}`, `curl ${fmt(peer)}`];
      for (const runtime of RUNTIMES) {
        const [program, args] = ftkitCommand(runtime, [
          "tftp",
          "get",
          `127.0.0.1:${port}`,
          "big.bin",
          out,
          "--blksize",
          String(blksize),
        ]);
        const ours = await measure(`ftkit ${runtime}`, program, args, out, bytes);
        const floorArgs = [clientFloor, String(port), "big.bin", String(blksize), out];
        const floor = await measure(
          `floor ${runtime}`,
          runtime === "deno" ? bin("deno") : runtime === "bun" ? bin("bun") : "node",
          runtime === "deno" ? ["run", "-A", ...floorArgs] : floorArgs,
          out,
          bytes,
        );
        cells.push(
          `ftkit/${runtime} ${fmt(ours)} (${(ours / peer).toFixed(2)}x; floor ${fmt(floor)})`,
        );
      }
      row(...cells);
    }
    await hpa.stop();
  }

  if (!only || only === "window") {
    console.log("\n== windowed: ftkit client and server vs atftp and atftpd ==");
    const atftpdPort = await freeUdpPort();
    const peerServer = await atftpd(work, atftpdPort);
    const servers: [Runtime, number, Daemon][] = [];
    for (const runtime of RUNTIMES) {
      const port = await freeUdpPort();
      servers.push([runtime, port, await ftkitServer(runtime, work, port)]);
    }
    for (const port of [atftpdPort, ...servers.map(([, port]) => port)]) await warmUp(port);
    for (const windowsize of [16, 64]) {
      for (const blksize of [1468, 8192]) {
        const peer = await measure(
          "atftp",
          PEER.atftp,
          [
            "--get",
            "-r",
            "big.bin",
            "-l",
            out,
            "--option",
            `blksize ${blksize}`,
            "--option",
            `windowsize ${windowsize}`,
            "127.0.0.1",
            String(atftpdPort),
          ],
          out,
          bytes,
          stallLimitMs(bytes),
        );
        const cells = [
          `windowsize ${windowsize} blksize ${blksize}`,
          `atftp<-atftpd ${Number.isNaN(peer) ? "failed" : fmt(peer)}`,
        ];
        for (const [runtime, port] of servers) {
          const [program, args] = ftkitCommand(runtime, [
            "tftp",
            "get",
            `127.0.0.1:${port}`,
            "big.bin",
            out,
            "--blksize",
            String(blksize),
            "--windowsize",
            String(windowsize),
          ]);
          const label = `ftkit/${runtime}<->ftkit/${runtime}`;
          const value = await measure(label, program, args, out, bytes, stallLimitMs(bytes));
          cells.push(
            `${label} ${fmt(value)}` +
              (Number.isNaN(peer) ? "" : ` (${(value / peer).toFixed(2)}x)`),
          );
        }
        row(...cells);
      }
    }
    await peerServer.stop();
    for (const [, , server] of servers) await server.stop();
  }

  if (!only || only === "concurrent") {
    console.log(`\n== ${concurrent} concurrent 1 MB reads (curl, a process each) ==`);
    await writeFile(join(work, "one.bin"), data.subarray(0, 1_000_000));
    const run = (port: number) => concurrentReads(work, port);
    const hpaPort = await freeUdpPort();
    const hpa = await tftpdHpa(work, hpaPort);
    const peer = await run(hpaPort);
    const peerRate = mbps(peer.ok * 1e6, peer.seconds);
    const cells = [
      `${concurrent} x 1 MB`,
      `tftpd-hpa ${fmt(peerRate)} (${peer.ok} ok)`,
    ];
    const servers: [Runtime, number, Daemon][] = [];
    for (const runtime of RUNTIMES) {
      const port = await freeUdpPort();
      const server = await ftkitServer(runtime, work, port);
      servers.push([runtime, port, server]);
      await warmUp(port);
      const ours = await run(port);
      const value = mbps(ours.ok * 1e6, ours.seconds);
      cells.push(
        `ftkit/${runtime} ${fmt(value)} (${ours.ok} ok, ${(value / peerRate).toFixed(2)}x)`,
      );
    }
    row(...cells);

    console.log(`\n== ${concurrent} concurrent 1 MB reads (ftkit's client, one process) ==`);
    for (const runtime of RUNTIMES) {
      const clientCells = [`ftkit/${runtime} client`];
      const [, ftkitPort] = servers.find(([name]) => name === runtime)!;
      let hpaRate = NaN;
      for (
        const [label, port] of [["from tftpd-hpa", hpaPort], ["from ftkit", ftkitPort]] as const
      ) {
        const result = await clientReads(runtime, port);
        const value = mbps(result.ok * 1e6, result.seconds);
        if (label === "from tftpd-hpa") hpaRate = value;
        const failed = result.failures.length > 0 ? `; ${result.failures[0]}` : "";
        clientCells.push(
          `${label} ${fmt(value)} (${result.ok} ok${failed})` +
            (label === "from ftkit" ? ` (${(value / hpaRate).toFixed(2)}x)` : ""),
        );
      }
      row(...clientCells);
    }
    await hpa.stop();
    for (const [, , server] of servers) await server.stop();
  }

  if (!only || only === "workers") {
    console.log(`\n== ${concurrent} concurrent 1 MB reads (curl): --workers 1 vs ${workers} ==`);
    await writeFile(join(work, "one.bin"), data.subarray(0, 1_000_000));
    for (const runtime of RUNTIMES) {
      const cells = [`ftkit/${runtime}`];
      for (const count of [1, workers]) {
        const port = await freeUdpPort();
        const server = await ftkitServer(runtime, work, port, ["--workers", String(count)]);
        const ours = await concurrentReads(work, port);
        await server.stop();
        const value = mbps(ours.ok * 1e6, ours.seconds);
        cells.push(
          `--workers ${count}: ${fmt(value)} MB/s (${ours.ok} ok, ${fmt(ours.seconds)} s)`,
        );
      }
      row(...cells);
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
