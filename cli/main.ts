// The command's dispatch: which command the arguments name (or which help they ask for), and how
// its outcome becomes an exit code, one line on standard error, and maybe a hint.

import { holdYoungGeneration } from "../io/runtime.ts";
import process from "node:process";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  closest,
  didYouMean,
  parse,
  type ParsedArgs,
  suggestion,
  UsageError,
  wantsHelp,
} from "./args.ts";
import { classify, Exit, type FailureContext } from "./errors.ts";
import {
  type CommandDoc,
  commandDoc,
  commandHelp,
  commandList,
  COMMANDS,
  exitCodesHelp,
  groupHelp,
  GROUPS,
  mainHelp,
  subcommands,
  TOPICS,
  VERSION,
} from "./help.ts";
import { type CliOutput, interruptSignal, processOutput } from "./output.ts";

export { VERSION } from "./help.ts";
export { CliInterrupt, type CliOutput } from "./output.ts";

/** Runs one command: its options read, where to write, its signal, and where to note what it is
 * doing for the failure's class and hint. */
export type Handler = (
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
) => Promise<number>;

// Each command's module is loaded when that command runs: a `tftp get` starts without the FTPS
// client and servers (start-up time is part of every scripted transfer).
const tftp = () => import("./tftp.ts");
const ftps = () => import("./ftps.ts");

/** Each command's handler, by its name. */
const HANDLERS: Readonly<Record<string, Handler>> = {
  "serve": async (...run) => (await import("./serve.ts")).serveBoth(...run),
  "tftp serve": async (...run) => (await tftp()).tftpServe(...run),
  "tftp get": async (args, output, signal, context) =>
    (await tftp()).tftpTransfer("get", args, output, signal, context),
  "tftp put": async (args, output, signal, context) =>
    (await tftp()).tftpTransfer("put", args, output, signal, context),
  "tftp decode": async (args, output) => (await tftp()).tftpCodec("decode", args, output),
  "tftp encode": async (args, output) => (await tftp()).tftpCodec("encode", args, output),
  "ftps serve": async (...run) => (await import("./ftps_serve.ts")).ftpsServe(...run),
  "ftps passwd": async (args, output, signal) =>
    (await import("./ftps_passwd.ts")).ftpsPasswd(args, output, signal),
  "ftps ls": async (args, output, signal, context) =>
    (await ftps()).ftpsCommand("ls", args, output, signal, context),
  "ftps get": async (args, output, signal, context) =>
    (await ftps()).ftpsCommand("get", args, output, signal, context),
  "ftps put": async (args, output, signal, context) =>
    (await ftps()).ftpsCommand("put", args, output, signal, context),
  "ftps hash": async (args, output, signal, context) =>
    (await ftps()).ftpsCommand("hash", args, output, signal, context),
  "ftps mirror": async (...run) => (await import("./ftps_mirror.ts")).ftpsMirror(...run),
};

/** What the arguments ask for. */
type Request =
  | { kind: "print"; text: string }
  | { kind: "missing"; lines: string[]; pointer: string }
  | { kind: "run"; doc: CommandDoc; args: string[] };

const TOP_WORDS = ["serve", "tftp", "ftps", "help"];

/** The commands whose last word is close to `word` (`get` → `tftp get`, `ftps get`). */
function subcommandsLike(word: string): string[] {
  const nested = COMMANDS.filter((doc) => doc.name.includes(" "));
  return nested.filter((doc) => closest(word, [doc.name.split(" ")[1]]).length > 0)
    .map((doc) => doc.name);
}

/** What `ftkit help WORDS` prints. */
function helpTopic(words: string[]): string {
  const topic = words.join(" ");
  if (topic === "") return mainHelp();
  if (topic === "exit-codes") return exitCodesHelp();
  const group = GROUPS.find((group) => group.name === topic);
  if (group) return groupHelp(group);
  const doc = COMMANDS.find((doc) => doc.name === topic);
  if (doc) return commandHelp(doc);
  const topics = [...COMMANDS.map((doc) => doc.name), ...GROUPS.map((g) => g.name), ...TOPICS];
  throw new UsageError(`no help on '${topic}'${didYouMean(topic, topics)}`);
}

