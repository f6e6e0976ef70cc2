/**
 * The runtime-agnostic driver of one transfer machine: it feeds the machine real time and
 * datagrams, sends what it asks, keeps one timer for its deadline, and moves file bytes between the
 * machine and a source or sink.
 *
 * @module
 */

import { sameTftpAddress, type TftpAddress } from "./address.ts";
import type { TftpTransfer, TftpTransferEvent, TftpTransferStats } from "./transfer.ts";
import type { TftpTransferParameters } from "./negotiation.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import { TftpRequestError } from "./handler.ts";
import { unrefTimer } from "../io/timeout.ts";

/** Where a driven transfer gets and puts file bytes. */
export interface TftpTransferIo {
  /** Sender: the next chunk of the file, or `null` at its end. `limit`, when given, is the most
   * bytes worth reading now (see the `data-wanted` event). */
  read?: (limit?: number) => Promise<Uint8Array | null>;
  /** Sender, beside `read`: fills the buffers in order with the file's next bytes and resolves
   * with how many it read (0 at the end), so that they go out without a copy. Used whenever the
   * machine lends DATA payloads (octet mode, see `TftpTransfer.lendPayloads`); `read` otherwise. */
  readInto?: (buffers: Uint8Array[]) => Promise<number>;
  /** Receiver: takes the next chunk of the file, in order. */
  write?: (chunk: Uint8Array) => Promise<void> | void;
  /** Receiver: stores the file once every chunk is written; the final ACK waits for it (the
   * machine must be made with `confirmEnd`). */
  finish?: () => Promise<void>;
  /** Sees every event (progress, negotiation). */
  onEvent?: (event: TftpTransferEvent) => void;
  /** Aborts the transfer (ERROR 0 "Transfer cancelled" to the peer) when it fires. */
  signal?: AbortSignal;
}

/** How a driven transfer ended. */
export type TftpTransferResult =
  | {
    /** Every byte moved. */
    readonly ok: true;
    /** The counters. */
    readonly stats: TftpTransferStats;
    /** The negotiated parameters. */
    readonly parameters: TftpTransferParameters;
  }
  | {
    /** The transfer failed. */
    readonly ok: false;
    /** The final event. */
    readonly failure: Extract<TftpTransferEvent, { type: "failed" }>;
    /** The counters. */
    readonly stats: TftpTransferStats;
    /** The negotiated parameters. */
    readonly parameters: TftpTransferParameters;
  };

/** A monotonic clock in milliseconds. */
function now(): number {
  return performance.now();
}

