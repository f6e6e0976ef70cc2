// `ftkit ftps ls|get|put|hash URL`: the FTPS client commands, the FTP URLs they take, and the
// login they share with `ftkit ftps mirror`.

import { currentRuntime } from "../io/runtime.ts";
import process from "node:process";
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { flag, integer, type ParsedArgs, text, UsageError } from "./args.ts";
import { type FailureContext, reading } from "./errors.ts";
import { findLogin, findPassword } from "./password.ts";
import { parseProxy } from "../ftps/_client_proxy.ts";
import { unlessImplicit } from "./tls_probe.ts";
import { bar, type CliOutput, delay, interruptedCode, untilAborted } from "./output.ts";

/** What an FTP URL names. */
export interface FtpTarget {
  secure: "implicit" | "explicit" | false;
  host: string;
  port: number;
  user?: string;
  password?: string;
  path: string;
}

/** Reads `ftps://` (implicit TLS), `ftpes://` (explicit) and `ftp://` (explicit with `tls`, else
 * plain) URLs. */
export function ftpTarget(text: string, tls: boolean): FtpTarget {
  let url: URL;
  const schemes = "ftps://HOST/PATH, ftpes://HOST/PATH or ftp://HOST/PATH";
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: '${text}' (${schemes})`);
  }
  if (url.protocol !== "ftps:" && url.protocol !== "ftp:" && url.protocol !== "ftpes:") {
    throw new UsageError(`not an FTP URL: '${text}' (${schemes})`);
  }
  const implicit = url.protocol === "ftps:";
  if (implicit && tls) throw new UsageError("--tls is for ftp:// URLs; ftps:// is already TLS");
  if (url.search || url.hash) throw new UsageError(`unexpected ? or # in '${text}'`);
  // ftpes: is no special scheme to the URL parser: its host and port are read the same way.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new UsageError(`no host in '${text}'`);
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new UsageError(`bad percent-encoding in '${text}'`);
  }
  return {
    secure: implicit ? "implicit" : tls || url.protocol === "ftpes:" ? "explicit" : false,
    host,
    port: url.port ? Number(url.port) : implicit ? 990 : 21,
    ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    // "/pub/x" names pub/x under the login directory, as curl reads FTP URLs (RFC 1738 3.2.2).
    path: path.replace(/^\//, ""),
  };
}

/** The FTPS functions of one runtime, as each `ftps/adapters/*.ts` entry point exports them. */
export type FtpsApi = typeof import("../ftps/adapters/node.ts");

/** The FTPS functions of the runtime the command runs on. */
export async function ftpsApi(): Promise<FtpsApi> {
  const runtime = currentRuntime();
  if (runtime === "deno") return await import("../ftps/adapters/deno.ts");
  if (runtime === "bun") return await import("../ftps/adapters/bun.ts");
  return await import("../ftps/adapters/node.ts");
}

/**
 * Runs `ftkit ftps ls|get|put|hash`.
 *
 * @param command `ls`, `get`, `put` or `hash`.
 * @param args The command line read.
 * @param output Where to write.
 * @param signal Interrupts the command: the transfer is aborted (ABOR) and the session closed.
 * @param context Notes the local file's direction, the TLS mode and the server, for a failure's
 * class and hint.
 * @returns The exit code.
 */
