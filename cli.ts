#!/usr/bin/env -S deno run -A
/**
 * The `ftkit` command.
 *
 * ```sh
 * ftkit tftp serve [DIR] --host ADDR --port N [--allow-write] [--allow-overwrite] [--single-port]
 *                  [--max-transfers N] [--max-transfers-per-client N] [--request-rate N] ...
 * ftkit tftp get HOST[:PORT] REMOTE [LOCAL] [--blksize N] [--windowsize N] [--retries N]
 * ftkit tftp put HOST[:PORT] LOCAL [REMOTE] [--blksize N] [--windowsize N] [--retries N]
 * ftkit tftp decode HEX     # decode one TFTP datagram given in hex, print it as JSON
 * ftkit tftp encode JSON    # encode a packet given as JSON, print the datagram in hex
 * ftkit serve [DIR]                       # TFTP and FTPS together, read-only, on loopback
 * ftkit ftps serve [DIR] --user NAME:PASS [--implicit] [--cert FILE --key FILE] [--allow-write]
 * ftkit ftps ls URL [--long]              # ftps://host/dir (implicit TLS), ftp://host/dir --tls
 * ftkit ftps get URL [LOCAL]              # download a file ("-": standard output)
 * ftkit ftps put LOCAL URL                # upload a file (URL ending in "/": keep LOCAL's name)
 * ```
 *
 * Runs as `deno run -A cli.ts`, `bun cli.ts`, or the `ftkit` bin of the npm package.
 *
 * @module
 */

