/**
 * The TFTP transfer machine (sans-I/O): one file moving between two transfer IDs, from either
 * side, in either direction. `TftpClientTransfer` and the server endpoint's `accept` make them.
 *
 * A driver runs it like this, after every input:
 *
 * 1. feed it: `handleDatagram(now, bytes, from)`, `handleTimeout(now)` when `pollTimeout()` has
 *    passed, `write(chunk)` / `end()` when it asked for data;
 * 2. drain it: `pollTransmit()` until `undefined` (send each datagram), `pollEvent()` until
 *    `undefined`, then arm a timer for `pollTimeout()`;
 * 3. stop when `isDrained()`.
 *
 * @module
 */

import {
  encodeTftpPacket,
  NetasciiDecoder,
  NetasciiEncoder,
  TftpDecodeError,
  TftpErrorCode,
  type TftpMode,
  type TftpOptions,
  type TftpPacket,
  type TftpRequest,
  tryDecodeTftpPacket,
} from "../codec/mod.ts";
import { sameTftpAddress, type TftpAddress, type TftpTransmit } from "./address.ts";
import { stepsTo, wireBlock } from "./_block_number.ts";
import {
  checkTftpOack,
  TFTP_DEFAULT_PARAMETERS,
  type TftpTransferParameters,
} from "./negotiation.ts";

/** Retransmission timing. Every wait on the network is bounded by these. */
export interface TftpRetransmitOptions {
  /**
   * Time before the first retransmission, in ms (default 1000). A timeout negotiated with the
   * `timeout` or `utimeout` option (RFC 2349) wins, from the first reply on: a server waits that
   * long for its client's answer too, since the client waits that long before it sends a lost
   * answer again (see {@linkcode TftpTransferInit.firstReplyRetransmits}).
   */
  timeoutMs?: number;
  /** Factor applied to the timeout after each consecutive retransmission (default 2). */
  backoff?: number;
  /** Longest timeout after backoff, in ms (default 8000). */
  maxTimeoutMs?: number;
  /** Consecutive timeouts before the transfer fails (default 6). */
  retries?: number;
  /** How long the receiver of the last block stays to re-ACK a retransmitted final DATA, in ms
   * (default: twice the timeout). */
  dallyMs?: number;
  /** Receiver, windowsize above 1: when a window stops arriving part-way (its tail was lost, say
   * to a full socket buffer), ACK the last block in order after this long instead of waiting the
   * whole timeout (RFC 7440 section 4 lets the receiver ACK on a timeout of its choosing). The
   * default adapts: 8 times the usual gap between blocks of a window, at least 2 ms, at most the
   * timeout. */
  windowStallMs?: number;
}

/** Why a transfer failed. */
export type TftpFailureReason =
  /** The peer sent an ERROR packet. */
  | "peer-error"
  /** The retry budget ran out. */
  | "timeout"
  /** The peer sent a malformed or unexpected packet; ERROR 4 was sent. */
  | "protocol-error"
  /** The client refused the server's OACK; ERROR 8 was sent. */
  | "option-negotiation"
  /** More data arrived than the size limit allows; ERROR 3 was sent. */
  | "size-limit"
  /** The local side called `abort()`. */
  | "aborted"
  /** Server: `evict()` ended it, before its client answered, to make room for a new request;
   * nothing was sent. */
  | "evicted";

/** Counters of a transfer. */
export interface TftpTransferStats {
  /** File bytes sent or delivered so far (after netascii conversion on receive). */
  bytes: number;
  /** DATA blocks sent or accepted (new ones, not retransmissions). */
  blocks: number;
  /** Datagrams sent again because of a timeout, a gap or a duplicate. */
  retransmits: number;
  /** Retransmission timeouts that fired. */
  timeouts: number;
  /** Duplicate or out-of-window DATA and ACK packets received. */
  duplicates: number;
  /** When the transfer started (the `now` of its first input). */
  startedAt: number;
  /** When the final event was emitted. */
  endedAt: number | undefined;
}

/** Something the machine tells its driver. `complete` and `failed` are final: exactly one comes. */
export type TftpTransferEvent =
  | {
    /** Negotiation is over: these are the parameters (defaults when the peer ignored options). */
    readonly type: "negotiated";
    /** The parameters the transfer runs with. */
    readonly parameters: TftpTransferParameters;
  }
  | {
    /** The sending side wants more file bytes: call `write(chunk)`, or `end()` at end of file. */
    readonly type: "data-wanted";
    /**
     * When set, the most bytes worth reading now: a server whose client has not answered yet
     * wants only its first window, so that a forged request never makes it read a large chunk.
     */
    readonly limit?: number;
  }
  | {
    /** The receiving side delivers the next bytes of the file, in order. */
    readonly type: "data";
    /** The bytes (after netascii conversion in netascii mode). */
    readonly data: Uint8Array;
  }
  | {
    /**
     * Receiver with `confirmEnd`: the last block is in and every byte was delivered. Store the
     * file, then call `confirmEnd(now)` to send the final ACK (or `abort` if storing failed).
     */
    readonly type: "end-of-data";
  }
  | {
    /** Final: every byte was delivered (receiver) or acknowledged (sender). */
    readonly type: "complete";
    /** The transfer's counters. */
    readonly stats: TftpTransferStats;
  }
  | {
    /** Final: the transfer failed. An ERROR packet, if one is due, was queued before this. */
    readonly type: "failed";
    /** Why. */
    readonly reason: TftpFailureReason;
    /** The TFTP error code sent or received (0 when a timeout ended it). */
    readonly code: number;
    /** A sentence saying what happened. */
    readonly message: string;
    /** The transfer's counters. */
    readonly stats: TftpTransferStats;
  };

