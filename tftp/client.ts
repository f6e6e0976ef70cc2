/**
 * The runtime-agnostic TFTP client functions: read a file into memory, a stream or a local file,
 * and write one from memory, a stream or a local file.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { createAtomicFile } from "../io/atomic_file.ts";
import { chunksOf } from "../io/stream.ts";
import { vectoredRead } from "../io/vectored_read.ts";
import { ipFamily } from "./_ip_family.ts";
import { lookup } from "node:dns/promises";
import type { TftpMode } from "../codec/tftp_packet.ts";
import type { TftpAddress } from "./address.ts";
import { type TftpClientOptionRequest, TftpClientTransfer } from "./client_transfer.ts";
import {
  TftpTransferDriver,
  type TftpTransferIo,
  type TftpTransferResult,
} from "./transfer_driver.ts";
import type { TftpRetransmitOptions, TftpTransferEvent } from "./transfer.ts";
import { TftpTransferError } from "./transfer_error.ts";
import type { TftpUdpBind } from "./transport.ts";
import { windowFit, windowReceiveBuffer } from "./_window_buffer.ts";

/** Progress of a transfer. */
export interface TftpProgress {
  /** File bytes moved so far. */
  bytes: number;
  /** The file size, when known (tsize). */
  total?: number;
}

/** Options shared by the client functions. */
export interface TftpClientOptions {
  /** The server's address or host name. */
  host: string;
  /** The server's port (default 69). */
  port?: number;
  /** The file name on the server. */
  remote: string;
  /** `"octet"` (default) or `"netascii"`. */
  mode?: TftpMode;
  /** Bytes per block (RFC 2348); not requested when left out. */
  blksize?: number;
  /** Blocks per window (RFC 7440); not requested when left out. A read asks for no more than its
   * socket's receive buffer can queue (the result says what was negotiated). */
  windowsize?: number;
  /** The timeout option to negotiate, in seconds (RFC 2349). */
  timeout?: number;
  /** Ask for (read) or announce (write) the transfer size (default `true`). */
  tsize?: boolean;
  /** The block number after 65535, negotiated with the rollover option. */
  rollover?: 0 | 1;
  /** Retransmission timing. */
  retransmit?: TftpRetransmitOptions;
  /** Reads only: refuse files larger than this (ERROR 3). */
  maxSize?: number;
  /** Called as bytes move. */
  onProgress?: (progress: TftpProgress) => void;
  /**
   * Cancels the transfer: it stops at once, the server is sent ERROR 0 "Transfer cancelled", a
   * download to a file removes its temporary file (leaving any file of that name as it was), and
   * the call rejects with the signal's reason (an `AbortError` unless the signal was given
   * another).
   */
  signal?: AbortSignal;
}

/** What a successful transfer reports. */
export interface TftpClientResult {
  /** File bytes moved. */
  bytes: number;
  /** The negotiated block size. */
  blksize: number;
  /** The negotiated window size. */
  windowsize: number;
  /** Datagrams sent again. */
  retransmits: number;
  /** Wall time in ms. */
  durationMs: number;
}

async function resolveServer(options: TftpClientOptions): Promise<TftpAddress> {
  const port = options.port ?? 69;
  if (ipFamily(options.host) !== 0) return { address: options.host, port };
  const { address } = await lookup(options.host);
  return { address, port };
}

async function run(
  bind: TftpUdpBind,
  options: TftpClientOptions,
  type: "rrq" | "wrq",
  io: TftpTransferIo,
  size?: number,
): Promise<TftpClientResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  const server = await resolveServer(options);
  signal?.throwIfAborted();
  const wantTsize = options.tsize ?? true;
  const request: TftpClientOptionRequest = {
    ...(options.blksize !== undefined ? { blksize: options.blksize } : {}),
    ...(options.windowsize !== undefined ? { windowsize: options.windowsize } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.rollover !== undefined ? { rollover: options.rollover } : {}),
    // A netascii size depends on the conversion; servers refuse or ignore tsize there.
    ...(wantTsize && type === "rrq" && (options.mode ?? "octet") === "octet"
      ? { tsize: true }
      : {}),
    ...(wantTsize && type === "wrq" && size !== undefined && (options.mode ?? "octet") === "octet"
      ? { tsize: size }
      : {}),
  };
  const makeTransfer = () =>
    new TftpClientTransfer({
      type,
      filename: options.remote,
      server,
      mode: options.mode,
      options: request,
      retransmit: options.retransmit,
      maxSize: options.maxSize,
      confirmEnd: type === "rrq",
    });
  makeTransfer(); // Refuses bad options before a socket is opened.
  let driver: TftpTransferDriver | undefined;
  const blksize = options.blksize ?? 512;
  const socket = await bind({
    host: localHost(server.address),
    port: 0,
    onMessage: (bytes, from) => driver?.handleDatagram(bytes, from),
    // Room for a whole window of what was asked (the server may only lower it).
    receiveBufferSize: type === "rrq"
      ? windowReceiveBuffer(blksize, options.windowsize ?? 1)
      : undefined,
  });
  if (type === "rrq" && request.windowsize !== undefined && socket.receiveBufferSize) {
    // A window the socket cannot queue loses its tail every time: ask for one that fits.
    request.windowsize = Math.min(
      request.windowsize,
      windowFit(blksize, socket.receiveBufferSize),
    );
  }
  const transfer = makeTransfer();
  const started = performance.now();
  let total = size;
  let closeLater = false;
  try {
    // Aborted while the socket was being bound: nothing was sent yet.
    signal?.throwIfAborted();
    transfer.start(performance.now());
    driver = new TftpTransferDriver(transfer, (bytes, to) => socket.send(bytes, to), {
      ...io,
      signal,
      onEvent(event: TftpTransferEvent) {
        if (event.type === "negotiated" && event.parameters.tsize !== undefined) {
          total = event.parameters.tsize;
        }
        if ((event.type === "data" || event.type === "data-wanted") && options.onProgress) {
          options.onProgress({
            bytes: transfer.stats.bytes,
            ...(total !== undefined ? { total } : {}),
          });
        }
      },
    }, socket.sendMany ? (datagrams, to) => socket.sendMany!(datagrams, to) : undefined);
    const result: TftpTransferResult = await driver.result;
    if (!result.ok) {
      const { failure } = result;
      if (failure.reason === "aborted" && signal?.aborted) throw signal.reason;
      throw new TftpTransferError(failure.reason, failure.code, failure.message, result.stats);
    }
    options.onProgress?.({ bytes: result.stats.bytes, ...(total !== undefined ? { total } : {}) });
    // A reader dallies to re-ACK a repeated final DATA (its last ACK may be lost): the caller has
    // every byte already, so return now and close the socket when the dally ends. Neither the
    // socket nor the dally's timer keeps the process alive meanwhile. A socket that cannot be
    // unref'd (Deno's node:dgram) would hold the process for the whole dally: the dally is cut
    // short there, as clients without one do (a lost final ACK then costs the server a timeout,
    // never the caller a byte).
    if (socket.unref) {
      closeLater = true;
      socket.unref();
      driver.drained.then(() => socket.close());
    } else {
      driver.stop();
    }
    return {
      bytes: result.stats.bytes,
      blksize: result.parameters.blksize,
      windowsize: result.parameters.windowsize,
      retransmits: result.stats.retransmits,
      durationMs: performance.now() - started,
    };
  } finally {
    if (!closeLater) await socket.close();
  }
}

