/**
 * A translator from POSIX extended regular expressions (as glibc's `regcomp(REG_EXTENDED)`
 * compiles them for tftp-hpa's remap rules) to JavaScript `RegExp`.
 *
 * @module
 */

/** A POSIX extended regular expression that cannot be translated to a JavaScript `RegExp`. */
export class PosixRegexError extends Error {
  /** Always `"PosixRegexError"`. */
  override name = "PosixRegexError";
  /** Where in the expression (0-based) the problem is. */
  readonly index: number;
  /**
   * Makes the error.
   *
   * @param message What is wrong.
   * @param index Where in the expression.
   */
  constructor(message: string, index: number) {
    super(message);
    this.index = index;
  }
}

/** POSIX character classes (C locale), as JavaScript class contents. */
const CLASSES: Readonly<Record<string, string>> = {
  alpha: "A-Za-z",
  digit: "0-9",
  alnum: "0-9A-Za-z",
  upper: "A-Z",
  lower: "a-z",
  space: " \\t\\n\\v\\f\\r",
  blank: " \\t",
  punct: "!-\\/:-@\\[-`{-~",
  print: " -~",
  graph: "!-~",
  cntrl: "\\x00-\\x1f\\x7f",
  xdigit: "0-9A-Fa-f",
};

/** GNU escapes that mean more than their character. */
const GNU_ESCAPES: Readonly<Record<string, string>> = {
  w: "[0-9A-Za-z_]",
  W: "[^0-9A-Za-z_]",
  s: "[ \\t\\n\\v\\f\\r]",
  S: "[^ \\t\\n\\v\\f\\r]",
  b: "\\b",
  B: "\\B",
  "<": "\\b(?=[0-9A-Za-z_])",
  ">": "\\b(?<=[0-9A-Za-z_])",
  "`": "(?<![\\s\\S])",
  "'": "(?![\\s\\S])",
};

/** One character escaped for use anywhere in a JavaScript pattern (outside or inside `[]`). */
function literal(char: string): string {
  const code = char.charCodeAt(0);
  if (/[0-9A-Za-z_]/.test(char)) return char;
  if (code < 0x20 || code === 0x7f || code > 0x7e) {
    return `\\u${code.toString(16).padStart(4, "0")}`;
  }
  return `\\${char}`;
}

/** Reads a bracket expression starting after `[` at `start`; returns the class and the end. */
function bracket(source: string, start: number): [string, number] {
  let i = start;
  let negate = false;
  if (source[i] === "^") {
    negate = true;
    i++;
  }
  let body = "";
  let first = true;
  while (i < source.length) {
    const char = source[i];
    if (char === "]" && !first) return [`[${negate ? "^" : ""}${body}]`, i + 1];
    first = false;
    if (char === "[" && (source[i + 1] === ":" || source[i + 1] === "=" || source[i + 1] === ".")) {
      const kind = source[i + 1];
      const close = source.indexOf(`${kind}]`, i + 2);
      if (close < 0) throw new PosixRegexError(`unterminated [${kind}`, i);
      const name = source.slice(i + 2, close);
      if (kind !== ":") {
        throw new PosixRegexError(
          `${
            kind === "=" ? "equivalence classes" : "collating symbols"
          } ([${kind}${name}${kind}]) ` +
            "are not supported",
          i,
        );
      }
      const members = CLASSES[name];
      if (members === undefined) throw new PosixRegexError(`unknown class [:${name}:]`, i);
      body += members;
      i = close + 2;
      continue;
    }
    // A range a-b (a `-` first, last or after a range is itself).
    if (source[i + 1] === "-" && source[i + 2] !== undefined && source[i + 2] !== "]") {
      const to = source[i + 2];
      if (to === "[") throw new PosixRegexError("a class cannot end a range", i);
      if (to.charCodeAt(0) < char.charCodeAt(0)) {
        throw new PosixRegexError(`invalid range ${char}-${to}`, i);
      }
      body += `${literal(char)}-${literal(to)}`;
      i += 3;
      continue;
    }
    // Inside brackets a backslash is an ordinary character (POSIX).
    body += literal(char);
    i++;
  }
  throw new PosixRegexError("unterminated [", start - 1);
}

/** Whether `{` at `i` starts a valid interval `{n}`, `{n,}` or `{n,m}`; returns its end. */
function interval(source: string, i: number): number | undefined {
  const match = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
  if (!match) return undefined;
  const low = Number(match[1]);
  const high = match[3] ? Number(match[3]) : undefined;
  if (low > 255 || (high !== undefined && (high < low || high > 255))) {
    throw new PosixRegexError(`invalid interval ${match[0]}`, i);
  }
  return i + match[0].length;
}

