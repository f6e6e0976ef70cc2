/**
 * ftkit's TFTP server and client on Node, over `node:dgram`. These are the functions of the root module (`@ftkit/ftkit`, npm `ftkit`) with
 * this adapter chosen, instead of the running runtime's: see there for their options, errors,
 * permissions and examples.
 *
 * @example
 * ```ts
 * import { serveTftp, tftpGet } from "@ftkit/ftkit/tftp/node";
 *
 * await using server = await serveTftp({
 *   host: "127.0.0.1",
 *   port: 0,
 *   handler: { read: () => Promise.resolve(new TextEncoder().encode("hello\n")) },
 * });
 * const bytes = await tftpGet({ host: "127.0.0.1", port: server.address.port, remote: "a" });
 * console.log(new TextDecoder().decode(bytes)); // "hello\n"
 * ```
 *
 * @module
 */

// Everything portable too, so one import gives the whole TFTP API on this runtime.
export * from "../mod.ts";

import type { TftpUdpBind } from "../transport.ts";
import { type ServeTftpOptions, serveTftpWith, type TftpServer } from "../server.ts";
import {
  type TftpClientOptions,
  type TftpClientResult,
  tftpGetFileWith,
  tftpGetStreamWith,
  tftpGetWith,
  tftpPutFileWith,
  type TftpPutSource,
  tftpPutWith,
} from "../client.ts";
import { bindNodeDgram } from "./_dgram.ts";

/** Binds a UDP socket with `node:dgram`. */
export const bindUdp: TftpUdpBind = bindNodeDgram;

// The root module's functions (tftp/adapters/auto.ts), bound to this adapter.

/** Starts a TFTP server over `node:dgram` (the root module's `serveTftp`). */
export const serveTftp = (options: ServeTftpOptions): Promise<TftpServer> =>
  serveTftpWith(bindUdp, options);
/** Reads a remote file into memory (the root module's `tftpGet`). */
export const tftpGet = (options: TftpClientOptions): Promise<Uint8Array> =>
  tftpGetWith(bindUdp, options);
/** Reads a remote file into a writable stream (the root module's `tftpGetStream`). */
export const tftpGetStream = (
  options: TftpClientOptions,
  destination: WritableStream<Uint8Array>,
): Promise<TftpClientResult> => tftpGetStreamWith(bindUdp, options, destination);
/** Reads a remote file into a local file, renamed into place when whole (the root module's
 * `tftpGetFile`). */
export const tftpGetFile = (options: TftpClientOptions, path: string): Promise<TftpClientResult> =>
  tftpGetFileWith(bindUdp, options, path);
/** Writes bytes, a stream or an async iterable (the root module's `tftpPut`). */
export const tftpPut = (
  options: TftpClientOptions,
  source: TftpPutSource,
  size?: number,
): Promise<TftpClientResult> => tftpPutWith(bindUdp, options, source, size);
/** Writes a local file (the root module's `tftpPutFile`). */
export const tftpPutFile = (options: TftpClientOptions, path: string): Promise<TftpClientResult> =>
  tftpPutFileWith(bindUdp, options, path);
