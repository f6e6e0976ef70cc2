// `ftkit ftps serve --config FILE`: the settings the command runs with, from a JSON file and from
// its flags, through one table. Each row names a key of the file (`limits.maxSessions`), the
// setting it gives, the check its value must pass, and the flag that overrides it. Reading a file
// is separate from checking its text, which is pure: every mistake is reported, each with its
// JSON path and what was expected, and unknown keys are mistakes too.

import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { isFtpIpv4 } from "../codec/mod.ts";
import { isHostName } from "../io/host_name.ts";
import { checkFtpsPermissions, type FtpsDirectoryPermissions } from "../ftps/permissions.ts";
import type {
  FtpsBandwidth,
  FtpsHashOptions,
  FtpsPassiveHostRule,
  FtpsQuota,
  FtpsUserOptions,
} from "../ftps/server_options.ts";
import { checkFtpsPasswordHash, looksLikeFtpsPasswordHash } from "../ftps/password_hash.ts";
import {
  byteRate,
  byteSize,
  flag,
  integer,
  networks,
  type ParsedArgs,
  passiveHostRules,
  port,
  portRange,
  text,
  UsageError,
} from "./args.ts";
import {
  address,
  boolean,
  type Check,
  count,
  milliseconds,
  networkList,
  object,
  path,
  portPair,
  type Report,
  shown,
  simple,
  unknownKey,
  whole,
} from "./_config_checks.ts";
import { reading } from "./errors.ts";
import { s3Flag, s3SettingCheck, s3UrlCheck, storageFlag } from "./_s3.ts";

/** What `ftkit ftps serve` runs with: from the file, then the flags over it. */
export interface FtpsServeSettings {
  /** The directory served (the DIR operand overrides it). */
  root?: string;
  /** A bucket served instead of a directory: `s3://BUCKET[/PREFIX]` (DIR overrides it too). */
  storage?: string;
  /** The S3 store's URL (default: the AWS variables and files, else AWS's). */
  s3Endpoint?: string;
  /** The bucket's region. */
  s3Region?: string;
  /** The profile of ~/.aws/credentials and ~/.aws/config. */
  s3Profile?: string;
  /** Bytes per part of an upload to the bucket. */
  s3PartSize?: number;
  /** The bucket in the URL's path rather than its host name. */
  s3PathStyle?: boolean;
  /** The `root` of users (by name) and of anonymous logins as the file wrote them: with a
   * bucket, they are prefixes under its prefix, not directories. */
  rootsAsWritten?: { users?: Record<string, string>; anonymous?: string };
  /** The address to listen on. */
  host?: string;
  /** The port to listen on. */
  port?: number;
  /** Implicit TLS. */
  implicit?: boolean;
  /** Serve on the socket systemd passes (socket activation). */
  systemd?: boolean;
  /** The certificate chain file (PEM). */
  cert?: string;
  /** The key file (PEM). */
  key?: string;
  /** Where to write the ephemeral CA. */
  caOut?: string;
  /** The users, by name. */
  users?: Record<string, FtpsUserOptions>;
  /** Anonymous logins, read-only, with a directory of their own if given. */
  anonymous?: boolean | { root: string };
  /** Uploads and other changes. */
  allowWrite?: boolean;
  /** Uploads and renames that replace files. */
  allowOverwrite?: boolean;
  /** CCC. */
  allowCcc?: boolean;
  /** Data connections must resume the control connection's TLS session. */
  requireTlsResumption?: boolean;
  /** Protected uploads are kept only when ended with close_notify. */
  requireCloseNotify?: boolean;
  /** The passive port range. */
  passivePorts?: [number, number];
  /** What passive replies give: an IPv4 address or host name, or rules by client network. */
  passiveHost?: string | FtpsPassiveHostRule[];
  /** The proxies that send a PROXY protocol header. */
  proxyProtocol?: string[];
  /** Passive data connections come through the proxies too. */
  dataThroughProxy?: boolean;
  /** How long a proxy has to send its header, ms. */
  proxyHeaderTimeoutMs?: number;
  /** Logged-in sessions at once of one user. */
  maxSessionsPerUser?: number;
  /** The whole server's bandwidth. */
  bandwidth?: FtpsBandwidth;
  /** Each user's bandwidth. */
  userBandwidth?: FtpsBandwidth;
  /** Each user's storage quota. */
  userQuota?: FtpsQuota;
  /** The networks served. */
  allow?: string[];
  /** The networks refused. */
  deny?: string[];
  /** Per-directory permissions of every user. */
  permissions?: FtpsDirectoryPermissions;
  /** HASH and the X checksum commands. */
  hash?: boolean | FtpsHashOptions;
  /** SITE CHMOD. */
  siteChmod?: boolean;
  /** Where the audit log goes (`-`: standard output). */
  log?: string;
  /** The audit log's format. */
  logFormat?: "json" | "xferlog";
  /** Sessions at once. */
  maxSessions?: number;
  /** Sessions at once from one address. */
  maxSessionsPerIp?: number;
  /** Failed logins before a session is closed. */
  maxLoginAttempts?: number;
  /** The longest command line. */
  maxLineLength?: number;
  /** The idle timeout, ms. */
  idleTimeoutMs?: number;
  /** The time to log in, ms. */
  loginTimeoutMs?: number;
  /** The time a command line may take to come whole, ms. */
  lineTimeoutMs?: number;
  /** The time a data connection may take, ms. */
  dataTimeoutMs?: number;
  /** The time a control TLS handshake may take, ms. */
  tlsHandshakeTimeoutMs?: number;
  /** The delay before a failed login is answered, ms. */
  loginFailureDelayMs?: number;
  /** The lockout of addresses with failed logins, or false. */
  lockout?: false | { attempts: number; windowMs: number; durationMs: number };
  /** How long running transfers may take to finish when the server stops, ms. */
  shutdownGraceMs?: number;
  /** Log no transfers. */
  quiet?: boolean;
}

