// `ftkit tftp ...`: serve a directory, get and put files, and decode or encode one datagram.

import { currentRuntime } from "../io/runtime.ts";
import process from "node:process";
import { basename } from "node:path";
import { availableParallelism } from "node:os";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { decodeTftpPacket, encodeTftpPacket, type TftpPacket } from "../codec/tftp_packet.ts";
import type {
  ServeTftpOptions,
  TftpClientOptions,
  TftpClientRoot,
  TftpHandler,
  TftpRuntimeApi,
  TftpTransferRecord,
} from "../tftp/mod.ts";
import { parseTftpMapFile, TftpMapFileError, type TftpMapRule } from "../tftp/remap_file.ts";
import {
  checkInteger,
  directory,
  flag,
  integer,
  notNetwork,
  type ParsedArgs,
  port as optionPort,
  portRange,
  text,
  UsageError,
} from "./args.ts";
import { CliError, Exit, type FailureContext, oneLine, reading } from "./errors.ts";
import { tftpAccessList } from "./_tftp_access.ts";
import { tftpJsonLog, type TftpLog } from "./_tftp_log.ts";
import {
  isS3Url,
  openS3Source,
  parseS3Url,
  refuseS3Flags,
  type ResolvedS3,
  s3Flags,
} from "./_s3.ts";
import {
  bar,
  CliInterrupt,
  type CliOutput,
  interruptedCode,
  rate,
  stopped,
  urlHost,
  where,
} from "./output.ts";

/** The TFTP functions of the runtime the command runs on. */
export async function runtimeApi(): Promise<TftpRuntimeApi> {
  const runtime = currentRuntime();
  if (runtime === "deno") return await import("../tftp/adapters/deno.ts");
  if (runtime === "bun") return await import("../tftp/adapters/bun.ts");
  return await import("../tftp/adapters/node.ts");
}

/**
 * Runs `ftkit tftp decode HEX` or `ftkit tftp encode JSON`.
 *
 * @param command Which.
 * @param args The command line read.
 * @param output Where to write.
 * @returns The exit code.
 */
export function tftpCodec(
  command: "decode" | "encode",
  args: ParsedArgs,
  output: CliOutput,
): Promise<number> {
  const [operand, ...extra] = args.positionals;
  if (operand === undefined) {
    throw new UsageError(`'tftp ${command}' needs ${command === "decode" ? "HEX" : "JSON"}`);
  }
  if (extra.length > 0) throw new UsageError(`'tftp ${command}' takes one argument`);
  if (command === "decode") {
    output.out(JSON.stringify(toJson(decodeTftpPacket(fromHex(operand))), null, 2));
  } else output.out(toHex(encodeTftpPacket(fromJson(operand))));
  return Promise.resolve(0);
}

/** What a TFTP server the command runs reports: each transfer unless `quiet`, and errors. */
export function tftpReports(output: CliOutput, quiet: unknown): {
  onTransfer?: (record: TftpTransferRecord) => void;
  onError: (error: Error) => void;
} {
  return {
    onTransfer: quiet ? undefined : (record) => output.out(describe(record)),
    onError: (error) => output.err(`ftkit: ${error.message}`),
  };
}

/** The line a TFTP server prints once it listens on `at`. */
export function tftpServing(root: string | ResolvedS3, at: string, allowWrite: unknown): string {
  const served = typeof root === "string" ? root : `${root.url} at ${root.at}`;
  return `Serving ${served} over TFTP on ${at}${allowWrite ? " (writes allowed)" : " (read-only)"}`;
}

/** The handler that serves a bucket over TFTP, with the write policy and name options given. */
export async function tftpBucketHandler(
  s3: ResolvedS3,
  policy: { allowWrite: boolean; allowOverwrite: boolean; backslashes?: boolean },
): Promise<TftpHandler> {
  const { tftpS3Handler } = await import("../tftp/s3_handler.ts");
  return tftpS3Handler({
    ...s3.options,
    prefix: s3.prefix,
    allowWrite: policy.allowWrite,
    allowOverwrite: policy.allowOverwrite,
    ...(policy.backslashes ? { backslashes: "slash" as const } : {}),
    ...(s3.partSize !== undefined ? { partSize: s3.partSize } : {}),
  });
}

/** The options of `tftp serve` that serve directories only: refused with an s3:// source. */
const DIRECTORY_ONLY = ["client-root", "client-roots-only", "unique-root", "case-insensitive"];

/**
 * Refuses what cannot go with an s3:// source: a URL that is not one, the directory features,
 * and more than one worker (a handler runs on the listening thread). Nothing is asked of the
 * store yet.
 */
