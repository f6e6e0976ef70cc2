/**
 * ftkit's FTPS client and server on Deno: the client over `node:tls`, each session with a TLS
 * session store of its own (so that its data connections resume its control connection's TLS
 * session, as vsftpd, ProFTPD and FileZilla Server require), the server over `node:net` and
 * `node:tls`. Its `connectFtps` and `serveFtps` are the root module's (`@ftkit/ftkit`, npm
 * `ftkit`) with these transports chosen: the root's choose them by themselves on Deno (see there
 * for their options, errors, permissions and examples). Import from here to choose them on any
 * runtime, or for the native TLS {@linkcode transport}.
 *
 * @example
 * ```ts ignore
 * import { connectFtps } from "@ftkit/ftkit/ftps/deno";
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
import { denoFtpTransport } from "./_deno_tcp.ts";
import { nodeFtpServerTransport } from "./_node_tcp.ts";
import { isolatedFtpTransport } from "./_deno_isolated.ts";

/**
 * The TCP/TLS transport on `Deno.connect` and `Deno.startTls` (rustls). It cannot resume a TLS
 * session: servers that require data connections to resume the control connection's session
 * (vsftpd's, ProFTPD's and FileZilla Server's defaults) refuse its protected transfers, and the
 * error says so. It cannot cap the version, skip verification or send a client certificate
 * (`Deno.startTls` takes none) either. Use it for servers that
 * need no resumption, where its speed counts; `connectFtps` uses {@linkcode nodeTlsTransport}.
 */
export const transport: FtpTransport = denoFtpTransport;

/**
 * The transport `connectFtps` uses: `node:net` and `node:tls`, each client session with a TLS
 * session store of its own. Deno's `node:tls` resumes TLS sessions from one store per isolate, by
 * server name, and only for connections given no `ca`: a session uses the isolate's store when no
 * other open session (and no earlier one with other settings, or on TLS 1.2) used its server name,
 * and runs its connections in a Worker of its own otherwise. A `ca` given is used by ftkit itself
 * to verify the server's chain and name once the handshake is done, before a byte is sent (so
 * before USER). It honours `maxVersion`, `minVersion` and `rejectUnauthorized: false`. It sends a
 * client certificate (`cert`, `key`), but then resumes no session: a server that requires data
 * connections to resume refuses them (run such a session on Node or Bun). It never
 * pauses a socket: Deno's `node:tls` can lose the server's close_notify around a pause.
 *
 * @example
 * ```ts ignore
 * import { FtpsClient, nodeTlsTransport } from "@ftkit/ftkit/ftps/deno";
 *
 * const client = await FtpsClient.connect({
 *   host: "127.0.0.1",
 *   user: "fred",
 *   password: "pw",
 *   transport: nodeTlsTransport,
 * });
 * ```
 */
export const nodeTlsTransport: FtpTransport = isolatedFtpTransport;

/**
 * Connects, secures and logs in (see {@linkcode FtpsClient.connect}) over
 * {@linkcode nodeTlsTransport}, whose data connections resume the control connection's TLS
 * session.
 *
 * @example
 * ```ts ignore
 * import { connectFtps } from "@ftkit/ftkit/ftps/deno";
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
  return FtpsClient.connect({
    ...options,
    transport: isolatedFtpTransport,
  });
}

/** The server's TCP/TLS transport: `node:net` and server-side `node:tls` sockets, whose TLS
 * sessions data connections resume. (Deno's native TLS is client-only.) */
export const serverTransport: FtpServerTransport = nodeFtpServerTransport;

/**
 * Starts an FTPS server (see {@linkcode ServeFtpsOptions}) over {@linkcode serverTransport}: the
 * root module's `serveFtps`.
 *
 * @example
 * ```ts ignore
 * import { createFtpsCertificate, serveFtps } from "@ftkit/ftkit/ftps/deno";
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
