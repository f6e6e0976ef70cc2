/**
 * The FTPS server's options and the records it hands out: users, login requests, log entries,
 * events, log writers, and the running server. `serveFtpsWith` (ftps/server.ts) takes them; the session driver and
 * the login guard read them.
 *
 * @module
 */

import type { FtpsDirectoryPermissions } from "./permissions.ts";
import type {
  FtpDataResult,
  FtpHashAlgorithm,
  FtpServerEvent,
  FtpServerSessionOptions,
  FtpTransferCommand,
} from "./server_session.ts";
import type { FtpStorage } from "./storage.ts";
import type { FtpPeerCertificate, FtpTlsServerContext, FtpTlsServerOptions } from "./transport.ts";
/** One user of {@linkcode ServeFtpsOptions.users}. */
export interface FtpsUserOptions {
  /** The password, in clear (absent, with no `passwordHash`: this user logs in only with a
   * certificate). A text that begins `$scrypt$` or `$pbkdf2-sha256$` is refused here: give a hash
   * as `passwordHash`. */
  password?: string;
  /** The password's hash instead of the password: `$scrypt$N=..,r=..,p=..$SALT$HASH` or
   * `$pbkdf2-sha256$i=..$SALT$HASH`, from `hashFtpsPassword` or `ftkit ftps passwd`. Checked at
   * start (form and work bounds); logins compare it in constant time. */
  passwordHash?: string;
  /** SHA-256 fingerprints (`AB:CD:...`, colons and case optional) of TLS client certificates
   * that log this user in without a password (232, RFC 4217 section 12.2). */
  certificates?: readonly string[];
  /** The directory this user sees as `/` (default: the server's `root`). */
  root?: string;
  /** What this user sees, instead of a directory. */
  storage?: FtpStorage;
  /** Whether this user may change files (default: the server's `allowWrite`). */
  allowWrite?: boolean;
  /** Sessions this user may hold at once (default: the server's `maxSessionsPerUser`). */
  maxSessions?: number;
  /** This user's bandwidth, shared by all their sessions (default: the server's
   * `userBandwidth`). */
  bandwidth?: FtpsBandwidth;
  /** This user's storage quota (default: the server's `userQuota`). */
  quota?: FtpsQuota;
  /** This user's per-directory permissions (default: the server's `permissions`). */
  permissions?: FtpsDirectoryPermissions;
  /** The networks (CIDR, or lone addresses) this user may log in from (default: any). A login
   * from elsewhere fails as a wrong password does (530, counted for the lockout). */
  allow?: readonly string[];
  /** The networks this user may not log in from (it wins over `allow`). */
  deny?: readonly string[];
  /** Whether this user's uploads and renames may replace or change existing files in their
   * directory (default: the server's `allowOverwrite`). */
  allowOverwrite?: boolean;
}

/**
 * Bandwidth limits, in bytes per second, each direction on its own: `upload` is what clients
 * send (STOR, APPE, STOU), `download` what the server sends (RETR and listings). Each at least
 * 1024; absent: unlimited. Paced as token buckets that allow a burst of a quarter second's worth
 * (at least 16 KiB) after a quiet time.
 */
export interface FtpsBandwidth {
  /** Bytes per second clients may send. */
  upload?: number;
  /** Bytes per second the server may send. */
  download?: number;
}

/**
 * A storage quota: the most bytes and files the storage a user logs in to may hold (users who
 * share a root share its usage). Counted once over the whole tree (at most a million entries)
 * when a write first needs it, then kept up to date by the server's uploads, deletes and renames;
 * changes made by others than the server are seen at its next start. An upload that would pass
 * it is answered 552 before any data when its size is known (ALLO, RFC 959 section 4.1.3; or a
 * new file past `files`), else at the byte that passes it, and leaves no partial file.
 */
