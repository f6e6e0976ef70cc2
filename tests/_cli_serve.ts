// The `ftkit` command's servers (`tftp serve`, `ftps serve`, `serve`) run in-process through
// runCli, started on ports that were free a moment before and ready once they say so.

import assert from "node:assert/strict";
import { runCli } from "../cli.ts";
import { freePort, freeTcpPort } from "./interop/_peers.ts";
import { until, WAIT_MS, within } from "./_wait.ts";

/** A server command running in-process. */
export interface ServingCli {
  /** The ports it was given, in the order asked for. */
  readonly ports: number[];
  /** Every line it printed so far (standard output and error). */
  readonly lines: string[];
  /** Waits (bounded) until a line matches `pattern`; returns that line. */
  line(pattern: RegExp): Promise<string>;
  /** Stops it (its signal aborts) and checks that it exited 0. */
  stop(): Promise<void>;
}

/** The command ended before it printed its ready line. */
class EndedEarly extends Error {
  readonly lines: string[];
  constructor(lines: string[]) {
    super(`the server ended before it was ready:\n${lines.join("\n")}`);
    this.lines = lines;
  }
}

async function start(args: string[], ready: RegExp, ports: number[]): Promise<ServingCli> {
  const controller = new AbortController();
  const lines: string[] = [];
  let printed: () => void = () => {};
  const isReady = new Promise<void>((resolve) => (printed = resolve));
  const note = (line: string) => {
    lines.push(line);
    if (ready.test(line)) printed();
  };
  const done = runCli(args, { out: note, err: note }, controller.signal);
  const ended = done.then(() => "ended" as const, () => "ended" as const);
  let first: "ready" | "ended";
  try {
    first = await within(
      Promise.race([isReady.then(() => "ready" as const), ended]),
      `the line ${ready} from ftkit ${args.join(" ")}`,
    );
  } catch (error) {
    controller.abort();
    await within(done, "the server to stop").catch(() => {});
    throw new Error(`${(error as Error).message}; it printed:\n${lines.join("\n")}`);
  }
  if (first === "ended") throw new EndedEarly(lines);
  return {
    ports,
    lines,
    async line(pattern: RegExp): Promise<string> {
      await until(() => lines.some((line) => pattern.test(line)), `a line ${pattern}`);
      return lines.find((line) => pattern.test(line))!;
    },
    async stop(): Promise<void> {
      controller.abort();
      assert.equal(await within(done, "the server to stop", WAIT_MS), 0, lines.join("\n"));
    },
  };
}

/**
 * Runs `ftkit ARGS` in-process, where `args` gets one free port per entry of `protocols`, and
 * resolves once a printed line matches `ready`. When a port was taken between picking and
 * binding (the command then ends with "address in use"), it starts again on other ports, at most
 * five times. Stop it with `stop()`.
 */
export async function serveCli(
  protocols: ("udp" | "tcp")[],
  args: (ports: number[]) => string[],
  ready: RegExp,
): Promise<ServingCli> {
  for (let attempt = 1;; attempt++) {
    const ports: number[] = [];
    for (const protocol of protocols) {
      ports.push(protocol === "udp" ? await freePort() : await freeTcpPort());
    }
    try {
      return await start(args(ports), ready, ports);
    } catch (error) {
      const taken = error instanceof EndedEarly &&
        error.lines.some((line) => /in use|EADDRINUSE/i.test(line));
      if (!taken || attempt >= 5) throw error;
    }
  }
}