import process from "node:process";
import { realpathSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { decodeTftpPacket, encodeTftpPacket, TftpDecodeError, type TftpPacket } from "./mod.ts";
import type {
  TftpClientOptions,
  TftpProgress,
  TftpRuntimeApi,
  TftpTransferRecord,
} from "./tftp/mod.ts";
import { TftpTransferError } from "./tftp/mod.ts";

/** The version of this build of ftkit. */
export const VERSION = "0.1.0";

const USAGE = `ftkit ${VERSION}: TFTP and FTPS toolkit

Usage:
  ftkit serve [DIR] [--host ADDR] [--tftp-port N] [--ftps-port N] [--user NAME:PASS]
              [--cert FILE --key FILE] [--allow-write] [--quiet]
      Serve DIR (default: the current directory) over TFTP (default port 6969) and FTPS
      (explicit TLS, default port 2121) at once, on ADDR (default 127.0.0.1).
  ftkit tftp serve [DIR] [--host ADDR] [--port N] [--allow-write] [--allow-overwrite]
                   [--single-port] [--max-blksize N] [--max-windowsize N] [--quiet]
                   [--max-transfers N] [--max-transfers-per-client N] [--request-rate N]
                   [--request-burst N] [--first-reply-retransmits N] [--max-write-size BYTES]
      Serve DIR (default: the current directory) on ADDR:N (default 127.0.0.1:6969).
      Read-only unless --allow-write; uploads never replace files unless --allow-overwrite.
      Limits against forged requests (defaults): 256 transfers at once, 16 per client
      address, 10 unanswered requests per second per address after a burst of 20, the first
      reply sent once until the client answers, uploads up to 1073741824 bytes; "unlimited"
      lifts a limit. --single-port holds reads to blksize 512 and windowsize 1 unless
      --max-blksize or --max-windowsize are given.
  ftkit tftp get HOST[:PORT] REMOTE [LOCAL] [--blksize N] [--windowsize N] [--timeout S]
                 [--retries N] [--netascii]
      Download REMOTE to LOCAL (default: its base name; "-" writes to standard output). The
      file is written aside and takes LOCAL's name only when whole.
  ftkit tftp put HOST[:PORT] LOCAL [REMOTE] [--blksize N] [--windowsize N] [--timeout S]
                 [--retries N] [--netascii]
      Upload LOCAL as REMOTE (default: its base name). --retries: retransmissions before
      giving up (default 6).
  ftkit tftp decode HEX     Decode one TFTP datagram given in hex and print it as JSON
  ftkit tftp encode JSON    Encode a TFTP packet given as JSON and print the datagram in hex
  ftkit ftps serve [DIR] [--host ADDR] [--port N] [--user NAME:PASS]... [--implicit]
                   [--cert FILE --key FILE] [--allow-write] [--anonymous] [--allow-ccc]
                   [--passive-ports LOW-HIGH] [--passive-host ADDR] [--require-resumption]
                   [--max-sessions N] [--max-sessions-per-ip N] [--idle-timeout S]
                   [--login-timeout S] [--allow-missing-close-notify] [--ca-out FILE] [--quiet]
      Serve DIR over FTPS on ADDR:N (default 127.0.0.1:2121, or :9990 with --implicit). TLS is
      required before login and on data (PROT P). Read-only unless --allow-write. Without
      --user, the user "ftkit" gets a random password (printed). Without --cert, an ephemeral
      CA and certificate are made for this run: the CA goes to --ca-out (default: a file in
      the temporary directory), for clients to trust, and its fingerprint is printed.
      Limits: 256 sessions, 10 per address (--max-sessions, --max-sessions-per-ip); a login
      within 60 s (--login-timeout), 300 s of idleness (--idle-timeout). A protected upload is
      kept only when the client ends it with TLS close_notify (--allow-missing-close-notify
      for clients that do not); --require-resumption refuses data connections that do not
      resume the control connection's TLS session (522; Python's ftplib cannot).
  ftkit ftps ls URL [--long]
      List a directory.
  ftkit ftps get URL [LOCAL]
      Download a file to LOCAL (default: its base name; "-" writes to standard output).
  ftkit ftps put LOCAL URL
      Upload LOCAL to the URL's path (a path ending in "/" keeps LOCAL's name).
    URL: ftps://[USER[:PASS]@]HOST[:PORT]/PATH is implicit TLS (port 990);
         ftp://[USER[:PASS]@]HOST[:PORT]/PATH is explicit TLS (AUTH TLS, port 21) with --tls,
         plain FTP without it. Without a user, the login is anonymous.
    FTPS options: [--tls] [--user NAME[:PASS]] [--ca FILE] [--servername NAME] [--insecure]
                  [--tls-max 1.2|1.3] [--active] [--timeout S]
      --insecure skips certificate verification (test servers only).
  ftkit --help | --version

Examples:
  ftkit serve ./srv
  ftkit tftp serve ./tftpboot --host 0.0.0.0 --port 69
  ftkit ftps serve ./srv --user fred:secret --cert server.pem --key server.key --allow-write
  ftkit tftp get 127.0.0.1:6969 pxelinux.0 --blksize 1468 --windowsize 16
  ftkit ftps get ftp://fred:secret@127.0.0.1/pub/firmware.bin --tls --ca ca.pem
  ftkit ftps put ./r1.cfg ftps://fred@127.0.0.1/configs/ --user fred:secret
`;

/** Where the command writes. */
export interface CliOutput {
  /** Writes one line of normal output. */
  out(line: string): void;
  /** Writes one line of error output. */
  err(line: string): void;
  /** Redraws a progress line, when the output is a terminal. */
  progress?(line: string): void;
}

class UsageError extends Error {}

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
function interruptedCode(signal: AbortSignal): number {
  return signal.reason instanceof CliInterrupt ? signal.reason.exitCode : 130;
}

/**
 * Runs the command with `args` (without the program name).
 *
 * @param args The command-line arguments.
 * @param output Where to write.
 * @param signal Stops a running server (which then returns 0), or interrupts a transfer: the
 * command stops it cleanly and returns 130, or 143 when the reason is a {@linkcode CliInterrupt}
 * for SIGTERM.
 * @returns The exit code: 0 on success, 1 on failure, 2 on a usage error.
 */
export async function runCli(
  args: readonly string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  const [group, command, ...rest] = args;
  try {
    if (group === "--help" || group === "-h" || group === "help") {
      output.out(USAGE.trimEnd());
      return 0;
    }
    if (group === "--version") {
      output.out(VERSION);
      return 0;
    }
    if (group === "serve") return await serveBoth(args.slice(1), output, signal);
    if (group === "ftps" && command === "serve") return await ftpsServe(rest, output, signal);
    if (group === "ftps") return await ftps(command, rest, output, signal);
    if (group !== "tftp") {
      throw new UsageError(
        group === undefined ? "missing command" : `unknown command "${args.join(" ")}"`,
      );
    }
    switch (command) {
      case "decode":
      case "encode": {
        const [operand, ...extra] = rest;
        if (operand === undefined) throw new UsageError(`tftp ${command} needs an argument`);
        if (extra.length > 0) throw new UsageError(`unknown command "${args.join(" ")}"`);
        if (command === "decode") {
          output.out(JSON.stringify(toJson(decodeTftpPacket(fromHex(operand))), null, 2));
        } else output.out(toHex(encodeTftpPacket(fromJson(operand))));
        return 0;
      }
      case "serve":
        return await serve(rest, output, signal);
      case "get":
      case "put":
        return await getPut(command, rest, output, signal);
      default:
        throw new UsageError(`unknown command "${args.join(" ")}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(`ftkit: ${error.message}`);
      output.err(USAGE.trimEnd());
      return 2;
    }
    if (
      error instanceof TftpDecodeError || error instanceof TypeError ||
      error instanceof RangeError ||
      error instanceof SyntaxError || error instanceof TftpTransferError
    ) {
      output.err(`ftkit: ${error.message}`);
      return 1;
    }
    if (error instanceof Error && "code" in error) {
      output.err(`ftkit: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

async function runtimeApi(): Promise<TftpRuntimeApi> {
  if ("Deno" in globalThis) return await import("./tftp/adapters/deno.ts");
  if ("Bun" in globalThis) return await import("./tftp/adapters/bun.ts");
  return await import("./tftp/adapters/node.ts");
}

function parse(
  args: string[],
  options: Record<string, { type: "string" | "boolean"; multiple?: boolean }>,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function integer(name: string, value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  if (!/^[0-9]+$/.test(value)) {
    throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  }
  return Number(value);
}

/** A limit: a whole number, or "unlimited" (Infinity). */
function limit(name: string, value: unknown): number | undefined {
  if (value === "unlimited") return Infinity;
  if (typeof value === "string" && !/^[0-9]+$/.test(value)) {
    throw new UsageError(`--${name} must be a whole number or "unlimited", got "${value}"`);
  }
  return integer(name, value);
}

async function serve(args: string[], output: CliOutput, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, {
    host: { type: "string" },
    port: { type: "string" },
    "allow-write": { type: "boolean" },
    "allow-overwrite": { type: "boolean" },
    "single-port": { type: "boolean" },
    "max-blksize": { type: "string" },
    "max-windowsize": { type: "string" },
    "max-transfers": { type: "string" },
    "max-transfers-per-client": { type: "string" },
    "request-rate": { type: "string" },
    "request-burst": { type: "string" },
    "first-reply-retransmits": { type: "string" },
    "max-write-size": { type: "string" },
    quiet: { type: "boolean" },
  });
  if (positionals.length > 1) throw new UsageError("tftp serve takes one directory");
  const limits = {
    maxTransfers: limit("max-transfers", values["max-transfers"]),
    maxTransfersPerClient: limit("max-transfers-per-client", values["max-transfers-per-client"]),
    requestRate: limit("request-rate", values["request-rate"]),
    requestBurst: integer("request-burst", values["request-burst"]),
    firstReplyRetransmits: integer("first-reply-retransmits", values["first-reply-retransmits"]),
    maxWriteSize: limit("max-write-size", values["max-write-size"]),
  };
  const root = positionals[0] ?? ".";
  const api = await runtimeApi();
  const server = await api.serveTftp({
    root,
    host: (values.host as string | undefined) ?? "127.0.0.1",
    port: integer("port", values.port) ?? 6969,
    allowWrite: Boolean(values["allow-write"]),
    allowOverwrite: Boolean(values["allow-overwrite"]),
    singlePort: Boolean(values["single-port"]),
    maxBlksize: integer("max-blksize", values["max-blksize"]),
    maxWindowsize: integer("max-windowsize", values["max-windowsize"]),
    // Only the limits given: the others keep serveTftp's defaults.
    ...Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)),
    onTransfer: values.quiet ? undefined : (record) => output.out(describe(record)),
    onError: (error) => output.err(`ftkit: ${error.message}`),
  });
  const { address, port } = server.address;
  const where = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
  output.out(
    `Serving ${root} over TFTP on ${where}${
      values["allow-write"] ? " (writes allowed)" : " (read-only)"
    }`,
  );
  output.out(`Fetch a file with: curl -o FILE tftp://${where}/FILE`);
  await stopped(signal);
  await server.close();
  return 0;
}

/** Resolves when `signal` aborts, or on SIGINT or SIGTERM without one. */
function stopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener("abort", () => resolve(), { once: true });
    if (!signal) {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    }
  });
}

