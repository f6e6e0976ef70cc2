// Reading the command line: options against a command's table (cli/help.ts), usage errors that
// name the command and suggest what was meant, and the checks on ports, counts and sizes.

import { stat } from "node:fs/promises";
import type { CommandDoc, OptionDoc } from "./help.ts";
import { isFtpIpv4 } from "../codec/ftp_address.ts";
import { parseIpNetwork } from "../io/cidr.ts";
import { isHostName } from "../io/host_name.ts";

export { VERSION } from "./help.ts";

/**
 * A command line the command does not take: one line, then a pointer to the help of `command`
 * (`"ftps get"`, or undefined for `ftkit --help`); exit code 2.
 */
export class UsageError extends Error {
  /** The command whose help the pointer names. */
  readonly command?: string;

  /**
   * Makes the error.
   *
   * @param message What is wrong, one line.
   * @param command The command whose help to point to.
   */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    if (command !== undefined) this.command = command;
  }
}

/** What {@linkcode parse} read: the options by name, and the other arguments in order. */
export interface ParsedArgs {
  /** Each option given, by its long name: a string, `true` for a flag, a list when repeated. */
  values: Record<string, string | true | string[] | undefined>;
  /** The arguments that are not options. */
  positionals: string[];
}

/**
 * The edit distance between `a` and `b`: insertions, deletions, substitutions and swaps of two
 * neighbours (optimal string alignment).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The candidates closest to `word` (a typo of one of them), or those it begins. */
export function closest(word: string, candidates: readonly string[]): string[] {
  const limit = Math.min(2, Math.max(1, Math.floor(word.length / 3)));
  const scored = candidates.map((candidate) => ({ candidate, d: editDistance(word, candidate) }));
  const best = Math.min(...scored.map(({ d }) => d));
  if (best <= limit) return scored.filter(({ d }) => d === best).map(({ candidate }) => candidate);
  if (word.length >= 2) return candidates.filter((candidate) => candidate.startsWith(word));
  return [];
}

/** `; did you mean 'x'?` (or `'x' or 'y'`) for `names`, or "" for none. */
export function suggestion(names: readonly string[], quote = ""): string {
  if (names.length === 0) return "";
  return `; did you mean ${names.slice(0, 3).map((name) => `'${quote}${name}'`).join(" or ")}?`;
}

/** {@linkcode suggestion} for the candidates closest to `word`. */
export function didYouMean(word: string, candidates: readonly string[], quote = ""): string {
  return suggestion(closest(word, candidates), quote);
}

/** Whether `args` ask for help (`-h` or `--help` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "-h" || arg === "--help") return true;
  }
  return false;
}

/**
 * Reads `args` against the options of `doc`: `--name VALUE`, `--name=VALUE`, flags, and `--`
 * before operands that begin with a dash. An option's value is taken as given, even when it begins
 * with a dash (`--port -1` is then refused by the port check, by name). An unknown option, a
 * missing value or a value given to a flag is a usage error that says so and suggests the option
 * meant.
 */
export function parse(doc: CommandDoc, args: readonly string[]): ParsedArgs {
  const byName = new Map<string, OptionDoc>(doc.options.map((option) => [option.name, option]));
  const byShort = new Map<string, OptionDoc>(
    doc.options.flatMap((option) => (option.short ? [[option.short, option]] : [])),
  );
  const values: ParsedArgs["values"] = {};
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw new UsageError(message, doc.name);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const short = arg.startsWith("--") ? undefined : byShort.get(arg.slice(1));
    const name = short?.name ??
      (arg.startsWith("--") ? arg.slice(2, equals === -1 ? undefined : equals) : arg.slice(1));
    const option = arg.startsWith("--") ? byName.get(name) : short;
    if (!option) {
      const shown = arg.startsWith("--") ? `--${name}` : arg;
      fail(
        `unknown option '${shown}' for '${doc.name}'${
          didYouMean(name.replace(/^-/, ""), [...byName.keys()], "--")
        }`,
      );
      continue;
    }
    let value: string | true;
    if (option.value === undefined) {
      if (equals !== -1) fail(`option '--${name}' takes no value`);
      value = true;
    } else if (equals !== -1) {
      value = arg.slice(equals + 1);
    } else if (i + 1 < args.length) {
      value = args[++i];
    } else {
      value = fail(`option '--${name}' needs a value (${option.value})`);
    }
    const before = values[name];
    if (option.multiple) {
      values[name] = [...(Array.isArray(before) ? before : []), String(value)];
    } else if (before !== undefined) {
      fail(`option '--${name}' given twice`);
    } else values[name] = value;
  }
  return { values, positionals };
}

/** A string option's value, or undefined when not given. */
export function text(values: ParsedArgs["values"], name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

/** Whether a flag was given. */
export function flag(values: ParsedArgs["values"], name: string): boolean {
  return values[name] === true;
}

/** The checks a whole number is held to. */
interface Range {
  /** The smallest allowed (default 1). */
  readonly min?: number;
  /** The largest allowed. */
  readonly max?: number;
  /** "unlimited" is allowed, and read as Infinity. */
  readonly unlimited?: boolean;
}

/**
 * The whole number option `--name` gives, within `range` (undefined when not given); anything else
 * is a usage error naming the option and what it takes.
 */
export function integer(
  values: ParsedArgs["values"],
  name: string,
  range: Range = {},
): number | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  return checkInteger(`--${name}`, value, range);
}

