/**
 * ftkit: a zero-dependency toolkit for TFTP and FTPS on Deno, Bun and Node.
 *
 * This entry point holds the portable API. Today that is the TFTP codecs (see `./codec`).
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
