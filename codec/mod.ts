/**
 * Pure codecs. TFTP: packets (RFC 1350), options (RFC 2347, 2348, 2349, 7440), error codes,
 * netascii. FTP: command lines and replies (RFC 959), TYPE A line ends, PORT/PASV and EPRT/EPSV addresses (RFC 959,
 * 2428), FEAT (RFC 2389), MLSD/MLST facts, times and sizes (RFC 3659), 257 paths and LIST lines.
 * The PROXY protocol header (HAProxy's versions 1 and 2) that load balancers put before a
 * connection's data.
 * No I/O, no runtime API: they run anywhere JavaScript does.
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
export * from "./ftp_ascii.ts";
export * from "./ftp_error.ts";
export * from "./ftp_line.ts";
export * from "./ftp_command.ts";
export * from "./ftp_reply.ts";
export * from "./ftp_address.ts";
export * from "./ftp_feat.ts";
export * from "./ftp_mlsx.ts";
export * from "./ftp_path.ts";
export * from "./ftp_list.ts";
export * from "./proxy_protocol.ts";
