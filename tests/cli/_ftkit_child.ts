// The real `ftkit` command in a child process of the runtime running the tests, with an
// environment of the test's own: the process's, less every AWS_* variable, with HOME (and
// USERPROFILE) a directory of the test's, and what the test adds.

import { spawn } from "node:child_process";
import process from "node:process";
import assert from "node:assert/strict";
import { projectFile, runtimeCommand } from "../_runtime.ts";
import { until } from "../_wait.ts";

/** The command running. */
export interface FtkitChild {
  /** Waits (bounded) for a line of standard output matching `pattern`. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Standard output and error so far. */
  text(): string;
  /** Ends it with SIGTERM. */
  stop(): void;
  /** Its exit code and what it printed. */
  readonly exited: Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * Starts `ftkit ARGS`, killed after 60 s if it has not ended (the test then fails on its code).
 *
 * @param args The arguments.
 * @param home The HOME it sees (~/.aws is read there).
 * @param env Variables to add (AWS_ACCESS_KEY_ID, ...).
 */
export function ftkitChild(
  args: string[],
  home: string,
  env: Record<string, string> = {},
): FtkitChild {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_")),
  );
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  const child = spawn(program, [...programArgs, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...clean, HOME: home, USERPROFILE: home, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const exited = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  return {
    async line(pattern) {
      await until(() => pattern.test(stdout) || child.exitCode !== null, `a line ${pattern}`);
      const match = stdout.match(pattern);
      assert.ok(match, `no line ${pattern}; the command printed:\n${stdout}${stderr}`);
      return match;
    },
    text: () => stdout + stderr,
    // process.kill, not child.kill: Deno's child_process reports a child it signalled as killed.
    stop: () => process.kill(child.pid!, "SIGTERM"),
    exited,
  };
}
