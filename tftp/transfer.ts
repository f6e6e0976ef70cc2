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
 * This file holds the inputs and outputs, the client's request stage and the server's first
 * reply. The parts beside it: the state they all share, with the public types
 * (`_transfer_state.ts`), the retransmission timer (`_transfer_timer.ts`), the sending side
 * (`_transfer_send.ts`) and the receiving side (`_transfer_receive.ts`).
 *
 * @module
 */

import { TftpDecodeError } from "../codec/tftp_decode_error.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import type { TftpOptions } from "../codec/tftp_options.ts";
import {
  encodeTftpPacket,
  type TftpMode,
  type TftpPacket,
  type TftpRequest,
  tryDecodeTftpPacket,
} from "../codec/tftp_packet.ts";
import { sameTftpAddress, type TftpAddress, type TftpTransmit } from "./address.ts";
import { sameHost } from "./_ip_family.ts";
import {
  checkTftpOack,
  TFTP_DEFAULT_PARAMETERS,
  type TftpTransferParameters,
} from "./negotiation.ts";
import {
  type TftpTransferEvent,
  type TftpTransferInit,
  type TftpTransferStats,
  TransferState,
} from "./_transfer_state.ts";
import { TransferSender } from "./_transfer_send.ts";
import { TransferReceiver } from "./_transfer_receive.ts";