/** How a transfer machine is set up. The client and server constructors fill this in. */
export interface TftpTransferInit {
  /** Which side this machine is. */
  readonly role: "client" | "server";
  /** Whether this side sends the file (client WRQ, server RRQ) or receives it. */
  readonly direction: "send" | "receive";
  /** The transfer mode; netascii is converted inside the machine. */
  readonly mode: "octet" | "netascii";
  /** The peer: the server's listening address for a client (its TID is latched from the first
   * reply), the client's TID for a server. */
  readonly peer: TftpAddress;
  /** Client: the request to send, and the options in it; `withoutOptions` is sent instead if the
   * server refuses the options with ERROR 8 (RFC 2347 allows this one retry). */
  readonly request?: {
    readonly bytes: Uint8Array;
    readonly type: "rrq" | "wrq";
    readonly options: TftpOptions;
    readonly withoutOptions?: Uint8Array;
  };
  /** Server: the OACK to send (if any), the negotiated parameters, and the request (so that
   * its repetition by the client is recognised). */
  readonly accepted?: {
    readonly oack: Uint8Array | undefined;
    readonly parameters: TftpTransferParameters;
    readonly request?: TftpRequest;
  };
  /** Retransmission timing. */
  readonly retransmit?: TftpRetransmitOptions;
  /** Receiver: the most file bytes accepted (ERROR 3 past it). */
  readonly maxSize?: number;
  /** Receiver: hold the final ACK until `confirmEnd(now)`, so the peer learns of success only once
   * the file is stored (an `end-of-data` event says when). */
  readonly confirmEnd?: boolean;
  /** Sender: file bytes to keep ready beyond the window (default 131072); `data-wanted` comes
   * while fewer are buffered. */
  readonly readAhead?: number;
  /** Sender: answer a duplicate ACK by sending the window again (Sorcerer's Apprentice); off by
   * default as RFC 1123 section 4.2.3.1 requires. */
  readonly allowSorcerersApprentice?: boolean;
  /**
   * Server: how many times the first reply (OACK, DATA 1 or ACK 0) is sent again on a timeout
   * before the client has answered it (default: `retries`, like any other packet). Until the
   * client answers, its address may be forged, and every repetition is traffic a stranger made
   * the server send to it; a client that lost the reply repeats its request instead, which is
   * answered with the reply again. Both kinds of repetition count together: a timeout repeats the
   * reply while fewer than this many went out, a repeated request while fewer than `retries`.
   *
   * Sending nothing more does not shorten the wait: the transfer waits for the client's answer on
   * its whole retry schedule (`timeoutMs`, or the `timeout` or `utimeout` the request negotiated,
   * then `backoff` up to `maxTimeoutMs`, `retries` times), since a client whose ACK 0 or DATA 1 was
   * lost sends it again only after its own timeout. A repeated request does not restart that
   * schedule. When it runs out without an answer, the transfer ends silently: `failed`, reason
   * `"timeout"`, no ERROR sent.
   */
  readonly firstReplyRetransmits?: number;
}

type Phase =
  | "idle"
  | "requesting"
  | "oack-sent"
  | "sending"
  | "receiving"
  | "confirming"
  | "dallying"
  | "drained";

const EMPTY = new Uint8Array(0);

/**
 * One TFTP transfer, sans-I/O. See the module documentation for the driver loop.
 *
 * Inputs: `start`, `handleDatagram`, `handleTimeout`, `write`, `end`, `abort`.
 * Outputs: `pollTransmit`, `pollEvent`, `pollTimeout`, `isDrained`.
 *
 * @example
 * ```ts
 * import { TftpClientTransfer } from "@ftkit/ftkit/tftp";
 *
 * const transfer = new TftpClientTransfer({
 *   type: "rrq",
 *   filename: "pxelinux.0",
 *   server: { address: "127.0.0.1", port: 69 },
 * });
 * transfer.start(0);
 * const rrq = transfer.pollTransmit(); // the RRQ datagram, to 127.0.0.1:69
 * ```
 */
export class TftpTransfer {
  readonly #role: "client" | "server";
  readonly #direction: "send" | "receive";
  readonly #mode: "octet" | "netascii";
  #request: TftpTransferInit["request"];
  readonly #server: TftpAddress;
  readonly #serverOack: Uint8Array | undefined;
  readonly #serverRequest: TftpRequest | undefined;
  readonly #firstReplyRetransmits: number;
  readonly #maxSize: number;
  readonly #sorcerersApprentice: boolean;
  readonly #confirmEnd: boolean;
  readonly #readAhead: number;
  readonly #baseTimeoutMs: number;
  readonly #backoff: number;
  readonly #maxTimeoutMs: number;
  readonly #retryBudget: number;
  readonly #dallyMs: number | undefined;
  readonly #windowStallMs: number | undefined;

