/**
 * The whole test suite on a busy machine, several times in a row, to find tests that fail only
 * sometimes: clones the repository's committed HEAD into a fresh temporary directory, starts K
 * busy processes that compete for the cores (one of them also writes to the disk), runs `npm ci`
 * once and then the README's test command (`npm test`) N times, and stops the busy processes at
 * the end, also on Ctrl-C. One line per run (counts from the suite's summary, seconds, the tests
 * that failed), then a verdict. Each run's whole output is kept in a log directory.
 *
 * Usage: deno run -A scripts/loaded.ts [--runs N] [--busy K]   (defaults: 5 runs, 2 busy)
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { run } from "./_run.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** What one run of the suite gave. */
interface RunResult {
  /** Whether `npm test` exited 0. */
  ok: boolean;
  /** Counts from the summary's last line (`tests: P passed, F failed, S skipped`). */
  passed?: number;
  failed?: number;
  skipped?: number;
  /** The failing tests (`[runtime] suite > test`) and failing steps, in order. */
  failures: string[];
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Reads one run's output: the summary's counts, and from the summary the failing steps and the
 * tests each runtime names under its step (`failed: NAME`, the first 20).
 */
function readRun(output: string, code: number): RunResult {
  const text = output.replace(ANSI, "");
  const result: RunResult = { ok: code === 0, failures: [] };
  const counts = [...text.matchAll(/^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/gm)].at(-1);
  if (counts) {
    [result.passed, result.failed, result.skipped] = counts.slice(1, 4).map(Number);
  }
  const summary = text.split(/^=== summary ===$/m).at(-1) ?? "";
  let runtime: string | undefined;
  let unnamed: string | undefined;
  const flush = () => unnamed && result.failures.push(`[${unnamed}] (no test named: see the log)`);
  for (const line of summary.split("\n")) {
    const step = /^(ok {2}|FAIL) {2}(.+?)(?: \([\d.]+ s\).*)?$/.exec(line);
    if (step) {
      flush();
      runtime = /^tests under (Deno|Bun|Node)/.exec(step[2])?.[1]?.toLowerCase();
      unnamed = step[1] === "FAIL" ? runtime ?? "step" : undefined;
      if (unnamed === "step") {
        result.failures.push(`[step] ${step[2]}`);
        unnamed = undefined;
      }
      continue;
    }
    const failed = /^ +failed: (.+)$/.exec(line);
    if (failed && runtime) {
      result.failures.push(`[${runtime}] ${failed[1]}`);
      unnamed = undefined;
    }
  }
  flush();
  return result;
}

/** A child in its own process group, killed with its children. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}

/** Busy processes: each spins a core; the first one also writes 8 MiB to disk every 200 ms. */
function startBusy(count: number, dir: string): ChildProcess[] {
  const spin = "for (;;) {}";
  const churn = `
const fs = require("node:fs");
const file = process.argv[1];
const bytes = Buffer.alloc(8 << 20, 7);
for (;;) {
  const until = Date.now() + 200;
  while (Date.now() < until) {}
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, bytes);
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
  fs.unlinkSync(file);
}`;
  return Array.from({ length: count }, (_, index) =>
    spawn(
      "node",
      index === 0 ? ["-e", churn, join(dir, "churn.bin")] : ["-e", spin],
      { stdio: "ignore", detached: true },
    ));
}

/** Runs `command` in `cwd` in its own process group, its whole output to `logFile`. */
function runLogged(
  command: string[],
  cwd: string,
  logFile: string,
  running: Set<ChildProcess>,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(logFile);
    const [program, ...args] = command;
    const child = spawn(program, args, {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { ...process.env, NO_COLOR: "1" },
    });
    running.add(child);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.on("error", reject);
    child.on("close", (code) => {
      running.delete(child);
      log.end(async () => resolve({ code: code ?? 1, output: await readFile(logFile, "utf8") }));
    });
  });
}

function describe(result: RunResult): string {
  const counts = result.passed === undefined
    ? "no summary"
    : `${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped`;
  return `${result.ok ? "ok  " : "FAIL"}  ${counts}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { runs: { type: "string", default: "5" }, busy: { type: "string", default: "2" } },
  });
  const runs = Number(values.runs);
  const busy = Number(values.busy);
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs ${values.runs}`);
  if (!Number.isInteger(busy) || busy < 0) throw new RangeError(`--busy ${values.busy}`);

  const head = (await run(["git", "rev-parse", "HEAD"], { cwd: root, capture: true })).output
    .trim();
  const dirty = (await run(["git", "status", "--porcelain", "--untracked-files=no"], {
    cwd: root,
    capture: true,
  })).output.trim();
  if (dirty) console.log("Note: uncommitted changes are not tested (the committed HEAD is).");
  const work = await mkdtemp(join(tmpdir(), "ftkit-loaded-"));
  const logs = await mkdtemp(join(tmpdir(), "ftkit-loaded-logs-"));
  const clone = join(work, "ftkit");
  const busyProcesses: ChildProcess[] = [];
  const running = new Set<ChildProcess>();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const child of [...busyProcesses, ...running]) killGroup(child);
  };
  const onSignal = (signal: "SIGINT" | "SIGTERM" | "SIGHUP") => () => {
    console.log(`\n${signal}: stopping the busy processes and the suite`);
    stop();
    rm(work, { recursive: true, force: true }).finally(() => Deno.exit(130));
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(signal, onSignal(signal));
  }

  try {
    console.log(`Commit ${head} into ${clone}; logs in ${logs}`);
    await run(["git", "clone", "--quiet", "--no-checkout", root, clone]);
    await run(["git", "checkout", "--quiet", "--detach", head], { cwd: clone });
    console.log("npm ci ...");
    const ciLog = join(logs, "npm-ci.log");
    const ci = await runLogged(["npm", "ci", "--no-audit", "--no-fund"], clone, ciLog, running);
    if (stopped) return 130;
    if (ci.code !== 0) {
      console.log(ci.output);
      throw new Error(`npm ci exited with ${ci.code}`);
    }

    busyProcesses.push(...startBusy(busy, work));
    console.log(
      `${busy} busy processes on ${cpus().length} cores (load ${loadavg()[0].toFixed(2)}); ` +
        `${runs} runs of npm test`,
    );
    const results: RunResult[] = [];
    for (let index = 1; index <= runs && !stopped; index++) {
      const started = performance.now();
      const logFile = join(logs, `run-${index}.log`);
      const { code, output } = await runLogged(["npm", "test"], clone, logFile, running);
      if (stopped) break;
      const result = readRun(output, code);
      results.push(result);
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      const failing = result.failures.length > 0 ? `  ${result.failures.join("; ")}` : "";
      console.log(`run ${index}/${runs}: ${describe(result)}  ${seconds} s${failing}`);
    }

    const passedRuns = results.filter((result) => result.ok).length;
    const counted = new Map<string, number>();
    for (const result of results) {
      for (const name of new Set(result.failures)) {
        counted.set(name, (counted.get(name) ?? 0) + 1);
      }
    }
    if (passedRuns === results.length) {
      console.log(`verdict: ok, ${passedRuns} of ${results.length} runs passed`);
      return 0;
    }
    console.log(`verdict: FAIL, ${passedRuns} of ${results.length} runs passed; failing:`);
    for (const [name, times] of counted) console.log(`  ${name} (${times} of ${results.length})`);
    return 1;
  } finally {
    stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) Deno.exit(await main());
