/**
 * ftkit's FTPS client and server on Deno: the client over Deno's native TCP and TLS (`node:tls`
 * for the options native TLS lacks), the server over `node:net` and `node:tls`.
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

import { FtpsClient, type FtpsClientOptions } from "../ftps_client.ts";
import type { FtpServerTransport, FtpTransport } from "../transport.ts";
import { type FtpsServer, type ServeFtpsOptions, serveFtpsWith } from "../serve.ts";
import { denoFtpTransport } from "./_deno_tcp.ts";
import { nodeFtpServerTransport, nodeFtpTransport } from "./_node_tcp.ts";
import { isolatedFtpTransport } from "./_deno_isolated.ts";

/**
 * The TCP/TLS transport on `Deno.connect`, `Deno.startTls` and `Deno.listen`. Deno's TLS,
 * native or through `node:tls`, does not resume sessions: servers that require resumption on
 * data connections (vsftpd's and ProFTPD's defaults) refuse its protected transfers, and the
 * error says so. Native TLS cannot cap the version or skip verification either.
 */
export const transport: FtpTransport = denoFtpTransport;

/**
 * The transport over Deno's `node:net` and `node:tls`: it honours `maxVersion: "TLSv1.2"`,
 * `minVersion: "TLSv1.3"` and `rejectUnauthorized: false` (`connectFtps` picks it for those by
 * itself). It is slower than the native one, and never pauses a socket: Deno's `node:tls` can
 * lose the server's close_notify around a pause.
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
export const nodeTlsTransport: FtpTransport = nodeFtpTransport;

/**
 * Connects, secures and logs in (see {@linkcode FtpsClient.connect}), over Deno's native TLS, or
 * over `node:tls` when the options ask what native TLS cannot do.
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
 * Starts an FTPS server (see {@linkcode ServeFtpsOptions}).
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