/** One key of the file: the setting it gives, its check, and the flag that overrides it. */
export interface ConfigKey {
  /** Its JSON path, dotted (`limits.maxSessions`). */
  readonly key: string;
  /** What it takes, as the README lists it. */
  readonly expects: string;
  /** The flag that overrides it, without its dashes. */
  readonly flag?: string;
  /** Checks the file's value and puts the setting in `settings`. */
  apply(value: unknown, settings: FtpsServeSettings, report: Report, base: string): void;
  /** Puts the flag's value, when given, in `settings`. */
  fromFlag(values: ParsedArgs["values"], settings: FtpsServeSettings): void;
}

/** Bytes per second, at least 1024 (what a bandwidth limit takes). */
const rate: Check<number> = whole(1024, Number.MAX_SAFE_INTEGER, " of bytes per second");

/** `{ upload, download }` rates. */
const bandwidth = object<FtpsBandwidth>({ upload: rate, download: rate });

/** `{ bytes, files }` limits. */
const quota = object<FtpsQuota>({
  bytes: whole(0, Number.MAX_SAFE_INTEGER, " of bytes"),
  files: whole(0, Number.MAX_SAFE_INTEGER, " of files"),
});

/** An IPv4 address or a host name. */
const passiveAddress: Check<string> = simple(
  "an IPv4 address or a host name",
  (value): value is string => typeof value === "string" && (isFtpIpv4(value) || isHostName(value)),
);

/** One address or host name, or rules `[{ "network": CIDR | [CIDR...], "host": HOST }]`. */
const passiveHost: Check<string | FtpsPassiveHostRule[]> = (value, at, report, base) => {
  if (!Array.isArray(value)) return passiveAddress(value, at, report, base);
  const rules: FtpsPassiveHostRule[] = [];
  let ok = true;
  value.forEach((item, index) => {
    const rule = object<{ network: string | string[]; host: string }>({
      network: (network, where, report) =>
        typeof network === "string"
          ? networkList([network], where, report, base)?.[0]
          : networkList(network, where, report, base),
      host: passiveAddress,
    })(item, `${at}[${index}]`, report, base);
    if (rule) rules.push(rule);
    else ok = false;
  });
  return ok ? rules : undefined;
};

