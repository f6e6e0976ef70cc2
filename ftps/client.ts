/**
 * The FTPS client for real: {@linkcode FtpClientSession} bound to a TCP/TLS transport and to real
 * time. Runtime-agnostic; each runtime's entry point gives it its transport.
 *
 * @module
 */

import {
  type FtpListEntry,
  type FtpReply,
  ftpReplyText,
  parseFtpFacts,
  parseFtpListLine,
  parseFtpNumber,
  parseFtpPath,
  parseFtpTime,
} from "../codec/mod.ts";
import { open } from "node:fs/promises";
import { createAtomicFile } from "../io/atomic_file.ts";
import { chunksOf } from "../io/stream.ts";
import { type IdleGuard, idleGuard, within } from "../io/timeout.ts";
import {
  type FtpClientEvent,
  FtpClientSession,
  type FtpTransferRequest,
} from "./client_session.ts";
import { FtpReplyError } from "./reply_error.ts";
import type {
  FtpListener,
  FtpSocket,
  FtpTlsClientOptions,
  FtpTlsSessionStore,
  FtpTransport,
} from "./transport.ts";

/** Options of {@linkcode FtpsClient.connect}. */
export interface FtpsClientOptions extends FtpTlsClientOptions {
  /** The server's host name or IP address. */
  host: string;
  /** The control port (default 21, or 990 for implicit TLS). */
  port?: number;
  /** TLS: `"explicit"` (AUTH TLS, default), `"implicit"` (TLS from the first byte), or `false`
   * (plain FTP: passwords and data in the clear). */
  secure?: "explicit" | "implicit" | false;
  /** The user (default `"anonymous"`). */
  user?: string;
  /** The password (default `"anonymous@"`). */
  password?: string;
  /** The account, for servers that ask (332). */
  account?: string;
  /** Data protection under TLS: `"P"` (default) or `"C"`. */
  protection?: "P" | "C";
  /** Passive data connections (default true); `false` listens for the server (active mode). */
  passive?: boolean;
  /** The longest wait for a reply, a connection or data, in ms (default 30000). */
  timeoutMs?: number;
  /** The transport: the runtime entry points fill it in. */
  transport: FtpTransport;
}

/** Options of a transfer. */
export interface FtpsTransferOptions {
  /** Start at this byte (REST; RFC 3659 section 5). */
  offset?: number;
  /** Called with the bytes moved so far. */
  onProgress?: (bytes: number) => void;
  /**
   * Stops the transfer: ABOR goes out on the control connection, the data connection is dropped
   * (an upload so that the server sees it cut short, never ended), and the operation rejects with
   * the signal's reason once the server has answered.
   */
  signal?: AbortSignal;
}

/** One entry of a directory listing. */
export interface FtpsEntry {
  /** The name. */
  readonly name: string;
  /** What it is. */
  readonly type: "file" | "dir" | "link" | "other";
  /** Size in bytes, when the server says. */
  readonly size?: number;
  /** Last modification, when the server says it fully (MLSD). */
  readonly modified?: Date;
}

/** What a finished transfer reports. */
export interface FtpsTransferInfo {
  /** Bytes moved. */
  readonly bytes: number;
  /** Whether the data connection was TLS. */
  readonly tls: boolean;
  /** Whether its TLS session resumed the control connection's. */
  readonly resumed: boolean;
}

interface Pending {
  resolve: (reply: FtpReply) => void;
  reject: (error: Error) => void;
  data?: DataJob;
}

/** An upload's bytes: `chunks()` gives them for an attempt; a `replayable` source gives all of
 * them again each time (bytes, a local file), another only what its first attempt left. */
interface UploadSource {
  readonly chunks: () => AsyncIterable<Uint8Array>;
  readonly replayable: boolean;
}

/** What a transfer moves its bytes to or from. */
interface TransferIo {
  readonly sink?: DataJob["sink"];
  readonly source?: UploadSource;
}