/** Reads a remote file into memory. */
export async function tftpGetWith(
  bind: TftpUdpBind,
  options: TftpClientOptions,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const result = await run(bind, options, "rrq", { write: (chunk) => void chunks.push(chunk) });
  const out = new Uint8Array(result.bytes);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Reads a remote file into a writable stream. */
export function tftpGetStreamWith(
  bind: TftpUdpBind,
  options: TftpClientOptions,
  destination: WritableStream<Uint8Array>,
): Promise<TftpClientResult> {
  const writer = destination.getWriter();
  return run(bind, options, "rrq", { write: (chunk) => writer.write(chunk) }).then(
    async (result) => {
      await writer.close();
      return result;
    },
    async (error) => {
      await writer.abort(error).catch(() => {});
      throw error;
    },
  );
}

/**
 * Reads a remote file into a local file. The bytes go to a temporary file beside `path`, which
 * takes its name only once the whole file is in: a failure, or an abort through the signal,
 * leaves any file named `path` as it was and removes the temporary one.
 */
export async function tftpGetFileWith(
  bind: TftpUdpBind,
  options: TftpClientOptions,
  path: string,
): Promise<TftpClientResult> {
  options.signal?.throwIfAborted();
  // Blocks are small; gather them so the disk sees few large writes, not one per datagram.
  // A device or pipe (/dev/null) is written as it is.
  const file = await createAtomicFile(path, { bufferSize: 1 << 20, special: "write" });
  try {
    const result = await run(bind, options, "rrq", {
      write: (chunk) => file.write(chunk),
      // Every byte is on disk before the final ACK tells the server the transfer succeeded.
      finish: () => file.flush(),
    });
    await file.commit();
    return result;
  } catch (error) {
    await file.abort();
    throw error;
  }
}

/** The bytes to upload. */
export type TftpPutSource = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Writes bytes, a stream or an async iterable to the server. */
export function tftpPutWith(
  bind: TftpUdpBind,
  options: TftpClientOptions,
  source: TftpPutSource,
  size?: number,
): Promise<TftpClientResult> {
  if (source instanceof Uint8Array) {
    let sent = false;
    return run(bind, options, "wrq", {
      read: () => {
        if (sent) return Promise.resolve(null);
        sent = true;
        return Promise.resolve(source);
      },
    }, source.length);
  }
  const iterator = chunksOf(source)[Symbol.asyncIterator]();
  return run(bind, options, "wrq", {
    read: async () => {
      const { value, done } = await iterator.next();
      return done ? null : value;
    },
  }, size);
}

/** Writes a local file to the server. */
export async function tftpPutFileWith(
  bind: TftpUdpBind,
  options: TftpClientOptions,
  path: string,
): Promise<TftpClientResult> {
  options.signal?.throwIfAborted();
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    return await run(bind, options, "wrq", {
      read: async () => {
        const buffer = new Uint8Array(65536);
        const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
        return bytesRead === 0 ? null : buffer.subarray(0, bytesRead);
      },
      // Straight into the DATA packets, one system call a window (not on Deno).
      readInto: vectoredRead(file),
    }, size);
  } finally {
    await file.close();
  }
}

/**
 * The address the client's socket is bound to: the loopback address for a server on loopback (so
 * that nothing but loopback can reach the socket, and Deno's `--allow-net=127.0.0.1` is enough),
 * else every address of the server's family.
 */
function localHost(server: string): string {
  const family = ipFamily(server);
  if (family === 6) return server === "::1" ? "::1" : "::";
  return family === 4 && server.startsWith("127.") ? "127.0.0.1" : "0.0.0.0";
}
