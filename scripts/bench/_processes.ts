/**
 * Processes for the server benchmarks: children started in their own process group and read line
 * by line, and what /proc tells of a process tree (memory, CPU time, open-file limits) and of the
 * kernel's listen queues. Linux only.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process whose standard output is read line by line. */
export interface Child {
  readonly child: ChildProcess;
  /** The next line of its standard output (rejects after `timeoutMs`, or when it exits). */
  line(timeoutMs: number): Promise<string>;
  /** The end of its standard error, for error messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL to its process group after 3 s. */
  stop(): Promise<void>;
}

/** Children still running, for an interrupted run to kill. */
export const running = new Set<ChildProcess>();

/** Starts `program` in a process group of its own; its standard input stays open (a lifeline). */
export function startChild(program: string, args: string[]): Child {
  const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
  running.add(child);
  child.on("exit", () => running.delete(child));
  const lines: string[] = [];
  let partial = "";
  let errors = "";
  let wake = () => {};
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    const parts = (partial + text).split("\n");
    partial = parts.pop()!;
    lines.push(...parts);
    wake();
  });
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    errors = (errors + text).slice(-4000);
  });
  child.on("exit", () => wake());
  child.on("error", (error) => {
    errors += String(error);
    wake();
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    async line(timeoutMs) {
      const until = performance.now() + timeoutMs;
      while (lines.length === 0) {
        if (gone()) throw new Error(`${program} exited (${child.exitCode}): ${errors.trim()}`);
        const left = until - performance.now();
        if (left <= 0) throw new Error(`${program}: no output after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return lines.shift()!;
    },
    stderr: () => errors,
    async stop() {
      if (gone()) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin!.destroy();
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      }, 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a program to its end (killed after `timeoutMs`); resolves with its standard output. */
export async function run(program: string, args: string[], timeoutMs: number): Promise<string> {
  const started = startChild(program, args);
  started.child.stdin!.end();
  const exited = new Promise<number | null>((resolve) => started.child.once("exit", resolve));
  let out = "";
  started.child.stdout!.removeAllListeners("data").on("data", (text: string) => (out += text));
  const timer = setTimeout(() => started.stop(), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`${program} ${args[0]}: exit ${code}: ${started.stderr().trim()}`);
  }
  return out;
}

/** The first line a version command prints, or "?" when it cannot run. */
export async function version(program: string, args: string[]): Promise<string> {
  try {
    return (await run(program, args, 10_000)).trim().split("\n")[0];
  } catch {
    return "?";
  }
}

/** `/proc/PID/status` fields in kB (VmRSS, VmHWM), or undefined once the process is gone. */
export function procStatus(pid: number): Record<string, number> | undefined {
  try {
    const fields: Record<string, number> = {};
    for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      const match = /^(Vm\w+):\s+(\d+) kB/.exec(line);
      if (match) fields[match[1]] = Number(match[2]);
    }
    return fields;
  } catch {
    return undefined;
  }
}

/** The process `pid` and all its descendants, now. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // pid (comm) state ppid ...; comm may hold spaces and parentheses.
      const text = readFileSync(`/proc/${name}/stat`, "utf8");
      const parent = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
    } catch {
      // Gone between the listing and the read.
    }
  }
  const tree = [pid];
  for (let at = 0; at < tree.length; at++) tree.push(...(children.get(tree[at]) ?? []));
  return tree;
}

/** Sum of RSS and of PSS (kB) of the processes, and how many were still there. */
export function memoryOf(pids: number[]): { rss: number; pss: number; processes: number } {
  let rss = 0;
  let pss = 0;
  let processes = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      rss += Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
      processes++;
    } catch {
      // Gone.
    }
  }
  return { rss, pss, processes };
}

/** CPU seconds of a process and of the children it has reaped (utime, stime, cutime, cstime). */
export function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 14 to 17 of proc(5), in clock ticks (100 a second on Linux).
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
}

/** The kernel's count of connections dropped at full listen queues (all sockets). */
export function listenDrops(): number {
  const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
  const names = lines.find((line) => line.startsWith("TcpExt:"))!.split(" ");
  const numbers = lines.filter((line) => line.startsWith("TcpExt:"))[1].split(" ");
  return Number(numbers[names.indexOf("ListenDrops")]);
}

/**
 * Raises the open-file limit of the process `pid` to `files` where it is lower (prlimit; the
 * bench runs as root): a thousand sessions need more than the usual 1024, in the server's
 * process and in the client worker's. vsftpd's session processes inherit its limit.
 */
export async function roomForFiles(pid: number, files: number): Promise<void> {
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? Infinity);
  if (soft >= files) return;
  await run("prlimit", ["--pid", String(pid), `--nofile=${files}:${files}`], 10_000);
}

/** Memory of a server's processes (kB, summed over them). */
export type Memory = ReturnType<typeof memoryOf>;

/** The memory of a server's processes once it holds still: sampled every 250 ms until the last
 * four samples of RSS lie within 1% (or 256 kB) of each other, for at most 20 s; the last sample.
 * (A server's garbage collection cannot be forced from outside: this is its steady value.) */
export async function steadyMemory(pid: number): Promise<Memory> {
  const samples: number[] = [];
  const end = performance.now() + 20_000;
  for (;;) {
    const now = memoryOf(processTree(pid));
    samples.push(now.rss);
    const last = samples.slice(-4);
    const spread = Math.max(...last) - Math.min(...last);
    if (last.length === 4 && spread <= Math.max(256, Math.max(...last) / 100)) return now;
    if (performance.now() > end) return now;
    await sleep(250);
  }
}

/** The runtimes ftkit's command runs on. */
export type Runtime = "deno" | "bun" | "node";

const repository = fileURLToPath(new URL("../..", import.meta.url));

/** `ftkit ARGS` on `runtime`, as a program and its arguments: the source on Deno and Bun, the
 * npm build on Node (scripts/build_npm.ts). */
export function ftkitCommand(runtime: Runtime, args: string[]): [string, string[]] {
  const bin = (name: string) => join(repository, "node_modules/.bin", name);
  const cli = join(repository, "cli.ts");
  if (runtime === "deno") return [bin("deno"), ["run", "-A", cli, ...args]];
  if (runtime === "bun") return [bin("bun"), [cli, ...args]];
  return ["node", [join(repository, "npm/cli.js"), ...args]];
}
