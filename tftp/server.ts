/**
 * The TFTP server side, sans-I/O: an endpoint that turns request datagrams on the listening port
 * into transfers (like quinn's `Endpoint`), and the server's transfer machines.
 *
 * @module
 */

import {
  encodeTftpPacket,
  TftpDecodeError,
  TftpErrorCode,
  type TftpRequest,
  tryDecodeTftpPacket,
} from "../codec/mod.ts";
import type { TftpAddress, TftpTransmit } from "./address.ts";
import { negotiateTftpServerOptions, type TftpServerNegotiationPolicy } from "./negotiation.ts";
import { checkTransferMode, type TftpRetransmitOptions, TftpTransfer } from "./transfer.ts";

/** How a {@linkcode TftpServerEndpoint} behaves. */
export interface TftpServerEndpointOptions extends TftpServerNegotiationPolicy {
  /** Retransmission timing of every transfer. */
  retransmit?: TftpRetransmitOptions;
  /** Answer a duplicate ACK with the window again, as some U-Boot clients expect (off by
   * default: RFC 1123 section 4.2.3.1). */
  allowSorcerersApprentice?: boolean;
  /** File bytes each read transfer keeps ready beyond its window (default 131072). */
  readAhead?: number;
  /** The longest request accepted, in bytes (default 512, RFC 2347). */
  maxRequestLength?: number;
  /** The most transfers at once, counting requests not yet accepted (default: no limit). */
  maxTransfers?: number;
}

/** A request waiting for the server's decision: `accept` it or `reject` it. */
export interface TftpServerRequest {
  /** The client's transfer ID. */
  readonly from: TftpAddress;
  /** The decoded RRQ or WRQ. */
  readonly request: TftpRequest;
  /** When it arrived. */
  readonly receivedAt: number;
}

/** What the server knows about the file when it accepts a request. */
export interface TftpAcceptOptions {
  /** Read: the file size in bytes, reported when the client asks with tsize (octet only). */
  size?: number;
  /** Write: the most bytes accepted (ERROR 3 beyond); defaults to the endpoint's `maxWriteSize`. */
  maxSize?: number;
  /** Write: hold the final ACK until the upload is stored and `confirmEnd(now)` is called. */
  confirmEnd?: boolean;
  /** Write: bytes the server's receiving socket can queue; the window is lowered to fit. */
  receiveBuffer?: number;
}

/** A transfer on the server's side, made by {@linkcode TftpServerEndpoint.accept}. */
export class TftpServerTransfer extends TftpTransfer {
  /** The request this transfer serves. */
  readonly request: TftpRequest;

  /**
   * Makes a server transfer; use {@linkcode TftpServerEndpoint.accept}.
   *
   * @param request The request.
   * @param init The transfer's setup.
   */
  constructor(request: TftpRequest, init: ConstructorParameters<typeof TftpTransfer>[0]) {
    super(init);
    this.request = request;
  }
}

/**
 * The listening side of a TFTP server, sans-I/O. Feed it the datagrams that arrive on port 69;
 * it answers malformed requests with ERROR itself and hands each new, valid request to you. You
 * decide (look up the file, check permissions) and call `accept`, which returns the started
 * transfer machine, or `reject`, which queues the ERROR. Repeated requests from a client whose
 * transfer is still running are dropped: they are retransmissions, not new transfers.
 *
 * @example
 * ```ts
 * import { encodeTftpPacket } from "@ftkit/ftkit/codec";
 * import { TftpServerEndpoint } from "@ftkit/ftkit/tftp";
 *
 * const endpoint = new TftpServerEndpoint({ maxBlksize: 1468 });
 * const rrq = encodeTftpPacket({ type: "rrq", filename: "a.txt", mode: "octet", options: { blksize: 8192 } });
 * const pending = endpoint.handleDatagram(0, rrq, { address: "127.0.0.1", port: 40000 });
 * if (pending) {
 *   const transfer = endpoint.accept(0, pending, { size: 5 });
 *   transfer?.pollTransmit(); // the OACK: blksize 1468
 * }
 * ```
 */
export class TftpServerEndpoint {
  readonly #options: TftpServerEndpointOptions;
  readonly #transfers = new Map<string, TftpTransfer>();
  readonly #waiting = new Map<string, TftpServerRequest>();
  #transmits: TftpTransmit[] = [];
  #ignored = 0;

  /**
   * Makes an endpoint.
   *
   * @param options Limits and policies.
   */
  constructor(options: TftpServerEndpointOptions = {}) {
    this.#options = options;
  }

  /** How many datagrams were dropped: repeated requests, and non-requests on the listening port. */
  get ignored(): number {
    return this.#ignored;
  }