export async function ftpsCommand(
  command: "ls" | "get" | "put" | "hash",
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<number> {
  const { values, positionals } = args;
  const want = command === "ls" || command === "hash"
    ? [1, 1]
    : command === "get"
    ? [1, 2]
    : [2, 2];
  if (positionals.length < want[0] || positionals.length > want[1]) {
    throw new UsageError(
      command === "ls" || command === "hash"
        ? `'ftps ${command}' takes one URL`
        : command === "get"
        ? "'ftps get' takes a URL and an optional LOCAL file"
        : "'ftps put' takes a LOCAL file and a URL",
    );
  }
  const target = ftpTarget(
    command === "put" ? positionals[1] : positionals[0],
    flag(values, "tls"),
  );
  if ((command === "get" || command === "hash") && (!target.path || target.path.endsWith("/"))) {
    throw new UsageError(`'ftps ${command}' needs a file in the URL`);
  }
  const algorithm = hashAlgorithm(text(values, "algorithm"));
  const checks = {
    preserve: flag(values, "preserve"),
    verify: flag(values, "verify"),
    resume: (command === "get" || command === "put") && flag(values, "continue"),
  };
  if (checks.preserve && command === "get" && positionals[1] === "-") {
    throw new UsageError("--preserve needs a LOCAL file, not standard output");
  }
  if (checks.resume && command === "get" && positionals[1] === "-") {
    throw new UsageError("--continue needs a LOCAL file, not standard output");
  }
  const login = await ftpsLogin(target, values, signal, context);
  const quiet = flag(values, "quiet");
  if (command === "put") await reading(stat(positionals[0]), positionals[0]);
  // A get writes its local file (unless to standard output), a put reads it.
  if (command === "put") {
    context.local = "read";
    context.localPath = positionals[0];
  } else if (command === "get" && positionals[1] !== "-") {
    context.local = "write";
    context.localPath = positionals[1] ?? basename(target.path);
  }
  try {
    const client = await login();
    const draw = output.progress && !quiet ? output.progress : undefined;
    try {
      if (command === "ls") {
        await ftpsList(client, target.path, flag(values, "long"), output, signal);
      } else if (command === "hash") {
        output.out(`${await client.hash(target.path, algorithm)}  ${target.path}`);
      } else if (command === "get") {
        await ftpsGet(client, target.path, positionals[1], output, signal, draw, quiet, checks);
      } else {
        await ftpsPut(client, positionals[0], target.path, output, signal, draw, quiet, checks);
      }
    } finally {
      // Interrupted: QUIT, but no waiting on a server that does not answer.
      const closing = client.close();
      await (signal?.aborted ? Promise.race([closing, delay(2000)]) : closing);
    }
    return 0;
  } catch (error) {
    if (!signal?.aborted) throw error;
    // The transfer was aborted (ABOR): a download's temporary file is gone, the local file
    // as it was; an upload was cut short, never ended, so the server keeps nothing of it.
    output.progress?.("");
    const reason = signal.reason instanceof Error ? signal.reason.message : "Interrupted";
    output.err(`ftkit: ${reason}: ${command === "ls" ? "listing" : "transfer"} aborted`);
    return interruptedCode(signal);
  }
}

/** `--algorithm`'s value as the client names it (default SHA-256). */
function hashAlgorithm(name: string | undefined): "SHA-256" | "SHA-1" | "MD5" | "CRC32" {
  const names = { sha256: "SHA-256", sha1: "SHA-1", md5: "MD5", crc32: "CRC32" } as const;
  const key = (name ?? "sha256").toLowerCase().replace("-", "");
  if (!Object.hasOwn(names, key)) {
    throw new UsageError(`--algorithm takes sha256, sha1, md5 or crc32, not '${name}'`);
  }
  return names[key as keyof typeof names];
}

/** `--preserve` (modification times), `--verify` (checksums) and `--continue` of a get or put. */
interface Checks {
  readonly preserve: boolean;
  readonly verify: boolean;
  readonly resume: boolean;
}

/**
 * Reads the login options of a client command (`--user`, the TLS options, `--cert`/`--key`,
 * `--proxy`, `--timeout`, `--retry` where the command takes it), finds a missing user (.netrc)
 * and password, reads the PEM files, and notes the server in `context`; returns what connects and
 * logs in (a Ctrl-C on `signal` stops it there, and a session that comes up later is closed).
 */
export async function ftpsLogin(
  target: FtpTarget,
  values: ParsedArgs["values"],
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<() => Promise<FtpsClientLike>> {
  const user = text(values, "user");
  if (user !== undefined) {
    const at = user.indexOf(":");
    target.user = at === -1 ? user : user.slice(0, at);
    if (at !== -1) target.password = user.slice(at + 1);
    else delete target.password;
  }
  const tlsMax = text(values, "tls-max");
  if (tlsMax !== undefined && tlsMax !== "1.2" && tlsMax !== "1.3") {
    throw new UsageError(`--tls-max takes 1.2 or 1.3, not '${tlsMax}'`);
  }
  const servername = text(values, "servername");
  const caFile = text(values, "ca");
  const certFile = text(values, "cert");
  const keyFile = text(values, "key");
  if (
    target.secure === false &&
    (caFile !== undefined || flag(values, "insecure") || tlsMax || servername !== undefined ||
      certFile !== undefined || keyFile !== undefined)
  ) {
    throw new UsageError("TLS options need ftps://, ftpes:// or --tls");
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  // Explicit only: ALL_PROXY and ftp_proxy in the environment are not read.
  const proxy = text(values, "proxy");
  if (proxy !== undefined) {
    try {
      parseProxy(proxy);
    } catch (error) {
      throw new UsageError(`--proxy: ${(error as Error).message}`);
    }
  }
  if (proxy !== undefined && flag(values, "active")) {
    throw new UsageError("--active cannot go through --proxy (the server would connect back)");
  }
  const timeout = integer(values, "timeout");
  // Absent for ls and hash, which do not take it.
  const attempts = integer(values, "retry", { min: 1, max: 100 });
  if (target.user === undefined) {
    // No user named: the login .netrc gives the host, as curl and lftp take it.
    const login = await findLogin(target.host);
    if (login) {
      target.user = login.login;
      if (login.password !== undefined) target.password = login.password;
    }
  }
  if (target.user !== undefined && target.password === undefined) {
    // With a client certificate the server may log the user in without one (232).
    const password = await findPassword(target.user, target.host, signal, certFile !== undefined);
    if (password !== undefined) target.password = password;
  }
  context.secure = target.secure;
  const authority = urlAuthority(target.host, target.port);
  context.authority = authority;
  const api = await ftpsApi();
  const ca = caFile === undefined
    ? undefined
    : await reading(readFile(caFile, "utf8"), caFile, "--ca");
  const cert = certFile === undefined
    ? undefined
    : await reading(readFile(certFile, "utf8"), certFile, "--cert");
  const key = keyFile === undefined
    ? undefined
    : await reading(readFile(keyFile, "utf8"), keyFile, "--key");
  return async () => {
    const connecting = api.connectFtps(
      {
        host: target.host,
        port: target.port,
        secure: target.secure,
        ...(target.user !== undefined ? { user: target.user } : {}),
        ...(target.password !== undefined ? { password: target.password } : {}),
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
        ...(proxy !== undefined ? { proxy } : {}),
        ...(servername ? { servername } : {}),
        ...(flag(values, "insecure") ? { rejectUnauthorized: false } : {}),
        ...(tlsMax ? { maxVersion: tlsMax === "1.2" ? "TLSv1.2" : "TLSv1.3" } : {}),
        ...(flag(values, "active") ? { passive: false } : {}),
        ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
        ...(attempts !== undefined ? { retry: { attempts } } : {}),
      } as const,
    );
    // Ctrl-C while connecting or logging in stops the command there; a session that comes up
    // later is closed.
    // A plain greeting that does not come may be an implicit-TLS server waiting for a handshake
    // (not asked through a proxy: the question would go to the server directly).
    const greeted = target.secure === "implicit" || proxy !== undefined
      ? connecting
      : unlessImplicit(connecting, {
        host: target.host,
        port: target.port,
        authority,
        timeoutMs: (timeout ?? 30) * 1000,
      }, (late) => void late.close());
    return await untilAborted(greeted, signal, (late) => void late.close());
  };
}

/** HOST:PORT as a URL writes it (IPv6 bracketed). */
function urlAuthority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A logged-in FTPS client. */
type FtpsClientLike = Awaited<ReturnType<FtpsApi["connectFtps"]>>;

/** `ftps ls`: the names in a directory (dirs with a trailing "/"), or with `long` one line each. */
async function ftpsList(
  client: FtpsClientLike,
  path: string,
  long: boolean,
  output: CliOutput,
  signal: AbortSignal | undefined,
): Promise<void> {
  const entries = await client.list(path || undefined, signal ? { signal } : {});
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (!long) {
      output.out(entry.type === "dir" ? `${entry.name}/` : entry.name);
      continue;
    }
    const type = entry.type === "dir" ? "d" : entry.type === "link" ? "l" : "-";
    const size = entry.size === undefined ? "-" : String(entry.size);
    const when = entry.modified ? entry.modified.toISOString().slice(0, 19) + "Z" : "-";
    output.out(`${type} ${size.padStart(12)} ${when.padEnd(20)} ${entry.name}`);
  }
}

/** `ftps get`: a download to a file or, for "-", to standard output. */
async function ftpsGet(
  client: FtpsClientLike,
  remote: string,
  local: string | undefined,
  output: CliOutput,
  signal: AbortSignal | undefined,
  progress: ((line: string) => void) | undefined,
  quiet: boolean,
  checks: Checks,
): Promise<void> {
  const target = local ?? basename(remote);
  const started = performance.now();
  // SIZE (RFC 3659) for the progress bar, when the server answers it.
  const size = progress ? await client.size(remote).catch(() => undefined) : undefined;
  // With --continue the bar counts what is still to come.
  const kept = checks.resume && size !== undefined
    ? await stat(`${target}.ftkit-part`).then((found) => found.size, () => 0)
    : 0;
  const total = size === undefined ? undefined : Math.max(0, size - kept);
  const draw = progress ? bar(progress, started) : undefined;
  const onProgress = draw && ((bytes: number) => draw({ bytes, total }));
  const options = {
    ...(onProgress ? { onProgress } : {}),
    ...(signal ? { signal } : {}),
    ...(checks.verify ? { verify: true } : {}),
  };
  if (target === "-") {
    const sink = new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) =>
          process.stdout.write(chunk, (error) => (error ? reject(error) : resolve()))
        ),
    });
    await client.getTo(remote, sink, options);
  } else {
    // Written beside the target and renamed into place when whole: a failed or interrupted
    // download leaves no half file to be taken for the whole one, and the target as it was.
    // With --continue, through TARGET.ftkit-part, kept on failure to be continued.
    await client.getFile(remote, target, {
      ...options,
      ...(checks.preserve ? { preserveTime: true } : {}),
      ...(checks.resume ? { resume: true } : {}),
    });
  }
  const bytes = client.lastTransfer?.bytes ?? 0;
  progress?.("");
  if (quiet) return;
  const seconds = (performance.now() - started) / 1000;
  output.err(`Received ${bytes} bytes in ${seconds.toFixed(2)} s${describeTls(client)}`);
}

