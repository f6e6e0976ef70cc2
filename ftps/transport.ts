/**
 * The small TCP and TLS interface the FTPS drivers run on. Each runtime's adapter implements it
 * (`ftps/adapters/*.ts`); implement it yourself to run ftkit's FTPS client over another transport.
 *
 * @module
 */

/** How a TLS client checks and negotiates. */
export interface FtpTlsClientOptions {
  /** The name the server's certificate must carry, and the SNI sent (default: the host). */
  servername?: string;
  /** CA certificates (PEM) to trust instead of the system's. */
  ca?: string | readonly string[];
  /** Whether to verify the server's certificate (default true). Turn off only for a test server
   * whose certificate cannot be verified; the connection is then open to interception. */
  rejectUnauthorized?: boolean;
  /** The lowest TLS version (default `"TLSv1.2"`). */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** The highest TLS version (default `"TLSv1.3"`). */
  maxVersion?: "TLSv1.2" | "TLSv1.3";
  /** A client certificate chain (PEM, the leaf first), sent when the server asks for one (TLS
   * client authentication), on the control and the data connections. Needs `key`. */
  cert?: string;
  /** The private key (PEM, unencrypted) of `cert`'s leaf. */
  key?: string;
}

/**
 * The TLS sessions of one control connection: the control connection and each data connection
 * put the newest session they receive in it, and each protected data connection resumes from it
 * (RFC 4217 section 10.2: servers may require that). TLS 1.3 tickets arrive after the handshake
 * and are single-use, so the store belongs to one control connection and is never shared.
 * Opaque: only the adapter that made it reads it.
 */
export interface FtpTlsSessionStore {
  /** Whether a session is there to resume. */
  readonly ready: boolean;
  /** Why this session's data connections cannot resume its TLS session although the transport
   * can resume others (Deno's `node:tls` with a client certificate); absent when they can. */
  readonly unresumable?: string;
  /** Readies what the session's connections run on (on Deno, its Worker), before the client
   * starts timing its connection: a local start is not the server's delay. */
  prepare?(): Promise<void>;
}

/** A connected TCP stream, plain or TLS. */
export interface FtpSocket {
  /** The local IP address. */
  readonly localAddress: string;
  /** The peer's IP address (through a proxy's tunnel: the target asked for, maybe a name). */
  readonly remoteAddress: string;
  /** Under TLS: the protocol (`"TLSv1.3"`) and whether the session was resumed. */
  readonly tls?: { readonly protocol: string; readonly resumed: boolean };
  /** Under TLS, once `read()` has given `null`: whether the peer ended TLS with close_notify
   * (`true`), or the TCP stream just ended (`false`: what came may have been cut short, RFC 8446
   * section 6.1). `undefined` when the transport cannot tell. */
  readonly closeNotified?: boolean;
  /** The next bytes, or `null` at the end of the stream. Rejects when the connection breaks (a
   * reset, or a close without an end). */
  read(): Promise<Uint8Array | null>;
  /** Writes bytes; resolves once they are handed to the system (backpressure). */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Ends the stream cleanly and waits until that is sent: under TLS a close_notify alert, then
   * FIN. A protected upload's end is its close_notify (RFC 5246 section 7.2.1, RFC 8446 section
   * 6.1): a server may take a bare FIN for a truncation and keep nothing.
   */
  end(): Promise<void>;
  /** Drops the connection now. */
  close(): void;
  /**
   * Drops the connection so that the peer sees a failure, never an end: a TCP reset, with no
   * close_notify before it. An upload cut short ends this way where the transport can, so that
   * no server takes what came for the whole file. Absent where the runtime cannot reset (Deno's
   * native TCP and TLS, whose `close` ends with FIN, under TLS after a close_notify).
   */
  reset?(): void;
  /**
   * Runs a TLS handshake as the client over this connection (AUTH TLS, or a protected data
   * connection) and returns the TLS stream; this object is not used afterwards. Bytes received
   * and not yet read are dropped: after AUTH TLS's 234 only the handshake may come, and anything
   * sent in plain text before it could be anyone's (RFC 4217 section 4). With `readsToEnd` (a
   * download's or a listing's data connection, read to its end) the returned stream tells
   * `closeNotified` where the transport can, even at some cost.
   */
  startTls(
    options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore; readsToEnd?: boolean },
  ): Promise<FtpSocket>;
}

/** A listening TCP socket, for active-mode data connections. */
export interface FtpListener {
  /** The port it listens on. */
  readonly port: number;
  /** The next connection. */
  accept(): Promise<FtpSocket>;
  /** Stops listening. */
  close(): void;
}

/** What a runtime gives the FTPS client. */
export interface FtpTransport {
  /** Opens a TCP connection, or a TLS one when `tls` is given (implicit FTPS). */
  connect(options: {
    host: string;
    port: number;
    tls?: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore };
    /** The session (its control connection's store) a plain connection belongs to: a data
     * connection, secured later. A transport may keep a session's connections together. */
    sessions?: FtpTlsSessionStore;
  }): Promise<FtpSocket>;
  /** Listens on `host` (an IP address) at a free port, for the session `sessions` if given. */
  listen(host: string, sessions?: FtpTlsSessionStore): Promise<FtpListener>;
  /** A new, empty session store for one control connection, to `server` when told; `again`: the
   * session is made again after its connection broke, so nothing the broken one left may be
   * offered (a server that requires resumption refuses another session's ticket). */
  sessionStore(
    server?: { host: string; port: number; tls?: FtpTlsClientOptions; again?: boolean },
  ): FtpTlsSessionStore;
  /** Whether data connections can resume the control connection's TLS session (false for Deno's
   * native TLS): used to explain a server's refusal. */
  readonly resumesSessions: boolean;
  /** Whether each TLS 1.3 ticket is offered once only (rustls, under Deno's `node:tls`), so a
   * session can run out of them when the server sends none on some data connections. */
  readonly singleUseTickets?: boolean;
}

