// The server side of the node:tls FTPS transport (_node_tcp.ts): the TLS context and its session
// cache, and the handshake a server runs over a connection, either over the TCP socket itself or
// over a stream fed whole TLS records from it (which tells a close_notify from a bare FIN, and
// gives the plain stream back after CCC). The socket class comes in from _node_tcp.ts, which
// uses this module, to wrap the streams made here.

import type { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContext, Server as TlsServer, TLSSocket } from "node:tls";
import type {
  FtpPeerCertificate,
  FtpServerSocket,
  FtpTlsServerContext,
  FtpTlsServerOptions,
} from "../transport.ts";
import { feedRecords } from "./_node_record_feed.ts";

const IS_DENO = "Deno" in globalThis;

const IS_NODE = !IS_DENO && !("Bun" in globalThis);

/** TLS 1.2 sessions a server keeps for resumption by session ID. */
const SESSION_CACHE_SIZE = 4096;

/** How long a cached TLS 1.2 session can be resumed, as OpenSSL's default session timeout. */
const SESSION_LIFETIME_MS = 300_000;

/**
 * A bounded cache of TLS 1.2 sessions by session ID, for clients that resume by ID rather than by
 * ticket (curl turns TLS 1.2 tickets off). A server-side `TLSSocket` made outside a `tls.Server`
 * has no session cache of its own; Node takes one from the `server` option's `newSession` and
 * `resumeSession` handlers. Bun and Deno ignore those handlers (measured: Bun 1.4, Deno 2.9), so
 * this is made on Node only. TLS 1.2 tickets and TLS 1.3 resume on all three without it.
 */
function sessionCacheServer(): TlsServer {
  const sessions = new Map<string, { data: Buffer; expires: number }>();
  // Never listens: it only carries the session handlers (and must not keep the process alive).
  const server = new TlsServer();
  server.on("newSession", (id: Buffer, data: Buffer, done: () => void) => {
    // A TLS 1.3 session resumes by its ticket, which carries it: none is asked for by ID, and
    // OpenSSL reports two per handshake (one per ticket), which would push TLS 1.2 sessions out.
    if (isTls13Session(data)) return done();
    const now = Date.now();
    // Entries go in in expiry order (one lifetime for all), so the oldest are first: drop the
    // expired ones, and the oldest while the cache is full.
    for (const [key, entry] of sessions) {
      if (entry.expires > now && sessions.size < SESSION_CACHE_SIZE) break;
      sessions.delete(key);
    }
    sessions.set(id.toString("hex"), { data, expires: now + SESSION_LIFETIME_MS });
    done();
  });
  server.on(
    "resumeSession",
    (id: Buffer, done: (error: Error | null, data: Buffer | null) => void) => {
      const key = id.toString("hex");
      const entry = sessions.get(key);
      if (entry && entry.expires <= Date.now()) sessions.delete(key);
      done(null, entry && entry.expires > Date.now() ? entry.data : null);
    },
  );
  return server;
}

/**
 * Whether OpenSSL's encoding of a session (`SSL_SESSION`, DER: a SEQUENCE whose first fields are
 * its format version and the protocol version) is of a TLS 1.3 session (0x0304).
 */
function isTls13Session(der: Uint8Array): boolean {
  if (der[0] !== 0x30) return false;
  // The SEQUENCE's length: short form, or long form in 1 or 2 bytes (X.690 section 8.1.3).
  const at = der[1] < 0x80 ? 2 : der[1] === 0x81 ? 3 : der[1] === 0x82 ? 4 : -1;
  if (at < 0) return false;
  // INTEGER 1 (the format's version), then INTEGER 0x0304.
  const expected = [0x02, 0x01, 0x01, 0x02, 0x02, 0x03, 0x04];
  return expected.every((byte, i) => der[at + i] === byte);
}

/** The context behind {@linkcode FtpTlsServerContext}: one node:tls secure context. */
export class NodeTlsServerContext implements FtpTlsServerContext {
  /** What the context was made from. */
  readonly options: FtpTlsServerOptions;
  /** The node:tls secure context every server-side `TLSSocket` runs with. */
  readonly secureContext: SecureContext;
  /** Node only: the holder of the session-ID cache, given to each server-side `TLSSocket`. */
  readonly sessionServer: TlsServer | undefined;
  /**
   * Makes the secure context.
   *
   * @param options The certificate chain, key, CAs and TLS versions.
   */
  constructor(options: FtpTlsServerOptions) {
    this.options = options;
    const list = (value: string | readonly string[]) =>
      typeof value === "string" ? value : value.join("\n");
    checkKeyPair(list(options.cert), options.key);
    this.secureContext = createSecureContext({
      cert: list(options.cert),
      key: options.key,
      ...(options.ca !== undefined ? { ca: list(options.ca) } : {}),
      minVersion: options.minVersion ?? "TLSv1.2",
      maxVersion: options.maxVersion ?? "TLSv1.3",
      // OpenSSL refuses to resume a session when client certificates are requested and the
      // context has no session ID context (Node answered curl's TLS 1.3 data connection with an
      // internal_error alert); one per context, as a tls.Server makes.
      sessionIdContext: "ftkit-ftps",
    });
    this.sessionServer = IS_NODE ? sessionCacheServer() : undefined;
  }
}