/** A file, or `-` for standard output. */
const logFile: Check<string> = (value, at, report, base) =>
  value === "-" ? "-" : path("a file, or - for standard output")(value, at, report, base);

const logFormat: Check<"json" | "xferlog"> = simple(
  '"json" or "xferlog"',
  (value): value is "json" | "xferlog" => value === "json" || value === "xferlog",
);

/** `true`, `false`, or `{ "algorithms": [...], "maxBytes": N, "maxConcurrent": N }`. */
const hash: Check<boolean | FtpsHashOptions> = (value, at, report, base) =>
  typeof value === "boolean" ? value : object<FtpsHashOptions>({
    algorithms: (list, where, report) => {
      const known = ["SHA-256", "SHA-1", "MD5", "CRC32"];
      if (Array.isArray(list) && list.length > 0 && list.every((item) => known.includes(item))) {
        return list as FtpsHashOptions["algorithms"];
      }
      report(where, `expected a list of ${known.join(", ")}, got ${shown(list)}`);
      return undefined;
    },
    maxBytes: count,
    maxConcurrent: count,
  })(value, at, report, base);

/** Per-directory permissions: `{ "/dir": ["list", "read", ...] | "*" }`. */
const permissions: Check<FtpsDirectoryPermissions> = (value, at, report) => {
  try {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new TypeError(`expected an object of directories, got ${shown(value)}`);
    }
    checkFtpsPermissions(value as FtpsDirectoryPermissions, "");
    return value as FtpsDirectoryPermissions;
  } catch (error) {
    report(at, (error as Error).message.replace(/^: /, ""));
    return undefined;
  }
};

const password: Check<string> = (value, at, report) => {
  if (typeof value !== "string") {
    report(at, `expected a string (the password in clear), got ${shown(value)}`);
  } else if (looksLikeFtpsPasswordHash(value)) {
    report(at, "a password hash: give it as passwordHash");
  } else return value;
  return undefined;
};

const passwordHash: Check<string> = (value, at, report) => {
  if (typeof value !== "string") {
    report(at, `expected a string (a hash from 'ftkit ftps passwd'), got ${shown(value)}`);
    return undefined;
  }
  const problem = checkFtpsPasswordHash(value);
  if (problem === undefined) return value;
  report(at, `not a usable password hash: ${problem}`);
  return undefined;
};

// Certificate logins (`certificates`) need the server to ask for client certificates, which the
// command does not do: they are no key of the file.
const user = object<Omit<FtpsUserOptions, "storage" | "certificates">>({
  password,
  passwordHash,
  root: path("a directory"),
  allowWrite: boolean,
  allowOverwrite: boolean,
  maxSessions: count,
  bandwidth,
  quota,
  permissions,
  allow: networkList,
  deny: networkList,
});

/** The users: names (no spaces or control characters) to their options. */
const users: Check<Record<string, FtpsUserOptions>> = (value, at, report, base) => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    report(at, `expected an object of users by name, got ${shown(value)}`);
    return undefined;
  }
  const result: Record<string, FtpsUserOptions> = {};
  let ok = true;
  for (const [name, options] of Object.entries(value)) {
    const where = `${at}.${name}`;
    const plain = [...name].every((char) => char > " " && char !== "\x7f");
    if (!plain || name === "" || name.length > 64) {
      report(where, "a user name is 1 to 64 characters, without spaces or control characters");
      ok = false;
      continue;
    }
    const checked = user(options, where, report, base);
    if (!checked) {
      ok = false;
      continue;
    }
    if (checked.password !== undefined && checked.passwordHash !== undefined) {
      report(where, "give password or passwordHash, not both");
      ok = false;
    } else if (checked.password === undefined && checked.passwordHash === undefined) {
      report(where, "expected passwordHash (or password): how the user logs in");
      ok = false;
    }
    result[name] = checked;
  }
  return ok ? result : undefined;
};

const anonymous: Check<boolean | { root: string }> = (value, at, report, base) =>
  typeof value === "boolean"
    ? value
    : typeof value === "object" && value !== null && !Array.isArray(value)
    ? object<{ root: string }>({ root: path("a directory") }, ["root"])(value, at, report, base)
    : (report(at, `expected true, false or { "root": DIR }, got ${shown(value)}`), undefined);