/** Reads what the arguments ask for: a help text, a missing subcommand, or a command to run. */
function request(args: readonly string[]): Request {
  const [first, second] = args;
  if (first === undefined) {
    return {
      kind: "missing",
      lines: ["ftkit: missing command; the commands are:", ...commandList(COMMANDS, "")],
      pointer: "Try 'ftkit --help'.",
    };
  }
  if (first === "-h" || first === "--help") return { kind: "print", text: mainHelp() };
  if (first === "--version") return { kind: "print", text: VERSION };
  if (first === "help") return { kind: "print", text: helpTopic(args.slice(1)) };
  if (first.startsWith("-")) {
    throw new UsageError(`unknown option '${first}'${didYouMean(first, ["--help", "--version"])}`);
  }
  if (first === "serve") return { kind: "run", doc: commandDoc("serve"), args: args.slice(1) };
  const group = GROUPS.find((group) => group.name === first);
  if (!group) {
    const near = closest(first, TOP_WORDS);
    const names = near.length > 0 ? near : subcommandsLike(first);
    throw new UsageError(`unknown command '${first}'${suggestion(names)}`);
  }
  const subs = subcommands(group.name);
  if (second === undefined) {
    return {
      kind: "missing",
      lines: [
        `ftkit: '${group.name}' needs a command:`,
        ...commandList(subs, `${group.name} `),
      ],
      pointer: `Try 'ftkit ${group.name} --help'.`,
    };
  }
  if (second === "-h" || second === "--help") return { kind: "print", text: groupHelp(group) };
  const doc = subs.find((doc) => doc.name === `${group.name} ${second}`);
  if (!doc) {
    const names = subs.map((doc) => doc.name.slice(group.name.length + 1));
    throw new UsageError(
      `unknown command '${second}' for '${group.name}'${didYouMean(second, names)}`,
      group.name,
    );
  }
  return { kind: "run", doc, args: args.slice(2) };
}

/**
 * Runs the command with `args` (without the program name).
 *
 * @param args The command-line arguments.
 * @param output Where to write.
 * @param signal Stops a running server (which then returns 0), or interrupts a transfer: the
 * command stops it cleanly and returns 130, or 143 when the reason is a {@linkcode CliInterrupt}
 * for SIGTERM.
 * @returns The exit code: 0 on success, 2 on a usage error, and for each class of failure the code
 * `ftkit help exit-codes` lists (curl's numbers where curl has the class).
 */
export async function runCli(
  args: readonly string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  let command: string | undefined;
  const context: FailureContext = { role: "client" };
  // Whether a progress line is on the screen: a failure clears it before its own line.
  let drawn = false;
  const io: CliOutput = output.progress
    ? {
      out: (line) => output.out(line),
      err: (line) => output.err(line),
      progress: (line) => {
        drawn = line !== "";
        output.progress?.(line);
      },
    }
    : output;
  try {
    const asked = request(args);
    if (asked.kind === "print") {
      output.out(asked.text);
      return Exit.ok;
    }
    if (asked.kind === "missing") {
      for (const line of asked.lines) output.err(line);
      output.err(asked.pointer);
      return Exit.usage;
    }
    command = asked.doc.name;
    if (wantsHelp(asked.args)) {
      output.out(commandHelp(asked.doc));
      return Exit.ok;
    }
    return await HANDLERS[command](parse(asked.doc, asked.args), io, signal, context);
  } catch (error) {
    if (error instanceof UsageError) {
      // One line for each mistake (a configuration file may have several).
      for (const line of error.message.split("\n")) output.err(`ftkit: ${line}`);
      const pointer = error.command ?? command;
      output.err(`Try 'ftkit ${pointer ? `${pointer} ` : ""}--help'.`);
      return Exit.usage;
    }
    const failure = classify(error, context);
    if (drawn) output.progress?.("");
    output.err(`ftkit: ${failure.message}`);
    if (failure.hint) output.err(`hint: ${failure.hint}`);
    return failure.code;
  }
}

/**
 * Whether the module at `url` (its `import.meta.url`) is the script the process was started
 * with, through any symbolic link (as the npm bin is). Where the runtime says so itself (Deno,
 * Bun: `import.meta.main`), the caller asks it instead: this needs to read the file system.
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
  const args = process.argv.slice(2);
  // A server's sessions would grow Node's young generation to 32 MiB and keep it there; set
  // before anything else allocates.
  if (args[0] === "serve" || (args[1] === "serve" && args[0] !== "help")) {
    await holdYoungGeneration();
  }
  const code = await runCli(args, processOutput(), signal);
  // Exit once standard output is flushed: nothing the command started is left running.
  process.stdout.write("", () => process.exit(code));
}
