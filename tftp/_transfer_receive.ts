// The receiving side of a transfer machine (client RRQ, server WRQ): it takes DATA blocks in
// order, delivers their bytes (converted from netascii in that mode), ACKs each window (RFC 7440)
// or the last block in order when a window has a gap or stalls, and dallies after the last block
// to ACK it again if the sender repeats it.

import { NetasciiDecoder } from "../codec/netascii.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import { encodeTftpPacket, type TftpPacket } from "../codec/tftp_packet.ts";
import { stepsTo, wireBlock } from "./_block_number.ts";
import type { TftpTransferInit, TransferState } from "./_transfer_state.ts";

/** The receiving side of one transfer. */
export class TransferReceiver {
  readonly #state: TransferState;
  readonly #maxSize: number;
  readonly #confirmEnd: boolean;
  readonly #decoder: NetasciiDecoder | undefined;
  // `expected` is the next block wanted; `acked` the block the last ACK named, `lastAck` that
  // ACK's packet (to repeat it); `gapAcked` whether the current gap was ACKed already.
  #expected = 1;
  #acked = 0;
  #lastAck: Uint8Array | undefined;
  #gapAcked = false;
  // Windowed: when the last block in order came, whether it came inside a window (so the gap to
  // the next one measures the sender's pace), and the smoothed gap between blocks of a window.
  #lastDataAt = 0;
  #midWindow = false;
  #blockGapMs: number | undefined;

  /**
   * Makes the receiving side of a transfer.
   *
   * @param state The state it shares with the machine.
   * @param init How the transfer is set up.
   */
  constructor(state: TransferState, init: TftpTransferInit) {
    this.#state = state;
    this.#maxSize = init.maxSize ?? Number.MAX_SAFE_INTEGER;
    this.#confirmEnd = init.confirmEnd ?? false;
    this.#decoder = init.mode === "netascii" ? new NetasciiDecoder() : undefined;
  }

  /** A packet while receiving, confirming the end, or dallying after the last block. */
  handle(now: number, packet: TftpPacket): void {
    const state = this.#state;
    switch (state.phase) {
      case "receiving":
        if (packet.type === "data") return this.onData(now, packet.block, packet.data);
        if (packet.type === "oack" && state.role === "client") {
          // The server repeats its OACK: it did not get our ACK 0, so send it again; once data
          // flows, a late copy is only a duplicate.
          state.stats.duplicates++;
          if (this.#expected === 1) state.retransmit(this.#lastAck!);
          return;
        }
        return state.illegal(now, packet);
      case "confirming":
        // The peer repeats its last DATA while the file is being stored: the ACK comes soon.
        if (packet.type === "data") state.stats.duplicates++;
        return;
      case "dallying":
        // The sender repeats the last DATA: it did not hear the final ACK.
        if (
          packet.type === "data" &&
          packet.block === wireBlock(this.#expected - 1, state.parameters.rollover)
        ) {
          state.stats.duplicates++;
          state.retransmit(this.#lastAck!);
        }
    }
  }

  /** DATA block `block` (its wire number) with `data`. */
  onData(now: number, block: number, data: Uint8Array): void {
    const state = this.#state;
    const { timer } = state;
    const { blksize, windowsize, rollover } = state.parameters;
    if (data.length > blksize) {
      state.fail(
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
      state.stats.duplicates++;
      if (this.#acked > 0 && block === wireBlock(this.#acked, rollover)) {
        // The block our last ACK named, again: the sender did not hear that ACK. ACK what we
        // have now. Copies of other blocks get no answer: in a window they follow an ACK that
        // already made the sender start again (a gap or a stall), and answering each one would
        // keep it restarting.
        state.stats.retransmits++;
        this.acknowledge(now, this.#expected - 1, undefined, false);
      } else if (ahead < windowsize && !this.#gapAcked) {
        // RFC 7440 section 4: a gap: ACK the last block received in order, once per gap.
        this.#gapAcked = true;
        state.stats.retransmits++;
        this.acknowledge(now, this.#expected - 1, this.#firstAck(), false);
      }
      return;
    }
    if (state.stats.bytes + data.length > this.#maxSize) {
      state.fail(
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
    state.answered = true;
    this.#lastDataAt = now;
    timer.stallAt = undefined;
    this.#expected++;
    state.stats.blocks++;
    this.#gapAcked = false;
    timer.retries = 0;
    timer.restoreTimeout(state.parameters.timeoutMs);
    const final = data.length < blksize;
    const delivered = this.#decoder ? this.#decoder.decode(data) : data;
    this.#deliver(delivered);
    if (final) {
      if (this.#decoder) this.#deliver(this.#decoder.flush());
      if (this.#confirmEnd) {
        state.phase = "confirming";
        timer.at = undefined;
        state.events.push({ type: "end-of-data" });
      } else {
        this.finish(now);
      }
      return;
    }
    if (this.#expected - 1 - this.#acked >= windowsize) {
      this.acknowledge(now, this.#expected - 1);
      return;
    }
    this.#midWindow = true;
    timer.arm(now);
    timer.stallAt = now + timer.stallMs(this.#blockGapMs);
  }

  /**
   * The rest of the window is not coming: ACK what arrived, so the sender goes on from there
   * now rather than after its timeout (RFC 7440 section 4).
   */
  onStall(now: number): void {
    this.#gapAcked = true;
    this.acknowledge(now, this.#expected - 1);
  }

  /** RFC 7440 section 4: the receiver times out and ACKs the last block received in order. */
  onTimeout(now: number): void {
    this.#state.stats.retransmits++;
    this.acknowledge(now, this.#expected - 1, this.#firstAck());
  }

  /** Server: the client repeated its request: the ACK 0 (or OACK) goes out again. */
  repeatFirstAck(): void {
    this.#state.retransmit(this.#lastAck!);
  }

  /** Sends the final ACK, completes, and dallies to ACK a repeated last DATA again. */
  finish(now: number): void {
    const state = this.#state;
    this.acknowledge(now, this.#expected - 1);
    state.phase = "dallying";
    state.stats.endedAt = now;
    state.events.push({ type: "complete", stats: { ...state.stats } });
    state.timer.dally(now);
  }

  /**
   * Sends ACK `block` (or `packet` in its place: an OACK stands for ACK 0). `rearm` restarts the
   * receiver's timer; answers to duplicates do not, so a peer repeating itself cannot keep the
   * transfer alive past its retry budget.
   */
  acknowledge(now: number, block: number, packet?: Uint8Array, rearm = true): void {
    const state = this.#state;
    const bytes = packet ??
      encodeTftpPacket({ type: "ack", block: wireBlock(block, state.parameters.rollover) });
    this.#acked = block;
    this.#lastAck = bytes;
    // Every ACK closes the window in progress.
    state.timer.stallAt = undefined;
    this.#midWindow = false;
    state.send(bytes);
    if (rearm) state.timer.arm(now);
  }

  /** Before block 1, the packet sent for ACK 0 (a server's OACK stands for it), to repeat. */
  #firstAck(): Uint8Array | undefined {
    return this.#expected === 1 ? this.#lastAck : undefined;
  }

  #deliver(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#state.stats.bytes += data.length;
    this.#state.events.push({ type: "data", data });
  }
}