  /** The next datagram to send from the listening port (ERROR answers), or `undefined`. */
  pollTransmit(): TftpTransmit | undefined {
    return this.#transmits.shift();
  }

  /**
   * Feeds a datagram that arrived on the listening port.
   *
   * @param now The current time in ms.
   * @param bytes The datagram.
   * @param from The client's address and port.
   * @returns A new request to decide on, or `undefined` (answered with ERROR, or dropped).
   */
  handleDatagram(now: number, bytes: Uint8Array, from: TftpAddress): TftpServerRequest | undefined {
    const packet = tryDecodeTftpPacket(bytes, { maxRequestLength: this.#options.maxRequestLength });
    if (packet instanceof TftpDecodeError) {
      // Only a datagram that looks like a request gets an answer; anything else is dropped.
      if (packet.opcode === 1 || packet.opcode === 2) {
        this.#error(from, packet.errorCode, packet.message);
      } else this.#ignored++;
      return undefined;
    }
    if (packet.type !== "rrq" && packet.type !== "wrq") {
      this.#ignored++;
      return undefined;
    }
    const key = keyOf(from);
    const running = this.#transfers.get(key);
    if (this.#waiting.has(key) || (running && !running.isDrained())) {
      this.#ignored++;
      return undefined;
    }
    if (packet.mode === "mail") {
      this.#error(from, TftpErrorCode.IllegalOperation, 'Mode "mail" is not supported');
      return undefined;
    }
    const limit = this.#options.maxTransfers;
    if (limit !== undefined && this.activeTransfers() >= limit) {
      this.#error(from, TftpErrorCode.NotDefined, "Server busy, try again later");
      return undefined;
    }
    const request: TftpServerRequest = { from, request: packet, receivedAt: now };
    this.#waiting.set(key, request);
    return request;
  }

  /**
   * Accepts a request: negotiates its options and returns the started transfer machine, or
   * `undefined` when negotiation refused it (a WRQ whose tsize is over the limit: ERROR 3 queued
   * on the endpoint).
   *
   * @param now The current time in ms.
   * @param pending The request, as `handleDatagram` returned it.
   * @param file What is known about the file.
   * @returns The transfer, already started: poll it for its first datagram.
   */
  accept(
    now: number,
    pending: TftpServerRequest,
    file: TftpAcceptOptions = {},
  ): TftpServerTransfer | undefined {
    this.#settle(pending);
    const { request, from } = pending;
    const maxWriteSize = file.maxSize ?? this.#options.maxWriteSize;
    const negotiation = negotiateTftpServerOptions(
      request,
      { ...this.#options, maxWriteSize },
      file,
    );
    if (!negotiation.ok) {
      this.#error(from, negotiation.code, negotiation.message);
      return undefined;
    }
    const transfer = new TftpServerTransfer(request, {
      role: "server",
      direction: request.type === "rrq" ? "send" : "receive",
      mode: checkTransferMode(request.mode),
      peer: from,
      accepted: {
        oack: negotiation.oack
          ? encodeTftpPacket({ type: "oack", options: negotiation.oack })
          : undefined,
        parameters: negotiation.parameters,
      },
      retransmit: this.#options.retransmit,
      maxSize: request.type === "wrq" ? maxWriteSize : undefined,
      allowSorcerersApprentice: this.#options.allowSorcerersApprentice,
      confirmEnd: file.confirmEnd,
      readAhead: this.#options.readAhead,
    });
    this.#transfers.set(keyOf(from), transfer);
    transfer.start(now);
    return transfer;
  }

  /**
   * Refuses a request: queues ERROR `code` with `message` to the client.
   *
   * @param pending The request, as `handleDatagram` returned it.
   * @param code The TFTP error code (1 file not found, 2 access violation, 6 file exists, ...).
   * @param message The message; say what is wrong without revealing server paths.
   */
  reject(pending: TftpServerRequest, code: number, message: string): void {
    this.#settle(pending);
    this.#error(pending.from, code, message);
  }

  /** Transfers running, plus requests handed out and not yet accepted or rejected. */
  activeTransfers(): number {
    let count = this.#waiting.size;
    for (const [key, transfer] of this.#transfers) {
      if (transfer.isDrained()) this.#transfers.delete(key);
      else count++;
    }
    return count;
  }

  #settle(pending: TftpServerRequest): void {
    const key = keyOf(pending.from);
    if (this.#waiting.get(key) !== pending) {
      throw new TypeError("Request already settled, or not from this endpoint");
    }
    this.#waiting.delete(key);
  }

  #error(to: TftpAddress, code: number, message: string): void {
    this.#transmits.push({ to, bytes: encodeTftpPacket({ type: "error", code, message }) });
  }
}

function keyOf(address: TftpAddress): string {
  return `${address.address}|${address.port}`;
}
