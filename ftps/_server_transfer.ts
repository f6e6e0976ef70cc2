/**
 * One data transfer of an FTPS server session: the file the storage opened for it, its passive
 * listener and its data connection, from the PASV or the storage request that prepares it to the
 * end of the transfer. It gets the data connection (accepted from the allowed host, or connected
 * to the client), runs TLS on it, moves the bytes (TYPE A converted), watches for stalls, and
 * closes everything it holds on every path.
 *
 * @module
 */

import { canonicalFtpHost, FtpAsciiDecoder, FtpAsciiEncoder, sameFtpHost } from "../codec/mod.ts";
import type { FtpDataResult, FtpServerEvent } from "./server_session.ts";
import {
  type FtpReadStream,
  type FtpStorageEntry,
  FtpStorageError,
  type FtpWriteStream,
} from "./storage.ts";
import { bindInRange } from "../io/port_range.ts";
import { type IdleGuard, idleGuard, TimeoutError, within } from "../io/timeout.ts";
import type {
  FtpServerListener,
  FtpServerSocket,
  FtpServerTransport,
  FtpTlsServerContext,
} from "./transport.ts";
import type { FtpsEvent, FtpsLogEntry } from "./server_options.ts";
import { pieceSize, takeFromAll, type TokenBucket } from "../io/token_bucket.ts";
import type { BandwidthDirection } from "./_server_limits.ts";
import type { IpNetworkList } from "../io/cidr.ts";

/** The most a download reads from its file at a time (one read per 256 KiB keeps a single
 * download fast), and the least (a TLS record's most plaintext, RFC 8446 section 5.1). */
const MAX_READ_CHUNK = 262144;
const MIN_READ_CHUNK = 16384;

/** The most the downloads of this process hold in read buffers together, beyond the least each
 * takes: a download takes the largest power of two within both bounds that still fits (one alone
 * takes 256 KiB; 300 at once hold about 4 MiB plus 16 KiB each). Memory is the process's, so the
 * count is too. */
const READ_BUDGET = 4 * 1024 * 1024;

/** Bytes lent to the read buffers of downloads sending now, in this process. */
let lent = 0;

/** Read buffers of finished downloads, by size, for the next ones: a buffer outlives its
 * download in the old generation until a full collection, so 300 downloads one after another
 * would leave 5-20 MB of them. At most {@linkcode READ_BUDGET} bytes are kept. */
const spare = new Map<number, Uint8Array[]>();
let spareBytes = 0;

/** Lends a read buffer to a download starting now; give it back with {@linkcode giveBack}. */
function lendReadBuffer(): Uint8Array {
  let size = MAX_READ_CHUNK;
  while (size > MIN_READ_CHUNK && lent + size > READ_BUDGET) size /= 2;
  lent += size;
  const kept = spare.get(size)?.pop();
  if (!kept) return new Uint8Array(size);
  spareBytes -= size;
  return kept;
}

/**
 * A download's read buffer, done with. `free`: no write holds it any more (the socket may still
 * be sending from it after a failed wait), so it can be lent again.
 */
function giveBack(buffer: Uint8Array | undefined, free: boolean): void {
  if (!buffer) return;
  lent -= buffer.length;
  if (!free || spareBytes + buffer.length > READ_BUDGET) return;
  const list = spare.get(buffer.length) ?? [];
  list.push(buffer);
  spare.set(buffer.length, list);
  spareBytes += buffer.length;
}

/** The machine's request to run a transfer. */
export type TransferDataEvent = Extract<FtpServerEvent, { type: "transfer-data" }>;

/** What a transfer moves from or to the storage: a file opened for reading (RETR) or for writing
 * (STOR, APPE, STOU), or the pages of a listing after its first (LIST, NLST, MLSD from a storage
 * with `listPages`). */
export type TransferFile =
  | { readonly read: FtpReadStream }
  | { readonly write: FtpWriteStream }
  | { readonly pages: AsyncIterator<FtpStorageEntry[]> };

/** A failed transfer, as the machine takes it. */
type DataFailure = Exclude<FtpDataResult, { ok: true }>;

