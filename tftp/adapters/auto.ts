/**
 * The TFTP server and client functions for whichever runtime runs them. Each binds its UDP sockets
 * with that runtime's adapter, imported on first use: `Deno.listenDatagram` on Deno (run with
 * `--unstable-net`; without it, `node:dgram`), `Bun.udpSocket` on Bun, `node:dgram` on Node.
 * Nothing runtime-specific runs when this module is imported. To choose the adapter yourself,
 * import the same functions from `@ftkit/ftkit/tftp/deno`, `/tftp/bun` or `/tftp/node` (npm:
 * `ftkit/tftp/deno`, ...).
 *
 * Deno permissions: a server needs `--allow-net` for its `host`, and `--allow-read` for its
 * `root` (`--allow-write` too when uploads are allowed). A client binds its socket to the
 * loopback address for a server on loopback, else to `0.0.0.0:0` (`[::]:0` for an IPv6 server),
 * and sends to the server: `--allow-net=127.0.0.1` is enough on loopback; another server needs
 * `--allow-net` for it and for `0.0.0.0`.
 *
 * @module
 */

import { currentRuntime, loadOnce } from "../../io/runtime.ts";
import type { TftpUdpBind } from "../transport.ts";
import { type ServeTftpOptions, serveTftpWith, type TftpServer } from "../server.ts";
import {
  type TftpClientOptions,
  type TftpClientResult,
  tftpGetFileWith,
  tftpGetStreamWith,
  tftpGetWith,
  tftpPutFileWith,
  type TftpPutSource,
  tftpPutWith,
} from "../client.ts";

/** The running runtime's UDP binding, its module imported on the first call. */
const runtimeBind: () => Promise<TftpUdpBind> = loadOnce(() => {
  const runtime = currentRuntime();
  return runtime === "deno"
    ? import("./_deno_udp.ts").then((module) => module.bindDenoUdp)
    : runtime === "bun"
    ? import("./_bun_udp.ts").then((module) => module.bindBunUdp)
    : import("./_dgram.ts").then((module) => module.bindNodeDgram);
});

/** Binds a UDP socket with the running runtime's adapter. */
const bindUdp: TftpUdpBind = async (options) => (await runtimeBind())(options);

/**
 * Starts a TFTP server (RFC 1350, with the options of RFC 2347, 2348, 2349 and 7440) that serves
 * the directory `root`, or the files a `handler` gives. A directory is served read-only unless
 * `allowWrite`; an upload never replaces a file unless `allowOverwrite`, and becomes visible only
 * once complete (written aside, then renamed into place); every path is resolved inside the root,
 * and symbolic links that leave it are refused. Each transfer gets a socket of its own on `host`.
 *
 * Deno: `--allow-net` for `host` (`--allow-net=127.0.0.1`), `--allow-read` for `root`, and
 * `--allow-write` for it with `allowWrite`. The example, which also reads a file and makes a
 * temporary directory: `--allow-net=127.0.0.1 --allow-env --allow-read --allow-write`.
 *
 * @example Serve a directory on loopback, and read a file from it
 * ```ts
 * import { mkdtemp, rm, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { serveTftp, tftpGet } from "@ftkit/ftkit";
 *
 * const root = await mkdtemp(join(tmpdir(), "tftpboot-"));
 * await writeFile(join(root, "hello.txt"), "hello\n");
 * // Port 0 picks a free port; a server for PXE clients listens on 69.
 * await using server = await serveTftp({ root, host: "127.0.0.1", port: 0 });
 * const { port } = server.address;
 * const bytes = await tftpGet({ host: "127.0.0.1", port, remote: "hello.txt" });
 * console.log(new TextDecoder().decode(bytes)); // "hello\n"
 * await rm(root, { recursive: true });
 * ```
 *
 * @param options What to serve (`root` or `handler`), where (`host`, default `"127.0.0.1"`;
 * `port`, default 69, 0 for a free one), and the limits, permissions and hooks of
 * {@linkcode ServeTftpOptions}.
 * @returns The running server: its `address`, and `close()` (or `await using`), which aborts the
 * transfers still running and closes every socket.
 * @throws {TypeError} Unless exactly one of `root` and `handler` is given (`workers` above 1
 *   needs `root`); when `uniqueRoot`,
 *   `unmatchedClients` or `backslashes` has a value it does not take; when `allow` or `deny`
 *   holds something that is not an IP network.
 * @throws {SyntaxError} When a `network` of `clientRoots` is not a network (the message says why).
 * @throws {RangeError} When a limit is out of range (`portRange` outside 1-65535, a negative
 * count).
 * @throws {Error} When the address cannot be bound (`EADDRINUSE`, `EACCES` for a port below 1024
 * without the privilege) or, on Deno, without the permission (`NotCapable`).
 */
