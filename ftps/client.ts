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
import { open, utimes } from "node:fs/promises";
import { createAtomicFile } from "../io/atomic_file.ts";
import type { Digest } from "../io/digest.ts";
import { ClientControl, tlsOptions } from "./_client_control.ts";
import {
  activeRefusalFor,
  type FtpsProxyOptions,
  parseProxy,
  proxiedTransport,
} from "./_client_proxy.ts";
import {
  digestedSource,
  fileDigest,
  type HashPeer,
  isHashAlgorithm,
  localDigest,
  remoteHash,
  verifyAlgorithm,
} from "./_client_hash.ts";
import { checkTime, setRemoteTime } from "./_client_times.ts";
import { fileSource, Transfers, type UploadSource, uploadSource } from "./_client_transfer.ts";
import { FtpChecksumError, type FtpsHashAlgorithm, type FtpsHashRange } from "./checksum_error.ts";
import { FtpClientSession, type FtpTransferRequest } from "./client_session.ts";
import { FtpReplyError } from "./reply_error.ts";
import type { FtpTlsClientOptions, FtpTransport } from "./transport.ts";

export type { FtpsProxyOptions } from "./_client_proxy.ts";

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
  /**
   * A proxy the control and passive data connections go through: `socks5://[user:pass@]host:port`
   * (SOCKS5, RFC 1928 and RFC 1929; the server's name resolved here), `socks5h://...` (the proxy
   * resolves it) or `http://[user:pass@]host:port` (HTTP CONNECT with Basic authentication); or
   * `{ url, user, password }`. Active mode (`passive: false`) cannot go through one, and is
   * refused. TLS runs end to end, through the tunnel.
   */
  proxy?: string | FtpsProxyOptions;
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
  /**
   * Checks the transfer (default false): the bytes' digest, computed here as they go by, is
   * compared with the server's digest of the file (HASH or XSHA256, XSHA1, XMD5, XCRC: the
   * strongest FEAT lists, SHA-256 first, CRC32 last). A difference rejects with
   * {@linkcode FtpChecksumError} (a download is then not delivered: `getFile` leaves the local
   * file as it was, `getTo` aborts its stream; an upload stays on the server as sent). A server
   * whose FEAT lists no checksum command fails it with {@linkcode FtpUnsupportedError} before
   * anything moves. Not with `append`, nor with `offset` but on `getFile` and `putFile` (which
   * hash the whole local file).
   */
  verify?: boolean;
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
  /** The server as the checksum and time procedures reach it (HASH's selection kept here). */
  readonly #peer: HashPeer;

  private constructor(control: ClientControl) {
    this.#control = control;
    this.#transfers = new Transfers(control);
    this.#peer = {
      raw: (verb, argument) => this.raw(verb, argument),
      get features() {
        return control.features;
      },
    };
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
    const proxy = options.proxy === undefined ? undefined : parseProxy(options.proxy);
    if (proxy && options.passive === false) throw new Error(activeRefusalFor(proxy));
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
      transport: proxy ? proxiedTransport(options.transport, proxy, timeoutMs) : options.transport,
      timeoutMs,
    }, session);
    return new FtpsClient(control);
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
  async get(path: string, options: FtpsTransferOptions = {}): Promise<Uint8Array> {
    const check = this.#verifying(path, options);
    const bytes = await this.#download(path, options, "RETR");
    if (check) await this.#compare(path, check.algorithm, check.digest, bytes);
    return bytes;
  }

  /** The algorithm and the local digest of a transfer with `verify` (before anything moves). */
  #verifying(
    path: string,
    options: FtpsTransferOptions & { append?: boolean },
    offsetHashed = false,
  ): { algorithm: FtpsHashAlgorithm; digest: Digest } | undefined {
    if (!options.verify) return undefined;
    if (options.append || (options.offset && !offsetHashed)) {
      throw new TypeError(
        "verify compares whole files: not with append, nor with offset but on getFile and putFile",
      );
    }
    const algorithm = verifyAlgorithm(this.#control.features, path);
    return { algorithm, digest: localDigest(algorithm) };
  }

  /** Compares the server's digest of `path` with the local one (fed `bytes` first, if given). */
  async #compare(
    path: string,
    algorithm: FtpsHashAlgorithm,
    digest: Digest,
    bytes?: Uint8Array,
  ): Promise<void> {
    if (bytes) digest.update(bytes);
    const local = digest.hex();
    const remote = await remoteHash(this.#peer, path, algorithm);
    if (remote !== local) throw new FtpChecksumError(path, algorithm, local, remote);
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
    const check = this.#verifying(path, options);
    const writer = destination.getWriter();
    try {
      await this.#transfers.run(request("RETR", path, options), options, {
        sink: (chunk) => {
          check?.digest.update(chunk);
          return writer.write(chunk);
        },
      });
      if (check) await this.#compare(path, check.algorithm, check.digest);
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
    await this.#upload(path, uploadSource(data), options, options.modified);
  }

  /** An upload, checked with `verify`, and its time set to `modified` once it is whole. */
  async #upload(
    path: string,
    bytes: UploadSource,
    options: FtpsTransferOptions & { append?: boolean },
    modified: Date | undefined,
    prefix?: (algorithm: FtpsHashAlgorithm) => Promise<Digest>,
  ): Promise<void> {
    if (modified) checkTime(modified);
    const check = this.#verifying(path, options, prefix !== undefined);
    const digested = check &&
      digestedSource(bytes, check.algorithm, prefix && (() => prefix(check.algorithm)));
    await this.#transfers.run(request(options.append ? "APPE" : "STOR", path, options), options, {
      source: digested ? digested.source : bytes,
    });
    if (check && digested) await this.#compare(path, check.algorithm, digested.digest());
    if (modified) await this.setModified(path, modified);
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
   * @param options Offset, progress, abort signal, `verify` (a download that differs is not
   * renamed into place; with `offset`, the whole local file is hashed once the rest came), and
   * `preserveTime`: the local file is given the remote file's time (MDTM, RFC 3659 section 3,
   * asked before the transfer) as its modification and access times, before it takes its name.
   */
  async getFile(
    path: string,
    localPath: string,
    options: FtpsTransferOptions & { preserveTime?: boolean } = {},
  ): Promise<void> {
    const offset = options.offset ?? 0;
    const modified = options.preserveTime ? await this.lastModified(path) : undefined;
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
    const check = this.#verifying(path, options, true);
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
      await this.getTo(path, destination, { ...options, verify: false });
    } finally {
      if (!closed) await file.close().catch(() => {});
    }
    if (check) {
      const whole = await open(localPath, "r");
      try {
        await this.#compare(path, check.algorithm, await fileDigest(whole, check.algorithm));
      } finally {
        await whole.close();
      }
    }
    if (modified) await utimes(localPath, modified, modified);
  }

  /**
   * Uploads a local file (STOR, or APPE with `append`), read as it goes.
   *
   * @param localPath The local file.
   * @param path The remote file.
   * @param options Append, offset (REST), progress, abort signal, `verify` (with `offset`, the
   * bytes before it are hashed from the local file), and `preserveTime`: the remote file is given
   * the local file's modification time once written (see {@linkcode FtpsClient.setModified}).
   */
  async putFile(
    localPath: string,
    path: string,
    options: FtpsTransferOptions & { append?: boolean; preserveTime?: boolean } = {},
  ): Promise<void> {
    const file = await open(localPath, "r");
    // With an offset (REST), the file is sent from that byte on: the server has the rest.
    const start = options.offset ?? 0;
    try {
      const modified = options.preserveTime ? (await file.stat()).mtime : undefined;
      await this.#upload(
        path,
        fileSource(file, start),
        options,
        modified,
        start > 0 ? (algorithm) => fileDigest(file, algorithm, 0, start) : undefined,
      );
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
