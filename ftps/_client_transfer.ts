/**
 * The FTPS client's transfers. {@linkcode Transfers.run} makes one attempt of a transfer, and
 * another when a server refused it over TLS session resumption and it can be made again whole.
 * Each attempt's data connection is a `DataJob`: opened (passive) or accepted (active), under TLS
 * when protected (RFC 4217 section 7), read or written under one idle watchdog, and let go of by
 * the job alone, once, on every path. Also the upload sources a transfer reads (bytes, text,
 * streams, local files).
 *
 * @module
 */

import type { FtpReply } from "../codec/mod.ts";
import type { FileHandle } from "node:fs/promises";
import { chunksOf } from "../io/stream.ts";
import { type IdleGuard, idleGuard, TimeoutError } from "../io/timeout.ts";
import {
  type ClientControl,
  type DataEvent,
  type DataWork,
  inTime,
  now,
} from "./_client_control.ts";
import type { FtpTransferRequest } from "./client_session.ts";
import { FtpReplyError, FtpSessionReuseError } from "./reply_error.ts";
import { confirmDownloadEnd } from "./_client_close_notify.ts";
import type { FtpListener, FtpSocket } from "./transport.ts";

/** An upload's bytes: `chunks()` gives them for an attempt; a `replayable` source gives all of
 * them again each time (bytes, a local file), another only what its first attempt left. */
export interface UploadSource {
  /** The bytes for one attempt. */
  readonly chunks: () => AsyncIterable<Uint8Array>;
  /** Whether each call of `chunks` gives every byte. */
  readonly replayable: boolean;
}

/** What a transfer moves its bytes to (a download) or from (an upload). */
export interface TransferIo {
  /** Takes a download's bytes, in order. */
  readonly sink?: (chunk: Uint8Array) => void | Promise<void>;
  /** Gives an upload's bytes. */
  readonly source?: UploadSource;
}

/** How a transfer is followed and stopped. */
export interface TransferControls {
  /** Called with the bytes moved so far. */
  readonly onProgress?: (bytes: number) => void;
  /** Stops the transfer (ABOR). */
  readonly signal?: AbortSignal;
}

/** What a transfer moved, and how. */
export interface TransferReport {
  /** Bytes moved. */
  readonly bytes: number;
  /** Whether the data connection was TLS. */
  readonly tls: boolean;
  /** Whether its TLS session resumed the control connection's. */
  readonly resumed: boolean;
}

/** How many times a transfer refused for want of a TLS 1.3 ticket is tried again. */
const MAX_TICKET_RETRIES = 2;

/** The transfers of one client; see the module's documentation. */
export class Transfers {
  /** The control connection the transfers are queued on. */
  readonly control: ClientControl;
  #resumeData = true;
  #last: TransferReport | undefined;
  /** Whether a protected download that ended without close_notify must be shown whole. */
  readonly #requireCloseNotify: boolean;

  /**
   * @param control The control connection the transfers are queued on.
   * @param options `requireCloseNotify` (default true): see {@linkcode confirmDownloadEnd}.
   */
  constructor(control: ClientControl, options: { requireCloseNotify?: boolean } = {}) {
    this.control = control;
    this.#requireCloseNotify = options.requireCloseNotify ?? true;
  }

  /** Whether data connections offer the control connection's session; off for good once a
   * server breaks a handshake over it (pyftpdlib with optional client certificates does). */
  get resumeData(): boolean {
    return this.#resumeData;
  }

  /** What the last transfer that succeeded reported. */
  get last(): TransferReport | undefined {
    return this.#last;
  }

