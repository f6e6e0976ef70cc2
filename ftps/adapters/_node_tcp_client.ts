// The client side of the node:tls FTPS transport (_node_tcp.ts): the TLS session store, the
// options a client's TLS runs with, and its handshake, over a connection or a new one (for a
// download's data connection, over the record feed of _node_record_feed.ts). The socket
// class comes in from _node_tcp.ts, which uses this module, to wrap the streams made here.

import type { Buffer } from "node:buffer";
import { isIP, type Socket } from "node:net";
import { connect as tlsConnect, type DetailedPeerCertificate, type TLSSocket } from "node:tls";
import type { FtpSocket, FtpTlsClientOptions, FtpTlsSessionStore } from "../transport.ts";
import { verifyServerChain } from "./_verify_chain.ts";
import { feedRecords, type RecordFeed } from "./_node_record_feed.ts";

const IS_DENO = "Deno" in globalThis;

/** The store behind {@linkcode FtpTlsSessionStore}: the newest session, as node:tls gives it. */
export class NodeSessionStore implements FtpTlsSessionStore {
  /** The newest session, to offer on the next handshake. */
  session: Buffer | undefined;
  /** Whether a session is stored. */
  get ready(): boolean {
    return this.session !== undefined;
  }
}

/**
 * Wraps a client's TLS stream, its handshake done, as the transport's socket (passed in from
 * _node_tcp.ts, which uses this module); `tcp` is the connection TLS runs over, if it took one.
 */
export type NodeClientTlsWrap = (
  tls: TLSSocket,
  tcp: Socket | undefined,
  fed?: RecordFeed,
) => FtpSocket;

function tlsOptions(
  host: string,
  options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore },
) {
  const name = options.servername ?? host;
  const store = options.sessions instanceof NodeSessionStore ? options.sessions : undefined;
  const selfVerify = verifiesItself(options);
  return {
    // SNI carries names only (RFC 6066 section 3); an IP is checked against the certificate.
    ...(isIP(name) ? {} : { servername: name }),
    host: name,
    ...(options.ca !== undefined && !selfVerify
      ? { ca: typeof options.ca === "string" ? options.ca : [...options.ca] }
      : {}),
    rejectUnauthorized: selfVerify ? false : options.rejectUnauthorized ?? true,
    // TLS client authentication; Deno's node:tls then resumes no session (see deno.ts).
    ...(options.cert !== undefined && options.key !== undefined
      ? { cert: options.cert, key: options.key }
      : {}),
    minVersion: options.minVersion ?? "TLSv1.2",
    maxVersion: options.maxVersion ?? "TLSv1.3",
    ...(store?.session ? { session: store.session } : {}),
  };
}

/**
 * Whether the chain is checked here rather than by the runtime's TLS. Deno's node:tls resumes a
 * session (from its own store, by server name) only with its cached verifier, which it uses only
 * when no `ca` is passed: with CAs given, a connection that should resume verifies nothing in TLS
 * and its chain is checked once the handshake is done (verifyServerChain), before a byte moves. A
 * connection that must not resume (a retry without resumption) passes `ca`: Deno verifies, and
 * offers no session.
 */
function verifiesItself(options: FtpTlsClientOptions & { sessions?: FtpTlsSessionStore }): boolean {
  return IS_DENO && options.ca !== undefined && options.rejectUnauthorized !== false &&
    options.sessions !== undefined;
}

/**
 * Runs the TLS handshake over `socket` (or a new connection) and wraps the result. With
 * `readsToEnd`, TLS runs over a stream fed whole records from `socket` (_node_record_feed.ts),
 * which tells a close_notify from a bare FIN: node:tls reports both alike, and a download's
 * data connection ended by a FIN alone may be cut short (RFC 4217 sections 12.6 and 12.7, RFC
 * 8446 section 6.1). Not otherwise: the feed costs CPU per record.
 */
export function secure(
  socket: Socket | undefined,
  options: FtpTlsClientOptions & {
    sessions?: FtpTlsSessionStore;
    host?: string;
    port?: number;
    readsToEnd?: boolean;
  },
  wrap: NodeClientTlsWrap,
): Promise<FtpSocket> {
  const host = options.host ?? socket?.remoteAddress ?? "localhost";
  const store = options.sessions instanceof NodeSessionStore ? options.sessions : undefined;
  const fed = socket && options.readsToEnd ? feedRecords(socket) : undefined;
  return new Promise((resolve, reject) => {
    const tls: TLSSocket = tlsConnect({
      ...tlsOptions(host, options),
      ...(socket ? { socket: fed?.stream ?? socket } : { port: options.port }),
      ...(socket ? {} : { host }),
    });
    // Before the wrapper's own end listener: the end is a close_notify only if TLS saw it first.
    if (fed) tls.on("end", fed.tlsEnded);
    // Every new session (TLS 1.3 tickets come after the handshake) replaces the stored one.
    if (store) tls.on("session", (session: Buffer) => (store.session = session));
    const fail = (error: Error) => {
      tls.destroy();
      reject(error);
    };
    tls.once("error", fail);
    tls.once("secureConnect", () => {
      tls.off("error", fail);
      if (verifiesItself(options)) {
        try {
          verifyServerChain(
            peerChain(tls),
            typeof options.ca === "string" ? [options.ca] : [...options.ca!],
            options.servername ?? host,
            Date.now(),
          );
        } catch (error) {
          fail(error as Error);
          return;
        }
      }
      resolve(wrap(tls, socket, fed));
    });
  });
}

/** The certificates a TLS client was sent, the leaf first, DER. */
function peerChain(tls: TLSSocket): Uint8Array[] {
  const chain: Uint8Array[] = [];
  const seen = new Set<unknown>();
  for (
    let certificate: DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
    certificate?.raw && !seen.has(certificate) && chain.length < 16;
    certificate = certificate.issuerCertificate
  ) {
    seen.add(certificate);
    chain.push(new Uint8Array(certificate.raw));
  }
  return chain;
}