export interface FtpsQuota {
  /** Bytes of all files together. */
  bytes?: number;
  /** Number of files. */
  files?: number;
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

/** What every log entry and event of one control connection carries. */
export interface FtpsSessionInfo {
  /** The control connection's id: the same on every entry and event of one session, and never
   * given to another connection while the server runs (a random tag of the server, then a
   * count: `"3f9a61c2-7"`). */
  readonly sessionId: string;
  /** The client's IP address. */
  readonly remoteAddress: string;
}

/** How a file operation on the control connection (DELE, MKD, RMD, RNTO) ended, in its log
 * entry. */
export interface FtpsFileOutcome {
  /** The user. */
  readonly user: string;
  /** The command, as sent (`DELE`, `MKD` or `XMKD`, `RMD` or `XRMD`, `RNTO`). */
  readonly command: string;
  /** Wall time in ms. */
  readonly durationMs: number;
  /** Whether the storage did it. */
  readonly outcome: "ok" | "failed";
  /** When it failed: the reply code the client got (550 not found or not allowed, 553 name not
   * allowed, 450, 451, 452, 552). */
  readonly code?: number;
}

/** One line of the server's log ({@linkcode ServeFtpsOptions.onLog}, `logWriters`). Every
 * entry names its session and client; paths are the client's view of the tree (`/incoming/a.bin`),
 * never a path of the server's file system. */
export type FtpsLogEntry =
  | FtpsSessionInfo & {
    /** A connection was refused before its session began (`proxy-untrusted`: at its first
     * bytes, after the greeting). The client is the connection's peer until a PROXY protocol
     * header named another. */
    readonly type: "refused";
    /** Why: too many sessions, in all or from the client's address; the address locked out;
     * the implicit TLS handshake failed; no valid PROXY protocol header in time from a trusted
     * proxy (`proxy-header`), or one from an address that is not trusted (`proxy-untrusted`). */
    readonly reason:
      | "max-sessions"
      | "max-sessions-per-ip"
      | "locked-out"
      | "tls"
      | "proxy-header"
      | "proxy-untrusted"
      | "denied";
  }
  | FtpsSessionInfo & {
    /** A data connection was refused: it came from another host than the client's
     * (`foreign-host`, RFC 2577 section 3), or to a passive port that had its connection already
     * (`extra-connection`; from the client's own address it fails the transfer, 426: one of the
     * two is another program), or its TLS session did not resume when it had to
     * (`not-resumed`, 522). */
    readonly type: "data-refused";
    /** The user, if one logged in. */
    readonly user: string | undefined;
    /** Where the data connection came from. */
    readonly from: string;
    /** Why. */
    readonly reason: "foreign-host" | "extra-connection" | "not-resumed";
  }
  | FtpsSessionInfo & {
    /** A login succeeded or failed. */
    readonly type: "login";
    /** The user name. */
    readonly user: string;
    /** Whether it succeeded. */
    readonly ok: boolean;
    /** How: a password, or the client's certificate alone (232). */
    readonly method: "password" | "certificate";
    /** Good credentials refused by a limit: the user held every session they may. */
    readonly refused?: "max-sessions-per-user";
  }
  | FtpsSessionInfo & {
    /** A data transfer ended: a file's (RETR, STOR, APPE, STOU) or a listing's. */
    readonly type: "transfer";
    /** The user. */
    readonly user: string | undefined;
    /** Whether the user logged in as the anonymous user. */
    readonly anonymous: boolean;
    /** The command. */
    readonly command: FtpTransferCommand;
    /** The file moved (STOU: the name the storage chose), or what a listing listed. */
    readonly path: string;
    /** `send` (RETR, listings) or `receive` (STOR, APPE, STOU). */
    readonly direction: "send" | "receive";
    /** The representation type (TYPE): `I` bytes as they are, `A` text with line ends
     * converted. */
    readonly representation: "A" | "I";
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
  | FtpsSessionInfo & FtpsFileOutcome & {
    /** DELE, MKD or RMD (or XMKD, XRMD) ended: done or refused. */
    readonly type: "delete" | "mkdir" | "rmdir";
    /** The path. */
    readonly path: string;
  }
  | FtpsSessionInfo & FtpsFileOutcome & {
    /** RNTO (after RNFR) ended: done or refused. */
    readonly type: "rename";
    /** The old name. */
    readonly from: string;
    /** The new name. */
    readonly to: string;
  }
  | FtpsSessionInfo & {
    /** A session ended. */
    readonly type: "closed";
    /** The user, if one logged in. */
    readonly user: string | undefined;
    /** Why: the machine's reason, or `disconnected` when the client went away. */
    readonly reason: Extract<FtpServerEvent, { type: "closed" }>["reason"] | "disconnected";
  };

/**
 * What happened to files and sessions, for an application to act on
 * ({@linkcode ServeFtpsOptions.onEvent}): one event per login, per completed upload or download,
 * per file operation done, and per session's end. Failures (a refused DELE, an aborted or
 * truncated upload) give no event; the log has them. Paths are the client's view of the tree.
 */
export type FtpsEvent =
  | FtpsSessionInfo & {
    /** A login succeeded or failed. */
    readonly type: "login";
    /** The user name. */
    readonly user: string;
    /** Whether it succeeded. */
    readonly ok: boolean;
    /** How: a password, or the client's certificate alone (232). */
    readonly method: "password" | "certificate";
  }
  | FtpsSessionInfo & {
    /** An upload is complete and in place: with `ftpDirectoryStorage`, the temporary file is
     * renamed to `path` before this event fires, so the whole file is there to read. */
    readonly type: "upload";
    /** The user. */
    readonly user: string;
    /** The command: STOR, APPE (appended to the file) or STOU (a name the storage chose). */
    readonly command: "STOR" | "APPE" | "STOU";
    /** The file. */
    readonly path: string;
    /** The bytes this upload wrote to the file (after TYPE A's line ends; APPE and REST add
     * them to what was there). */
    readonly size: number;
  }
  | FtpsSessionInfo & {
    /** A download (RETR) is complete: every byte sent, and the data connection closed cleanly. */
    readonly type: "download";
    /** The user. */
    readonly user: string;
    /** The file. */
    readonly path: string;
    /** The bytes read from the file (from REST's offset on). */
    readonly size: number;
  }
  | FtpsSessionInfo & {
    /** A file was deleted (DELE), a directory made (MKD) or removed (RMD). */
    readonly type: "delete" | "mkdir" | "rmdir";
    /** The user. */
    readonly user: string;
    /** The path. */
    readonly path: string;
  }
  | FtpsSessionInfo & {
    /** A file or directory was renamed (RNFR, then RNTO). */
    readonly type: "rename";
    /** The user. */
    readonly user: string;
    /** The old name. */
    readonly from: string;
    /** The new name. */
    readonly to: string;
  }
  | FtpsSessionInfo & {
    /** A session ended (its control connection is closed, its transfers over). */
    readonly type: "session-end";
    /** The user, if one logged in. */
    readonly user: string | undefined;
    /** Why, as the `closed` log entry says. */
    readonly reason: Extract<FtpsLogEntry, { type: "closed" }>["reason"];
  };

/**
 * Where the server's log goes, besides `onLog`: `ftpsJsonLogWriter` and `ftpsXferLogWriter`
 * make them, or write your own. The server calls `write` for each entry, and `close` when it
 * closes.
 */
export interface FtpsLogWriter {
  /**
   * Writes an entry (or leaves it out, when its format has no place for it).
   *
   * @param entry The entry.
   */
  write(entry: FtpsLogEntry): void;
  /** Writes what is pending and lets go of the file. */
  close(): Promise<void>;
}

/**
 * One rule of {@linkcode ServeFtpsOptions.passiveHost}: what PASV replies name to clients of
 * `network`.
 */
export interface FtpsPassiveHostRule {
  /** The client networks the rule is for (CIDR, `"10.0.0.0/8"`, or lone addresses); absent:
   * every client. Matched against the client's real address (behind a PROXY protocol proxy,
   * the one its header gives). */
  network?: string | readonly string[];
  /** An IPv4 address, or a host name resolved at each session's first PASV; absent: the
   * address the client reached the server on (no override for these networks). */
  host?: string;
}

/** Options of {@linkcode ServeFtpsOptions.proxyProtocol}. */
export interface FtpsProxyProtocolOptions {
  /**
   * The proxies (CIDR networks or addresses) whose connections begin with a PROXY protocol
   * header, version 1 or 2 (HAProxy's `send-proxy`, `send-proxy-v2`). From them the header is
   * required, within `headerTimeoutMs` and before anything else; connections from other
   * addresses are served as they come, with their own address, and one that sends a header is
   * refused (`proxy-untrusted`). Keep the list to the proxies: whoever is on it can claim any
   * client address.
   */
  trusted: readonly string[];
  /** How long a trusted proxy has to send the header, in ms (default 5000). */
  headerTimeoutMs?: number;
  /**
   * Passive data connections come through the proxies too (their data ports forwarded without
   * a header): take them from a trusted proxy's address as well as from the client's (default
   * false). A proxy's connection cannot be told apart from another client of that proxy, so the
   * RFC 2577 data-connection check then only holds for connections that do not come through it.
   */
  dataThroughProxy?: boolean;
}

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
  /**
   * Serve on a TCP socket that listens already, inherited as this file descriptor, instead of
   * binding `host` and `port` (which must then be absent): systemd socket activation passes its
   * first socket as 3 (`LISTEN_FDS`, sd_listen_fds(3)), so a service can serve port 21 without
   * the privilege to bind it. Node, Bun and Deno can adopt one.
   */
  fd?: number;
  /** Passive data ports come from this inclusive range (default: any free port). */
  passivePorts?: readonly [number, number];
  /**
   * What PASV replies name instead of the address the client reached the server on, for a
   * server behind NAT or a load balancer: an IPv4 address, or a host name resolved (within 5 s,
   * to an IPv4 address: PASV carries no other) at each session's first PASV, so that a dynamic
   * address is followed; a name that does not resolve gets its PASV a 425 (EPSV still works).
   * Or rules per client network, the first that holds the client's address winning:
   * `[{ network: "10.0.0.0/8" }, { host: "ftp.example.com" }]` names the server's own address to
   * the LAN and the public name to everyone else. EPSV names no address and is unaffected.
   */
  passiveHost?: string | readonly FtpsPassiveHostRule[];
  /**
   * Read a PROXY protocol header (HAProxy's versions 1 and 2) at the start of connections from
   * trusted proxies, and take the client's address from it: for the log, the per-address
   * session limit and lockout, the `authenticate` hook, the passive host rules and the RFC 2577
   * data-connection checks (passive data connections must come from the client's real address,
   * unless `dataThroughProxy`). The server's greeting waits for the header; under implicit TLS
   * the header comes before the handshake. Off by default.
   */
  proxyProtocol?: FtpsProxyProtocolOptions;
  /** Sessions at once (default 256); more are answered 421 and closed. */
  maxSessions?: number;
  /** Sessions at once from one IP address, or one IPv6 /64 (default 10). */
  maxSessionsPerIp?: number;
  /** Logged-in sessions at once of one user (default: unlimited); a login past it is answered
   * 530 "Too many sessions for this user." and counts as no failed login. A user's
   * `maxSessions` overrides it. */
  maxSessionsPerUser?: number;
  /** The whole server's bandwidth, shared by every session. */
  bandwidth?: FtpsBandwidth;
  /** Each user's bandwidth, shared by that user's sessions (a user's `bandwidth` overrides it;
   * anonymous users share one). */
  userBandwidth?: FtpsBandwidth;
  /** Each user's storage quota (a user's `quota` overrides it). */
  userQuota?: FtpsQuota;
  /**
   * The networks (CIDR, or lone addresses) the server serves (default: every one not denied);
   * a connection from elsewhere is answered 421 and closed before its session begins, logged
   * `refused`, `denied`. Behind a PROXY protocol proxy, the header's client is the one checked.
   */
  allow?: readonly string[];
  /** The networks the server refuses (it wins over `allow`). */
  deny?: readonly string[];
  /**
   * Per-directory permissions of every user (a user's own `permissions` replaces them): what may
   * be done in each directory of the user's tree, inherited below it until a deeper directory
   * has its own (see `FtpsPermission`). They narrow, never widen, what `allowWrite` and
   * `allowOverwrite` allow; a refusal is 550 "Permission denied.", and the MLST/MLSD `perm` fact
   * shows them.
   */
  permissions?: FtpsDirectoryPermissions;
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
  /** Sessions, logins, transfers and file operations, as they happen. */
  onLog?: (entry: FtpsLogEntry) => void;
  /**
   * Where else the log goes (`ftpsJsonLogWriter`, `ftpsXferLogWriter`). The server owns them from
   * this call on: it closes them when it closes, or when it fails to start.
   */
  logWriters?: readonly FtpsLogWriter[];
  /**
   * Logins, completed uploads and downloads, deletes, renames, new and removed directories, and
   * sessions' ends, as typed events ({@linkcode FtpsEvent}), for an application to act on (such as
   * processing each uploaded file). Called in the order things happen; not awaited: the session
   * goes on meanwhile. What it throws, or the promise it returns rejects with, goes to `onError`
   * and does not touch the session.
   */
  onEvent?: (event: FtpsEvent) => void | Promise<void>;
  /** Errors of the listening socket, and anything unexpected in a session. */
  onError?: (error: Error) => void;
}

/** Options of {@linkcode FtpsServer.close}. */
export interface FtpsServerCloseOptions {
  /**
   * How long transfers that are running may take to finish, in ms (default 0: every session and
   * transfer is closed at once). Listening stops at once; idle sessions are answered 421 and
   * closed at once; a session with a transfer running gets its transfer's reply, then 421. What
   * still runs at the deadline is closed then.
   */
  graceMs?: number;
}

/** A running FTPS server. */
export interface FtpsServer extends AsyncDisposable {
  /** Where it listens. */
  readonly address: { readonly host: string; readonly port: number };
  /** Sessions open now. */
  readonly sessions: number;
  /**
   * Stops listening and closes every session and transfer: at once, or after the transfers that
   * are running finish (`graceMs`). A second call while a graceful close runs returns the same
   * promise; without `graceMs` it cuts the grace short.
   */
  close(options?: FtpsServerCloseOptions): Promise<void>;
  /**
   * Replaces the server's certificate and key (say, renewed) for the TLS handshakes that come
   * next: AUTH TLS and implicit TLS on new connections, and the data connections of sessions that
   * secure their control connection from now on. Sessions secured before keep the certificate
   * they began with, so that their data connections still resume their TLS session (RFC 4217
   * section 10.2). `requestClientCertificate` cannot change.
   *
   * @param tls The new certificate chain and key (and the other TLS options), or a context
   * already made by the transport.
   * @throws {TypeError} When the server is plain FTP, `requestClientCertificate` changes, or the
   * key does not match the certificate. The old certificate stays in use.
   * @throws {Error} When the certificate or key cannot be read (the old ones stay in use).
   */
  setTls(tls: FtpTlsServerOptions | FtpTlsServerContext): void;
}
