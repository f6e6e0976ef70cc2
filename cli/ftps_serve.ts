// `ftkit ftps serve`: an FTPS server on a directory, with an ephemeral certificate unless one is
// given, its settings from flags and a configuration file (cli/ftps_config.ts); as a service, on
// systemd's socket, with its certificate read again on SIGHUP and a graceful stop. `startFtps`
// also starts the FTPS half of `ftkit serve`.

import process from "node:process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  FtpsLogEntry,
  FtpsLogWriter,
  FtpStorage,
  FtpsUserOptions,
  ServeFtpsOptions,
} from "../ftps/mod.ts";
import { directory, type ParsedArgs, text, UsageError } from "./args.ts";
import { type FtpsServeSettings, loadFtpsConfig, settingsFromFlags } from "./ftps_config.ts";
import { CliError, Exit, type FailureContext, oneLine, reading } from "./errors.ts";
import { ftpsApi } from "./ftps.ts";
import {
  checkS3Reachable,
  isS3Url,
  parseS3Url,
  prefixUnder,
  refuseS3Flags,
  type ResolvedS3,
  resolveS3,
  type S3Choices,
  type S3Location,
} from "./_s3.ts";
import {
  type CliOutput,
  forgetOnExit,
  rate,
  removeOnExit,
  stopped,
  urlHost,
  where,
} from "./output.ts";

/** A started FTPS server and the lines that tell how to reach it. */
export interface StartedFtps {
  /** The server; closing it also removes the ephemeral CA's temporary file. With `graceMs`,
   * running transfers may finish first. */
  server: { close(options?: { graceMs?: number }): Promise<void>; readonly sessions: number };
  /** What to print about it: where it listens, its certificate, the user and a curl command. */
  lines: string[];
  /** With certificate files: reads them again and gives them to the server (new handshakes use
   * them); the line to print, and whether it worked (else the old certificate stays). */
  reloadTls?: () => Promise<{ ok: boolean; line: string }>;
}

/**
 * The socket systemd passes (socket activation, sd_listen_fds(3)): file descriptor 3, when
 * `LISTEN_PID` is this process and `LISTEN_FDS` is 1 or more. The variables are removed, so that
 * nothing this process starts takes them for its own.
 *
 * @param env The environment (default: the process's).
 * @param pid This process's id.
 * @returns The descriptor, and how many more sockets came (they are not used).
 */
export function systemdSocket(
  env: Record<string, string | undefined> = process.env,
  pid: number = process.pid,
): { fd: number; more: number } {
  const fds = Number(env.LISTEN_FDS);
  if (env.LISTEN_PID !== String(pid) || !Number.isSafeInteger(fds) || fds < 1) {
    const got = env.LISTEN_PID === undefined
      ? "LISTEN_PID is not set"
      : env.LISTEN_PID !== String(pid)
      ? `LISTEN_PID is ${env.LISTEN_PID}, this process is ${pid}`
      : `LISTEN_FDS is ${env.LISTEN_FDS ?? "not set"}`;
    throw new UsageError(
      `--systemd: no socket from systemd for this process (${got}); start it from a .socket unit`,
    );
  }
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  return { fd: 3, more: fds - 1 };
}

/** The first certificate of a PEM chain's SHA-256 fingerprint, or "?" when it cannot be read. */
function fingerprintOf(chain: string): string {
  try {
    return new X509Certificate(chain).fingerprint256;
  } catch {
    return "?";
  }
}

/** A bucket to serve, not looked up yet: `s3://BUCKET[/PREFIX]` and what the command chose. */
export interface BucketSource {
  /** `s3://BUCKET[/PREFIX]`. */
  readonly storage: string;
  /** The endpoint, region, profile, ... given. */
  readonly choices: S3Choices;
  /** The bucket found and checked already (by `ftkit serve`, for its TFTP half). */
  readonly resolved?: ResolvedS3;
}

/** The prefixes of a server on a bucket: each user's and anonymous logins'. */
interface BucketPrefixes {
  location: S3Location;
  users: Record<string, string>;
  anonymous: string;
}

/**
 * The prefix each user sees as `/`: their `root` (as the configuration file wrote it) under the
 * bucket's prefix; a root that is not a path of names is a usage error.
 */