const lockout: Check<false | { attempts: number; windowMs: number; durationMs: number }> = (
  value,
  at,
  report,
  base,
) =>
  value === false ? false : object<{ attempts: number; windowMs: number; durationMs: number }>(
    { attempts: count, windowMs: milliseconds, durationMs: milliseconds },
    ["attempts", "windowMs", "durationMs"],
  )(value, at, report, base);

/** The flag reader for a setting in seconds that the file gives in ms. */
const secondsFlag = (values: ParsedArgs["values"], name: string): number | undefined => {
  const seconds = integer(values, name);
  return seconds === undefined ? undefined : seconds * 1000;
};

/** One row of {@linkcode CONFIG_KEYS}. */
function row<K extends keyof FtpsServeSettings>(
  key: string,
  setting: K,
  expects: string,
  check: Check<FtpsServeSettings[K]>,
  flagged?: {
    name: string;
    read: (values: ParsedArgs["values"], name: string) => FtpsServeSettings[K] | undefined;
  },
): ConfigKey {
  return {
    key,
    expects,
    ...(flagged ? { flag: flagged.name } : {}),
    apply(value, settings, report, base) {
      const checked = check(value, key, report, base);
      if (checked !== undefined) settings[setting] = checked;
    },
    fromFlag(values, settings) {
      const value = flagged?.read(values, flagged.name);
      if (value !== undefined) settings[setting] = value;
    },
  };
}

/**
 * A row for one field of an object setting (`bandwidth.upload`): the file's value and the flag's
 * are put in that field, beside the others.
 */
function field<K extends "bandwidth" | "userBandwidth" | "userQuota">(
  key: string,
  setting: K,
  name: keyof NonNullable<FtpsServeSettings[K]>,
  expects: string,
  check: Check<number>,
  flagged: {
    name: string;
    read: (values: ParsedArgs["values"], name: string) => number | undefined;
  },
): ConfigKey {
  const put = (settings: FtpsServeSettings, value: number) => {
    settings[setting] = { ...settings[setting], [name]: value };
  };
  return {
    key,
    expects,
    flag: flagged.name,
    apply(value, settings, report, base) {
      const checked = check(value, key, report, base);
      if (checked !== undefined) put(settings, checked);
    },
    fromFlag(values, settings) {
      const value = flagged.read(values, flagged.name);
      if (value !== undefined) put(settings, value);
    },
  };
}

/** `--log-format json|xferlog`, when given. */
export function logFormatFlag(
  values: ParsedArgs["values"],
  name: string,
): "json" | "xferlog" | undefined {
  const value = text(values, name);
  if (value === undefined || value === "json" || value === "xferlog") return value;
  throw new UsageError(`--log-format takes json or xferlog, not '${value}'`);
}

/** A flag that turns a setting on (absent: not given, the file or the default decides). */
const on = (values: ParsedArgs["values"], name: string) => flag(values, name) || undefined;

/** The flag `--name` that turns its setting on. */
const switchFlag = (name: string) => ({ name, read: on });

