/**
 * Glob patterns for choosing the files of a recursive transfer or mirror, matched against a
 * path relative to the tree's top, its components joined by "/". Pure.
 *
 * - `*` matches any run of characters but "/", `?` one character but "/";
 * - `**` matches any run of characters, "/" included; `**` followed by "/" matches zero or more
 *   whole directories (`**` + `/x` matches `x` and `a/b/x`), and a pattern ending in "/" then
 *   `**` matches the directory itself too;
 * - `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) match one character of a class, never "/";
 * - `\` makes the next character literal;
 * - a pattern without "/" matches an entry's name at any depth (`*.txt`), one with "/" the whole
 *   relative path (`docs/*.md`; a leading "/" is dropped); one that ends in "/" matches
 *   directories only.
 *
 * @module
 */

/** A compiled pattern. */
export interface GlobMatcher {
  /** Whether `path` (relative, "/"-separated) matches; `dir` says whether it names a directory. */
  matches(path: string, dir: boolean): boolean;
}

/** `text` with every character a regular expression treats specially escaped. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `char` as a character of a class (where "-" is special too). */
function classCharacter(char: string): string {
  return char === "-" ? "\\-" : literal(char);
}

/** The regular expression of a character class starting at `pattern[at]` ("["), and where it
 * ends; `undefined` when it is not closed (the "[" is then literal). */
function characterClass(pattern: string, at: number): { source: string; end: number } | undefined {
  let i = at + 1;
  let negated = false;
  if (pattern[i] === "!" || pattern[i] === "^") {
    negated = true;
    i++;
  }
  let body = "";
  // A "]" first in the class is one of its characters.
  for (let first = true; i < pattern.length; first = false) {
    const char = pattern[i];
    if (char === "]" && !first) {
      return { source: negated ? `[^/${body}]` : `(?!/)[${body}]`, end: i + 1 };
    }
    if (char === "\\" && i + 1 < pattern.length) {
      body += classCharacter(pattern[i + 1]);
      i += 2;
      continue;
    }
    if (char === "-" && body !== "" && pattern[i + 1] !== "]" && i + 1 < pattern.length) {
      body += "-";
      i++;
      continue;
    }
    body += classCharacter(char);
    i++;
  }
  return undefined;
}

/** The regular expression source of a path pattern (no leading or trailing "/"). */
function patternSource(pattern: string): string {
  let source = "";
  for (let i = 0; i < pattern.length;) {
    const char = pattern[i];
    if (char === "*" && pattern[i + 1] === "*") {
      const atStart = i === 0 || pattern[i - 1] === "/";
      const next = pattern[i + 2];
      if (atStart && next === "/") {
        source += "(?:.*/)?";
        i += 3;
      } else if (atStart && next === undefined && i > 0) {
        // "dir/**": the directory and everything under it; the "/" before is already written.
        source = source.slice(0, -1) + "(?:/.*)?";
        i += 2;
      } else {
        source += ".*";
        i += 2;
      }
      continue;
    }
    if (char === "*") {
      source += "[^/]*";
      i++;
    } else if (char === "?") {
      source += "[^/]";
      i++;
    } else if (char === "[") {
      const range = characterClass(pattern, i);
      if (range) {
        source += range.source;
        i = range.end;
      } else {
        source += "\\[";
        i++;
      }
    } else if (char === "\\" && i + 1 < pattern.length) {
      source += literal(pattern[i + 1]);
      i += 2;
    } else {
      source += literal(char);
      i++;
    }
  }
  return source;
}

/**
 * Compiles a glob pattern (see the module's documentation).
 *
 * @param pattern The pattern.
 * @returns Its matcher.
 */
export function compileGlob(pattern: string): GlobMatcher {
  if (pattern === "" || pattern === "/") throw new TypeError(`Empty glob pattern "${pattern}"`);
  const dirOnly = pattern.endsWith("/") && !pattern.endsWith("\\/");
  const body = pattern.replace(/^\/+/, "").replace(/\/+$/, "");
  const anywhere = !pattern.slice(0, dirOnly ? -1 : undefined).includes("/");
  const regex = new RegExp(`^${anywhere ? "(?:.*/)?" : ""}${patternSource(body)}$`, "su");
  return { matches: (path, dir) => (!dirOnly || dir) && regex.test(path) };
}

/** Which entries of a tree a transfer takes. */
export interface PathFilter {
  /** Whether a file (or link) at `path` is taken. */
  file(path: string): boolean;
  /** Whether the directory at `path` is entered (an excluded one is left out whole). */
  dir(path: string): boolean;
}

/**
 * The filter of include and exclude patterns: an entry matching any exclude is left out (a
 * directory with all it holds); when there are includes, a file must match one of them
 * (directories are entered whatever the includes say).
 *
 * @param include Patterns of the files to take (none: every file).
 * @param exclude Patterns of the entries to leave out.
 * @returns The filter.
 */
export function pathFilter(
  include: readonly string[] = [],
  exclude: readonly string[] = [],
): PathFilter {
  const including = include.map(compileGlob);
  const excluding = exclude.map(compileGlob);
  return {
    file: (path) =>
      !excluding.some((glob) => glob.matches(path, false)) &&
      (including.length === 0 || including.some((glob) => glob.matches(path, false))),
    dir: (path) => !excluding.some((glob) => glob.matches(path, true)),
  };
}
