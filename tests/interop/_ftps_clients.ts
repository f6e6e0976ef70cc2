// ftkit's FTPS server started in-process for real clients (curl, lftp, Python's ftplib,
// basic-ftp), and small runners for those clients.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { serveFtps as onDeno } from "../../ftps/adapters/deno.ts";
import { serveFtps as onBun } from "../../ftps/adapters/bun.ts";
import { serveFtps as onNode } from "../../ftps/adapters/node.ts";
import type { FtpsLogEntry, FtpsServer, ServeFtpsOptions } from "../../ftps/mod.ts";
import { runtime } from "../_runtime.ts";
import { PEER, type Ran, runPeer } from "./_peers.ts";
import { until, WAIT_MS } from "../_wait.ts";
import { FIXTURES, PASSWORD, USER } from "./_ftps_servers.ts";

/** `serveFtps` from this runtime's entry point. */
export const serveFtps: typeof onNode = runtime === "deno"
  ? onDeno
  : runtime === "bun"
  ? onBun
  : onNode;

export type { FtpsLogEntry, FtpsServer, ServeFtpsOptions };

/** The test CA's file, for the clients' `--cacert` and friends. */
export const CA_FILE: string = join(FIXTURES, "ca.pem");

/** The test CA, PEM. */
export const CA_PEM: string = readFileSync(CA_FILE, "utf8");

/** The test leaf certificate (localhost, 127.0.0.1, ::1) and its key, PEM. */
export const LEAF_PEM: string = readFileSync(join(FIXTURES, "leaf.pem"), "utf8");
export const LEAF_KEY: string = readFileSync(join(FIXTURES, "leaf.key"), "utf8");

/** A running ftkit server, with what it logged. */
export interface LoggedServer {
  readonly server: FtpsServer;
  readonly port: number;
  /** Every log entry, in order. */
  readonly log: FtpsLogEntry[];
  /** Every error the server reported. */
  readonly errors: Error[];
  /** The transfer entries logged from index `from` on. */
  transfers(from?: number): Extract<FtpsLogEntry, { type: "transfer" }>[];
  close(): Promise<void>;
}

/**
 * Starts ftkit's server on 127.0.0.1 (free port) with the test leaf certificate, the user
 * `user`/`secret` allowed to write in `root`, no login failure delay and no lockout; `options`
 * override any of that.
 */
export async function startFtkit(
  root: string,
  options: Partial<ServeFtpsOptions> = {},
): Promise<LoggedServer> {
  const log: FtpsLogEntry[] = [];
  const errors: Error[] = [];
  const server = await serveFtps({
    root,
    allowWrite: true,
    users: { [USER]: PASSWORD },
    tls: { cert: LEAF_PEM, key: LEAF_KEY },
    host: "127.0.0.1",
    port: 0,
    loginFailureDelayMs: 0,
    lockout: false,
    dataTimeoutMs: 20_000,
    onLog: (entry) => void log.push(entry),
    onError: (error) => void errors.push(error),
    ...options,
  });
  return {
    server,
    port: server.address.port,
    log,
    errors,
    transfers: (from = 0) =>
      log.slice(from).filter((entry): entry is Extract<FtpsLogEntry, { type: "transfer" }> =>
        entry.type === "transfer"
      ),
    close: () => server.close(),
  };
}

/**
 * Waits until the server has logged `count` entries matching `match` after index `from` (a
 * client can exit before the server's log line for its last transfer is written), bounded; then
 * returns the matching entries, however many there are (the caller asserts on them).
 */
export async function logged(
  log: readonly FtpsLogEntry[],
  from: number,
  match: (entry: FtpsLogEntry) => boolean,
  count = 1,
  timeoutMs: number = WAIT_MS,
): Promise<FtpsLogEntry[]> {
  const found = () => log.slice(from).filter(match);
  await until(() => found().length >= count, `${count} log entries`, timeoutMs).catch(() => {});
  return found();
}

/**
 * curl with the test CA, quiet but showing errors, bounded in time (generously: 100 MB over TLS
 * on a loaded machine is slow).
 */
export function curl(args: string[], timeoutMs = 300_000): Promise<Ran> {
  const seconds = String(Math.floor(timeoutMs / 1000) - 5);
  return runPeer(PEER.curl, ["-sS", "--cacert", CA_FILE, "--max-time", seconds, ...args], {
    timeoutMs,
  });
}

/** An lftp script run against `url` with TLS forced on control and data, the test CA trusted. */
export function lftp(
  url: string,
  commands: string[],
  options: { passive?: boolean; timeoutMs?: number } = {},
): Promise<Ran> {
  const script = [
    "set cmd:fail-exit true",
    "set ftp:ssl-force true",
    "set ftp:ssl-protect-data true",
    `set ssl:ca-file ${CA_FILE}`,
    "set ssl:check-hostname true",
    `set ftp:passive-mode ${options.passive === false ? "off" : "on"}`,
    "set net:max-retries 1",
    "set net:timeout 20",
    "set xfer:clobber on",
    `open -u ${USER},${PASSWORD} ${url}`,
    ...commands,
    "bye",
  ].join("\n");
  return runPeer(PEER.lftp, ["-c", script], { timeoutMs: options.timeoutMs ?? 300_000 });
}

/**
 * Runs a Python script (Debian's python3) with `args` in `sys.argv[1:]`; the script prints one
 * JSON document as its last line of output, which is returned parsed.
 */
export async function python<T = Record<string, unknown>>(
  script: string,
  args: (string | number)[],
  timeoutMs = 300_000,
): Promise<T> {
  const ran = await runPeer(PEER.python, ["-c", script, ...args.map(String)], { timeoutMs });
  const last = ran.stdout.trim().split("\n").at(-1) ?? "";
  if (ran.code !== 0 || !last.startsWith("{")) {
    throw new Error(`python exited ${ran.code}: ${ran.stderr}${ran.stdout}`);
  }
  return JSON.parse(last) as T;
}