// --- ftkit ftps serve, ftkit serve ---

const FTPS_SERVE_OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  user: { type: "string", multiple: true },
  implicit: { type: "boolean" },
  cert: { type: "string" },
  key: { type: "string" },
  "allow-write": { type: "boolean" },
  anonymous: { type: "boolean" },
  "allow-ccc": { type: "boolean" },
  "passive-ports": { type: "string" },
  "passive-host": { type: "string" },
  "require-resumption": { type: "boolean" },
  "max-sessions": { type: "string" },
  "max-sessions-per-ip": { type: "string" },
  "idle-timeout": { type: "string" },
  "login-timeout": { type: "string" },
  "allow-missing-close-notify": { type: "boolean" },
  "ca-out": { type: "string" },
  quiet: { type: "boolean" },
} as const;

/** `[host]:port`, bracketing IPv6. */
function where(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A URL's host part for `host` (0.0.0.0 and :: are reached on loopback). */
function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

interface StartedFtps {
  server: { close(): Promise<void> };
  lines: string[];
}

/** Starts the FTPS server the command line asks for; returns it and the lines to print. */
async function startFtps(
  root: string,
  values: {
    host?: string;
    port?: number;
    user?: readonly string[];
    implicit?: boolean;
    cert?: string;
    key?: string;
    allowWrite?: boolean;
    anonymous?: boolean;
    allowCcc?: boolean;
    passivePorts?: string;
    passiveHost?: string;
    requireResumption?: boolean;
    maxSessions?: number;
    maxSessionsPerIp?: number;
    idleTimeout?: number;
    loginTimeout?: number;
    allowMissingCloseNotify?: boolean;
    caOut?: string;
    quiet?: boolean;
  },
  output: CliOutput,
): Promise<StartedFtps> {
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const users: Record<string, string> = {};
  for (const entry of values.user ?? []) {
    const at = entry.indexOf(":");
    if (at <= 0 || at === entry.length - 1) {
      throw new UsageError(`--user takes NAME:PASS, got "${entry}"`);
    }
    users[entry.slice(0, at)] = entry.slice(at + 1);
  }
  let generatedPassword: string | undefined;
  if (Object.keys(users).length === 0 && !values.anonymous) {
    const random = crypto.getRandomValues(new Uint8Array(9));
    generatedPassword = btoa(String.fromCharCode(...random)).replace(/[+/]/g, "x");
    users.ftkit = generatedPassword;
  }
  let passivePorts: [number, number] | undefined;
  if (values.passivePorts !== undefined) {
    const match = values.passivePorts.match(/^(\d+)-(\d+)$/);
    if (!match) {
      throw new UsageError(`--passive-ports takes LOW-HIGH, got "${values.passivePorts}"`);
    }
    passivePorts = [Number(match[1]), Number(match[2])];
  }
  const api = await ftpsApi();
  const host = values.host ?? "127.0.0.1";
  const lines: string[] = [];
  let cert: string;
  let key: string;
  let caFile: string | undefined;
  if (values.cert !== undefined) {
    cert = await readFile(values.cert, "utf8");
    key = await readFile(values.key!, "utf8");
  } else {
    const names = ["localhost", "127.0.0.1", "::1"];
    if (host !== "0.0.0.0" && host !== "::" && !names.includes(host)) names.push(host);
    const made = await api.createFtpsCertificate({ names, days: 7 });
    cert = made.certPem;
    key = made.keyPem;
    caFile = values.caOut ??
      join(tmpdir(), `ftkit-ca-${made.caFingerprint.slice(0, 8).replace(/:/g, "")}.pem`);
    await writeFile(caFile, made.caPem);
    lines.push(
      `Ephemeral certificate for ${names.join(", ")}, SHA-256 fingerprint ${made.fingerprint}`,
    );
    lines.push(`Its CA certificate (trust it in clients): ${caFile}`);
  }
  const secure = values.implicit ? "implicit" : "explicit";
  const server = await api.serveFtps({
    root,
    host,
    port: values.port ?? (values.implicit ? 9990 : 2121),
    secure,
    tls: { cert, key },
    users,
    anonymous: values.anonymous ?? false,
    allowWrite: values.allowWrite ?? false,
    allowCcc: values.allowCcc ?? false,
    requireTlsResumption: values.requireResumption ?? false,
    ...(values.maxSessions !== undefined ? { maxSessions: values.maxSessions } : {}),
    ...(values.maxSessionsPerIp !== undefined ? { maxSessionsPerIp: values.maxSessionsPerIp } : {}),
    ...(values.idleTimeout !== undefined ? { idleTimeoutMs: values.idleTimeout * 1000 } : {}),
    ...(values.loginTimeout !== undefined ? { loginTimeoutMs: values.loginTimeout * 1000 } : {}),
    ...(values.allowMissingCloseNotify ? { requireCloseNotify: false } : {}),
    ...(passivePorts ? { passivePorts } : {}),
    ...(values.passiveHost ? { passiveHost: values.passiveHost } : {}),
    onLog: values.quiet ? undefined : (entry) => {
      const line = describeFtps(entry);
      if (line) output.out(line);
    },
    onError: (error) => output.err(`ftkit: ${error.message}`),
  });
  const port = server.address.port;
  lines.unshift(
    `Serving ${root} over FTPS (${secure} TLS) on ${where(host, port)}${
      values.allowWrite ? " (writes allowed)" : " (read-only)"
    }`,
  );
  const [name, password] = Object.entries(users)[0] ?? ["anonymous", ""];
  if (generatedPassword) lines.push(`User: ftkit, password: ${generatedPassword}`);
  const scheme = values.implicit ? "ftps" : "ftp";
  lines.push(
    `Fetch a file with: curl ${values.implicit ? "" : "--ssl-reqd "}${
      caFile ? `--cacert ${caFile} ` : ""
    }-u ${name}:${password || "x"} -o FILE ${scheme}://${urlHost(host)}:${port}/FILE`,
  );
  return { server, lines };
}

function describeFtps(entry: import("./ftps/mod.ts").FtpsLogEntry): string | undefined {
  switch (entry.type) {
    case "refused":
      return `${entry.remoteAddress} refused: ${entry.reason}`;
    case "data-refused":
      return `${entry.remoteAddress} data connection from ${entry.from} refused: ${entry.reason}`;
    case "login":
      return `${entry.remoteAddress} login ${entry.user}: ${entry.ok ? "ok" : "failed"}${
        entry.method === "certificate" ? " (certificate)" : ""
      }`;
    case "transfer": {
      const seconds = entry.durationMs / 1000;
      const rate = seconds > 0 ? ` ${(entry.bytes / 1e6 / seconds).toFixed(1)} MB/s` : "";
      const tls = entry.tls ? (entry.tls.resumed ? ", TLS resumed" : ", TLS") : "";
      return `${entry.remoteAddress} ${
        entry.user ?? "-"
      } ${entry.direction}: ${entry.bytes} bytes in ${seconds.toFixed(2)} s${rate}${tls}${
        entry.outcome === "ok" ? "" : `, ${entry.outcome}`
      }`;
    }
    case "closed":
      return undefined;
  }
}

async function ftpsServe(args: string[], output: CliOutput, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, FTPS_SERVE_OPTIONS);
  if (positionals.length > 1) throw new UsageError("ftps serve takes one directory");
  const root = positionals[0] ?? ".";
  const { server, lines } = await startFtps(root, {
    host: values.host as string | undefined,
    port: integer("port", values.port as string | undefined),
    user: values.user as string[] | undefined,
    implicit: values.implicit as boolean | undefined,
    cert: values.cert as string | undefined,
    key: values.key as string | undefined,
    allowWrite: values["allow-write"] as boolean | undefined,
    anonymous: values.anonymous as boolean | undefined,
    allowCcc: values["allow-ccc"] as boolean | undefined,
    passivePorts: values["passive-ports"] as string | undefined,
    passiveHost: values["passive-host"] as string | undefined,
    requireResumption: values["require-resumption"] as boolean | undefined,
    maxSessions: integer("max-sessions", values["max-sessions"] as string | undefined),
    maxSessionsPerIp: integer(
      "max-sessions-per-ip",
      values["max-sessions-per-ip"] as string | undefined,
    ),
    idleTimeout: integer("idle-timeout", values["idle-timeout"] as string | undefined),
    loginTimeout: integer("login-timeout", values["login-timeout"] as string | undefined),
    allowMissingCloseNotify: values["allow-missing-close-notify"] as boolean | undefined,
    caOut: values["ca-out"] as string | undefined,
    quiet: values.quiet as boolean | undefined,
  }, output);
  for (const line of lines) output.out(line);
  await stopped(signal);
  await server.close();
  return 0;
}