function bucketPrefixes(
  source: BucketSource,
  settings: FtpsServeSettings,
  users: Record<string, FtpsUserOptions>,
): BucketPrefixes {
  const location = parseS3Url(source.storage, "--storage");
  const written = settings.rootsAsWritten ?? {};
  const prefixOf = (root: string | undefined, what: string) => {
    const prefix = prefixUnder(location.prefix, root ?? "");
    if (prefix === undefined) {
      throw new UsageError(
        `${what}: '${root}' is no prefix under ${source.storage} (names, not '.' or '..', ` +
          "no backslash)",
      );
    }
    return prefix;
  };
  return {
    location,
    users: Object.fromEntries(
      Object.keys(users).map((
        name,
      ) => [name, prefixOf(written.users?.[name], `users.${name}.root`)]),
    ),
    anonymous: prefixOf(written.anonymous, "anonymous.root"),
  };
}

/** A bucket found and checked, and the prefix of each user. */
interface OpenBucket {
  s3: ResolvedS3;
  prefixes: BucketPrefixes;
}

/** The bucket, once the users' prefixes are checked: found and asked once, unless done already. */
async function openBucket(
  source: BucketSource,
  settings: FtpsServeSettings,
  users: Record<string, FtpsUserOptions>,
): Promise<OpenBucket> {
  const prefixes = bucketPrefixes(source, settings, users);
  let s3 = source.resolved;
  if (!s3) {
    s3 = await resolveS3(prefixes.location, source.choices);
    await checkS3Reachable(s3);
  }
  return { s3, prefixes };
}

/**
 * What a server on a bucket serves: each user a storage at their prefix with their own write
 * policy, anonymous logins a read-only one; one storage per prefix and policy, shared.
 */
async function bucketStorages(
  { s3, prefixes }: OpenBucket,
  settings: FtpsServeSettings,
  users: Record<string, FtpsUserOptions>,
): Promise<Pick<ServeFtpsOptions, "storage" | "users" | "anonymous">> {
  const { s3Storage } = await import("../ftps/s3_storage.ts");
  const storages = new Map<string, FtpStorage>();
  const storageAt = (prefix: string, allowWrite: boolean, allowOverwrite: boolean) => {
    const overwrite = allowWrite && allowOverwrite;
    const key = `${allowWrite ? "w" : "r"}${overwrite ? "o" : ""}:${prefix}`;
    let storage = storages.get(key);
    if (!storage) {
      storage = s3Storage({
        ...s3.options,
        prefix,
        allowWrite,
        allowOverwrite: overwrite,
        ...(s3.partSize !== undefined ? { partSize: s3.partSize } : {}),
      });
      storages.set(key, storage);
    }
    return storage;
  };
  const allowWrite = settings.allowWrite ?? false;
  const allowOverwrite = settings.allowOverwrite ?? false;
  const served: Record<string, FtpsUserOptions> = {};
  for (const [name, { root: _directory, ...user }] of Object.entries(users)) {
    served[name] = {
      ...user,
      storage: storageAt(
        prefixes.users[name],
        user.allowWrite ?? allowWrite,
        user.allowOverwrite ?? allowOverwrite,
      ),
    };
  }
  return {
    storage: storageAt(s3.prefix, allowWrite, allowOverwrite),
    users: served,
    anonymous: settings.anonymous
      ? { storage: storageAt(prefixes.anonymous, false, false) }
      : false,
  };
}

/**
 * Starts the FTPS server the settings ask for.
 *
 * @param root The directory to serve, or a bucket.
 * @param settings What to serve, to whom and how (from the flags, and a file if given).
 * @param output Where the server's log goes.
 * @param from Where the settings came from: `usersFromFile` keeps passwords out of the lines
 * printed.
 * @returns The server and the lines to print.
 */
