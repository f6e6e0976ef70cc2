// The sending side of a transfer machine (client WRQ, server RRQ): it asks its driver for file
// bytes, cuts them into DATA blocks, sends them a window at a time (RFC 7440), and moves on, or
// starts the window again, as the ACKs say.

import { NetasciiEncoder } from "../codec/netascii.ts";
import { encodeTftpPacket, encodeTftpPacketInto, type TftpPacket } from "../codec/tftp_packet.ts";
import { stepsTo, wireBlock } from "./_block_number.ts";
import { TFTP_DEFAULT_PARAMETERS } from "./negotiation.ts";
import type { TftpTransferInit, TransferState } from "./_transfer_state.ts";

const EMPTY = new Uint8Array(0);

/** The sending side of one transfer. */
export class TransferSender {
  readonly #state: TransferState;
  readonly #readAhead: number;
  readonly #sorcerersApprentice: boolean;
  readonly #encoder: NetasciiEncoder | undefined;
  // Blocks base..base+blocks.length-1 are encoded DATA packets kept for retransmission; those
  // below `next` have been sent. File bytes not yet cut into blocks wait in `framed` (whole
  // payloads read into lent buffers, each with room for its header before it) and then `pending`
  // (chunks of any length, copied into packets); `pendingBytes` counts both.
  #base = 1;
  #next = 1;
  #blocks: Uint8Array[] = [];
  #finalBlock: number | undefined;
  #framed: Uint8Array[] = [];
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #ended = false;
  #asked = false;
  // The most bytes the last `data-wanted` asked for (Infinity: no limit), and the payloads lent
  // for it that are not filled yet.
  #wanted = Infinity;
  #lent: { payloads: Uint8Array[]; carried: number; open: Uint8Array[] } | undefined;

  /**
   * Makes the sending side of a transfer.
   *
   * @param state The state it shares with the machine.
   * @param init How the transfer is set up.
   */
  constructor(state: TransferState, init: TftpTransferInit) {
    this.#state = state;
    this.#readAhead = init.readAhead ?? 131072;
    this.#sorcerersApprentice = init.allowSorcerersApprentice ?? false;
    this.#encoder = init.mode === "netascii" ? new NetasciiEncoder() : undefined;
    // A failed transfer lets the blocks and file bytes it kept go.
    state.onFail = () => {
      this.#pending = [];
      this.#framed = [];
      this.#lent = undefined;
      this.#blocks = [];
    };
  }

  /** Whether blocks went out that the peer has not acknowledged yet. */
  get outstanding(): boolean {
    return this.#next > this.#base;
  }

  /** A packet while sending: ACKs move the window; anything else but a repeated OACK is illegal. */
  handle(now: number, packet: TftpPacket): void {
    if (packet.type === "ack") return this.#onAck(now, packet.block);
    // The server repeating its OACK (it missed our first DATA, or the network duplicated it).
    if (packet.type === "oack" && this.#state.role === "client") {
      this.#state.stats.duplicates++;
      return;
    }
    this.#state.illegal(now, packet);
  }

  /** Sends the window that is out again, from its first block (RFC 7440 section 4). */
  resendWindow(now: number): void {
    this.#next = this.#base;
    this.pump(now, true);
  }

  /** Cuts blocks while the window has room, sends what the window allows, asks for more data. */
  pump(now: number, resending = false): void {
    const state = this.#state;
    const { blksize, windowsize, rollover } = state.parameters;
    while (this.#finalBlock === undefined && this.#blocks.length < windowsize) {
      const block = this.#base + this.#blocks.length;
      const framed = this.#framed.shift();
      if (framed !== undefined) {
        // Read straight into its packet: write the header in front of it.
        this.#pendingBytes -= framed.length;
        const packet = new Uint8Array(framed.buffer, framed.byteOffset - 4, framed.length + 4);
        encodeTftpPacketInto(
          { type: "data", block: wireBlock(block, rollover), data: framed },
          packet,
        );
        this.#blocks.push(packet);
        continue;
      }
      const payload = this.#takeBlock(blksize);
      if (payload === undefined) break;
      this.#blocks.push(
        encodeTftpPacket({ type: "data", block: wireBlock(block, rollover), data: payload }),
      );
      if (payload.length < blksize) this.#finalBlock = block;
    }
    let sent = false;
    while (this.#next < this.#base + this.#blocks.length) {
      const isNew = this.#next > state.stats.blocks;
      if (isNew) {
        state.stats.blocks++;
        state.stats.bytes += this.#blocks[this.#next - this.#base].length - 4;
      } else {
        state.stats.retransmits++;
      }
      state.send(this.#blocks[this.#next - this.#base]);
      this.#next++;
      sent = true;
    }
    if ((sent || resending) && this.#next > this.#base) {
      state.timer.at ??= now + state.timer.timeoutMs;
    }
    this.askForData();
  }

