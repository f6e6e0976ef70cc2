/**
 * The FTPS server's options and the records it hands out: users, login requests, log entries,
 * and the running server. `serveFtpsWith` (ftps/server.ts) takes them; the session driver and
 * the login guard read them.
 *
 * @module
 */

import type {
  FtpDataResult,
  FtpHashAlgorithm,
  FtpServerEvent,
  FtpServerSessionOptions,
} from "./server_session.ts";
import type { FtpStorage } from "./storage.ts";
import type { FtpPeerCertificate, FtpTlsServerContext, FtpTlsServerOptions } from "./transport.ts";
/** One user of {@linkcode ServeFtpsOptions.users}. */
export interface FtpsUserOptions {
  /** The password (absent: this user logs in only with a certificate). */
  password?: string;
  /** SHA-256 fingerprints (`AB:CD:...`, colons and case optional) of TLS client certificates
   * that log this user in without a password (232, RFC 4217 section 12.2). */
  certificates?: readonly string[];
  /** The directory this user sees as `/` (default: the server's `root`). */
  root?: string;
  /** What this user sees, instead of a directory. */
  storage?: FtpStorage;
  /** Whether this user may change files (default: the server's `allowWrite`). */
  allowWrite?: boolean;
  /** Whether this user's uploads and renames may replace or change existing files in their
   * directory (default: the server's `allowOverwrite`). */
  allowOverwrite?: boolean;
}

/** How {@linkcode ServeFtpsOptions.hash} serves checksums. */
export interface FtpsHashOptions {
  /** The algorithms, in the order FEAT lists them (default SHA-256, SHA-1, MD5, CRC32); SHA-256
   * is selected at first when listed, else the first one. */
  algorithms?: readonly FtpHashAlgorithm[];
  /** The largest file hashed, in bytes (default 1 GiB): a larger one is refused, 556 to HASH and
   * 550 to the X commands. */
  maxBytes?: number;
  /** Hashes at once across the whole server (default 2): more are answered 450, to retry. */
  maxConcurrent?: number;
}

/** What an {@linkcode ServeFtpsOptions.authenticate} hook is asked. */
export interface FtpsLoginRequest {
  /** The user name sent. */
  readonly user: string;
  /** The password sent; absent when only the client certificate is offered as identity. */
  readonly password?: string;
  /** The TLS client certificate of the control connection, if one came. */
  readonly certificate?: FtpPeerCertificate;
  /** The client's IP address. */
  readonly remoteAddress: string;
  /** Whether the control connection is protected. */
  readonly protected: boolean;
}

/** One line of the server's log ({@linkcode ServeFtpsOptions.onLog}). */
export type FtpsLogEntry =
  | {
    /** A connection was refused before its session began. */
    readonly type: "refused";
    /** The client. */
    readonly remoteAddress: string;
    /** Why. */
    readonly reason: "max-sessions" | "max-sessions-per-ip" | "locked-out" | "tls";
  }
  | {
    /** A data connection was refused: it came from another host than the client's
     * (`foreign-host`, RFC 2577 section 3), or to a passive port that had its connection already
     * (`extra-connection`; from the client's own address it fails the transfer, 426: one of the
     * two is another program), or its TLS session did not resume when it had to
     * (`not-resumed`, 522). */
    readonly type: "data-refused";
    /** The client of the session. */
    readonly remoteAddress: string;
    /** Where the data connection came from. */
    readonly from: string;
    /** Why. */
    readonly reason: "foreign-host" | "extra-connection" | "not-resumed";
  }
  | {
    /** A login succeeded or failed. */
    readonly type: "login";
    /** The client. */
    readonly remoteAddress: string;
    /** The user name. */
    readonly user: string;
    /** Whether it succeeded. */
    readonly ok: boolean;
    /** How: a password, or the client's certificate alone (232). */
    readonly method: "password" | "certificate";
  }
  | {
    /** A data transfer ended. */
    readonly type: "transfer";
    /** The client. */
    readonly remoteAddress: string;
    /** The user. */
    readonly user: string | undefined;
    /** `send` (RETR, listings) or `receive` (STOR, APPE, STOU). */
    readonly direction: "send" | "receive";
    /** Bytes moved on the data connection. */
    readonly bytes: number;
    /** Wall time in ms. */
    readonly durationMs: number;
    /** Whether the data connection was TLS, and its session resumed. */
    readonly tls: { readonly protocol: string; readonly resumed: boolean } | undefined;
    /** A protected upload: whether the client ended its TLS stream with close_notify (absent
     * when the upload did not reach its end, or the transport cannot tell). */
    readonly closeNotified?: boolean;
    /** `ok`, `aborted` (ABOR or the session closing), or why it failed (`truncated`: a
     * protected upload ended without TLS close_notify, and nothing was kept). */
    readonly outcome: "ok" | "aborted" | Exclude<FtpDataResult, { ok: true }>["reason"];
  }
  | {
    /** A session ended. */
    readonly type: "closed";
    /** The client. */
    readonly remoteAddress: string;
    /** The user, if one logged in. */
    readonly user: string | undefined;
    /** Why: the machine's reason, or `disconnected` when the client went away. */
    readonly reason: Extract<FtpServerEvent, { type: "closed" }>["reason"] | "disconnected";
  };

