// The `s3://BUCKET[/PREFIX]` sources of the servers (`ftps serve --storage`, `tftp serve`,
// `serve`): the URL read, then where the bucket is and who signs found as the AWS CLI finds them
// (the flags, the AWS_* variables, the shared files ~/.aws/credentials and ~/.aws/config for a
// profile), and the bucket asked once whether it answers before anything is served. No message
// carries a secret key: values are named by where they came from, never shown.

import process from "node:process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { S3Client, type S3Credentials, S3Error, type S3Options } from "../io/s3/client.ts";
import { type ParsedArgs, text, UsageError } from "./args.ts";
import { type Check, shown } from "./_config_checks.ts";
import { CliError, Exit, reading } from "./errors.ts";

/** A bucket and the keys under a prefix, as `s3://BUCKET/PREFIX` names them. */
export interface S3Location {
  /** The bucket. */
  readonly bucket: string;
  /** The prefix, without slashes at either end (`""`: the whole bucket). */
  readonly prefix: string;
}

/** What the command line or a configuration file chose; the rest comes from the environment. */
export interface S3Choices {
  /** The store's URL (`--s3-endpoint`). */
  readonly endpoint?: string;
  /** The region (`--s3-region`). */
  readonly region?: string;
  /** The profile of the shared files (`--s3-profile`): the AWS_ACCESS_KEY_ID variables are then
   * not read, as the AWS CLI's `--profile` does. */
  readonly profile?: string;
  /** The bucket in the URL's path rather than its host name. */
  readonly pathStyle?: boolean;
  /** Bytes per part of an upload. */
  readonly partSize?: number;
}

/** Where the AWS settings are read from (tests give their own). */
export interface S3Environment {
  /** The environment variables (default: the process's). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The directory `~` names (default: `HOME` of `env`, else the system's). */
  readonly home?: string;
}

/** A bucket found: what the S3 client takes, and how to name it. */
export interface ResolvedS3 {
  /** The bucket, where it is and who signs. */
  readonly options: S3Options & { readonly region: string };
  /** The prefix served, without slashes at either end. */
  readonly prefix: string;
  /** `s3://BUCKET/PREFIX`, for messages. */
  readonly url: string;
  /** The store's address: the endpoint, or AWS's for the region. */
  readonly at: string;
  /** Bytes per part of an upload, when chosen. */
  readonly partSize?: number;
}

/** The options of a server command that only an s3:// source takes, by their setting. */
export const S3_FLAGS: readonly { readonly name: string; readonly key: keyof S3Choices }[] = [
  { name: "s3-endpoint", key: "endpoint" },
  { name: "s3-region", key: "region" },
  { name: "s3-profile", key: "profile" },
];