export async function startFtps(
  root: string | BucketSource,
  settings: FtpsServeSettings,
  output: CliOutput,
  from: { usersFromFile?: boolean } = {},
): Promise<StartedFtps> {
  if ((settings.cert === undefined) !== (settings.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const logFormat = settings.logFormat ?? "json";
  if (settings.logFormat !== undefined && settings.log === undefined) {
    throw new UsageError("--log-format needs --log FILE");
  }
  if (settings.dataThroughProxy && !settings.proxyProtocol) {
    throw new UsageError("--data-through-proxy goes with --proxy-protocol");
  }
  const users: Record<string, FtpsUserOptions> = { ...settings.users };
  let generatedPassword: string | undefined;
  if (Object.keys(users).length === 0 && !settings.anonymous) {
    const random = crypto.getRandomValues(new Uint8Array(9));
    generatedPassword = btoa(String.fromCharCode(...random)).replace(/[+/]/g, "x");
    users.ftkit = { password: generatedPassword };
  }
  let socket: { fd: number; more: number } | undefined;
  if (settings.systemd) {
    if (settings.host !== undefined || settings.port !== undefined) {
      throw new UsageError(
        "--systemd: the socket comes from systemd; give no --host or --port (listen.host, " +
          "listen.port)",
      );
    }
    socket = systemdSocket();
  }
  // The bucket is asked only once every usage error had its chance.
  const bucket = typeof root === "string" ? undefined : await openBucket(root, settings, users);
  const api = await ftpsApi();
  const host = settings.host ?? "127.0.0.1";
  const lines: string[] = [];
  let cert: string;
  let key: string;
  let caFile: string | undefined;
  // The ephemeral CA's own temporary directory, when --ca-out names no file: removed when the
  // server closes, or at once when it fails to start.
  let temporary: string | undefined;
  const removeTemporary = async () => {
    if (temporary === undefined) return;
    const dir = temporary;
    temporary = undefined;
    forgetOnExit(dir);
    await rm(dir, { recursive: true, force: true });
  };
  const readPair = async (certFile: string, keyFile: string) => ({
    cert: await reading(readFile(certFile, "utf8"), certFile, "--cert"),
    key: await reading(readFile(keyFile, "utf8"), keyFile, "--key"),
  });
  if (settings.cert !== undefined) {
    ({ cert, key } = await readPair(settings.cert, settings.key!));
  } else {
    const names = ["localhost", "127.0.0.1", "::1"];
    if (host !== "0.0.0.0" && host !== "::" && !names.includes(host)) names.push(host);
    const made = await api.createFtpsCertificate({ names, days: 7 });
    cert = made.certPem;
    key = made.keyPem;
    if (settings.caOut === undefined) {
      temporary = await mkdtemp(join(tmpdir(), "ftkit-ca-"));
      removeOnExit(temporary);
    }
    caFile = settings.caOut ?? join(temporary!, "ca.pem");
    try {
      await writeFile(caFile, made.caPem);
    } catch (error) {
      await removeTemporary();
      throw error;
    }
    lines.push(
      `Ephemeral certificate for ${names.join(", ")}, SHA-256 fingerprint ${made.fingerprint}`,
    );
    lines.push(`Its CA certificate (trust it in clients): ${caFile}`);
  }
  const secure = settings.implicit ? "implicit" : "explicit";
  // The settings named as serveFtps names its options, given only when set.
  const passed = Object.fromEntries(
    ([
      "allowCcc",
      "hash",
      "siteChmod",
      "permissions",
      "allow",
      "deny",
      "requireTlsResumption",
      "requireCloseNotify",
      "passivePorts",
      "passiveHost",
      "maxSessions",
      "maxSessionsPerIp",
      "maxLoginAttempts",
      "maxLineLength",
      "idleTimeoutMs",
      "loginTimeoutMs",
      "lineTimeoutMs",
      "dataTimeoutMs",
      "tlsHandshakeTimeoutMs",
      "loginFailureDelayMs",
      "lockout",
      "maxSessionsPerUser",
      "bandwidth",
      "userBandwidth",
      "userQuota",
    ] as const).filter((name) => settings[name] !== undefined).map((
      name,
    ) => [name, settings[name]]),
  );
  let logWriter: FtpsLogWriter | undefined;
  // The log on standard output takes the place of the lines that describe each entry.
  const logToOutput = settings.log === "-";
  if (settings.log !== undefined) {
    const sink = logToOutput ? (line: string) => output.out(line) : settings.log;
    const onError = (error: Error) => output.err(`ftkit: --log: ${oneLine(error)}`);
    try {
      logWriter = logFormat === "xferlog"
        ? api.ftpsXferLogWriter(sink, { onError })
        : api.ftpsJsonLogWriter(sink, { onError });
    } catch (error) {
      await removeTemporary();
      throw new CliError(
        `--log: cannot write '${settings.log}': ${oneLine(error)}`,
        Exit.localWrite,
      );
    }
  }
  const storages = bucket
    ? await bucketStorages(bucket, settings, users).catch(async (error) => {
      await removeTemporary();
      throw error;
    })
    : undefined;
  const started = api.serveFtps({
    ...(storages ?? { root: root as string }),
    ...(socket
      ? { fd: socket.fd }
      : { host, port: settings.port ?? (settings.implicit ? 9990 : 2121) }),
    secure,
    tls: { cert, key },
    ...(storages ? {} : { users, anonymous: settings.anonymous ?? false }),
    allowWrite: settings.allowWrite ?? false,
    allowOverwrite: settings.allowOverwrite ?? false,
    allowCcc: false,
    hash: false,
    siteChmod: false,
    requireTlsResumption: false,
    ...passed,
    ...(settings.proxyProtocol
      ? {
        proxyProtocol: {
          trusted: settings.proxyProtocol,
          dataThroughProxy: settings.dataThroughProxy ?? false,
          ...(settings.proxyHeaderTimeoutMs !== undefined
            ? { headerTimeoutMs: settings.proxyHeaderTimeoutMs }
            : {}),
        },
      }
      : {}),
    onLog: settings.quiet || logToOutput ? undefined : (entry) => {
      const line = describeFtps(entry);
      if (line) output.out(line);
    },
    ...(logWriter ? { logWriters: [logWriter] } : {}),
    onError: (error) => output.err(`ftkit: ${error.message}`),
  });
  let ftps: Awaited<typeof started>;
  try {
    ftps = await started;
  } catch (error) {
    await removeTemporary();
    const code = (error as { code?: unknown }).code;
    if (socket && (code === "EINVAL" || code === "ENOTSOCK" || code === "EBADF")) {
      throw new UsageError(`--systemd: file descriptor 3 is not a listening TCP socket (${code})`);
    }
    throw error;
  }
  const server = {
    async close(options?: { graceMs?: number }) {
      try {
        await ftps.close(options);
      } finally {
        await removeTemporary();
      }
    },
    get sessions() {
      return ftps.sessions;
    },
  };
  const port = ftps.address.port;
  const bound = ftps.address.host;
  const served = bucket ? `${bucket.s3.url} at ${bucket.s3.at}` : root as string;
  lines.unshift(
    `Serving ${served} over FTPS (${secure} TLS) on ${where(bound, port)}${
      socket ? " (socket from systemd)" : ""
    }${settings.allowWrite ? " (writes allowed)" : " (read-only)"}`,
  );
  if (socket && socket.more > 0) {
    lines.push(`systemd passed ${socket.more + 1} sockets; serving the first only (fd 3)`);
  }
  const [name, user] = Object.entries(users)[0] ?? ["anonymous", {}];
  if (generatedPassword) lines.push(`User: ftkit, password: ${generatedPassword}`);
  // A password from a file stays out of the output (and the journal); curl asks for it.
  const shownPassword = name === "anonymous"
    ? ":x"
    : user.password !== undefined && !from.usersFromFile
    ? `:${user.password}`
    : "";
  const scheme = settings.implicit ? "ftps" : "ftp";
  lines.push(
    `Fetch a file with: curl ${settings.implicit ? "" : "--ssl-reqd "}${
      caFile ? `--cacert ${caFile} ` : ""
    }-u ${name}${shownPassword} -o FILE ${scheme}://${urlHost(bound)}:${port}/FILE`,
  );
  const certFile = settings.cert;
  const keyFile = settings.key;
  const reloadTls = certFile === undefined || keyFile === undefined ? undefined : async () => {
    try {
      const pair = await readPair(certFile, keyFile);
      ftps.setTls(pair);
      return {
        ok: true,
        line: `Certificate reloaded from ${certFile}: SHA-256 fingerprint ${
          fingerprintOf(pair.cert)
        } for new connections`,
      };
    } catch (error) {
      return {
        ok: false,
        line: `ftkit: certificate not reloaded, the old one stays: ${(error as Error).message}`,
      };
    }
  };
  return { server, lines, ...(reloadTls ? { reloadTls } : {}) };
}

/** One line for the log of what the server did, or undefined for nothing to say. */
function describeFtps(entry: FtpsLogEntry): string | undefined {
  switch (entry.type) {
    case "refused":
      return `${entry.remoteAddress} refused: ${entry.reason}`;
    case "data-refused":
      return `${entry.remoteAddress} data connection from ${entry.from} refused: ${entry.reason}`;
    case "login":
      return `${entry.remoteAddress} login ${entry.user}: ${entry.ok ? "ok" : "failed"}${
        entry.method === "certificate" ? " (certificate)" : ""
      }`;
    case "transfer": {
      const seconds = entry.durationMs / 1000;
      const tls = entry.tls ? (entry.tls.resumed ? ", TLS resumed" : ", TLS") : "";
      return `${entry.remoteAddress} ${
        entry.user ?? "-"
      } ${entry.command} ${entry.path}: ${entry.bytes} bytes in ${seconds.toFixed(2)} s${
        rate(entry.bytes, seconds)
      }${tls}${entry.outcome === "ok" ? "" : `, ${entry.outcome}`}`;
    }
    case "delete":
    case "mkdir":
    case "rmdir":
      return `${entry.remoteAddress} ${entry.user} ${entry.type} ${entry.path}${
        entry.outcome === "ok" ? "" : `: failed (${entry.code})`
      }`;
    case "rename":
      return `${entry.remoteAddress} ${entry.user} rename ${entry.from} to ${entry.to}${
        entry.outcome === "ok" ? "" : `: failed (${entry.code})`
      }`;
    case "closed":
      return undefined;
  }
}

/**
 * Runs `ftkit ftps serve [DIR]` until `signal` aborts (or SIGINT or SIGTERM without one), then
 * stops gracefully: no new connections, idle sessions answered 421, running transfers given up to
 * `--shutdown-grace` seconds (default 30) to finish. SIGHUP reads `--cert` and `--key` again.
 *
 * @param args The command line read.
 * @param output Where to write.
 * @param signal Stops the server.
 * @param context Notes that this is a server, for a failure's hint.
 * @returns The exit code.
 */
export async function ftpsServe(
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<number> {
  const { values, positionals } = args;
  context.role = "server";
  if (positionals.length > 1) throw new UsageError("'ftps serve' takes one directory");
  const configFile = text(values, "config");
  const fromFile = configFile === undefined ? {} : await loadFtpsConfig(configFile);
  const fromFlags = settingsFromFlags(values);
  const settings: FtpsServeSettings = { ...fromFile, ...fromFlags };
  const caOut = text(values, "ca-out");
  if (caOut !== undefined) settings.caOut = caOut;
  // DIR overrides the file's root and storage; with --storage it is a mistake.
  const dir = positionals[0];
  if (dir !== undefined && isS3Url(dir)) {
    throw new UsageError(`a bucket is served with --storage ${dir}, not as DIR`);
  }
  if (dir !== undefined && fromFlags.storage !== undefined) {
    throw new UsageError("give DIR or --storage, not both");
  }
  const storage = dir === undefined ? settings.storage : undefined;
  if (storage === undefined) refuseS3Flags(values, "--storage s3://BUCKET[/PREFIX]");
  const root = storage === undefined ? await directory(dir ?? settings.root ?? ".") : {
    storage,
    choices: {
      endpoint: settings.s3Endpoint,
      region: settings.s3Region,
      profile: settings.s3Profile,
      pathStyle: settings.s3PathStyle,
      partSize: settings.s3PartSize,
    },
  };
  const { server, lines, reloadTls } = await startFtps(root, settings, output, {
    usersFromFile: fromFile.users !== undefined && fromFlags.users === undefined,
  });
  for (const line of lines) output.out(line);
  // One reload at a time; a SIGHUP during one is taken after it.
  let reloading = Promise.resolve();
  const onHangup = () => {
    reloading = reloading.then(async () => {
      const { ok, line } = await reloadTls!();
      if (ok) output.out(line);
      else output.err(line);
    });
  };
  if (reloadTls) process.on("SIGHUP", onHangup);
  try {
    await stopped(signal);
  } finally {
    if (reloadTls) process.off("SIGHUP", onHangup);
  }
  const graceMs = settings.shutdownGraceMs ?? 30_000;
  if (server.sessions > 0) {
    output.out(
      `Stopping: no new connections; idle sessions closed, transfers given up to ${
        graceMs / 1000
      } s`,
    );
  }
  await server.close({ graceMs });
  await reloading;
  return 0;
}