/**
 * Throws unless `key` is the private key of the chain's first certificate: node:tls checks that
 * on Bun only (Node took an EC key of another certificate, Deno even a certificate that is no PEM;
 * measured), and a mismatch would fail every handshake later instead of the server's start.
 */
function checkKeyPair(chain: string, key: string): void {
  const leaf = chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/)?.[0];
  if (!leaf) throw new TypeError("The certificate is not PEM (-----BEGIN CERTIFICATE-----)");
  let matches: boolean;
  try {
    matches = new X509Certificate(leaf).checkPrivateKey(createPrivateKey(key));
  } catch (error) {
    throw new TypeError(`The certificate or key cannot be read: ${(error as Error).message}`);
  }
  if (!matches) throw new TypeError("The key is not the certificate's private key");
}

/** How the server's TLS sets up the sockets it makes (the socket class's options). */
export interface NodeServerSocketOptions {
  /** Bytes that came before the socket was made, read first. */
  preloaded?: Uint8Array[];
  /** Set on a clearable TLS stream: shuts TLS down and gives the plain stream back. */
  clear?: () => Promise<FtpServerSocket>;
  /** A server's socket (a plain one pauses when read slower than it receives, on every runtime). */
  server?: boolean;
  /** The TCP socket under a TLS stream that runs over something else. */
  addressOf?: Socket;
  /** The socket to pause when reads fall behind, instead of this one. */
  pauseSocket?: Socket;
  /** Whether the TLS stream ended with the peer's close_notify (once it ended). */
  closeNotified?: () => boolean | undefined;
}

/** The transport's socket class (in _node_tcp.ts), as this module makes sockets with it. */
export type NodeServerSocketClass = new (
  socket: Socket,
  tls?: { protocol: string; resumed: boolean },
  peerCertificate?: FtpPeerCertificate,
  extra?: NodeServerSocketOptions,
) => FtpServerSocket;

/**
 * Runs the server side of a TLS handshake over the TCP socket `raw` (which nothing else reads
 * any more) and wraps the TLS stream in a `Wrap`.
 */
export function acceptServerTls(
  raw: Socket,
  context: NodeTlsServerContext,
  options: { clearable?: boolean; receiveOnly?: boolean; preread?: Uint8Array[] },
  Wrap: NodeServerSocketClass,
): Promise<FtpServerSocket> {
  // What the server only sends (a download's data connection) runs TLS over the TCP socket
  // directly where that keeps its end (Node, Bun): the record-fed stream costs Bun 40-90% more
  // CPU per download (measured), and a download has no end of the client's to check. A socket
  // read from already (past a PROXY header) gives its bytes to the record-fed stream.
  if (!options.clearable && !options.receiveOnly && !options.preread && !IS_DENO) {
    return serverHandshake(raw, raw, context, Wrap);
  }
  return acceptRecordFedTls(raw, context, options, Wrap);
}

/**
 * Server-side TLS over a stream fed whole TLS records from the TCP socket, rather than over the
 * socket itself. It gives the server what node:tls hides on every runtime:
 *
 * - whether the peer ended with close_notify. node:tls reports a bare TCP FIN exactly as it
 *   reports close_notify, but fed this way a close_notify ends TLS by itself, while the TCP end is
 *   held back until TLS has taken every record: an upload cut short by a forged or bare FIN (RFC
 *   8446 section 6.1's truncation attack) shows as such (RFC 4217 sections 12.6 and 12.7: data
 *   connections end with a TLS shutdown, then close).
 * - every record before the end: on Deno, TLS directly over the TCP socket lost the end of uploads
 *   (a 1 MB upload from curl ended after 114688 bytes in most runs, measured with Deno 2.9.5), and
 *   a TCP end handed to TLS with records still unread lost them too.
 * - the plain TCP stream back after TLS shuts down, when `clearable` (CCC, REIN): node:tls takes a
 *   `net.Socket`'s handle over for good; here, once TLS is being shut down, the first bytes that
 *   are not a TLS record are the client's plain commands, and stay with the TCP stream.
 */
