/**
 * The FTP/FTPS server machine's interface types: its options, what it asks of the storage and
 * the storage's answers, the events it gives its driver, and the inputs the driver gives back
 * (the control connection's addresses, how a data connection ended). They are exported from
 * `server_session.ts`.
 *
 * @module
 */

import type { FtpsDirectoryPermissions } from "./permissions.ts";
import type { FtpHostPort } from "../codec/mod.ts";
import type { FtpStorageEntry, FtpStorageStat } from "./storage.ts";

/** What the server machine asks of its storage (paths are absolute in the virtual tree). */
export type FtpStorageRequest =
  | {
    /** Facts about a path: for CWD, SIZE, MDTM, RNFR, MLST, STAT and the listings. */
    readonly op: "stat";
    /** The path. */
    readonly path: string;
  }
  | {
    /** A directory's entries (LIST, NLST, MLSD, STAT). */
    readonly op: "list";
    /** The directory. */
    readonly path: string;
    /** For a listing sent on a data connection (LIST, NLST, MLSD; never STAT): the driver may
     * answer with the first page of the entries only, and `more`, keeping what gives the rest
     * for the `transfer-data` event that follows (as it keeps a file opened for `read`). */
    readonly paged?: boolean;
  }
  | {
    /** Open a file for reading from `offset` (RETR; the offset comes from REST). The driver keeps
     * what it opened for the `transfer-data` event that follows a successful result. */
    readonly op: "read";
    /** The path. */
    readonly path: string;
    /** Where to start, in bytes. */
    readonly offset: number;
    /** How many bytes to send at most (RANG's range), when not to the end. */
    readonly length?: number;
  }
  | {
    /** Open a file for writing (STOR, APPE): truncated at `offset` (0 makes it new or empty; REST
     * gives more), or appended to. The driver keeps what it opened for `transfer-data`. */
    readonly op: "write";
    /** The path. */
    readonly path: string;
    /** Where to start, in bytes (ignored when appending). */
    readonly offset: number;
    /** Whether to append (APPE). */
    readonly append: boolean;
    /** The size the client announced with ALLO (RFC 959 section 4.1.3), when it did: a storage
     * with a quota can refuse (552) before any data comes. */
    readonly size?: number;
  }
  | {
    /** Create a file under a name of the storage's choosing (STOU), in `directory`; its path goes
     * back in the result. */
    readonly op: "write-unique";
    /** Where. */
    readonly directory: string;
    /** The size the client announced with ALLO, when it did. */
    readonly size?: number;
  }
  | {
    /** Make a directory (MKD). */
    readonly op: "mkdir";
    /** The path. */
    readonly path: string;
  }
  | {
    /** Remove an empty directory (RMD). */
    readonly op: "rmdir";
    /** The path. */
    readonly path: string;
  }
  | {
    /** Delete a file (DELE). */
    readonly op: "delete";
    /** The path. */
    readonly path: string;
  }
  | {
    /** Rename (RNFR, RNTO). */
    readonly op: "rename";
    /** The current path. */
    readonly from: string;
    /** The new path. */
    readonly to: string;
  }
  | {
    /** Set a modification time (MFMT): `FtpStorage.setModified`. */
    readonly op: "set-modified";
    /** The path. */
    readonly path: string;
    /** The new modification time. */
    readonly modified: Date;
  }
  | {
    /** Set permission bits (SITE CHMOD): `FtpStorage.chmod`. */
    readonly op: "chmod";
    /** The path. */
    readonly path: string;
    /** The bits, 0 to 0o777. */
    readonly mode: number;
  }
  | {
    /** Hash a file's first `length` bytes, as a TYPE I download would send them (HASH, XCRC,
     * XMD5, XSHA1, XSHA256): the digest goes back in the result's `hash`, the bytes hashed in
     * its `size` (fewer when the file shrank meanwhile). The driver may refuse with 450 when it
     * is busy hashing for others. */
    readonly op: "hash";
    /** The file. */
    readonly path: string;
    /** The algorithm. */
    readonly algorithm: FtpHashAlgorithm;
    /** Where to start hashing, in bytes (RANG's first byte; 0 for the whole file). */
    readonly offset?: number;
    /** The bytes to hash: the size the machine saw (or RANG's range), within its limit. */
    readonly length: number;
  };

