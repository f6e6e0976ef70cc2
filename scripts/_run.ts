// Runs a child process for the build and test scripts, with a time limit.

import { spawn } from "node:child_process";

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Kill the process after this many milliseconds (default: 20 minutes). */
  timeoutMs?: number;
  /** Collect and return stdout instead of letting it through. */
  capture?: boolean;
  /** Pass output through and also return it (stdout and stderr together). */
  tee?: boolean;
  /** Return the output (stdout and stderr together) without passing any of it through. */
  quiet?: boolean;
}

/** The result of {@linkcode run}. */
export interface RunResult {
  /** Exit code (or 1 when killed by a signal or the time limit). */
  code: number;
  /** Captured output, when asked for. */
  output: string;
}

/** Runs `command`; throws if it exits non-zero, unless `check` is false. */
export async function run(
  command: string[],
  options: RunOptions = {},
  check = true,
): Promise<RunResult> {
  const [program, ...args] = command;
  const piped = options.capture || options.tee || options.quiet;
  const both = options.tee || options.quiet;
  const child = spawn(program, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", piped ? "pipe" : "inherit", both ? "pipe" : "inherit"],
    detached: true,
  });
  let output = "";
  const collect = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    output += chunk.toString();
    if (options.tee) stream.write(chunk);
  };
  child.stdout?.on("data", collect(process.stdout));
  child.stderr?.on("data", collect(process.stderr));
  const timeoutMs = options.timeoutMs ?? 20 * 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // The whole process group: a runner's own children go too.
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }, timeoutMs);
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (exitCode) => resolve(exitCode ?? 1));
  }).finally(() => clearTimeout(timer));
  if (timedOut) output += `\n${program} killed after ${timeoutMs} ms\n`;
  if (check && code !== 0) {
    throw new Error(`${[program, ...args].join(" ")} exited with ${timedOut ? "a timeout" : code}`);
  }
  return { code: timedOut ? 1 : code, output };
}
