/**
 * FTP and FTPS: the client and server functions ({@linkcode connectFtps}, {@linkcode serveFtps}),
 * which run on the running runtime's transport, and under them, sans-I/O, the client control
 * machine ({@linkcode FtpClientSession}), the server's session layer ({@linkcode FtpServerSession})
 * and the typed reply error. TLS and sockets stay outside the machines: they say when to upgrade
 * the control connection, when to open data connections and when to run TLS on them.
 *
 * @example
 * ```ts
 * import { FtpClientSession } from "@ftkit/ftkit/ftps";
 *
 * const session = new FtpClientSession({ tls: "explicit" });
 * session.start(0);
 * session.receive(0, new TextEncoder().encode("220 Ready\r\n"));
 * console.log(new TextDecoder().decode(session.pollTransmit())); // "AUTH TLS\r\n"
 * ```
 *
 * @module
 */

export * from "./client_session.ts";
export * from "./server_session.ts";
export * from "./storage.ts";
export * from "./directory.ts";
export * from "./s3_storage.ts";
export * from "./path.ts";
export * from "./permissions.ts";
export * from "./reply_error.ts";
export * from "./checksum_error.ts";
export * from "./truncation_error.ts";
export * from "./transport.ts";
export * from "./client.ts";
export { type FtpsRetryOptions, isRetryableFtpsError } from "./client_retry.ts";
export * from "./mirror.ts";
export * from "./certificate.ts";
export * from "./password_hash.ts";
export * from "./server.ts";
export * from "./audit_log.ts";
export * from "./adapters/auto.ts";
