/**
 * tftp-hpa's remap rule files (`in.tftpd -m FILE`): the parser and the rule engine, with the
 * semantics of tftp-hpa 5.2 (`tftpd/remap.c`, `tftpd.8`). Pure: no I/O.
 *
 * @module
 */

import { posixExec, PosixRegexError, posixRegExp } from "./posix_regex.ts";

/** How many rule steps one name may take before the table fails, as tftp-hpa 5.2 counts them. */
export const TFTP_MAP_MAX_STEPS = 1024;

/** One rule of a tftp-hpa remap file. */
export interface TftpMapRule {
  /** The 1-based line of the file it came from. */
  readonly line: number;
  /** Its flags as written (`r`, `g`, `i`, `e`, `s`, `a`, `~`, `G`, `P`, `4`, `6`). */
  readonly flags: string;
  /** The POSIX extended regular expression as written. */
  readonly source: string;
  /** The expression translated to JavaScript. */
  readonly regex: RegExp;
  /** The replacement (`r`) or the error message (`a`), empty when absent. */
  readonly pattern: string;
}

/** A rule file that tftp-hpa would refuse, or that cannot be translated. */
export class TftpMapFileError extends Error {
  /** Always `"TftpMapFileError"`. */
  override name = "TftpMapFileError";
  /** The 1-based line of the rule. */
  readonly line: number;
  /**
   * Makes the error.
   *
   * @param line The 1-based line.
   * @param message What is wrong.
   */
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

/** What the rules made of a requested name. */
export type TftpMapResult =
  | { readonly type: "name"; readonly filename: string }
  /** Refused: an `a` rule matched (`message` is its text, if any), or the table ran too long. */
  | { readonly type: "deny"; readonly message: string | undefined };

/** The request a name belongs to. */
export interface TftpMapRequest {
  /** Read (`G` rules) or write (`P` rules). */
  readonly type: "rrq" | "wrq";
  /** The client's IP address, for `4`/`6` rules and the `\i` and `\x` substitutions. */
  readonly address: string;
}

const FLAGS = "rgesai~GP46";

/**
 * Reads one token as tftp-hpa's `readescstring` does: leading white space skipped, ended by
 * unescaped white space or `#` (a comment to the end of the line); backslashes are kept.
 */
function token(line: string, at: number): [string, number] {
  let i = at;
  while (i < line.length && /\s/.test(line[i])) i++;
  let escaped = false;
  let text = "";
  for (; i < line.length; i++) {
    const char = line[i];
    if (!escaped && (/\s/.test(char) || char === "#")) break;
    // Two backslashes leave the next character unescaped.
    escaped = !escaped && char === "\\";
    text += char;
  }
  return [text, i];
}

/**
 * Parses a tftp-hpa remap rule file: one rule a line, `flags regex [pattern]`, `#` starts a
 * comment, blank lines are skipped. Every line is checked, and the first error is thrown, as
 * tftp-hpa refuses to start on any.
 *
 * @param text The file's text.
 * @returns The rules, in order.
 * @throws {TftpMapFileError} An unknown flag, `r` with `~`, a missing regex, or a regex that is
 *   invalid or cannot be translated, with its line.
 * @example
 * ```ts
 * import { parseTftpMapFile } from "@ftkit/ftkit/tftp";
 * const rules = parseTftpMapFile("# lower-case everything\nrg [A-Z]+ \\L\\0\n");
 * console.log(rules[0].line, rules[0].flags); // 2 "rg"
 * ```
 */
export function parseTftpMapFile(text: string): TftpMapRule[] {
  const rules: TftpMapRule[] = [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    const [flags, afterFlags] = token(raw, 0);
    if (flags === "") continue;
    for (const flag of flags) {
      if (!FLAGS.includes(flag)) throw new TftpMapFileError(line, `invalid flag "${flag}"`);
    }
    if (flags.includes("r") && flags.includes("~")) {
      throw new TftpMapFileError(line, "r rules cannot be inverted (~)");
    }
    const [source, afterRegex] = token(raw, afterFlags);
    if (source === "") throw new TftpMapFileError(line, "no regex");
    let regex: RegExp;
    try {
      regex = posixRegExp(source, flags.includes("i"));
    } catch (error) {
      if (!(error instanceof PosixRegexError)) throw error;
      throw new TftpMapFileError(line, `regex ${source}: ${error.message}`);
    }
    const [pattern] = token(raw, afterRegex);
    rules.push({ line, flags, source, regex, pattern });
  }
  return rules;
}

/** `\x`: the address in upper-case hex, 8 digits for IPv4 and 32 for IPv6 (tftp-hpa). */
function hexAddress(address: string): string {
  if (!address.includes(":")) {
    return address.split(".").map((part) => Number(part).toString(16).padStart(2, "0"))
      .join("").toUpperCase();
  }
  const bare = address.replace(/%.*$/, "");
  let [head, tail] = bare.includes("::") ? bare.split("::") : [bare, undefined];
  // An embedded IPv4 tail (`::ffff:1.2.3.4`) becomes two groups.
  const v4 = (s: string) =>
    s.replace(
      /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
      (_, a, b, c, d) => [((+a << 8) | +b).toString(16), ((+c << 8) | +d).toString(16)].join(":"),
    );
  head = v4(head);
  tail = tail === undefined ? undefined : v4(tail);
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined
    ? left
    : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.map((group) => group.padStart(4, "0")).join("").toUpperCase();
}

/** C-locale `toupper`/`tolower`: ASCII letters only. */
const CASE: Record<"U" | "L", (char: string) => string> = {
  U: (char) => char.replace(/[a-z]/g, (c) => c.toUpperCase()),
  L: (char) => char.replace(/[A-Z]/g, (c) => c.toLowerCase()),
};

/**
 * Expands a replacement as tftp-hpa's `genmatchstring` does: the text before the match, then the
 * pattern with `\0`-`\9` (groups), `\i`, `\x`, `\U`/`\L`/`\E` (case of what follows), any other
 * `\c` as `c`, then the text after the match.
 */
function expand(
  pattern: string,
  input: string,
  match: RegExpExecArray | undefined,
  address: string,
): string {
  let xform: ((char: string) => string) | undefined;
  const put = (text: string) => xform ? xform(text) : text;
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char !== "\\" || i + 1 === pattern.length) {
      out += put(char);
      continue;
    }
    const macro = pattern[++i];
    if (macro >= "0" && macro <= "9") out += put(match?.[Number(macro)] ?? "");
    else if (macro === "U" || macro === "L") xform = CASE[macro];
    else if (macro === "E") xform = undefined;
    else if (macro === "i") out += put(address);
    else if (macro === "x") out += put(hexAddress(address));
    else out += put(macro);
  }
  if (!match) return out;
  return input.slice(0, match.index) + out + input.slice(match.index + match[0].length);
}