/** The storage's answer to a request. */
export type FtpStorageResult =
  | {
    /** Done. */
    readonly ok: true;
    /** For `stat`: what the path is. */
    readonly stat?: FtpStorageStat;
    /** For `read`, when known: the file's whole size in bytes (it goes in the 150 reply). For
     * `hash`: the bytes hashed. */
    readonly size?: number;
    /** For `hash`: the digest, in lower-case hex. */
    readonly hash?: string;
    /** For `list`: the entries (for a `paged` one with `more`, the first page). */
    readonly entries?: readonly FtpStorageEntry[];
    /** For a `paged` `list`: `entries` is the first page, and more may follow; the driver holds
     * them for the transfer, which formats them with the event's `listingFormat`. */
    readonly more?: boolean;
    /** For `list`: the wall-clock time of the listing, for LIST's rule that entries older than
     * six months show a year instead of a time (without it every entry shows its year). */
    readonly now?: Date;
    /** For `write-unique`: the path of the file made. */
    readonly path?: string;
  }
  | {
    /** Refused or failed. */
    readonly ok: false;
    /** The reply code (default 550: not found or no access; 450 busy; 451 local error; 452 or
     * 552 out of space; 553 name not allowed). */
    readonly code?: 450 | 451 | 452 | 550 | 552 | 553;
    /** The reply text (default "Requested action not taken."). Never a real server path. */
    readonly message?: string;
  };

/** Options of {@linkcode FtpServerSession}. */
export interface FtpServerSessionOptions {
  /** TLS on the control connection: offered through AUTH TLS (`"explicit"`, default), there from
   * the first byte (`"implicit"`), or not at all (`"none"`). */
  tls?: "explicit" | "implicit" | "none";
  /** Refuse USER until the control connection is protected (default true when TLS is offered;
   * RFC 4217 section 10.1). */
  requireTlsForLogin?: boolean;
  /** Let `anonymous` and `ftp` log in (default false). */
  allowAnonymous?: boolean;
  /** Let the anonymous user log in without TLS even when TLS is required (default false). */
  anonymousWithoutTls?: boolean;
  /** The data protection the server accepts (RFC 4217 section 10.2): `"required"` (PROT P before
   * any transfer; default), `"optional"`, or `"none"` (PROT C only). */
  dataProtection?: "required" | "optional" | "none";
  /** Accept CCC (default false: 500, RFC 4217 section 5). */
  allowCcc?: boolean;
  /** The greeting's text (default `"ftkit FTP server ready"`). */
  greeting?: string;
  /** Failed logins before the session is closed with 421 (default 3). */
  maxLoginAttempts?: number;
  /** The longest command line, in bytes (default 4096). */
  maxLineLength?: number;
  /** Commands held while the machine waits (a TLS handshake, a credential check); more close the
   * session (default 16). */
  maxPendingCommands?: number;
  /** Inactivity before the session is closed with 421, in ms (default 300000): the time since the
   * last whole command line, or the server's last answer to one (a byte at a time is no
   * activity); a transfer in progress is not inactivity. */
  idleTimeoutMs?: number;
  /** The time from the greeting (or REIN) to a completed login, in ms, after which the session is
   * closed with 421 (default 60000): a client that connects and never logs in holds no slot for
   * long. */
  loginTimeoutMs?: number;
  /** The time a command line may take to arrive, from its first byte to its end, in ms (default
   * 30000): a client that trickles a byte at a time is closed with 421. */
  lineTimeoutMs?: number;
  /** What a 227 reply names (default: the control connection's local address), for a server
   * behind NAT: an IPv4 address, or a host name (RFC 1123) that the driver resolves to an IPv4
   * address at the session's first PASV (`listen-data` with `resolve`), so that a dynamic address
   * is followed. EPSV names no address and is unaffected. */
  passiveHost?: string;
  /** Let data connections come from, and PORT/EPRT point to, hosts other than the control
   * connection's peer and ports below 1024 (default false: RFC 2577 section 3's bounce attack and
   * section 7's port stealing). */
  allowForeignDataHosts?: boolean;
  /** Refuse a protected data connection whose TLS session is not a resumption of the control
   * connection's (522; RFC 4217 section 10.2). Default false. Never after REIN, which may not
   * mandate cached sessions (RFC 4217 section 13). */
  requireTlsResumption?: boolean;
  /** Ask the driver whether the TLS client certificate alone identifies the user named by USER
   * on a protected control connection (an `authenticate-certificate` event); if it does, USER is
   * answered 232 and no password is asked (RFC 4217 section 12.2). Default false. */
  certificateLogin?: boolean;
  /** Serve MFMT (draft-somers-ftp-mfxx-04) to users whose {@linkcode FtpUserAccess} has `write`
   * and `setModified`; FEAT lists it before login when this is on, after login when the user may
   * use it (default false: 502). */
  mfmt?: boolean;
  /** Serve `SITE CHMOD` to users whose {@linkcode FtpUserAccess} has `chmod`, when they may
   * write (default false: 504). */
  siteChmod?: boolean;
  /** The algorithms HASH (draft-bryan-ftpext-hash-02) and the X commands (XCRC, XMD5, XSHA1,
   * XSHA256) compute, in FEAT's order; SHA-256, when listed, is selected at first, else the first
   * one (default none: HASH and the X commands are 502). */
  hashAlgorithms?: readonly FtpHashAlgorithm[];
  /** The largest file HASH and the X commands hash, in bytes (default 1 GiB); a larger one is
   * refused: 556 to HASH, as the draft's section 3.5 says for policy, 550 to the X commands. */
  hashMaxBytes?: number;
}

