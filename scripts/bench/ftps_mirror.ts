/**
 * Mirror benchmark: `ftkit ftps mirror` (a download of a tree) with 1 and 4 connections on Node,
 * Deno and Bun, next to lftp's `mirror --parallel=1` and `--parallel=4`, against the same vsftpd
 * 3.0.3 on loopback (explicit TLS, PROT P, session reuse required: its defaults). The tree is
 * 1000 files of 100 KB. Each figure is one command run from start to end (process start,
 * connect, log in, list, transfer every file into an empty directory, close), best of the runs;
 * each run's copy is checked complete. Prints seconds, files per second and the ratio to lftp
 * with the same number of connections.
 *
 * Usage: deno run -A scripts/bench/ftps_mirror.ts [--files N] [--kb K] [--runs N] [--runtimes node,deno,bun]
 *   Needs vsftpd and lftp (scripts/peers.ts), root (the tree belongs to the ftp user), and the
 *   npm build (scripts/build_npm.ts) for Node.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { chownFtp, startVsftpd } from "../../tests/interop/_ftps_servers.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string" },
    kb: { type: "string" },
    runs: { type: "string" },
    runtimes: { type: "string" },
  },
});
const files = Number(values.files ?? 1000);
const kb = Number(values.kb ?? 100);
const runs = Number(values.runs ?? 3);
const runtimes = (values.runtimes ?? "node,deno,bun").split(",");
const ca = join(root, "tests/fixtures/tls/ca.pem");
const bin = (name: string) => join(root, "node_modules/.bin", name);

/** Runs a program to its end; resolves with the seconds it took. */
function timed(program: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (chunk) => (err += chunk));
    child.on("error", reject);
    child.on(
      "exit",
      (code) =>
        code === 0
          ? resolve((performance.now() - start) / 1000)
          : reject(new Error(`${program} exited ${code}: ${err.slice(-400)}`)),
    );
  });
}

/** Checks that `dir` holds the whole tree. */
async function checkCopy(dir: string): Promise<void> {
  const names = await readdir(dir);
  if (names.length !== files) throw new Error(`${dir}: ${names.length} files, not ${files}`);
  for (const name of names.slice(0, 20)) {
    if ((await stat(join(dir, name))).size !== kb * 1024) throw new Error(`${name}: short`);
  }
}

const dir = await mkdtemp(join(tmpdir(), "ftkit-bench-mirror-"));
const pub = join(dir, "top", "pub");
const tree = join(pub, "tree");
await mkdir(tree, { recursive: true });
await chmod(dir, 0o755);
await chmod(join(dir, "top"), 0o755);
const bytes = new Uint8Array(kb * 1024);
for (let i = 0; i < files; i++) {
  crypto.getRandomValues(bytes.subarray(0, 65536));
  await writeFile(join(tree, `file-${String(i).padStart(4, "0")}.bin`), bytes);
}
await chownFtp(pub, tree);
const vsftpd = await startVsftpd(dir, join(dir, "top"), {
  extra: ["max_per_ip=0", "max_clients=0"],
});
const url = `ftpes://localhost:${vsftpd.port}/pub/tree`;
try {
  const commands: Record<string, (out: string, parallel: number) => [string, string[]]> = {
    lftp: (out, parallel) => [
      "lftp",
      [
        "-c",
        [
          "set cmd:fail-exit true",
          "set ftp:ssl-force true",
          "set ftp:ssl-protect-data true",
          `set ssl:ca-file ${ca}`,
          "set ssl:check-hostname true",
          "set net:max-retries 1",
          `open -u anonymous, ftp://localhost:${vsftpd.port}`,
          `mirror --parallel=${parallel} pub/tree ${out}`,
          "bye",
        ].join("\n"),
      ],
    ],
  };
  const ftkit = (program: string, args: string[]) => (out: string, parallel: number) =>
    [program, [
      ...args,
      "ftps",
      "mirror",
      url,
      out,
      "--ca",
      ca,
      "--parallel",
      String(parallel),
      "--quiet",
    ]] as [
      string,
      string[],
    ];
  if (runtimes.includes("node")) commands["ftkit/node"] = ftkit("node", [join(root, "npm/cli.js")]);
  if (runtimes.includes("deno")) {
    commands["ftkit/deno"] = ftkit(bin("deno"), ["run", "-A", join(root, "cli.ts")]);
  }
  if (runtimes.includes("bun")) commands["ftkit/bun"] = ftkit(bin("bun"), [join(root, "cli.ts")]);
  const best: Record<string, Record<number, number>> = {};
  for (const parallel of [1, 4]) {
    for (const [name, command] of Object.entries(commands)) {
      const seconds: number[] = [];
      for (let run = 0; run < runs; run++) {
        const out = join(dir, `out-${name.replace(/\W/g, "-")}-${parallel}`);
        await rm(out, { recursive: true, force: true });
        const [program, args] = command(out, parallel);
        seconds.push(await timed(program, args));
        await checkCopy(out);
        await rm(out, { recursive: true, force: true });
      }
      (best[name] ??= {})[parallel] = Math.min(...seconds);
    }
  }
  console.log(
    `Mirror (download) of ${files} files of ${kb} KB from vsftpd 3.0.3 over loopback, explicit ` +
      `TLS, PROT P, session reuse required; whole command, best of ${runs}`,
  );
  console.log(
    "".padEnd(14) + ["1 connection", "4 connections", "4 vs 1"].map((h) => h.padEnd(26)).join(""),
  );
  for (const [name, figures] of Object.entries(best)) {
    const cell = (parallel: number) => {
      const seconds = figures[parallel];
      const ratio = name === "lftp" ? "" : ` ${(best.lftp[parallel] / seconds).toFixed(2)}x lftp`;
      return `${seconds.toFixed(2)} s ${(files / seconds).toFixed(0)}/s${ratio}`.padEnd(26);
    };
    console.log(
      name.padEnd(14) + cell(1) + cell(4) + `${(figures[1] / figures[4]).toFixed(2)}x faster`,
    );
  }
} finally {
  await vsftpd.stop();
  await rm(dir, { recursive: true, force: true });
}