  /**
   * Runs a transfer: settles with its final reply, after its data.
   *
   * @param request What to transfer.
   * @param controls Progress and abort signal.
   * @param io Where the bytes go or come from.
   * @returns The final reply.
   */
  async run(
    request: FtpTransferRequest,
    controls: TransferControls,
    io: TransferIo,
  ): Promise<FtpReply> {
    const first = this.#attempt(request, controls, io);
    try {
      return await first.reply;
    } catch (error) {
      // Some servers break the handshake of a data connection that offers the control
      // connection's session instead of ignoring it (RFC 5246 7.4.1.2 and RFC 8446 4.6.1 let a
      // server decline resumption). Nothing moved yet, so the transfer is tried once more
      // without resumption, and the session stops offering it.
      // The server's 522 (RFC 4217 10.2: TLS negotiation failed) may come before the handshake's
      // own failure shows here.
      const job = first.job;
      if (this.control.closed || controls.signal?.aborted || !repeatable(job, io)) throw error;
      const refused = job.resumeRefused ||
        (job.offered && !job.secured && error instanceof FtpReplyError && error.code === 522);
      if (refused) {
        this.#resumeData = false;
        return await this.#attempt(request, controls, io).reply;
      }
      // rustls (Deno's node:tls) offers each TLS 1.3 ticket once, and ProFTPD sends none on an
      // upload's data connection: a run of uploads uses up the control connection's tickets,
      // and the next data connection makes a full handshake, which a server that requires
      // resumption refuses (425). That handshake brings fresh tickets (ProFTPD resumes them;
      // its connection is read to the end for them), and nothing moved: the transfer is tried
      // again, at most twice (a refused connection's tickets can be lost to its reset).
      let starved = job;
      let refusal = error;
      for (let retry = 0; retry < MAX_TICKET_RETRIES && starved.ticketsRead; retry++) {
        // Bounded: the data connection's reads are (its idle guard).
        await starved.ticketsRead;
        // A handshake that did resume was refused for some other reason; an upload whose
        // source cannot give its bytes again is not tried again.
        if (starved.resumed || this.control.closed || controls.signal?.aborted) break;
        if (!repeatable(starved, io)) break;
        const again = this.#attempt(request, controls, io);
        try {
          return await again.reply;
        } catch (failure) {
          // The first refusal says why; a session the server closed since says less.
          if (!(failure instanceof FtpReplyError)) throw refusal;
          refusal = failure;
          starved = again.job;
        }
      }
      throw refusal;
    }
  }