/** A hash algorithm of HASH and the X commands, by its IANA "Hash Function Textual Name". */
export type FtpHashAlgorithm = "SHA-256" | "SHA-1" | "MD5" | "CRC32";

/**
 * What a logged-in user may do, as the driver knows it (its policy and the user's storage) and
 * tells {@linkcode FtpServerSession.loginResult}: it sets the MLST/MLSD `perm` fact (RFC 3659
 * section 7.5.5) and which of MFMT and SITE CHMOD the user gets. Absent fields are false. The
 * storage still decides each request.
 */
export interface FtpUserAccess {
  /** Changes: uploads, MKD, RMD, DELE, renames, MFMT, SITE CHMOD. */
  readonly write?: boolean;
  /** With `write`, replacing or changing existing files: STOR onto one, APPE, RNTO onto one. */
  readonly overwrite?: boolean;
  /** The storage can set modification times (MFMT). */
  readonly setModified?: boolean;
  /** The storage can set permission bits (SITE CHMOD). */
  readonly chmod?: boolean;
  /** Per-directory permissions the storage enforces (`ftpPermissionStorage`): the `perm` fact
   * and MFMT, SITE CHMOD and HASH keep to them too. */
  readonly directories?: FtpsDirectoryPermissions;
}

/** The control connection's two ends, for PASV replies and the data connection checks. */
export interface FtpServerAddresses {
  /** The server's address on the control connection. */
  readonly local: string;
  /** The client's address. */
  readonly remote: string;
}

/** How a data connection ended, as its driver reports it to `dataResult`. */
export type FtpDataResult =
  | {
    /** Every byte moved, and the connection closed cleanly. */
    readonly ok: true;
  }
  | {
    /** It failed. */
    readonly ok: false;
    /** Where: no connection came or could be made (425), the TLS handshake failed (522), the
     * TLS session was not resumed when that is required (522), the connection broke (426), a
     * protected upload ended without TLS close_notify (`truncated`, 426), a second data
     * connection came from the client's host (`contested`, 426: one of them is not the
     * client's), or the storage failed (`code`, default 451). */
    readonly reason:
      | "connect"
      | "tls"
      | "tls-resumption"
      | "broken"
      | "truncated"
      | "contested"
      | "storage";
    /** For `storage`: the reply code (451 local error; 452 or 552 out of space). */
    readonly code?: 451 | 452 | 552;
    /** For `storage`: the reply text. Never a real server path. */
    readonly message?: string;
  };

/** The commands that move data on a data connection: the file transfers (RFC 959 section
 * 4.1.3) and the listings (RFC 959 section 4.1.3, RFC 3659 section 7). */
export type FtpTransferCommand = "RETR" | "STOR" | "APPE" | "STOU" | "LIST" | "NLST" | "MLSD";

