/**
 * The FTPS client for real: {@linkcode FtpClientSession} bound to a TCP/TLS transport and to real
 * time. Runtime-agnostic; each runtime's entry point gives it its transport. This file holds the
 * public face (options, results, {@linkcode FtpsClient}); the control connection is run by
 * `_client_control.ts`, transfers and their data connections by `_client_transfer.ts`.
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
import { ClientControl, tlsOptions } from "./_client_control.ts";
import { fileSource, Transfers, uploadSource } from "./_client_transfer.ts";
import { FtpClientSession, type FtpTransferRequest } from "./client_session.ts";
import { FtpReplyError } from "./reply_error.ts";
import type { FtpTlsClientOptions, FtpTransport } from "./transport.ts";
import type {
  FtpsMirrorOptions,
  FtpsMirrorResult,
  FtpsRemoveDirOptions,
  FtpsTreeOptions,
  FtpsWalkEntry,
  FtpsWalkOptions,
} from "./mirror.ts";
import { removeRemoteTree, walkRemote } from "./_client_tree.ts";
import { mirrorTree } from "./_client_mirror.ts";

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
  /** The transport: `connectFtps` fills it in with the running runtime's (or, from a per-runtime
   * entry point, that runtime's). */
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

/**
 * An FTPS (or FTP) client session over a real connection.
 *
 * @example
 * ```ts ignore
 * import { connectFtps } from "@ftkit/ftkit";
 *
 * // connectFtps is FtpsClient.connect with the running runtime's transport.
 * await using client = await connectFtps({ host: "127.0.0.1", user: "fred", password: "pw" });
 * const bytes = await client.get("firmware.bin");
 * await client.put("backup/config.txt", new TextEncoder().encode("hostname r1\n"));
 * await client.getFile("images/router.bin", "./router.bin"); // renamed into place when whole
 * await client.putFile("./r1.cfg", "backup/r1.cfg");
 * ```
 */
export class FtpsClient {
  readonly #control: ClientControl;
  readonly #transfers: Transfers;
  // What more connections to the same server are opened with (parallel transfers).
  readonly #options: FtpsClientOptions;

  private constructor(control: ClientControl, options: FtpsClientOptions) {
    this.#control = control;
    this.#transfers = new Transfers(control);
    this.#options = options;
  }