interface DataJob {
  readonly request: FtpTransferRequest;
  readonly sink?: (chunk: Uint8Array) => void | Promise<void>;
  readonly source?: AsyncIterable<Uint8Array>;
  /** The upload's source was read from (an attempt after it would miss what was taken). */
  pulled?: boolean;
  readonly onProgress?: (bytes: number) => void;
  socket?: FtpSocket;
  listener?: FtpListener;
  bytes: number;
  tls: boolean;
  resumed: boolean;
  dropped: boolean;
  /** Whether the data connection's TLS handshake offered the control connection's session. */
  offered?: boolean;
  /** Whether the data connection's TLS handshake completed. */
  secured?: boolean;
  /** The data connection's TLS handshake failed while offering the control connection's session. */
  resumeRefused?: boolean;
  /** An upload's end (close_notify, FIN) was sent: the server has all of it. */
  sent?: boolean;
  /** Why this side stopped an upload with ABOR (it failed here): the transfer rejects with it. */
  stopped?: Error;
  /** Refused for want of a TLS 1.3 ticket: the connection is read to its end before it closes,
   * for the tickets its full handshake brought (see `#transfer`). */
  drainTickets?: boolean;
  /** The data connection's work, once started. */
  moved?: Promise<void>;
}

const now = (): number => performance.now();

/** How many times a transfer refused for want of a TLS 1.3 ticket is tried again. */
const MAX_TICKET_RETRIES = 2;

/**
 * An FTPS (or FTP) client session over a real connection.
 *
 * @example
 * ```ts ignore
 * import { connectFtps } from "@ftkit/ftkit/ftps/node";
 *
 * // connectFtps is FtpsClient.connect with this runtime's transport.
 * await using client = await connectFtps({ host: "127.0.0.1", user: "fred", password: "pw" });
 * const bytes = await client.get("firmware.bin");
 * await client.put("backup/config.txt", new TextEncoder().encode("hostname r1\n"));
 * await client.getFile("images/router.bin", "./router.bin"); // renamed into place when whole
 * await client.putFile("./r1.cfg", "backup/r1.cfg");
 * ```
 */
export class FtpsClient {
  readonly #session: FtpClientSession;
  readonly #transport: FtpTransport;
  readonly #tls: FtpTlsClientOptions;
  readonly #sessions: FtpTlsSessionStore;
  readonly #timeoutMs: number;
  readonly #resumes: boolean;
  readonly #singleUseTickets: boolean;
  #control: FtpSocket;
  #pending = new Map<number, Pending>();
  #writing: Promise<void> = Promise.resolve();
  #upgrade: "none" | "wanted" = "none";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed: Error | undefined;
  #ready: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #features: ReadonlyMap<string, string> = new Map();
  #reading: Promise<void> = Promise.resolve();
  #lastTransfer: FtpsTransferInfo | undefined;
  /** Whether data connections offer the control connection's session; off for good once a
   * server breaks a handshake over it (pyftpdlib with optional client certificates does). */
  #resumeData = true;