/** The TLS side of an FTPS server: its certificate, and how it treats client certificates. */
export interface FtpTlsServerOptions {
  /** The server's certificate chain, PEM (the leaf first). */
  cert: string | readonly string[];
  /** The private key of the leaf, PEM. */
  key: string;
  /** CA certificates (PEM) that client certificates are checked against. */
  ca?: string | readonly string[];
  /** Ask clients for a certificate (default false). One that is missing or does not verify
   * against `ca` is not an error: the socket's `peerCertificate` says what came. */
  requestClientCertificate?: boolean;
  /** The lowest TLS version (default `"TLSv1.2"`). */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** The highest TLS version (default `"TLSv1.3"`). */
  maxVersion?: "TLSv1.2" | "TLSv1.3";
}

/**
 * A server's TLS context, made once by {@linkcode FtpServerTransport.tlsContext} and shared by
 * every control and data connection, so that data connections can resume the control
 * connection's session (RFC 4217 section 10.2). Opaque: only the transport that made it reads it.
 */
export interface FtpTlsServerContext {
  /** The options it was made from. */
  readonly options: FtpTlsServerOptions;
}

/** A client certificate, as the server's TLS saw it. */
export interface FtpPeerCertificate {
  /** Whether it verified against the context's `ca`. */
  readonly authorized: boolean;
  /** The subject's common name, if any. */
  readonly commonName?: string;
  /** SHA-256 of its DER, colon-separated uppercase hex (`AB:CD:...`). */
  readonly fingerprint256: string;
}

/** A server's TCP stream, plain or TLS. */
export interface FtpServerSocket extends FtpSocket {
  /** Under TLS: the client's certificate, when it sent one. */
  readonly peerCertificate?: FtpPeerCertificate;
  /**
   * Writes bytes only lent for the write: resolves once the socket is done with them (later than
   * `write` may), so that the caller can reuse their memory. A download reads its file into one
   * buffer this way instead of into new memory per chunk. Absent: each chunk has its own.
   */
  writeBorrowed?(bytes: Uint8Array): Promise<void>;
  /**
   * Runs a TLS handshake as the server over this connection (AUTH TLS, implicit FTPS, a protected
   * data connection) and returns the TLS stream; this object is not used afterwards.
   */
  acceptTls(
    context: FtpTlsServerContext,
    options?: {
      /** A control connection: `clearTls` can shut TLS down later (CCC, REIN). */
      clearable?: boolean;
      /** An upload's data connection: the server only reads. What its TLS would send before the
       * client's end (a late session ticket) is held until then, so that a client that closes
       * as soon as it has sent everything has nothing unread (which would turn its close into a
       * reset and lose what it had not yet sent). */
      receiveOnly?: boolean;
      /** Bytes already read from this connection that begin the TLS handshake (read past the
       * end of a PROXY protocol header, before implicit TLS): TLS takes them first, then what
       * was received and not yet read. Without it, bytes received and not yet read fail the
       * handshake (after AUTH TLS they could be anyone's, RFC 4217 section 4). */
      preread?: Uint8Array;
    },
  ): Promise<FtpServerSocket>;
  /**
   * After `end()`: closes once the client has ended too (reading, and dropping, what comes), or
   * after a bound, without keeping the process alive, instead of at once. A close with unread
   * bytes, or a close_notify that comes after it, is answered by a reset, which can make the
   * client's system drop the end of a download it has not read yet. Absent: call `close()`.
   *
   * @returns Settles once the socket is closed (a graceful server close waits for it, so that
   * the process does not exit under bytes still on their way).
   */
  linger?(): Promise<void>;
  /**
   * On a TLS stream made with `clearable` (a control connection): shuts TLS down (close_notify)
   * and returns the plain TCP stream under it, once the client's close_notify, or its first plain
   * byte, has come (CCC and REIN, RFC 4217 sections 6 and 13).
   */
  clearTls?(): Promise<FtpServerSocket>;
}

/** A server's listening TCP socket. */
export interface FtpServerListener {
  /** The port it listens on. */
  readonly port: number;
  /** The address it listens on, where the transport knows it (a socket adopted by `fd`). */
  readonly host?: string;
  /** The next connection, or `null` once the listener is closed. */
  accept(): Promise<FtpServerSocket | null>;
  /** Stops listening; connections accepted but not yet taken are dropped. */
  close(): void;
}

/** What a runtime gives the FTPS server. */
export interface FtpServerTransport {
  /** Makes the TLS context for control and data connections. Throws on a bad key or certificate. */
  tlsContext(options: FtpTlsServerOptions): FtpTlsServerContext;
  /**
   * Listens on `host` (an IP address) at `port` (0: a free one); or, given `fd`, adopts the TCP
   * socket listening on that file descriptor (systemd socket activation), and `host` and `port`
   * are not used. A transport that cannot adopt a socket rejects.
   */
  listen(options: { host: string; port: number; fd?: number }): Promise<FtpServerListener>;
  /** Opens a TCP connection (an active-mode data connection), from `localAddress` if given. */
  connect(options: { host: string; port: number; localAddress?: string }): Promise<FtpServerSocket>;
}