/** Whether a server's source names a bucket rather than a directory. */
export function isS3Url(source: string): boolean {
  return /^s3:\/\//i.test(source);
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{2,254}$/i;

/** Whether `part` may be one part of a prefix: a name, not `.` or `..`, without a backslash or a
 * control character. */
function isPrefixPart(part: string): boolean {
  // deno-lint-ignore no-control-regex
  return part !== "" && part !== "." && part !== ".." && !/[\\\x00-\x1f\x7f]/.test(part);
}

/** The bucket and prefix `url` names, or what is wrong with it. */
function readS3Url(url: string): S3Location | string {
  if (!isS3Url(url)) return `'${url}' is not an s3:// URL (s3://BUCKET[/PREFIX])`;
  const rest = url.slice(5);
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  // The text before an "@" would be a key and a secret: never repeated.
  if (bucket.includes("@")) {
    return "an s3:// URL holds no credentials: they come from AWS_ACCESS_KEY_ID and " +
      "AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials";
  }
  if (bucket === "") return `'${url}' names no bucket (s3://BUCKET[/PREFIX])`;
  if (!BUCKET.test(bucket)) {
    return `'${bucket}' is not a bucket name (3 to 255 letters, digits, '.', '-' or '_', ` +
      "beginning with a letter or digit)";
  }
  const prefix = slash === -1 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
  if (prefix !== "" && !prefix.split("/").every(isPrefixPart)) {
    return `'${url}': each part of a prefix is a name (not empty, '.' or '..', no backslash or ` +
      "control character)";
  }
  return { bucket, prefix };
}

/** What is wrong with `url` as `s3://BUCKET[/PREFIX]`, or undefined when nothing is. */
export function s3UrlProblem(url: string): string | undefined {
  const read = readS3Url(url);
  return typeof read === "string" ? read : undefined;
}

/**
 * The bucket and prefix of `s3://BUCKET[/PREFIX]`.
 *
 * @param url The URL.
 * @param what What gave it, for the message (`--storage`).
 * @returns The bucket and the prefix.
 * @throws {UsageError} When it is not such a URL, or its bucket or prefix is not valid.
 */
export function parseS3Url(url: string, what?: string): S3Location {
  const read = readS3Url(url);
  if (typeof read === "string") throw new UsageError(what ? `${what}: ${read}` : read);
  return read;
}

/** `prefix` joined under `base`, both without slashes at their ends; undefined when `prefix`
 * is not a path of names. */
export function prefixUnder(base: string, prefix: string): string | undefined {
  const inner = prefix.replace(/^\/+|\/+$/g, "");
  if (inner !== "" && !inner.split("/").every(isPrefixPart)) return undefined;
  return [base, inner].filter((part) => part !== "").join("/");
}

/** A value for a message: an endpoint with a user or password in it is not repeated. */
function shownValue(value: string): string {
  return value.includes("@") ? "a URL with a user or password" : `'${value}'`;
}

/** Whether `value` is an http:// or https:// URL without a user, password, query or fragment. */
function isEndpoint(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" &&
    url.password === "" && url.search === "" && url.hash === "";
}

/** What each S3 setting takes, and the check. */
const S3_SETTINGS: Readonly<
  Record<"endpoint" | "region" | "profile", { expects: string; accepts(value: string): boolean }>
> = {
  endpoint: {
    expects: "an http:// or https:// URL (no user, password, query or fragment)",
    accepts: isEndpoint,
  },
  region: {
    expects: "a region name, such as us-east-1",
    accepts: (value) => /^[a-z0-9][a-z0-9._-]{0,63}$/i.test(value),
  },
  profile: {
    expects: "a profile name, such as default",
    // deno-lint-ignore no-control-regex
    accepts: (value) => /^[^\s[\]\x00-\x1f\x7f]{1,128}$/.test(value),
  },
};

/** `value`, or a usage error: `what takes X, not 'value'`. */
function checked(key: keyof typeof S3_SETTINGS, value: string, what: string): string {
  const { expects, accepts } = S3_SETTINGS[key];
  if (!accepts(value)) throw new UsageError(`${what} takes ${expects}, not ${shownValue(value)}`);
  return value;
}

/** `--s3-endpoint`, `--s3-region` or `--s3-profile` (by `name`), checked; undefined when not given. */
export function s3Flag(values: ParsedArgs["values"], name: string): string | undefined {
  const value = text(values, name);
  const flag = S3_FLAGS.find((each) => each.name === name);
  if (value === undefined || !flag) return value;
  return checked(flag.key as keyof typeof S3_SETTINGS, value, `--${name}`);
}

/** The S3 options given on the command line, checked. */
export function s3Flags(values: ParsedArgs["values"]): S3Choices {
  const choices: Record<string, string> = {};
  for (const { name, key } of S3_FLAGS) {
    const value = s3Flag(values, name);
    if (value !== undefined) choices[key] = value;
  }
  return choices;
}

/** Refuses the S3 options when the source is a directory: `source` names what they need. */
export function refuseS3Flags(values: ParsedArgs["values"], source: string): void {
  const given = S3_FLAGS.find(({ name }) => values[name] !== undefined);
  if (given) throw new UsageError(`--${given.name} goes with ${source}`);
}

// The checks of `ftps serve --config`: the `storage` key and the `s3` section.

/** The `storage` key: `"s3://BUCKET[/PREFIX]"`. */
export const s3UrlCheck: Check<string> = (value, at, report) => {
  const problem = typeof value === "string"
    ? s3UrlProblem(value)
    : `expected "s3://BUCKET[/PREFIX]", got ${shown(value)}`;
  if (problem === undefined) return value as string;
  report(at, problem);
  return undefined;
};

/** A key of the `s3` section that a flag also gives, checked as the flag is. */
export function s3SettingCheck(key: keyof typeof S3_SETTINGS): Check<string> {
  const { expects, accepts } = S3_SETTINGS[key];
  return (value, at, report) => {
    if (typeof value === "string" && accepts(value)) return value;
    report(
      at,
      `expected ${expects}, got ${typeof value === "string" ? shownValue(value) : shown(value)}`,
    );
    return undefined;
  };
}

/** `--storage s3://BUCKET[/PREFIX]`, checked; undefined when not given. */
export function storageFlag(values: ParsedArgs["values"], name: string): string | undefined {
  const value = text(values, name);
  const problem = value === undefined ? undefined : s3UrlProblem(value);
  if (problem) throw new UsageError(`--${name}: ${problem}`);
  return value;
}

/** An INI file of the AWS CLI: sections, each of keys (lower case) to values. */
export type AwsIni = Map<string, Map<string, string>>;

/**
 * Reads the AWS CLI's INI files: `[section]` (inner spaces folded to one), `key = value` (or
 * `key: value`), comment lines beginning `#` or `;`. An indented `sub = value` under a key with no
 * value is kept as `key.sub` (the config file's `s3 =` block).
 *
 * @param text The file's text.
 * @returns Its sections.
 */
export function parseAwsIni(text: string): AwsIni {
  const sections: AwsIni = new Map();
  let section: Map<string, string> | undefined;
  let parent: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    const indented = /^\s/.test(line);
    if (!indented && trimmed.startsWith("[")) {
      const end = trimmed.indexOf("]");
      parent = undefined;
      section = undefined;
      if (end === -1) continue;
      const name = trimmed.slice(1, end).trim().replace(/\s+/g, " ");
      section = sections.get(name) ?? new Map();
      sections.set(name, section);
      continue;
    }
    const at = trimmed.search(/[=:]/);
    if (section === undefined || at <= 0) continue;
    const key = trimmed.slice(0, at).trim().toLowerCase();
    const value = trimmed.slice(at + 1).trim();
    if (indented) {
      if (parent !== undefined) section.set(`${parent}.${key}`, value);
      continue;
    }
    section.set(key, value);
    parent = value === "" ? key : undefined;
  }
  return sections;
}

