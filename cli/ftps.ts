// `ftkit ftps ls|get|put URL`: the FTPS client commands, and the FTP URLs they take.

import { currentRuntime } from "../io/runtime.ts";
import process from "node:process";
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { flag, integer, type ParsedArgs, text, UsageError } from "./args.ts";
import { type FailureContext, reading } from "./errors.ts";
import { findPassword } from "./password.ts";
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
 * Runs `ftkit ftps ls|get|put`.
 *
 * @param command `ls`, `get` or `put`.
 * @param args The command line read.
 * @param output Where to write.
 * @param signal Interrupts the command: the transfer is aborted (ABOR) and the session closed.
 * @param context Notes the local file's direction, the TLS mode and the server, for a failure's
 * class and hint.
 * @returns The exit code.
 */
export async function ftpsCommand(
  command: "ls" | "get" | "put",
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<number> {
  const { values, positionals } = args;
  const want = command === "ls" ? [1, 1] : command === "get" ? [1, 2] : [2, 2];
  if (positionals.length < want[0] || positionals.length > want[1]) {
    throw new UsageError(
      command === "ls"
        ? "'ftps ls' takes one URL"
        : command === "get"
        ? "'ftps get' takes a URL and an optional LOCAL file"
        : "'ftps put' takes a LOCAL file and a URL",
    );
  }
  const target = ftpTarget(
    command === "put" ? positionals[1] : positionals[0],
    flag(values, "tls"),
  );
  if (command === "get" && (!target.path || target.path.endsWith("/"))) {
    throw new UsageError("'ftps get' needs a file in the URL");
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
      } else if (command === "get") {
        await ftpsGet(client, target.path, positionals[1], output, signal, draw, quiet);
      } else await ftpsPut(client, positionals[0], target.path, output, signal, draw, quiet);
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

/**
 * Reads the login options of a client command (`--user`, the TLS options, `--timeout`), finds a
 * missing password, reads `--ca`, and notes the server in `context`; returns what connects and
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
  if (
    target.secure === false &&
    (caFile !== undefined || flag(values, "insecure") || tlsMax || servername !== undefined)
  ) {
    throw new UsageError("TLS options need ftps://, ftpes:// or --tls");
  }
  const timeout = integer(values, "timeout");
  if (target.user !== undefined && target.password === undefined) {
    const password = await findPassword(target.user, target.host, signal);
    if (password !== undefined) target.password = password;
  }
  context.secure = target.secure;
  const authority = urlAuthority(target.host, target.port);
  context.authority = authority;
  const api = await ftpsApi();
  const ca = caFile === undefined
    ? undefined
    : await reading(readFile(caFile, "utf8"), caFile, "--ca");
  return async () => {
    const connecting = api.connectFtps(
      {
        host: target.host,
        port: target.port,
        secure: target.secure,
        ...(target.user !== undefined ? { user: target.user } : {}),
        ...(target.password !== undefined ? { password: target.password } : {}),
        ...(ca !== undefined ? { ca } : {}),
        ...(servername ? { servername } : {}),
        ...(flag(values, "insecure") ? { rejectUnauthorized: false } : {}),
        ...(tlsMax ? { maxVersion: tlsMax === "1.2" ? "TLSv1.2" : "TLSv1.3" } : {}),
        ...(flag(values, "active") ? { passive: false } : {}),
        ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
      } as const,
    );
    // Ctrl-C while connecting or logging in stops the command there; a session that comes up
    // later is closed.
    // A plain greeting that does not come may be an implicit-TLS server waiting for a handshake.
    const greeted = target.secure === "implicit" ? connecting : unlessImplicit(connecting, {
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
export type FtpsClientLike = Awaited<ReturnType<FtpsApi["connectFtps"]>>;

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
): Promise<void> {
  const target = local ?? basename(remote);
  const started = performance.now();
  // SIZE (RFC 3659) for the progress bar, when the server answers it.
  const total = progress ? await client.size(remote).catch(() => undefined) : undefined;
  const draw = progress ? bar(progress, started) : undefined;
  const onProgress = draw && ((bytes: number) => draw({ bytes, total }));
  const options = { ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) };
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
    await client.getFile(remote, target, options);
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
): Promise<void> {
  const target = !remote || remote.endsWith("/") ? `${remote}${basename(local)}` : remote;
  const total = (await stat(local)).size;
  const started = performance.now();
  const draw = progress ? bar(progress, started) : undefined;
  await client.putFile(local, target, {
    ...(draw ? { onProgress: (bytes: number) => draw({ bytes, total }) } : {}),
    ...(signal ? { signal } : {}),
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
