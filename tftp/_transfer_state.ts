// What the parts of a transfer machine share: how it was set up, where it stands, what it has
// queued to send and to tell, its counters and its timer; and the ways it ends. The machine
// (transfer.ts) and its sending and receiving sides (_transfer_send.ts, _transfer_receive.ts)
// work on one of these.

import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import type { TftpOptions } from "../codec/tftp_options.ts";
import { encodeTftpPacket, type TftpPacket, type TftpRequest } from "../codec/tftp_packet.ts";
import type { TftpAddress, TftpTransmit } from "./address.ts";
import { TFTP_DEFAULT_PARAMETERS, type TftpTransferParameters } from "./negotiation.ts";
import { RetransmitTimer, type TftpRetransmitOptions } from "./_transfer_timer.ts";

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

/** Where a transfer stands. */
export type TransferPhase =
  | "idle"
  | "requesting"
  | "oack-sent"
  | "sending"
  | "receiving"
  | "confirming"
  | "dallying"
  | "drained";

/** The state a transfer's parts share. */
export class TransferState {
  /** Which side this machine is. */
  readonly role: "client" | "server";
  /** The retransmission timer. */
  readonly timer: RetransmitTimer;
  /** Datagrams queued for the driver. */
  readonly transmits: TftpTransmit[] = [];
  /** Events queued for the driver. */
  readonly events: TftpTransferEvent[] = [];
  /** The counters, live. */
  readonly stats: TftpTransferStats = {
    bytes: 0,
    blocks: 0,
    retransmits: 0,
    timeouts: 0,
    duplicates: 0,
    startedAt: 0,
    endedAt: undefined,
  };
  /** Where datagrams go: the peer's transfer ID (for a client, the server's listening address
   * until a reply latches it). */
  peer: TftpAddress;
  /** Client: the request in force (the one without options after an ERROR 8). */
  request: TftpTransferInit["request"];
  phase: TransferPhase = "idle";
  /** The parameters in force (the defaults until negotiation ends). */
  parameters: TftpTransferParameters;
  /** Whether the peer has answered since the start: until then a server's peer may be forged. */
  answered = false;
  /** Called as the transfer fails, to let what a side buffered go. */
  onFail: (() => void) | undefined;

  /**
   * Sets up the state of a transfer not started yet.
   *
   * @param init How the transfer is set up.
   */
  constructor(init: TftpTransferInit) {
    this.role = init.role;
    this.peer = init.peer;
    this.request = init.request;
    this.parameters = init.accepted?.parameters ?? TFTP_DEFAULT_PARAMETERS;
    this.timer = new RetransmitTimer(init.retransmit, init.firstReplyRetransmits);
  }

  /** Queues `bytes` for the peer. */
  send(bytes: Uint8Array): void {
    this.transmits.push({ to: this.peer, bytes });
  }

  /** Queues `bytes` for the peer again, counting it as a retransmission. */
  retransmit(bytes: Uint8Array): void {
    this.stats.retransmits++;
    this.send(bytes);
  }

  /** The peer answered: restarts the retry schedule, with no deadline until the next send. */
  resetTimer(): void {
    this.timer.reset(this.parameters.timeoutMs);
  }

  /** Negotiation is over: runs on `parameters` from now on, and says so. */
  negotiated(parameters: TftpTransferParameters): void {
    this.parameters = parameters;
    this.resetTimer();
    this.events.push({ type: "negotiated", parameters });
  }

  /** Ends the transfer with `complete`. */
  complete(now: number): void {
    this.phase = "drained";
    this.timer.at = undefined;
    this.stats.endedAt = now;
    this.events.push({ type: "complete", stats: { ...this.stats } });
  }

  /** Ends the transfer with `failed`, first queuing ERROR `code` to the peer if `sendError`. */
  fail(
    now: number,
    reason: TftpFailureReason,
    code: number,
    message: string,
    sendError: boolean,
  ): void {
    if (sendError) {
      this.send(encodeTftpPacket({ type: "error", code, message: message.replaceAll("\0", "") }));
    }
    this.phase = "drained";
    this.timer.stop();
    this.stats.endedAt = now;
    this.onFail?.();
    this.events.push({ type: "failed", reason, code, message, stats: { ...this.stats } });
  }

  /** A packet this phase does not take: ERROR 4, and the transfer fails. */
  illegal(now: number, packet: TftpPacket): void {
    this.fail(
      now,
      "protocol-error",
      TftpErrorCode.IllegalOperation,
      `Unexpected ${packet.type.toUpperCase()} packet`,
      true,
    );
  }
}