export function serveTftp(options: ServeTftpOptions): Promise<TftpServer> {
  return serveTftpWith(bindUdp, options);
}

/**
 * Reads a remote file into memory (an RRQ, RFC 1350), negotiating the options asked for
 * (`blksize`, `windowsize`, `timeout`, `tsize`; RFC 2347-2349, 7440) and taking what the server
 * grants.
 *
 * Deno: `--allow-net` for the server, and for `0.0.0.0` (`::` for an IPv6 server), where the
 * client binds its socket, unless the server is on loopback: `--allow-net=127.0.0.1` runs the
 * example.
 *
 * @example Read a file from a server on loopback
 * ```ts
 * import { serveTftp, tftpGet } from "@ftkit/ftkit";
 *
 * await using server = await serveTftp({
 *   host: "127.0.0.1",
 *   port: 0,
 *   handler: { read: () => Promise.resolve(new TextEncoder().encode("hello\n")) },
 * });
 * const bytes = await tftpGet({
 *   host: "127.0.0.1",
 *   port: server.address.port,
 *   remote: "hello.txt",
 *   blksize: 1468,
 * });
 * console.log(new TextDecoder().decode(bytes)); // "hello\n"
 * ```
 *
 * @param options The server (`host`, `port`, default 69), the file (`remote`), and the transfer's
 * options of {@linkcode TftpClientOptions}: `mode`, `blksize`, `windowsize`, `maxSize`,
 * `onProgress`, `signal`, ...
 * @returns The file's bytes.
 * @throws {TftpTransferError} When the transfer fails: the server refused it (`reason`
 * `"peer-error"`, with its `code`: 1 file not found, 2 access violation, ...), never answered or
 * stopped answering (`"timeout"`), broke the protocol or the option negotiation, or sent more than
 * `maxSize` (`"size-limit"`).
 * @throws {TypeError} When an option is invalid (a mode other than `"octet"` or `"netascii"`).
 * @throws {RangeError} When an option is out of range (`retransmit` timings, a block size the
 * packet codec cannot encode).
 * @throws {unknown} The signal's reason when `signal` aborts it (an `AbortError` unless it was
 * given another); a DNS error for a host name that does not resolve; on Deno, `NotCapable`
 * without the network permission.
 */
export function tftpGet(options: TftpClientOptions): Promise<Uint8Array> {
  return tftpGetWith(bindUdp, options);
}