/** `ftps put`: an upload of a local file. */
async function ftpsPut(
  client: FtpsClientLike,
  local: string,
  remote: string,
  output: CliOutput,
  signal: AbortSignal | undefined,
  progress: ((line: string) => void) | undefined,
  quiet: boolean,
  checks: Checks,
): Promise<void> {
  const target = !remote || remote.endsWith("/") ? `${remote}${basename(local)}` : remote;
  const total = (await stat(local)).size;
  const started = performance.now();
  const draw = progress ? bar(progress, started) : undefined;
  await client.putFile(local, target, {
    ...(draw ? { onProgress: (bytes: number) => draw({ bytes, total }) } : {}),
    ...(signal ? { signal } : {}),
    ...(checks.verify ? { verify: true } : {}),
    ...(checks.preserve ? { preserveTime: true } : {}),
    ...(checks.resume ? { resume: true } : {}),
  });
  progress?.("");
  if (quiet) return;
  const seconds = (performance.now() - started) / 1000;
  output.err(
    `Sent ${client.lastTransfer?.bytes ?? 0} bytes in ${seconds.toFixed(2)} s${
      describeTls(client)
    }`,
  );
}

/** How the last transfer was protected, for its summary line. */
function describeTls(client: FtpsClientLike): string {
  const transfer = client.lastTransfer;
  if (!transfer?.tls) return "";
  return transfer.resumed ? " (TLS, session resumed)" : " (TLS)";
}