async function serveBoth(args: string[], output: CliOutput, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, {
    host: { type: "string" },
    "tftp-port": { type: "string" },
    "ftps-port": { type: "string" },
    user: { type: "string", multiple: true },
    cert: { type: "string" },
    key: { type: "string" },
    "allow-write": { type: "boolean" },
    "ca-out": { type: "string" },
    quiet: { type: "boolean" },
  });
  if (positionals.length > 1) throw new UsageError("serve takes one directory");
  const root = positionals[0] ?? ".";
  const host = (values.host as string | undefined) ?? "127.0.0.1";
  const api = await runtimeApi();
  const tftp = await api.serveTftp({
    root,
    host,
    port: integer("tftp-port", values["tftp-port"] as string | undefined) ?? 6969,
    allowWrite: Boolean(values["allow-write"]),
    onTransfer: values.quiet ? undefined : (record) => output.out(describe(record)),
    onError: (error) => output.err(`ftkit: ${error.message}`),
  });
  let ftpsServer: StartedFtps;
  try {
    ftpsServer = await startFtps(root, {
      host,
      port: integer("ftps-port", values["ftps-port"] as string | undefined) ?? 2121,
      user: values.user as string[] | undefined,
      cert: values.cert as string | undefined,
      key: values.key as string | undefined,
      allowWrite: values["allow-write"] as boolean | undefined,
      caOut: values["ca-out"] as string | undefined,
      quiet: values.quiet as boolean | undefined,
    }, output);
  } catch (error) {
    await tftp.close();
    throw error;
  }
  const tftpWhere = where(tftp.address.address, tftp.address.port);
  output.out(
    `Serving ${root} over TFTP on ${tftpWhere}${
      values["allow-write"] ? " (writes allowed)" : " (read-only)"
    }`,
  );
  output.out(`Fetch a file with: curl -o FILE tftp://${urlHost(host)}:${tftp.address.port}/FILE`);
  for (const line of ftpsServer.lines) output.out(line);
  await stopped(signal);
  await Promise.all([tftp.close(), ftpsServer.server.close()]);
  return 0;
}

