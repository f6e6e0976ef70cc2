/**
 * FTPS bandwidth limits benchmark: how closely ftkit's server keeps to a configured rate, next to
 * vsftpd's `anon_max_rate`, in one run over loopback (TLS, PROT P, curl as the client).
 *
 * - One RETR and one STOR of `--size` MB under a limit of `--rate` KiB/s: the rate curl saw, and
 *   its ratio to the limit (1.00 is exact; the burst, a quarter second's worth, lets a short
 *   transfer go a little faster).
 * - `--parallel` RETRs at once by one user: ftkit's per-user limit (`--user-download-rate`) is
 *   shared by the user's sessions, so together they keep to it; vsftpd's limit is per session, so
 *   together they move `--parallel` times as much.
 *
 * ftkit runs as its command on Deno, Bun and Node (the npm build for Node).
 *
 * Usage: deno run -A scripts/bench/ftps_throttle.ts [--rate KiB] [--size MB] [--parallel N]
 *
 * @module
 */

import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  chownFtp,
  FIXTURES,
  PASSWORD,
  startVsftpd,
  USER,
} from "../../tests/interop/_ftps_servers.ts";
import { PEER, runPeer } from "../../tests/interop/_peers.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: { rate: { type: "string" }, size: { type: "string" }, parallel: { type: "string" } },
});
const rateKiB = Number(values.rate ?? 1024);
const sizeMb = Number(values.size ?? 8);
const parallel = Number(values.parallel ?? 4);
for (const [name, value] of Object.entries({ rate: rateKiB, size: sizeMb, parallel })) {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`--${name}: ${value}`);
}
const rate = rateKiB * 1024;
const size = sizeMb * 1024 * 1024;
const ca = join(FIXTURES, "ca.pem");
const bin = (name: string) => join(root, "node_modules/.bin", name);

/** A server under test: its port, the user curl logs in as, and how to stop it. */
interface Target {
  port: number;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/** `ftkit ftps serve` on a runtime with the limits as flags; the port it printed. */
async function startFtkit(command: [string, string[]], top: string): Promise<Target> {
  const [program, args] = command;
  const child = spawn(program, [
    ...args,
    "ftps",
    "serve",
    top,
    "--port",
    "0",
    "--user",
    `${USER}:${PASSWORD}`,
    "--cert",
    join(FIXTURES, "leaf.pem"),
    "--key",
    join(FIXTURES, "leaf.key"),
    "--allow-write",
    "--allow-overwrite",
    "--user-download-rate",
    String(rate),
    "--user-upload-rate",
    String(rate),
    "--quiet",
  ], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no port from ${program}`)), 30_000);
    child.stdout!.on("data", (chunk: Uint8Array) => {
      text += new TextDecoder().decode(chunk);
      const found = / on 127\.0\.0\.1:(\d+)/.exec(text);
      if (found) {
        clearTimeout(timer);
        resolve(Number(found[1]));
      }
    });
    child.once("exit", () => reject(new Error(`${program} exited: ${text}`)));
  });
  return {
    port,
    user: USER,
    password: PASSWORD,
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** One curl transfer; the rate it saw, in bytes per second. */
async function curl(target: Target, args: string[]): Promise<number> {
  const ran = await runPeer(PEER.curl, [
    "-sS",
    "--ssl-reqd",
    "--cacert",
    ca,
    "--user",
    `${target.user}:${target.password}`,
    "-w",
    "%{time_total} %{size_download} %{size_upload}",
    ...args,
  ], { timeoutMs: 600_000 });
  if (ran.code !== 0) throw new Error(`curl: ${ran.stderr}`);
  const [seconds, down, up] = ran.stdout.trim().split(" ").map(Number);
  const bytes = Math.max(down, up);
  if (bytes !== size) throw new Error(`curl moved ${bytes} bytes, not ${size}`);
  return bytes / seconds;
}

/** RETR, STOR, and `parallel` RETRs at once (their total bytes over the wall time). */
async function measure(target: Target, dir: string): Promise<number[]> {
  const url = `ftp://127.0.0.1:${target.port}/${dir}`;
  const retr = await curl(target, [`${url}/big.bin`, "-o", "/dev/null"]);
  const stor = await curl(target, ["-T", join(top, dir, "big.bin"), `${url}/up.bin`]);
  await rm(join(top, dir, "up.bin"));
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, () => curl(target, [`${url}/big.bin`, "-o", "/dev/null"])),
  );
  const together = (parallel * size) / ((performance.now() - started) / 1000);
  return [retr, stor, together];
}

const work = await mkdtemp(join(tmpdir(), "ftkit-bench-throttle-"));
const top = join(work, "top");
try {
  await mkdir(join(top, "pub"), { recursive: true });
  // vsftpd's ftp user must reach pub (and must not write in top, where it chroots).
  await chmod(work, 0o755);
  await chmod(top, 0o755);
  const big = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(big.subarray(at, at + 65536));
  await writeFile(join(top, "pub", "big.bin"), big);
  await chownFtp(join(top, "pub"), join(top, "pub", "big.bin"));

  const rows: [string, number[]][] = [];
  const runtimes: Record<string, [string, string[]]> = {
    "ftkit (Deno)": [bin("deno"), ["run", "-A", join(root, "cli.ts")]],
    "ftkit (Bun)": [bin("bun"), [join(root, "cli.ts")]],
    "ftkit (Node)": ["node", [join(root, "npm/cli.js")]],
  };
  for (const [name, command] of Object.entries(runtimes)) {
    const target = await startFtkit(command, top);
    try {
      rows.push([name, await measure(target, "pub")]);
    } finally {
      await target.stop();
    }
  }
  const vsftpd = await startVsftpd(work, top, { extra: [`anon_max_rate=${rate}`] });
  try {
    rows.push([
      "vsftpd",
      await measure(
        { port: vsftpd.port, user: "anonymous", password: "", stop: vsftpd.stop },
        "pub",
      ),
    ]);
  } finally {
    await vsftpd.stop();
  }

  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);
  console.log(`limit ${rateKiB} KiB/s (${mb(rate)} MiB/s), ${sizeMb} MiB files, curl over TLS`);
  console.log(
    "server".padEnd(16) + "RETR MiB/s".padEnd(18) + "STOR MiB/s".padEnd(18) +
      `${parallel} RETRs at once, MiB/s`,
  );
  for (const [name, [retr, stor, together]] of rows) {
    const cell = (value: number) => `${mb(value)} (${(value / rate).toFixed(2)}x)`.padEnd(18);
    console.log(name.padEnd(16) + cell(retr) + cell(stor) + cell(together));
  }
  console.log(
    "ratios are to the limit; ftkit's limit is per user (shared by its sessions), vsftpd's " +
      "per session",
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
