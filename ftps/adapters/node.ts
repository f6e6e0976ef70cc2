/**
 * ftkit's FTPS client and server on Node, over `node:net` and `node:tls`: the root module's
 * `connectFtps` and `serveFtps` (`@ftkit/ftkit`, npm `ftkit`) with this transport chosen, instead
 * of the running runtime's (see there for their options, errors, permissions and examples), and
 * the transports themselves.
 *
 * @example
 * ```ts ignore
 * import { connectFtps } from "@ftkit/ftkit/ftps/node";
 *
 * await using client = await connectFtps({ host: "127.0.0.1", user: "fred", password: "pw" });
 * console.log(await client.list());
 * ```
 *
 * @module
 */

// Everything portable too, so one import gives the whole FTPS API on this runtime.
export * from "../mod.ts";

import { FtpsClient, type FtpsClientOptions } from "../client.ts";
import type { FtpServerTransport, FtpTransport } from "../transport.ts";
import { type FtpsServer, type ServeFtpsOptions, serveFtpsWith } from "../server.ts";
import { nodeFtpServerTransport, nodeFtpTransport } from "./_node_tcp.ts";

/** The TCP/TLS transport (`node:net`, `node:tls`). */
export const transport: FtpTransport = nodeFtpTransport;

/**
 * Connects, secures and logs in (see {@linkcode FtpsClient.connect}) over {@linkcode transport}:
 * the root module's `connectFtps`, on Node's transport.
 *
 * @example
 * ```ts ignore
 * import { connectFtps } from "@ftkit/ftkit/ftps/node";
 *
 * await using client = await connectFtps({
 *   host: "127.0.0.1",
 *   secure: "explicit",
 *   user: "fred",
 *   password: "pw",
 *   ca: "-----BEGIN CERTIFICATE-----...",
 * });
 * await client.put("configs/r1.cfg", "hostname r1\n");
 * ```
 *
 * @param options Where, how and who.
 * @returns The client.
 */
export function connectFtps(
  options: Omit<FtpsClientOptions, "transport">,
): Promise<FtpsClient> {
  return FtpsClient.connect({ ...options, transport });
}

/** The server's TCP/TLS transport: `node:net` and server-side `node:tls` sockets, whose TLS
 * sessions data connections resume. */
export const serverTransport: FtpServerTransport = nodeFtpServerTransport;

/**
 * Starts an FTPS server (see {@linkcode ServeFtpsOptions}) over {@linkcode serverTransport}: the
 * root module's `serveFtps`.
 *
 * @example
 * ```ts ignore
 * import { createFtpsCertificate, serveFtps } from "@ftkit/ftkit/ftps/node";
 *
 * const certificate = await createFtpsCertificate();
 * await using server = await serveFtps({
 *   root: "./srv",
 *   users: { fred: "secret" },
 *   tls: { cert: certificate.certPem, key: certificate.keyPem },
 *   host: "127.0.0.1",
 *   port: 2121,
 * });
 * ```
 *
 * @param options What to serve, to whom, and how.
 * @returns The running server.
 */
export function serveFtps(options: ServeFtpsOptions): Promise<FtpsServer> {
  return serveFtpsWith(serverTransport, options);
}
