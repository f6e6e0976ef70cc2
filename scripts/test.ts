/**
 * The whole test suite, as `npm test` runs it:
 *
 * 0. the interop peers (Debian packages) installed when missing;
 * 1. `deno fmt --check`, `deno lint`, `deno doc --lint` (every export documented), `deno check`
 *    (the code, and the examples in its documentation and in the README);
 * 2. every test (and the documentation's examples) under Deno, with coverage, not type-checked
 *    again;
 * 3. the tests that depend on the runtime under Bun;
 * 4. the npm build, and the tests that depend on the runtime under Node on its compiled
 *    JavaScript;
 * 5. the npm tarball smoke test;
 * 6. `deno publish --dry-run`.
 *
 * Steps 2, 3 and 4-5 run side by side (FTKIT_TEST_SERIAL=1: one after another), test files in
 * parallel within each runtime. Every step runs even when an earlier one failed (except those
 * that need the npm build); each runtime prints its own counts, a summary follows, and any
 * failure makes the exit code 1.
 *
 * Usage: deno run -A scripts/test.ts [STEP...]   (steps: lint deno bun node smoke publish)
 *
 * @module
 */

import { readdir, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildNpm } from "./build_npm.ts";
import { smokeNpm } from "./smoke_npm.ts";
import { installPeers } from "./peers.ts";
import { run } from "./_run.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(root, "node_modules/.bin", name);

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  /** The failed tests' names (and where the runner says, their files), for the summary. */
  failures?: string[];
}

interface StepResult {
  name: string;
  ok: boolean;
  seconds: number;
  counts?: Counts;
  note?: string;
}

/**
 * The tests that run the same whatever the runtime: codecs, sans-I/O machines and the simulated
 * network, which touch no socket, file or process (they import no adapter, driver or peer). They
 * run once, under Deno (with coverage); Bun and Node run the others.
 */
const RUNTIME_INDEPENDENT: ReadonlySet<string> = new Set([
  "cli/ftps_config_test",
  "cli/netrc_test",
  "codec/client_proxy_test",
  "codec/ftp_ascii_test",
  "codec/ftp_property_test",
  "codec/ftp_servers_test",
  "codec/ftp_test",
  "codec/netascii_test",
  "codec/proxy_protocol_property_test",
  "codec/proxy_protocol_test",
  "codec/tftp_error_code_test",
  "codec/tftp_packet_property_test",
  "codec/tftp_packet_test",
  "ftps/client_hash_test",
  "ftps/client_retry_test",
  "ftps/client_session_test",
  "ftps/glob_test",
  "ftps/server_session_commands_test",
  "ftps/server_session_data_test",
  "ftps/server_session_test",
  "ftps/session_test",
  "io/cidr_test",
  "tftp/client_transfer_test",
  "tftp/ip_address_test",
  "tftp/limits_test",
  "tftp/name_folding_test",
  "tftp/negotiation_test",
  "tftp/remap_file_test",
  "tftp/server_access_test",
  "tftp/server_endpoint_test",
  "tftp/simnet_test",
  "scripts/repository_test",
  "io/token_bucket_test",
  "ftps/permissions_test",
]);

