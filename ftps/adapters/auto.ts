/**
 * The FTPS client and server functions for whichever runtime runs them, over that runtime's
 * transport, imported on first use: `node:net` and `node:tls` everywhere, on Deno with a TLS
 * session store per client session (so that data connections resume the control connection's
 * session, as vsftpd and ProFTPD require). Nothing runtime-specific runs when this module is
 * imported. To choose the transport yourself, import the same functions from
 * `@ftkit/ftkit/ftps/deno`, `/ftps/bun` or `/ftps/node` (npm: `ftkit/ftps/deno`, ...), or pass a
 * `transport` to `FtpsClient.connect`.
 *
 * Deno permissions: a client needs `--allow-net` for the server (`--allow-net=127.0.0.1`); a
 * server `--allow-net` for its `host`, `--allow-read` for its `root`, and `--allow-write` for it
 * when writes are allowed. Local files (`getFile`, `putFile`) need `--allow-read` or
 * `--allow-write` for them. Each function's example says what it needs to run.
 *
 * @module
 */

import { currentRuntime, loadOnce } from "../../io/runtime.ts";
import { FtpsClient, type FtpsClientOptions } from "../client.ts";
import type { FtpServerTransport, FtpTransport } from "../transport.ts";
import { type FtpsServer, type ServeFtpsOptions, serveFtpsWith } from "../server.ts";

/** The running runtime's client transport, its module imported on the first call. */
const clientTransport: () => Promise<FtpTransport> = loadOnce(() =>
  currentRuntime() === "deno"
    ? import("./_deno_isolated.ts").then((module) => module.isolatedFtpTransport)
    : import("./_node_tcp.ts").then((module) => module.nodeFtpTransport)
);

/** The server's transport (`node:net` and `node:tls` on every runtime: Deno's native TLS is
 * client-only), its module imported on the first call. */
const serverTransport: () => Promise<FtpServerTransport> = loadOnce(() =>
  import("./_node_tcp.ts").then((module) => module.nodeFtpServerTransport)
);

/**
 * Connects to an FTPS (or FTP) server, secures the control connection and logs in: explicit TLS
 * (`AUTH TLS`, RFC 4217) by default, implicit TLS (`secure: "implicit"`), or plain FTP
 * (`secure: false`). The server's certificate is verified against the system's CAs, or against
 * `ca` when given; data connections are protected (`PROT P`) and passive (EPSV, then PASV, always
 * to the control connection's host) unless told otherwise.
 *
 * Deno: `--allow-net` for the server (`--allow-net=127.0.0.1`; in active mode, `passive: false`,
 * for the local address it listens on too), and `--allow-read` or `--allow-write` for the local
 * files of `putFile` and `getFile`. The example, which serves a temporary directory:
 * `--allow-net=127.0.0.1 --allow-env --allow-read --allow-write`.
 *
 * @example Serve a directory over FTPS on loopback, and read a file from it with the server's CA
 * ```ts
 * import { mkdtemp, rm, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { connectFtps, createFtpsCertificate, serveFtps } from "@ftkit/ftkit";
 *
 * const root = await mkdtemp(join(tmpdir(), "ftp-"));
 * await writeFile(join(root, "hello.txt"), "hello\n");
 * // A CA and a server certificate it signed: the server presents the certificate, the client
 * // trusts the CA (caPem).
 * const certificate = await createFtpsCertificate();
 * await using server = await serveFtps({
 *   root,
 *   users: { fred: "secret" },
 *   tls: { cert: certificate.certPem, key: certificate.keyPem },
 *   host: "127.0.0.1",
 *   port: 0,
 * });
 * await using client = await connectFtps({
 *   host: "127.0.0.1",
 *   port: server.address.port,
 *   user: "fred",
 *   password: "secret",
 *   ca: certificate.caPem,
 * });
 * console.log(new TextDecoder().decode(await client.get("hello.txt"))); // "hello\n"
 * await rm(root, { recursive: true });
 * ```
 *
 * @param options The server (`host`, `port`: default 21, or 990 for implicit TLS), how (`secure`,
 * `protection`, `passive`, `timeoutMs`), who (`user` and `password`, default anonymous), and TLS
 * (`ca`, `servername`, `minVersion`, `maxVersion`; `rejectUnauthorized: false` only for a test
 * server): see {@linkcode FtpsClientOptions}.
 * @returns The logged-in client: `list`, `get`, `getTo`, `getFile`, `put`, `putFile`, `append`,
 * `size`, `mkdir`, `rename`, `remove`, ... and `close()` (or `await using`).
 * @throws {FtpReplyError} When the server answers no: login refused (530), TLS refused (`AUTH
 * TLS` answered 500, 502 or 534), ... with the command, `code` and text.
 * @throws {Error} When TLS fails: the certificate does not verify (`code`
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE` without the right `ca`, `ERR_TLS_CERT_ALTNAME_INVALID` for
 * another name, `CERT_HAS_EXPIRED`), or the handshake does (a plain-FTP port with implicit TLS);
 * when the connection fails (`ECONNREFUSED`, `ENOTFOUND`) or the server closes it; and an error
 * named `"TimeoutError"` when a connection or a reply takes longer than `timeoutMs` (default
 * 30000).
 * @throws {TypeError} When the user name, password or account holds CR or LF, which would end the
 * command early (RFC 959 section 4.1.3).
 */