  /** Queues one attempt of a transfer on the machine. */
  #attempt(
    request: FtpTransferRequest,
    controls: TransferControls,
    io: TransferIo,
  ): { job: DataJob; reply: Promise<FtpReply> } {
    const control = this.control;
    control.check();
    controls.signal?.throwIfAborted();
    const signal = controls.signal;
    const job = new DataJob(this, request, io, controls.onProgress);
    const reply = new Promise<FtpReply>((resolve, reject) => {
      const session = control.session;
      const id = session.transfer(now(), request);
      const onAbort = () => {
        if (!control.tracks(id) || control.closed) return;
        // Still queued behind other work: dropped there. Else it is the transfer in progress.
        if (!session.cancel(now(), id)) session.abort(now());
        control.pump();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      control.track(id, {
        resolve: (reply) => {
          this.#last = { bytes: job.bytes, tls: job.tls, resumed: job.resumed };
          done();
          resolve(reply);
        },
        reject: (error) => {
          done();
          // Stopped by the caller: the caller's reason, whatever the session made of it.
          reject(signal?.aborted ? signal.reason : error);
        },
        data: job,
      });
      control.pump();
    });
    // Answered complete: a protected download's end is checked (after the machine's turn).
    const confirmed = reply.then(async (answer) => {
      await confirmDownloadEnd(control, request, job, this.#requireCloseNotify);
      return answer;
    });
    return { job, reply: confirmed };
  }
}

/**
 * One attempt's data connection, and the facts a retry is decided on. The job owns its listener
 * and its socket: both are let go of here only, each once (`#release`, `#closeListener`), as
 * `#drop` decides once the transfer is over or stopped, or at the end of the data.
 */
class DataJob implements DataWork {
  readonly #transfers: Transfers;
  readonly #request: FtpTransferRequest;
  readonly #sink?: (chunk: Uint8Array) => void | Promise<void>;
  readonly #source?: AsyncIterable<Uint8Array>;
  readonly #onProgress?: (bytes: number) => void;
  #socket?: FtpSocket;
  #listener?: FtpListener;
  /** The connection let go of (a TLS socket over it is another, let go of in turn). */
  #released?: FtpSocket;
  /** The transfer is over (its final reply came, or the session ended). */
  #ended = false;
  /** An upload's end (close_notify, FIN) was sent: the server has all of it. */
  #sent = false;
  /** Bytes moved. */
  bytes = 0;
  /** Whether the data connection is TLS. */
  tls = false;
  /** Whether its TLS session resumed the control connection's. */
  resumed = false;
  /** A download read to its end: whether its TLS ended with close_notify (`undefined`: the
   * transport cannot tell, or plain). */
  closeNotified: boolean | undefined;
  /** The transfer no longer wants its data connection. */
  dropped = false;
  /** The upload's source was read from (an attempt after it would miss what was taken). */
  pulled = false;
  /** Whether the data connection's TLS handshake offered the control connection's session. */
  offered?: boolean;
  /** Whether the data connection's TLS handshake completed. */
  secured?: boolean;
  /** The data connection's TLS handshake failed while offering the control connection's session. */
  resumeRefused?: boolean;
  /** Why this side stopped an upload with ABOR (it failed here): the transfer rejects with it. */
  stopped?: Error;
  /** The data connection's work, once started. */
  moved?: Promise<void>;
  /** TLS on the data connection, once begun. */
  #handshake?: Promise<FtpSocket>;
  /** Refused for want of a TLS 1.3 ticket: settles once the connection was read to its end for
   * the tickets its full handshake brought, and closed (see {@linkcode Transfers.run}). */
  ticketsRead?: Promise<void>;

  constructor(
    transfers: Transfers,
    request: FtpTransferRequest,
    io: TransferIo,
    onProgress: ((bytes: number) => void) | undefined,
  ) {
    this.#transfers = transfers;
    this.#request = request;
    if (io.sink) this.#sink = io.sink;
    if (io.source) this.#source = io.source.chunks();
    if (onProgress) this.#onProgress = onProgress;
  }

  handle(event: DataEvent): void {
    switch (event.type) {
      case "connect-data":
        this.#connect(event.id, event.port);
        return;
      case "listen-data":
        this.#listen(event.id);
        return;
      case "transfer-data":
        this.moved = this.#move(event.id, event.tls, event.direction);
        return;
      case "abort-data":
        this.#drop(true);
        return;
    }
  }

  completed(): void {
    this.#ended = true;
    this.#drop();
  }

  async failed(error: Error): Promise<Error> {
    this.#ended = true;
    // A server that insists on resumption can refuse the data connection (522, 425) before this
    // side has seen its own end of the handshake: the handshake is let settle (it is bounded)
    // so that the error can say whether it resumed.
    if (this.#handshake && isRefusal(error)) await this.#handshake.then(() => {}, () => {});
    if (this.#starved(error)) {
      // Read to its end for the tickets its full handshake brought, once its work stops; a
      // connection not yet moving data is let go of now.
      if (this.moved) {
        this.dropped = true;
        this.ticketsRead = this.moved.then(() => this.#drain());
      } else {
        this.#drop();
        this.ticketsRead = Promise.resolve();
      }
    } else this.#drop();
    const refusal = this.secured && !this.resumed
      ? resumptionRequired(error, this.#transfers.control)
      : error;
    return this.stopped ?? refusal;
  }

  abandoned(error: Error): Error {
    this.#ended = true;
    this.#drop();
    return this.stopped ?? error;
  }

  /** Whether this is an upload whose end was not sent (it may not have begun: a server that
   * starts it after a clean end of its data connection would store an empty file). */
  get #unfinished(): boolean {
    const command = this.#request.command;
    return (command === "STOR" || command === "APPE") && !this.#sent;
  }

  /** Whether the transfer was refused (425), its handshake not resumed, for want of a ticket to
   * offer. The 425 can come before this side's handshake is done (the server knows sooner). */
  #starved(error: Error): boolean {
    return (this.#transfers.control.transport.singleUseTickets ?? false) &&
      this.offered === true && !this.resumed &&
      error instanceof FtpReplyError && error.code === 425;
  }

  /** Passive mode: connects to the server's data port. */
  async #connect(id: number, port: number): Promise<void> {
    const control = this.#transfers.control;
    try {
      // Always the control connection's host, whatever a 227 names (RFC 2577 bounce).
      this.#socket = await inTime(
        control.transport.connect({
          host: control.socket.remoteAddress,
          port,
          sessions: control.sessions,
        }),
        control.timeoutMs,
        "The data connection",
        (late) => late.close(),
      );
      if (this.dropped || control.closed) {
        this.#release();
        return this.#stoppedEarly(id);
      }
      control.session.dataConnected(now(), id);
    } catch (error) {
      if (this.dropped || control.closed) return this.#stoppedEarly(id, error as Error);
      control.session.dataFailed(now(), id, error as Error);
    }
    control.pump();
  }

  /**
   * The data connection (or listener) came, or failed, after the transfer was stopped (ABOR
   * asked) but before its command went out: the machine ends such a transfer at its next step,
   * so it is told of this one (else the operation would wait for it forever).
   */
  #stoppedEarly(id: number, error?: Error): void {
    const control = this.#transfers.control;
    if (this.#ended || control.closed) return;
    if (error) control.session.dataFailed(now(), id, error);
    else control.session.dataConnected(now(), id);
    control.pump();
  }

  /** Active mode: listens for the server's data connection. */
  async #listen(id: number): Promise<void> {
    const control = this.#transfers.control;
    try {
      const host = control.socket.localAddress;
      this.#listener = await control.transport.listen(host, control.sessions);
      if (this.dropped || control.closed) {
        this.#closeListener();
        if (this.#ended || control.closed) return;
        control.session.dataListening(now(), id, { host, port: 0 });
        return control.pump();
      }
      control.session.dataListening(now(), id, { host, port: this.#listener.port });
    } catch (error) {
      if (this.dropped || control.closed) return this.#stoppedEarly(id, error as Error);
      control.session.dataFailed(now(), id, error as Error);
    }
    control.pump();
  }

  /** Moves the data: the connection (accepted first in active mode, under TLS if `tls`) is read
   * to its end or written and ended. */
  async #move(id: number, tls: boolean, direction: "download" | "upload"): Promise<void> {
    const control = this.#transfers.control;
    this.tls = tls;
    let idle: IdleGuard | undefined;
    try {
      let socket = this.#socket ?? await this.#accept();
      if (tls) {
        socket = await this.#secure(socket, direction === "download");
        // Dropped during the handshake: the transfer's end lets go of it.
        if (this.dropped) return;
      }
      // One watchdog for the whole transfer, not a timer per chunk: a connection that moves
      // nothing for timeoutMs, either way, fails the transfer.
      idle = idleGuard(control.timeoutMs);
      if (direction === "download") await this.#download(socket, idle);
      else await this.#upload(socket, idle);
      if (this.dropped || control.closed) return;
      this.#release();
      control.session.dataEnded(now(), id);
    } catch (error) {
      if (this.dropped || control.closed) return;
      this.#broke(id, error as Error);
    } finally {
      idle?.stop();
      // A connection that came after the transfer was over is let go of now.
      if (this.#ended && !this.ticketsRead) this.#drop();
    }
    control.pump();
  }

  /** Active mode: the server's data connection, once it comes. */
  async #accept(): Promise<FtpSocket> {
    const socket = await inTime(
      this.#listener!.accept(),
      this.#transfers.control.timeoutMs,
      "The server's data connection",
      (late) => late.close(),
    );
    this.#closeListener();
    this.#socket = socket;
    return socket;
  }

  /** Runs TLS on the data connection (RFC 4217 section 7: the FTP client is the TLS client, in
   * active mode too). */
  async #secure(plain: FtpSocket, readsToEnd: boolean): Promise<FtpSocket> {
    const { control, resumeData } = this.#transfers;
    const { transport, sessions } = control;
    // rustls offers a ticket from its own store, by server name, whenever it holds one (Deno):
    // the session's store does not tell.
    const offered = resumeData && transport.resumesSessions &&
      (sessions.ready || (transport.singleUseTickets ?? false));
    this.offered = offered;
    const handshake = inTime(
      plain.startTls({
        ...control.tls,
        ...(resumeData ? { sessions } : {}),
        ...(readsToEnd ? { readsToEnd } : {}),
      }),
      control.timeoutMs,
      "TLS on the data connection",
    );
    this.#handshake = handshake;
    const socket = await handshake.catch((error) => {
      this.#release();
      // A refusal, not silence: a timeout is not worth a second wait.
      this.resumeRefused = offered && !(error instanceof TimeoutError);
      throw error;
    });
    this.#socket = socket;
    this.secured = true;
    this.resumed = socket.tls?.resumed ?? false;
    return socket;
  }

  /** Reads a download to its end, into the sink. */
  async #download(socket: FtpSocket, idle: IdleGuard): Promise<void> {
    for (
      let chunk = await idle.within(socket.read());
      chunk;
      chunk = await idle.within(socket.read())
    ) {
      if (this.dropped) return;
      idle.touch();
      this.bytes += chunk.length;
      await this.#sink?.(chunk);
      this.#onProgress?.(this.bytes);
    }
    this.closeNotified = socket.closeNotified;
  }

  /** Writes an upload's source, ends it, and waits for the server to close. */
  async #upload(socket: FtpSocket, idle: IdleGuard): Promise<void> {
    this.pulled = true;
    for await (const chunk of this.#source ?? []) {
      if (this.dropped) return;
      await idle.within(socket.write(chunk));
      idle.touch();
      this.bytes += chunk.length;
      this.#onProgress?.(this.bytes);
    }
    if (this.dropped) return;
    // The file ends here: TLS close_notify, then FIN, sent before anything else happens
    // (a server may take a bare FIN for a truncation).
    await idle.within(socket.end());
    this.#sent = true;
    // The server closes once it has read everything: wait for that rather than cut the
    // connection under bytes still in flight (a TLS 1.3 ticket is consumed below us).
    try {
      while (await idle.within(socket.read())) idle.touch();
    } catch (error) {
      // A server that resets rather than closes (pyftpdlib at times) has had the whole file and
      // its end already: its reply on the control connection says whether it took them (RFC 959
      // section 4.2: 226 or 426). A stall is still a failure.
      if (error instanceof TimeoutError) throw error;
    }
  }

  /** The data connection failed here (broke, stalled, or the upload's source failed). */
  #broke(id: number, error: Error): void {
    const session = this.#transfers.control.session;
    if (this.#unfinished && this.#socket && !this.#socket.reset && !session.isClosed()) {
      // An upload cut short whose connection cannot be reset: closing it would send
      // close_notify and FIN, which read as the file's end. ABOR first; the connection closes
      // once the server has answered (it drops it itself on ABOR).
      this.stopped = error;
      session.abort(now());
      return;
    }
    this.#drop();
    session.dataFailed(now(), id, error);
  }

  /**
   * Lets go of the data connection. An upload cut short must not look finished: it is reset
   * where the transport can (no close_notify, no FIN), so that no server keeps what came as the
   * whole file. Where the transport cannot and ABOR is on its way (`aborting`), the connection
   * stays open until the transfer is answered: the server drops it on ABOR.
   */
  #drop(aborting = false): void {
    this.dropped = true;
    this.#closeListener();
    const socket = this.#socket;
    if (!socket) return;
    const cut = this.#unfinished;
    if (cut && socket.reset) this.#release(true);
    else if (!(cut && aborting)) this.#release();
  }

  /** Reads the data connection to its end (bounded: the idle timeout), then closes it. */
  async #drain(): Promise<void> {
    const socket = this.#socket;
    if (socket && socket !== this.#released) {
      const idle = idleGuard(this.#transfers.control.timeoutMs);
      try {
        while (await idle.within(socket.read())) idle.touch();
      } catch {
        // However it ended.
      } finally {
        idle.stop();
      }
    }
    this.#closeListener();
    this.#release();
  }

  /** Closes (or resets) the data connection, unless it was let go of already. */
  #release(reset = false): void {
    const socket = this.#socket;
    if (!socket || socket === this.#released) return;
    this.#released = socket;
    if (reset) socket.reset?.();
    else socket.close();
  }

  #closeListener(): void {
    this.#listener?.close();
    this.#listener = undefined;
  }
}