function checkBucketSource(source: string, values: ParsedArgs["values"]): void {
  parseS3Url(source);
  const given = DIRECTORY_ONLY.find((name) => values[name] !== undefined);
  if (given) {
    throw new UsageError(
      `--${given} is for a directory; an s3:// source has no client directories or names to fold`,
      "tftp serve",
    );
  }
  const workers = integer(values, "workers", { min: 1, max: 1024 });
  if (workers !== undefined && workers > 1) {
    throw new UsageError(
      `--workers ${workers}: an s3:// source is served by one thread (give --workers 1, or none)`,
      "tftp serve",
    );
  }
  s3Flags(values);
}

/** The limits `tftp serve` reads, by option: each a positive integer, some "unlimited". */
const LIMITS: readonly [string, string, boolean, number][] = [
  ["max-transfers", "maxTransfers", true, 1],
  ["max-transfers-per-client", "maxTransfersPerClient", true, 1],
  ["request-rate", "requestRate", true, 1],
  ["request-burst", "requestBurst", false, 1],
  ["first-reply-retransmits", "firstReplyRetransmits", false, 0],
  ["max-write-size", "maxWriteSize", true, 1],
];

/**
 * Runs `ftkit tftp serve [DIR]` until `signal` aborts (or SIGINT or SIGTERM without one).
 *
 * @param args The command line read.
 * @param output Where to write.
 * @param signal Stops the server.
 * @param context Notes that this is a server, for a failure's hint.
 * @returns The exit code.
 */
