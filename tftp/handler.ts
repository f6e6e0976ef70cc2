/**
 * What a TFTP server serves: a handler decides each read and write. `tftpDirectoryHandler`
 * serves a directory; write your own for dynamic content.
 *
 * @module
 */

import type { TftpOptions } from "../codec/tftp_options.ts";
import type { TftpMode } from "../codec/tftp_packet.ts";
import type { TftpAddress } from "./address.ts";
import { isReadableStream } from "../io/stream.ts";

/** A request as the handler sees it. */
export interface TftpHandlerRequest {
  /** `"rrq"` (the client reads) or `"wrq"` (the client writes). */
  readonly type: "rrq" | "wrq";
  /** The file name after remapping. */
  readonly filename: string;
  /** The file name as the client sent it. */
  readonly requestedFilename: string;
  /** The transfer mode. */
  readonly mode: TftpMode;
  /** The client's address and port. */
  readonly peer: TftpAddress;
  /** The options the client requested (tsize on a write is the announced size). */
  readonly options: TftpOptions;
}

/** A file to send: its bytes, pulled chunk by chunk, and its size when known. */
export interface TftpReadSource {
  /** The size in bytes, reported with tsize; leave it out when unknown. */
  readonly size?: number;
  /**
   * The next chunk, or `null` at the end. `limit`, when given, is the most bytes worth reading
   * now: the client has not answered yet and may be a forged address, so read little (a source
   * that holds its bytes already may ignore it).
   */
  read(limit?: number): Promise<Uint8Array | null>;
  /**
   * Optional, beside `read`: fills the buffers in order with the next bytes (a vectored read,
   * such as `FileHandle.readv`) and resolves with how many it read, 0 at the end. The server then
   * reads the file straight into its DATA packets, with no copy per block. The buffers hold as
   * much as `read` would be asked for (less while the client may be a forged address).
   */
  readInto?(buffers: Uint8Array[]): Promise<number>;
  /** Releases the source (called once, whatever the outcome). */
  close(): Promise<void>;
}

/** Where an upload goes. Nothing should become visible before `commit`. */
export interface TftpWriteTarget {
  /** Stores the next chunk. */
  write(chunk: Uint8Array): Promise<void>;
  /** The upload is complete: make it visible. */
  commit(): Promise<void>;
  /** The upload failed: discard it. */
  abort(): Promise<void>;
}

/** What a handler may return for a read. */
export type TftpReadResult =
  | TftpReadSource
  | Uint8Array
  | ReadableStream<Uint8Array>
  | { readonly stream: ReadableStream<Uint8Array>; readonly size?: number };

/** Decides reads and writes. Throw {@linkcode TftpRequestError} to refuse with a TFTP error. */
export interface TftpHandler {
  /** Opens a file for a client to read; leave it out to refuse every read (ERROR 2). */
  read?(request: TftpHandlerRequest): Promise<TftpReadResult>;
  /** Opens a target for a client's upload; leave it out to refuse every write (ERROR 2). */
  write?(request: TftpHandlerRequest): Promise<TftpWriteTarget>;
}

/**
 * Thrown by a handler to refuse a request with a TFTP error code and a message for the client.
 *
 * @example
 * ```ts
 * import { type TftpHandler, TftpRequestError } from "@ftkit/ftkit/tftp";
 *
 * const handler: TftpHandler = {
 *   read(request) {
 *     if (request.filename !== "hello.txt") throw new TftpRequestError(1, "File not found");
 *     return Promise.resolve(new TextEncoder().encode("hello\n"));
 *   },
 * };
 * ```
 */
export class TftpRequestError extends Error {
  /** The TFTP error code sent to the client. */
  readonly code: number;

  /**
   * Makes the error.
   *
   * @param code The TFTP error code (1 not found, 2 access violation, 3 disk full, 6 exists).
   * @param message The message for the client: say what is wrong, never where on the server.
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "TftpRequestError";
    this.code = code;
  }
}

/** Turns whatever a handler returned for a read into a {@linkcode TftpReadSource}. */
export function toReadSource(result: TftpReadResult): TftpReadSource {
  if (result instanceof Uint8Array) {
    let done = false;
    return {
      size: result.length,
      read: () => {
        if (done) return Promise.resolve(null);
        done = true;
        return Promise.resolve(result);
      },
      close: () => Promise.resolve(),
    };
  }
  if (isReadableStream(result) || ("stream" in result && isReadableStream(result.stream))) {
    const stream = isReadableStream(result) ? result : result.stream;
    const size = isReadableStream(result) ? undefined : result.size;
    const reader = stream.getReader();
    return {
      ...(size !== undefined ? { size } : {}),
      async read() {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return null;
          if (value.length > 0) return value;
        }
      },
      async close() {
        await reader.cancel().catch(() => {});
      },
    };
  }
  return result as TftpReadSource;
}
