/**
 * FTPS client benchmark: ftkit's client (Deno, Bun, Node) next to curl, in one run, over loopback
 * with TLS 1.3 and PROT P, against vsftpd and ProFTPD with mod_tls at their defaults (every data
 * connection must resume the control connection's TLS session), and ProFTPD with reuse not
 * required (where Deno's native TLS, which never resumes, is measured too). Each figure is timed
 * as curl's is: connect, log in, move 100 MB between a local file and the server (RETR, STOR),
 * close. Prints MB/s (best of the runs) and the ratio to curl against the same server.
 *
 * Usage: deno run -A scripts/bench/ftps_client.ts [--size MB] [--runs N]
 *   Needs vsftpd, ProFTPD and curl (scripts/peers.ts), root (the upload directories belong to the
 *   ftp user), and the npm build (scripts/build_npm.ts) for Node.
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
  PASSWORD,
  startProftpd,
  startVsftpd,
  USER,
} from "../../tests/interop/_ftps_servers.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: { size: { type: "string" }, runs: { type: "string" } },
});
const sizeMb = Number(values.size ?? 100);
const runs = Number(values.runs ?? 3);
const ca = join(root, "tests/fixtures/tls/ca.pem");

/** Runs a program to its end; resolves with its stdout. */
function run(program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on(
      "exit",
      (code) => code === 0 ? resolve(out) : reject(new Error(`${program}: ${code}`)),
    );
  });
}

const dir = await mkdtemp(join(tmpdir(), "ftkit-bench-ftps-"));
const pub = join(dir, "top", "pub");
await mkdir(pub, { recursive: true });
await chmod(dir, 0o755);
await chmod(join(dir, "top"), 0o755);
const big = new Uint8Array(sizeMb * 1024 * 1024);
for (let at = 0; at < big.length; at += 65536) crypto.getRandomValues(big.subarray(at, at + 65536));
await writeFile(join(pub, "big.bin"), big);
await chownFtp(pub);
const vsftpd = await startVsftpd(dir, join(dir, "top"));
const proRoot = join(dir, "proftpd");
await mkdir(join(proRoot, "pub"), { recursive: true });
await writeFile(join(proRoot, "pub", "big.bin"), big);
await chownFtp(proRoot, join(proRoot, "pub"), join(proRoot, "pub", "big.bin"));
const proftpd = await startProftpd(dir, proRoot);
const proftpdLoose = await startProftpd(dir, proRoot, { reuseRequired: false });
const local = join(pub, "big.bin");
try {
  const worker = join(root, "scripts/bench/ftps_worker.mjs");
  const bin = (name: string) => join(root, "node_modules/.bin", name);
  const deno = (transport: string): [string, string[]] => [
    bin("deno"),
    ["run", "-A", worker, join(root, "ftps/adapters/deno.ts"), transport],
  ];
  const commands: Record<string, [string, string[]]> = {
    "deno": deno("default"),
    "deno native": deno("native"),
    "bun": [bin("bun"), [worker, join(root, "ftps/adapters/bun.ts"), "default"]],
    "node": ["node", [worker, join(root, "npm/ftps/adapters/node.js"), "default"]],
  };
  const servers = [
    { name: "vsftpd 3.0.3, reuse required", port: vsftpd.port, user: "anonymous", password: "" },
    { name: "ProFTPD 1.3.8, reuse required", port: proftpd.port, user: USER, password: PASSWORD },
    {
      name: "ProFTPD 1.3.8, reuse not required",
      port: proftpdLoose.port,
      user: USER,
      password: PASSWORD,
    },
  ];
  const mbps = (seconds: number[]) => sizeMb * 1.048576 / Math.min(...seconds);
  const cell = (seconds: number[], peer: number[]) =>
    `${mbps(seconds).toFixed(1)} (${(mbps(seconds) / mbps(peer)).toFixed(2)}x)`.padEnd(21);
  console.log(
    `FTPS client, ${sizeMb} MB over loopback, TLS 1.3, PROT P, connect + login + transfer ` +
      `to or from a file, MB/s best of ${runs}`,
  );
  console.log(
    "".padEnd(40) + "curl".padEnd(10) +
      Object.keys(commands).map((name) => `ftkit/${name}`.padEnd(21)).join(""),
  );
  const notes: string[] = [];
  for (const server of servers) {
    const login = server.password ? `${server.user}:${server.password}@` : "";
    const url = `ftp://${login}localhost:${server.port}/pub`;
    const curlArgs = [
      "-s",
      "--ssl-reqd",
      "--cacert",
      ca,
      "--resolve",
      `localhost:${server.port}:127.0.0.1`,
    ];
    const curl = { get: [] as number[], put: [] as number[] };
    for (let i = 0; i < runs; i++) {
      curl.get.push(Number(
        await run("curl", [
          ...curlArgs,
          `${url}/big.bin`,
          "-o",
          join(dir, "curl-down.bin"),
          "-w",
          "%{time_total}",
        ]),
      ));
      curl.put.push(Number(
        await run("curl", [
          ...curlArgs,
          "-T",
          local,
          `${url}/up.bin`,
          "-w",
          "%{time_total}",
        ]),
      ));
    }
    const ftkit: Record<
      string,
      { get: number[]; put: number[]; resumed: boolean; error?: string }
    > = {};
    for (const [runtime, [program, args]] of Object.entries(commands)) {
      ftkit[runtime] = JSON.parse(
        await run(program, [
          ...args,
          String(server.port),
          ca,
          String(runs),
          local,
          join(dir, `ftkit-down-${runtime.replace(/\W/g, "-")}.bin`),
          server.user,
          server.password,
        ]),
      );
    }
    for (const way of ["get", "put"] as const) {
      const row = [
        `${server.name} ${way === "get" ? "RETR" : "STOR"}`.padEnd(40),
        mbps(curl[way]).toFixed(1).padEnd(10),
      ];
      for (const runtime of Object.keys(commands)) {
        const result = ftkit[runtime];
        row.push(result.error ? "refused".padEnd(21) : cell(result[way], curl[way]));
      }
      console.log(row.join(""));
    }
    for (const [runtime, result] of Object.entries(ftkit)) {
      if (result.error) notes.push(`ftkit/${runtime} against ${server.name}: ${result.error}`);
      else if (!result.resumed) notes.push(`ftkit/${runtime} against ${server.name}: not resumed`);
    }
  }
  for (const note of notes) console.log(note);
} finally {
  await proftpd.stop();
  await proftpdLoose.stop();
  await vsftpd.stop();
  await rm(dir, { recursive: true, force: true });
}
