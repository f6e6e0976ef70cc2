#!/usr/bin/env -S deno run -A
/**
 * The `ftkit` command.
 *
 * ```sh
 * ftkit tftp decode HEX     # decode one TFTP datagram given in hex, print it as JSON
 * ftkit tftp encode JSON    # encode a packet given as JSON, print the datagram in hex
 * ```
 *
 * Runs as `deno run -A cli.ts`, `bun cli.ts`, or the `ftkit` bin of the npm package.
 *
 * @module
 */

import process from "node:process";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decodeTftpPacket, encodeTftpPacket, TftpDecodeError, type TftpPacket } from "./mod.ts";

/** The version of this build of ftkit. */
export const VERSION = "0.1.0";

const USAGE = `ftkit ${VERSION}: TFTP and FTPS toolkit

Usage:
  ftkit tftp decode HEX     Decode one TFTP datagram given in hex and print it as JSON
  ftkit tftp encode JSON    Encode a TFTP packet given as JSON and print the datagram in hex
  ftkit --help | --version

Example:
  ftkit tftp decode 00016669726d776172652e62696e006f6374657400626c6b73697a65003134363800
`;

/** Where the command writes. */
export interface CliOutput {
  /** Writes one line of normal output. */
  out(line: string): void;
  /** Writes one line of error output. */
  err(line: string): void;
}

/**
 * Runs the command with `args` (without the program name).
 *
 * @param args The command-line arguments.
 * @param output Where to write.
 * @returns The exit code: 0 on success, 1 on bad input, 2 on a usage error.
 */
export function runCli(args: readonly string[], output: CliOutput): number {
  const [group, command, operand, ...rest] = args;
  if (group === "--help" || group === "-h" || group === "help") {
    output.out(USAGE.trimEnd());
    return 0;
  }
  if (group === "--version") {
    output.out(VERSION);
    return 0;
  }
  if (group !== "tftp" || (command !== "decode" && command !== "encode") || rest.length > 0) {
    output.err(
      `ftkit: ${group === undefined ? "missing command" : `unknown command "${args.join(" ")}"`}`,
    );
    output.err(USAGE.trimEnd());
    return 2;
  }
  if (operand === undefined) {
    output.err(`ftkit: tftp ${command} needs an argument`);
    return 2;
  }
  try {
    if (command === "decode") {
      output.out(JSON.stringify(toJson(decodeTftpPacket(fromHex(operand))), null, 2));
    } else {
      output.out(toHex(encodeTftpPacket(fromJson(operand))));
    }
    return 0;
  } catch (error) {
    if (
      error instanceof TftpDecodeError || error instanceof TypeError ||
      error instanceof RangeError || error instanceof SyntaxError
    ) {
      output.err(`ftkit: ${error.message}`);
      return 1;
    }
    throw error;
  }
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
  process.exitCode = runCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(line + "\n"),
    err: (line) => process.stderr.write(line + "\n"),
  });
}