/** Throws unless every name in {@linkcode RUNTIME_INDEPENDENT} is one of `files`. */
function checkTiers(files: readonly string[]): void {
  const names = new Set(
    files.map((file) => file.replace(/^.*?tests\//, "").replace(/\.[jt]s$/, "")),
  );
  const unknown = [...RUNTIME_INDEPENDENT].filter((name) => !names.has(name));
  if (unknown.length > 0) throw new Error(`No such test file: ${unknown.join(", ")}`);
}

/** Whether the test file `path` (under a `tests/` folder, any extension) depends on the runtime. */
function runtimeDependent(path: string): boolean {
  const name = path.replace(/^.*?tests\//, "").replace(/\.[jt]s$/, "");
  return !RUNTIME_INDEPENDENT.has(name);
}

/** Every `*_test.ts` under `dir`, relative to the repository root. */
async function testFiles(dir: string, suffix: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

function number(output: string, pattern: RegExp): number {
  let last = 0;
  for (const match of output.matchAll(pattern)) last = Number(match[1]);
  return last;
}

function denoCounts(output: string): Counts {
  // With --parallel every result line names its file and the test's path: "./tests/a_test.ts =>
  // describe ... case ... ok (3ms)". Count the leaves (the cases, and tests without steps).
  const lines = [...output.matchAll(/^(\S+ => .*?) \.\.\. (ok|FAILED|ignored)(?: \(|$)/gm)];
  if (lines.length > 0) {
    const parents = new Set<string>();
    for (const [, name] of lines) {
      const parts = name.split(" ... ");
      for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join(" ... "));
    }
    const leaves = lines.filter(([, name]) => !parents.has(name));
    const count = (result: string) => leaves.filter((line) => line[2] === result).length;
    const failures = leaves.filter((line) => line[2] === "FAILED").map(([, name]) => name);
    return { passed: count("ok"), failed: count("FAILED"), skipped: count("ignored"), failures };
  }
  return denoSerialCounts(output);
}

function denoSerialCounts(output: string): Counts {
  // "ok | 22 passed (131 steps) | 0 failed | 1 ignored (2 steps)": describe() blocks are tests whose
  // node:test cases are steps; count the cases and the plain tests, not the blocks.
  const line = output.match(
    /(\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?(?: \| (\d+) ignored(?: \((\d+) steps?\))?)?/,
  );
  if (!line) return { passed: 0, failed: 0, skipped: 0 };
  const blocks = [...output.matchAll(/^\S.* \.\.\.\n {2}\S/gm)].length;
  return {
    passed: Number(line[1]) + Number(line[2] ?? 0) - blocks,
    failed: Number(line[3]) + Number(line[4] ?? 0),
    skipped: Number(line[5] ?? 0) + Number(line[6] ?? 0),
  };
}

function bunCounts(output: string): Counts {
  // "(fail) describe > case [12.00ms]"
  const failures = [...output.matchAll(/^\(fail\) (.*?)(?: \[[\d.]+m?s\])?$/gm)].map(([, name]) =>
    name
  );
  return {
    passed: number(output, /^\s*(\d+) pass$/gm),
    failed: number(output, /^\s*(\d+) fail$/gm),
    skipped: number(output, /^\s*(\d+) skip$/gm),
    failures,
  };
}

function nodeCounts(output: string): Counts {
  // The spec reporter ends with "✖ failing tests:", then "test at FILE:LINE:COL" and "✖ NAME (ms)"
  // for each failure.
  const section = output.split(/^✖ failing tests:$/m)[1] ?? "";
  const failures = [...section.matchAll(/^test at (\S+)\n✖ (.*?)(?: \([\d.]+m?s\))?$/gm)].map(
    ([, where, name]) => `${relative(root, where.replace(/^file:\/\//, ""))} => ${name}`,
  );
  return {
    passed: number(output, /^[ℹ#] pass (\d+)$/gm),
    failed: number(output, /^[ℹ#] fail (\d+)$/gm) + number(output, /^[ℹ#] cancelled (\d+)$/gm),
    skipped: number(output, /^[ℹ#] skipped (\d+)$/gm),
    failures,
  };
}

// The three runtimes' tests run side by side (their output is printed whole as each ends), unless
// FTKIT_TEST_SERIAL=1 asks for one at a time with the output as it comes.
const serial = process.env.FTKIT_TEST_SERIAL === "1";

/** Where a step's output goes: through at once, or kept and printed whole when the step ends. */
interface Output {
  /** Whether output is kept for the end. */
  readonly buffered: boolean;
  /** Adds output (printed at once unless buffered). */
  write(text: string): void;
}

async function step(
  name: string,
  body: (output: Output) => Promise<{ counts?: Counts; note?: string } | void>,
  buffered = false,
): Promise<StepResult> {
  let kept = "";
  const output: Output = {
    buffered,
    write: (text) => void (buffered ? (kept += text) : process.stdout.write(text)),
  };
  if (!buffered) console.log(`\n=== ${name} ===`);
  const start = performance.now();
  let result: StepResult;
  try {
    const outcome = (await body(output)) ?? {};
    const seconds = (performance.now() - start) / 1000;
    const ok = outcome.counts === undefined ||
      (outcome.counts.failed === 0 && outcome.counts.passed > 0);
    result = { name, ok, seconds, ...outcome };
  } catch (error) {
    output.write(`${name}: ${error instanceof Error ? error.message : error}\n`);
    result = { name, ok: false, seconds: (performance.now() - start) / 1000 };
  }
  if (buffered) console.log(`\n=== ${name} (${result.seconds.toFixed(1)} s) ===\n${kept}`);
  return result;
}

/** Runs a test runner, its output to `output`, and reads its counts. */
async function runner(
  command: string[],
  parse: (output: string) => Counts,
  into: Output,
): Promise<{ counts: Counts }> {
  const { code, output } = await run(
    command,
    {
      cwd: root,
      ...(into.buffered ? { quiet: true } : { tee: true }),
      env: { NO_COLOR: "1" },
    },
    false,
  );
  if (into.buffered) into.write(output);
  const counts = parse(output);
  // A runner that exits non-zero failed, whatever it counted.
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  return { counts };
}

const selected = new Set(Deno.args);
const wants = (name: string) => selected.size === 0 || selected.has(name);
const results: StepResult[] = [];

/** A step that passes when `deno ARGS...` exits 0. */
function denoStep(...args: string[]): Promise<StepResult> {
  return step(`deno ${args.join(" ")}`, async () => {
    await run([bin("deno"), ...args], { cwd: root });
  });
}

if (wants("lint")) {
  results.push(await denoStep("fmt", "--check"));
  results.push(await denoStep("lint"));
  // Every export documented (JSR's documentation lint).
  results.push(
    await denoStep(
      "doc",
      "--lint",
      "mod.ts",
      "codec/mod.ts",
      "tftp/mod.ts",
      "ftps/mod.ts",
      "tftp/adapters/deno.ts",
      "tftp/adapters/bun.ts",
      "tftp/adapters/node.ts",
      "ftps/adapters/deno.ts",
      "ftps/adapters/bun.ts",
      "ftps/adapters/node.ts",
    ),
  );
  results.push(
    await denoStep(
      "check",
      "--doc",
      "mod.ts",
      "cli.ts",
      "cli",
      "codec",
      "io",
      "tftp",
      "ftps",
      "tests",
      "examples",
      "scripts",
    ),
  );
  results.push(await denoStep("check", "--doc-only", "README.md"));
}

if (wants("deno") || wants("bun") || wants("node")) {
  // The interop tests talk to real peers; a peer that cannot be installed is skipped loudly.
  results.push(
    await step("interop peers (apt-get)", async () => {
      const missing = await installPeers();
      return missing.length > 0 ? { note: `missing: ${missing.join("; ")}` } : {};
    }),
  );
}

/** Deno: every test and the documentation's examples, test files in parallel, with coverage. */
async function denoTests(buffered: boolean): Promise<StepResult[]> {
  if (!wants("deno")) return [];
  return [
    await step("tests under Deno", async (output) => {
      const coverage = join(root, ".build/coverage");
      await rm(coverage, { recursive: true, force: true });
      const result = await runner(
        [
          bin("deno"),
          "test",
          "-A",
          // Type-checked in the lint step already (code, JSDoc examples, README).
          "--no-check",
          "--parallel",
          "--doc",
          `--coverage=${coverage}`,
          "--coverage-raw-data-only",
          "tests/",
          "codec/",
          "io/",
          "tftp/",
          "ftps/",
          "mod.ts",
          "README.md",
        ],
        denoCounts,
        output,
      );
      // Coverage of the library through its public API (the tests import nothing private).
      const report = await run(
        [
          bin("deno"),
          "coverage",
          coverage,
          "--include=^file:.*/(codec|io|tftp|ftps)/",
          "--exclude=/tests/",
        ],
        { cwd: root, env: { NO_COLOR: "1" }, quiet: true },
        false,
      );
      output.write(report.output);
      return result;
    }, buffered),
  ];
}

/** Bun: the tests that depend on the runtime, files in parallel. */
async function bunTests(buffered: boolean): Promise<StepResult[]> {
  if (!wants("bun")) return [];
  const all = await testFiles("tests", "_test.ts");
  checkTiers(all);
  const files = all.filter(runtimeDependent);
  return [
    await step(
      "tests under Bun",
      (output) =>
        runner(
          [
            bin("bun"),
            "test",
            "--timeout",
            "120000",
            "--parallel",
            ...files.map((file) => `./${file}`),
          ],
          bunCounts,
          output,
        ),
      buffered,
    ),
  ];
}

/** The npm build, then the tests that depend on the runtime under Node, then the tarball. */
async function nodeTests(buffered: boolean): Promise<StepResult[]> {
  const steps: StepResult[] = [];
  let built = false;
  if (wants("node") || wants("smoke")) {
    const build = await step("npm build (tsc)", async () => {
      await buildNpm();
    }, buffered);
    steps.push(build);
    built = build.ok;
  }
  if (wants("node")) {
    steps.push(
      await step("tests under Node (compiled npm build)", async (output) => {
        if (!built) throw new Error("skipped: the npm build failed");
        const files = (await testFiles("npm/tests", "_test.js")).filter(runtimeDependent);
        return runner(
          // No --test-force-exit: it drops finished tests from the report (nodejs/node#64833).
          // Every test closes what it opens; a stuck test fails after its own timeout, and the
          // runner kills the whole step after 20 minutes. Two files at a time (Node's default
          // is one fewer than the cores). Node holds each test file, as a whole, to the same
          // timeout as a test: it is set for the slowest file on a loaded machine (the 100 MB
          // interop transfers), not for one test.
          [
            "node",
            "--test",
            "--test-timeout=360000",
            "--test-concurrency=2",
            "--test-reporter=spec",
            ...files,
          ],
          nodeCounts,
          output,
        );
      }, buffered),
    );
  }
  if (wants("smoke")) {
    steps.push(
      await step("npm tarball smoke test", async () => {
        if (!built) throw new Error("skipped: the npm build failed");
        await smokeNpm();
      }, buffered),
    );
  }
  return steps;
}

if (serial) {
  results.push(...await denoTests(false), ...await bunTests(false), ...await nodeTests(false));
} else {
  console.log(
    "\n=== tests under Deno, Bun and Node, side by side (FTKIT_TEST_SERIAL=1: one at a time) ===",
  );
  const [deno, bun, node] = await Promise.all([denoTests(true), bunTests(true), nodeTests(true)]);
  results.push(...deno, ...bun, ...node);
}

if (wants("publish")) results.push(await denoStep("publish", "--dry-run", "--allow-dirty"));

console.log("\n=== summary ===");
let passed = 0;
let failed = 0;
let skipped = 0;
for (const result of results) {
  const counts = result.counts
    ? `  ${result.counts.passed} passed, ${result.counts.failed} failed, ${result.counts.skipped} skipped`
    : "";
  console.log(
    `${result.ok ? "ok  " : "FAIL"}  ${result.name} (${result.seconds.toFixed(1)} s)${counts}`,
  );
  // The failed tests by name, so that the summary alone (the end of a CI log) says what failed.
  const failures = result.counts?.failures ?? [];
  for (const name of failures.slice(0, 20)) console.log(`        failed: ${name}`);
  if (failures.length > 20) console.log(`        ... and ${failures.length - 20} more`);
  if (result.counts) {
    passed += result.counts.passed;
    failed += result.counts.failed;
    skipped += result.counts.skipped;
  } else if (!result.ok) {
    failed += 1;
  }
}
// Bun and Node run the same test files: a different total means a runner lost tests.
const total = (name: string) => {
  const counts = results.find((result) => result.name.startsWith(name))?.counts;
  return counts ? counts.passed + counts.failed + counts.skipped : undefined;
};
const [bunTotal, nodeTotal] = [total("tests under Bun"), total("tests under Node")];
const sameTests = bunTotal === undefined || nodeTotal === undefined || bunTotal === nodeTotal;
if (!sameTests) {
  console.log(`FAIL  Bun ran ${bunTotal} tests and Node ${nodeTotal}: one of them lost some`);
}
const allOk = results.length > 0 && results.every((result) => result.ok) && sameTests;
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
Deno.exit(allOk ? 0 : 1);