/** Whether a rule applies to this request (`G`/`P` by type, `4`/`6` by address family). */
function applies(flags: string, request: TftpMapRequest): boolean {
  const ipv6 = request.address.includes(":");
  if (flags.includes("G") && request.type !== "rrq") return false;
  if (flags.includes("P") && request.type !== "wrq") return false;
  if (flags.includes("4") && ipv6) return false;
  if (flags.includes("6") && !ipv6) return false;
  return true;
}

/**
 * Runs the rules on a requested file name, as tftp-hpa 5.2's `rewrite_string` does. Rules are
 * tried in order; a matching `r` rule rewrites the name (`g`: again, until it no longer
 * matches), `e` ends the run, `s` starts it over (at the second rule, as tftp-hpa's loop does),
 * `a` refuses the request, `~` makes a rule apply when its regex does not match. After
 * {@linkcode TFTP_MAP_MAX_STEPS} steps the request is refused ("Remap table failure"); unlike
 * tftp-hpa 5.2, which never ends there, each repeat of a `g` rule counts as a step too.
 *
 * @param rules From {@linkcode parseTftpMapFile}.
 * @param filename The name the client asked for.
 * @param request The request's type and the client's address.
 * @returns The name to serve, or a refusal.
 * @example
 * ```ts
 * import { applyTftpMapRules, parseTftpMapFile } from "@ftkit/ftkit/tftp";
 * const rules = parseTftpMapFile("rg \\\\ /\nr ^[^/] /\\0\nri ^/boot/ /pxe/\\i/\n");
 * const result = applyTftpMapRules(rules, "BOOT\\x86.bin", { type: "rrq", address: "10.0.0.7" });
 * console.log(result); // { type: "name", filename: "/pxe/10.0.0.7/x86.bin" }
 * ```
 */
export function applyTftpMapRules(
  rules: readonly TftpMapRule[],
  filename: string,
  request: TftpMapRequest,
): TftpMapResult {
  const failure: TftpMapResult = { type: "deny", message: "Remap table failure" };
  let current = filename;
  let steps = TFTP_MAP_MAX_STEPS;
  for (let k = 0; k < rules.length; k++) {
    const rule = rules[k];
    if (!applies(rule.flags, request)) continue;
    if (steps-- === 0) return failure;
    const inverse = rule.flags.includes("~");
    const global = rule.flags.includes("g") && rule.flags.includes("r");
    let matched = false;
    for (let first = true;; first = false) {
      if (!first && steps-- === 0) return failure;
      const found = posixExec(rule.regex, current) ?? undefined;
      if (inverse === (found !== undefined)) break;
      matched = true;
      const match = inverse ? undefined : found;
      if (rule.flags.includes("a")) {
        return {
          type: "deny",
          message: rule.pattern === ""
            ? undefined
            : expand(rule.pattern, current, match, request.address),
        };
      }
      if (rule.flags.includes("r")) current = expand(rule.pattern, current, match, request.address);
      if (!global) break;
    }
    if (!matched) continue;
    if (rule.flags.includes("e")) break;
    // tftp-hpa sets its rule pointer to the first rule, then its loop moves on to the second.
    if (rule.flags.includes("s")) k = 0;
  }
  return { type: "name", filename: current };
}