function describe(record: TftpTransferRecord): string {
  const peer = `${record.peer.address}:${record.peer.port}`;
  const verb = record.type === "rrq" ? "read" : "write";
  if (record.outcome === "complete") {
    const seconds = record.durationMs / 1000;
    const rate = seconds > 0 ? ` ${(record.bytes / 1e6 / seconds).toFixed(1)} MB/s` : "";
    return `${peer} ${verb} ${record.filename}: ${record.bytes} bytes in ${
      seconds.toFixed(2)
    } s${rate}`;
  }
  return `${peer} ${verb} ${record.filename}: failed, error ${record.error?.code}: ${record.error?.message}`;
}

function hostPort(text: string): { host: string; port: number } {
  const bracketed = text.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (bracketed) return { host: bracketed[1], port: bracketed[2] ? Number(bracketed[2]) : 69 };
  const colons = text.split(":").length - 1;
  if (colons === 1) {
    const [host, port] = text.split(":");
    if (!/^[0-9]+$/.test(port)) throw new UsageError(`bad port in "${text}"`);
    return { host, port: Number(port) };
  }
  return { host: text, port: 69 }; // a host name, IPv4, or IPv6 without a port
}

async function getPut(
  command: "get" | "put",
  args: string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  const { values, positionals } = parse(args, {
    blksize: { type: "string" },
    windowsize: { type: "string" },
    timeout: { type: "string" },
    retries: { type: "string" },
    netascii: { type: "boolean" },
  });
  if (positionals.length < 2 || positionals.length > 3) {
    throw new UsageError(`tftp ${command} needs HOST[:PORT] and a file`);
  }
  const [target, first, second] = positionals;
  const { host, port } = hostPort(target);
  const api = await runtimeApi();
  const started = performance.now();
  const progress = output.progress ? bar(output.progress, started) : undefined;
  const retries = integer("retries", values.retries);
  const common: Omit<TftpClientOptions, "remote"> = {
    host,
    port,
    mode: values.netascii ? "netascii" : "octet",
    blksize: integer("blksize", values.blksize),
    windowsize: integer("windowsize", values.windowsize),
    timeout: integer("timeout", values.timeout),
    ...(retries !== undefined ? { retransmit: { retries } } : {}),
    onProgress: progress,
    ...(signal ? { signal } : {}),
  };
  let result;
  try {
    if (command === "get") {
      const remote = first;
      const local = second ?? basename(remote);
      if (local === "-") {
        const bytes = await api.tftpGet({ ...common, remote });
        process.stdout.write(bytes);
        result = { bytes: bytes.length, windowsize: undefined };
      } else {
        // Written aside and renamed into place when whole: a failure leaves LOCAL as it was.
        result = await api.tftpGetFile({ ...common, remote }, local);
      }
    } else {
      const local = first;
      const remote = second ?? basename(local);
      result = await api.tftpPutFile({ ...common, remote }, local);
    }
  } catch (error) {
    if (!signal?.aborted || error !== signal.reason) throw error;
    // Interrupted: the server was told, and nothing was left half written.
    if (output.progress) output.progress("");
    const why = signal.reason instanceof CliInterrupt ? `${signal.reason.message}: ` : "";
    output.err(`ftkit: ${why}transfer cancelled`);
    return interruptedCode(signal);
  }
  if (output.progress) output.progress("");
  const seconds = (performance.now() - started) / 1000;
  const asked = common.windowsize;
  const window = asked !== undefined && result.windowsize !== undefined &&
      result.windowsize < asked
    ? ` (windowsize ${result.windowsize}, not ${asked}: ${
      command === "get" ? "what the local socket can queue or " : ""
    }the server's limit)`
    : "";
  output.err(
    `${command === "get" ? "Received" : "Sent"} ${result.bytes} bytes in ${
      seconds.toFixed(2)
    } s${window}`,
  );
  return 0;
}

