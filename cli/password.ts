// A password for `--user NAME` given without one: from FTKIT_PASSWORD, then ~/.netrc (as curl and
// lftp read it), then a prompt on a terminal that does not echo what is typed; and a new password
// to hash (`ftkit ftps passwd`). The password is never printed.

import process from "node:process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./args.ts";
import { CliError } from "./errors.ts";
import { CliInterrupt, interruptedCode } from "./output.ts";

/** Users that log in without a password of their own (RFC 1635): nothing is looked up for them. */
const ANONYMOUS: ReadonlySet<string> = new Set(["anonymous", "ftp"]);

/** The words of a .netrc file: whitespace separates them, double quotes group them. */
function netrcTokens(text: string): string[] {
  const tokens: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*#/.test(line)) continue;
    if (/^\s*macdef\b/.test(line)) {
      // A macro runs to the next empty line.
      while (i + 1 < lines.length && lines[i + 1].trim() !== "") i++;
      continue;
    }
    for (const match of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
      tokens.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2]);
    }
  }
  return tokens;
}

/** One `machine` (or `default`) entry of a .netrc file. */
interface NetrcEntry {
  machine?: string;
  login?: string;
  password?: string;
}

/** The `machine` and `default` entries of a .netrc file, in order. */
function netrcEntries(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  const tokens = netrcTokens(text);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === "machine") entries.push({ machine: tokens[++i] ?? "" });
    else if (token === "default") entries.push({});
    else if ((token === "login" || token === "password") && entries.length > 0) {
      entries[entries.length - 1][token] = tokens[++i];
    } else if (token === "account") i++;
  }
  return entries;
}

/**
 * The password a .netrc file gives `user` on `host`: the first `machine` entry for the host whose
 * login is the user (or which names no login), else the `default` entry on the same terms.
 */
export function netrcPassword(text: string, host: string, user: string): string | undefined {
  const entries = netrcEntries(text);
  const fits = (entry: NetrcEntry) =>
    entry.password !== undefined && (entry.login === undefined || entry.login === user);
  const machine = entries.find((entry) =>
    entry.machine?.toLowerCase() === host.toLowerCase() && fits(entry)
  );
  return (machine ?? entries.find((entry) => entry.machine === undefined && fits(entry)))
    ?.password;
}

/**
 * The login a .netrc file gives `host` when no user was named, as curl and lftp read it: the
 * first `machine` entry for the host that names a login, else the `default` entry's; with that
 * entry's password, if it has one.
 */
export function netrcLogin(
  text: string,
  host: string,
): { login: string; password?: string } | undefined {
  const entries = netrcEntries(text).filter((entry) => entry.login !== undefined);
  const entry = entries.find((each) => each.machine?.toLowerCase() === host.toLowerCase()) ??
    entries.find((each) => each.machine === undefined);
  if (!entry) return undefined;
  return {
    login: entry.login!,
    ...(entry.password !== undefined ? { password: entry.password } : {}),
  };
}

/** The .netrc file: $NETRC, else ~/.netrc. */
function netrcPath(): string {
  return process.env.NETRC ?? join(process.env.HOME ?? homedir(), ".netrc");
}

