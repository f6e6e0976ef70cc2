/**
 * ftkit's TFTP server and client on Node, over `node:dgram`.
 *
 * @example
 * ```ts ignore
 * import { serveTftp, tftpGet } from "ftkit/tftp/node";
 *
 * await using server = await serveTftp({ root: "./tftpboot", host: "127.0.0.1", port: 6969 });
 * const bytes = await tftpGet({ host: "127.0.0.1", port: 6969, remote: "pxelinux.0" });
 * ```
 *
 * @module
 */

// Everything portable too, so one import gives the whole TFTP API on this runtime.
export * from "../mod.ts";

import type { TftpUdpBind } from "../transport.ts";
import { bindNodeDgram } from "./_dgram.ts";
import { makeTftpApi, type TftpRuntimeApi } from "../runtime_api.ts";

/** Binds a UDP socket with `node:dgram`. */
export const bindUdp: TftpUdpBind = bindNodeDgram;

const api: TftpRuntimeApi = makeTftpApi(bindUdp);

/** Serves TFTP (see {@linkcode TftpRuntimeApi.serveTftp}). */
export const serveTftp: TftpRuntimeApi["serveTftp"] = api.serveTftp;
/** Reads a file into memory (see {@linkcode TftpRuntimeApi.tftpGet}). */
export const tftpGet: TftpRuntimeApi["tftpGet"] = api.tftpGet;
/** Reads a file into a stream (see {@linkcode TftpRuntimeApi.tftpGetStream}). */
export const tftpGetStream: TftpRuntimeApi["tftpGetStream"] = api.tftpGetStream;
/** Reads a file to a local file (see {@linkcode TftpRuntimeApi.tftpGetFile}). */
export const tftpGetFile: TftpRuntimeApi["tftpGetFile"] = api.tftpGetFile;
/** Writes bytes or a stream (see {@linkcode TftpRuntimeApi.tftpPut}). */
export const tftpPut: TftpRuntimeApi["tftpPut"] = api.tftpPut;
/** Writes a local file (see {@linkcode TftpRuntimeApi.tftpPutFile}). */
export const tftpPutFile: TftpRuntimeApi["tftpPutFile"] = api.tftpPutFile;