function bar(draw: (line: string) => void, started: number): (progress: TftpProgress) => void {
  let last = 0;
  return ({ bytes, total }) => {
    const time = performance.now();
    if (time - last < 100 && bytes !== total) return;
    last = time;
    const rate = bytes / 1e6 / Math.max((time - started) / 1000, 0.001);
    if (total) {
      const fraction = Math.min(1, bytes / total);
      const filled = Math.round(fraction * 30);
      draw(
        `[${"#".repeat(filled)}${" ".repeat(30 - filled)}] ${
          (fraction * 100).toFixed(0).padStart(3)
        }% ${bytes}/${total} bytes ${rate.toFixed(1)} MB/s`,
      );
    } else {
      draw(`${bytes} bytes ${rate.toFixed(1)} MB/s`);
    }
  };
}

// --- ftkit ftps ---

/** What an FTP URL names. */
interface FtpTarget {
  secure: "implicit" | "explicit" | false;
  host: string;
  port: number;
  user?: string;
  password?: string;
  path: string;
}

/** Reads `ftps://` (implicit TLS) and `ftp://` (explicit with `tls`, else plain) URLs. */
function ftpTarget(text: string, tls: boolean): FtpTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: "${text}" (ftps://HOST/PATH or ftp://HOST/PATH)`);
  }
  if (url.protocol !== "ftps:" && url.protocol !== "ftp:") {
    throw new UsageError(`not an FTP URL: "${text}" (ftps://HOST/PATH or ftp://HOST/PATH)`);
  }
  const implicit = url.protocol === "ftps:";
  if (implicit && tls) throw new UsageError("--tls is for ftp:// URLs; ftps:// is already TLS");
  if (url.search || url.hash) throw new UsageError(`unexpected ? or # in "${text}"`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new UsageError(`no host in "${text}"`);
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new UsageError(`bad percent-encoding in "${text}"`);
  }
  return {
    secure: implicit ? "implicit" : tls ? "explicit" : false,
    host,
    port: url.port ? Number(url.port) : implicit ? 990 : 21,
    ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    // "/pub/x" names pub/x under the login directory, as curl reads FTP URLs (RFC 1738 3.2.2).
    path: path.replace(/^\//, ""),
  };
}

