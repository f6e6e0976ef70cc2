// What the command prints and how it stops: where lines go, the progress bar, host:port
// formatting, and SIGINT/SIGTERM turned into an aborted signal and an exit code.

import process from "node:process";
import { rmSync } from "node:fs";

/** Where the command writes. */
export interface CliOutput {
  /** Writes one line of normal output. */
  out(line: string): void;
  /** Writes one line of error output. */
  err(line: string): void;
  /** Redraws a progress line, when the output is a terminal. */
  progress?(line: string): void;
}

/** The reason `ftkit` aborts a command's signal with on SIGINT or SIGTERM. */
export class CliInterrupt extends Error {
  /** The exit code: 128 plus the signal's number (130 for SIGINT, 143 for SIGTERM). */
  readonly exitCode: number;
  /**
   * Makes the reason for one signal.
   *
   * @param signal The signal that came.
   */
  constructor(signal: "SIGINT" | "SIGTERM") {
    super(`Interrupted by ${signal}`);
    this.name = "AbortError";
    this.exitCode = signal === "SIGTERM" ? 143 : 130;
  }
}

/** The exit code of a transfer command that `signal` interrupted (130 unless SIGTERM's 143). */
export function interruptedCode(signal: AbortSignal): number {
  return signal.reason instanceof CliInterrupt ? signal.reason.exitCode : 130;
}

/**
 * A signal that SIGINT and SIGTERM abort with a {@linkcode CliInterrupt}; a second signal exits
 * the process at once.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    process.on(name, () => {
      if (controller.signal.aborted) process.exit(interruptedCode(controller.signal));
      controller.abort(new CliInterrupt(name));
    });
  }
  return controller.signal;
}

/** Standard output and error, with a progress line redrawn on standard error in a terminal. */
export function processOutput(): CliOutput {
  const tty = process.stderr.isTTY;
  return {
    out: (line) => process.stdout.write(line + "\n"),
    err: (line) => process.stderr.write(line + "\n"),
    progress: tty ? (line) => process.stderr.write(`\r\x1b[2K${line}`) : undefined,
  };
}

/** Paths to remove if the process exits before the command removed them itself. */
const removedOnExit = new Set<string>();

/**
 * Removes `path` (recursively) when the process exits, unless {@linkcode forgetOnExit} is called
 * first: for a temporary file that must not outlive a process ended at once by a second signal.
 */
export function removeOnExit(path: string): void {
  if (removedOnExit.size === 0) process.once("exit", removeNow);
  removedOnExit.add(path);
}

/** The command removed `path` itself: nothing to do for it at exit. */
export function forgetOnExit(path: string): void {
  removedOnExit.delete(path);
  if (removedOnExit.size === 0) process.off("exit", removeNow);
}

function removeNow(): void {
  for (const path of removedOnExit) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Exiting: nothing more can be done about it.
    }
  }
  removedOnExit.clear();
}

/** Resolves when `signal` aborts, or on SIGINT or SIGTERM without one. */
export function stopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener("abort", () => resolve(), { once: true });
    if (!signal) {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    }
  });
}

/** Settles as `promise` does, or rejects with the signal's reason once it aborts; what `promise`
 * gives after that goes to `late`. */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  late: (value: T) => void,
): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const aborted = () => {
      reject(signal.reason);
      promise.then(late, () => {});
    };
    if (signal.aborted) return aborted();
    signal.addEventListener("abort", aborted, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", aborted));
  });
}

/** Resolves after `ms`, without keeping the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}

/** `[host]:port`, bracketing IPv6. */
export function where(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A URL's host part for `host` (0.0.0.0 and :: are reached on loopback). */
export function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** A size in human units: "512 B", "1.5 KiB", "3.0 MiB", "1.20 GiB". */
export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit >= 2 ? 2 : 1)} ${units[unit]}`;
}

/** A duration as "0:07", "12:34" or "1:02:03". */
export function humanDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Bytes over seconds as " (1.2 MiB/s)", or "" for no time at all. */
export function rate(bytes: number, seconds: number): string {
  return seconds > 0 ? ` (${humanBytes(bytes / seconds)}/s)` : "";
}

/** How far a transfer is: bytes so far and, when known, of how many. */
export interface Progress {
  /** Bytes moved so far. */
  bytes: number;
  /** The whole size, when known. */
  total?: number;
}

/**
 * The progress line for `progress`, `seconds` after the transfer began: with a known size a bar,
 * the share done, the sizes, the rate and the time left; else the bytes so far and the rate.
 */
export function progressLine({ bytes, total }: Progress, seconds: number): string {
  const speed = bytes / Math.max(seconds, 0.001);
  const perSecond = `${humanBytes(speed)}/s`;
  if (!total) return `${humanBytes(bytes)}  ${perSecond}`;
  const fraction = Math.min(1, bytes / total);
  const filled = Math.round(fraction * 24);
  const eta = speed > 0 ? `  ETA ${humanDuration((total - bytes) / speed)}` : "";
  return `[${"#".repeat(filled)}${" ".repeat(24 - filled)}] ${
    (fraction * 100).toFixed(0).padStart(3)
  }% ${humanBytes(bytes)} of ${humanBytes(total)}  ${perSecond}${bytes < total ? eta : ""}`;
}

/**
 * A progress bar drawn through `draw` at most every 100 ms (and at the end), for a transfer that
 * began at `started` (`performance.now()`).
 */
export function bar(draw: (line: string) => void, started: number): (progress: Progress) => void {
  let last = 0;
  return (progress) => {
    const time = performance.now();
    if (time - last < 100 && progress.bytes !== progress.total) return;
    last = time;
    draw(progressLine(progress, (time - started) / 1000));
  };
}
