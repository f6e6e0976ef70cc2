/**
 * The words of the FTP/FTPS client machine that its users see: its options, the transfer
 * requests it takes and the events it gives. {@linkcode FtpClientSession} (client_session.ts)
 * exports them; its parts (set-up, data channel) share them from here.
 *
 * @module
 */

import type { FtpReply } from "../codec/mod.ts";
import type { FtpReplyError } from "./reply_error.ts";

/** How the client gets TLS on the control connection (RFC 4217 section 4). */
export type FtpTlsMode =
  /** `AUTH TLS` after the greeting (RFC 4217); refused AUTH ends the session. */
  | "explicit"
  /** The connection is TLS from its first byte (port 990 style): the driver connects with TLS. */
  | "implicit"
  /** Plain FTP: no TLS at all. */
  | "none";

/** How data connections are made. */
export type FtpDataConnectionMode =
  /** EPSV first, PASV when the server refuses it (remembered for the session). */
  | "passive"
  /** The client listens and sends EPRT (or PORT for IPv4 when EPRT is refused). */
  | "active";

/** Options of {@linkcode FtpClientSession}. */
export interface FtpClientSessionOptions {
  /** TLS on the control connection (default `"explicit"`). */
  tls?: FtpTlsMode;
  /** The user name (default `"anonymous"`). */
  user?: string;
  /** The password (default `"anonymous@"`). */
  password?: string;
  /** The account, for servers that answer 332 (RFC 959 ACCT). */
  account?: string;
  /** Data protection under TLS: `"P"` private (default) or `"C"` clear (RFC 4217 section 9). */
  protection?: "P" | "C";
  /** When PBSZ and PROT are sent: before USER (default, as RFC 4217 section 12.1 shows) or after
   * login, for servers that refuse them earlier (section 10.3). */
  protectAfterLogin?: boolean;
  /** Send `OPTS UTF8 ON` when FEAT lists UTF8 (default true). */
  utf8?: boolean;
  /** Data connections (default `"passive"`). */
  dataConnections?: FtpDataConnectionMode;
  /** The longest wait for a reply, in ms (default 30000). The time a transfer's data takes does
   * not count: a transfer's final reply is timed from the end of its data. */
  replyTimeoutMs?: number;
  /** Command lines to send after the greeting and before AUTH, for servers that need a SITE or
   * such command first (RFC 4217 section 10.3). A negative reply ends the session. */
  beforeAuth?: readonly string[];
}

/** A data transfer command. */
export interface FtpTransferRequest {
  /** The command: a download (RETR), an upload (STOR, APPE), or a listing (LIST, NLST, MLSD). */
  readonly command: "RETR" | "STOR" | "APPE" | "LIST" | "NLST" | "MLSD";
  /** The path (optional for listings). */
  readonly path?: string;
  /** Resume at this byte (REST before the command; RFC 3659 section 5). */
  readonly offset?: number;
}

/** What the client machine tells its driver. `closed` is final. */
export type FtpClientEvent =
  | {
    /** AUTH TLS was accepted: start TLS on the control connection as its client, then call
     * `controlUpgraded(now)`. Nothing is sent until then. */
    readonly type: "upgrade-control";
  }
  | {
    /** CCC was accepted (RFC 4217 section 5): shut TLS down on the control connection, keep the
     * TCP connection, then call `controlCleared(now)`. */
    readonly type: "clear-control";
  }
  | {
    /** The session is logged in and set up; operations may be queued (they may be earlier). */
    readonly type: "ready";
    /** The FEAT reply's features (empty when the server has no FEAT). */
    readonly features: ReadonlyMap<string, string>;
    /** The data protection level in force, or `undefined` without TLS. */
    readonly protection: "P" | "C" | undefined;
  }
  | {
    /** Passive mode: open a TCP connection to the control connection's host at `port`, then
     * call `dataConnected(now, id)` (or `dataFailed`). */
    readonly type: "connect-data";
    /** The operation. */
    readonly id: number;
    /** The port to connect to. */
    readonly port: number;
    /** The host the server named (227 only). The driver connects to the control connection's
     * host instead: a reply naming another host is how FTP bounce attacks start (RFC 2577). */
    readonly announcedHost?: string;
  }
  | {
    /** Active mode: listen for the server's data connection and call `dataListening(now, id,
     * address)` with the address the server should connect to. */
    readonly type: "listen-data";
    /** The operation. */
    readonly id: number;
  }
  | {
    /** The server accepted the transfer (125/150): move the bytes now. Under PROT P, first run
     * a TLS handshake on the data connection as its client (RFC 4217 section 7, also in active
     * mode). Call `dataEnded(now, id)` once a download reached its end or an upload was sent and
     * closed. */
    readonly type: "transfer-data";
    /** The operation. */
    readonly id: number;
    /** Whether the data connection must be TLS. */
    readonly tls: boolean;
    /** Which way the bytes go. */
    readonly direction: "download" | "upload";
  }
  | {
    /** `abort` stopped this transfer: close its data connection (or listener) now, unread, and
     * report nothing more about it. */
    readonly type: "abort-data";
    /** The transfer's operation. */
    readonly id: number;
  }
  | {
    /** An operation succeeded: its final reply (for a transfer, after the data ended too). */
    readonly type: "complete";
    /** The operation. */
    readonly id: number;
    /** The final reply. */
    readonly reply: FtpReply;
  }
  | {
    /** An operation failed; the session goes on. Close its data connection, if any. */
    readonly type: "failed";
    /** The operation. */
    readonly id: number;
    /** Why. */
    readonly error: FtpReplyError | Error;
  }
  | {
    /** The session is over: after QUIT, or for a fatal reason. Close every connection. */
    readonly type: "closed";
    /** Why: `"quit"`, `"timeout"`, `"server-closed"` (421 or end of stream), `"login-failed"`,
     * `"tls-refused"` (AUTH, PBSZ or PROT refused), `"tls-failed"` (the control connection's TLS
     * did not come up), `"protocol-error"`. */
    readonly reason:
      | "quit"
      | "timeout"
      | "server-closed"
      | "login-failed"
      | "tls-refused"
      | "tls-failed"
      | "protocol-error";
    /** The reply or error behind it. */
    readonly error?: FtpReplyError | Error;
  };
