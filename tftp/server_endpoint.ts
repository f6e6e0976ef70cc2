/**
 * The TFTP server side, sans-I/O: an endpoint that turns request datagrams on the listening port
 * into transfers (like quinn's `Endpoint`), and the server's transfer machines.
 *
 * @module
 */

import { TftpDecodeError } from "../codec/tftp_decode_error.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import { encodeTftpPacket, type TftpRequest, tryDecodeTftpPacket } from "../codec/tftp_packet.ts";
import type { TftpAddress, TftpTransmit } from "./address.ts";
import { ipv4Form } from "./_ip_family.ts";
import {
  negotiateTftpServerOptions,
  TFTP_DEFAULT_MAX_BLKSIZE,
  TFTP_DEFAULT_MAX_WINDOWSIZE,
  TFTP_DEFAULT_MAX_WRITE_SIZE,
  type TftpServerNegotiationPolicy,
} from "./negotiation.ts";
import {
  checkTransferMode,
  type TftpRetransmitOptions,
  TftpTransfer,
  type TftpTransferInit,
} from "./transfer.ts";

/** How a {@linkcode TftpServerEndpoint} behaves. */
export interface TftpServerEndpointOptions extends TftpServerNegotiationPolicy {
  /**
   * Retransmission timing of every transfer; a `timeout` or `utimeout` the request negotiated
   * replaces `timeoutMs` (RFC 2349). A transfer whose client has not answered its first reply
   * waits for the answer on this whole schedule (about 39 s by default, about 5 minutes with
   * `timeout=255`), then ends without a word and lets its file and socket go; a new request at
   * `maxTransfers` or `maxTransfersPerClient` ends it sooner.
   */
  retransmit?: TftpRetransmitOptions;
  /** Answer a duplicate ACK with the window again, as some U-Boot clients expect (off by
   * default: RFC 1123 section 4.2.3.1). */
  allowSorcerersApprentice?: boolean;
  /** File bytes each read transfer keeps ready beyond its window, once its client has answered
   * (default 131072). */
  readAhead?: number;
  /** The longest request accepted, in bytes (default 512, RFC 2347). */
  maxRequestLength?: number;
  /**
   * The most transfers at once, counting requests not yet accepted or rejected (default 256;
   * `Infinity` for no limit). A request beyond it ends the oldest transfer whose client has not
   * answered its first reply yet (silently, see {@linkcode TftpServerTransfer.evict}) and takes
   * its place; only when every place is held by answered transfers and pending requests does it
   * get ERROR 0 "Server busy, try again later".
   */
  maxTransfers?: number;
  /**
   * The most transfers at once for one client address, counting requests not yet accepted or
   * rejected (default 16; `Infinity` for no limit). Beyond it, as with `maxTransfers`: the
   * address's oldest unanswered transfer makes room, else ERROR 0 "Server busy".
   */
  maxTransfersPerClient?: number;
  /**
   * Requests one client address may make per second, sustained, that it has not answered yet
   * (default 10; `Infinity` for no limit). Every new request that looks like one (an RRQ or a
   * WRQ, well-formed or not) takes one of the address's `requestBurst` tokens, which refill at
   * this rate, before it is answered: with the first reply of a transfer, or with an ERROR (a
   * malformed request, mail mode, "Server busy", and whatever `reject` or a refused negotiation
   * sends: file not found, access violation, ...). A transfer whose client answers its first
   * reply gives its token back. A request finding no token is dropped without an answer, so new
   * requests, forged or not, make the server send at most `requestBurst` answers at once to the
   * address they name, and then `requestRate` a second. A request repeated to a running transfer
   * takes no token: that transfer answers it again, at most `retries` times, while its client has
   * not answered.
   */
  requestRate?: number;
  /** Requests one client address may make at once before `requestRate` applies (default 20). */
  requestBurst?: number;
  /**
   * How many times a transfer repeats its first reply (OACK, DATA 1 or ACK 0) on its own timer
   * before the client has answered it (default 0). Until it answers, the client's address may be
   * forged, and each repetition is traffic a stranger made the server send there. A client that
   * lost the reply repeats its request, and is answered with the reply again (at most `retries`
   * repetitions in all, these included). Whatever this allows, the transfer waits for the
   * client's answer on its whole retry schedule (`retransmit`, with the negotiated `timeout`):
   * a client whose ACK 0 or DATA 1 was lost sends it again after its own timeout. A transfer
   * whose client never answers ends silently, sending no ERROR, when that schedule runs out.
   */
  firstReplyRetransmits?: number;
}

