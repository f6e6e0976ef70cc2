// Where an FTPS server's memory goes, per runtime: ftkit's server in this process, the client
// worker of the server benchmark (ftps_server_clients.mjs) in another, and this process's memory
// (process.memoryUsage(): RSS, the JS heap, memory outside it held by JS objects, ArrayBuffers)
// after a forced garbage collection, before and while SESSIONS idle TLS sessions are held (AUTH
// TLS, login, PBSZ 0, PROT P), and after they quit; with --crowd, instead, the peak RSS while
// SESSIONS clients each download 1 MB at once (as the benchmark's concurrency run), sampled
// every 5 ms. What the benchmark (ftps_server.ts) cannot see from outside: the split between
// the JS heap, ArrayBuffers and the runtime's native memory (TLS, sockets).
//
// Usage (from the repository root; Node runs the npm build, scripts/build_npm.ts):
//   deno run -A --v8-flags=--expose-gc scripts/bench/ftps_server_memory.mjs [SESSIONS] [--crowd]
//   bun scripts/bench/ftps_server_memory.mjs [SESSIONS] [--crowd]
//   node --expose-gc scripts/bench/ftps_server_memory.mjs [SESSIONS] [--crowd]
// Needs an open-file limit above 3 x SESSIONS (ulimit -n).

import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const root = fileURLToPath(new URL("../..", import.meta.url));
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const { serveFtps } = await import(
  runtime === "node" ? join(root, "npm/mod.js") : join(root, "mod.ts")
);
const args = process.argv.slice(2);
const sessions = Number(args.find((arg) => /^\d+$/.test(arg)) ?? 1000);
const crowd = args.includes("--crowd");
const fixtures = join(root, "tests/fixtures/tls");
/** The file each client of --crowd downloads, bytes (--bytes=N; default 1 MB). */
const SMALL = Number(args.find((arg) => arg.startsWith("--bytes="))?.slice(8) ?? 1024 * 1024);

/** Collects garbage as far as the runtime lets a script ask. */
async function collect() {
  for (let round = 0; round < 3; round++) {
    if (runtime === "bun") globalThis.Bun.gc(true);
    else globalThis.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const mb = (bytes) => (bytes / 1048576).toFixed(1);

/** This process's memory, after a collection: MB each. */
async function memory() {
  await collect();
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapTotal, heapUsed, external, arrayBuffers };
}

/** The JS heap's spaces, where the runtime tells them: MB committed (used). */
async function spaces() {
  try {
    const { getHeapSpaceStatistics } = await import("node:v8");
    return getHeapSpaceStatistics()
      .filter((space) => space.space_size > 0)
      .map((space) =>
        `${space.space_name.replace(/_space$/, "")} ${mb(space.physical_space_size)} (${
          mb(space.space_used_size)
        })`
      ).join(", ");
  } catch {
    return "-";
  }
}

function show(label, now, base) {
  const cells = Object.entries(now).map(([name, value]) => {
    const per = base && !crowd
      ? ` (${((value - base[name]) / 1024 / sessions).toFixed(1)} KB/s)`
      : "";
    return `${name} ${mb(value)}${per}`;
  });
  console.log(`${label.padEnd(12)} ${cells.join(", ")}`);
  if (args.includes("--spaces")) spaces().then((text) => console.log(`${"".padEnd(12)} ${text}`));
}

const dir = await mkdtemp(join(tmpdir(), "ftkit-memory-"));
await writeFile(join(dir, "small.bin"), new Uint8Array(SMALL));
const server = await serveFtps({
  root: dir,
  users: { user: "secret" },
  tls: {
    cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
    key: await readFile(join(fixtures, "leaf.key"), "utf8"),
  },
  host: "127.0.0.1",
  port: 0,
  maxSessions: sessions + 16,
  maxSessionsPerIp: sessions + 16,
});
try {
  const worker = spawn("node", [
    join(root, "scripts/bench/ftps_server_clients.mjs"),
    String(server.address.port),
    join(fixtures, "ca.pem"),
    "user",
    "secret",
    crowd ? "small.bin" : "-",
    String(crowd ? SMALL : 0),
    String(sessions),
    "16",
    "60000",
  ], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: worker.stdout });
  const queue = [];
  let wake = () => {};
  lines.on("line", (line) => {
    queue.push(line);
    wake();
  });
  const line = async () => {
    while (queue.length === 0) await new Promise((resolve) => (wake = resolve));
    return queue.shift();
  };
  if ((await line()) !== "ready") throw new Error("worker not ready");
  console.log(
    `${runtime}: ${sessions} ${crowd ? `downloads of ${SMALL} bytes at once` : "idle sessions"}`,
  );
  const before = await memory();
  show("before", before);
  worker.stdin.write("go\n");
  if (crowd) {
    const peak = { rss: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
    let done = false;
    const sampler = (async () => {
      while (!done) {
        const now = process.memoryUsage();
        for (const name of Object.keys(peak)) peak[name] = Math.max(peak[name], now[name]);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const report = JSON.parse(await line());
    done = true;
    await sampler;
    console.log(
      `peak ${Object.entries(peak).map(([name, value]) => `${name} ${mb(value)}`).join(", ")}` +
        ` (MB, each its own peak); failures ${report.failures}`,
    );
    show("after", await memory(), before);
  } else {
    const report = JSON.parse(await line());
    show("held", await memory(), before);
    const snapshot = args.find((arg) => arg.startsWith("--snapshot="))?.slice(11);
    if (snapshot) {
      const { writeHeapSnapshot } = await import("node:v8");
      console.log(`heap snapshot: ${writeHeapSnapshot(snapshot)}`);
    }
    console.log(`failures ${report.failures}, sessions ${server.sessions}`);
    worker.stdin.write("quit\n");
    await line();
    show("after quit", await memory(), before);
    const after = args.find((arg) => arg.startsWith("--snapshot-after="))?.slice(17);
    if (after) {
      const { writeHeapSnapshot } = await import("node:v8");
      console.log(`heap snapshot: ${writeHeapSnapshot(after)}`);
    }
  }
  worker.kill();
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);