  private constructor(
    options: FtpsClientOptions,
    control: FtpSocket,
    sessions: FtpTlsSessionStore,
  ) {
    const secure = options.secure ?? "explicit";
    this.#transport = options.transport;
    this.#control = control;
    this.#sessions = sessions;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#resumes = options.transport.resumesSessions;
    this.#singleUseTickets = options.transport.singleUseTickets ?? false;
    this.#tls = tlsOptions(options);
    this.#session = new FtpClientSession({
      tls: secure === false ? "none" : secure,
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.account !== undefined ? { account: options.account } : {}),
      ...(options.protection !== undefined ? { protection: options.protection } : {}),
      dataConnections: options.passive === false ? "active" : "passive",
      replyTimeoutMs: this.#timeoutMs,
    });
  }

  /**
   * Connects, secures and logs in.
   *
   * @param options Where, how and who.
   * @returns The client, ready for operations.
   */
  static async connect(options: FtpsClientOptions): Promise<FtpsClient> {
    const secure = options.secure ?? "explicit";
    const port = options.port ?? (secure === "implicit" ? 990 : 21);
    const verification = tlsOptions(options);
    const sessions = options.transport.sessionStore({
      host: options.host,
      port,
      tls: verification,
    });
    await sessions.prepare?.();
    const tls = { ...verification, sessions };
    const connecting = options.transport.connect({
      host: options.host,
      port,
      ...(secure === "implicit" ? { tls } : { sessions }),
    });
    const control = await withTimeout(
      connecting,
      options.timeoutMs ?? 30_000,
      `Connecting to ${options.host}:${port}`,
    ).catch((error) => {
      // A connection that comes after all is closed.
      connecting.then((late) => late.close(), () => {});
      throw error;
    });
    const client = new FtpsClient(options, control, sessions);
    await client.#start();
    return client;
  }

  /** The server's features (FEAT), upper-case names to parameters. */
  get features(): ReadonlyMap<string, string> {
    return this.#features;
  }

  /** What the last transfer reported: bytes, TLS, and whether its TLS session was resumed. */
  get lastTransfer(): FtpsTransferInfo | undefined {
    return this.#lastTransfer;
  }

  /**
   * Lists a directory: MLSD when the server offers it (exact sizes and times), else LIST read in
   * Unix or DOS style.
   *
   * @param path The directory (default the current one).
   * @param options An abort signal.
   * @returns The entries, without `.` and `..`.
   */
  async list(path?: string, options: { signal?: AbortSignal } = {}): Promise<FtpsEntry[]> {
    const mlsd = this.#features.has("MLST");
    const text = new TextDecoder().decode(
      await this.#download(
        path,
        options.signal ? { signal: options.signal } : {},
        mlsd ? "MLSD" : "LIST",
      ),
    );
    const entries: FtpsEntry[] = [];
    for (const line of text.split(/\r?\n/)) {
      if (line === "") continue;
      if (mlsd) {
        const { name, facts } = parseFtpFacts(line);
        const type = facts.type?.toLowerCase();
        if (type === "cdir" || type === "pdir" || name === "." || name === "..") continue;
        entries.push({
          name,
          type: type === "file"
            ? "file"
            : type === "dir"
            ? "dir"
            : type?.includes("link")
            ? "link"
            : "other",
          ...(facts.size !== undefined ? { size: parseFtpNumber(facts.size) } : {}),
          ...(facts.modify !== undefined ? { modified: parseFtpTime(facts.modify) } : {}),
        });
      } else {
        const entry: FtpListEntry | undefined = parseFtpListLine(line);
        if (!entry || entry.name === "." || entry.name === "..") continue;
        entries.push({
          name: entry.name,
          type: entry.type,
          ...(entry.size !== undefined ? { size: entry.size } : {}),
        });
      }
    }
    return entries;
  }

  /**
   * Downloads a file into memory.
   *
   * @param path The file.
   * @param options Offset, progress, abort signal.
   * @returns Its bytes (from the offset).
   */
  get(path: string, options: FtpsTransferOptions = {}): Promise<Uint8Array> {
    return this.#download(path, options, "RETR");
  }

  async #download(
    path: string | undefined,
    options: FtpsTransferOptions,
    command: "RETR" | "LIST" | "MLSD" | "NLST",
  ): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let length = 0;
    await this.#transfer(
      {
        command,
        ...(path !== undefined ? { path } : {}),
        ...(options.offset !== undefined ? { offset: options.offset } : {}),
      },
      options,
      {
        sink: (chunk) => {
          chunks.push(chunk);
          length += chunk.length;
        },
      },
    );
    const out = new Uint8Array(length);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  /**
   * Downloads a file into a writable stream (a local file, a pipe, ...).
   *
   * @param path The file.
   * @param destination Where the bytes go; it is closed at the end, aborted on failure.
   * @param options Offset, progress, abort signal.
   */
  async getTo(
    path: string,
    destination: WritableStream<Uint8Array>,
    options: FtpsTransferOptions = {},
  ): Promise<void> {
    const writer = destination.getWriter();
    try {
      await this.#transfer(
        {
          command: "RETR",
          path,
          ...(options.offset !== undefined ? { offset: options.offset } : {}),
        },
        options,
        { sink: (chunk) => writer.write(chunk) },
      );
      await writer.close();
    } catch (error) {
      await writer.abort(error).catch(() => {});
      throw error;
    }
  }

  /**
   * Uploads bytes, text or a stream to a file (STOR, or APPE with `append`).
   *
   * @param path The file.
   * @param data What to write.
   * @param options Append, offset (REST), progress, abort signal.
   */
  async put(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: FtpsTransferOptions & { append?: boolean } = {},
  ): Promise<void> {
    await this.#transfer(
      {
        command: options.append ? "APPE" : "STOR",
        path,
        ...(options.offset !== undefined ? { offset: options.offset } : {}),
      },
      options,
      { source: uploadSource(data) },
    );
  }

  /**
   * Appends to a file (APPE).
   *
   * @param path The file.
   * @param data What to add.
   * @param options Progress, abort signal.
   */
  append(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: FtpsTransferOptions = {},
  ): Promise<void> {
    return this.put(path, data, { ...options, append: true });
  }

  /**
   * Downloads a file into a local file. Without `offset` it is written to a temporary file beside
   * `localPath` and renamed over it when whole, so a failed download leaves `localPath` as it was;
   * with `offset` (REST) the download continues an existing local file from that byte (which it
   * cuts to `offset` first), and a failure keeps what arrived, to continue again.
   *
   * @example
   * ```ts ignore
   * await client.getFile("images/boot.img", "boot.img");
   * // Continue a download that broke off at the local file's size:
   * const { size } = await stat("big.iso");
   * await client.getFile("big.iso", "big.iso", { offset: size });
   * ```
   *
   * @param path The remote file.
   * @param localPath Where to write it.
   * @param options Offset, progress, abort signal.
   */
  async getFile(
    path: string,
    localPath: string,
    options: FtpsTransferOptions = {},
  ): Promise<void> {
    const offset = options.offset ?? 0;
    if (offset === 0) {
      // A device or pipe (/dev/null) is written as it is.
      const aside = await createAtomicFile(localPath, { special: "write" });
      try {
        await this.getTo(
          path,
          new WritableStream({ write: (chunk) => aside.write(chunk) }),
          options,
        );
        await aside.commit();
      } catch (error) {
        await aside.abort();
        throw error;
      }
      return;
    }
    // Continued in place: what arrived before stays, to continue again after a failure.
    const file = await open(localPath, "r+");
    let closed = false;
    let position = offset;
    const destination = new WritableStream<Uint8Array>({
      async write(chunk) {
        for (let at = 0; at < chunk.length;) {
          const { bytesWritten } = await file.write(chunk, at, chunk.length - at, position);
          at += bytesWritten;
          position += bytesWritten;
        }
      },
      async close() {
        closed = true;
        await file.close();
      },
    });
    try {
      await file.truncate(offset);
      await this.getTo(path, destination, options);
    } finally {
      if (!closed) await file.close().catch(() => {});
    }
  }

  /**
   * Uploads a local file (STOR, or APPE with `append`), read as it goes.
   *
   * @param localPath The local file.
   * @param path The remote file.
   * @param options Append, offset (REST), progress, abort signal.
   */
  async putFile(
    localPath: string,
    path: string,
    options: FtpsTransferOptions & { append?: boolean } = {},
  ): Promise<void> {
    const file = await open(localPath, "r");
    // With an offset (REST), the file is sent from that byte on: the server has the rest.
    const start = options.offset ?? 0;
    try {
      await this.#transfer(
        {
          command: options.append ? "APPE" : "STOR",
          path,
          ...(options.offset !== undefined ? { offset: options.offset } : {}),
        },
        options,
        { source: { chunks: () => fileChunks(file, start), replayable: true } },
      );
    } finally {
      await file.close();
    }
  }

  /**
   * A file's size (SIZE, RFC 3659 section 4).
   *
   * @param path The file.
   * @returns Bytes.
   */
  async size(path: string): Promise<number> {
    return parseFtpNumber(ftpReplyText(await this.raw("SIZE", path)).trim());
  }

  /**
   * A file's modification time (MDTM, RFC 3659 section 3).
   *
   * @param path The file.
   * @returns The time (UTC).
   */
  async lastModified(path: string): Promise<Date> {
    return parseFtpTime(ftpReplyText(await this.raw("MDTM", path)).trim());
  }

  /**
   * Makes a directory; with `recursive`, its missing parents too, and an existing one is fine.
   *
   * @param path The directory.
   * @param options `recursive`.
   */
  async mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    if (!options.recursive) {
      await this.raw("MKD", path);
      return;
    }
    const parts = path.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      if (prefix === "" || parts[i - 1] === "") continue;
      try {
        await this.raw("MKD", prefix);
      } catch (error) {
        // 550 for one that exists: check that it is a directory.
        if (!(error instanceof FtpReplyError) || error.code !== 550) throw error;
        const here = await this.pwd();
        await this.raw("CWD", prefix);
        await this.raw("CWD", here);
      }
    }
  }

  /**
   * Deletes a file (DELE).
   *
   * @param path The file.
   */
  async remove(path: string): Promise<void> {
    await this.raw("DELE", path);
  }

  /**
   * Removes an empty directory (RMD).
   *
   * @param path The directory.
   */
  async removeDir(path: string): Promise<void> {
    await this.raw("RMD", path);
  }

  /**
   * Renames (RNFR, RNTO).
   *
   * @param from The current path.
   * @param to The new path.
   */
  async rename(from: string, to: string): Promise<void> {
    await this.#operation(() => this.#session.rename(now(), from, to));
  }

  /**
   * Changes the current directory (CWD).
   *
   * @param path The directory.
   */
  async cd(path: string): Promise<void> {
    await this.raw("CWD", path);
  }

  /**
   * The current directory (PWD).
   *
   * @returns Its path.
   */
  async pwd(): Promise<string> {
    return parseFtpPath(ftpReplyText(await this.raw("PWD")));
  }

  /**
   * Sends a command without data and returns its positive reply; a negative one rejects with an
   * {@linkcode FtpReplyError}.
   *
   * @param verb The command.
   * @param argument Its argument.
   * @returns The reply.
   */
  raw(verb: string, argument?: string): Promise<FtpReply> {
    return this.#operation(() => this.#session.command(now(), verb, argument));
  }

  /** Sends QUIT and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#operation(() => this.#session.quit(now()));
    } catch {
      // Closing anyway.
    }
    this.#shutdown(new Error("Client closed"));
    await this.#reading;
  }

  /** Closes (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- the machine, bound to the sockets ---

  #check(): void {
    if (this.#closed) throw this.#closed;
  }

  /** Queues an operation without data on the machine; settles with its final reply. */
  #operation(queue: () => number): Promise<FtpReply> {
    // A closed session or a refused argument rejects the promise; nothing throws synchronously.
    return new Promise((resolve, reject) => {
      this.#check();
      this.#pending.set(queue(), { resolve, reject });
      this.#pump();
    });
  }

  async #start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => (this.#ready = { resolve, reject }));
    this.#session.start(now());
    this.#reading = this.#readLoop();
    this.#pump();
    await ready;
  }

  async #readLoop(): Promise<void> {
    try {
      while (!this.#closed) {
        const bytes = await this.#control.read();
        if (this.#closed) return;
        if (bytes === null) {
          this.#session.receiveEnd(now());
          this.#pump();
          return;
        }
        this.#session.receive(now(), bytes);
        this.#pump();
        if (this.#upgrade === "wanted") {
          // AUTH TLS was accepted. The machine read nothing after the 234, and nothing more is
          // read in plain text: the transport drops what is buffered, then the handshake runs
          // (RFC 4217 section 4).
          this.#upgrade = "none";
          await this.#writing;
          this.#control = await withTimeout(
            this.#control.startTls({ ...this.#tls, sessions: this.#sessions }),
            this.#timeoutMs,
            "TLS on the control connection",
          );
          this.#session.controlUpgraded(now());
          this.#pump();
        }
      }
    } catch (error) {
      if (!this.#closed) {
        this.#shutdown(error as Error);
      }
    }
  }

  /** Sends what the machine wrote and acts on its events. */
  #pump(): void {
    for (let bytes = this.#session.pollTransmit(); bytes; bytes = this.#session.pollTransmit()) {
      const control = this.#control;
      this.#writing = this.#writing.then(() => control.write(bytes)).catch((error) => {
        this.#shutdown(error as Error);
      });
    }
    for (let event = this.#session.pollEvent(); event; event = this.#session.pollEvent()) {
      this.#event(event);
    }
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = this.#session.pollTimeout();
    if (deadline === undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#session.handleTimeout(now());
      this.#pump();
    }, Math.max(0, deadline - now()));
  }

  #event(event: FtpClientEvent): void {
    switch (event.type) {
      case "upgrade-control":
        this.#upgrade = "wanted";
        return;
      case "clear-control":
        // node:tls cannot give the TCP connection back after a TLS shutdown.
        this.#shutdown(new Error("CCC is not supported by this transport"));
        return;
      case "ready":
        this.#features = event.features;
        this.#ready?.resolve();
        this.#ready = undefined;
        return;
      case "connect-data":
        this.#connectData(event.id, event.port);
        return;
      case "listen-data":
        this.#listenData(event.id);
        return;
      case "transfer-data": {
        const moved = this.#moveData(event.id, event.tls, event.direction);
        const job = this.#pending.get(event.id)?.data;
        if (job) job.moved = moved;
        return;
      }
      case "abort-data": {
        const job = this.#pending.get(event.id)?.data;
        if (job) this.#dropData(job, true);
        return;
      }
      case "complete": {
        const pending = this.#pending.get(event.id);
        this.#pending.delete(event.id);
        if (pending?.data) {
          this.#dropData(pending.data);
          this.#lastTransfer = {
            bytes: pending.data.bytes,
            tls: pending.data.tls,
            resumed: pending.data.resumed,
          };
        }
        pending?.resolve(event.reply);
        return;
      }
      case "failed": {
        const pending = this.#pending.get(event.id);
        this.#pending.delete(event.id);
        let error = event.error;
        const job = pending?.data;
        if (job) {
          if (this.#starved(job, error)) job.drainTickets = true;
          // A data connection being worked on stays open for #moveData to read to the end.
          if (job.drainTickets && job.moved) job.dropped = true;
          else this.#dropData(job);
          // vsftpd answers 522, ProFTPD 425, to a protected data connection that did not
          // resume the control connection's session (RFC 4217 10.2 lets a server insist).
          if (
            error instanceof FtpReplyError && (error.code === 522 || error.code === 425) &&
            job.secured && !job.resumed
          ) {
            error = new FtpReplyError(
              error.command,
              { code: error.code, lines: error.lines },
              (error.code === 522 ? "The server requires" : "The server probably requires") +
                " data connections to resume the control connection's TLS session, and this " +
                "one's handshake did not " +
                (this.#resumes
                  ? "(the server declined the session offered, or none was left to offer)"
                  : "(Deno's native TLS cannot resume: use connectFtps, which resumes over " +
                    "node:tls)") +
                ". If the server is right to refuse, it can accept data connections without " +
                "session reuse (vsftpd: require_ssl_reuse=NO; ProFTPD: TLSOptions " +
                "NoSessionReuseRequired)",
            );
          }
        }
        pending?.reject(job?.stopped ?? error);
        return;
      }
      case "closed":
        this.#shutdown(
          event.error ??
            new Error(`FTP session closed (${event.reason})`),
        );
        return;
    }
  }

  async #transfer(
    request: FtpTransferRequest,
    options: FtpsTransferOptions,
    io: TransferIo,
  ): Promise<FtpReply> {
    const first = this.#attempt(request, options, io);
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
      if (this.#closed || options.signal?.aborted || !repeatable(job, io)) throw error;
      const refused = job.resumeRefused ||
        (job.offered && !job.secured && error instanceof FtpReplyError && error.code === 522);
      if (refused) {
        this.#resumeData = false;
        return await this.#attempt(request, options, io).reply;
      }
      // rustls (Deno's node:tls) offers each TLS 1.3 ticket once, and ProFTPD sends none on an
      // upload's data connection: a run of uploads uses up the control connection's tickets,
      // and the next data connection makes a full handshake, which a server that requires
      // resumption refuses (425). That handshake brings fresh tickets (ProFTPD resumes them;
      // its connection is read to the end for them), and nothing moved: the transfer is tried
      // again, at most twice (a refused connection's tickets can be lost to its reset).
      let starved = job;
      let refusal = error;
      for (let retry = 0; retry < MAX_TICKET_RETRIES && starved.drainTickets; retry++) {
        // Bounded: the data connection's reads are (its idle guard).
        await starved.moved;
        // A handshake that did resume was refused for some other reason; an upload whose
        // source cannot give its bytes again is not tried again.
        if (starved.resumed || this.#closed || options.signal?.aborted) break;
        if (!repeatable(starved, io)) break;
        const again = this.#attempt(request, options, io);
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

  /** Whether `job` was refused (425), its handshake not resumed, for want of a ticket to offer. */
  #starved(job: DataJob, error: Error): boolean {
    // The 425 can come before this side's handshake is done (the server knows sooner).
    return this.#singleUseTickets && job.offered === true && !job.resumed &&
      error instanceof FtpReplyError && error.code === 425;
  }

  #attempt(
    request: FtpTransferRequest,
    options: FtpsTransferOptions,
    io: TransferIo,
  ): { job: DataJob; reply: Promise<FtpReply> } {
    this.#check();
    options.signal?.throwIfAborted();
    const signal = options.signal;
    const job: DataJob = {
      request,
      ...(io.sink ? { sink: io.sink } : {}),
      ...(io.source ? { source: io.source.chunks() } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      bytes: 0,
      tls: false,
      resumed: false,
      dropped: false,
    };
    const reply = new Promise<FtpReply>((resolve, reject) => {
      const id = this.#session.transfer(now(), request);
      const onAbort = () => {
        if (!this.#pending.has(id) || this.#closed) return;
        // Still queued behind other work: dropped there. Else it is the transfer in progress.
        if (!this.#session.cancel(now(), id)) this.#session.abort(now());
        this.#pump();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      this.#pending.set(id, {
        resolve: (reply) => {
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
      this.#pump();
    });
    return { job, reply };
  }

  async #connectData(id: number, port: number): Promise<void> {
    const job = this.#pending.get(id)?.data;
    if (!job) return;
    try {
      // Always the control connection's host, whatever a 227 names (RFC 2577 bounce).
      job.socket = await withTimeout(
        this.#transport.connect({
          host: this.#control.remoteAddress,
          port,
          sessions: this.#sessions,
        }),
        this.#timeoutMs,
        "The data connection",
      );
      if (job.dropped || this.#closed) return job.socket.close();
      this.#session.dataConnected(now(), id);
    } catch (error) {
      if (job.dropped || this.#closed) return;
      this.#session.dataFailed(now(), id, error as Error);
    }
    this.#pump();
  }

  async #listenData(id: number): Promise<void> {
    const job = this.#pending.get(id)?.data;
    if (!job) return;
    try {
      const host = this.#control.localAddress;
      job.listener = await this.#transport.listen(host, this.#sessions);
      if (job.dropped || this.#closed) return job.listener.close();
      this.#session.dataListening(now(), id, { host, port: job.listener.port });
    } catch (error) {
      if (job.dropped || this.#closed) return;
      this.#session.dataFailed(now(), id, error as Error);
    }
    this.#pump();
  }

  async #moveData(id: number, tls: boolean, direction: "download" | "upload"): Promise<void> {
    const job = this.#pending.get(id)?.data;
    if (!job) return;
    job.tls = tls;
    let idle: IdleGuard | undefined;
    try {
      let socket = job.socket;
      if (!socket) {
        const listener = job.listener!;
        socket = await withTimeout(
          listener.accept(),
          this.#timeoutMs,
          "The server's data connection",
        );
        listener.close();
        job.socket = socket;
      }
      if (tls) {
        // RFC 4217 section 7: the FTP client is the TLS client, in active mode too.
        // rustls offers a ticket from its own store, by server name, whenever it holds one
        // (Deno): the session's store does not tell.
        const offered = this.#resumeData && this.#resumes &&
          (this.#sessions.ready || this.#singleUseTickets);
        job.offered = offered;
        const plain = socket;
        socket = await withTimeout(
          plain.startTls({
            ...this.#tls,
            ...(this.#resumeData ? { sessions: this.#sessions } : {}),
          }),
          this.#timeoutMs,
          "TLS on the data connection",
        ).catch((error) => {
          plain.close();
          // A refusal, not silence: a timeout is not worth a second wait.
          job.resumeRefused = offered && (error as Error).name !== "TimeoutError";
          throw error;
        });
        job.socket = socket;
        job.secured = true;
        job.resumed = socket.tls?.resumed ?? false;
        // Dropped during the handshake: the transfer's end closes it.
        if (job.dropped) return;
      }
      // One watchdog for the whole transfer, not a timer per chunk: a connection that moves
      // nothing for timeoutMs, either way, fails the transfer.
      idle = idleGuard(this.#timeoutMs);
      if (direction === "download") {
        for (
          let chunk = await idle.within(socket.read());
          chunk;
          chunk = await idle.within(socket.read())
        ) {
          if (job.dropped) return;
          idle.touch();
          job.bytes += chunk.length;
          await job.sink?.(chunk);
          job.onProgress?.(job.bytes);
        }
      } else {
        job.pulled = true;
        for await (const chunk of job.source ?? []) {
          if (job.dropped) return;
          await idle.within(socket.write(chunk));
          idle.touch();
          job.bytes += chunk.length;
          job.onProgress?.(job.bytes);
        }
        if (job.dropped) return;
        // The file ends here: TLS close_notify, then FIN, sent before anything else happens
        // (a server may take a bare FIN for a truncation).
        await idle.within(socket.end());
        job.sent = true;
        // The server closes once it has read everything: wait for that rather than cut the
        // connection under bytes still in flight (a TLS 1.3 ticket is consumed below us).
        while (await idle.within(socket.read())) idle.touch();
      }
      if (job.dropped || this.#closed) return;
      socket.close();
      this.#session.dataEnded(now(), id);
    } catch (error) {
      if (job.dropped || this.#closed) return;
      this.#dataBroke(id, job, error as Error);
    } finally {
      idle?.stop();
      if (job.drainTickets && job.socket) await this.#drain(job.socket);
    }
    this.#pump();
  }

  /** Reads `socket` to its end (bounded: the idle timeout), then closes it. */
  async #drain(socket: FtpSocket): Promise<void> {
    const idle = idleGuard(this.#timeoutMs);
    try {
      while (await idle.within(socket.read())) idle.touch();
    } catch {
      // However it ended.
    } finally {
      idle.stop();
      socket.close();
    }
  }

  /** The data connection failed here (broke, stalled, or the upload's source failed). */
  #dataBroke(id: number, job: DataJob, error: Error): void {
    if (unfinished(job) && job.socket && !job.socket.reset && !this.#session.isClosed()) {
      // An upload cut short whose connection cannot be reset: closing it would send
      // close_notify and FIN, which read as the file's end. ABOR first; the connection closes
      // once the server has answered (it drops it itself on ABOR).
      job.stopped = error;
      this.#session.abort(now());
      return;
    }
    this.#dropData(job);
    this.#session.dataFailed(now(), id, error);
  }

  /**
   * Lets go of a transfer's data connection. An upload cut short must not look finished: it is
   * reset where the transport can (no close_notify, no FIN), so that no server keeps what came as
   * the whole file. Where the transport cannot and ABOR is on its way (`aborting`), the connection
   * stays open until the transfer is answered: the server drops it on ABOR.
   */
  #dropData(job: DataJob, aborting = false): void {
    job.dropped = true;
    job.listener?.close();
    const socket = job.socket;
    if (!socket) return;
    const cut = unfinished(job);
    if (cut && socket.reset) socket.reset();
    else if (!(cut && aborting)) socket.close();
  }

  #shutdown(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#control.close();
    this.#ready?.reject(error);
    this.#ready = undefined;
    for (const [, pending] of this.#pending) {
      if (pending.data) this.#dropData(pending.data);
      pending.reject(pending.data?.stopped ?? error);
    }
    this.#pending.clear();
  }
}

/** Whether `job` is an upload whose end was not sent (it may not have begun: a server that
 * starts it after a clean end of its data connection would store an empty file). */
function unfinished(job: DataJob): boolean {
  const upload = job.request.command === "STOR" || job.request.command === "APPE";
  return upload && !job.sent;
}

/** A local file's bytes from `start`, 256 KiB at a time. */
async function* fileChunks(
  file: Awaited<ReturnType<typeof open>>,
  start: number,
): AsyncGenerator<Uint8Array> {
  for (let position = start;;) {
    const buffer = new Uint8Array(256 * 1024);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * The TLS options among the client's options. The name to check is the servername, else the host
 * the user named: data connections go to the control connection's address, which a certificate
 * for a host name does not carry.
 */
function tlsOptions(options: FtpsClientOptions): FtpTlsClientOptions {
  const { ca, rejectUnauthorized, minVersion, maxVersion } = options;
  return {
    servername: options.servername ?? options.host,
    ...(ca !== undefined ? { ca } : {}),
    ...(rejectUnauthorized !== undefined ? { rejectUnauthorized } : {}),
    ...(minVersion !== undefined ? { minVersion } : {}),
    ...(maxVersion !== undefined ? { maxVersion } : {}),
  };
}

/** Rejects with a clear error when `promise` takes longer than `ms`. */
const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  within(promise, ms, `${what}: no answer within ${ms} ms`);

/**
 * Whether a failed attempt can be made again whole: a download that delivered nothing, an upload
 * whose source gives every byte again or was not read from.
 */
function repeatable(job: DataJob, io: TransferIo): boolean {
  return io.source ? io.source.replayable || !job.pulled : job.bytes === 0;
}

/** An upload of `data`: bytes and text are sent whole on every attempt; a stream or an iterable
 * is read once. */
function uploadSource(
  data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): UploadSource {
  if (typeof data === "string" || data instanceof Uint8Array) {
    return { chunks: () => chunked(data), replayable: true };
  }
  const once = chunked(data);
  return { chunks: () => once, replayable: false };
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