export async function connectFtps(
  options: Omit<FtpsClientOptions, "transport">,
): Promise<FtpsClient> {
  return FtpsClient.connect({ ...options, transport: await clientTransport() });
}

/**
 * Starts an FTPS server (RFC 959 and 4217, with EPSV/EPRT, MLSD, SIZE, MDTM and REST of RFC 2428
 * and 3659) that serves `root`, or a `storage`, to the `users` given. By default TLS is required
 * before login and for data (`PROT P`), the directory is read-only unless `allowWrite`, data
 * connections must come from the control connection's address, and sessions, logins, line lengths
 * and idle time are limited.
 *
 * Deno: `--allow-net` for `host` (`--allow-net=127.0.0.1`), `--allow-read` for `root`, and
 * `--allow-write` for it with `allowWrite`. The example, which serves a temporary directory:
 * `--allow-net=127.0.0.1 --allow-env --allow-read --allow-write`.
 *
 * @example Serve a directory to one user, and upload a file to it
 * ```ts
 * import { mkdtemp, readFile, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { connectFtps, createFtpsCertificate, serveFtps } from "@ftkit/ftkit";
 *
 * const root = await mkdtemp(join(tmpdir(), "ftp-"));
 * const certificate = await createFtpsCertificate(); // or your own PEM certificate and key
 * await using server = await serveFtps({
 *   root,
 *   allowWrite: true,
 *   users: { fred: "secret" },
 *   tls: { cert: certificate.certPem, key: certificate.keyPem },
 *   host: "127.0.0.1",
 *   port: 0, // 0 picks a free port; FTPS with explicit TLS is on 21 by default
 * });
 * const { port } = server.address;
 * await using client = await connectFtps({
 *   host: "127.0.0.1",
 *   port,
 *   user: "fred",
 *   password: "secret",
 *   ca: certificate.caPem,
 * });
 * await client.put("r1.cfg", "hostname r1\n");
 * console.log(await readFile(join(root, "r1.cfg"), "utf8")); // "hostname r1\n"
 * await rm(root, { recursive: true });
 * ```
 *
 * @param options What to serve (`root` or `storage`, `allowWrite`), to whom (`users`,
 * `authenticate`, `anonymous`), how (`tls`: the certificate and key; `secure`: explicit, implicit
 * or none), where (`host`, default `"127.0.0.1"`; `port`, default 21 or 990, 0 for a free one;
 * `passivePorts`), and the limits and hooks of {@linkcode ServeFtpsOptions}.
 * @returns The running server: its `address`, the `sessions` open, and `close()` (or
 * `await using`), which closes every session and transfer.
 * @throws {TypeError} When FTPS is asked for (the default) without `tls`, or an option has the
 * wrong type.
 * @throws {RangeError} When a limit is not a positive number, or `passivePorts` is not
 * `[low, high]` within 1-65535.
 * @throws {Error} When the certificate or key cannot be used, or the address cannot be bound
 * (`EADDRINUSE`, `EACCES` for a port below 1024 without the privilege; on Deno `NotCapable`
 * without the permission).
 */
export async function serveFtps(options: ServeFtpsOptions): Promise<FtpsServer> {
  return serveFtpsWith(await serverTransport(), options);
}
