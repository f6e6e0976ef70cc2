/**
 * Option negotiation (RFC 2347, 2348, 2349, 7440) from both sides, as pure functions: what a
 * server acknowledges for a request, and whether a client accepts an OACK.
 *
 * @module
 */

import { windowFit } from "./_window_buffer.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import { TFTP_OPTION_NAMES, type TftpOptionName, type TftpOptions } from "../codec/tftp_options.ts";
import { TFTP_DEFAULT_BLKSIZE, type TftpRequest } from "../codec/tftp_packet.ts";

/** The parameters a transfer runs with once negotiation is over. */
export interface TftpTransferParameters {
  /** Data bytes per block (512 unless negotiated). */
  readonly blksize: number;
  /** Blocks per window (1 unless negotiated). */
  readonly windowsize: number;
  /** The block number after 65535 (0 unless negotiated). */
  readonly rollover: 0 | 1;
  /** The retransmission timeout agreed with `timeout` or `utimeout`, in milliseconds, if any. */
  readonly timeoutMs?: number;
  /** The transfer size the peer announced or confirmed, in bytes, if any. */
  readonly tsize?: number;
  /** The options acknowledged by the OACK; empty when the transfer runs on defaults. */
  readonly options: TftpOptions;
}

/** The defaults of RFC 1350: no options at all. */
export const TFTP_DEFAULT_PARAMETERS: TftpTransferParameters = {
  blksize: TFTP_DEFAULT_BLKSIZE,
  windowsize: 1,
  rollover: 0,
  options: {},
};

/**
 * The largest upload a server accepts unless told otherwise: 1 GiB, room for any firmware image
 * while a stranger cannot fill the disk with one request (a WRQ announcing more with tsize gets
 * ERROR 3, RFC 2349, and an upload growing past it is stopped with ERROR 3).
 */
export const TFTP_DEFAULT_MAX_WRITE_SIZE: number = 1024 * 1024 * 1024;

/** The largest blksize a server grants unless told otherwise: the most RFC 2348 allows. */
export const TFTP_DEFAULT_MAX_BLKSIZE: number = 65464;

/** The largest windowsize a server grants unless told otherwise (RFC 7440 allows 65535). */
export const TFTP_DEFAULT_MAX_WINDOWSIZE: number = 64;

/** What a server is willing to negotiate. */
export interface TftpServerNegotiationPolicy {
  /** The largest blksize granted (default 65464); a larger request is lowered to it. */
  maxBlksize?: number;
  /** The largest windowsize granted (default 64); a larger request is lowered to it. */
  maxWindowsize?: number;
  /**
   * Reads: the receive buffer a client's socket is assumed to have, in bytes (default 212992,
   * Linux's `net.core.rmem_default`). A read's window is lowered to what such a buffer queues, so
   * a client on default settings never loses the tail of each window (12 blocks of 8192, one of
   * 65464). `Infinity` grants whatever `maxWindowsize` allows.
   */
  clientReceiveBuffer?: number;
  /** The options honoured (default: all six); the others are left out of the OACK. */
  honour?: readonly TftpOptionName[];
  /** The largest file a WRQ may announce with tsize or write, in bytes (default
   * {@linkcode TFTP_DEFAULT_MAX_WRITE_SIZE}, 1 GiB; `Infinity` for no limit). */
  maxWriteSize?: number;
}

/** What the server knows about the file when it negotiates. */
export interface TftpServerFileInfo {
  /** The file's size in bytes for an octet read, if known: reported with tsize (RFC 2349). */
  readonly size?: number;
  /** A write: bytes the server's receiving socket can queue; the window is lowered to fit. */
  readonly receiveBuffer?: number;
}

/** The outcome of {@linkcode negotiateTftpServerOptions}. */
export type TftpServerNegotiation =
  | {
    readonly ok: true;
    /** The options to send in an OACK, or `undefined` when none was accepted (no OACK). */
    readonly oack: TftpOptions | undefined;
    /** The parameters the transfer runs with. */
    readonly parameters: TftpTransferParameters;
  }
  | {
    readonly ok: false;
    /** The ERROR code to answer with. */
    readonly code: number;
    /** The ERROR message. */
    readonly message: string;
  };

/**
 * Decides, as a server, which of a request's options to acknowledge (RFC 2347 "Negotiation
 * Protocol"): blksize and windowsize are lowered to the policy's maxima (RFC 2348, 7440), timeout
 * and utimeout are echoed (RFC 2349), tsize is answered with the file size on a read when the size
 * is known and echoed on a write, rollover is echoed. Unknown options are ignored.
 *
 * @param request The decoded RRQ or WRQ.
 * @param policy The server's limits.
 * @param file What is known about the file.
 * @returns The OACK to send (if any) and the transfer parameters, or the ERROR to answer with.
 *
 * @example
 * ```ts
 * import { negotiateTftpServerOptions } from "@ftkit/ftkit/tftp";
 *
 * const result = negotiateTftpServerOptions(
 *   { type: "rrq", filename: "boot.img", mode: "octet", options: { blksize: 65464, tsize: 0 } },
 *   { maxBlksize: 1468 },
 *   { size: 1048576 },
 * );
 * // result.ok && result.oack: { blksize: 1468, tsize: 1048576 }
 * ```
 */