/** What the server machine tells its driver. `closed` is final. */
export type FtpServerEvent =
  | {
    /** The 234 to AUTH TLS is queued: send it, then run TLS on the control connection as its
     * server and call `controlUpgraded(now)` (or `controlUpgradeFailed(now)`). */
    readonly type: "upgrade-control";
  }
  | {
    /** The 200 to CCC, or the 220 to REIN, is queued: send it, shut TLS down on the control
     * connection (keeping TCP), then call `controlCleared(now)`. */
    readonly type: "clear-control";
  }
  | {
    /** Check these credentials and call `loginResult(now, ok)`. */
    readonly type: "authenticate";
    /** The user name. */
    readonly user: string;
    /** The password. */
    readonly password: string;
    /** Whether the control connection is protected. */
    readonly protected: boolean;
    /** Whether the user is `anonymous` or `ftp` (let this far only with `allowAnonymous`): any
     * password is taken, and the session gets the anonymous storage. */
    readonly anonymous: boolean;
  }
  | {
    /** USER on a protected control connection, with `certificateLogin` on: check whether the
     * client's TLS certificate identifies this user and call `certificateResult(now, ok)`. */
    readonly type: "authenticate-certificate";
    /** The user name. */
    readonly user: string;
  }
  | {
    /** Carry out this storage request and call `storageResult(now, result)`. */
    readonly type: "storage";
    /** The request. */
    readonly request: FtpStorageRequest;
    /** The command that asked, its verb in upper case as the client sent it (`DELE`, `MKD` or
     * `XMKD`, `RNTO`, `STOR`, `LIST`...), for the driver's log. */
    readonly command: string;
  }
  | {
    /** PASV or EPSV: listen on a fresh TCP port of the control connection's local address
     * (`family` 4 or 6), then call `dataListening(now, port)` (or `dataListenFailed(now)`). */
    readonly type: "listen-data";
    /** The address family. */
    readonly family: 4 | 6;
    /** PASV, with `passiveHost` a host name not yet resolved in this session: resolve it to an
     * IPv4 address (bounded in time) and pass it to `dataListening(now, port, address)`, or call
     * `dataListenFailed(now, "unresolved")`. */
    readonly resolve?: string;
  }
  | {
    /** Close the passive listener (or a data connection accepted early) and forget it. */
    readonly type: "close-data";
  }
  | {
    /** A transfer is accepted and its 150 queued: get the data connection (accept it on the
     * passive listener, or connect to `connect`), run TLS on it as its server when `tls`, move
     * the bytes, close it, then call `dataResult(now, id, result)`. */
    readonly type: "transfer-data";
    /** The transfer. */
    readonly id: number;
    /** The command that started it. */
    readonly command: FtpTransferCommand;
    /** What it moves, as an absolute path in the virtual tree (the client's view, never a real
     * path): the file (RETR, STOR, APPE; STOU: the one the storage made), or what a listing
     * lists. */
    readonly path: string;
    /** `send` (RETR, and listings) or `receive` (STOR, APPE, STOU). */
    readonly direction: "send" | "receive";
    /** Active mode: where to connect. Absent in passive mode. */
    readonly connect?: FtpHostPort;
    /** Passive mode: the only host a data connection may come from (others are closed unread),
     * as the control connection's peer was given to `start`; compare addresses with
     * `sameFtpHost`, not as text. `undefined` when any host may connect. */
    readonly acceptFrom?: string;
    /** Whether the data connection is TLS (PROT P). */
    readonly tls: boolean;
    /** Whether the data connection's TLS session must resume the control connection's. */
    readonly requireTlsResumption: boolean;
    /** The representation type (TYPE): `I` bytes as they are, `A` text with CRLF line ends. */
    readonly representation: "A" | "I";
    /** For a listing: the bytes to send as they are, whatever the representation type (the
     * storage was not opened): all of it, or with `listingFormat` its first page. */
    readonly listing?: Uint8Array;
    /** For a listing whose storage answered `more`: formats each page the driver reads after
     * the first into the bytes to send as they are, as `listing` was formatted (the same clock,
     * MLST facts and permissions, whatever the session does meanwhile). A pure function. */
    readonly listingFormat?: (entries: readonly FtpStorageEntry[]) => Uint8Array;
  }
  | {
    /** ABOR: drop the transfer's data connection now, and with it what the storage opened (an
     * upload stays incomplete). No `dataResult` is expected; one that comes is ignored. */
    readonly type: "abort-data";
    /** The transfer. */
    readonly id: number;
  }
  | {
    /** Someone logged in. */
    readonly type: "logged-in";
    /** The user name. */
    readonly user: string;
  }
  | {
    /** The user logged in is no more (REIN, or TLS coming up on the control connection): what
     * the driver holds for the login (a session slot of the user's) goes. */
    readonly type: "logged-out";
  }
  | {
    /** The session is over: close the control connection once the queued replies are sent, and
     * any data connection or listener at once. */
    readonly type: "closed";
    /** Why. */
    readonly reason:
      | "quit"
      | "idle"
      | "login-timeout"
      | "line-timeout"
      | "too-many-logins"
      | "protocol-error"
      | "tls-failed"
      | "shutdown";
  };