/**
 * Reads a remote file into a writable stream, block by block as it arrives: the stream is closed
 * once the whole file is in, or aborted with the error when the transfer fails.
 *
 * Deno: `--allow-net` as for {@linkcode tftpGet}
 * (`--allow-net=127.0.0.1` runs the example).
 *
 * @example Read a file into a stream
 * ```ts
 * import { serveTftp, tftpGetStream } from "@ftkit/ftkit";
 *
 * await using server = await serveTftp({
 *   host: "127.0.0.1",
 *   port: 0,
 *   handler: { read: () => Promise.resolve(new TextEncoder().encode("hello\n")) },
 * });
 * const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
 * const [result, text] = await Promise.all([
 *   tftpGetStream({ host: "127.0.0.1", port: server.address.port, remote: "hello.txt" }, writable),
 *   new Response(readable).text(),
 * ]);
 * console.log(result.bytes, text); // 6 "hello\n"
 * ```
 *
 * @param options The server, the file and the transfer's options, as for {@linkcode tftpGet}.
 * @param destination Where the bytes go; it is locked at once, and closed or aborted at the end.
 * @returns What the transfer reported: bytes, negotiated `blksize` and `windowsize`,
 * retransmissions and duration.
 * @throws {TftpTransferError} When the transfer fails, as for {@linkcode tftpGet} (the stream is
 * aborted with it).
 * @throws {TypeError} When an option is invalid, or `destination` is locked already.
 * @throws {RangeError} When an option is out of range.
 * @throws {unknown} The signal's reason when `signal` aborts it; an error the stream's sink
 * throws; a DNS or permission error, as for {@linkcode tftpGet}.
 */
export function tftpGetStream(
  options: TftpClientOptions,
  destination: WritableStream<Uint8Array>,
): Promise<TftpClientResult> {
  return tftpGetStreamWith(bindUdp, options, destination);
}

/**
 * Reads a remote file into a local file. The bytes go to a temporary file beside `path`
 * (`.NAME.XXXXXXXX.part`), flushed to disk before the last block is acknowledged, which takes the
 * name `path` only once the whole file is in: a failure, or an abort through `signal`, leaves any
 * file named `path` as it was and removes the temporary one.
 *
 * Deno: `--allow-net` as for {@linkcode tftpGet}, and `--allow-read`
 * and `--allow-write` for the directory of `path`. The example, which makes a temporary
 * directory: `--allow-net=127.0.0.1 --allow-env --allow-read --allow-write`.
 *
 * @example Download to a file
 * ```ts
 * import { mkdtemp, readFile, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { serveTftp, tftpGetFile } from "@ftkit/ftkit";
 *
 * await using server = await serveTftp({
 *   host: "127.0.0.1",
 *   port: 0,
 *   handler: { read: () => Promise.resolve(new TextEncoder().encode("hostname r1\n")) },
 * });
 * const dir = await mkdtemp(join(tmpdir(), "ftkit-"));
 * const path = join(dir, "r1.cfg");
 * await tftpGetFile({ host: "127.0.0.1", port: server.address.port, remote: "r1.cfg" }, path);
 * console.log(await readFile(path, "utf8")); // "hostname r1\n"
 * await rm(dir, { recursive: true });
 * ```
 *
 * @param options The server, the file and the transfer's options, as for {@linkcode tftpGet}.
 * @param path The local file to write (replaced once the download is whole).
 * @returns What the transfer reported, as for {@linkcode tftpGetStream}.
 * @throws {TftpTransferError} When the transfer fails, as for {@linkcode tftpGet}.
 * @throws {TypeError} When an option is invalid.
 * @throws {RangeError} When an option is out of range.
 * @throws {Error} When the local file cannot be written (`ENOENT` for a missing directory,
 * `EACCES`, `ENOSPC`).
 * @throws {unknown} The signal's reason when `signal` aborts it; a DNS or permission error, as for
 * {@linkcode tftpGet}.
 */
export function tftpGetFile(options: TftpClientOptions, path: string): Promise<TftpClientResult> {
  return tftpGetFileWith(bindUdp, options, path);
}

