/**
 * The TFTP client transfer machine: one read (RRQ) or write (WRQ) against a server.
 *
 * @module
 */

import type { TftpOptions } from "../codec/tftp_options.ts";
import { encodeTftpPacket, type TftpMode } from "../codec/tftp_packet.ts";
import type { TftpAddress } from "./address.ts";
import { checkTransferMode, type TftpRetransmitOptions, TftpTransfer } from "./transfer.ts";

/** The options a client asks for. Leave one out to not request it. */
export interface TftpClientOptionRequest {
  /** Data bytes per block, 8-65464 (RFC 2348). */
  blksize?: number;
  /** Blocks per window, 1-65535 (RFC 7440). */
  windowsize?: number;
  /** Retransmission timeout to agree on, in seconds, 1-255 (RFC 2349). */
  timeout?: number;
  /** Retransmission timeout to agree on, in microseconds (tftp-hpa's extension). */
  utimeout?: number;
  /**
   * Transfer size (RFC 2349): on a read, `true` asks the server for the file size; on a write, the
   * number of bytes that will be sent.
   */
  tsize?: boolean | number;
  /** The block number after 65535: 0 or 1. */
  rollover?: 0 | 1;
}

/** How to set up a {@linkcode TftpClientTransfer}. */
export interface TftpClientTransferOptions {
  /** `"rrq"` to read (download) the file, `"wrq"` to write (upload) it. */
  type: "rrq" | "wrq";
  /** The file name on the server. */
  filename: string;
  /** The server's listening address (port 69 usually). */
  server: TftpAddress;
  /** `"octet"` (default) or `"netascii"`; `"mail"` is refused. */
  mode?: TftpMode;
  /** The options to request. */
  options?: TftpClientOptionRequest;
  /** Retransmission timing. */
  retransmit?: TftpRetransmitOptions;
  /** Read only: the most bytes accepted; past it the client sends ERROR 3 and fails. */
  maxSize?: number;
  /** Ask once more without options when the server answers the request with ERROR 8 (RFC 2347;
   * default `true`). */
  retryWithoutOptions?: boolean;
  /** Read only: hold the final ACK until `confirmEnd(now)` (see `TftpTransferInit.confirmEnd`). */
  confirmEnd?: boolean;
  /** Write only: file bytes kept ready beyond the window (default 131072). */
  readAhead?: number;
  /** Write only: answer a duplicate ACK with the window again (off by default, RFC 1123). */
  allowSorcerersApprentice?: boolean;
}

/**
 * A client's transfer machine. It sends the request, latches the server's transfer ID from the
 * first reply (answering other sources with ERROR 5), checks the OACK (ERROR 8 when it breaks the
 * RFCs), then moves the file.
 *
 * Reading: the machine emits `data` events with the file's bytes in order.
 * Writing: it emits `data-wanted`; answer with `write(now, chunk)` and finally `end(now)`.
 *
 * @example
 * ```ts
 * import { TftpClientTransfer } from "@ftkit/ftkit/tftp";
 *
 * const client = new TftpClientTransfer({
 *   type: "rrq",
 *   filename: "boot/vmlinuz",
 *   server: { address: "127.0.0.1", port: 69 },
 *   options: { blksize: 1468, windowsize: 8, tsize: true },
 * });
 * client.start(0);
 * console.log(client.pollTransmit()?.to); // { address: "127.0.0.1", port: 69 }
 * ```
 */
export class TftpClientTransfer extends TftpTransfer {
  /**
   * Makes the machine; nothing is sent until `start(now)`.
   *
   * @param options What to transfer, with whom, and how.
   * @throws {TypeError} For mail mode or an invalid filename.
   * @throws {RangeError} For an option value outside its RFC range, or a request over 512 bytes.
   */
  constructor(options: TftpClientTransferOptions) {
    const mode = checkTransferMode(options.mode ?? "octet");
    const requested = requestOptions(options.type, options.options ?? {});
    const { type, filename } = options;
    const bytes = encodeTftpPacket({ type, filename, mode, options: requested });
    const withoutOptions =
      Object.keys(requested).length > 0 && (options.retryWithoutOptions ?? true)
        ? encodeTftpPacket({ type, filename, mode, options: {} })
        : undefined;
    super({
      role: "client",
      direction: options.type === "rrq" ? "receive" : "send",
      mode,
      peer: options.server,
      request: { bytes, type, options: requested, withoutOptions },
      retransmit: options.retransmit,
      maxSize: options.maxSize,
      allowSorcerersApprentice: options.allowSorcerersApprentice,
      confirmEnd: options.confirmEnd,
      readAhead: options.readAhead,
    });
  }
}

function requestOptions(type: "rrq" | "wrq", request: TftpClientOptionRequest): TftpOptions {
  const { tsize, ...rest } = request;
  const options: { -readonly [K in keyof TftpOptions]: TftpOptions[K] } = {};
  for (const [name, value] of Object.entries(rest)) {
    if (value !== undefined) (options as Record<string, number>)[name] = value;
  }
  if (tsize === true) {
    if (type === "wrq") throw new TypeError("A write announces its size: give tsize as a number");
    options.tsize = 0;
  } else if (typeof tsize === "number") {
    if (type === "rrq" && tsize !== 0) {
      throw new TypeError("A read asks for the size with tsize: true");
    }
    options.tsize = tsize;
  }
  return options;
}
