/**
 * ftkit: a zero-dependency toolkit for TFTP and FTPS on Deno, Bun and Node.
 *
 * One import for every need, on every runtime: the TFTP server and client
 * ({@linkcode serveTftp}, {@linkcode tftpGet}, {@linkcode tftpGetStream}, {@linkcode tftpGetFile},
 * {@linkcode tftpPut}, {@linkcode tftpPutFile}) and the FTPS client and server
 * ({@linkcode connectFtps}, {@linkcode serveFtps}), each running on the runtime's own adapter,
 * loaded on first use; and under them the TFTP and FTP codecs (`./codec`), the TFTP machines and
 * drivers over any UDP binding (`./tftp`), and the FTP/FTPS session machines (`./ftps`). To choose
 * an adapter yourself, import the same functions from `./tftp/deno`, `./tftp/bun`, `./tftp/node`,
 * `./ftps/deno`, `./ftps/bun` or `./ftps/node`.
 *
 * @example Serve on loopback, and read a file over TFTP
 * ```ts
 * import { serveTftp, tftpGet } from "@ftkit/ftkit";
 *
 * await using server = await serveTftp({
 *   host: "127.0.0.1",
 *   port: 0,
 *   handler: { read: () => Promise.resolve(new TextEncoder().encode("hello\n")) },
 * });
 * const bytes = await tftpGet({ host: "127.0.0.1", port: server.address.port, remote: "hello" });
 * console.log(new TextDecoder().decode(bytes)); // "hello\n"
 * ```
 *
 * @example Decode a TFTP packet
 * ```ts
 * import { decodeTftpPacket } from "@ftkit/ftkit";
 *
 * const packet = decodeTftpPacket(new Uint8Array([0, 4, 0, 1]));
 * console.log(packet); // { type: "ack", block: 1 }
 * ```
 *
 * @module
 */

export * from "./codec/mod.ts";
export * from "./tftp/mod.ts";
export * from "./ftps/mod.ts";