/**
 * Every key of the configuration file, with its check and the flag that overrides it: a new
 * option is one row here (and its flag's line in cli/help.ts).
 */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  row("root", "root", "the directory served (DIR overrides it)", path("a directory")),
  row("storage", "storage", '"s3://BUCKET[/PREFIX]": a bucket served instead', s3UrlCheck, {
    name: "storage",
    read: storageFlag,
  }),
  row("s3.endpoint", "s3Endpoint", "the store's URL", s3SettingCheck("endpoint"), {
    name: "s3-endpoint",
    read: s3Flag,
  }),
  row("s3.region", "s3Region", "the region (AWS_REGION...)", s3SettingCheck("region"), {
    name: "s3-region",
    read: s3Flag,
  }),
  row("s3.profile", "s3Profile", "the profile of ~/.aws (AWS_PROFILE)", s3SettingCheck("profile"), {
    name: "s3-profile",
    read: s3Flag,
  }),
  row(
    "s3.partSize",
    "s3PartSize",
    "bytes per upload part, at least 5 MiB (8 MiB)",
    whole(5 * 1024 * 1024, 5 * 1024 ** 3, " of bytes"),
  ),
  row("s3.pathStyle", "s3PathStyle", "true: the bucket in the path", boolean),
  row("listen.host", "host", "an IP address (default 127.0.0.1)", address(), {
    name: "host",
    read: text,
  }),
  row("listen.port", "port", "a port, 0-65535 (default 2121, 9990 implicit)", whole(0, 65535), {
    name: "port",
    read: port,
  }),
  row("listen.implicit", "implicit", "true: implicit TLS", boolean, switchFlag("implicit")),
  row(
    "listen.systemd",
    "systemd",
    "true: serve systemd's socket (LISTEN_FDS)",
    boolean,
    switchFlag("systemd"),
  ),
  row("access.allow", "allow", "the networks served (CIDR list; default all)", networkList, {
    name: "allow",
    read: networks,
  }),
  row("access.deny", "deny", "the networks refused (CIDR list)", networkList, {
    name: "deny",
    read: networks,
  }),
  row("tls.cert", "cert", "the certificate chain file (PEM)", path("a PEM file"), {
    name: "cert",
    read: text,
  }),
  row("tls.key", "key", "its private key file (PEM)", path("a PEM file"), {
    name: "key",
    read: text,
  }),
  row("users", "users", "users by name: { passwordHash | password, root, ... }", users, {
    name: "user",
    read: (values) => usersFromFlags(values.user as string[] | undefined),
  }),
  row(
    "anonymous",
    "anonymous",
    'true, or { "root": DIR }: anonymous logins',
    anonymous,
    switchFlag("anonymous"),
  ),
  row(
    "rules.allowWrite",
    "allowWrite",
    "true: uploads and other changes",
    boolean,
    switchFlag("allow-write"),
  ),
  row(
    "rules.allowOverwrite",
    "allowOverwrite",
    "true: replace existing files",
    boolean,
    switchFlag("allow-overwrite"),
  ),
  row("rules.allowCcc", "allowCcc", "true: accept CCC", boolean, switchFlag("allow-ccc")),
  row(
    "rules.permissions",
    "permissions",
    '{ "/DIR": ["list", "read", "write", ...] or "*" }: per directory',
    permissions,
  ),
  row(
    "commands.hash",
    "hash",
    "true, or { algorithms, maxBytes, maxConcurrent }: HASH",
    hash,
    switchFlag("hash"),
  ),
  row("commands.siteChmod", "siteChmod", "true: SITE CHMOD", boolean, switchFlag("site-chmod")),
  row(
    "rules.requireTlsResumption",
    "requireTlsResumption",
    "true: 522 unless resumed",
    boolean,
    switchFlag("require-resumption"),
  ),
  row("rules.requireCloseNotify", "requireCloseNotify", "false: keep uploads without it", boolean, {
    name: "allow-missing-close-notify",
    read: (values, name) => flag(values, name) ? false : undefined,
  }),
  row("passive.ports", "passivePorts", '[LOW, HIGH] or "LOW-HIGH"', portPair, {
    name: "passive-ports",
    read: portRange,
  }),
  row(
    "passive.host",
    "passiveHost",
    'an IPv4 address or host name, or [{ "network": CIDR, "host": HOST }]',
    passiveHost,
    { name: "passive-host", read: passiveHostRules },
  ),
  row(
    "proxy.trusted",
    "proxyProtocol",
    "proxies that send a PROXY header (CIDR list)",
    networkList,
    {
      name: "proxy-protocol",
      read: networks,
    },
  ),
  row(
    "proxy.dataThroughProxy",
    "dataThroughProxy",
    "true: data ports forwarded too",
    boolean,
    switchFlag("data-through-proxy"),
  ),
  row("proxy.headerTimeoutMs", "proxyHeaderTimeoutMs", "ms (5000)", milliseconds),
  row("limits.maxSessions", "maxSessions", "sessions at once (256)", count, {
    name: "max-sessions",
    read: integer,
  }),
  row("limits.maxSessionsPerIp", "maxSessionsPerIp", "per address or /64 (10)", count, {
    name: "max-sessions-per-ip",
    read: integer,
  }),
  row("limits.maxLoginAttempts", "maxLoginAttempts", "failed logins a session (3)", count),
  row("limits.maxLineLength", "maxLineLength", "bytes a command line (4096)", whole(64, 65536)),
  row("limits.idleTimeoutMs", "idleTimeoutMs", "ms (300000)", milliseconds, {
    name: "idle-timeout",
    read: secondsFlag,
  }),
  row("limits.loginTimeoutMs", "loginTimeoutMs", "ms (60000)", milliseconds, {
    name: "login-timeout",
    read: secondsFlag,
  }),
  row("limits.lineTimeoutMs", "lineTimeoutMs", "ms (30000)", milliseconds),
  row("limits.dataTimeoutMs", "dataTimeoutMs", "ms (30000)", milliseconds),
  row("limits.tlsHandshakeTimeoutMs", "tlsHandshakeTimeoutMs", "ms (10000)", milliseconds),
  row("limits.loginFailureDelayMs", "loginFailureDelayMs", "ms (1000)", whole(0, 60_000, " of ms")),
  row("limits.lockout", "lockout", "false, or { attempts, windowMs, durationMs }", lockout),
  row("limits.shutdownGraceMs", "shutdownGraceMs", "ms (30000)", whole(0, 2 ** 31 - 1, " of ms"), {
    name: "shutdown-grace",
    read: (values, name) => {
      const seconds = integer(values, name, { min: 0, max: 2_000_000 });
      return seconds === undefined ? undefined : seconds * 1000;
    },
  }),
  row("limits.maxSessionsPerUser", "maxSessionsPerUser", "per user (no limit)", count, {
    name: "max-sessions-per-user",
    read: integer,
  }),
  field("limits.bandwidth.upload", "bandwidth", "upload", "bytes/s, all uploads", rate, {
    name: "upload-rate",
    read: byteRate,
  }),
  field("limits.bandwidth.download", "bandwidth", "download", "bytes/s, all downloads", rate, {
    name: "download-rate",
    read: byteRate,
  }),
  field("limits.userBandwidth.upload", "userBandwidth", "upload", "bytes/s, each user's", rate, {
    name: "user-upload-rate",
    read: byteRate,
  }),
  field(
    "limits.userBandwidth.download",
    "userBandwidth",
    "download",
    "bytes/s, each user's",
    rate,
    {
      name: "user-download-rate",
      read: byteRate,
    },
  ),
  field(
    "limits.userQuota.bytes",
    "userQuota",
    "bytes",
    "bytes, each user's",
    whole(0, Number.MAX_SAFE_INTEGER),
    {
      name: "quota-bytes",
      read: byteSize,
    },
  ),
  field(
    "limits.userQuota.files",
    "userQuota",
    "files",
    "files, each user's",
    whole(0, Number.MAX_SAFE_INTEGER),
    {
      name: "quota-files",
      read: (values, name) => integer(values, name, { min: 0 }),
    },
  ),
  row("logs.quiet", "quiet", "true: log no transfers, only errors", boolean, switchFlag("quiet")),
  row("logs.file", "log", "the audit log's file (- : standard output)", logFile, {
    name: "log",
    read: text,
  }),
  row("logs.format", "logFormat", '"json" (default) or "xferlog"', logFormat, {
    name: "log-format",
    read: logFormatFlag,
  }),
];

