// The command's dispatch: which command the arguments name, and how its outcome becomes an exit
// code and a line on standard error; `main` runs it as a process.

import process from "node:process";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TftpDecodeError } from "../mod.ts";
import { TftpTransferError } from "../tftp/mod.ts";
import { USAGE, UsageError, VERSION } from "./args.ts";
import { ftpsCommand } from "./ftps.ts";
import { ftpsServe } from "./ftps_serve.ts";
import { type CliOutput, interruptSignal, processOutput } from "./output.ts";
import { serveBoth } from "./serve.ts";
import { tftpCommand } from "./tftp.ts";

export { VERSION } from "./args.ts";
export { CliInterrupt, type CliOutput } from "./output.ts";

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
    if (group === "ftps") return await ftpsCommand(command, rest, output, signal);
    if (group === "tftp") return await tftpCommand(args.slice(1), output, signal);
    throw new UsageError(
      group === undefined ? "missing command" : `unknown command "${args.join(" ")}"`,
    );
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

/**
 * Whether the module at `url` (its `import.meta.url`) is the script the process was started
 * with, through any symbolic link (as the npm bin is).
 */
export function isMain(url: string): boolean {
  const main = process.argv[1];
  if (main === undefined) return false;
  try {
    return realpathSync(main) === realpathSync(fileURLToPath(url));
  } catch {
    return false;
  }
}

/**
 * Runs the command on the process's arguments, standard output and error, and exits with its
 * code.
 */
export async function main(): Promise<void> {
  // SIGINT and SIGTERM abort the command's signal: a transfer stops cleanly (TFTP ERROR, FTP
  // ABOR), removes what it wrote aside, and exits 130 or 143; a server closes and exits 0. A
  // second signal exits at once.
  const signal = interruptSignal();
  const code = await runCli(process.argv.slice(2), processOutput(), signal);
  // A finished get leaves its socket open for a short dally (to re-ACK a repeated last DATA);
  // the command need not wait for it. Exit once standard output is flushed.
  process.stdout.write("", () => process.exit(code));
}
