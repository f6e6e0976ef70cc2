/**
 * Pure byte codecs for TFTP: packets (RFC 1350), options (RFC 2347, 2348, 2349, 7440), error
 * codes, and netascii. No I/O, no runtime API: they run anywhere JavaScript does.
 *
 * @example
 * ```ts
 * import { decodeTftpPacket, encodeTftpPacket } from "@ftkit/ftkit/codec";
 *
 * const bytes = encodeTftpPacket({
 *   type: "rrq",
 *   filename: "pxelinux.0",
 *   mode: "octet",
 *   options: { blksize: 1468, tsize: 0 },
 * });
 * const packet = decodeTftpPacket(bytes);
 * if (packet.type === "rrq") console.log(packet.filename, packet.options.blksize); // pxelinux.0 1468
 * ```
 *
 * @module
 */

export * from "./tftp_packet.ts";
export * from "./tftp_options.ts";
export * from "./tftp_error_code.ts";
export * from "./tftp_decode_error.ts";
export * from "./netascii.ts";
