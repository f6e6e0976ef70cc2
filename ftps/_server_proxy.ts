/**
 * The PROXY protocol on an FTPS server's control connections: which peers are trusted proxies,
 * and the header each of their connections must begin with, read within a time bound and a
 * size bound before anything is sent (proxy-protocol.txt section 2: the receiver must not start
 * processing the connection before it has a complete and valid header, which matters for
 * protocols whose server speaks first, such as FTP).
 *
 * Who may send a header is decided by the connection's address, never by guessing from its
 * bytes (section 5): a trusted proxy must send one; anyone else is served with their own
 * address, and a header from them is refused, so that a proxy missing from the list shows in
 * the log instead of having every client it carries served as its own address.
 *
 * @module
 */

import {
  canonicalFtpHost,
  decodeProxyProtocolHeader,
  type ProxyProtocolHeader,
} from "../codec/mod.ts";
import { IpNetworkList } from "../io/cidr.ts";
import { TimeoutError, within } from "../io/timeout.ts";
import type { FtpServerSocket } from "./transport.ts";
import type { FtpsProxyProtocolOptions } from "./server_options.ts";

/** The `proxyProtocol` option, checked. */
export interface ProxyPolicy {
  /** The trusted proxies. */
  readonly trusted: IpNetworkList;
  /** How long a trusted proxy has to send its header. */
  readonly headerTimeoutMs: number;
  /** Whether passive data connections may come from a trusted proxy's address. */
  readonly dataThroughProxy: boolean;
}

/**
 * Checks the `proxyProtocol` option.
 *
 * @param options The option, if given.
 * @returns The policy, or `undefined` when the PROXY protocol is off.
 * @throws {SyntaxError} When a trusted entry is not a network.
 * @throws {RangeError} When `headerTimeoutMs` is not a positive number.
 */
export function proxyPolicy(
  options: FtpsProxyProtocolOptions | undefined,
): ProxyPolicy | undefined {
  if (!options) return undefined;
  const headerTimeoutMs = options.headerTimeoutMs ?? 5000;
  if (!Number.isFinite(headerTimeoutMs) || headerTimeoutMs <= 0) {
    throw new RangeError(
      `proxyProtocol.headerTimeoutMs must be a positive number, got ${headerTimeoutMs}`,
    );
  }
  return {
    trusted: new IpNetworkList(options.trusted),
    headerTimeoutMs,
    dataThroughProxy: options.dataThroughProxy ?? false,
  };
}

/** Where a session's client is, as its control connection and PROXY header say. */
export interface SessionPeer {
  /** The client's IP address: the header's source, or the connection's peer. */
  readonly remote: string;
  /** The trusted proxy the connection came through, if it did. */
  readonly proxy?: string;
  /** Bytes read past the header: the start of the client's own data. */
  readonly preread?: Uint8Array;
}

/**
 * Reads the PROXY protocol header a trusted proxy's connection begins with. Resolves with the
 * client it names (the proxy's own address for `LOCAL`, `UNKNOWN`, and what is not TCP: the
 * header says no client is behind it, section 2.2), and the bytes read past it.
 *
 * @param socket The connection, from a trusted proxy; nothing is read from it before.
 * @param proxy The proxy's address.
 * @param timeoutMs How long the header may take.
 * @returns The session's peer.
 * @throws {ProxyProtocolError} When the bytes are not a valid header.
 * @throws {TimeoutError} When no whole header came in time (the socket is closed then).
 * @throws {Error} When the connection ended first.
 */
export async function readProxyHeader(
  socket: FtpServerSocket,
  proxy: string,
  timeoutMs: number,
): Promise<SessionPeer> {
  const deadline = performance.now() + timeoutMs;
  let bytes = new Uint8Array(0);
  let header: ProxyProtocolHeader | undefined;
  while (!header) {
    const left = deadline - performance.now();
    if (left <= 0) throw new TimeoutError("No PROXY protocol header in time");
    const chunk = await within(
      socket.read(),
      left,
      "No PROXY protocol header in time",
      () => socket.close(),
    );
    if (chunk === null) throw new Error("The connection ended before its PROXY header");
    // Bounded: the decoder refuses anything past a header's longest.
    const joined = new Uint8Array(bytes.length + chunk.length);
    joined.set(bytes);
    joined.set(chunk, bytes.length);
    bytes = joined;
    header = decodeProxyProtocolHeader(bytes);
  }
  const preread = bytes.subarray(header.length);
  if (header.transport !== "tcp4" && header.transport !== "tcp6") {
    return { remote: proxy, proxy, preread };
  }
  // IPv4 in its one spelling (an IPv4-mapped TCP6 source too); IPv6 as the header gives it.
  const host = header.source!.host;
  const canonical = canonicalFtpHost(host)!;
  return { remote: canonical.includes(":") ? host : canonical, proxy, preread };
}
