/**
 * ftkit's FTPS client and server on Bun: the same entry as Node's (`./node.ts`), over `node:net`
 * and `node:tls`, which Bun runs on its own TLS. Its data connections resume the control
 * connection's TLS session (TLS 1.2 and 1.3, measured against vsftpd, ProFTPD and pyftpdlib).
 * The root module's `connectFtps` and `serveFtps` (`@ftkit/ftkit`, npm `ftkit`) choose it on Bun
 * by themselves.
 *
 * @example
 * ```ts ignore
 * import { connectFtps } from "@ftkit/ftkit/ftps/bun";
 *
 * await using client = await connectFtps({ host: "127.0.0.1", user: "fred", password: "pw" });
 * console.log(await client.list());
 * ```
 *
 * @module
 */

export * from "./node.ts";