type FtpsApi = typeof import("./ftps/adapters/node.ts");

async function ftpsApi(): Promise<FtpsApi> {
  if ("Deno" in globalThis) return await import("./ftps/adapters/deno.ts");
  if ("Bun" in globalThis) return await import("./ftps/adapters/bun.ts");
  return await import("./ftps/adapters/node.ts");
}

const FTPS_OPTIONS = {
  tls: { type: "boolean" },
  user: { type: "string" },
  ca: { type: "string" },
  servername: { type: "string" },
  insecure: { type: "boolean" },
  "tls-max": { type: "string" },
  active: { type: "boolean" },
  timeout: { type: "string" },
  long: { type: "boolean" },
} as const;

async function ftps(
  command: string | undefined,
  args: string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  if (command !== "ls" && command !== "get" && command !== "put") {
    throw new UsageError(
      command === undefined ? "ftps needs ls, get or put" : `unknown command "ftps ${command}"`,
    );
  }
  const { values, positionals } = parse(args, FTPS_OPTIONS);
  const want = command === "ls" ? [1, 1] : command === "get" ? [1, 2] : [2, 2];
  if (positionals.length < want[0] || positionals.length > want[1]) {
    throw new UsageError(
      command === "ls"
        ? "ftps ls takes one URL"
        : command === "get"
        ? "ftps get takes a URL and an optional local file"
        : "ftps put takes a local file and a URL",
    );
  }
  if (values.long && command !== "ls") throw new UsageError("--long is for ftps ls");
  if (
    command === "get" && (positionals[0].endsWith("/") || !ftpTarget(positionals[0], false).path)
  ) {
    throw new UsageError("ftps get needs a file in the URL");
  }
  const target = ftpTarget(command === "put" ? positionals[1] : positionals[0], !!values.tls);
  const text = (name: keyof typeof FTPS_OPTIONS) => {
    const value = values[name];
    return typeof value === "string" ? value : undefined;
  };
  const user = text("user");
  if (user !== undefined) {
    const at = user.indexOf(":");
    target.user = at === -1 ? user : user.slice(0, at);
    if (at !== -1) target.password = user.slice(at + 1);
  }
  const tlsMax = text("tls-max");
  if (tlsMax !== undefined && tlsMax !== "1.2" && tlsMax !== "1.3") {
    throw new UsageError(`--tls-max must be 1.2 or 1.3, got "${tlsMax}"`);
  }
  if (target.secure === false && (values.ca || values.insecure || tlsMax || values.servername)) {
    throw new UsageError("TLS options need ftps:// or --tls");
  }
  const timeout = integer("timeout", values.timeout);
  const api = await ftpsApi();
  try {
    const caFile = text("ca");
    const ca = caFile === undefined ? undefined : await readFile(caFile, "utf8");
    const servername = text("servername");
    const connecting = api.connectFtps(
      {
        host: target.host,
        port: target.port,
        secure: target.secure,
        ...(target.user !== undefined ? { user: target.user } : {}),
        ...(target.password !== undefined ? { password: target.password } : {}),
        ...(ca !== undefined ? { ca } : {}),
        ...(servername ? { servername } : {}),
        ...(values.insecure ? { rejectUnauthorized: false } : {}),
        ...(tlsMax ? { maxVersion: tlsMax === "1.2" ? "TLSv1.2" : "TLSv1.3" } : {}),
        ...(values.active ? { passive: false } : {}),
        ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
      } as const,
    );
    // Ctrl-C while connecting or logging in stops the command there; a session that comes up
    // later is closed.
    const client = await untilAborted(connecting, signal, (late) => void late.close());
    try {
      if (command === "ls") await ftpsList(client, target.path, !!values.long, output, signal);
      else if (command === "get") {
        await ftpsGet(client, target.path, positionals[1], output, signal);
      } else await ftpsPut(client, positionals[0], target.path, output, signal);
    } finally {
      // Interrupted: QUIT, but no waiting on a server that does not answer.
      const closing = client.close();
      await (signal?.aborted ? Promise.race([closing, delay(2000)]) : closing);
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (signal?.aborted) {
      // The transfer was aborted (ABOR): a download's temporary file is gone, the local file
      // as it was; an upload was cut short, never ended, so the server keeps nothing of it.
      output.progress?.("");
      const reason = signal.reason instanceof Error ? signal.reason.message : "Interrupted";
      output.err(`ftkit: ${reason}: ${command === "ls" ? "listing" : "transfer"} aborted`);
      return interruptedCode(signal);
    }
    // One line: the server's reply, or what the network or TLS said.
    output.err(`ftkit: ${oneLine(error)}`);
    return 1;
  }
}

/** Settles as `promise` does, or rejects with the signal's reason once it aborts; what `promise`
 * gives after that goes to `late`. */
function untilAborted<T>(
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
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const first = message.split("\n")[0];
  return typeof code === "string" && !first.includes(code) ? `${first} (${code})` : first;
}

type FtpsClientLike = Awaited<ReturnType<FtpsApi["connectFtps"]>>;

async function ftpsList(
  client: FtpsClientLike,
  path: string,
  long: boolean,
  output: CliOutput,
  signal: AbortSignal | undefined,
): Promise<void> {
  const entries = await client.list(path || undefined, signal ? { signal } : {});
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (!long) {
      output.out(entry.type === "dir" ? `${entry.name}/` : entry.name);
      continue;
    }
    const type = entry.type === "dir" ? "d" : entry.type === "link" ? "l" : "-";
    const size = entry.size === undefined ? "-" : String(entry.size);
    const when = entry.modified ? entry.modified.toISOString().slice(0, 19) + "Z" : "-";
    output.out(`${type} ${size.padStart(12)} ${when.padEnd(20)} ${entry.name}`);
  }
}

