/**
 * The TFTP server and client functions bound to one runtime's UDP adapter.
 *
 * @module
 */

import type { TftpUdpBind } from "./transport.ts";
import { type ServeTftpOptions, serveTftpWith, type TftpServer } from "./server.ts";
import {
  type TftpClientOptions,
  type TftpClientResult,
  tftpGetFileWith,
  tftpGetStreamWith,
  tftpGetWith,
  tftpPutFileWith,
  type TftpPutSource,
  tftpPutWith,
} from "./client.ts";

/**
 * The TFTP functions over one UDP binding, as the root module (`@ftkit/ftkit`, npm `ftkit`) and
 * each `tftp/{deno,bun,node}` entry point export them: see the root module's functions of the
 * same names for their options, errors, permissions and examples.
 */
export interface TftpRuntimeApi {
  /** Starts a TFTP server serving `root` or a `handler`. */
  serveTftp(options: ServeTftpOptions): Promise<TftpServer>;
  /** Reads a remote file into memory. */
  tftpGet(options: TftpClientOptions): Promise<Uint8Array>;
  /** Reads a remote file into a writable stream (closed at the end, aborted on failure). */
  tftpGetStream(
    options: TftpClientOptions,
    destination: WritableStream<Uint8Array>,
  ): Promise<TftpClientResult>;
  /** Reads a remote file into a local file, written aside and renamed into place when whole (a
   * failure or an abort leaves an existing file of that name as it was). */
  tftpGetFile(options: TftpClientOptions, path: string): Promise<TftpClientResult>;
  /** Writes bytes, a stream or an async iterable; give `size` for tsize when it is known. */
  tftpPut(
    options: TftpClientOptions,
    source: TftpPutSource,
    size?: number,
  ): Promise<TftpClientResult>;
  /** Writes a local file. */
  tftpPutFile(options: TftpClientOptions, path: string): Promise<TftpClientResult>;
}

/**
 * Binds the TFTP functions to a UDP implementation: use it to run ftkit over your own transport.
 *
 * @param bind Binds UDP sockets.
 * @returns The functions.
 *
 * @example
 * ```ts ignore
 * import { makeTftpApi } from "@ftkit/ftkit/tftp";
 *
 * const { tftpGet } = makeTftpApi(myUdpBind);
 * ```
 */
export function makeTftpApi(bind: TftpUdpBind): TftpRuntimeApi {
  return {
    serveTftp: (options) => serveTftpWith(bind, options),
    tftpGet: (options) => tftpGetWith(bind, options),
    tftpGetStream: (options, destination) => tftpGetStreamWith(bind, options, destination),
    tftpGetFile: (options, path) => tftpGetFileWith(bind, options, path),
    tftpPut: (options, source, size) => tftpPutWith(bind, options, source, size),
    tftpPutFile: (options, path) => tftpPutFileWith(bind, options, path),
  };
}