/** Drives one transfer machine. Create it, route the transfer's datagrams to `handleDatagram`. */
export class TftpTransferDriver {
  readonly #transfer: TftpTransfer;
  readonly #send: (bytes: Uint8Array, to: TftpAddress) => void;
  readonly #sendMany: ((datagrams: Uint8Array[], to: TftpAddress) => void) | undefined;
  readonly #io: TftpTransferIo;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #reading = false;
  #writes: Promise<void> = Promise.resolve();
  #writeError: unknown;
  #final: Extract<TftpTransferEvent, { type: "complete" | "failed" }> | undefined;
  #stopped = false;
  #resolveResult!: (result: TftpTransferResult) => void;
  #resolveDrained!: () => void;
  #onAbort = () => {
    this.#transfer.abort(now(), TftpErrorCode.NotDefined, "Transfer cancelled");
    this.#pump();
  };

  /** Resolves with the outcome once the final event is out and every chunk was written. */
  readonly result: Promise<TftpTransferResult>;
  /** Resolves when the machine is drained (after any dally): its socket may close. */
  readonly drained: Promise<void>;

  /**
   * Starts driving `transfer` (starting it if needed).
   *
   * @param transfer The machine.
   * @param send Sends one datagram.
   * @param io The file's source or sink.
   * @param sendMany Sends several datagrams to one peer at once (a window's DATA), where the
   *   socket can (`TftpUdpSocket.sendMany`); `send` one by one otherwise.
   */
  constructor(
    transfer: TftpTransfer,
    send: (bytes: Uint8Array, to: TftpAddress) => void,
    io: TftpTransferIo = {},
    sendMany?: (datagrams: Uint8Array[], to: TftpAddress) => void,
  ) {
    this.#transfer = transfer;
    this.#send = send;
    this.#sendMany = sendMany;
    this.#io = io;
    this.result = new Promise((resolve) => (this.#resolveResult = resolve));
    this.drained = new Promise((resolve) => (this.#resolveDrained = resolve));
    if (io.signal?.aborted) {
      transfer.abort(now(), TftpErrorCode.NotDefined, "Transfer cancelled");
    } else {
      io.signal?.addEventListener("abort", this.#onAbort, { once: true });
    }
    this.#pump();
  }

  /** The machine being driven. */
  get transfer(): TftpTransfer {
    return this.#transfer;
  }

  /**
   * Feeds a datagram that arrived for this transfer.
   *
   * @param bytes The datagram.
   * @param from Its source.
   */
  handleDatagram(bytes: Uint8Array, from: TftpAddress): void {
    if (this.#stopped) return;
    this.#transfer.handleDatagram(now(), bytes, from);
    this.#pump();
  }

  /**
   * Handles what the machine queued after an input given to it directly rather than through
   * this driver (the server endpoint passes it a repeated request, or ends it to make room):
   * sends its datagrams, handles its events, re-arms the timer.
   */
  poll(): void {
    this.#pump();
  }

  /**
   * Aborts the transfer, sending ERROR `code` to the peer.
   *
   * @param code The error code.
   * @param message The message.
   */
  abort(code: number, message: string): void {
    this.#transfer.abort(now(), code, message);
    this.#pump();
  }

  /**
   * Stops driving at once: a running transfer is aborted first (ERROR 0 to the peer), a dally is
   * cut short, the timer is cleared and `drained` resolves, so the socket may close. For shutdown.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#transfer.abort(now(), TftpErrorCode.NotDefined, "Transfer stopped");
    this.#pump();
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#io.signal?.removeEventListener("abort", this.#onAbort);
    this.#resolveDrained();
  }

  #pump(): void {
    if (this.#stopped) return;
    const transfer = this.#transfer;
    this.#transmit();
    for (let event = transfer.pollEvent(); event; event = transfer.pollEvent()) {
      this.#io.onEvent?.(event);
      switch (event.type) {
        case "data-wanted":
          this.#read(event.limit);
          break;
        case "data": {
          const write = this.#io.write;
          if (write) {
            const chunk = event.data;
            this.#writes = this.#writes.then(() => write(chunk)).catch((error) => {
              this.#writeError ??= error;
              this.#abortStoring(error);
            });
          }
          break;
        }
        case "end-of-data": {
          const finish = this.#io.finish;
          this.#writes = this.#writes.then(() => finish?.()).then(
            () => {
              if (this.#writeError !== undefined) return;
              this.#transfer.confirmEnd(now());
              this.#pump();
            },
            (error) => {
              this.#writeError ??= error;
              this.#abortStoring(error);
            },
          );
          break;
        }
        case "complete":
        case "failed":
          this.#final = event;
          this.#writes.then(() => this.#settle());
          break;
      }
    }
    // Flush anything the events queued (an abort from a failed write).
    this.#transmit();
    this.#schedule();
  }

  /** Sends what the machine queued: runs of datagrams to one peer together where it can. */
  #transmit(): void {
    const transfer = this.#transfer;
    const sendMany = this.#sendMany;
    let first = transfer.pollTransmit();
    while (first) {
      let next = transfer.pollTransmit();
      if (!sendMany || !next || !sameTftpAddress(next.to, first.to)) {
        this.#send(first.bytes, first.to);
        first = next;
        continue;
      }
      const run = [first.bytes];
      while (next && sameTftpAddress(next.to, first.to)) {
        run.push(next.bytes);
        next = transfer.pollTransmit();
      }
      sendMany(run, first.to);
      first = next;
    }
  }

  /** Storing failed: the peer is told why when the sink said so with a TFTP code (a name taken
   * meanwhile is ERROR 6, not a full disk), else ERROR 3. */
  #abortStoring(error: unknown): void {
    if (error instanceof TftpRequestError) this.abort(error.code, error.message);
    else this.abort(TftpErrorCode.DiskFull, "Cannot store the file");
  }

  #settle(): void {
    const final = this.#final!;
    const transfer = this.#transfer;
    const stats = { ...transfer.stats };
    if (final.type === "complete" && this.#writeError === undefined) {
      this.#resolveResult({ ok: true, stats, parameters: transfer.parameters });
    } else {
      const failure = final.type === "failed" ? final : {
        type: "failed" as const,
        reason: "size-limit" as const,
        code: TftpErrorCode.DiskFull,
        message: `Cannot store the file: ${this.#writeError}`,
        stats,
      };
      this.#resolveResult({ ok: false, failure, stats, parameters: transfer.parameters });
    }
  }

  #read(limit: number | undefined): void {
    const { read, readInto } = this.#io;
    if (this.#reading || !read) return;
    this.#reading = true;
    const transfer = this.#transfer;
    // Straight into the machine's DATA packets when it lends them, else a chunk it copies.
    const payloads = readInto ? transfer.lendPayloads() : undefined;
    const got: Promise<(at: number) => void> = payloads
      ? readInto!(payloads).then((bytes) => (at) => transfer.filled(at, bytes))
      : read(limit).then((chunk) => (at) =>
        chunk === null ? transfer.end(at) : transfer.write(at, chunk)
      );
    got.then(
      (give) => {
        this.#reading = false;
        if (transfer.isDrained()) return;
        give(now());
        this.#pump();
      },
      () => {
        this.#reading = false;
        this.abort(TftpErrorCode.NotDefined, "Cannot read the file");
      },
    );
  }

  #schedule(): void {
    const transfer = this.#transfer;
    if (transfer.isDrained()) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#io.signal?.removeEventListener("abort", this.#onAbort);
      this.#resolveDrained();
      return;
    }
    const at = transfer.pollTimeout();
    if (at === undefined) return;
    // One timer: re-arm only when the deadline moved earlier. A timer that fires before a later
    // deadline finds nothing expired and re-arms for the new one.
    if (this.#timer === undefined || this.#timerAt > at) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timerAt = at;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        transfer.handleTimeout(now());
        this.#pump();
      }, Math.max(0, at - now()));
    }
    // Once the final event is out, only a dally is left: it does not keep the process alive.
    if (transfer.isFinished()) unrefTimer(this.#timer);
  }
}