/** What a transfer takes from its server and session. */
export interface ServerTransferContext {
  /** Listens for passive connections and connects active ones. */
  readonly transport: FtpServerTransport;
  /** The session's TLS context (for protected data connections): the one its control connection
   * was secured with, so that they can resume its TLS session. */
  readonly tls: FtpTlsServerContext | undefined;
  /** The passive port range, if one is set. */
  readonly passivePorts: readonly [number, number] | undefined;
  /** How long the data connection may take to come and be secured, and the bytes may stall. */
  readonly timeoutMs: number;
  /** Keep a protected upload only when it ended with TLS close_notify. */
  readonly requireCloseNotify: boolean;
  /** The session's id, for the log and the events. */
  readonly sessionId: string;
  /** The client's address (the control connection's peer, or the one its PROXY header gave). */
  readonly remoteAddress: string;
  /** Trusted proxies passive data connections may come through too (`dataThroughProxy`). */
  readonly dataProxies?: IpNetworkList | undefined;
  /** The server's address on the control connection, now. */
  localAddress(): string;
  /** The user logged in now, for the log. */
  user(): string | undefined;
  /** The bandwidth buckets a transfer going `direction` paces itself by, now. */
  buckets(direction: BandwidthDirection): TokenBucket[];
  /** Whether that user is the anonymous user. */
  anonymous(): boolean;
  /** Writes a line of the server's log. */
  log(entry: FtpsLogEntry): void;
  /** Hands an event to the application (a completed upload or download). */
  event(event: FtpsEvent): void;
  /** Reports what nobody expected (a storage failing with another error than its own). */
  onError(error: Error): void;
  /** Keeps a data connection's lingering close for a graceful close of the server to wait for. */
  linger(closed: Promise<void>): void;
}

/**
 * A storage failure as a reply: the storage's own code and text, or 451 without the text of an
 * error it did not mean for the client (that one is reported).
 *
 * @param error What the storage threw.
 * @param onError Where an unexpected error is reported.
 * @returns The reply code and text.
 */
export function storageRefusal(
  error: unknown,
  onError: (error: Error) => void,
): { code: FtpStorageError["code"]; message: string } {
  if (error instanceof FtpStorageError) return { code: error.code, message: error.message };
  onError(error as Error);
  return { code: 451, message: "Local error." };
}

/**
 * One transfer, from the PASV or storage request that prepares it to its end. It owns what it
 * opens: the file (`open`), the passive listener (`listen`) and the data connection (`run`);
 * `run` lets go of all of them at its end, `close` of those of a transfer that never ran.
 */
export class ServerTransfer {
  readonly #context: ServerTransferContext;
  #file: TransferFile | undefined;
  #listener: FtpServerListener | undefined;
  #socket: FtpServerSocket | undefined;
  #id: number | undefined;
  /** ABOR, or the session closing. */
  #aborted = false;
  /** Another connection to the passive port came from the client's address. */
  #contested = false;
  /** The data connection ended cleanly (close_notify and FIN sent). */
  #ended = false;
  /** Connections to the passive port after the data connection, being turned away. */
  #watching: Promise<void> | undefined;
  /** Bytes moved on the data connection. */
  #bytes = 0;
  /** Bytes read from the file, or written to it (TYPE A converts line ends between the two). */
  #fileBytes = 0;
  /** An upload that reached its end: whether the client ended TLS with close_notify. */
  #closeNotified: boolean | undefined;
  /** Ends a bandwidth pause early (ABOR, the session closing). */
  #wake: (() => void) | undefined;

  /**
   * Makes a transfer that holds nothing yet.
   *
   * @param context What the transfer takes from its server and session.
   */
  constructor(context: ServerTransferContext) {
    this.#context = context;
  }

  /** The machine's id of the transfer, once it runs. */
  get id(): number | undefined {
    return this.#id;
  }

  /**
   * Opens the file this transfer moves (RETR: read; STOR, APPE, STOU: write; a listing's further
   * pages), after letting go of one opened before.
   *
   * @param opening Opens it in the storage.
   * @returns What `opening` gave.
   */
  async open<F extends TransferFile>(opening: () => Promise<F>): Promise<F> {
    await this.#releaseFile();
    const file = await opening();
    this.#file = file;
    return file;
  }