function acceptRecordFedTls(
  raw: Socket,
  context: NodeTlsServerContext,
  options: { clearable?: boolean; receiveOnly?: boolean; preread?: Uint8Array[] },
  Wrap: NodeServerSocketClass,
): Promise<FtpServerSocket> {
  const feed = feedRecords(raw, options.preread);
  const clear = async (tls: TLSSocket): Promise<FtpServerSocket> => {
    const leftover = await feed.clear(tls);
    tls.destroy();
    return new Wrap(raw, undefined, undefined, { preloaded: leftover, server: true });
  };

  return serverHandshake(feed.stream, raw, context, Wrap, {
    onEnd: feed.tlsEnded,
    closeNotified: feed.closeNotified,
    // Receive-only (an upload's data connection): nothing the server's TLS writes after the
    // handshake goes out before the client's end. Over this stream Node's and Deno's TLS send
    // their TLS 1.3 session tickets late, mid-upload (measured: after 66 KB and 312 KB), and curl
    // closes an upload's connection as soon as it has sent everything: a record it has not read
    // turns its close into a reset, which drops what it had not yet sent (3 of 20 curl uploads
    // of 1 MB cut short on Deno; every upload after the first on a full handshake on Node).
    ...(options.receiveOnly ? { onSecure: feed.hold } : {}),
    ...(options.clearable ? { clearer: (tls: TLSSocket) => () => clear(tls) } : {}),
  });
}

/**
 * Runs the server side of a TLS handshake over `stream` (fed from the TCP socket) and wraps the
 * result in a `Wrap`; `raw` is the TCP socket, for its addresses and to drop on failure.
 */
function serverHandshake(
  stream: Socket | Duplex,
  raw: Socket,
  context: NodeTlsServerContext,
  Wrap: NodeServerSocketClass,
  hooks: {
    /** Called when TLS ends (before the socket's own end listener). */
    onEnd?: () => void;
    /** Called when the handshake is done. */
    onSecure?: () => void;
    closeNotified?: () => boolean | undefined;
    clearer?: (tls: TLSSocket) => () => Promise<FtpServerSocket>;
  } = {},
): Promise<FtpServerSocket> {
  return new Promise((resolve, reject) => {
    const tls = new TLSSocket(stream, {
      isServer: true,
      secureContext: context.secureContext,
      ...(context.sessionServer ? { server: context.sessionServer } : {}),
      requestCert: context.options.requestClientCertificate ?? false,
      // A missing or unverified client certificate is the driver's to judge.
      rejectUnauthorized: false,
    });
    if (hooks.onEnd) tls.on("end", hooks.onEnd);
    const fail = (error?: Error) => {
      tls.off("secure", secured);
      tls.off("end", ended);
      tls.destroy();
      raw.destroy();
      reject(error ?? new Error("The connection was closed during the TLS handshake"));
    };
    const closed = () => fail();
    // The client's end before the handshake is done: no more records can finish it. Bun ends the
    // TLS socket then without closing it or failing (a client that rejected the certificate: the
    // session would wait for the handshake timeout).
    const ended = () => fail(new Error("The connection was ended during the TLS handshake"));
    const secured = () => {
      hooks.onSecure?.();
      tls.off("error", fail);
      tls.off("close", closed);
      tls.off("end", ended);
      resolve(
        new Wrap(
          tls as unknown as Socket,
          { protocol: tls.getProtocol() ?? "", resumed: tls.isSessionReused() },
          peerCertificate(tls),
          {
            ...(hooks.clearer ? { clear: hooks.clearer(tls) } : {}),
            server: true,
            addressOf: raw,
            // Over the record-fed stream, pausing the TLS socket stops nothing (the feed ignores
            // it; Deno must not pause it anyway): the TCP socket feeding it is paused instead.
            ...(stream !== raw ? { pauseSocket: raw } : {}),
            ...(hooks.closeNotified ? { closeNotified: hooks.closeNotified } : {}),
          },
        ),
      );
    };
    tls.once("error", fail);
    tls.once("close", closed);
    tls.once("end", ended);
    tls.once("secure", secured);
  });
}

/** The client certificate a server-side TLS socket received, if any. */
function peerCertificate(tls: TLSSocket): FtpPeerCertificate | undefined {
  const certificate = tls.getPeerCertificate();
  if (!certificate || !certificate.fingerprint256) return undefined;
  const commonName = certificate.subject?.CN;
  return {
    authorized: tls.authorized,
    ...(typeof commonName === "string" ? { commonName } : {}),
    fingerprint256: certificate.fingerprint256,
  };
}