/** Whether `error` is the reply a server that requires resumption gives a data connection that
 * did not resume (vsftpd 522, ProFTPD 425). */
function isRefusal(error: Error): error is FtpReplyError {
  return error instanceof FtpReplyError && (error.code === 522 || error.code === 425);
}

/**
 * `error`, explained when it is a server's refusal of a protected data connection that did not
 * resume the control connection's TLS session: vsftpd answers 522, ProFTPD 425 (RFC 4217 10.2
 * lets a server insist).
 */
function resumptionRequired(
  error: Error,
  control: { transport: { resumesSessions: boolean }; sessions: { unresumable?: string } },
): Error {
  if (!isRefusal(error)) return error;
  const resumes = control.transport.resumesSessions;
  // Tickets used up or stale: a new session's may resume (a retry policy retries this one).
  const Refusal = resumes && control.sessions.unresumable === undefined
    ? FtpSessionReuseError
    : FtpReplyError;
  return new Refusal(
    error.command,
    { code: error.code, lines: error.lines },
    (error.code === 522 ? "The server requires" : "The server probably requires") +
      " data connections to resume the control connection's TLS session, and this " +
      "one's handshake did not " +
      (control.sessions.unresumable !== undefined
        ? `(${control.sessions.unresumable})`
        : resumes
        ? "(the server declined the session offered, or none was left to offer)"
        : "(Deno's native TLS cannot resume: use connectFtps, which resumes over " +
          "node:tls)") +
      ". If the server is right to refuse, it can accept data connections without " +
      "session reuse (vsftpd: require_ssl_reuse=NO; ProFTPD: TLSOptions " +
      "NoSessionReuseRequired)",
  );
}