  /**
   * Lets go of the file held: a read is closed, a write aborted (it leaves no trace), a listing's
   * pages returned (waited for no longer than a stall: a storage stuck on a page it was asked
   * for can finish that page only after it, and must not hold the session).
   */
  async #releaseFile(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    if (file && "read" in file) await file.read.close().catch(() => {});
    if (file && "write" in file) await file.write.abort().catch(() => {});
    if (file && "pages" in file) {
      const returned = (async () => await file.pages.return?.())();
      await within(returned, this.#context.timeoutMs, "Listing return timed out").catch(() => {});
    }
  }

  /**
   * Opens the passive listener (PASV, EPSV) on the control connection's local address, in place
   * of one opened before.
   *
   * @param family 4 or 6.
   * @returns Its port, or `undefined` when none could be bound.
   */
  async listen(family: 4 | 6): Promise<number | undefined> {
    this.closeListener();
    const local = this.#context.localAddress();
    const canonical = canonicalFtpHost(local);
    // A dual-stack socket reports IPv4 as ::ffff:a.b.c.d: listen on the IPv4 address itself.
    const host = family === 4 && canonical && !canonical.includes(":") ? canonical : local;
    // Bounded: at most 100 ports of the range are tried.
    const listener = await bindInRange(
      this.#context.passivePorts,
      100,
      (port) => this.#context.transport.listen({ host, port }),
    ).catch(() => undefined);
    if (listener && this.#aborted) listener.close();
    else this.#listener = listener;
    return this.#listener?.port;
  }

  /** Closes the passive listener and forgets it. */
  closeListener(): void {
    this.#listener?.close();
    this.#listener = undefined;
  }

  /** Drops the listener and the data connection now (ABOR, the session closing). */
  abort(): void {
    this.#aborted = true;
    this.#wake?.();
    this.#socket?.close();
    this.#listener?.close();
  }

  /** Closes all the transfer holds (one that never ran: its session ends). */
  async close(): Promise<void> {
    this.abort();
    await this.#releaseFile();
  }

  /**
   * Runs the transfer to its end, lets go of all it holds, and logs it; a completed file transfer
   * (an upload committed, a download sent whole) is an event too.
   *
   * @param event The machine's `transfer-data` event.
   * @returns How it ended, for `dataResult`; `undefined` when it was aborted (none is expected).
   */
  async run(event: TransferDataEvent): Promise<FtpDataResult | undefined> {
    const context = this.#context;
    const started = performance.now();
    this.#id = event.id;
    // The stall watchdog: from now until the data connection is secured, then from each move.
    const guard = idleGuard(context.timeoutMs);
    let result: FtpDataResult | undefined;
    try {
      result = await this.#move(event, guard);
    } catch {
      result = { ok: false, reason: "broken" };
    }
    // How it ended is settled now: the session may close while the files are let go below
    // (curl closes its control connection as soon as a data connection is refused), and that
    // must not turn a refusal into an abort.
    const aborted = this.#aborted;
    guard.stop();
    const socket = this.#socket;
    // Ended cleanly: closed once the client has ended too (a close before that may reset the
    // connection under the end of a download). Otherwise dropped now.
    if (this.#ended && socket?.linger) context.linger(socket.linger());
    else socket?.close();
    this.#listener?.close();
    await this.#watching;
    await this.#releaseFile();
    const closeNotified = this.#closeNotified;
    const outcome = aborted ? "aborted" : result?.ok ? "ok" : result?.reason ?? "broken";
    const session = { sessionId: context.sessionId, remoteAddress: context.remoteAddress };
    const user = context.user();
    context.log({
      type: "transfer",
      ...session,
      user,
      anonymous: context.anonymous(),
      command: event.command,
      path: event.path,
      direction: event.direction,
      representation: event.representation,
      bytes: this.#bytes,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      tls: socket?.tls,
      ...(closeNotified !== undefined ? { closeNotified } : {}),
      outcome,
    });
    if (outcome === "ok") this.#completed(event, { ...session, user: user ?? "" });
    return aborted ? undefined : result;
  }

  /** A file transfer that ended well, as an event: the upload is committed by now. */
  #completed(
    event: TransferDataEvent,
    session: { sessionId: string; remoteAddress: string; user: string },
  ): void {
    const { command, path } = event;
    const size = this.#fileBytes;
    if (command === "RETR") this.#context.event({ type: "download", ...session, path, size });
    if (command === "STOR" || command === "APPE" || command === "STOU") {
      this.#context.event({ type: "upload", ...session, command, path, size });
    }
  }

  /** Gets and secures the data connection, then moves the bytes; `undefined` once aborted. */
  async #move(event: TransferDataEvent, guard: IdleGuard): Promise<FtpDataResult | undefined> {
    const context = this.#context;
    let socket: FtpServerSocket;
    try {
      socket = await this.#connect(event);
    } catch {
      return { ok: false, reason: "connect" };
    }
    // The passive port stays open until the transfer ends, taking no other connection.
    if (this.#listener) this.#watching = this.#watchPassivePort(this.#listener);
    this.#socket = socket;
    if (this.#aborted) {
      socket.close();
      return undefined;
    }
    if (event.tls) {
      const plain = socket;
      try {
        socket = await guard.within(within(
          plain.acceptTls(context.tls!, { receiveOnly: event.direction === "receive" }),
          context.timeoutMs,
          "Data TLS handshake timed out",
          () => plain.close(),
        ));
      } catch {
        return { ok: false, reason: "tls" };
      }
      this.#socket = socket;
      if (event.requireTlsResumption && !socket.tls?.resumed) {
        this.#refuse(socket, "not-resumed");
        return { ok: false, reason: "tls-resumption" };
      }
    }
    guard.touch();
    return event.direction === "send"
      ? await this.#send(event, socket, guard)
      : await this.#receive(event, socket, guard);
  }

  /** Sends the listing or the file held; close_notify, then FIN, marks its end. */
  async #send(
    event: TransferDataEvent,
    socket: FtpServerSocket,
    guard: IdleGuard,
  ): Promise<FtpDataResult> {
    if (event.listing) {
      this.#bytes += event.listing.length;
      await guard.within(socket.write(event.listing));
      const pages = this.#file && "pages" in this.#file ? this.#file.pages : undefined;
      if (pages && event.listingFormat) {
        guard.touch();
        const failure = await this.#sendPages(pages, event.listingFormat, socket, guard);
        if (failure) return failure;
      }
    } else {
      const source = this.#file && "read" in this.#file ? this.#file.read : undefined;
      if (!source) throw new Error("No file opened to send");
      const failure = await this.#sendFile(event, source, socket, guard);
      if (failure) return failure;
    }
    // close_notify, then FIN: the client learns the file ended here (RFC 4217 section 8).
    const timeoutMs = this.#context.timeoutMs;
    await within(socket.end(), timeoutMs, "Data close timed out", () => socket.close());
    this.#ended = true;
    return this.#contested ? { ok: false, reason: "contested" } : { ok: true };
  }