  /** Emits `data-wanted` when fewer file bytes are ready than the window and read-ahead need. */
  askForData(): void {
    if (this.#ended || this.#asked || this.#finalBlock !== undefined) return;
    const state = this.#state;
    if (state.role === "server" && !state.answered) {
      // The client may be a forged address: read nothing before it acknowledges the OACK, and
      // without one only what the first window needs.
      if (state.phase !== "sending") return;
      const { blksize, windowsize } = state.parameters;
      const limit = blksize * (windowsize - this.#blocks.length) - this.#pendingBytes;
      if (limit <= 0) return;
      this.#asked = true;
      this.#wanted = limit;
      state.events.push({ type: "data-wanted", limit });
      return;
    }
    // Keep a window of bytes ready beyond the blocks in flight, never the whole file. Before
    // the reply, plan on the options requested.
    const planned = state.phase === "requesting" ? state.request!.options : state.parameters;
    const blksize = planned.blksize ?? TFTP_DEFAULT_PARAMETERS.blksize;
    const windowsize = planned.windowsize ?? 1;
    // At least `readAhead` bytes, so a slow source (a thread-pool file read) is never waited on.
    if (this.#pendingBytes >= Math.max(blksize * windowsize, this.#readAhead)) return;
    this.#asked = true;
    this.#wanted = Infinity;
    state.events.push({ type: "data-wanted" });
  }

  /**
   * After `data-wanted`: the payloads of the next DATA packets, for the driver to read the file's
   * next bytes straight into (no copy per block), or `undefined` when they cannot be lent: in
   * netascii mode, before the block size is settled, or while a block's worth of written bytes
   * waits. Written bytes short of a block are copied into the first payload, and the part of it
   * after them is lent.
   */
  lend(): Uint8Array[] | undefined {
    const state = this.#state;
    if (!this.#asked || this.#encoder || state.phase !== "sending") return undefined;
    if (this.#lent) return this.#lent.open;
    const { blksize, windowsize } = state.parameters;
    let carried = 0;
    for (const chunk of this.#pending) carried += chunk.length;
    if (carried >= blksize) return undefined;
    const bytes = Math.min(this.#wanted, Math.max(blksize * windowsize, this.#readAhead));
    const count = Math.max(1, Math.ceil((bytes + carried) / blksize));
    // One allocation for them all; each payload has its packet's 4-byte header before it.
    const stride = blksize + 4;
    const slab = new Uint8Array(count * stride);
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < count; i++) payloads.push(slab.subarray(i * stride + 4, (i + 1) * stride));
    // The waiting bytes stay in `pending` until `filled`: a driver may still write instead.
    let offset = 0;
    for (const chunk of this.#pending) {
      payloads[0].set(chunk, offset);
      offset += chunk.length;
    }
    const open = [payloads[0].subarray(carried), ...payloads.slice(1)];
    this.#lent = { payloads, carried, open };
    return open;
  }

  /** The driver read `bytes` file bytes into the payloads `lend` gave, in order; 0 is the end. */
  filled(now: number, bytes: number): void {
    this.#checkOpen();
    const lent = this.#lent;
    if (lent === undefined) {
      // A failure let them go; anything else is a driver's mistake.
      if (this.#state.phase !== "sending") return;
      throw new TypeError("No buffers were lent");
    }
    const capacity = lent.payloads.length * lent.payloads[0].length - lent.carried;
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > capacity) {
      throw new RangeError(`Filled ${bytes} bytes of ${capacity} lent`);
    }
    if (bytes === 0) return this.end(now);
    this.#lent = undefined;
    // The waiting bytes were copied in front of the first payload.
    this.#pending = [];
    this.#pendingBytes -= lent.carried;
    let left = bytes + lent.carried;
    for (const payload of lent.payloads) {
      if (left === 0) break;
      if (left >= payload.length) this.#framed.push(payload);
      // A short read: the bytes wait like a written chunk, since a short block would end the
      // transfer.
      else this.#pending.push(payload.subarray(0, left));
      const taken = Math.min(left, payload.length);
      this.#pendingBytes += taken;
      left -= taken;
    }
    this.#asked = false;
    this.pump(now);
  }

  /** File bytes from the driver (converted to netascii in that mode). */
  write(now: number, chunk: Uint8Array): void {
    this.#checkOpen();
    // Written instead of read into lent payloads: they come after these bytes now.
    this.#lent = undefined;
    const bytes = this.#encoder ? this.#encoder.encode(chunk) : chunk;
    if (bytes.length > 0) {
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.length;
    }
    this.#asked = false;
    if (this.#state.phase === "sending") this.pump(now);
    else this.askForData();
  }

  /** The file has no more bytes. */
  end(now: number): void {
    this.#checkOpen();
    this.#ended = true;
    this.#lent = undefined;
    if (this.#state.phase === "sending") this.pump(now);
  }

  #checkOpen(): void {
    if (this.#ended) throw new TypeError("Data already ended");
  }

  #onAck(now: number, block: number): void {
    const state = this.#state;
    const acked = this.#base - 1 + stepsTo(this.#base - 1, block, state.parameters.rollover);
    if (acked === this.#base - 1 || acked >= this.#next) {
      // A duplicate ACK, or one for a block never sent. RFC 1123 section 4.2.3.1: never answer a
      // duplicate ACK with DATA (the Sorcerer's Apprentice), unless asked to.
      state.stats.duplicates++;
      if (this.#sorcerersApprentice && acked === this.#base - 1 && this.#next > this.#base) {
        this.resendWindow(now);
      }
      return;
    }
    state.answered = true;
    this.#blocks.splice(0, acked - this.#base + 1);
    this.#base = acked + 1;
    state.resetTimer();
    if (this.#finalBlock !== undefined && acked >= this.#finalBlock) {
      state.complete(now);
      return;
    }
    // RFC 7440 section 4: an ACK inside the window means the receiver missed the next block:
    // start the window again from there.
    const resend = this.#next > this.#base;
    if (resend) this.#next = this.#base;
    this.pump(now, resend);
  }

  #takeBlock(blksize: number): Uint8Array | undefined {
    // Only chunks are left (`framed` is empty), and the bytes of `pending` are all theirs.
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
}