/** A number of bytes with an optional K, M, G or T (1024-based); NaN when it is not one. */
function bytesOf(value: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([kmgt]?)$/i.exec(value);
  if (!match) return NaN;
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    match[2].toLowerCase() as "" | "k" | "m" | "g" | "t"
  ];
  return Math.floor(Number(match[1]) * scale);
}

/**
 * A rate in bytes per second: a number with an optional K, M or G (1024-based, as curl's
 * `--limit-rate` reads it), at least 1K.
 */
export function byteRate(values: ParsedArgs["values"], name: string): number | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  const bytes = bytesOf(value);
  if (Number.isSafeInteger(bytes) && bytes >= 1024) return bytes;
  throw new UsageError(
    `--${name} takes bytes per second, at least 1024 (K, M, G: 1024-based), not '${value}'`,
  );
}

/** A size in bytes: a number with an optional K, M, G or T (1024-based). */
export function byteSize(values: ParsedArgs["values"], name: string): number | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  const bytes = bytesOf(value);
  if (Number.isSafeInteger(bytes)) return bytes;
  throw new UsageError(`--${name} takes a size in bytes (K, M, G, T: 1024-based), not '${value}'`);
}

/** `value` as a whole number within `range`, or a usage error saying what `what` takes. */
export function checkInteger(what: string, value: string, range: Range = {}): number {
  const min = range.min ?? 1;
  if (range.unlimited && value === "unlimited") return Infinity;
  const number = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (Number.isSafeInteger(number) && number >= min && number <= (range.max ?? Infinity)) {
    return number;
  }
  const wanted = range.max !== undefined
    ? `an integer from ${min} to ${range.max}`
    : min === 0
    ? "a whole number (0 or more)"
    : "a positive integer";
  throw new UsageError(
    `${what} takes ${wanted}${range.unlimited ? ' or "unlimited"' : ""}, not '${value}'`,
  );
}

/** A port option: an integer from 0 (any free port) to 65535. */
export function port(values: ParsedArgs["values"], name: string): number | undefined {
  return integer(values, name, { min: 0, max: 65535 });
}

/** `--passive-ports LOW-HIGH`: two ports, LOW no higher than HIGH. */
export function portRange(
  values: ParsedArgs["values"],
  name: string,
): [number, number] | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  const match = value.match(/^(\d+)-(\d+)$/);
  const low = match ? Number(match[1]) : NaN;
  const high = match ? Number(match[2]) : NaN;
  if (!(low >= 1 && high <= 65535 && low <= high)) {
    throw new UsageError(
      `--${name} takes LOW-HIGH, two ports from 1 to 65535 with LOW <= HIGH, not '${value}'`,
    );
  }
  return [low, high];
}

/** The values of an option that may be given more than once (undefined when not given). */
function repeated(values: ParsedArgs["values"], name: string): string[] | undefined {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : undefined;
}

/** Why `text` is not an IP network or address as the server's options take them, if it is not. */
export function notNetwork(text: string): string | undefined {
  try {
    parseIpNetwork(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * `--passive-host [CIDR=]HOST`, repeated: the rules in the order given. HOST is an IPv4 address
 * or a host name; without `CIDR=` the rule is for every client; `CIDR=` alone keeps the address
 * the client reached for that network.
 */
export function passiveHostRules(
  values: ParsedArgs["values"],
  name: string,
): { network?: string; host?: string }[] | undefined {
  return repeated(values, name)?.map((value) => {
    const at = value.indexOf("=");
    const network = at === -1 ? undefined : value.slice(0, at);
    const host = at === -1 ? value : value.slice(at + 1);
    const hostOk = host === "" ? network !== undefined : isFtpIpv4(host) || isHostName(host);
    if (!hostOk) {
      throw new UsageError(
        `--${name} takes HOST or CIDR=HOST (HOST an IPv4 address or a host name), not '${value}'`,
      );
    }
    const why = network === undefined ? undefined : notNetwork(network);
    if (why) throw new UsageError(`--${name} '${value}': ${why}`);
    return { ...(network !== undefined ? { network } : {}), ...(host ? { host } : {}) };
  });
}

/** An option of IP networks (CIDR or lone addresses), repeated; undefined when not given. */
export function networks(values: ParsedArgs["values"], name: string): string[] | undefined {
  const list = repeated(values, name);
  for (const value of list ?? []) {
    const why = notNetwork(value);
    if (why) throw new UsageError(`--${name} takes IP networks (such as 10.0.0.0/8): ${why}`);
  }
  return list;
}

/** The directory a server serves: one that exists, or a usage error. */
export async function directory(path: string): Promise<string> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new UsageError(`no such directory: '${path}'`);
    }
    throw error;
  }
  if (!isDirectory) throw new UsageError(`not a directory: '${path}'`);
  return path;
}
