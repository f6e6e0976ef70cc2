/**
 * The options and results of the FTPS client ({@linkcode FtpsClient}): how it connects, how a
 * transfer runs, what a listing and a transfer report.
 *
 * @module
 */

import type { FtpsProxyOptions } from "./_client_proxy.ts";
import type { FtpsRetryOptions } from "./client_retry.ts";
import type { FtpTlsClientOptions, FtpTransport } from "./transport.ts";

export type { FtpsProxyOptions } from "./_client_proxy.ts";

/** Options of {@linkcode FtpsClient.connect}. */
export interface FtpsClientOptions extends FtpTlsClientOptions {
  /** The server's host name or IP address. */
  host: string;
  /** The control port (default 21, or 990 for implicit TLS). */
  port?: number;
  /** TLS: `"explicit"` (AUTH TLS, default), `"implicit"` (TLS from the first byte), or `false`
   * (plain FTP: passwords and data in the clear). */
  secure?: "explicit" | "implicit" | false;
  /** The user (default `"anonymous"`). */
  user?: string;
  /** The password (default `"anonymous@"`). */
  password?: string;
  /** The account, for servers that ask (332). */
  account?: string;
  /** Data protection under TLS: `"P"` (default) or `"C"`. */
  protection?: "P" | "C";
  /** Passive data connections (default true); `false` listens for the server (active mode). */
  passive?: boolean;
  /** The longest wait for a reply, a connection or data, in ms (default 30000). */
  timeoutMs?: number;
  /**
   * A proxy the control and passive data connections go through: `socks5://[user:pass@]host:port`
   * (SOCKS5, RFC 1928 and RFC 1929; the server's name resolved here), `socks5h://...` (the proxy
   * resolves it) or `http://[user:pass@]host:port` (HTTP CONNECT with Basic authentication); or
   * `{ url, user, password }`. Active mode (`passive: false`) cannot go through one, and is
   * refused. TLS runs end to end, through the tunnel.
   */
  proxy?: string | FtpsProxyOptions;
  /** The transport: `connectFtps` fills it in with the running runtime's (or, from a per-runtime
   * entry point, that runtime's). */
  transport: FtpTransport;
  /**
   * Retry after a lost connection (off by default): the client tries again on the same session
   * if it is still up, else connects and logs in again and returns to the directory `cd` last
   * went to, and goes on. A download continues from the bytes
   * it had (REST), an upload from what the server kept (SIZE, then REST and STOR) when its source
   * can give those bytes again (bytes, text, a local file; a stream only if nothing was read
   * from it). Listings, `size`, `lastModified`, `pwd`, `cd` and a recursive `mkdir` are run again
   * whole; `remove`, `removeDir`, `rename`, a plain `mkdir`, an `append` that sent bytes and `raw`
   * are never sent twice (their outcome is unknown once the connection broke), though a
   * connection found lost before them is made again first. Never retried: a refused login (530),
   * a missing file (550), any other permanent refusal, a certificate that fails verification.
   */
  retry?: FtpsRetryOptions;
  /**
   * Whether a protected download's data connection must end with TLS close_notify (default
   * true; RFC 4217 sections 12.6 and 12.7). A TCP end alone may be a truncation (RFC 8446 section
   * 6.1): a RETR that ends so is accepted only when its bytes are the file's SIZE (asked then
   * only), else it fails with {@linkcode FtpTruncationError} (retried with REST under `retry`);
   * a listing that ends so fails (run again whole under `retry`). `false` takes any end the server answers 226 for as complete,
   * as plain FTP must: only for a server that never sends close_notify. A transport that cannot
   * tell (`closeNotified` undefined) is taken at its word either way.
   */
  requireCloseNotify?: boolean;
}

/** Options of a transfer. */
export interface FtpsTransferOptions {
  /** Start at this byte (REST; RFC 3659 section 5). */
  offset?: number;
  /** Called with the bytes moved so far. */
  onProgress?: (bytes: number) => void;
  /**
   * Stops the transfer: ABOR goes out on the control connection, the data connection is dropped
   * (an upload so that the server sees it cut short, never ended), and the operation rejects with
   * the signal's reason once the server has answered.
   */
  signal?: AbortSignal;
  /**
   * Checks the transfer (default false): the bytes' digest, computed here as they go by, is
   * compared with the server's digest of the file (HASH or XSHA256, XSHA1, XMD5, XCRC: the
   * strongest FEAT lists, SHA-256 first, CRC32 last). A difference rejects with
   * {@linkcode FtpChecksumError} (a download is then not delivered: `getFile` leaves the local
   * file as it was, `getTo` aborts its stream; an upload stays on the server as sent). A server
   * whose FEAT lists no checksum command fails it with {@linkcode FtpUnsupportedError} before
   * anything moves. Not with `append`, nor with `offset` but on `getFile` and `putFile` (which
   * hash the whole local file).
   */
  verify?: boolean;
}

/** One entry of a directory listing. */
export interface FtpsEntry {
  /** The name. */
  readonly name: string;
  /** What it is. */
  readonly type: "file" | "dir" | "link" | "other";
  /** Size in bytes, when the server says. */
  readonly size?: number;
  /** Last modification, when the server says it fully (MLSD). */
  readonly modified?: Date;
}

/** What a finished transfer reports. */
export interface FtpsTransferInfo {
  /** Bytes moved. */
  readonly bytes: number;
  /** Whether the data connection was TLS. */
  readonly tls: boolean;
  /** Whether its TLS session resumed the control connection's. */
  readonly resumed: boolean;
}