async function ftpsGet(
  client: FtpsClientLike,
  remote: string,
  local: string | undefined,
  output: CliOutput,
  signal: AbortSignal | undefined,
): Promise<void> {
  const target = local ?? basename(remote);
  const started = performance.now();
  // SIZE (RFC 3659) for the progress bar, when the server answers it.
  const total = output.progress ? await client.size(remote).catch(() => undefined) : undefined;
  const draw = output.progress ? bar(output.progress, started) : undefined;
  const onProgress = draw && ((bytes: number) => draw({ bytes, total }));
  const options = { ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) };
  if (target === "-") {
    const sink = new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) =>
          process.stdout.write(chunk, (error) => (error ? reject(error) : resolve()))
        ),
    });
    await client.getTo(remote, sink, options);
  } else {
    // Written beside the target and renamed into place when whole: a failed or interrupted
    // download leaves no half file to be taken for the whole one, and the target as it was.
    await client.getFile(remote, target, options);
  }
  const bytes = client.lastTransfer?.bytes ?? 0;
  if (output.progress) output.progress("");
  const seconds = (performance.now() - started) / 1000;
  output.err(`Received ${bytes} bytes in ${seconds.toFixed(2)} s${describeTls(client)}`);
}

async function ftpsPut(
  client: FtpsClientLike,
  local: string,
  remote: string,
  output: CliOutput,
  signal: AbortSignal | undefined,
): Promise<void> {
  const target = !remote || remote.endsWith("/") ? `${remote}${basename(local)}` : remote;
  const total = (await stat(local)).size;
  const started = performance.now();
  const draw = output.progress ? bar(output.progress, started) : undefined;
  await client.putFile(local, target, {
    ...(draw ? { onProgress: (bytes: number) => draw({ bytes, total }) } : {}),
    ...(signal ? { signal } : {}),
  });
  if (output.progress) output.progress("");
  const seconds = (performance.now() - started) / 1000;
  output.err(
    `Sent ${client.lastTransfer?.bytes ?? 0} bytes in ${seconds.toFixed(2)} s${
      describeTls(client)
    }`,
  );
}

function describeTls(client: FtpsClientLike): string {
  const transfer = client.lastTransfer;
  if (!transfer?.tls) return "";
  return transfer.resumed ? " (TLS, session resumed)" : " (TLS)";
}

function fromHex(text: string): Uint8Array {
  const hex = text.replace(/[\s:]/g, "");
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
    throw new SyntaxError("Datagram must be given as hex digits, two per byte");
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function toJson(packet: TftpPacket): unknown {
  return packet.type === "data" ? { ...packet, data: toHex(packet.data) } : packet;
}

function fromJson(text: string): TftpPacket {
  const value = JSON.parse(text);
  if (value === null || typeof value !== "object") {
    throw new TypeError("Packet must be a JSON object");
  }
  if (value.type === "data") return { ...value, data: fromHex(String(value.data ?? "")) };
  if ((value.type === "rrq" || value.type === "wrq" || value.type === "oack") && !value.options) {
    return { ...value, options: {} };
  }
  return value;
}

function isMain(): boolean {
  const main = process.argv[1];
  if (main === undefined) return false;
  try {
    return realpathSync(main) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const tty = process.stderr.isTTY;
  // SIGINT and SIGTERM abort the command's signal: a transfer stops cleanly (TFTP ERROR, FTP
  // ABOR), removes what it wrote aside, and exits 130 or 143; a server closes and exits 0. A
  // second signal exits at once.
  const controller = new AbortController();
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    process.on(name, () => {
      if (controller.signal.aborted) process.exit(interruptedCode(controller.signal));
      controller.abort(new CliInterrupt(name));
    });
  }
  const code = await runCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(line + "\n"),
    err: (line) => process.stderr.write(line + "\n"),
    progress: tty ? (line) => process.stderr.write(`\r\x1b[2K${line}`) : undefined,
  }, controller.signal);
  // A finished get leaves its socket open for a short dally (to re-ACK a repeated last DATA);
  // the command need not wait for it. Exit once standard output is flushed.
  process.stdout.write("", () => process.exit(code));
}