/**
 * Writes bytes, a stream or an async iterable to the server as the remote file (a WRQ, RFC 1350),
 * announcing its size with tsize (RFC 2349) when it is known: the length of bytes, or `size`.
 *
 * Deno: `--allow-net` as for {@linkcode tftpGet}. The example, which
 * serves a temporary directory: `--allow-net=127.0.0.1 --allow-env --allow-read
 * --allow-write`.
 *
 * @example Upload bytes to a server that takes uploads
 * ```ts
 * import { mkdtemp, readFile, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { serveTftp, tftpPut } from "@ftkit/ftkit";
 *
 * const root = await mkdtemp(join(tmpdir(), "tftpboot-"));
 * await using server = await serveTftp({ root, allowWrite: true, host: "127.0.0.1", port: 0 });
 * const bytes = new TextEncoder().encode("hostname r1\n");
 * const result = await tftpPut(
 *   { host: "127.0.0.1", port: server.address.port, remote: "r1.cfg" },
 *   bytes,
 * );
 * console.log(result.bytes, await readFile(join(root, "r1.cfg"), "utf8")); // 12 "hostname r1\n"
 * await rm(root, { recursive: true });
 * ```
 *
 * @param options The server, the remote file's name and the transfer's options, as for
 * {@linkcode tftpGet} (`maxSize` applies to reads only).
 * @param source The bytes: a `Uint8Array`, a `ReadableStream` or an async iterable of chunks.
 * @param size The size of a stream or iterable, announced with tsize when given (a server may
 * refuse a file too big for it before it starts).
 * @returns What the transfer reported, as for {@linkcode tftpGetStream}.
 * @throws {TftpTransferError} When the transfer fails: the server refused it (`"peer-error"`, code
 * 2 access violation, 3 disk full, 6 file already exists, ...), or it timed out or broke the
 * protocol, as for {@linkcode tftpGet}.
 * @throws {TypeError} When an option is invalid.
 * @throws {RangeError} When an option is out of range.
 * @throws {unknown} The signal's reason when `signal` aborts it; an error `source` throws; a DNS
 * or permission error, as for {@linkcode tftpGet}.
 */
export function tftpPut(
  options: TftpClientOptions,
  source: TftpPutSource,
  size?: number,
): Promise<TftpClientResult> {
  return tftpPutWith(bindUdp, options, source, size);
}

/**
 * Writes a local file to the server as the remote file, announcing its size with tsize.
 *
 * Deno: `--allow-net` as for {@linkcode tftpGet}, and `--allow-read`
 * for `path`. The example, which serves a temporary directory: `--allow-net=127.0.0.1 --allow-env
 * --allow-read --allow-write`.
 *
 * @example Upload a local file
 * ```ts
 * import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { serveTftp, tftpPutFile } from "@ftkit/ftkit";
 *
 * const dir = await mkdtemp(join(tmpdir(), "ftkit-"));
 * await writeFile(join(dir, "local.cfg"), "hostname r1\n");
 * await using server = await serveTftp({ root: dir, allowWrite: true, host: "127.0.0.1", port: 0 });
 * const options = { host: "127.0.0.1", port: server.address.port, remote: "backup.cfg" };
 * await tftpPutFile(options, join(dir, "local.cfg"));
 * console.log(await readFile(join(dir, "backup.cfg"), "utf8")); // "hostname r1\n"
 * await rm(dir, { recursive: true });
 * ```
 *
 * @param options The server, the remote file's name and the transfer's options, as for
 * {@linkcode tftpPut}.
 * @param path The local file to send.
 * @returns What the transfer reported, as for {@linkcode tftpGetStream}.
 * @throws {TftpTransferError} When the transfer fails, as for {@linkcode tftpPut}.
 * @throws {TypeError} When an option is invalid.
 * @throws {RangeError} When an option is out of range.
 * @throws {Error} When the local file cannot be read (`ENOENT`, `EACCES`, `EISDIR`).
 * @throws {unknown} The signal's reason when `signal` aborts it; a DNS or permission error, as for
 * {@linkcode tftpGet}.
 */
export function tftpPutFile(options: TftpClientOptions, path: string): Promise<TftpClientResult> {
  return tftpPutFileWith(bindUdp, options, path);
}