/**
 * Translates a POSIX extended regular expression (glibc's dialect, C locale) into a JavaScript
 * `RegExp`: bracket expressions with `[:class:]` names, anchors, groups, alternation, `* + ?` and
 * `{n,m}`, back-references `\1`-`\9`, GNU's `\w \W \s \S \b \B \< \> \` \'`, and any other
 * backslash escape as the character itself (glibc reads `\d` as `d`, `\.` as `.`).
 *
 * POSIX picks the longest of the leftmost matches, where JavaScript takes the first alternative
 * and repeat that matches (`a|ab` on `ab`: POSIX `ab`, JavaScript `a`): match with
 * {@linkcode posixExec} for POSIX's choice. Equivalence classes `[=a=]` and collating symbols
 * `[.a.]` are refused.
 *
 * @param source The POSIX extended regular expression.
 * @param ignoreCase Match regardless of case (`REG_ICASE`).
 * @returns The JavaScript regular expression.
 * @throws {PosixRegexError} What cannot be translated, with where it is.
 * @example
 * ```ts
 * import { posixRegExp } from "@ftkit/ftkit/tftp";
 * const re = posixRegExp("^pxelinux\\.cfg/01-([[:xdigit:]-]+)$", false);
 * console.log(re.exec("pxelinux.cfg/01-00-1a-2b")?.[1]); // "00-1a-2b"
 * ```
 */
export function posixRegExp(source: string, ignoreCase: boolean): RegExp {
  let out = "";
  let groups = 0;
  let depth = 0;
  // Whether a repetition operator may follow (something to repeat precedes it).
  let repeatable = false;
  let i = 0;
  while (i < source.length) {
    const char = source[i];
    switch (char) {
      case "[": {
        const [cls, end] = bracket(source, i + 1);
        out += cls;
        i = end;
        repeatable = true;
        continue;
      }
      case "(":
        groups++;
        depth++;
        out += "(";
        repeatable = false;
        break;
      case ")":
        if (depth === 0) throw new PosixRegexError("unmatched )", i);
        depth--;
        out += ")";
        repeatable = true;
        break;
      case "|":
        out += "|";
        repeatable = false;
        break;
      case "^":
      case "$":
        out += char;
        repeatable = false;
        break;
      case ".":
        out += "[\\s\\S]";
        repeatable = true;
        break;
      case "*":
      case "+":
      case "?":
        // A repeated repetition (`a+?`) is greedy in POSIX but lazy in JavaScript: refused.
        if (!repeatable) throw new PosixRegexError(`${char} repeats nothing`, i);
        out += char;
        repeatable = false;
        break;
      case "{": {
        const end = interval(source, i);
        if (end === undefined) throw new PosixRegexError("{ does not start an interval", i);
        if (!repeatable) throw new PosixRegexError("{ repeats nothing", i);
        out += source.slice(i, end);
        repeatable = false;
        i = end;
        continue;
      }
      case "\\": {
        const next = source[i + 1];
        if (next === undefined) throw new PosixRegexError("trailing backslash", i);
        if (next >= "1" && next <= "9") {
          if (Number(next) > groups) throw new PosixRegexError(`\\${next} names no group`, i);
          out += `\\${next}`;
        } else out += GNU_ESCAPES[next] ?? literal(next);
        repeatable = !"bB<>`'".includes(next);
        i += 2;
        continue;
      }
      default:
        out += literal(char);
        repeatable = true;
    }
    i++;
  }
  if (depth > 0) throw new PosixRegexError("unmatched (", source.length);
  try {
    return new RegExp(out, ignoreCase ? "i" : "");
  } catch (error) {
    throw new PosixRegexError((error as Error).message, 0);
  }
}

/** Per expression, the probes that match only up to a given end, made once. */
const PROBES = new WeakMap<RegExp, Map<number, RegExp>>();

/** Whether a longer match than JavaScript's first may exist: alternation or a repeated group. */
function mayMatchLonger(regex: RegExp): boolean {
  return regex.source.includes("|") || /\)[*+?{]/.test(regex.source);
}

/**
 * Matches as POSIX `regexec` does: the leftmost match, and of those starting there the longest
 * (which JavaScript's first match is not when alternatives or repeated groups could match more).
 * Groups come from a match of that extent.
 *
 * @param regex From {@linkcode posixRegExp}.
 * @param input The text to search.
 * @returns The match, or `null`.
 * @example
 * ```ts
 * import { posixExec, posixRegExp } from "@ftkit/ftkit/tftp";
 * console.log(posixExec(posixRegExp("v(1|1\\.2)", false), "v1.2.bin")?.[0]); // "v1.2"
 * ```
 */
export function posixExec(regex: RegExp, input: string): RegExpExecArray | null {
  regex.lastIndex = 0;
  const first = regex.exec(input);
  if (!first || !mayMatchLonger(regex)) return first;
  let probes = PROBES.get(regex);
  if (!probes) PROBES.set(regex, probes = new Map());
  for (let end = input.length; end > first.index + first[0].length; end--) {
    // The lookbehind holds only at offset `end`: the expression must end exactly there.
    let probe = probes.get(end);
    if (!probe) {
      probe = new RegExp(`(?:${regex.source})(?<=^[\\s\\S]{${end}})`, `${regex.flags}y`);
      probes.set(end, probe);
    }
    probe.lastIndex = first.index;
    const longer = probe.exec(input);
    if (longer) return longer;
  }
  return first;
}
