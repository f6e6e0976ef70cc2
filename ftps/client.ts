/**
 * The FTPS client for real: {@linkcode FtpClientSession} bound to a TCP/TLS transport and to real
 * time. Runtime-agnostic; each runtime's entry point gives it its transport. This file holds the
 * public face ({@linkcode FtpsClient}; its options and results are in `client_options.ts`); the
 * control connection is opened and run by `_client_control.ts`, transfers and their data
 * connections by `_client_transfer.ts`, retries and resumed transfers by `_client_resume.ts`,
 * checksums by `_client_hash.ts`, remote times by `_client_times.ts`, proxies by
 * `_client_proxy.ts`.
 *
 * @module
 */

import {
  type FtpReply,
  ftpReplyText,
  parseFtpNumber,
  parseFtpPath,
  parseFtpTime,
} from "../codec/mod.ts";
import { open, utimes } from "node:fs/promises";
import { createAtomicFile } from "../io/atomic_file.ts";
import { type ClientControl, openClientControl } from "./_client_control.ts";
import { activeRefusalFor, parseProxy } from "./_client_proxy.ts";
import {
  compareHash,
  compareLocalFile,
  digestedUpload,
  type HashPeer,
  isHashAlgorithm,
  remoteHash,
  verifying,
} from "./_client_hash.ts";
import { listingEntries } from "./_client_listing.ts";
import { checkTime, setRemoteTime } from "./_client_times.ts";
import { fileSource, type TransferReport, Transfers } from "./_client_transfer.ts";
import {
  intoFileAt,
  intoPartialFile,
  resumableDownload,
  resumableUpload,
  type RetryHost,
  retrying,
  type UploadFrom,
  uploadFrom,
} from "./_client_resume.ts";
import { checkRetryOptions, type FtpsRetryOptions } from "./client_retry.ts";
import { FtpChecksumError, type FtpsHashAlgorithm, type FtpsHashRange } from "./checksum_error.ts";
import type { FtpTransferRequest } from "./client_session.ts";
import { FtpReplyError } from "./reply_error.ts";
import type {
  FtpsClientOptions,
  FtpsEntry,
  FtpsTransferInfo,
  FtpsTransferOptions,
} from "./client_options.ts";
import type {
  FtpsMirrorOptions,
  FtpsMirrorResult,
  FtpsRemoveDirOptions,
  FtpsTreeOptions,
  FtpsWalkEntry,
  FtpsWalkOptions,
} from "./mirror.ts";
import { makeDirs, removeRemoteTree, walkRemote } from "./_client_tree.ts";
import { mirrorTree } from "./_client_mirror.ts";