/**
 * The users `--user NAME:PASS` flags give (undefined when none): a PASS that is a password hash
 * (`$scrypt$...`, from `ftkit ftps passwd`) is taken as the hash.
 */
export function usersFromFlags(
  entries: readonly string[] | undefined,
): Record<string, FtpsUserOptions> | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  const result: Record<string, FtpsUserOptions> = {};
  for (const entry of entries) {
    const at = entry.indexOf(":");
    if (at <= 0 || at === entry.length - 1) {
      throw new UsageError(`--user takes NAME:PASS, not '${entry}'`);
    }
    const secret = entry.slice(at + 1);
    if (looksLikeFtpsPasswordHash(secret)) {
      const problem = checkFtpsPasswordHash(secret);
      if (problem) {
        throw new UsageError(`--user ${entry.slice(0, at)}: not a usable hash: ${problem}`);
      }
      result[entry.slice(0, at)] = { passwordHash: secret };
    } else result[entry.slice(0, at)] = { password: secret };
  }
  return result;
}

/** The settings the command line's flags give (flags not given are absent). */
export function settingsFromFlags(values: ParsedArgs["values"]): FtpsServeSettings {
  const settings: FtpsServeSettings = {};
  for (const key of CONFIG_KEYS) key.fromFlag(values, settings);
  return settings;
}

