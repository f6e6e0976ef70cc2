// What the command prints and how it stops: where lines go, the progress bar, host:port
// formatting, and SIGINT/SIGTERM turned into an aborted signal and an exit code.

import process from "node:process";

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

/** An error as one line: its message's first line, with its code when the message lacks it. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const first = message.split("\n")[0];
  return typeof code === "string" && !first.includes(code) ? `${first} (${code})` : first;
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

/** Bytes over seconds as " 12.3 MB/s", or "" for no time at all. */
export function rate(bytes: number, seconds: number): string {
  return seconds > 0 ? ` ${(bytes / 1e6 / seconds).toFixed(1)} MB/s` : "";
}

/** How far a transfer is: bytes so far and, when known, of how many. */
export interface Progress {
  /** Bytes moved so far. */
  bytes: number;
  /** The whole size, when known. */
  total?: number;
}

/**
 * A progress bar drawn through `draw` at most every 100 ms (and at the end), for a transfer that
 * began at `started` (`performance.now()`).
 */
export function bar(draw: (line: string) => void, started: number): (progress: Progress) => void {
  let last = 0;
  return ({ bytes, total }) => {
    const time = performance.now();
    if (time - last < 100 && bytes !== total) return;
    last = time;
    const speed = bytes / 1e6 / Math.max((time - started) / 1000, 0.001);
    if (total) {
      const fraction = Math.min(1, bytes / total);
      const filled = Math.round(fraction * 30);
      draw(
        `[${"#".repeat(filled)}${" ".repeat(30 - filled)}] ${
          (fraction * 100).toFixed(0).padStart(3)
        }% ${bytes}/${total} bytes ${speed.toFixed(1)} MB/s`,
      );
    } else {
      draw(`${bytes} bytes ${speed.toFixed(1)} MB/s`);
    }
  };
}