/** What the endpoint did to a transfer it made; poll that transfer. */
export type TftpServerEndpointEvent =
  | {
    /** The client repeated its request to the listening port; the transfer was given it and may
     * have queued its first reply again. */
    readonly type: "repeated-request";
    /** The transfer. */
    readonly transfer: TftpServerTransfer;
  }
  | {
    /** The transfer was ended to make room for a new request, before its client answered: its
     * final event is queued and nothing was sent. Release its file and socket. */
    readonly type: "evicted";
    /** The transfer. */
    readonly transfer: TftpServerTransfer;
  };

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
  /** This request's largest blksize, when lower than the endpoint's `maxBlksize`. */
  maxBlksize?: number;
  /** This request's largest windowsize, when lower than the endpoint's `maxWindowsize`. */
  maxWindowsize?: number;
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
 * transfer machine, or `reject`, which queues the ERROR. After each input, send what
 * `pollTransmit` gives from the listening port and handle what `pollEvent` gives.
 *
 * Every client address may be forged, so the endpoint bounds what strangers can make the server
 * do: `maxTransfers` and `maxTransfersPerClient` cap the transfers at once (a new request ends
 * the oldest transfer whose client has not answered, and gets ERROR 0 only when there is none),
 * `requestRate` and `requestBurst` cap the answers to an address that has not answered yet
 * (requests beyond them are dropped), and `firstReplyRetransmits` keeps an unanswered transfer
 * from repeating itself. A request repeated by a client whose transfer is running is passed to
 * that transfer, and a `repeated-request` event says so (poll the transfer): it sends its first
 * reply again while the client has not answered, and ignores it otherwise.
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
  readonly #maxTransfers: number;
  readonly #maxPerClient: number;
  readonly #rate: number;
  readonly #burst: number;
  readonly #transfers = new Map<string, Tracked>();
  readonly #waiting = new Map<string, TftpServerRequest>();
  // Per client address: its requests and transfers, for the per-client cap and token refunds.
  readonly #clients = new Map<string, Client>();
  // Per client address with tokens spent, oldest update first (see `#admit`).
  readonly #buckets = new Map<string, Bucket>();
  // Transfers whose client has not answered, oldest first: the first to make room (see `#evict`).
  // Entries that have been answered or have finished meanwhile are dropped as they are met.
  readonly #unanswered = new Set<Tracked>();
  #transmits: TftpTransmit[] = [];
  #events: TftpServerEndpointEvent[] = [];
  #ignored = 0;
  #limited = 0;
  #evicted = 0;
  // Forget drained transfers once this many are kept (amortised, whatever the limits).
  #sweepAt = 64;

  /**
   * Makes an endpoint.
   *
   * @param options Limits and policies.
   */
  constructor(options: TftpServerEndpointOptions = {}) {
    this.#options = options;
    this.#maxTransfers = limit("maxTransfers", options.maxTransfers ?? 256);
    this.#maxPerClient = limit("maxTransfersPerClient", options.maxTransfersPerClient ?? 16);
    this.#rate = limit("requestRate", options.requestRate ?? 10);
    this.#burst = limit("requestBurst", options.requestBurst ?? 20);
    if (this.#burst < 1) throw new RangeError("requestBurst must be 1 or more");
  }

  /** How many datagrams started nothing: requests repeated while the first is pending or running
   * (a running transfer is given them), and non-requests on the listening port (dropped). */
  get ignored(): number {
    return this.#ignored;
  }

  /** How many requests were dropped unanswered because their address had no token left. */
  get limited(): number {
    return this.#limited;
  }

  /** How many transfers were ended, before their client answered, to make room for a request. */
  get evicted(): number {
    return this.#evicted;
  }

  /** The next datagram to send from the listening port (ERROR answers), or `undefined`. */
  pollTransmit(): TftpTransmit | undefined {
    return this.#transmits.shift();
  }

  /** The next thing the endpoint did to one of its transfers, or `undefined`: poll that
   * transfer (and once it is drained, let its file and socket go). */
  pollEvent(): TftpServerEndpointEvent | undefined {
    return this.#events.shift();
  }

  /**
   * Feeds a datagram that arrived on the listening port.
   *
   * @param now The current time in ms.
   * @param bytes The datagram.
   * @param from The client's address and port.
   * @returns A new request to decide on, or `undefined` (answered with ERROR, passed to the
   * client's running transfer, or dropped). A request that finds the limits reached may have
   * ended an unanswered transfer to make room: `pollEvent` says which.
   */
  handleDatagram(now: number, bytes: Uint8Array, from: TftpAddress): TftpServerRequest | undefined {
    const packet = tryDecodeTftpPacket(bytes, { maxRequestLength: this.#options.maxRequestLength });
    if (packet instanceof TftpDecodeError) {
      // Only a datagram that looks like a request gets an answer; anything else is dropped.
      if (packet.opcode === 1 || packet.opcode === 2) {
        if (this.#admit(now, from)) this.#error(from, packet.errorCode, packet.message);
      } else this.#ignored++;
      return undefined;
    }
    if (packet.type !== "rrq" && packet.type !== "wrq") {
      this.#ignored++;
      return undefined;
    }
    const key = keyOf(from);
    const running = this.#transfers.get(key)?.transfer;
    if (this.#waiting.has(key)) {
      this.#ignored++;
      return undefined;
    }
    if (running && !running.isDrained()) {
      // The client repeats its request: its transfer decides whether to answer it again.
      this.#ignored++;
      running.handleDatagram(now, bytes, from);
      this.#events.push({ type: "repeated-request", transfer: running });
      return undefined;
    }
    if (!this.#admit(now, from)) return undefined;
    if (this.#transfers.size >= this.#sweepAt) {
      this.activeTransfers();
      this.#sweepAt = Math.max(64, 2 * this.#transfers.size);
    }
    if (packet.mode === "mail") {
      this.#error(from, TftpErrorCode.IllegalOperation, 'Mode "mail" is not supported');
      return undefined;
    }
    // At a limit, the oldest transfer whose client has not answered makes room: its address may
    // be forged (a real client behind it has waited longest, and must ask again). Only answered
    // transfers, and requests being decided on, keep a new request out.
    const client = ipv4Form(from.address);
    const full = (this.#clientTransfers(client) >= this.#maxPerClient &&
      !this.#evict(now, this.#clients.get(client)?.transfers)) ||
      (this.#transfers.size + this.#waiting.size >= this.#maxTransfers &&
        this.activeTransfers() >= this.#maxTransfers && !this.#evict(now, this.#unanswered));
    if (full) {
      this.#error(from, TftpErrorCode.NotDefined, "Server busy, try again later");
      return undefined;
    }
    const request: TftpServerRequest = { from, request: packet, receivedAt: now };
    this.#waiting.set(key, request);
    this.#client(client).waiting++;
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
    const maxWriteSize = file.maxSize ?? this.#options.maxWriteSize ?? TFTP_DEFAULT_MAX_WRITE_SIZE;
    const negotiation = negotiateTftpServerOptions(
      request,
      {
        ...this.#options,
        maxWriteSize,
        ...(file.maxBlksize !== undefined
          ? {
            maxBlksize: Math.min(
              file.maxBlksize,
              this.#options.maxBlksize ?? TFTP_DEFAULT_MAX_BLKSIZE,
            ),
          }
          : {}),
        ...(file.maxWindowsize !== undefined
          ? {
            maxWindowsize: Math.min(
              file.maxWindowsize,
              this.#options.maxWindowsize ?? TFTP_DEFAULT_MAX_WINDOWSIZE,
            ),
          }
          : {}),
      },
      file,
    );
    if (!negotiation.ok) {
      this.#error(from, negotiation.code, negotiation.message);
      return undefined;
    }
    const transfer = this.createTransfer(request, {
      role: "server",
      direction: request.type === "rrq" ? "send" : "receive",
      mode: checkTransferMode(request.mode),
      peer: from,
      accepted: {
        oack: negotiation.oack
          ? encodeTftpPacket({ type: "oack", options: negotiation.oack })
          : undefined,
        parameters: negotiation.parameters,
        request,
      },
      retransmit: this.#options.retransmit,
      maxSize: request.type === "wrq" ? maxWriteSize : undefined,
      allowSorcerersApprentice: this.#options.allowSorcerersApprentice,
      confirmEnd: file.confirmEnd,
      readAhead: this.#options.readAhead,
      firstReplyRetransmits: this.#options.firstReplyRetransmits ?? 0,
    });
    const tracked: Tracked = { transfer, address: ipv4Form(from.address), charged: true };
    // The key is free: while a request waits, its key's datagrams are ignored, and a drained
    // transfer under it was forgotten when the request was admitted (#clientTransfers).
    this.#transfers.set(keyOf(from), tracked);
    this.#client(tracked.address).transfers.add(tracked);
    this.#unanswered.add(tracked);
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

  /**
   * Makes the machine of an accepted transfer; `accept` starts and tracks it. A subclass may
   * return a transfer that runs elsewhere (another thread) and reports its state here.
   *
   * @param request The request.
   * @param init The transfer's setup, as negotiated.
   * @returns The transfer.
   */
  protected createTransfer(request: TftpRequest, init: TftpTransferInit): TftpServerTransfer {
    return new TftpServerTransfer(request, init);
  }

  /** Requests handed out and not yet accepted or rejected, plus transfers not finished yet (one
   * that dallies after its last block does not count). */
  activeTransfers(): number {
    let count = this.#waiting.size;
    for (const [key, tracked] of this.#transfers) {
      if (tracked.transfer.isDrained()) this.#forget(key, tracked);
      else if (!tracked.transfer.isFinished()) count++;
    }
    return count;
  }

  /** The requests and unfinished transfers of one client address; gives back the tokens of
   * transfers whose client answered. */
  #clientTransfers(address: string): number {
    const client = this.#clients.get(address);
    if (!client) return 0;
    let count = client.waiting;
    for (const tracked of [...client.transfers]) {
      if (tracked.transfer.isDrained()) {
        this.#forget(keyOf(tracked.transfer.peer), tracked);
        continue;
      }
      this.#refund(tracked);
      if (!tracked.transfer.isFinished()) count++;
    }
    return count;
  }

  /**
   * Takes a token from the address's bucket (refilled at `requestRate` per second up to
   * `requestBurst`); `false`, and the request dropped, when it is empty. Tokens of transfers
   * whose client answered are given back first.
   */
  #admit(now: number, from: TftpAddress): boolean {
    if (this.#rate === Infinity) return true;
    const client = ipv4Form(from.address);
    this.#clientTransfers(client);
    this.#pruneBuckets(now);
    const bucket = this.#buckets.get(client);
    let tokens = this.#burst;
    if (bucket) {
      tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) * this.#rate) / 1000);
      this.#buckets.delete(client);
    }
    if (tokens < 1) {
      this.#buckets.set(client, { tokens, at: now });
      this.#limited++;
      return false;
    }
    this.#buckets.set(client, { tokens: tokens - 1, at: now });
    return true;
  }

  /**
   * Ends the oldest transfer among `candidates` (in the order they were accepted) whose client
   * has not answered, and forgets it; `false` when there is none. Entries of `#unanswered` found
   * answered or finished on the way are dropped from it.
   */
  #evict(now: number, candidates: Iterable<Tracked> | undefined): boolean {
    for (const tracked of candidates ?? []) {
      const { transfer } = tracked;
      if (transfer.answered || transfer.isFinished()) {
        this.#unanswered.delete(tracked);
        continue;
      }
      // Unanswered and not finished: the transfer ends.
      transfer.evict(now);
      this.#evicted++;
      this.#forget(keyOf(transfer.peer), tracked);
      this.#events.push({ type: "evicted", transfer });
      return true;
    }
    return false;
  }

  /** Gives a transfer's token back once its client has answered its first reply. */
  #refund(tracked: Tracked): void {
    if (!tracked.charged || !tracked.transfer.answered) return;
    tracked.charged = false;
    const bucket = this.#buckets.get(tracked.address);
    // No bucket: it was full and forgotten.
    if (bucket) bucket.tokens = Math.min(this.#burst, bucket.tokens + 1);
  }

  /** Forgets buckets that have refilled, oldest update first; keeps at most MAX_BUCKETS. */
  #pruneBuckets(now: number): void {
    for (const [address, bucket] of this.#buckets) {
      const full = bucket.tokens + ((now - bucket.at) * this.#rate) / 1000 >= this.#burst;
      if (!full && this.#buckets.size <= MAX_BUCKETS) break;
      this.#buckets.delete(address);
    }
  }

  #client(address: string): Client {
    let client = this.#clients.get(address);
    if (!client) {
      client = { waiting: 0, transfers: new Set() };
      this.#clients.set(address, client);
    }
    return client;
  }

  #forget(key: string, tracked: Tracked): void {
    this.#refund(tracked);
    this.#unanswered.delete(tracked);
    if (this.#transfers.get(key) === tracked) this.#transfers.delete(key);
    // A tracked transfer keeps its client's entry (it is one of its transfers until now).
    const client = this.#clients.get(tracked.address)!;
    client.transfers.delete(tracked);
    if (client.waiting === 0 && client.transfers.size === 0) this.#clients.delete(tracked.address);
  }

  #settle(pending: TftpServerRequest): void {
    const key = keyOf(pending.from);
    if (this.#waiting.get(key) !== pending) {
      throw new TypeError("Request already settled, or not from this endpoint");
    }
    this.#waiting.delete(key);
    const address = ipv4Form(pending.from.address);
    const client = this.#client(address);
    client.waiting--;
    if (client.waiting === 0 && client.transfers.size === 0) this.#clients.delete(address);
  }

  #error(to: TftpAddress, code: number, message: string): void {
    this.#transmits.push({ to, bytes: encodeTftpPacket({ type: "error", code, message }) });
  }
}

/** A transfer the endpoint made, and whether its client's token is still spent on it. */
interface Tracked {
  readonly transfer: TftpServerTransfer;
  readonly address: string;
  charged: boolean;
}

interface Client {
  waiting: number;
  transfers: Set<Tracked>;
}

interface Bucket {
  tokens: number;
  at: number;
}

// Buckets kept at most: beyond, the oldest are forgotten (their addresses start full again), so
// forged requests from ever new addresses cannot grow the endpoint's memory without bound.
const MAX_BUCKETS = 16384;

function limit(name: string, value: number): number {
  if (!(value >= 0)) throw new RangeError(`${name} must be 0 or more, got ${value}`);
  return value;
}

/** A client's address and port; an IPv4-mapped address (::ffff:a.b.c.d) as its IPv4 form. */
function keyOf(address: TftpAddress): string {
  return `${ipv4Form(address.address)}|${address.port}`;
}