/** The .netrc file's text, or `undefined` when there is none. */
async function readNetrc(): Promise<string | undefined> {
  try {
    return await readFile(netrcPath(), "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
    return undefined;
  }
}

/**
 * The login the .netrc file (`NETRC`, else `~/.netrc`) gives `host`, see {@linkcode netrcLogin}.
 * A Deno run not allowed to read the environment or the file looks nothing up: the login stays
 * anonymous, as it was without a .netrc.
 */
export async function findLogin(
  host: string,
): Promise<{ login: string; password?: string } | undefined> {
  let netrc: string | undefined;
  try {
    netrc = await readNetrc();
  } catch (error) {
    const name = (error as Error).name;
    if (name === "NotCapable" || name === "PermissionDenied") return undefined;
    throw error;
  }
  return netrc === undefined ? undefined : netrcLogin(netrc, host);
}

/**
 * Asks for a password on the terminal, echoing nothing: standard input in raw mode, restored on
 * every way out (Enter, Ctrl-C, Ctrl-D, the command's signal, the process exiting).
 */
function prompt(question: string, signal: AbortSignal | undefined): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let typed = "";
    const restore = () => {
      try {
        stdin.setRawMode(false);
      } catch {
        // Standard input is gone: nothing to restore.
      }
    };
    const finish = () => {
      stdin.off("data", onData);
      signal?.removeEventListener("abort", onAbort);
      process.off("exit", restore);
      restore();
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string | Uint8Array) => {
      for (const char of typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk)) {
        if (char === "\r" || char === "\n") {
          finish();
          return resolve(typed);
        }
        if (char === "\u0003") {
          // Ctrl-C: in raw mode a byte, not SIGINT.
          finish();
          return reject(new CliError("Interrupted by SIGINT", 130));
        }
        if (char === "\u0004" && typed === "") {
          finish();
          return reject(new CliError("no password given", 67));
        }
        if (char === "\u007f" || char === "\b") typed = Array.from(typed).slice(0, -1).join("");
        else if (char === "\u0015") typed = "";
        else if (char >= " ") typed += char;
      }
    };
    const onAbort = () => {
      finish();
      const reason = signal?.reason;
      reject(
        new CliError(
          reason instanceof CliInterrupt ? reason.message : "Interrupted",
          signal ? interruptedCode(signal) : 130,
        ),
      );
    };
    if (signal?.aborted) return onAbort();
    process.once("exit", restore);
    signal?.addEventListener("abort", onAbort, { once: true });
    // Raw first: nothing typed once the question shows is echoed.
    stdin.setRawMode(true);
    process.stderr.write(question);
    stdin.setEncoding("utf8");
    stdin.on("data", onData);
    stdin.resume();
  });
}

/**
 * The password of `user` on `host`, for a login given without one: `FTKIT_PASSWORD`, then the
 * .netrc file (`NETRC`, else `~/.netrc`), then a prompt when standard input is a terminal.
 * Anonymous users get none (the client's default). None found is a usage error that says where a
 * password can come from; unless `optional` (a TLS client certificate may log the user in, 232),
 * when nothing is asked and `undefined` is returned.
 */
export async function findPassword(
  user: string,
  host: string,
  signal: AbortSignal | undefined,
  optional = false,
): Promise<string | undefined> {
  if (ANONYMOUS.has(user.toLowerCase())) return undefined;
  const fromEnv = process.env.FTKIT_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  const netrc = await readNetrc();
  const fromNetrc = netrc === undefined ? undefined : netrcPassword(netrc, host, user);
  if (fromNetrc !== undefined) return fromNetrc;
  if (optional) return undefined;
  if (process.stdin.isTTY && typeof process.stdin.setRawMode === "function") {
    return await prompt(`Password for ${user}@${host}: `, signal);
  }
  throw new UsageError(
    `no password for ${user}@${host}: give --user ${user}:PASS, set FTKIT_PASSWORD, ` +
      "add it to ~/.netrc, or run in a terminal to be asked",
  );
}

/** The longest password read from standard input. */
const MAX_PIPED_PASSWORD = 4096;

/** Standard input to its end (bounded), as text. */
async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of process.stdin as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    length += bytes.length;
    if (length > MAX_PIPED_PASSWORD) {
      throw new UsageError(`the password on standard input is over ${MAX_PIPED_PASSWORD} bytes`);
    }
    chunks.push(bytes);
  }
  const all = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(all);
}

/**
 * A new password, to be hashed: `FTKIT_PASSWORD`; else, on a terminal, asked twice without echo
 * (they must match); else standard input, its one line (the line end is not part of it). Empty is
 * a usage error.
 */
export async function newPassword(signal: AbortSignal | undefined): Promise<string> {
  let password = process.env.FTKIT_PASSWORD;
  if (password === undefined) {
    if (process.stdin.isTTY && typeof process.stdin.setRawMode === "function") {
      password = await prompt("Password: ", signal);
      if (password !== "" && await prompt("Again: ", signal) !== password) {
        throw new UsageError("the passwords do not match");
      }
    } else {
      const text = await readStdin();
      const end = text.search(/\r?\n/);
      if (end !== -1 && text.slice(end).replace(/^\r?\n/, "") !== "") {
        throw new UsageError("one line on standard input: the password");
      }
      password = end === -1 ? text : text.slice(0, end);
    }
  }
  if (password === "") throw new UsageError("no password given (an empty one is refused)");
  return password;
}