/**
 * Whether a failed attempt can be made again whole: a download that delivered nothing, an upload
 * whose source gives every byte again or was not read from.
 */
function repeatable(job: DataJob, io: TransferIo): boolean {
  return io.source ? io.source.replayable || !job.pulled : job.bytes === 0;
}

/** An upload of `data`: bytes and text are sent whole on every attempt; a stream or an iterable
 * is read once. */
export function uploadSource(
  data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): UploadSource {
  if (typeof data === "string" || data instanceof Uint8Array) {
    return { chunks: () => chunked(data), replayable: true };
  }
  const once = chunked(data);
  return { chunks: () => once, replayable: false };
}

/** An upload of a local file from byte `start`, read as it goes, whole on every attempt. */
export function fileSource(file: FileHandle, start: number): UploadSource {
  return { chunks: () => fileChunks(file, start), replayable: true };
}

/** Upload data as chunks of at most 64 KiB (bytes and text), or as the source gives them. */
async function* chunked(
  data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  if (bytes instanceof Uint8Array) {
    for (let at = 0; at < bytes.length; at += 65536) yield bytes.subarray(at, at + 65536);
    return;
  }
  yield* chunksOf(bytes);
}

/** A local file's bytes from `start`, 256 KiB at a time. */
async function* fileChunks(file: FileHandle, start: number): AsyncGenerator<Uint8Array> {
  for (let position = start;;) {
    const buffer = new Uint8Array(256 * 1024);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}