  #peer: TftpAddress;
  #latched: boolean;
  #phase: Phase = "idle";
  #parameters: TftpTransferParameters = TFTP_DEFAULT_PARAMETERS;
  #transmits: TftpTransmit[] = [];
  #events: TftpTransferEvent[] = [];
  #timerAt: number | undefined;
  #timeoutMs: number;
  #retries = 0;
  // Whether the peer has answered since the start: until then a server's peer may be forged.
  #answered = false;
  // Times a server sent its first reply again (on timeouts and on repeated requests).
  #firstReplyResends = 0;
  readonly #stats: TftpTransferStats = {
    bytes: 0,
    blocks: 0,
    retransmits: 0,
    timeouts: 0,
    duplicates: 0,
    startedAt: 0,
    endedAt: undefined,
  };

  // Sender: blocks base..base+blocks.length-1 are encoded DATA packets kept for retransmission;
  // those below `next` have been sent. `pending` holds file bytes not yet cut into blocks.
  #base = 1;
  #next = 1;
  #blocks: Uint8Array[] = [];
  #finalBlock: number | undefined;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #ended = false;
  #asked = false;
  #encoder: NetasciiEncoder | undefined;

  // Receiver: `expected` is the next block wanted; `lastAck` the packet to repeat.
  #expected = 1;
  #acked = 0;
  #lastAck: Uint8Array | undefined;
  #gapAcked = false;
  #decoder: NetasciiDecoder | undefined;
  // Receiver, windowed: when the window counts as stalled; when the last block in order came,
  // whether it came inside a window (so the gap to the next one measures the sender's pace),
  // and the smoothed gap between blocks of a window.
  #stallAt: number | undefined;
  #lastDataAt = 0;
  #midWindow = false;
  #blockGapMs: number | undefined;

  /**
   * Makes a transfer machine. Most users call `new TftpClientTransfer(...)` or
   * `TftpServerEndpoint.accept(...)` instead.
   *
   * @param init How the transfer is set up.
   */
  constructor(init: TftpTransferInit) {
    this.#role = init.role;
    this.#direction = init.direction;
    this.#mode = init.mode;
    this.#peer = init.peer;
    this.#server = init.peer;
    this.#latched = init.role === "server";
    this.#request = init.request;
    this.#serverOack = init.accepted?.oack;
    this.#serverRequest = init.accepted?.request;
    if (init.role === "client" && !init.request) {
      throw new TypeError("A client transfer needs a request");
    }
    if (init.role === "server" && !init.accepted) {
      throw new TypeError("A server transfer needs its parameters");
    }
    if (init.accepted) this.#parameters = init.accepted.parameters;
    const retransmit = init.retransmit ?? {};
    this.#baseTimeoutMs = positive("timeoutMs", retransmit.timeoutMs ?? 1000);
    this.#backoff = retransmit.backoff ?? 2;
    if (!(this.#backoff >= 1)) {
      throw new RangeError(`backoff must be 1 or more, got ${this.#backoff}`);
    }
    this.#maxTimeoutMs = positive("maxTimeoutMs", retransmit.maxTimeoutMs ?? 8000);
    this.#retryBudget = retransmit.retries ?? 6;
    if (!Number.isInteger(this.#retryBudget) || this.#retryBudget < 0) {
      throw new RangeError(`retries must be a whole number, got ${this.#retryBudget}`);
    }
    this.#dallyMs = retransmit.dallyMs;
    this.#firstReplyRetransmits = init.firstReplyRetransmits ?? this.#retryBudget;
    if (!Number.isInteger(this.#firstReplyRetransmits) || this.#firstReplyRetransmits < 0) {
      throw new RangeError(
        `firstReplyRetransmits must be a whole number, got ${this.#firstReplyRetransmits}`,
      );
    }
    if (retransmit.windowStallMs !== undefined) {
      this.#windowStallMs = positive("windowStallMs", retransmit.windowStallMs);
    }
    this.#timeoutMs = this.#baseTimeoutMs;
    this.#maxSize = init.maxSize ?? Number.MAX_SAFE_INTEGER;
    this.#sorcerersApprentice = init.allowSorcerersApprentice ?? false;
    this.#confirmEnd = init.confirmEnd ?? false;
    this.#readAhead = init.readAhead ?? 131072;
    if (init.mode === "netascii") {
      if (init.direction === "send") this.#encoder = new NetasciiEncoder();
      else this.#decoder = new NetasciiDecoder();
    }
  }

  // --- getters ---

  /** The peer's transfer ID: for a client, the server's listening address until a reply latches it. */
  get peer(): TftpAddress {
    return this.#peer;
  }

  /** The parameters in force (the defaults until negotiation ends). */
  get parameters(): TftpTransferParameters {
    return this.#parameters;
  }

  /** The transfer's counters, live. */
  get stats(): Readonly<TftpTransferStats> {
    return this.#stats;
  }

  /**
   * Whether the peer has answered: for a server, the client acknowledged the OACK or DATA 1, or
   * sent DATA 1; for a client, the server replied to the request. Until then a server's peer may
   * be a forged address.
   */
  get answered(): boolean {
    return this.#answered;
  }

  /** Whether the final event is out (the transfer may still dally to re-ACK a last block). */
  isFinished(): boolean {
    return this.#phase === "dallying" || this.#phase === "drained";
  }

  /** Whether the machine has nothing more to do: its final event is out and any dally is over. */
  isDrained(): boolean {
    return this.#phase === "drained";
  }

  // --- outputs ---

  /** The next datagram to send, or `undefined`. */
  pollTransmit(): TftpTransmit | undefined {
    return this.#transmits.shift();
  }

  /** The next event, or `undefined`. */
  pollEvent(): TftpTransferEvent | undefined {
    return this.#events.shift();
  }

  /** When `handleTimeout` must next be called (same clock as `now`), or `undefined`. */
  pollTimeout(): number | undefined {
    const stall = this.#stallAt;
    if (stall === undefined) return this.#timerAt;
    return this.#timerAt === undefined || stall < this.#timerAt ? stall : this.#timerAt;
  }

  // --- inputs ---

  /**
   * Starts the transfer: a client sends its request; a server sends its OACK, or its ACK 0 for a
   * write, or asks for the first block of a read.
   *
   * @param now The current time in ms.
   */
  start(now: number): void {
    if (this.#phase !== "idle") throw new TypeError("Transfer already started");
    this.#stats.startedAt = now;
    if (this.#role === "client") {
      this.#phase = "requesting";
      this.#send(this.#request!.bytes);
      this.#arm(now);
      if (this.#direction === "send") this.#askForData();
      return;
    }
    this.#events.push({ type: "negotiated", parameters: this.#parameters });
    // RFC 2349: the client waits this long before it retransmits, its ACK 0 or DATA 1 included,
    // so the server waits as long for that answer. A forged request that asks for a long wait
    // holds its slot no longer than the next request that needs it (the endpoint evicts it).
    this.#timeoutMs = this.#parameters.timeoutMs ?? this.#baseTimeoutMs;
    if (this.#direction === "send") {
      if (this.#serverOack) {
        this.#phase = "oack-sent";
        this.#send(this.#serverOack);
        this.#arm(now);
        this.#askForData();
      } else {
        this.#phase = "sending";
        this.#pump(now);
      }
    } else {
      this.#phase = "receiving";
      this.#acknowledge(now, 0, this.#serverOack);
    }
  }

  /**
   * Feeds a datagram received on this transfer's socket.
   *
   * @param now The current time in ms.
   * @param bytes The datagram.
   * @param from Where it came from.
   */
  handleDatagram(now: number, bytes: Uint8Array, from: TftpAddress): void {
    if (this.#phase === "idle") throw new TypeError("Transfer not started");
    if (this.#phase === "drained") return;
    if (!this.#fromPeer(from)) return;
    const packet = tryDecodeTftpPacket(bytes);
    if (packet instanceof TftpDecodeError) {
      if (this.#phase === "dallying") return;
      this.#fail(
        now,
        "protocol-error",
        packet.errorCode,
        `Malformed packet: ${packet.message}`,
        true,
      );
      return;
    }
    if (packet.type === "error") {
      if (this.#phase === "dallying") return;
      const plain = this.#request?.withoutOptions;
      if (
        this.#phase === "requesting" && packet.code === TftpErrorCode.OptionNegotiation && plain
      ) {
        // RFC 2347: a server that refuses the options may be asked again without them.
        this.#request = { bytes: plain, type: this.#request!.type, options: {} };
        this.#peer = this.#server;
        this.#latched = false;
        this.#retries = 0;
        this.#send(plain);
        this.#arm(now);
        return;
      }
      this.#fail(
        now,
        "peer-error",
        packet.code,
        packet.message || `Peer sent error ${packet.code}`,
        false,
      );
      return;
    }
    if ((packet.type === "rrq" || packet.type === "wrq") && this.#role === "server") {
      this.#onRepeatedRequest(now, packet);
      return;
    }
    switch (this.#phase) {
      case "requesting":
        return this.#onReply(now, packet);
      case "oack-sent":
        if (packet.type === "ack" && packet.block === 0) {
          this.#answered = true;
          this.#phase = "sending";
          this.#resetTimer();
          this.#pump(now);
          return;
        }
        return this.#illegal(now, packet);
      case "sending":
        if (packet.type === "ack") return this.#onAck(now, packet.block);
        // The server repeating its OACK (it missed our first DATA, or the network duplicated it).
        if (packet.type === "oack" && this.#role === "client") {
          this.#stats.duplicates++;
          return;
        }
        return this.#illegal(now, packet);
      case "receiving":
        if (packet.type === "data") return this.#onData(now, packet.block, packet.data);
        if (packet.type === "oack" && this.#role === "client") {
          // The server repeats its OACK: it did not get our ACK 0, so send it again; once data
          // flows, a late copy is only a duplicate.
          this.#stats.duplicates++;
          if (this.#expected === 1) {
            this.#stats.retransmits++;
            this.#send(this.#lastAck!);
          }
          return;
        }
        return this.#illegal(now, packet);
      case "confirming":
        // The peer repeats its last DATA while the file is being stored: the ACK comes soon.
        if (packet.type === "data") this.#stats.duplicates++;
        return;
      case "dallying":
        if (
          packet.type === "data" &&
          packet.block === wireBlock(this.#expected - 1, this.#parameters.rollover)
        ) {
          this.#stats.duplicates++;
          this.#stats.retransmits++;
          this.#send(this.#lastAck!);
        }
        return;
    }
  }

  /**
   * Fires whatever expired: retransmits, or fails once the retry budget is spent, or ends the
   * dally. A no-op before the deadline.
   *
   * @param now The current time in ms.
   */
  handleTimeout(now: number): void {
    if (this.#stallAt !== undefined && now >= this.#stallAt) {
      // The rest of the window is not coming: ACK what arrived, so the sender goes on from
      // there now rather than after its timeout (RFC 7440 section 4).
      this.#gapAcked = true;
      this.#acknowledge(now, this.#expected - 1);
      return;
    }
    if (this.#timerAt === undefined || now < this.#timerAt) return;
    this.#timerAt = undefined;
    if (this.#phase === "dallying") {
      this.#phase = "drained";
      return;
    }
    this.#stats.timeouts++;
    const unanswered = this.#role === "server" && !this.#answered;
    if (this.#retries >= this.#retryBudget) {
      const waited = this.#phase === "requesting"
        ? "No reply from the server"
        : unanswered
        ? "The client never answered"
        : "Peer stopped answering";
      // A client that never answered may be a forged address: it is sent nothing more.
      this.#fail(
        now,
        "timeout",
        TftpErrorCode.NotDefined,
        `${waited} after ${this.#retries + 1} tries`,
        !unanswered,
      );
      return;
    }
    this.#retries++;
    this.#timeoutMs = Math.min(this.#timeoutMs * this.#backoff, this.#maxTimeoutMs);
    if (unanswered) {
      // The client's address may be forged: repeat the first reply only as allowed. But go on
      // waiting on the retry schedule, for the client's repeated request or for its answer: an
      // ACK 0 or DATA 1 that was lost comes again only after the client's own timeout.
      if (this.#firstReplyResends >= this.#firstReplyRetransmits) {
        this.#timerAt = now + this.#timeoutMs;
        return;
      }
      this.#firstReplyResends++;
    }
    switch (this.#phase) {
      case "requesting":
        this.#retransmit(this.#request!.bytes);
        break;
      case "oack-sent":
        this.#retransmit(this.#serverOack!);
        break;
      case "sending":
        // RFC 7440 section 4: send the whole outstanding window again.
        this.#next = this.#base;
        this.#pump(now, true);
        break;
      case "receiving":
        // RFC 7440 section 4: the receiver times out and ACKs the last block received in order.
        this.#stats.retransmits++;
        this.#acknowledge(
          now,
          this.#expected - 1,
          this.#expected === 1 ? this.#lastAck : undefined,
        );
        return;
    }
    this.#timerAt = now + this.#timeoutMs;
  }

  /**
   * Gives the sender more file bytes, of any length. Call it after a `data-wanted` event; the
   * machine cuts the bytes into blocks (converting to netascii in that mode).
   *
   * @param now The current time in ms.
   * @param chunk File bytes.
   */
  write(now: number, chunk: Uint8Array): void {
    this.#checkWritable();
    const bytes = this.#encoder ? this.#encoder.encode(chunk) : chunk;
    if (bytes.length > 0) {
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.length;
    }
    this.#asked = false;
    if (this.#phase === "sending") this.#pump(now);
    else this.#askForData();
  }

  /**
   * Tells the sender the file has no more bytes.
   *
   * @param now The current time in ms.
   */
  end(now: number): void {
    this.#checkWritable();
    this.#ended = true;
    if (this.#phase === "sending") this.#pump(now);
  }

  /**
   * Ends the transfer from this side: sends ERROR `code` with `message` to the peer (if it is still
   * running) and emits `failed` with reason `"aborted"`.
   *
   * @param now The current time in ms.
   * @param code The error code to send (default 0).
   * @param message The message to send.
   */
  abort(now: number, code: number = TftpErrorCode.NotDefined, message = "Transfer aborted"): void {
    if (this.#phase === "drained" || this.#phase === "dallying") return;
    // Before start nothing was sent, so the peer has nothing to be told.
    this.#fail(now, "aborted", code, message, this.#phase !== "idle");
  }

  /**
   * Server: ends the transfer while its client has not answered its first reply, sending nothing
   * (the address may be forged), with a final `failed` event of reason `"evicted"`. The endpoint
   * does this to the oldest such transfer when a new request finds its limits reached.
   *
   * @param now The current time in ms.
   * @returns Whether it ended the transfer: `false` once the client has answered or the transfer
   * is over.
   */
  evict(now: number): boolean {
    if (this.#role !== "server" || this.#answered || this.isFinished()) return false;
    this.#fail(
      now,
      "evicted",
      TftpErrorCode.NotDefined,
      "Ended for a newer request before the client answered",
      false,
    );
    return true;
  }

  /**
   * Receiver with `confirmEnd`: the file is stored; send the final ACK and complete.
   *
   * @param now The current time in ms.
   */
  confirmEnd(now: number): void {
    if (this.#phase === "drained") return;
    if (this.#phase !== "confirming") throw new TypeError("No end of data to confirm");
    this.#finishReceiving(now);
  }

  // --- the first reply (server) ---

  /**
   * The client sent its request again to this transfer's TID: it lost the first reply (RFC 1350
   * section 4: the requester times out and retransmits). While the client has not answered, that
   * reply goes out again, one for each repetition and at most `retries` times; anything else is
   * a duplicate. A different request from the same TID is not this transfer's to answer. The
   * retry schedule goes on as it was, so that no repetition keeps the transfer alive past it.
   */
  #onRepeatedRequest(now: number, packet: TftpRequest): void {
    this.#stats.duplicates++;
    if (
      this.#answered || this.#firstReplyResends >= this.#retryBudget ||
      !sameRequest(packet, this.#serverRequest)
    ) return;
    switch (this.#phase) {
      case "oack-sent":
        this.#firstReplyResends++;
        this.#retransmit(this.#serverOack!);
        return;
      case "sending":
        // No OACK: the first reply is the first window, once its blocks are cut.
        if (this.#next === this.#base) return;
        this.#firstReplyResends++;
        this.#next = this.#base;
        this.#pump(now, true);
        return;
      case "receiving":
        this.#firstReplyResends++;
        this.#retransmit(this.#lastAck!);
        return;
    }
  }

  // --- the request stage (client) ---

  #onReply(now: number, packet: TftpPacket): void {
    this.#answered = true;
    const request = this.#request!;
    const reading = request.type === "rrq";
    if (packet.type === "oack") {
      const names = (packet.unknownOptions ?? []).map((option) => option.name);
      const check = checkTftpOack(request.type, request.options, packet.options, names);
      if (!check.ok) {
        this.#fail(now, "option-negotiation", TftpErrorCode.OptionNegotiation, check.message, true);
        return;
      }
      this.#negotiated(check.parameters);
      if (reading) {
        // RFC 2347: the client answers an OACK to its RRQ with ACK 0.
        this.#phase = "receiving";
        this.#acknowledge(now, 0);
      } else {
        // RFC 2347: and an OACK to its WRQ with DATA 1.
        this.#phase = "sending";
        this.#pump(now);
      }
      return;
    }
    // A server that ignores the options answers like RFC 1350: DATA 1 or ACK 0 (RFC 2347).
    if (reading && packet.type === "data" && packet.block === 1) {
      this.#negotiated(TFTP_DEFAULT_PARAMETERS);
      this.#phase = "receiving";
      this.#onData(now, packet.block, packet.data);
      return;
    }
    if (!reading && packet.type === "ack" && packet.block === 0) {
      this.#negotiated(TFTP_DEFAULT_PARAMETERS);
      this.#phase = "sending";
      this.#pump(now);
      return;
    }
    this.#illegal(now, packet);
  }

  #negotiated(parameters: TftpTransferParameters): void {
    this.#parameters = parameters;
    this.#timeoutMs = parameters.timeoutMs ?? this.#baseTimeoutMs;
    this.#retries = 0;
    this.#timerAt = undefined;
    this.#events.push({ type: "negotiated", parameters });
  }

  // --- sending ---

  #onAck(now: number, block: number): void {
    const acked = this.#base - 1 + stepsTo(this.#base - 1, block, this.#parameters.rollover);
    if (acked === this.#base - 1 || acked >= this.#next) {
      // A duplicate ACK, or one for a block never sent. RFC 1123 section 4.2.3.1: never answer a
      // duplicate ACK with DATA (the Sorcerer's Apprentice), unless asked to.
      this.#stats.duplicates++;
      if (this.#sorcerersApprentice && acked === this.#base - 1 && this.#next > this.#base) {
        this.#next = this.#base;
        this.#pump(now, true);
      }
      return;
    }
    this.#answered = true;
    this.#blocks.splice(0, acked - this.#base + 1);
    this.#base = acked + 1;
    this.#resetTimer();
    if (this.#finalBlock !== undefined && acked >= this.#finalBlock) {
      this.#complete(now);
      return;
    }
    // RFC 7440 section 4: an ACK inside the window means the receiver missed the next block:
    // start the window again from there.
    const resend = this.#next > this.#base;
    if (resend) this.#next = this.#base;
    this.#pump(now, resend);
  }

  /** Cuts blocks while the window has room, sends what the window allows, asks for more data. */
  #pump(now: number, resending = false): void {
    const { blksize, windowsize, rollover } = this.#parameters;
    while (this.#finalBlock === undefined && this.#blocks.length < windowsize) {
      const payload = this.#takeBlock(blksize);
      if (payload === undefined) break;
      const block = this.#base + this.#blocks.length;
      this.#blocks.push(
        encodeTftpPacket({ type: "data", block: wireBlock(block, rollover), data: payload }),
      );
      if (payload.length < blksize) this.#finalBlock = block;
    }
    let sent = false;
    while (this.#next < this.#base + this.#blocks.length) {
      const isNew = this.#next > this.#stats.blocks;
      if (isNew) {
        this.#stats.blocks++;
        this.#stats.bytes += this.#blocks[this.#next - this.#base].length - 4;
      } else {
        this.#stats.retransmits++;
      }
      this.#send(this.#blocks[this.#next - this.#base]);
      this.#next++;
      sent = true;
    }
    if ((sent || resending) && this.#next > this.#base) this.#timerAt ??= now + this.#timeoutMs;
    this.#askForData();
  }

  #takeBlock(blksize: number): Uint8Array | undefined {
    if (this.#pendingBytes < blksize && !this.#ended) return undefined;
    const length = Math.min(blksize, this.#pendingBytes);
    const first = this.#pending[0];
    if (first !== undefined && first.length >= length) {
      // The common case: one chunk holds the whole block; take a view.
      const view = first.subarray(0, length);
      if (first.length === length) this.#pending.shift();
      else this.#pending[0] = first.subarray(length);
      this.#pendingBytes -= length;
      return view;
    }
    if (length === 0) return EMPTY;
    const payload = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.#pending[0];
      const take = Math.min(chunk.length, length - filled);
      payload.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.length) this.#pending.shift();
      else this.#pending[0] = chunk.subarray(take);
    }
    this.#pendingBytes -= length;
    return payload;
  }

  #askForData(): void {
    if (
      this.#direction !== "send" || this.#ended || this.#asked || this.#finalBlock !== undefined
    ) return;
    if (this.#role === "server" && !this.#answered) {
      // The client may be a forged address: read nothing before it acknowledges the OACK, and
      // without one only what the first window needs.
      if (this.#phase !== "sending") return;
      const { blksize, windowsize } = this.#parameters;
      const limit = blksize * (windowsize - this.#blocks.length) - this.#pendingBytes;
      if (limit <= 0) return;
      this.#asked = true;
      this.#events.push({ type: "data-wanted", limit });
      return;
    }
    // Keep a window of bytes ready beyond the blocks in flight, never the whole file. Before
    // the reply, plan on the options requested.
    const planned = this.#phase === "requesting" ? this.#request!.options : this.#parameters;
    const blksize = planned.blksize ?? TFTP_DEFAULT_PARAMETERS.blksize;
    const windowsize = planned.windowsize ?? 1;
    // At least `readAhead` bytes, so a slow source (a thread-pool file read) is never waited on.
    if (this.#pendingBytes >= Math.max(blksize * windowsize, this.#readAhead)) return;
    this.#asked = true;
    this.#events.push({ type: "data-wanted" });
  }

  #checkWritable(): void {
    if (this.#direction !== "send") throw new TypeError("Only the sending side takes data");
    if (this.#ended) throw new TypeError("Data already ended");
  }

  // --- receiving ---

  #onData(now: number, block: number, data: Uint8Array): void {
    const { blksize, windowsize, rollover } = this.#parameters;
    if (data.length > blksize) {
      this.#fail(
        now,
        "protocol-error",
        TftpErrorCode.IllegalOperation,
        `DATA block of ${data.length} bytes exceeds blksize ${blksize}`,
        true,
      );
      return;
    }
    const ahead = stepsTo(this.#expected, block, rollover);
    if (ahead !== 0) {
      this.#stats.duplicates++;
      if (this.#acked > 0 && block === wireBlock(this.#acked, rollover)) {
        // The block our last ACK named, again: the sender did not hear that ACK. ACK what we
        // have now. Copies of other blocks get no answer: in a window they follow an ACK that
        // already made the sender start again (a gap or a stall), and answering each one would
        // keep it restarting.
        this.#stats.retransmits++;
        this.#acknowledge(now, this.#expected - 1, undefined, false);
      } else if (ahead < windowsize && !this.#gapAcked) {
        // RFC 7440 section 4: a gap: ACK the last block received in order, once per gap.
        this.#gapAcked = true;
        this.#stats.retransmits++;
        this.#acknowledge(
          now,
          this.#expected - 1,
          this.#expected === 1 ? this.#lastAck : undefined,
          false,
        );
      }
      return;
    }
    if (this.#stats.bytes + data.length > this.#maxSize) {
      this.#fail(
        now,
        "size-limit",
        TftpErrorCode.DiskFull,
        `File exceeds the ${this.#maxSize} bytes allowed`,
        true,
      );
      return;
    }
    if (this.#midWindow) {
      const gap = now - this.#lastDataAt;
      this.#blockGapMs = this.#blockGapMs === undefined ? gap : (this.#blockGapMs * 7 + gap) / 8;
    }
    this.#answered = true;
    this.#lastDataAt = now;
    this.#stallAt = undefined;
    this.#expected++;
    this.#stats.blocks++;
    this.#gapAcked = false;
    this.#retries = 0;
    this.#timeoutMs = this.#parameters.timeoutMs ?? this.#baseTimeoutMs;
    const final = data.length < blksize;
    const delivered = this.#decoder ? this.#decoder.decode(data) : data;
    this.#deliver(delivered);
    if (final) {
      if (this.#decoder) this.#deliver(this.#decoder.flush());
      if (this.#confirmEnd) {
        this.#phase = "confirming";
        this.#timerAt = undefined;
        this.#events.push({ type: "end-of-data" });
      } else {
        this.#finishReceiving(now);
      }
      return;
    }
    if (this.#expected - 1 - this.#acked >= windowsize) {
      this.#acknowledge(now, this.#expected - 1);
      return;
    }
    this.#midWindow = true;
    this.#timerAt = now + this.#timeoutMs;
    this.#stallAt = now + this.#stallMs();
  }

  /** How long a window may pause before the receiver ACKs what it has. */
  #stallMs(): number {
    if (this.#windowStallMs !== undefined) return this.#windowStallMs;
    const gap = this.#blockGapMs;
    if (gap === undefined) return Math.min(this.#timeoutMs, 20);
    return Math.min(this.#timeoutMs, Math.max(2, 8 * gap));
  }

  #finishReceiving(now: number): void {
    this.#acknowledge(now, this.#expected - 1);
    this.#phase = "dallying";
    this.#stats.endedAt = now;
    this.#events.push({ type: "complete", stats: { ...this.#stats } });
    this.#timerAt = now + (this.#dallyMs ?? 2 * this.#timeoutMs);
  }

  #deliver(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#stats.bytes += data.length;
    this.#events.push({ type: "data", data });
  }

  /**
   * Sends ACK `block` (or `packet` in its place: an OACK stands for ACK 0). `rearm` restarts the
   * receiver's timer; answers to duplicates do not, so a peer repeating itself cannot keep the
   * transfer alive past its retry budget.
   */
  #acknowledge(now: number, block: number, packet?: Uint8Array, rearm = true): void {
    const bytes = packet ??
      encodeTftpPacket({ type: "ack", block: wireBlock(block, this.#parameters.rollover) });
    this.#acked = block;
    this.#lastAck = bytes;
    // Every ACK closes the window in progress.
    this.#stallAt = undefined;
    this.#midWindow = false;
    this.#send(bytes);
    if (rearm) this.#timerAt = now + this.#timeoutMs;
  }

  // --- shared ---

  /** Checks the source of a datagram; strangers get ERROR 5 (RFC 1350 section 4). */
  #fromPeer(from: TftpAddress): boolean {
    if (this.#latched) {
      if (sameTftpAddress(from, this.#peer)) return true;
    } else if (from.address === this.#peer.address) {
      // RFC 1350 section 4: the first reply chooses the server's TID.
      this.#peer = from;
      this.#latched = true;
      return true;
    }
    this.#transmits.push({
      to: from,
      bytes: encodeTftpPacket({
        type: "error",
        code: TftpErrorCode.UnknownTransferId,
        message: "Unknown transfer ID",
      }),
    });
    return false;
  }

  #illegal(now: number, packet: TftpPacket): void {
    this.#fail(
      now,
      "protocol-error",
      TftpErrorCode.IllegalOperation,
      `Unexpected ${packet.type.toUpperCase()} packet`,
      true,
    );
  }

  #send(bytes: Uint8Array): void {
    this.#transmits.push({ to: this.#peer, bytes });
  }

  #retransmit(bytes: Uint8Array): void {
    this.#stats.retransmits++;
    this.#send(bytes);
  }

  #arm(now: number): void {
    this.#timerAt = now + this.#timeoutMs;
  }

  #resetTimer(): void {
    this.#retries = 0;
    this.#timeoutMs = this.#parameters.timeoutMs ?? this.#baseTimeoutMs;
    this.#timerAt = undefined;
  }

  #complete(now: number): void {
    this.#phase = "drained";
    this.#timerAt = undefined;
    this.#stats.endedAt = now;
    this.#events.push({ type: "complete", stats: { ...this.#stats } });
  }

  #fail(
    now: number,
    reason: TftpFailureReason,
    code: number,
    message: string,
    sendError: boolean,
  ): void {
    if (sendError) {
      this.#send(encodeTftpPacket({ type: "error", code, message: message.replaceAll("\0", "") }));
    }
    this.#phase = "drained";
    this.#timerAt = undefined;
    this.#stallAt = undefined;
    this.#stats.endedAt = now;
    this.#pending = [];
    this.#blocks = [];
    this.#events.push({ type: "failed", reason, code, message, stats: { ...this.#stats } });
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
  return value;
}

/** Whether `packet` repeats `request`: same type, file, mode and options. */
function sameRequest(packet: TftpRequest, request: TftpRequest | undefined): boolean {
  if (!request) return false;
  if (
    packet.type !== request.type || packet.filename !== request.filename ||
    packet.mode !== request.mode
  ) return false;
  const names = Object.keys(packet.options) as (keyof TftpOptions)[];
  return names.length === Object.keys(request.options).length &&
    names.every((name) => packet.options[name] === request.options[name]);
}

/** The modes a transfer machine runs; mail (RFC 1350) is obsolete and refused. */
export function checkTransferMode(mode: TftpMode): "octet" | "netascii" {
  if (mode === "mail") throw new TypeError('Mode "mail" is obsolete (RFC 1350) and not supported');
  if (mode !== "octet" && mode !== "netascii") {
    throw new TypeError(`Mode must be "octet" or "netascii", got "${mode}"`);
  }
  return mode;
}