export async function tftpServe(
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<number> {
  const { values, positionals } = args;
  context.role = "server";
  if (positionals.length > 1) throw new UsageError("'tftp serve' takes one directory");
  const limits: Record<string, number> = {};
  for (const [option, name, unlimited, min] of LIMITS) {
    // Only the limits given: the others keep serveTftp's defaults.
    const value = integer(values, option, { min, unlimited });
    if (value !== undefined) limits[name] = value;
  }
  const port = optionPort(values, "port") ?? 6969;
  const maxBlksize = integer(values, "max-blksize", { min: 8, max: 65464 });
  const maxWindowsize = integer(values, "max-windowsize", { min: 1, max: 65535 });
  const source = positionals[0] ?? ".";
  const isBucket = isS3Url(source);
  if (isBucket) checkBucketSource(source, values);
  else refuseS3Flags(values, "an s3:// source");
  const directoryRoot = isBucket ? undefined : await directory(source);
  const mapFile = text(values, "map-file");
  const mapRules = mapFile === undefined ? undefined : await mapFileRules(mapFile);
  const allow = tftpAccessList(values, "allow");
  const deny = tftpAccessList(values, "deny");
  const transferPorts = portRange(values, "port-range");
  if (transferPorts && flag(values, "single-port")) {
    throw new UsageError("--port-range and --single-port do not go together", "tftp serve");
  }
  const clients = isBucket ? {} : await clientOptions(values);
  // Asked last: every mistake on the command line is reported without a request to the store.
  const bucket = isBucket ? await openS3Source(source, s3Flags(values)) : undefined;
  const root = bucket ?? directoryRoot!;
  const served = bucket
    ? {
      handler: await tftpBucketHandler(bucket, {
        allowWrite: flag(values, "allow-write"),
        allowOverwrite: flag(values, "allow-overwrite"),
        backslashes: flag(values, "backslashes"),
      }),
    }
    : { root: root as string };
  const logFile = text(values, "log");
  const log = logFile === undefined ? undefined : openLog(logFile, output);
  const reports = tftpReports(output, flag(values, "quiet") || logFile === "-");
  const api = await runtimeApi();
  const server = await api.serveTftp({
    ...served,
    mapRules,
    ...clients,
    host: text(values, "host") ?? "127.0.0.1",
    port,
    allowWrite: flag(values, "allow-write"),
    allowOverwrite: flag(values, "allow-overwrite"),
    singlePort: flag(values, "single-port"),
    workers: bucket ? 1 : integer(values, "workers", { min: 1, max: 1024 }) ?? coreCount(),
    maxBlksize,
    maxWindowsize,
    ...limits,
    ...(allow ? { allow } : {}),
    ...(deny ? { deny } : {}),
    ...(transferPorts ? { portRange: transferPorts } : {}),
    ...reports,
    ...(log
      ? {
        onTransfer: (record: TftpTransferRecord) => {
          log.write(record);
          reports.onTransfer?.(record);
        },
      }
      : {}),
  }).catch(async (error) => {
    await log?.close();
    throw error;
  });
  const { address, port: bound } = server.address;
  const at = where(address, bound);
  output.out(tftpServing(root, at, flag(values, "allow-write")));
  output.out(`Fetch a file with: curl -o FILE tftp://${urlHost(address)}:${bound}/FILE`);
  await stopped(signal);
  await server.close();
  // Every transfer's record is in: what is queued is written, then the file is closed.
  await log?.close();
  return 0;
}

/** The per-client and Windows-name options of `tftp serve`, as serveTftp takes them. */
async function clientOptions(values: ParsedArgs["values"]): Promise<Partial<ServeTftpOptions>> {
  const given = values["client-root"];
  const clientRoots: TftpClientRoot[] = [];
  for (const value of Array.isArray(given) ? given : []) {
    const at = value.indexOf("=");
    if (at <= 0 || at === value.length - 1) {
      throw new UsageError(`--client-root takes CIDR=DIR, not '${value}'`, "tftp serve");
    }
    const network = value.slice(0, at);
    const why = notNetwork(network);
    if (why) throw new UsageError(`--client-root '${value}': ${why}`, "tftp serve");
    clientRoots.push({ network, root: await directory(value.slice(at + 1)) });
  }
  if (flag(values, "client-roots-only") && clientRoots.length === 0) {
    throw new UsageError("--client-roots-only needs --client-root", "tftp serve");
  }
  return {
    ...(clientRoots.length > 0 ? { clientRoots } : {}),
    ...(flag(values, "client-roots-only") ? { unmatchedClients: "refuse" as const } : {}),
    ...(flag(values, "unique-root") ? { uniqueRoot: true } : {}),
    ...(flag(values, "case-insensitive") ? { caseInsensitive: true } : {}),
    ...(flag(values, "backslashes") ? { backslashes: "slash" as const } : {}),
  };
}

/** `--log FILE` (or `-`, standard output): the transfer log, opened once before serving. */
function openLog(file: string, output: CliOutput): TftpLog {
  const sink = file === "-" ? (line: string) => output.out(line) : file;
  try {
    return tftpJsonLog(sink, (error) => output.err(`ftkit: --log: ${oneLine(error)}`));
  } catch (error) {
    throw new CliError(`--log: cannot write '${file}': ${oneLine(error)}`, Exit.localWrite);
  }
}

/** The cores this process may use: `--workers`' default. */
function coreCount(): number {
  const cores = typeof availableParallelism === "function"
    ? availableParallelism()
    : ((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
      ?.hardwareConcurrency ?? 1);
  return Math.max(1, Math.min(1024, cores));
}

/** The rules of a tftp-hpa remap file (`--map-file`); one tftp-hpa would refuse is a usage error. */
async function mapFileRules(path: string): Promise<TftpMapRule[]> {
  const content = await reading(readFile(path, "utf8"), path, "--map-file");
  try {
    return parseTftpMapFile(content);
  } catch (error) {
    if (!(error instanceof TftpMapFileError)) throw error;
    throw new UsageError(`--map-file ${path}: ${error.message}`, "tftp serve");
  }
}

/** One line for the log of a transfer the server ended or refused. */
function describe(record: TftpTransferRecord): string {
  const peer = where(record.peer.address, record.peer.port);
  const verb = record.type === "rrq" ? "read" : "write";
  const name = record.resolvedFilename === record.filename
    ? record.filename
    : `${record.filename} (as ${record.resolvedFilename})`;
  if (record.outcome === "refused") {
    const answer = record.error ? `error ${record.error.code}: ${record.error.message}` : "dropped";
    return `${peer} ${verb} ${name}: refused (${record.reason}), ${answer}`;
  }
  if (record.outcome === "complete") {
    const seconds = record.durationMs / 1000;
    return `${peer} ${verb} ${name}: ${record.bytes} bytes in ${seconds.toFixed(2)} s${
      rate(record.bytes, seconds)
    }`;
  }
  return `${peer} ${verb} ${name}: failed, error ${record.error?.code}: ${record.error?.message}`;
}

/**
 * Reads HOST, HOST:PORT, [IPV6] or [IPV6]:PORT (port 69 when not given). An IPv6 address without
 * brackets takes port 69; one that could also be read as an address and a port (`::1:6969`) is
 * refused: its brackets say which is meant.
 */
function hostPort(text: string): { host: string; port: number } {
  const bracketed = text.match(/^\[([^\]]+)\](?::(.*))?$/);
  const colons = text.split(":").length - 1;
  const last = text.lastIndexOf(":");
  if (
    !bracketed && colons > 1 && isIP(text) === 6 && /^\d+$/.test(text.slice(last + 1)) &&
    isIP(text.slice(0, last)) === 6
  ) {
    const [address, port] = [text.slice(0, last), text.slice(last + 1)];
    throw new UsageError(
      `'${text}' is ambiguous: write [${address}]:${port} for port ${port} of ${address}, ` +
        `or [${text}] for that address on port 69`,
    );
  }
  const [host, given] = bracketed
    ? [bracketed[1], bracketed[2]]
    : colons === 1
    ? text.split(":")
    : [text, undefined]; // a host name, IPv4, or IPv6 without a port
  if (!host) throw new UsageError(`no host in '${text}'`);
  const port = given === undefined ? 69 : checkInteger(`the port in '${text}'`, given, {
    min: 1,
    max: 65535,
  });
  return { host, port };
}

/** The retransmission timing of the command's transfers: the wait doubles from 1 s to at most
 * 2 s, so that a server that never answers fails the default 3 retries in about 7 s (the
 * library's own default waits up to 8 s, 6 times). An unanswered UDP request gets no error to
 * tell from a lost one: a port nobody serves is known only by its silence. */
const RETRANSMIT = { timeoutMs: 1000, backoff: 2, maxTimeoutMs: 2000, retries: 3 };

/**
 * Runs `ftkit tftp get` or `ftkit tftp put`.
 *
 * @param command Which.
 * @param args The command line read.
 * @param output Where to write.
 * @param signal Interrupts the transfer: the server is sent ERROR 0, nothing is left half written.
 * @param context Notes the local file's direction and the server, for a failure's class and hint.
 * @returns The exit code.
 */
export async function tftpTransfer(
  command: "get" | "put",
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<number> {
  const { values, positionals } = args;
  if (positionals.length < 2 || positionals.length > 3) {
    throw new UsageError(
      `'tftp ${command}' takes HOST[:PORT], ${
        command === "get" ? "REMOTE and an optional LOCAL" : "LOCAL and an optional REMOTE"
      }`,
    );
  }
  const [target, first, second] = positionals;
  const { host, port } = hostPort(target);
  const retries = integer(values, "retries", { min: 0 });
  const common: Omit<TftpClientOptions, "remote"> = {
    host,
    port,
    mode: flag(values, "netascii") ? "netascii" : "octet",
    blksize: integer(values, "blksize", { min: 8, max: 65464 }),
    windowsize: integer(values, "windowsize", { min: 1, max: 65535 }),
    timeout: integer(values, "timeout", { min: 1, max: 255 }),
    retransmit: { ...RETRANSMIT, ...(retries !== undefined ? { retries } : {}) },
    ...(signal ? { signal } : {}),
  };
  const quiet = flag(values, "quiet");
  context.authority = where(host, port);
  const api = await runtimeApi();
  const started = performance.now();
  const progress = output.progress && !quiet ? bar(output.progress, started) : undefined;
  if (progress) common.onProgress = progress;
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
        context.local = "write";
        context.localPath = local;
        result = await api.tftpGetFile({ ...common, remote }, local);
      }
    } else {
      const local = first;
      const remote = second ?? basename(local);
      context.local = "read";
      context.localPath = local;
      result = await api.tftpPutFile({ ...common, remote }, local);
    }
  } catch (error) {
    if (!signal?.aborted || error !== signal.reason) throw error;
    // Interrupted: the server was told, and nothing was left half written.
    if (progress) output.progress?.("");
    const why = signal.reason instanceof CliInterrupt ? `${signal.reason.message}: ` : "";
    output.err(`ftkit: ${why}transfer cancelled`);
    return interruptedCode(signal);
  }
  if (progress) output.progress?.("");
  if (quiet) return 0;
  const seconds = (performance.now() - started) / 1000;
  const asked = common.windowsize;
  const window = asked !== undefined && result.windowsize !== undefined &&
      result.windowsize < asked
    ? ` (windowsize ${result.windowsize}, not ${asked}: ${
      command === "get" ? "what the local socket can queue or " : ""
    }the server's limit)`
    : "";
  output.err(
    `${command === "get" ? "Received" : "Sent"} ${result.bytes} bytes in ${seconds.toFixed(2)} s${
      rate(result.bytes, seconds)
    }${window}`,
  );
  return 0;
}

/** Reads a datagram given as hex digits (spaces and colons between them allowed). */
function fromHex(text: string): Uint8Array {
  const hex = text.replace(/[\s:]/g, "");
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
    throw new SyntaxError("Datagram must be given as hex digits, two per byte");
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Bytes as lowercase hex digits. */
function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A packet as JSON shows it: a DATA packet's bytes in hex. */
function toJson(packet: TftpPacket): unknown {
  return packet.type === "data" ? { ...packet, data: toHex(packet.data) } : packet;
}

/** A packet given as JSON: DATA bytes in hex; a request's or OACK's options may be left out. */
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
