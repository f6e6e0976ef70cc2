/**
 * ftkit's FTPS client on Node, over `node:net` and `node:tls`.
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

import { FtpsClient, type FtpsClientOptions } from "../ftps_client.ts";
import type { FtpTransport } from "../transport.ts";
import { nodeFtpTransport } from "./_node_tcp.ts";

/** The TCP/TLS transport (`node:net`, `node:tls`). */
export const transport: FtpTransport = nodeFtpTransport;

/**
 * Connects, secures and logs in (see {@linkcode FtpsClient.connect}).
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