export function negotiateTftpServerOptions(
  request: TftpRequest,
  policy: TftpServerNegotiationPolicy = {},
  file: TftpServerFileInfo = {},
): TftpServerNegotiation {
  const honour = new Set(policy.honour ?? TFTP_OPTION_NAMES);
  const requested = request.options;
  const oack: { -readonly [Name in TftpOptionName]?: TftpOptions[Name] } = {};
  if (requested.blksize !== undefined && honour.has("blksize")) {
    oack.blksize = Math.min(requested.blksize, policy.maxBlksize ?? TFTP_DEFAULT_MAX_BLKSIZE);
  }
  if (requested.tsize !== undefined && honour.has("tsize")) {
    if (request.type === "wrq") {
      const maxWriteSize = policy.maxWriteSize ?? TFTP_DEFAULT_MAX_WRITE_SIZE;
      if (requested.tsize > maxWriteSize) {
        return {
          ok: false,
          code: TftpErrorCode.DiskFull,
          message: `File of ${requested.tsize} bytes exceeds the ${maxWriteSize} allowed`,
        };
      }
      oack.tsize = requested.tsize;
    } else if (file.size !== undefined && request.mode === "octet") {
      // RFC 2349: the size of a netascii read depends on the conversion; leave it out.
      oack.tsize = file.size;
    }
  }
  if (requested.timeout !== undefined && honour.has("timeout")) oack.timeout = requested.timeout;
  if (requested.utimeout !== undefined && honour.has("utimeout")) {
    oack.utimeout = requested.utimeout;
  }
  if (requested.windowsize !== undefined && honour.has("windowsize")) {
    oack.windowsize = Math.min(
      requested.windowsize,
      policy.maxWindowsize ?? TFTP_DEFAULT_MAX_WINDOWSIZE,
    );
    // A window the receiving socket cannot queue loses its tail every time: the client's for a
    // read (assumed), the server's own for a write (when known).
    const queue = request.type === "rrq"
      ? policy.clientReceiveBuffer ?? 212992
      : file.receiveBuffer ?? Infinity;
    if (queue !== Infinity) {
      oack.windowsize = Math.min(oack.windowsize, windowFit(oack.blksize ?? 512, queue));
    }
  }
  if (requested.rollover !== undefined && honour.has("rollover")) {
    oack.rollover = requested.rollover;
  }
  const accepted = Object.keys(oack).length > 0 ? (oack as TftpOptions) : undefined;
  return { ok: true, oack: accepted, parameters: parametersFrom(accepted ?? {}) };
}

/** The outcome of {@linkcode checkTftpOack}. */
export type TftpOackCheck =
  | {
    readonly ok: true;
    /** The parameters the transfer runs with. */
    readonly parameters: TftpTransferParameters;
  }
  | {
    readonly ok: false;
    /** Why the OACK is refused; the client answers with ERROR 8 and this message. */
    readonly message: string;
  };

/**
 * Decides, as a client, whether to accept a server's OACK (RFC 2347): it may hold only options
 * that were requested; blksize and windowsize may be lowered, never raised (RFC 2348, 7440);
 * timeout and utimeout must equal the request (RFC 2349); tsize on a write and rollover must
 * equal the request; tsize on a read is the server's file size.
 *
 * @param type Whether the request was a read (`"rrq"`) or a write (`"wrq"`).
 * @param requested The options the client sent.
 * @param oack The options in the server's OACK.
 * @param unknownOptionNames Names of options in the OACK that ftkit does not know.
 * @returns The parameters, or why the OACK is refused.
 *
 * @example
 * ```ts
 * import { checkTftpOack } from "@ftkit/ftkit/tftp";
 *
 * checkTftpOack("rrq", { blksize: 1468 }, { blksize: 1024 }); // ok, blksize 1024
 * checkTftpOack("rrq", { blksize: 1468 }, { blksize: 2048 }); // refused: raised
 * ```
 */
export function checkTftpOack(
  type: "rrq" | "wrq",
  requested: TftpOptions,
  oack: TftpOptions,
  unknownOptionNames: readonly string[] = [],
): TftpOackCheck {
  if (unknownOptionNames.length > 0) {
    return { ok: false, message: `OACK holds option "${unknownOptionNames[0]}", never requested` };
  }
  for (const name of TFTP_OPTION_NAMES) {
    const granted = oack[name];
    if (granted === undefined) continue;
    const asked = requested[name];
    if (asked === undefined) {
      return { ok: false, message: `OACK holds option "${name}", never requested` };
    }
    const raised = (name === "blksize" || name === "windowsize") && granted > asked;
    const changed = (name === "timeout" || name === "utimeout" || name === "rollover" ||
      (name === "tsize" && type === "wrq")) && granted !== asked;
    if (raised) return { ok: false, message: `OACK raises ${name} from ${asked} to ${granted}` };
    if (changed) return { ok: false, message: `OACK changes ${name} from ${asked} to ${granted}` };
  }
  return { ok: true, parameters: parametersFrom(oack) };
}

function parametersFrom(options: TftpOptions): TftpTransferParameters {
  const timeoutMs = options.utimeout !== undefined
    ? options.utimeout / 1000
    : options.timeout !== undefined
    ? options.timeout * 1000
    : undefined;
  return {
    blksize: options.blksize ?? TFTP_DEFAULT_BLKSIZE,
    windowsize: options.windowsize ?? 1,
    rollover: options.rollover ?? 0,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(options.tsize !== undefined ? { tsize: options.tsize } : {}),
    options,
  };
}
