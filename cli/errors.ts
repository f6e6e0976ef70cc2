// The command's exit codes, and the one table that maps a failure (the library's typed errors, the
// runtime's error codes) to its exit code and, where ftkit knows what to do about it, a hint.

/** The exit codes, by failure class: curl's numbers where curl has the class. */
export const Exit = {
  ok: 0,
  failure: 1,
  usage: 2,
  resolve: 6,
  connect: 7,
  localWrite: 23,
  localRead: 26,
  timeout: 28,
  tlsHandshake: 35,
  tlsVerify: 60,
  login: 67,
  remoteMissing: 78,
  sigint: 130,
  sigterm: 143,
} as const;

/** Every exit code with what it means, as `ftkit help exit-codes` and the README list them. */
export const EXIT_CODES: readonly { readonly code: number; readonly meaning: string }[] = [
  { code: Exit.ok, meaning: "success" },
  {
    code: Exit.failure,
    meaning: "any other failure (a refused upload, a missing Deno permission)",
  },
  { code: Exit.usage, meaning: "usage: unknown command or option, bad value, missing directory" },
  { code: Exit.resolve, meaning: "cannot resolve the host name" },
  { code: Exit.connect, meaning: "cannot connect: refused or unreachable" },
  { code: Exit.localWrite, meaning: "cannot write the local file" },
  { code: Exit.localRead, meaning: "cannot read a local file (put's LOCAL, --ca, --cert, --key)" },
  { code: Exit.timeout, meaning: "timeout: no answer in time (TFTP: no reply at all)" },
  { code: Exit.tlsHandshake, meaning: "TLS handshake failed (or implicit and explicit TLS mixed)" },
  { code: Exit.tlsVerify, meaning: "the server's TLS certificate was not verified" },
  { code: Exit.login, meaning: "login denied (530)" },
  { code: Exit.remoteMissing, meaning: "remote file not found (FTP 550, TFTP error 1)" },
  { code: Exit.sigint, meaning: "interrupted (SIGINT, Ctrl-C)" },
  { code: Exit.sigterm, meaning: "terminated (SIGTERM)" },
];

/** A failure the command itself detected, with its exit code and a hint. */
export class CliError extends Error {
  /** The exit code. */
  readonly exitCode: number;
  /** What to do about it, one line. */
  readonly hint?: string;

  /**
   * Makes the error.
   *
   * @param message What went wrong.
   * @param exitCode The exit code.
   * @param hint What to do about it.
   */
  constructor(message: string, exitCode: number, hint?: string) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
    if (hint !== undefined) this.hint = hint;
  }
}

/** Where a failure happened, for its class and its hint. */
export interface FailureContext {
  /** A client (get, put, ls) or a server (serve). */
  role: "client" | "server";
  /** The local file a client reads (put) or writes (get, ls writes none). */
  local?: "read" | "write";
  /** That file's path. */
  localPath?: string;
  /** FTPS: implicit, explicit or no TLS. */
  secure?: "implicit" | "explicit" | false;
  /** The server's HOST:PORT, as a URL writes it. */
  authority?: string;
}

/** A failure's exit code, its one line, and maybe a hint. */
export interface Failure {
  /** The exit code. */
  readonly code: number;
  /** The error, one line. */
  readonly message: string;
  /** What to do about it, one line. */
  readonly hint?: string;
}