/** Options of `serveFtps`. */
export interface ServeFtpsOptions extends
  Pick<
    FtpServerSessionOptions,
    | "requireTlsForLogin"
    | "dataProtection"
    | "allowCcc"
    | "greeting"
    | "maxLoginAttempts"
    | "maxLineLength"
    | "idleTimeoutMs"
    | "loginTimeoutMs"
    | "lineTimeoutMs"
    | "passiveHost"
    | "allowForeignDataHosts"
    | "requireTlsResumption"
  > {
  /** The directory served (to every user without a `root` or `storage` of their own). */
  root?: string;
  /** What is served, instead of `root`. It keeps its own policy: users are taken to be allowed
   * to write there (the `perm` fact, FEAT's MFMT), and it refuses what it does not allow. */
  storage?: FtpStorage;
  /** Let users change files in `root` (default false: read-only). */
  allowWrite?: boolean;
  /**
   * With `allowWrite`, let uploads and renames replace or change files that exist (default
   * false: create-only). Without it, STOR, APPE and REST then STOR onto an existing file are
   * refused with 550 "Overwrite permission denied." and RNTO onto one with 550 "Rename
   * permission denied." (ProFTPD's replies at its defaults, `AllowOverwrite off` and
   * `AllowStoreRestart off`), so resuming an upload needs it too; STOU and new names are
   * unaffected. Applies to directories served from `root` (a `storage` of your own keeps its
   * own policy); see `ftpDirectoryStorage`.
   */
  allowOverwrite?: boolean;
  /** Users by name: a password, or their options. */
  users?: Readonly<Record<string, string | FtpsUserOptions>>;
  /**
   * Serve checksums of files (default false: hashing costs CPU): HASH and OPTS HASH
   * (draft-bryan-ftpext-hash-02: `213 SHA-256 0-<size> <hex> <path>`) and XCRC, XMD5, XSHA1 and
   * XSHA256 (`250 <hex>`), to every user, of files they can read. Each hash reads at most
   * `maxBytes`; a session runs one at a time (its other commands wait); the server runs
   * `maxConcurrent` at once (others are answered 450). `true` takes the defaults.
   */
  hash?: boolean | FtpsHashOptions;
  /**
   * Serve `SITE CHMOD mode path` (default false): octal modes from 0 to 777 only (no setuid,
   * setgid or sticky bit), answered 200, to users who may write, over a storage with `chmod`
   * (`ftpDirectoryStorage` has it).
   */
  siteChmod?: boolean;
  /**
   * Checks logins instead of `users`: resolve `true` (the server's `root`/`storage`), the storage
   * the user gets, or `false`. It also decides certificate logins (`password` absent).
   */
  authenticate?: (
    request: FtpsLoginRequest,
  ) => boolean | FtpStorage | Promise<boolean | FtpStorage>;
  /** Let `anonymous` and `ftp` in, read-only, with any password (default false); `root` gives
   * them a directory of their own. */
  anonymous?: boolean | { root?: string; storage?: FtpStorage };
  /** The server's certificate and key (and client-certificate settings), or a context already
   * made by the transport. Required unless `secure` is `"none"`. */
  tls?: FtpTlsServerOptions | FtpTlsServerContext;
  /** FTPS through AUTH TLS (`"explicit"`, default), TLS from the first byte (`"implicit"`), or
   * plain FTP (`"none"`, for tests and closed networks only). */
  secure?: "explicit" | "implicit" | "none";
  /**
   * The address to listen on (default `"127.0.0.1"`: this machine only). Give `"0.0.0.0"` (every
   * IPv4 interface), `"::"` (every interface; IPv4 too where the system maps it) or one
   * interface's address to serve the network.
   */
  host?: string;
  /** The port (default 21, or 990 when implicit; 0 picks a free one). */
  port?: number;
  /** Passive data ports come from this inclusive range (default: any free port). */
  passivePorts?: readonly [number, number];
  /** Sessions at once (default 256); more are answered 421 and closed. */
  maxSessions?: number;
  /** Sessions at once from one IP address, or one IPv6 /64 (default 10). */
  maxSessionsPerIp?: number;
  /**
   * Keep a protected (PROT P) upload only when the client ended its TLS stream with close_notify
   * (default true). Without it, the end of the TCP stream is all that marks the end of the file,
   * and a connection cut short, or a forged FIN (RFC 8446 section 6.1's truncation attack), would
   * commit a partial file. curl, lftp, Python's ftplib, basic-ftp and ftkit's client all send
   * close_notify; turn this off only for a client that does not (as vsftpd's
   * `strict_ssl_read_eof=NO`). A transport of your own whose sockets cannot tell
   * (`closeNotified` undefined) gets every protected upload refused (426) while this is on.
   */
  requireCloseNotify?: boolean;
  /** A failed login is answered this much later, in ms (default 1000). */
  loginFailureDelayMs?: number;
  /** Failed logins from one address within `windowMs` that lock it out for `durationMs`: its
   * new connections are answered 421 and its logins fail (default 10 in 10 minutes lock out for
   * 15 minutes; `false` turns it off). */
  lockout?: false | { attempts: number; windowMs: number; durationMs: number };
  /** How long a data connection may take to come and be secured, and a transfer may stall, in ms
   * (default 30000). */
  dataTimeoutMs?: number;
  /** How long a control connection's TLS handshake may take, in ms (default 10000). */
  tlsHandshakeTimeoutMs?: number;
  /** Sessions, logins and transfers, as they happen. */
  onLog?: (entry: FtpsLogEntry) => void;
  /** Errors of the listening socket, and anything unexpected in a session. */
  onError?: (error: Error) => void;
}

/** A running FTPS server. */
export interface FtpsServer extends AsyncDisposable {
  /** Where it listens. */
  readonly address: { readonly host: string; readonly port: number };
  /** Sessions open now. */
  readonly sessions: number;
  /** Stops listening and closes every session and transfer. */
  close(): Promise<void>;
}
