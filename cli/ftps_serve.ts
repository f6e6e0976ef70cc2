// `ftkit ftps serve`: an FTPS server on a directory, with an ephemeral certificate unless one is
// given; `startFtps` also starts the FTPS half of `ftkit serve`.

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FtpsLogEntry } from "../ftps/mod.ts";
import {
  directory,
  flag,
  integer,
  type ParsedArgs,
  port,
  portRange,
  text,
  UsageError,
} from "./args.ts";
import { type FailureContext, reading } from "./errors.ts";
import { ftpsApi } from "./ftps.ts";
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
  /** The server; closing it also removes the ephemeral CA's temporary file. */
  server: { close(): Promise<void> };
  /** What to print about it: where it listens, its certificate, the user and a curl command. */
  lines: string[];
}

/**
 * Starts the FTPS server the command line asks for.
 *
 * @param root The directory to serve.
 * @param values The options, read from the command line.
 * @param output Where the server's log goes.
 * @returns The server and the lines to print.
 */
export async function startFtps(
  root: string,
  values: {
    host?: string;
    port?: number;
    user?: readonly string[];
    implicit?: boolean;
    cert?: string;
    key?: string;
    allowWrite?: boolean;
    allowOverwrite?: boolean;
    anonymous?: boolean;
    allowCcc?: boolean;
    hash?: boolean;
    siteChmod?: boolean;
    passivePorts?: [number, number];
    passiveHost?: string;
    requireResumption?: boolean;
    maxSessions?: number;
    maxSessionsPerIp?: number;
    idleTimeout?: number;
    loginTimeout?: number;
    allowMissingCloseNotify?: boolean;
    caOut?: string;
    quiet?: boolean;
  },
  output: CliOutput,
): Promise<StartedFtps> {
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const users: Record<string, string> = {};
  for (const entry of values.user ?? []) {
    const at = entry.indexOf(":");
    if (at <= 0 || at === entry.length - 1) {
      throw new UsageError(`--user takes NAME:PASS, not '${entry}'`);
    }
    users[entry.slice(0, at)] = entry.slice(at + 1);
  }
  let generatedPassword: string | undefined;
  if (Object.keys(users).length === 0 && !values.anonymous) {
    const random = crypto.getRandomValues(new Uint8Array(9));
    generatedPassword = btoa(String.fromCharCode(...random)).replace(/[+/]/g, "x");
    users.ftkit = generatedPassword;
  }
  const passivePorts = values.passivePorts;
  const api = await ftpsApi();
  const host = values.host ?? "127.0.0.1";
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
  if (values.cert !== undefined) {
    cert = await reading(readFile(values.cert, "utf8"), values.cert, "--cert");
    key = await reading(readFile(values.key!, "utf8"), values.key!, "--key");
  } else {
    const names = ["localhost", "127.0.0.1", "::1"];
    if (host !== "0.0.0.0" && host !== "::" && !names.includes(host)) names.push(host);
    const made = await api.createFtpsCertificate({ names, days: 7 });
    cert = made.certPem;
    key = made.keyPem;
    if (values.caOut === undefined) {
      temporary = await mkdtemp(join(tmpdir(), "ftkit-ca-"));
      removeOnExit(temporary);
    }
    caFile = values.caOut ?? join(temporary!, "ca.pem");
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
  const secure = values.implicit ? "implicit" : "explicit";
  const started = api.serveFtps({
    root,
    host,
    port: values.port ?? (values.implicit ? 9990 : 2121),
    secure,
    tls: { cert, key },
    users,
    anonymous: values.anonymous ?? false,
    allowWrite: values.allowWrite ?? false,
    allowOverwrite: values.allowOverwrite ?? false,
    allowCcc: values.allowCcc ?? false,
    hash: values.hash ?? false,
    siteChmod: values.siteChmod ?? false,
    requireTlsResumption: values.requireResumption ?? false,
    ...(values.maxSessions !== undefined ? { maxSessions: values.maxSessions } : {}),
    ...(values.maxSessionsPerIp !== undefined ? { maxSessionsPerIp: values.maxSessionsPerIp } : {}),
    ...(values.idleTimeout !== undefined ? { idleTimeoutMs: values.idleTimeout * 1000 } : {}),
    ...(values.loginTimeout !== undefined ? { loginTimeoutMs: values.loginTimeout * 1000 } : {}),
    ...(values.allowMissingCloseNotify ? { requireCloseNotify: false } : {}),
    ...(passivePorts ? { passivePorts } : {}),
    ...(values.passiveHost ? { passiveHost: values.passiveHost } : {}),
    onLog: values.quiet ? undefined : (entry) => {
      const line = describeFtps(entry);
      if (line) output.out(line);
    },
    onError: (error) => output.err(`ftkit: ${error.message}`),
  });
  let ftps: Awaited<typeof started>;
  try {
    ftps = await started;
  } catch (error) {
    await removeTemporary();
    throw error;
  }
  const server = {
    async close() {
      try {
        await ftps.close();
      } finally {
        await removeTemporary();
      }
    },
  };
  const port = ftps.address.port;
  lines.unshift(
    `Serving ${root} over FTPS (${secure} TLS) on ${where(host, port)}${
      values.allowWrite ? " (writes allowed)" : " (read-only)"
    }`,
  );
  const [name, password] = Object.entries(users)[0] ?? ["anonymous", ""];
  if (generatedPassword) lines.push(`User: ftkit, password: ${generatedPassword}`);
  const scheme = values.implicit ? "ftps" : "ftp";
  lines.push(
    `Fetch a file with: curl ${values.implicit ? "" : "--ssl-reqd "}${
      caFile ? `--cacert ${caFile} ` : ""
    }-u ${name}:${password || "x"} -o FILE ${scheme}://${urlHost(host)}:${port}/FILE`,
  );
  return { server, lines };
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
      } ${entry.direction}: ${entry.bytes} bytes in ${seconds.toFixed(2)} s${
        rate(entry.bytes, seconds)
      }${tls}${entry.outcome === "ok" ? "" : `, ${entry.outcome}`}`;
    }
    case "closed":
      return undefined;
  }
}

/**
 * Runs `ftkit ftps serve [DIR]` until `signal` aborts (or SIGINT or SIGTERM without one).
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
  const seconds = (name: string) => integer(values, name);
  const options = {
    host: text(values, "host"),
    port: port(values, "port"),
    user: values.user as string[] | undefined,
    implicit: flag(values, "implicit"),
    cert: text(values, "cert"),
    key: text(values, "key"),
    allowWrite: flag(values, "allow-write"),
    allowOverwrite: flag(values, "allow-overwrite"),
    anonymous: flag(values, "anonymous"),
    allowCcc: flag(values, "allow-ccc"),
    hash: flag(values, "hash"),
    siteChmod: flag(values, "site-chmod"),
    passivePorts: portRange(values, "passive-ports"),
    passiveHost: text(values, "passive-host"),
    requireResumption: flag(values, "require-resumption"),
    maxSessions: integer(values, "max-sessions"),
    maxSessionsPerIp: integer(values, "max-sessions-per-ip"),
    idleTimeout: seconds("idle-timeout"),
    loginTimeout: seconds("login-timeout"),
    allowMissingCloseNotify: flag(values, "allow-missing-close-notify"),
    caOut: text(values, "ca-out"),
    quiet: flag(values, "quiet"),
  };
  const root = await directory(positionals[0] ?? ".");
  const { server, lines } = await startFtps(root, options, output);
  for (const line of lines) output.out(line);
  await stopped(signal);
  await server.close();
  return 0;
}
