/**
 * ftkit: a zero-dependency toolkit for TFTP and FTPS on Deno, Bun and Node.
 *
 * This entry point holds the portable API: the TFTP and FTP codecs (`./codec`), the TFTP machines,
 * drivers and client/server functions over any UDP binding (`./tftp`), and the FTP/FTPS client
 * session machine (`./ftps`). Runtime adapters live in `./tftp/deno`, `./tftp/bun`, `./tftp/node`.
 *
 * @example
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