export type {
  FtpsClientOptions,
  FtpsEntry,
  FtpsProxyOptions,
  FtpsTransferInfo,
  FtpsTransferOptions,
} from "./client_options.ts";

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
  #control: ClientControl;
  #transfers: Transfers;
  /** The server as the checksum and time procedures reach it (HASH's selection kept here). */
  #peer: HashPeer;
  readonly #options: FtpsClientOptions;
  readonly #retry: FtpsRetryOptions | undefined;
  /** The directory `cd` went to (PWD's answer), to return to after a reconnection. */
  #cwd: string | undefined;
  #reconnecting: Promise<void> | undefined;
  #last: TransferReport | undefined;
  /** `close` was called: nothing connects again. */
  #closing = false;

  private constructor(control: ClientControl, options: FtpsClientOptions) {
    this.#control = control;
    this.#options = options;
    this.#transfers = this.#transfersOn(control);
    this.#peer = this.#peerOf(control);
    this.#retry = options.retry;
  }

  /**
   * Connects, secures and logs in.
   *
   * @param options Where, how and who.
   * @returns The client, ready for operations.
   */
  static async connect(options: FtpsClientOptions): Promise<FtpsClient> {
    if (options.retry) checkRetryOptions(options.retry);
    // A mistaken proxy is no reason to try again.
    const proxy = options.proxy === undefined ? undefined : parseProxy(options.proxy);
    if (proxy && options.passive === false) throw new Error(activeRefusalFor(proxy));
    const control = await retrying(options.retry, undefined, () => openClientControl(options));
    return new FtpsClient(control, { ...options });
  }

  /** The server's features (FEAT), upper-case names to parameters. */
  get features(): ReadonlyMap<string, string> {
    return this.#control.features;
  }

  /** What the last transfer reported: bytes, TLS, and whether its TLS session was resumed. */
  get lastTransfer(): FtpsTransferInfo | undefined {
    return this.#last;
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
    let mlsd = false;
    const text = new TextDecoder().decode(
      await this.#download(path, options.signal ? { signal: options.signal } : {}, () => {
        mlsd = this.#control.features.has("MLST");
        return mlsd ? "MLSD" : "LIST";
      }),
    );
    return listingEntries(text, mlsd);
  }

  /**
   * Downloads a file into memory.
   *
   * @param path The file.
   * @param options Offset, progress, abort signal.
   * @returns Its bytes (from the offset).
   */
  async get(path: string, options: FtpsTransferOptions = {}): Promise<Uint8Array> {
    const check = verifying(this.#control.features, path, options);
    const bytes = await this.#download(path, options, () => "RETR");
    if (check) await compareHash(this.#peer, path, check, bytes);
    return bytes;
  }

  /** A download into memory: a file's continued after a lost connection (see
   * {@linkcode FtpsClientOptions.retry}), a listing's run again whole. */
  async #download(
    path: string | undefined,
    options: FtpsTransferOptions,
    command: () => "RETR" | "LIST" | "MLSD" | "NLST",
  ): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let length = 0;
    const sink = (chunk: Uint8Array) => {
      chunks.push(chunk);
      length += chunk.length;
    };
    if (command() === "RETR") await this.#resumable(request("RETR", path, options), options, sink);
    else {
      await this.#retrying(async () => {
        chunks.length = length = 0;
        await this.#transfers.run(request(command(), path, options), options, { sink });
        this.#last = this.#transfers.last;
      }, options.signal);
    }
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
    const check = verifying(this.#control.features, path, options);
    const writer = destination.getWriter();
    try {
      await this.#resumable(request("RETR", path, options), options, (chunk) => {
        check?.digest.update(chunk);
        return writer.write(chunk);
      });
      if (check) await compareHash(this.#peer, path, check);
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
   * @param options Append, offset (REST), progress, abort signal, `verify`, and `modified`: the
   * time the file is given once written (see {@linkcode FtpsClient.setModified}).
   */
  async put(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: FtpsTransferOptions & { append?: boolean; modified?: Date } = {},
  ): Promise<void> {
    if (options.modified) checkTime(options.modified);
    const check = verifying(this.#control.features, path, options);
    const upload = digestedUpload(data, uploadFrom(data, options.offset ?? 0), check);
    await this.#upload(
      request(options.append ? "APPE" : "STOR", path, options),
      options,
      upload.from,
    );
    const sent = upload.check();
    if (sent) await compareHash(this.#peer, path, sent);
    if (options.modified) await this.setModified(path, options.modified);
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
   * @param options Offset, progress, abort signal; `verify` (a download that differs is not
   * renamed into place; with `offset` or `resume`, the whole local file is hashed once the rest
   * came); `preserveTime`: the local file is given the remote file's time (MDTM, RFC 3659 section
   * 3, asked before the transfer) as its modification and access times, before it takes its name;
   * `resume`: write to `<localPath>.ftkit-part`, which a failure keeps and a later call with
   * `resume` continues from its size (REST), to be renamed into place when whole (a partial file
   * larger than the remote file is started over; one of its size is just renamed; one that fails
   * `verify` is emptied).
   */
  async getFile(
    path: string,
    localPath: string,
    options: FtpsTransferOptions & { resume?: boolean; preserveTime?: boolean } = {},
  ): Promise<void> {
    if (options.resume && options.offset !== undefined) {
      throw new TypeError("getFile: resume or offset, not both");
    }
    const check = verifying(this.#control.features, path, options, true);
    const modified = options.preserveTime ? await this.lastModified(path) : undefined;
    if (options.resume) {
      const download = (sink: (chunk: Uint8Array) => Promise<void>, already: number) =>
        this.#resumable({ command: "RETR", path }, { ...options, verify: false }, sink, already);
      this.#last = await intoPartialFile(
        this.#host,
        path,
        localPath,
        options.signal,
        download,
        async (part) => {
          try {
            await compareLocalFile(this.#peer, path, part.partialPath, check);
          } catch (error) {
            // Not a part of the file: the next call starts over.
            if (error instanceof FtpChecksumError) await part.truncate();
            throw error;
          }
          if (modified) await utimes(part.partialPath, modified, modified);
        },
      );
      return;
    }
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
        if (modified && aside.temporaryPath !== aside.path) {
          // On disk first: a later write would set the time again.
          await aside.flush();
          await utimes(aside.temporaryPath, modified, modified);
        }
        await aside.commit();
      } catch (error) {
        await aside.abort();
        throw error;
      }
      return;
    }
    // Continued in place: what arrived before stays, to continue again after a failure.
    await intoFileAt(
      localPath,
      offset,
      (destination) => this.getTo(path, destination, { ...options, verify: false }),
    );
    await compareLocalFile(this.#peer, path, localPath, check);
    if (modified) await utimes(localPath, modified, modified);
  }

  /**
   * Uploads a local file (STOR, or APPE with `append`), read as it goes.
   *
   * @param localPath The local file.
   * @param path The remote file.
   * @param options Append, offset (REST), progress, abort signal, `verify` (the whole local file
   * hashed once it is sent), `preserveTime`: the remote file is given the local file's
   * modification time once written (see {@linkcode FtpsClient.setModified}); `resume`: continue the remote
   * file from its size (SIZE, then REST and STOR, or APPE where FEAT lists no REST STREAM), as
   * `curl -C -` does; a remote file larger than the local one is a `RangeError`, one of its size
   * is left as it is.
   */
  async putFile(
    localPath: string,
    path: string,
    options: FtpsTransferOptions & {
      append?: boolean;
      resume?: boolean;
      preserveTime?: boolean;
    } = {},
  ): Promise<void> {
    if (options.resume && (options.offset !== undefined || options.append)) {
      throw new TypeError("putFile: resume, offset or append, not two of them");
    }
    const check = verifying(this.#control.features, path, options, true);
    const file = await open(localPath, "r");
    try {
      const modified = options.preserveTime ? (await file.stat()).mtime : undefined;
      if (modified) checkTime(modified);
      // With an offset (REST), the file is sent from that byte on: the server has the rest.
      let command: "STOR" | "APPE" = options.append ? "APPE" : "STOR";
      let offset = options.offset;
      let shift = 0;
      let whole = false;
      if (options.resume) {
        const size = (await file.stat()).size;
        const remote = await this.#retrying(() => this.#remoteSize(path), options.signal) ?? 0;
        if (remote > size) {
          throw new RangeError(
            `Cannot continue ${path}: it has ${remote} bytes, more than ${localPath} (${size})`,
          );
        }
        if (remote === size) {
          whole = true;
          this.#last = { bytes: 0, tls: false, resumed: false };
        } else if (remote > 0 && this.#restStream()) offset = remote;
        else if (remote > 0) [command, shift] = ["APPE", remote];
      }
      if (!whole) {
        await this.#upload(
          { command, path, ...(offset !== undefined ? { offset } : {}) },
          options,
          (position) => fileSource(file, position + shift),
        );
      }
      await compareLocalFile(this.#peer, path, localPath, check);
      if (modified) await this.setModified(path, modified);
    } finally {
      await file.close();
    }
  }

  /**
   * Sets a remote file's modification time, to the whole second: MFMT (draft-somers-ftp-mfxx-04)
   * when FEAT lists it; else `SITE UTIME` when FEAT's SITE lists it (ProFTPD's mod_site_misc),
   * else `MDTM <time> <path>` (vsftpd's `mdtm_write`), each of these two read back with MDTM.
   *
   * @example
   * ```ts ignore
   * await client.setModified("backup/r1.cfg", new Date("2026-01-02T03:04:05Z"));
   * ```
   *
   * @param path The file.
   * @param time The time.
   * @returns How it was set: `"MFMT"`, `"SITE UTIME"` or `"MDTM"`.
   * @throws {FtpUnsupportedError} When the server offers none of these, or did not set the time.
   */
  setModified(path: string, time: Date): Promise<"MFMT" | "SITE UTIME" | "MDTM"> {
    return setRemoteTime(this.#peer, path, time);
  }

  /**
   * A remote file's checksum, computed by the server: HASH (draft-bryan-ftpext-hash-02, after
   * `OPTS HASH` selects the algorithm) when FEAT's HASH lists the algorithm, else XSHA256, XSHA1,
   * XMD5 or XCRC (tried even when FEAT leaves it out). A part of the file (`start` up to, not
   * including, `end`) needs HASH and RANG.
   *
   * @example
   * ```ts ignore
   * const sha256 = await client.hash("images/router.bin"); // 64 lower-case hex digits
   * const crc = await client.hash("images/router.bin", "CRC32");
   * ```
   *
   * @param path The file.
   * @param algorithm `"SHA-256"` (default), `"SHA-1"`, `"MD5"` or `"CRC32"`.
   * @param range Part of the file: its first byte, and the byte after its last.
   * @returns The digest, lower-case hex (CRC32: 8 digits).
   * @throws {FtpUnsupportedError} When the server offers no way to hash so.
   * @throws {FtpReplyError} When it refuses (no such file, ...) or answers no such digest.
   */
  hash(
    path: string,
    algorithm: FtpsHashAlgorithm = "SHA-256",
    range: FtpsHashRange = {},
  ): Promise<string> {
    if (!isHashAlgorithm(algorithm)) {
      return Promise.reject(new TypeError(`Unknown hash algorithm: ${algorithm}`));
    }
    return remoteHash(this.#peer, path, algorithm, range);
  }

  /**
   * A file's size (SIZE, RFC 3659 section 4).
   *
   * @param path The file.
   * @returns Bytes.
   */
  async size(path: string): Promise<number> {
    const reply = await this.#retrying(() => this.#raw("SIZE", path));
    return parseFtpNumber(ftpReplyText(reply).trim());
  }

  /**
   * A file's modification time (MDTM, RFC 3659 section 3).
   *
   * @param path The file.
   * @returns The time (UTC).
   */
  async lastModified(path: string): Promise<Date> {
    return parseFtpTime(ftpReplyText(await this.#retrying(() => this.#raw("MDTM", path))).trim());
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
    await this.#retrying(() => makeDirs((verb, argument) => this.#raw(verb, argument), path));
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
    await this.#retrying(() => Promise.resolve());
    await this.#control.operation((session, now) => session.rename(now, from, to));
  }

  /**
   * Changes the current directory (CWD).
   *
   * @param path The directory.
   */
  async cd(path: string): Promise<void> {
    await this.#retrying(async () => {
      await this.#raw("CWD", path);
      // Noted where a reconnection must come back to (a relative path would go elsewhere).
      if (this.#retry) this.#cwd = parseFtpPath(ftpReplyText(await this.#raw("PWD")));
    });
  }

  /**
   * The current directory (PWD).
   *
   * @returns Its path.
   */
  async pwd(): Promise<string> {
    return parseFtpPath(ftpReplyText(await this.#retrying(() => this.#raw("PWD"))));
  }

  /**
   * Sends a command without data and returns its positive reply; a negative one rejects with an
   * {@linkcode FtpReplyError}.
   *
   * @param verb The command.
   * @param argument Its argument.
   * @returns The reply.
   */
  async raw(verb: string, argument?: string): Promise<FtpReply> {
    // Sent once: only a connection found lost before it is made again.
    await this.#retrying(() => Promise.resolve());
    return await this.#raw(verb, argument);
  }

  /** A command sent once, on the connection as it is. */
  #raw(verb: string, argument?: string): Promise<FtpReply> {
    return this.#control.operation((session, now) => session.command(now, verb, argument));
  }

  /** The connection, made again (a new login, back in `cd`'s directory) when it was lost and a
   * retry policy is set. */
  async #live(): Promise<Transfers> {
    if (this.#retry && this.#control.closed && !this.#closing) {
      this.#reconnecting ??= (async () => {
        const control = await openClientControl(this.#options, true);
        const cwd = this.#cwd;
        try {
          if (cwd !== undefined) {
            await control.operation((session, now) => session.command(now, "CWD", cwd));
          }
        } catch (error) {
          // Not where the session was (the directory is gone?): not used, tried again next time.
          await control.quit();
          throw error;
        }
        this.#control = control;
        this.#transfers = this.#transfersOn(control);
        this.#peer = this.#peerOf(control);
      })().finally(() => (this.#reconnecting = undefined));
      await this.#reconnecting;
    }
    return this.#transfers;
  }

  /** The transfers of `control`, as the options say. */
  #transfersOn(control: ClientControl): Transfers {
    const { requireCloseNotify } = this.#options;
    return new Transfers(control, requireCloseNotify === undefined ? {} : { requireCloseNotify });
  }

  /** `run` on a live connection, again after each failure the retry policy retries (once
   * without a policy). */
  #retrying<T>(run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retrying(this.#retry, signal, async () => {
      await this.#live();
      return await run();
    });
  }

  /** The server as the checksum and time procedures reach it, on `control` (HASH's selection
   * belongs to its session: a new one starts from FEAT's). */
  #peerOf(control: ClientControl): HashPeer {
    return {
      raw: (verb, argument) => this.raw(verb, argument),
      get features() {
        return control.features;
      },
    };
  }

  /** What the resumable transfers need of the client. */
  get #host(): RetryHost {
    return {
      retry: this.#retry,
      live: () => this.#live(),
      remoteSize: (path) => this.#remoteSize(path),
    };
  }

  /** SIZE, or undefined when the server has no such file (a permanent refusal). */
  async #remoteSize(path: string): Promise<number | undefined> {
    try {
      return parseFtpNumber(ftpReplyText(await this.#raw("SIZE", path)).trim());
    } catch (error) {
      if (error instanceof FtpReplyError && !error.transient) return undefined;
      throw error;
    }
  }

  /** Whether the server's FEAT says REST works in stream mode (RFC 3659 section 5.5). */
  #restStream(): boolean {
    return /\bSTREAM\b/i.test(this.#control.features.get("REST") ?? "");
  }

  /** A RETR that goes on after a lost connection; notes what it moved. */
  async #resumable(
    request: FtpTransferRequest,
    options: FtpsTransferOptions,
    sink: (chunk: Uint8Array) => void | Promise<void>,
    already = 0,
  ): Promise<TransferReport> {
    return this.#last = await resumableDownload(this.#host, request, options, sink, already);
  }

  /** A STOR or APPE that goes on from what the server kept; notes what it moved. */
  async #upload(
    request: FtpTransferRequest,
    options: FtpsTransferOptions,
    from: UploadFrom,
  ): Promise<void> {
    this.#last = await resumableUpload(
      this.#host,
      { ...request, path: request.path ?? "" },
      options,
      from,
      () => this.#restStream(),
    );
  }

  /** Sends QUIT and closes every connection. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#reconnecting?.catch(() => {});
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