/** A configuration file with mistakes: one line for each, exit code 2. */
export class ConfigError extends UsageError {
  /** The mistakes, each `FILE: PATH: what was expected`. */
  readonly problems: readonly string[];
  /**
   * Makes the error.
   *
   * @param problems Its lines.
   */
  constructor(problems: readonly string[]) {
    super(problems.join("\n"), "ftps serve");
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** The keys of the file's tree that hold others (`listen`, `limits`, ...), for unknown keys. */
function sections(): Map<string, string[]> {
  const children = new Map<string, string[]>([["", []]]);
  for (const { key } of CONFIG_KEYS) {
    const parts = key.split(".");
    for (let i = 0; i < parts.length; i++) {
      const parent = parts.slice(0, i).join(".");
      const list = children.get(parent) ?? [];
      if (!list.includes(parts[i])) list.push(parts[i]);
      children.set(parent, list);
    }
  }
  return children;
}

/** The `root` of each user and of anonymous logins, as the (checked) file wrote them. */
function rootsAsWritten(json: unknown): FtpsServeSettings["rootsAsWritten"] {
  const { users, anonymous } = json as {
    users?: Record<string, { root?: string }>;
    anonymous?: { root?: string };
  };
  const written = Object.entries(users ?? {}).filter(([, user]) => user.root !== undefined);
  const anonymousRoot = typeof anonymous === "object" ? anonymous.root : undefined;
  if (written.length === 0 && anonymousRoot === undefined) return undefined;
  return {
    ...(written.length > 0
      ? { users: Object.fromEntries(written.map(([name, user]) => [name, user.root!])) }
      : {}),
    ...(anonymousRoot !== undefined ? { anonymous: anonymousRoot } : {}),
  };
}

/**
 * The settings a configuration file's text gives. Pure: reads no file.
 *
 * @param text The file's text (JSON).
 * @param name The file's name, as the messages begin.
 * @param base The directory relative paths are resolved against (the file's own).
 * @returns The settings.
 * @throws {ConfigError} With every mistake: not JSON, a value of the wrong kind, an unknown key.
 */
export function parseFtpsConfig(text: string, name: string, base: string): FtpsServeSettings {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${name}: not JSON: ${(error as Error).message}`]);
  }
  const problems: string[] = [];
  const report: Report = (path, message) => problems.push(`${name}: ${path}: ${message}`);
  const settings: FtpsServeSettings = {};
  const byKey = new Map(CONFIG_KEYS.map((key) => [key.key, key]));
  const tree = sections();
  const walk = (value: unknown, at: string) => {
    const known = byKey.get(at);
    if (known) return known.apply(value, settings, report, base);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return report(at || "(the top)", `expected an object, got ${shown(value)}`);
    }
    const names = tree.get(at) ?? [];
    for (const [child, item] of Object.entries(value)) {
      const path = at ? `${at}.${child}` : child;
      if (!names.includes(child)) report(path, unknownKey(child, names));
      else walk(item, path);
    }
  };
  walk(json, "");
  if (settings.root !== undefined && settings.storage !== undefined) {
    report("storage", "give root or storage, not both");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const written = rootsAsWritten(json);
  if (written) settings.rootsAsWritten = written;
  return settings;
}

/**
 * Reads and checks a configuration file: paths in it are relative to its directory.
 *
 * @param file The file's path.
 * @returns The settings.
 * @throws {ConfigError} With every mistake in it.
 */
export async function loadFtpsConfig(file: string): Promise<FtpsServeSettings> {
  const text = await reading(readFile(file, "utf8"), file, "--config");
  return parseFtpsConfig(text, file, dirname(resolve(file)));
}