/** Runtime error codes (Node's, which Bun and Deno's node: modules share) by failure class. */
const BY_CODE: Readonly<Record<string, number>> = {
  ENOTFOUND: Exit.resolve,
  EAI_AGAIN: Exit.resolve,
  EAI_NONAME: Exit.resolve,
  EAI_NODATA: Exit.resolve,
  EAI_FAIL: Exit.resolve,
  ECONNREFUSED: Exit.connect,
  EHOSTUNREACH: Exit.connect,
  ENETUNREACH: Exit.connect,
  EHOSTDOWN: Exit.connect,
  ENETDOWN: Exit.connect,
  ETIMEDOUT: Exit.timeout,
  ERR_TLS_HANDSHAKE_TIMEOUT: Exit.timeout,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: Exit.tlsVerify,
  UNABLE_TO_GET_ISSUER_CERT: Exit.tlsVerify,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: Exit.tlsVerify,
  DEPTH_ZERO_SELF_SIGNED_CERT: Exit.tlsVerify,
  SELF_SIGNED_CERT_IN_CHAIN: Exit.tlsVerify,
  CERT_UNTRUSTED: Exit.tlsVerify,
  CERT_HAS_EXPIRED: Exit.tlsVerify,
  CERT_NOT_YET_VALID: Exit.tlsVerify,
  CERT_SIGNATURE_FAILURE: Exit.tlsVerify,
  CERT_REVOKED: Exit.tlsVerify,
  CERT_REJECTED: Exit.tlsVerify,
  INVALID_CA: Exit.tlsVerify,
  ERR_TLS_CERT_ALTNAME_INVALID: Exit.tlsVerify,
  EPROTO: Exit.tlsHandshake,
  ERR_SSL_WRONG_VERSION_NUMBER: Exit.tlsHandshake,
  ERR_SSL_UNSUPPORTED_PROTOCOL: Exit.tlsHandshake,
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: Exit.tlsHandshake,
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: Exit.tlsHandshake,
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: Exit.tlsHandshake,
};

/** Errors of the local file system: what a client's local file failed with. */
const LOCAL_FILE_CODES: ReadonlySet<string> = new Set([
  "ENOENT",
  "EACCES",
  "EPERM",
  "EISDIR",
  "ENOTDIR",
  "ENOSPC",
  "EROFS",
  "EDQUOT",
  "EEXIST",
  "ENAMETOOLONG",
  "ELOOP",
  "EMFILE",
  "EFBIG",
  "EIO",
]);

/** What a server's failure to listen means, by code. */
const LISTEN_HINTS: Readonly<Record<string, string>> = {
  EADDRINUSE: "another program listens on that port: choose another with --port",
  EACCES: "ports below 1024 need root (or CAP_NET_BIND_SERVICE): try --port 6969 or 2121",
  EADDRNOTAVAIL: "that address is not one of this machine's: try --host 127.0.0.1 or 0.0.0.0",
};

const VERIFY_HINT =
  "use --ca FILE with the server's CA (ftkit ftps serve prints it), or --insecure to skip verification";

/** An error as one line: its message's first line, with its code when the message lacks it. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const first = message.split("\n")[0];
  return typeof code === "string" && !first.includes(code) ? `${first} (${code})` : first;
}

/** A file system error as "cannot read 'PATH': no such file or directory (ENOENT)". */
function fileMessage(error: Error, code: string, verb: "read" | "write", path: string): string {
  const text = error.message.replace(`${code}: `, "").replace(/, \w+ '[^']*'(?: -> '[^']*')?$/, "");
  return `cannot ${verb} '${path}': ${text} (${code})`;
}

/**
 * `step` (reading `path`), whose failure to read a local file is a {@linkcode CliError} with exit
 * code 26, its message prefixed with `what` (an option's name) when given.
 */
export async function reading<T>(step: Promise<T>, path: string, what?: string): Promise<T> {
  try {
    return await step;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== "string" || !LOCAL_FILE_CODES.has(code)) throw error;
    const message = fileMessage(error as Error, code, "read", path);
    throw new CliError(`${what ? `${what}: ` : ""}${message}`, Exit.localRead);
  }
}

/** A Deno permission refusal: the flag that grants it. */
function denoPermission(error: Error): Failure | undefined {
  if (error.name !== "NotCapable" && error.name !== "PermissionDenied") return undefined;
  const flag = error.message.match(/--allow-[a-z-]+/)?.[0];
  const what = error.message.replace(/,? run again with.*$/s, "")
    .replace(/^Requires/, "Deno requires");
  if (!flag) return { code: Exit.failure, message: what };
  return {
    code: Exit.failure,
    message: `${what}: add ${flag} (deno run ${flag} ...), or -A for every permission`,
  };
}

/** The exit code and hint of an FTP reply error. */
function replyFailure(
  error: Error & { code: number; command: string },
  context: FailureContext,
): Failure {
  const message = oneLine(error);
  const login = /^(USER|PASS|ACCT)\b/.test(error.command) || error.code === 530;
  if (login) {
    const tlsWanted = context.secure === false && /TLS|SSL|encrypt|AUTH/i.test(error.message);
    return {
      code: Exit.login,
      message,
      ...(tlsWanted ? { hint: "the server requires TLS: add --tls" } : {}),
    };
  }
  if (error.code === 550 && /^(RETR|SIZE|MDTM|MLSD|MLST|LIST|NLST)\b/.test(error.command)) {
    return { code: Exit.remoteMissing, message };
  }
  return { code: Exit.failure, message };
}

