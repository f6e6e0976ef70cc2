// `ftkit ftps ls|get|put URL`: the FTPS client commands, and the FTP URLs they take.

import process from "node:process";
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { integer, parse, UsageError } from "./args.ts";
import { bar, type CliOutput, delay, interruptedCode, oneLine, untilAborted } from "./output.ts";

/** What an FTP URL names. */
interface FtpTarget {
  secure: "implicit" | "explicit" | false;
  host: string;
  port: number;
  user?: string;
  password?: string;
  path: string;
}

/** Reads `ftps://` (implicit TLS) and `ftp://` (explicit with `tls`, else plain) URLs. */
function ftpTarget(text: string, tls: boolean): FtpTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: "${text}" (ftps://HOST/PATH or ftp://HOST/PATH)`);
  }
  if (url.protocol !== "ftps:" && url.protocol !== "ftp:") {
    throw new UsageError(`not an FTP URL: "${text}" (ftps://HOST/PATH or ftp://HOST/PATH)`);
  }
  const implicit = url.protocol === "ftps:";
  if (implicit && tls) throw new UsageError("--tls is for ftp:// URLs; ftps:// is already TLS");
  if (url.search || url.hash) throw new UsageError(`unexpected ? or # in "${text}"`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new UsageError(`no host in "${text}"`);
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new UsageError(`bad percent-encoding in "${text}"`);
  }
  return {
    secure: implicit ? "implicit" : tls ? "explicit" : false,
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
  if ("Deno" in globalThis) return await import("../ftps/adapters/deno.ts");
  if ("Bun" in globalThis) return await import("../ftps/adapters/bun.ts");
  return await import("../ftps/adapters/node.ts");
}

/** The options of `ftps ls`, `ftps get` and `ftps put`. */
const FTPS_OPTIONS = {
  tls: { type: "boolean" },
  user: { type: "string" },
  ca: { type: "string" },
  servername: { type: "string" },
  insecure: { type: "boolean" },
  "tls-max": { type: "string" },
  active: { type: "boolean" },
  timeout: { type: "string" },
  long: { type: "boolean" },
} as const;

/**
 * Runs `ftkit ftps ls|get|put ARGS`.
 *
 * @param command `ls`, `get` or `put` (anything else is a usage error).
 * @param args The arguments after the command.
 * @param output Where to write.
 * @param signal Interrupts the command: the transfer is aborted (ABOR) and the session closed.
 * @returns The exit code.
 */
export async function ftpsCommand(
  command: string | undefined,
  args: string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  if (command !== "ls" && command !== "get" && command !== "put") {
    throw new UsageError(
      command === undefined ? "ftps needs ls, get or put" : `unknown command "ftps ${command}"`,
    );
  }
  const { values, positionals } = parse(args, FTPS_OPTIONS);
  const want = command === "ls" ? [1, 1] : command === "get" ? [1, 2] : [2, 2];
  if (positionals.length < want[0] || positionals.length > want[1]) {
    throw new UsageError(
      command === "ls"
        ? "ftps ls takes one URL"
        : command === "get"
        ? "ftps get takes a URL and an optional local file"
        : "ftps put takes a local file and a URL",
    );
  }
  if (values.long && command !== "ls") throw new UsageError("--long is for ftps ls");
  if (
    command === "get" && (positionals[0].endsWith("/") || !ftpTarget(positionals[0], false).path)
  ) {
    throw new UsageError("ftps get needs a file in the URL");
  }
  const target = ftpTarget(command === "put" ? positionals[1] : positionals[0], !!values.tls);
  const text = (name: keyof typeof FTPS_OPTIONS) => {
    const value = values[name];
    return typeof value === "string" ? value : undefined;
  };
  const user = text("user");
  if (user !== undefined) {
    const at = user.indexOf(":");
    target.user = at === -1 ? user : user.slice(0, at);
    if (at !== -1) target.password = user.slice(at + 1);
  }
  const tlsMax = text("tls-max");
  if (tlsMax !== undefined && tlsMax !== "1.2" && tlsMax !== "1.3") {
    throw new UsageError(`--tls-max must be 1.2 or 1.3, got "${tlsMax}"`);
  }
  if (target.secure === false && (values.ca || values.insecure || tlsMax || values.servername)) {
    throw new UsageError("TLS options need ftps:// or --tls");
  }
  const timeout = integer("timeout", values.timeout);
  const api = await ftpsApi();
  try {
    const caFile = text("ca");
    const ca = caFile === undefined ? undefined : await readFile(caFile, "utf8");
    const servername = text("servername");
    const connecting = api.connectFtps(
      {
        host: target.host,
        port: target.port,
        secure: target.secure,
        ...(target.user !== undefined ? { user: target.user } : {}),
        ...(target.password !== undefined ? { password: target.password } : {}),
        ...(ca !== undefined ? { ca } : {}),
        ...(servername ? { servername } : {}),
        ...(values.insecure ? { rejectUnauthorized: false } : {}),
        ...(tlsMax ? { maxVersion: tlsMax === "1.2" ? "TLSv1.2" : "TLSv1.3" } : {}),
        ...(values.active ? { passive: false } : {}),
        ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
      } as const,
    );
    // Ctrl-C while connecting or logging in stops the command there; a session that comes up
    // later is closed.
    const client = await untilAborted(connecting, signal, (late) => void late.close());
    try {
      if (command === "ls") await ftpsList(client, target.path, !!values.long, output, signal);
      else if (command === "get") {
        await ftpsGet(client, target.path, positionals[1], output, signal);
      } else await ftpsPut(client, positionals[0], target.path, output, signal);
    } finally {
      // Interrupted: QUIT, but no waiting on a server that does not answer.
      const closing = client.close();
      await (signal?.aborted ? Promise.race([closing, delay(2000)]) : closing);
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (signal?.aborted) {
      // The transfer was aborted (ABOR): a download's temporary file is gone, the local file
      // as it was; an upload was cut short, never ended, so the server keeps nothing of it.
      output.progress?.("");
      const reason = signal.reason instanceof Error ? signal.reason.message : "Interrupted";
      output.err(`ftkit: ${reason}: ${command === "ls" ? "listing" : "transfer"} aborted`);
      return interruptedCode(signal);
    }
    // One line: the server's reply, or what the network or TLS said.
    output.err(`ftkit: ${oneLine(error)}`);
    return 1;
  }
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
): Promise<void> {
  const target = local ?? basename(remote);
  const started = performance.now();
  // SIZE (RFC 3659) for the progress bar, when the server answers it.
  const total = output.progress ? await client.size(remote).catch(() => undefined) : undefined;
  const draw = output.progress ? bar(output.progress, started) : undefined;
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
  if (output.progress) output.progress("");
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
): Promise<void> {
  const target = !remote || remote.endsWith("/") ? `${remote}${basename(local)}` : remote;
  const total = (await stat(local)).size;
  const started = performance.now();
  const draw = output.progress ? bar(output.progress, started) : undefined;
  await client.putFile(local, target, {
    ...(draw ? { onProgress: (bytes: number) => draw({ bytes, total }) } : {}),
    ...(signal ? { signal } : {}),
  });
  if (output.progress) output.progress("");
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