export type { TftpRetransmitOptions } from "./_transfer_timer.ts";
export type {
  TftpFailureReason,
  TftpTransferEvent,
  TftpTransferInit,
  TftpTransferStats,
} from "./_transfer_state.ts";

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
  readonly #state: TransferState;
  // One side, by direction: the other is undefined.
  readonly #sender: TransferSender | undefined;
  readonly #receiver: TransferReceiver | undefined;
  // Client: the server's listening address (the request goes there again after an ERROR 8), and
  // whether the server's TID is latched yet.
  readonly #server: TftpAddress;
  #latched: boolean;
  // Server: the first reply's OACK, the request it answers, and the times that reply was sent
  // again (on timeouts and on repeated requests).
  readonly #serverOack: Uint8Array | undefined;
  readonly #serverRequest: TftpRequest | undefined;
  #firstReplyResends = 0;

  /**
   * Makes a transfer machine. Most users call `new TftpClientTransfer(...)` or
   * `TftpServerEndpoint.accept(...)` instead.
   *
   * @param init How the transfer is set up.
   */
  constructor(init: TftpTransferInit) {
    if (init.role === "client" && !init.request) {
      throw new TypeError("A client transfer needs a request");
    }
    if (init.role === "server" && !init.accepted) {
      throw new TypeError("A server transfer needs its parameters");
    }
    this.#state = new TransferState(init);
    this.#server = init.peer;
    this.#latched = init.role === "server";
    this.#serverOack = init.accepted?.oack;
    this.#serverRequest = init.accepted?.request;
    this.#sender = init.direction === "send" ? new TransferSender(this.#state, init) : undefined;
    this.#receiver = init.direction === "receive"
      ? new TransferReceiver(this.#state, init)
      : undefined;
  }

  // --- getters ---

  /** The peer's transfer ID: for a client, the server's listening address until a reply latches it. */
  get peer(): TftpAddress {
    return this.#state.peer;
  }

  /** The parameters in force (the defaults until negotiation ends). */
  get parameters(): TftpTransferParameters {
    return this.#state.parameters;
  }

  /** The transfer's counters, live. */
  get stats(): Readonly<TftpTransferStats> {
    return this.#state.stats;
  }

  /**
   * Whether the peer has answered: for a server, the client acknowledged the OACK or DATA 1, or
   * sent DATA 1; for a client, the server replied to the request. Until then a server's peer may
   * be a forged address.
   */
  get answered(): boolean {
    return this.#state.answered;
  }

  /** Whether the final event is out (the transfer may still dally to re-ACK a last block). */
  isFinished(): boolean {
    return this.#state.phase === "dallying" || this.#state.phase === "drained";
  }

  /** Whether the machine has nothing more to do: its final event is out and any dally is over. */
  isDrained(): boolean {
    return this.#state.phase === "drained";
  }

  // --- outputs ---

  /** The next datagram to send, or `undefined`. */
  pollTransmit(): TftpTransmit | undefined {
    return this.#state.transmits.shift();
  }

  /** The next event, or `undefined`. */
  pollEvent(): TftpTransferEvent | undefined {
    return this.#state.events.shift();
  }

  /** When `handleTimeout` must next be called (same clock as `now`), or `undefined`. */
  pollTimeout(): number | undefined {
    return this.#state.timer.next;
  }

  // --- inputs ---

  /**
   * Starts the transfer: a client sends its request; a server sends its OACK, or its ACK 0 for a
   * write, or asks for the first block of a read.
   *
   * @param now The current time in ms.
   */
  start(now: number): void {
    const state = this.#state;
    if (state.phase !== "idle") throw new TypeError("Transfer already started");
    state.stats.startedAt = now;
    if (state.role === "client") {
      state.phase = "requesting";
      state.send(state.request!.bytes);
      state.timer.arm(now);
      this.#sender?.askForData();
      return;
    }
    state.events.push({ type: "negotiated", parameters: state.parameters });
    // RFC 2349: the client waits this long before it retransmits, its ACK 0 or DATA 1 included,
    // so the server waits as long for that answer. A forged request that asks for a long wait
    // holds its slot no longer than the next request that needs it (the endpoint evicts it).
    state.timer.restoreTimeout(state.parameters.timeoutMs);
    if (this.#sender) {
      if (this.#serverOack) {
        state.phase = "oack-sent";
        state.send(this.#serverOack);
        state.timer.arm(now);
        this.#sender.askForData();
      } else {
        state.phase = "sending";
        this.#sender.pump(now);
      }
    } else {
      state.phase = "receiving";
      this.#receiver!.acknowledge(now, 0, this.#serverOack);
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
    const state = this.#state;
    if (state.phase === "idle") throw new TypeError("Transfer not started");
    if (state.phase === "drained") return;
    if (!this.#fromPeer(from)) return;
    const packet = tryDecodeTftpPacket(bytes);
    if (packet instanceof TftpDecodeError) {
      if (state.phase === "dallying") return;
      state.fail(
        now,
        "protocol-error",
        packet.errorCode,
        `Malformed packet: ${packet.message}`,
        true,
      );
      return;
    }
    if (packet.type === "error") {
      if (state.phase === "dallying") return;
      const plain = state.request?.withoutOptions;
      if (
        state.phase === "requesting" && packet.code === TftpErrorCode.OptionNegotiation && plain
      ) {
        // RFC 2347: a server that refuses the options may be asked again without them.
        state.request = { bytes: plain, type: state.request!.type, options: {} };
        state.peer = this.#server;
        this.#latched = false;
        state.timer.retries = 0;
        state.send(plain);
        state.timer.arm(now);
        return;
      }
      state.fail(
        now,
        "peer-error",
        packet.code,
        packet.message || `Peer sent error ${packet.code}`,
        false,
      );
      return;
    }
    if ((packet.type === "rrq" || packet.type === "wrq") && state.role === "server") {
      this.#onRepeatedRequest(now, packet);
      return;
    }
    switch (state.phase) {
      case "requesting":
        return this.#onReply(now, packet);
      case "oack-sent":
        if (packet.type === "ack" && packet.block === 0) {
          state.answered = true;
          state.phase = "sending";
          state.resetTimer();
          this.#sender!.pump(now);
          return;
        }
        return state.illegal(now, packet);
      case "sending":
        return this.#sender!.handle(now, packet);
      case "receiving":
      case "confirming":
      case "dallying":
        return this.#receiver!.handle(now, packet);
    }
  }

  /**
   * Fires whatever expired: retransmits, or fails once the retry budget is spent, or ends the
   * dally. A no-op before the deadline.
   *
   * @param now The current time in ms.
   */
  handleTimeout(now: number): void {
    const state = this.#state;
    const { timer } = state;
    if (timer.stallAt !== undefined && now >= timer.stallAt) {
      this.#receiver!.onStall(now);
      return;
    }
    if (timer.at === undefined || now < timer.at) return;
    timer.at = undefined;
    if (state.phase === "dallying") {
      state.phase = "drained";
      return;
    }
    state.stats.timeouts++;
    const unanswered = state.role === "server" && !state.answered;
    if (timer.retries >= timer.retryBudget) {
      const waited = state.phase === "requesting"
        ? "No reply from the server"
        : unanswered
        ? "The client never answered"
        : "Peer stopped answering";
      // A client that never answered may be a forged address: it is sent nothing more.
      state.fail(
        now,
        "timeout",
        TftpErrorCode.NotDefined,
        `${waited} after ${timer.retries + 1} tries`,
        !unanswered,
      );
      return;
    }
    timer.backOff();
    if (unanswered) {
      // The client's address may be forged: repeat the first reply only as allowed. But go on
      // waiting on the retry schedule, for the client's repeated request or for its answer: an
      // ACK 0 or DATA 1 that was lost comes again only after the client's own timeout.
      if (this.#firstReplyResends >= timer.firstReplyRetransmits) {
        timer.arm(now);
        return;
      }
      this.#firstReplyResends++;
    }
    switch (state.phase) {
      case "requesting":
        state.retransmit(state.request!.bytes);
        break;
      case "oack-sent":
        state.retransmit(this.#serverOack!);
        break;
      case "sending":
        this.#sender!.resendWindow(now);
        break;
      case "receiving":
        this.#receiver!.onTimeout(now);
        return;
    }
    timer.arm(now);
  }

  /**
   * Gives the sender more file bytes, of any length. Call it after a `data-wanted` event; the
   * machine cuts the bytes into blocks (converting to netascii in that mode).
   *
   * @param now The current time in ms.
   * @param chunk File bytes.
   */
  write(now: number, chunk: Uint8Array): void {
    this.#sending().write(now, chunk);
  }

  /**
   * After a `data-wanted` event: the payloads of the next DATA packets, for the file's next bytes
   * to be read straight into them, so that no byte is copied on its way to the socket (one buffer
   * holds them all, with room for each packet's header). Fill them in order (a vectored read, such
   * as `FileHandle.readv`) and call `filled`. `undefined` when the sender cannot lend them (netascii
   * mode, the block size not settled yet, bytes written earlier still waiting): call `write` then.
   * Calling `write` or `end` instead is always allowed; the lent payloads are then dropped.
   *
   * @returns The payloads to fill, or `undefined`.
   */
  lendPayloads(): Uint8Array[] | undefined {
    return this.#sending().lend();
  }

  /**
   * Tells the sender how many file bytes were read into the payloads `lendPayloads` gave, in
   * order; fewer than they hold is fine (the rest is asked for again), and 0 means the file ended
   * (as `end`).
   *
   * @param now The current time in ms.
   * @param bytes How many bytes were read.
   * @throws {TypeError} When no payloads were lent.
   * @throws {RangeError} When `bytes` is more than they hold.
   */
  filled(now: number, bytes: number): void {
    this.#sending().filled(now, bytes);
  }

  /**
   * Tells the sender the file has no more bytes.
   *
   * @param now The current time in ms.
   */
  end(now: number): void {
    this.#sending().end(now);
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
    const { phase } = this.#state;
    if (phase === "drained" || phase === "dallying") return;
    // Before start nothing was sent, so the peer has nothing to be told.
    this.#state.fail(now, "aborted", code, message, phase !== "idle");
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
    if (this.#state.role !== "server" || this.#state.answered || this.isFinished()) return false;
    this.#state.fail(
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
    const { phase } = this.#state;
    if (phase === "drained") return;
    if (phase !== "confirming") throw new TypeError("No end of data to confirm");
    this.#receiver!.finish(now);
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
    const state = this.#state;
    state.stats.duplicates++;
    if (
      state.answered || this.#firstReplyResends >= state.timer.retryBudget ||
      !sameRequest(packet, this.#serverRequest)
    ) return;
    switch (state.phase) {
      case "oack-sent":
        this.#firstReplyResends++;
        state.retransmit(this.#serverOack!);
        return;
      case "sending":
        // No OACK: the first reply is the first window, once its blocks are cut.
        if (!this.#sender!.outstanding) return;
        this.#firstReplyResends++;
        this.#sender!.resendWindow(now);
        return;
      case "receiving":
        this.#firstReplyResends++;
        this.#receiver!.repeatFirstAck();
        return;
    }
  }

  // --- the request stage (client) ---

  #onReply(now: number, packet: TftpPacket): void {
    const state = this.#state;
    state.answered = true;
    const request = state.request!;
    if (packet.type === "oack") {
      const names = (packet.unknownOptions ?? []).map((option) => option.name);
      const check = checkTftpOack(request.type, request.options, packet.options, names);
      if (!check.ok) {
        state.fail(
          now,
          "option-negotiation",
          TftpErrorCode.OptionNegotiation,
          check.message,
          true,
        );
        return;
      }
      state.negotiated(check.parameters);
      if (this.#receiver) {
        // RFC 2347: the client answers an OACK to its RRQ with ACK 0.
        state.phase = "receiving";
        this.#receiver.acknowledge(now, 0);
      } else {
        // RFC 2347: and an OACK to its WRQ with DATA 1.
        state.phase = "sending";
        this.#sender!.pump(now);
      }
      return;
    }
    // A server that ignores the options answers like RFC 1350: DATA 1 or ACK 0 (RFC 2347).
    if (this.#receiver && packet.type === "data" && packet.block === 1) {
      state.negotiated(TFTP_DEFAULT_PARAMETERS);
      state.phase = "receiving";
      this.#receiver.onData(now, packet.block, packet.data);
      return;
    }
    if (this.#sender && packet.type === "ack" && packet.block === 0) {
      state.negotiated(TFTP_DEFAULT_PARAMETERS);
      state.phase = "sending";
      this.#sender.pump(now);
      return;
    }
    state.illegal(now, packet);
  }

  // --- shared ---

  /** Checks the source of a datagram; strangers get ERROR 5 (RFC 1350 section 4). */
  #fromPeer(from: TftpAddress): boolean {
    const state = this.#state;
    if (this.#latched) {
      if (sameTftpAddress(from, state.peer)) return true;
    } else if (sameHost(from.address, state.peer.address)) {
      // RFC 1350 section 4: the first reply chooses the server's TID. A server asked at
      // "fe80::1%eth0" answers from its address, with the zone spelt otherwise or not at all.
      state.peer = from;
      this.#latched = true;
      return true;
    }
    state.transmits.push({
      to: from,
      bytes: encodeTftpPacket({
        type: "error",
        code: TftpErrorCode.UnknownTransferId,
        message: "Unknown transfer ID",
      }),
    });
    return false;
  }

  /** The sending side, for the inputs only it takes. */
  #sending(): TransferSender {
    if (!this.#sender) throw new TypeError("Only the sending side takes data");
    return this.#sender;
  }
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