/** The exit code and hint of a TFTP transfer error. */
function tftpFailure(
  error: Error & { reason: string; code: number },
  context: FailureContext,
): Failure {
  const message = error.message;
  if (error.reason === "peer-error" && error.code === 1) {
    return { code: Exit.remoteMissing, message };
  }
  if (error.reason === "timeout") {
    const none = /^No reply from the server/.test(message);
    return {
      code: Exit.timeout,
      message,
      ...(none
        ? {
          hint: `no TFTP server answered at ${context.authority ?? "that address"}: ` +
            "check the host and port, and that no firewall drops UDP",
        }
        : {}),
    };
  }
  if (/^Cannot store the file/.test(message)) return { code: Exit.localWrite, message };
  return { code: Exit.failure, message };
}

/** The hint for a TLS failure, by its class. */
function tlsHint(code: number, error: Error, context: FailureContext): string | undefined {
  const errorCode = (error as { code?: unknown }).code;
  if (code === Exit.tlsVerify) {
    if (errorCode === "ERR_TLS_CERT_ALTNAME_INVALID") {
      return "the certificate does not name that host: connect by a name it carries, " +
        "or give one with --servername NAME";
    }
    return VERIFY_HINT;
  }
  if (code === Exit.tlsHandshake && context.secure === "implicit") {
    const plain = errorCode === "ERR_SSL_WRONG_VERSION_NUMBER" ||
      /wrong version number|InvalidContentType|packet length too long/i.test(error.message);
    if (plain) {
      const at = context.authority ?? "HOST";
      return `this server uses explicit TLS: use ftp://${at} with --tls (or ftpes://${at})`;
    }
  }
  return undefined;
}

/**
 * What a failure means: its exit code, its line and its hint. The one table: the command's own
 * errors, Deno's permission errors, FTP replies, TFTP transfers, then runtime error codes (name
 * resolution, connection, timeouts, TLS, local files).
 *
 * @param error What was thrown.
 * @param context Where it happened.
 * @returns Its exit code, line and hint.
 */
export function classify(error: unknown, context: FailureContext): Failure {
  if (!(error instanceof Error)) return { code: Exit.failure, message: String(error) };
  if (error instanceof CliError) {
    return {
      code: error.exitCode,
      message: error.message,
      ...(error.hint !== undefined ? { hint: error.hint } : {}),
    };
  }
  const permission = denoPermission(error);
  if (permission) return permission;
  if (error.name === "FtpReplyError") {
    return replyFailure(error as Error & { code: number; command: string }, context);
  }
  if (error.name === "TftpTransferError") {
    return tftpFailure(error as Error & { reason: string; code: number }, context);
  }
  const message = oneLine(error);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (context.role === "server" && LISTEN_HINTS[code]) {
      return { code: Exit.failure, message, hint: LISTEN_HINTS[code] };
    }
    if (LOCAL_FILE_CODES.has(code) && context.local) {
      return {
        code: context.local === "read" ? Exit.localRead : Exit.localWrite,
        message: context.localPath === undefined
          ? message
          : fileMessage(error, code, context.local, context.localPath),
      };
    }
    const byCode = BY_CODE[code] ?? (code.startsWith("ERR_SSL_") ? Exit.tlsHandshake : undefined);
    if (byCode !== undefined) {
      const hint = tlsHint(byCode, error, context);
      return { code: byCode, message, ...(hint ? { hint } : {}) };
    }
  }
  if (
    error.name === "TimeoutError" ||
    /\b(no reply|no answer) within \d+ ms|nothing moved for \d+ ms/i.test(error.message)
  ) {
    return { code: Exit.timeout, message };
  }
  if (/invalid peer certificate|certificate verify failed/i.test(error.message)) {
    return { code: Exit.tlsVerify, message, hint: VERIFY_HINT };
  }
  return { code: Exit.failure, message };
}