/** A file's sections, or undefined when there is no such file. */
async function readIni(path: string): Promise<AwsIni | undefined> {
  const text = await reading(
    readFile(path, "utf8").catch((error) => {
      const code = (error as { code?: unknown }).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw error;
    }),
    path,
  );
  return text === undefined ? undefined : parseAwsIni(text);
}

/** A value that is set: an empty variable counts as none. */
function set(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** Keys from one source, when it has both; half a pair is a usage error naming the source. */
function keyPair(
  id: string | undefined,
  secret: string | undefined,
  token: string | undefined,
  names: [string, string],
  where: string,
): S3Credentials | undefined {
  if (id === undefined && secret === undefined) return undefined;
  if (id === undefined || secret === undefined) {
    const [have, missing] = id === undefined ? [names[1], names[0]] : names;
    throw new UsageError(`${where}: ${have} is set without ${missing}`);
  }
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
}

/**
 * Where the bucket is and who signs, found as the AWS CLI finds them:
 *
 * - credentials: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), unless
 *   a profile was chosen (`choices.profile`); else the profile (`choices.profile`, `AWS_PROFILE`,
 *   `default`) of the credentials file (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`),
 *   else of the config file (`AWS_CONFIG_FILE`, `~/.aws/config`; `[profile NAME]`, `[default]`);
 * - region: `choices.region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else
 *   `us-east-1`;
 * - endpoint: `choices.endpoint`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's
 *   `endpoint_url` (none of these three with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`), else
 *   AWS's own;
 * - path style: `choices.pathStyle`, the profile's `s3 = addressing_style`, else the client's
 *   default (path style with an endpoint).
 *
 * @param location The bucket and prefix.
 * @param choices What the command line or its configuration file chose.
 * @param environment The variables and home directory (default: the process's).
 * @returns The bucket's options, ready for the S3 client.
 * @throws {UsageError} With no credentials (naming the variables and files read), half a key pair,
 * a profile chosen that neither file has, or a region or endpoint that is not one.
 */
export async function resolveS3(
  location: S3Location,
  choices: S3Choices = {},
  environment: S3Environment = {},
): Promise<ResolvedS3> {
  const env = environment.env ?? process.env;
  const home = environment.home ?? set(env.HOME) ?? set(env.USERPROFILE) ?? homedir();
  const expand = (path: string) =>
    path === "~" ? home : /^~[/\\]/.test(path) ? join(home, path.slice(2)) : path;
  const credentialsFile = expand(set(env.AWS_SHARED_CREDENTIALS_FILE) ?? "~/.aws/credentials");
  const configFile = expand(set(env.AWS_CONFIG_FILE) ?? "~/.aws/config");
  const named = choices.profile ?? set(env.AWS_PROFILE);
  const profile = named ?? "default";
  checked("profile", profile, choices.profile !== undefined ? "--s3-profile" : "AWS_PROFILE");
  const [credentialsIni, configIni] = await Promise.all([
    readIni(credentialsFile),
    readIni(configFile),
  ]);
  const configName = profile === "default" ? "default" : `profile ${profile}`;
  const fromCredentials = credentialsIni?.get(profile);
  const fromConfig = configIni?.get(configName) ??
    (profile === "default" ? configIni?.get("profile default") : undefined);
  if (named !== undefined && !fromCredentials && !fromConfig) {
    throw new UsageError(
      `the AWS profile '${profile}' is in neither ${credentialsFile} nor ${configFile}`,
    );
  }
  const iniKeys = (section: Map<string, string> | undefined, file: string) =>
    keyPair(
      set(section?.get("aws_access_key_id")),
      set(section?.get("aws_secret_access_key")),
      set(section?.get("aws_session_token")),
      ["aws_access_key_id", "aws_secret_access_key"],
      `${file} [${file === configFile ? configName : profile}]`,
    );
  const fromEnvironment = choices.profile === undefined
    ? keyPair(
      set(env.AWS_ACCESS_KEY_ID),
      set(env.AWS_SECRET_ACCESS_KEY),
      set(env.AWS_SESSION_TOKEN),
      ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
      "the environment",
    )
    : undefined;
  const credentials = fromEnvironment ?? iniKeys(fromCredentials, credentialsFile) ??
    iniKeys(fromConfig, configFile);
  if (!credentials) {
    const variables = choices.profile === undefined
      ? "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give "
      : "give ";
    throw new UsageError(
      `no S3 credentials: ${variables}aws_access_key_id and aws_secret_access_key to the ` +
        `profile '${profile}' in ${credentialsFile} (or ${configFile}, also read)`,
    );
  }
  const fromProfile = `${configFile} [${configName}]`;
  const first = (...sources: [string | undefined, string][]) =>
    sources.find(([value]) => set(value) !== undefined);
  const [region, regionFrom] = first(
    [choices.region, "--s3-region"],
    [env.AWS_REGION, "AWS_REGION"],
    [env.AWS_DEFAULT_REGION, "AWS_DEFAULT_REGION"],
    [fromConfig?.get("region"), `${fromProfile} region`],
  ) ?? ["us-east-1", ""];
  checked("region", region!, regionFrom);
  const configured = /^true$/i.test(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? "") ? [] : [
    [env.AWS_ENDPOINT_URL_S3, "AWS_ENDPOINT_URL_S3"],
    [env.AWS_ENDPOINT_URL, "AWS_ENDPOINT_URL"],
    [fromConfig?.get("endpoint_url"), `${fromProfile} endpoint_url`],
  ] as [string | undefined, string][];
  const [endpoint, endpointFrom] = first([choices.endpoint, "--s3-endpoint"], ...configured) ??
    [undefined, ""];
  if (endpoint !== undefined) checked("endpoint", endpoint, endpointFrom);
  const style = fromConfig?.get("s3.addressing_style");
  const pathStyle = choices.pathStyle ??
    (style === "path" ? true : style === "virtual" ? false : undefined);
  const { bucket, prefix } = location;
  return {
    options: {
      bucket,
      region: region!,
      credentials,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(pathStyle !== undefined ? { pathStyle } : {}),
    },
    prefix,
    url: `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`,
    at: (endpoint ?? `https://s3.${region}.amazonaws.com`).replace(/\/+$/, ""),
    ...(choices.partSize !== undefined ? { partSize: choices.partSize } : {}),
  };
}

/**
 * Why nothing answered, from the causes under an S3 error: a code (`ECONNREFUSED`, `ENOTFOUND`), or
 * else the last part of the innermost message (Deno's: `Connection refused (os error 111)`).
 */
function failureReason(error: S3Error): string | undefined {
  let reason: string | undefined;
  let cause = error.cause;
  for (let depth = 0; depth < 4 && typeof cause === "object" && cause !== null; depth++) {
    const { code, name, message } = cause as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    if (name === "AbortError" || name === "TimeoutError") return "timed out";
    if (typeof message === "string" && message !== "" && message !== "fetch failed") {
      reason = message.split("\n")[0].split(": ").at(-1)!.slice(0, 100);
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return reason;
}

/**
 * Asks the bucket for one key under the prefix: a store that does not answer, refuses the
 * credentials or has no such bucket fails here, in one line, rather than each client later.
 *
 * @param s3 The bucket.
 * @param client How to ask (default: a client that retries once and waits 10 s at most).
 * @throws {CliError} `cannot reach s3://BUCKET/PREFIX at ENDPOINT: ...`, exit code 7 when nothing
 * answered, else 1.
 */
export async function checkS3Reachable(
  s3: ResolvedS3,
  client: Pick<S3Client, "list"> = new S3Client({ ...s3.options, retries: 1, timeoutMs: 10_000 }),
): Promise<void> {
  try {
    await client.list(s3.prefix === "" ? "" : `${s3.prefix}/`, { maxKeys: 1 });
  } catch (error) {
    if (!(error instanceof S3Error)) throw error;
    const reason = error.status === 0 ? failureReason(error) : undefined;
    throw new CliError(
      `cannot reach ${s3.url} at ${s3.at}: ${error.message}${reason ? ` (${reason})` : ""}`,
      error.status === 0 ? Exit.connect : Exit.failure,
    );
  }
}

/**
 * The bucket `url` names, found (see {@linkcode resolveS3}) and asked once (see
 * {@linkcode checkS3Reachable}).
 *
 * @param url `s3://BUCKET[/PREFIX]`.
 * @param choices What the command line or its configuration file chose.
 * @param what What gave the URL, for a message.
 * @returns The bucket's options.
 */
export async function openS3Source(
  url: string,
  choices: S3Choices,
  what?: string,
): Promise<ResolvedS3> {
  const s3 = await resolveS3(parseS3Url(url, what), choices);
  await checkS3Reachable(s3);
  return s3;
}