  /**
   * Connects, secures and logs in.
   *
   * @param options Where, how and who.
   * @returns The client, ready for operations.
   */
  static async connect(options: FtpsClientOptions): Promise<FtpsClient> {
    const secure = options.secure ?? "explicit";
    const timeoutMs = options.timeoutMs ?? 30_000;
    const session = new FtpClientSession({
      tls: secure === false ? "none" : secure,
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.account !== undefined ? { account: options.account } : {}),
      ...(options.protection !== undefined ? { protection: options.protection } : {}),
      dataConnections: options.passive === false ? "active" : "passive",
      replyTimeoutMs: timeoutMs,
    });
    const control = await ClientControl.connect({
      host: options.host,
      port: options.port ?? (secure === "implicit" ? 990 : 21),
      implicit: secure === "implicit",
      tls: tlsOptions(options),
      transport: options.transport,
      timeoutMs,
    }, session);
    return new FtpsClient(control, { ...options });
  }

  /** The server's features (FEAT), upper-case names to parameters. */
  get features(): ReadonlyMap<string, string> {
    return this.#control.features;
  }

  /** What the last transfer reported: bytes, TLS, and whether its TLS session was resumed. */
  get lastTransfer(): FtpsTransferInfo | undefined {
    return this.#transfers.last;
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
    const mlsd = this.#control.features.has("MLST");
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
    await this.#transfers.run(
      request(command, path, options),
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
      await this.#transfers.run(request("RETR", path, options), options, {
        sink: (chunk) => writer.write(chunk),
      });
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
    await this.#transfers.run(request(options.append ? "APPE" : "STOR", path, options), options, {
      source: uploadSource(data),
    });
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
      await this.#transfers.run(request(options.append ? "APPE" : "STOR", path, options), options, {
        source: fileSource(file, start),
      });
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
   * Removes an empty directory (RMD); with `recursive`, everything under it first, depth first
   * (DELE for files and links, never followed; then RMD), the first failure stopping it.
   *
   * @param path The directory.
   * @param options `recursive`, the walk's bounds, an abort signal.
   */
  async removeDir(path: string, options: FtpsRemoveDirOptions = {}): Promise<void> {
    if (options.recursive) return await removeRemoteTree(this, path, options);
    await this.raw("RMD", path);
  }

  /**
   * Walks a directory tree, parents before what they hold: MLSD where the server has it, else
   * LIST. Links are reported, never followed; names with "/", "\\", control characters, "." or
   * ".." are refused (`onRefused`); depth and entries are bounded.
   *
   * @example
   * ```ts ignore
   * for await (const entry of client.walk("pub")) console.log(entry.type, entry.path);
   * ```
   *
   * @param path The directory.
   * @param options Bounds, what to enter, where refusals and failures go, an abort signal.
   * @returns The entries, with their paths from `path`.
   */
  walk(path: string, options: FtpsWalkOptions = {}): AsyncGenerator<FtpsWalkEntry> {
    return walkRemote(this, path, options);
  }

  /**
   * Makes `destination` a copy of `source`, one a server directory and the other a local one
   * (`direction`, default `"download"`), like lftp's `mirror`: a file is copied when missing,
   * of another size, or newer at the source; with `delete`, what the source lacks is removed;
   * `dryRun` only reports. `parallel` connections move files at once.
   *
   * @example
   * ```ts ignore
   * const result = await client.mirror("pub/boot", "./boot", { parallel: 4, delete: true });
   * console.log(result.copied.length, result.bytes, result.errors);
   * ```
   *
   * @param source The source directory.
   * @param destination The destination directory (made when missing).
   * @param options Direction, filters, deletion, dry run, parallel connections, per-file options.
   * @returns What was done; one file's failure is in `errors` and does not stop the others.
   */
  mirror(
    source: string,
    destination: string,
    options: FtpsMirrorOptions = {},
  ): Promise<FtpsMirrorResult> {
    return mirrorTree({ client: this, connect: this.#more, source, destination, options });
  }

  /**
   * Downloads a directory tree into a local directory, every file (see {@linkcode mirror}).
   *
   * @param path The server's directory.
   * @param localDir The local directory (made when missing).
   * @param options Filters, parallel connections, per-file options, an abort signal.
   * @returns What was done.
   */
  downloadDir(
    path: string,
    localDir: string,
    options: FtpsTreeOptions = {},
  ): Promise<FtpsMirrorResult> {
    return mirrorTree({
      client: this,
      connect: this.#more,
      source: path,
      destination: localDir,
      options: { ...options, direction: "download" },
      everything: true,
    });
  }

  /**
   * Uploads a local directory tree, every file (see {@linkcode mirror}).
   *
   * @param localDir The local directory.
   * @param path The server's directory (made when missing).
   * @param options Filters, links, parallel connections, per-file options, an abort signal.
   * @returns What was done.
   */
  uploadDir(
    localDir: string,
    path: string,
    options: FtpsTreeOptions = {},
  ): Promise<FtpsMirrorResult> {
    return mirrorTree({
      client: this,
      connect: this.#more,
      source: localDir,
      destination: path,
      options: { ...options, direction: "upload" },
      everything: true,
    });
  }

  // One more connection to the same server, for a pool.
  #more = (): Promise<FtpsClient> => FtpsClient.connect(this.#options);

  /**
   * Renames (RNFR, RNTO).
   *
   * @param from The current path.
   * @param to The new path.
   */
  async rename(from: string, to: string): Promise<void> {
    await this.#control.operation((session, now) => session.rename(now, from, to));
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
    return this.#control.operation((session, now) => session.command(now, verb, argument));
  }

  /** Sends QUIT and closes every connection. */
  async close(): Promise<void> {
    await this.#control.quit();
  }

  /** Closes (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A transfer's request: `command` on `path`, from the options' offset (REST). */
function request(
  command: FtpTransferRequest["command"],
  path: string | undefined,
  options: FtpsTransferOptions,
): FtpTransferRequest {
  return {
    command,
    ...(path !== undefined ? { path } : {}),
    ...(options.offset !== undefined ? { offset: options.offset } : {}),
  };
}
