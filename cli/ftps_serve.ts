// `ftkit ftps serve`: an FTPS server on a directory, with an ephemeral certificate unless one is
// given; `startFtps` also starts the FTPS half of `ftkit serve`.

import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FtpsLogEntry } from "../ftps/mod.ts";
import { integer, parse, UsageError } from "./args.ts";
import { ftpsApi } from "./ftps.ts";
import { type CliOutput, rate, stopped, urlHost, where } from "./output.ts";

/** The options of `ftps serve`. */
const FTPS_SERVE_OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  user: { type: "string", multiple: true },
  implicit: { type: "boolean" },
  cert: { type: "string" },
  key: { type: "string" },
  "allow-write": { type: "boolean" },
  "allow-overwrite": { type: "boolean" },
  anonymous: { type: "boolean" },
  "allow-ccc": { type: "boolean" },
  "passive-ports": { type: "string" },
  "passive-host": { type: "string" },
  "require-resumption": { type: "boolean" },
  "max-sessions": { type: "string" },
  "max-sessions-per-ip": { type: "string" },
  "idle-timeout": { type: "string" },
  "login-timeout": { type: "string" },
  "allow-missing-close-notify": { type: "boolean" },
  "ca-out": { type: "string" },
  quiet: { type: "boolean" },
} as const;

/** A started FTPS server and the lines that tell how to reach it. */
export interface StartedFtps {
  /** The server. */
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
    passivePorts?: string;
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
      throw new UsageError(`--user takes NAME:PASS, got "${entry}"`);
    }
    users[entry.slice(0, at)] = entry.slice(at + 1);
  }
  let generatedPassword: string | undefined;
  if (Object.keys(users).length === 0 && !values.anonymous) {
    const random = crypto.getRandomValues(new Uint8Array(9));
    generatedPassword = btoa(String.fromCharCode(...random)).replace(/[+/]/g, "x");
    users.ftkit = generatedPassword;
  }
  let passivePorts: [number, number] | undefined;
  if (values.passivePorts !== undefined) {
    const match = values.passivePorts.match(/^(\d+)-(\d+)$/);
    if (!match) {
      throw new UsageError(`--passive-ports takes LOW-HIGH, got "${values.passivePorts}"`);
    }
    passivePorts = [Number(match[1]), Number(match[2])];
  }
  const api = await ftpsApi();
  const host = values.host ?? "127.0.0.1";
  const lines: string[] = [];
  let cert: string;
  let key: string;
  let caFile: string | undefined;
  if (values.cert !== undefined) {
    cert = await readFile(values.cert, "utf8");
    key = await readFile(values.key!, "utf8");
  } else {
    const names = ["localhost", "127.0.0.1", "::1"];
    if (host !== "0.0.0.0" && host !== "::" && !names.includes(host)) names.push(host);
    const made = await api.createFtpsCertificate({ names, days: 7 });
    cert = made.certPem;
    key = made.keyPem;
    caFile = values.caOut ??
      join(tmpdir(), `ftkit-ca-${made.caFingerprint.slice(0, 8).replace(/:/g, "")}.pem`);
    await writeFile(caFile, made.caPem);
    lines.push(
      `Ephemeral certificate for ${names.join(", ")}, SHA-256 fingerprint ${made.fingerprint}`,
    );
    lines.push(`Its CA certificate (trust it in clients): ${caFile}`);
  }
  const secure = values.implicit ? "implicit" : "explicit";
  const server = await api.serveFtps({
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
  const port = server.address.port;
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
 * Runs `ftkit ftps serve ARGS` until `signal` aborts (or SIGINT or SIGTERM without one).
 *
 * @param args The arguments after `ftps serve`.
 * @param output Where to write.
 * @param signal Stops the server.
 * @returns The exit code.
 */
export async function ftpsServe(
  args: string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  const { values, positionals } = parse(args, FTPS_SERVE_OPTIONS);
  if (positionals.length > 1) throw new UsageError("ftps serve takes one directory");
  const root = positionals[0] ?? ".";
  const { server, lines } = await startFtps(root, {
    host: values.host as string | undefined,
    port: integer("port", values.port as string | undefined),
    user: values.user as string[] | undefined,
    implicit: values.implicit as boolean | undefined,
    cert: values.cert as string | undefined,
    key: values.key as string | undefined,
    allowWrite: values["allow-write"] as boolean | undefined,
    allowOverwrite: values["allow-overwrite"] as boolean | undefined,
    anonymous: values.anonymous as boolean | undefined,
    allowCcc: values["allow-ccc"] as boolean | undefined,
    passivePorts: values["passive-ports"] as string | undefined,
    passiveHost: values["passive-host"] as string | undefined,
    requireResumption: values["require-resumption"] as boolean | undefined,
    maxSessions: integer("max-sessions", values["max-sessions"] as string | undefined),
    maxSessionsPerIp: integer(
      "max-sessions-per-ip",
      values["max-sessions-per-ip"] as string | undefined,
    ),
    idleTimeout: integer("idle-timeout", values["idle-timeout"] as string | undefined),
    loginTimeout: integer("login-timeout", values["login-timeout"] as string | undefined),
    allowMissingCloseNotify: values["allow-missing-close-notify"] as boolean | undefined,
    caOut: values["ca-out"] as string | undefined,
    quiet: values.quiet as boolean | undefined,
  }, output);
  for (const line of lines) output.out(line);
  await stopped(signal);
  await server.close();
  return 0;
}