  /**
   * Sends a listing's pages after its first, each read, formatted and written before the next
   * is asked for (at most one page held), to their end or an abort; a failure of the storage's,
   * as the result. Like any listing, they go as they are, whatever the representation type.
   */
  async #sendPages(
    pages: AsyncIterator<FtpStorageEntry[]>,
    format: (entries: readonly FtpStorageEntry[]) => Uint8Array,
    socket: FtpServerSocket,
    guard: IdleGuard,
  ): Promise<DataFailure | undefined> {
    for (;;) {
      if (this.#aborted) return undefined;
      // A `next` that throws rather than rejects fails the same way.
      const page = await this.#storageStep(Promise.resolve().then(() => pages.next()), guard);
      // Ended, or failed: an iterator that says so is not returned (as `for await` does).
      if (!page.ok || page.value.done) this.#file = undefined;
      if (!page.ok) {
        socket.close();
        return this.#storageFailure(page.error);
      }
      if (page.value.done || this.#aborted) return undefined;
      guard.touch();
      const bytes = format(page.value.value);
      if (bytes.length === 0) continue;
      await guard.within(socket.write(bytes));
      this.#bytes += bytes.length;
      guard.touch();
    }
  }

  /** Sends the file held, to its end or an abort; a failure of the storage's, as the result. */
  async #sendFile(
    event: TransferDataEvent,
    source: FtpReadStream,
    socket: FtpServerSocket,
    guard: IdleGuard,
  ): Promise<DataFailure | undefined> {
    // Where the socket says when it is done with a write's bytes: one buffer for the whole file,
    // lent to each read, the next chunk in the same memory (no garbage per chunk, which runtimes
    // collect late: 300 downloads at once left 40-170 MB of it).
    const buffer = socket.writeBorrowed ? lendReadBuffer() : undefined;
    let free = false;
    try {
      const result = await this.#sendChunks(event, source, socket, guard, buffer);
      // Every write was waited for: the socket holds none of the buffer.
      free = true;
      return result;
    } finally {
      giveBack(buffer, free);
    }
  }

  /** The loop of {@linkcode #sendFile}: reads (into `buffer` when there is one) and writes. */
  async #sendChunks(
    event: TransferDataEvent,
    source: FtpReadStream,
    socket: FtpServerSocket,
    guard: IdleGuard,
    buffer: Uint8Array | undefined,
  ): Promise<DataFailure | undefined> {
    const encoder = event.representation === "A" ? new FtpAsciiEncoder() : undefined;
    const buckets = this.#context.buckets("download");
    const piece = pieceSize(buckets);
    const write = (bytes: Uint8Array) =>
      buffer ? socket.writeBorrowed!(bytes) : socket.write(bytes);
    for (;;) {
      const read = await this.#storageStep(source.read(buffer), guard);
      if (!read.ok) {
        socket.close();
        return this.#storageFailure(read.error);
      }
      if (read.value === null || this.#aborted) return undefined;
      this.#fileBytes += read.value.length;
      const wire = encoder ? encoder.encode(read.value) : read.value;
      // Under a bandwidth limit, in pieces that each pause briefly.
      for (let at = 0; at < wire.length && !this.#aborted; at += piece) {
        const part = piece >= wire.length ? wire : wire.subarray(at, at + piece);
        await guard.within(write(part));
        this.#bytes += part.length;
        guard.touch();
        await this.#pace(buckets, part.length, guard);
      }
    }
  }

  /**
   * Takes `bytes` from the bandwidth buckets and pauses as long as they say, in steps of at most
   * a second that each count as progress for the stall watchdog; ABOR ends the pause.
   */
  async #pace(buckets: readonly TokenBucket[], bytes: number, guard: IdleGuard): Promise<void> {
    if (buckets.length === 0) return;
    // The debt at this take, this transfer's to wait out (concurrent transfers each wait out
    // theirs: together they keep to the rate, and none waits on another forever).
    const until = performance.now() + takeFromAll(buckets, bytes, performance.now());
    for (let left = until - performance.now(); left > 0 && !this.#aborted;) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, Math.min(left, 1000));
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
      guard.touch();
      left = until - performance.now();
    }
  }

  /** Receives into the file held, and commits it only when the upload reached its true end. */
  async #receive(
    event: TransferDataEvent,
    socket: FtpServerSocket,
    guard: IdleGuard,
  ): Promise<FtpDataResult | undefined> {
    const target = this.#file && "write" in this.#file ? this.#file.write : undefined;
    if (!target) throw new Error("No file opened to receive");
    const decoder = event.representation === "A" ? new FtpAsciiDecoder() : undefined;
    const buckets = this.#context.buckets("upload");
    for (;;) {
      const chunk = await guard.within(socket.read());
      if (chunk === null) break;
      guard.touch();
      this.#bytes += chunk.length;
      const bytes = decoder ? decoder.decode(chunk) : chunk;
      this.#fileBytes += bytes.length;
      const written = await this.#storageStep(target.write(bytes), guard);
      if (!written.ok) {
        socket.close();
        return this.#storageFailure(written.error);
      }
      // Under a bandwidth limit, the next read waits: TCP holds the client back meanwhile.
      await this.#pace(buckets, chunk.length, guard);
    }
    // Dropped by ABOR: not the end of the file (RFC 959 section 3.4.1).
    if (this.#aborted) return undefined;
    // RFC 4217 sections 12.6 and 12.7: a protected upload ends with the client's TLS shutdown.
    // An end without it may be a cut (or forged) connection: nothing is kept.
    const closeNotified = this.#closeNotified = socket.closeNotified;
    if (event.tls && this.#context.requireCloseNotify && closeNotified !== true) {
      return { ok: false, reason: "truncated" };
    }
    // Two connections from the client's address: the data may be another program's.
    if (this.#contested) return { ok: false, reason: "contested" };
    try {
      // A CR the decoder held: the file ended with it.
      const held = decoder?.flush();
      if (held && held.length > 0) {
        await target.write(held);
        this.#fileBytes += held.length;
      }
      await target.commit();
      this.#file = undefined; // Committed: nothing is left to abort.
    } catch (error) {
      return this.#storageFailure(error);
    }
    await within(socket.end(), this.#context.timeoutMs, "Data close timed out").then(
      () => (this.#ended = true),
      () => {},
    );
    return { ok: true };
  }

  /**
   * A storage step under the stall watchdog: a stall rejects (the transfer broke); the storage's
   * own failure comes back as a value, read only if the transfer is still waiting for it.
   */
  #storageStep<T>(
    step: Promise<T>,
    guard: IdleGuard,
  ): Promise<{ readonly ok: true; readonly value: T } | { readonly ok: false; error: unknown }> {
    return guard.within(step.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ));
  }

  /** A storage failure in the middle of the transfer: 451, or 452/552 for a full disk. */
  #storageFailure(error: unknown): DataFailure {
    const { code, message } = storageRefusal(error, (failure) => this.#context.onError(failure));
    return {
      ok: false,
      reason: "storage",
      code: code === 452 || code === 552 ? code : 451,
      message,
    };
  }

  /** Gets the data connection: accepted from the allowed host, or connected to the client. */
  async #connect(event: TransferDataEvent): Promise<FtpServerSocket> {
    const context = this.#context;
    const timeoutMs = context.timeoutMs;
    if (event.connect) {
      const local = canonicalFtpHost(context.localAddress());
      const connecting = context.transport.connect({
        host: event.connect.host,
        port: event.connect.port,
        ...(local ? { localAddress: local } : {}),
      });
      // A connection that comes after the deadline is closed, not left open.
      return await within(connecting, timeoutMs, "Data connection timed out", () => {
        connecting.then((late) => late.close(), () => {});
      });
    }
    const listener = this.#listener;
    if (!listener) throw new Error("No passive listener");
    const deadline = performance.now() + timeoutMs;
    // Bounded in time; connections from other hosts are closed unread (RFC 2577 section 3).
    while (!this.#aborted) {
      const left = deadline - performance.now();
      if (left <= 0) throw new TimeoutError("Data connection timed out");
      const socket = await within(
        listener.accept(),
        left,
        "Data connection timed out",
        () => listener.close(),
      );
      if (!socket) throw new Error("Listener closed");
      if (event.acceptFrom === undefined || this.#fromClient(socket, event.acceptFrom)) {
        return socket;
      }
      this.#refuse(socket, "foreign-host");
    }
    throw new Error("Aborted");
  }

  /**
   * While the transfer runs, its passive port takes no other connection: each is closed unread
   * and logged, and one from the client's own address contests the transfer (two programs there
   * connected; the first may not be the client: RFC 2577 section 7's port theft).
   */
  async #watchPassivePort(listener: FtpServerListener): Promise<void> {
    for (;;) {
      const extra = await listener.accept();
      if (!extra) return;
      if (this.#fromClient(extra, this.#context.remoteAddress)) this.#contested = true;
      this.#refuse(extra, "extra-connection");
    }
  }

  /** Whether a data connection comes from the client: from its address, or through a trusted
   * proxy when data connections may (`dataThroughProxy`). */
  #fromClient(socket: FtpServerSocket, client: string): boolean {
    if (sameFtpHost(socket.remoteAddress, client)) return true;
    const from = canonicalFtpHost(socket.remoteAddress);
    return from !== undefined && this.#context.dataProxies?.contains(from) === true;
  }

  /** Closes a data connection unread, and says so in the log. */
  #refuse(
    socket: FtpServerSocket,
    reason: Extract<FtpsLogEntry, { type: "data-refused" }>["reason"],
  ): void {
    this.#context.log({
      type: "data-refused",
      sessionId: this.#context.sessionId,
      remoteAddress: this.#context.remoteAddress,
      user: this.#context.user(),
      from: socket.remoteAddress,
      reason,
    });
    socket.close();
  }
}
