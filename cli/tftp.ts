// `ftkit tftp ...`: serve a directory, get and put files, and decode or encode one datagram.

import process from "node:process";
import { basename } from "node:path";
import { decodeTftpPacket, encodeTftpPacket, type TftpPacket } from "../mod.ts";
import type { TftpClientOptions, TftpRuntimeApi, TftpTransferRecord } from "../tftp/mod.ts";
import { integer, limit, parse, UsageError } from "./args.ts";
import {
  bar,
  CliInterrupt,
  type CliOutput,
  interruptedCode,
  rate,
  stopped,
  where,
} from "./output.ts";

/** The TFTP functions of the runtime the command runs on. */
export async function runtimeApi(): Promise<TftpRuntimeApi> {
  if ("Deno" in globalThis) return await import("../tftp/adapters/deno.ts");
  if ("Bun" in globalThis) return await import("../tftp/adapters/bun.ts");
  return await import("../tftp/adapters/node.ts");
}

/**
 * Runs `ftkit tftp ARGS`.
 *
 * @param args The arguments after `tftp`.
 * @param output Where to write.
 * @param signal Stops a server, or interrupts a transfer.
 * @returns The exit code.
 */
export async function tftpCommand(
  args: string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "decode":
    case "encode": {
      const [operand, ...extra] = rest;
      if (operand === undefined) throw new UsageError(`tftp ${command} needs an argument`);
      if (extra.length > 0) {
        throw new UsageError(`unknown command "${["tftp", ...args].join(" ")}"`);
      }
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
      throw new UsageError(`unknown command "${["tftp", ...args].join(" ")}"`);
  }
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
export function tftpServing(root: string, at: string, allowWrite: unknown): string {
  return `Serving ${root} over TFTP on ${at}${allowWrite ? " (writes allowed)" : " (read-only)"}`;
}

/** `ftkit tftp serve`. */
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
    ...tftpReports(output, values.quiet),
  });
  const { address, port } = server.address;
  const at = where(address, port);
  output.out(tftpServing(root, at, values["allow-write"]));
  output.out(`Fetch a file with: curl -o FILE tftp://${at}/FILE`);
  await stopped(signal);
  await server.close();
  return 0;
}

/** One line for the log of a transfer the server ended or refused. */
function describe(record: TftpTransferRecord): string {
  const peer = `${record.peer.address}:${record.peer.port}`;
  const verb = record.type === "rrq" ? "read" : "write";
  if (record.outcome === "complete") {
    const seconds = record.durationMs / 1000;
    return `${peer} ${verb} ${record.filename}: ${record.bytes} bytes in ${seconds.toFixed(2)} s${
      rate(record.bytes, seconds)
    }`;
  }
  return `${peer} ${verb} ${record.filename}: failed, error ${record.error?.code}: ${record.error?.message}`;
}

/** Reads HOST, HOST:PORT, [IPV6] or [IPV6]:PORT (port 69 when not given). */
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

/** `ftkit tftp get` and `ftkit tftp put`. */
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
