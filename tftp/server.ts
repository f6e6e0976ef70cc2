/**
 * The runtime-agnostic TFTP server: the endpoint machine on a listening socket, one driven
 * transfer per request, files from a handler or a directory.
 *
 * @module
 */

import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import type { TftpMode } from "../codec/tftp_packet.ts";
import type { TftpAddress } from "./address.ts";
import type { TftpTransferDriver, TftpTransferResult } from "./transfer_driver.ts";
import { type TftpHandler, type TftpHandlerRequest, TftpRequestError } from "./handler.ts";
import { tftpDirectoryHandler, type TftpDirectoryOptions } from "./directory.ts";
import {
  TftpServerEndpoint,
  type TftpServerEndpointOptions,
  type TftpServerRequest,
} from "./server_endpoint.ts";
import {
  TFTP_DEFAULT_MAX_BLKSIZE,
  TFTP_DEFAULT_MAX_WINDOWSIZE,
  type TftpTransferParameters,
} from "./negotiation.ts";
import type { TftpUdpBind, TftpUdpSocket } from "./transport.ts";
import { windowReceiveBuffer } from "./_window_buffer.ts";
import { checkPortRange } from "../io/port_range.ts";
import {
  bindTransferSocket,
  driveTransfer,
  dropFile,
  openRequestFile,
  transferOutcome,
} from "./_server_transfer.ts";
import type { TftpWorkers } from "./_server_workers.ts";
import { applyTftpMapRules, type TftpMapRule } from "./remap_file.ts";
import { TftpAccess, type TftpAccessList } from "./_server_access.ts";
import { ipv4Form } from "./_ip_family.ts";

export type { TftpAccessList } from "./_server_access.ts";

/** A rewrite of requested file names, like tftp-hpa's `-m` rules. */
export interface TftpRemapRule {
  /** Matched against the file name. */
  match: RegExp;
  /** The replacement (`$1` and so on refer to groups), as `String.prototype.replace` takes it. */
  replace: string;
  /** Only for these requests (default both). */
  type?: "rrq" | "wrq";
  /** Only for clients this accepts (default all). */
  client?: (peer: TftpAddress) => boolean;
  /** Stop after this rule when it matched (default `false`: later rules see the result). */
  last?: boolean;
}

/** What happened in one transfer, for logs and metrics. */
export interface TftpTransferRecord {
  /** The client. */
  peer: TftpAddress;
  /** Read or write. */
  type: "rrq" | "wrq";
  /** The file name the client sent. */
  filename: string;
  /** The file name after remapping. */
  resolvedFilename: string;
  /** The mode. */
  mode: TftpMode;
  /** The negotiated parameters (undefined when refused before negotiation). */
  parameters: TftpTransferParameters | undefined;
  /** File bytes moved. */
  bytes: number;
  /** Wall time of the transfer in ms. */
  durationMs: number;
  /** Datagrams sent again. */
  retransmits: number;
  /** `"complete"`; `"failed"` with the error; or `"refused"` by `allow` and `deny`, with the
   * error sent, or none when the request was dropped unanswered. */
  outcome: "complete" | "failed" | "refused";
  /** Why it was refused: `"denied"`, by `allow` and `deny`. */
  reason?: "denied";
  /** The TFTP error code and message when it failed or was refused. */
  error?: { code: number; message: string };
}

/** Options for `serveTftp`. Give `root` or `handler`. */
export interface ServeTftpOptions extends TftpServerEndpointOptions, TftpDirectoryOptions {
  /** The directory to serve. */
  root?: string;
  /** Dynamic content instead of a directory. */
  handler?: TftpHandler;
  /**
   * The address to listen on (default `"127.0.0.1"`: this machine only). Give `"0.0.0.0"` (every
   * IPv4 interface), `"::"` (every interface; IPv4 too where the system maps it) or one
   * interface's address to serve the network, as PXE clients need.
   */
  host?: string;
  /** The port to listen on (default 69; 0 picks a free one). */
  port?: number;
  /** Rewrite requested names before the handler sees them. */
  remap?: readonly TftpRemapRule[];
  /**
   * tftp-hpa remap rules (from {@linkcode parseTftpMapFile}), run after `remap`: the name they
   * make is still resolved inside `root`, and an `a` rule refuses with ERROR 2 (access
   * violation) and its message, or "Access denied" as tftpd-hpa says without one.
   */
  mapRules?: readonly TftpMapRule[];
  /**
   * Serve every transfer from the listening port (for NAT and containers). Beware: the port of
   * every transfer is then known, so anyone can forge a request and acknowledge the DATA blindly
   * from the address they want flooded. Reads are therefore limited to blksize 512 and
   * windowsize 1 in this mode unless `maxBlksize` or `maxWindowsize` are given (each blind ACK
   * then yields at most one 516-byte block).
   */
  singlePort?: boolean;
  /**
   * The clients served (default: every one not denied): networks in CIDR form or lone addresses,
   * for both directions or per direction (`{ read: [...], write: [...] }`); with a list, only
   * its clients are served in that direction. Checked before the request is remapped, a file is
   * opened or a socket bound. An address served in no direction is dropped without an answer
   * (its source may be forged: an answer would be sent to whoever it names), taking none of its
   * `requestBurst` tokens; one served in the other direction only gets ERROR 2 "Access denied".
   * Either way `onTransfer` records it as `refused`, `denied` (dropped requests: at most 20 at
   * once and 10 a second, so that a flood cannot fill a log).
   */
  allow?: TftpAccessList;
  /** The clients refused, as `allow` takes them: a listed client is refused even when `allow`
   * lists it too. */
  deny?: TftpAccessList;
  /** Bind transfer sockets to ports in this inclusive range (default: any free port). */
  portRange?: readonly [number, number];
  /** Called when a transfer ends, or a request is refused. */
  onTransfer?: (record: TftpTransferRecord) => void;
  /** Called on socket errors. */
  onError?: (error: Error) => void;
  /**
   * Worker threads that run the transfers, to use every core (default 1: every transfer runs on
   * this thread). Above 1, this thread keeps the listening socket and the limits (`maxTransfers`,
   * `maxTransfersPerClient` and the request tokens count across workers) and hands each accepted
   * request to the least loaded worker, which opens its file, binds its socket and runs it;
   * `onTransfer` and `onError` still run here. Needs `root` (a `handler` cannot run in another
   * thread). The workers bind their sockets with the running runtime's adapter; on Deno they are
   * web Workers, with this thread's permissions (from a local copy, reading ftkit's files). In
   * `singlePort` mode every datagram arrives on the listening socket, so transfers run on this
   * thread whatever this says. Starting takes longer (each worker loads the modules: 0.2-0.7 s).
   */
  workers?: number;
}

/** A running TFTP server. */
export interface TftpServer extends AsyncDisposable {
  /** Where it listens. */
  readonly address: TftpAddress;
  /** Transfers in progress. */
  readonly activeTransfers: number;
  /** Stops listening, aborts running transfers (ERROR 0 to their clients) and closes every socket. */
  close(): Promise<void>;
}

interface Running {
  driver: TftpTransferDriver;
  socket: TftpUdpSocket | undefined;
  /** Settles once the transfer's file is let go and its record made. */
  recorded?: Promise<void>;
}

/** A request refused by `allow` and `deny`: with the ERROR sent, or dropped without one. */
interface Refusal {
  reason: "denied";
  error?: { code: number; message: string };
}

const DENIED: Refusal = { reason: "denied" };

/** Whether a datagram is an RRQ or a WRQ (by its opcode). */
function isRequest(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0 && (bytes[1] === 1 || bytes[1] === 2);
}

/**
 * Starts a TFTP server over the given UDP binding. `serveTftp` (from `@ftkit/ftkit`, npm `ftkit`)
 * binds this to the running runtime's adapter, and the per-runtime entry points to theirs.
 *
 * @param bind Binds UDP sockets.
 * @param options What to serve and how.
 * @returns The running server.
 * @throws {TypeError} Unless exactly one of `root` and `handler` is given, or if `workers` is
 *   above 1 with a `handler`; when `uniqueRoot`, `unmatchedClients` or `backslashes` has a value
 *   it does not take; if `allow` or `deny` holds something that is not a network.
 * @throws {SyntaxError} When a `network` of `clientRoots` is not a network (the message says why).
 * @throws {RangeError} If `portRange` is not `[low, high]` within 1-65535, or `workers` is not a
 *   whole number of 1 or more.
 */
export async function serveTftpWith(
  bind: TftpUdpBind,
  options: ServeTftpOptions,
): Promise<TftpServer> {
  if ((options.root === undefined) === (options.handler === undefined)) {
    throw new TypeError("Give serveTftp either root or handler");
  }
  if (options.portRange) checkPortRange(options.portRange, "portRange");
  const workerCount = options.workers ?? 1;
  if (!Number.isInteger(workerCount) || workerCount < 1) {
    throw new RangeError(`workers must be a whole number, 1 or more, got ${workerCount}`);
  }
  if (workerCount > 1 && options.handler) {
    throw new TypeError("serveTftp's workers need root: a handler cannot run in another thread");
  }
  const access = TftpAccess.from(options.allow, options.deny);
  // Loopback unless told otherwise: serving the network is a choice made out loud.
  const host = options.host ?? "127.0.0.1";
  // Made with workers too: its options are checked here, before any worker starts.
  const directoryHandler = options.handler ?? tftpDirectoryHandler(options.root!, options);
  const workers: TftpWorkers | undefined = workerCount > 1 && !options.singlePort
    ? await (await import("./_server_workers.ts")).startTftpWorkers(
      workerCount,
      { ...options, host },
      () => flushEndpoint(),
    )
    : undefined;
  const handler = workers ? undefined : directoryHandler;
  const endpoint = workers?.endpoint ?? new TftpServerEndpoint(options);
  const running = new Map<string, Running>();
  // One client is one key whichever family reported it (::ffff:a.b.c.d is a.b.c.d).
  const key = (address: TftpAddress) => `${ipv4Form(address.address)}|${address.port}`;
  let closing = false;
  // Single-port reads: blind ACKs are easy there, so each may yield one small block at most.
  const singlePortReadLimits = {
    ...(options.maxBlksize === undefined ? { maxBlksize: 512 } : {}),
    ...(options.maxWindowsize === undefined ? { maxWindowsize: 1 } : {}),
  };

  // In single-port mode uploads arrive on the listening socket: give it room for a window.
  const uploads = options.handler ? options.handler.write !== undefined : options.allowWrite;
  const listener = await bind({
    host,
    port: options.port ?? 69,
    receiveBufferSize: options.singlePort && uploads
      ? windowReceiveBuffer(
        options.maxBlksize ?? TFTP_DEFAULT_MAX_BLKSIZE,
        options.maxWindowsize ?? TFTP_DEFAULT_MAX_WINDOWSIZE,
      )
      : undefined,
    onMessage(bytes, from) {
      if (closing) return;
      if (access && !access.serves(from.address)) {
        dropDenied(bytes, from);
        return;
      }
      // In single-port mode a transfer's datagrams arrive here. Requests always go to the
      // endpoint, which passes a repeated one to the client's transfer. Otherwise, anything sent
      // here instead of to the transfer's port must not reach the transfer, or the port would
      // protect nothing: the endpoint drops it.
      const transfer = options.singlePort && !isRequest(bytes) ? running.get(key(from)) : undefined;
      if (transfer) {
        transfer.driver.handleDatagram(bytes, from);
        return;
      }
      const pending = endpoint.handleDatagram(performance.now(), bytes, from);
      flushEndpoint();
      if (pending) handleRequest(pending).catch((error) => options.onError?.(error));
    },
    onError: options.onError,
  }).catch(async (error) => {
    await workers?.close();
    throw error;
  });

  function flushEndpoint(): void {
    for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) {
      listener.send(t.bytes, t.to);
    }
    // The endpoint gave a transfer a repeated request, or ended it to make room: its driver sends
    // what it queued, and once it is over lets its file and socket go.
    for (let event = endpoint.pollEvent(); event; event = endpoint.pollEvent()) {
      const entry = running.get(key(event.transfer.peer));
      if (entry?.driver.transfer === event.transfer) entry.driver.poll();
    }
  }

  /** Records a request from an address served in no direction, dropped unanswered. */
  function dropDenied(bytes: Uint8Array, from: TftpAddress): void {
    if (!options.onTransfer) return;
    const now = performance.now();
    const request = access!.recordable(now, bytes, options.maxRequestLength);
    if (request) record({ from, request, receivedAt: now }, request.filename, now, DENIED);
  }

  function remap(request: TftpServerRequest): string | TftpRequestError {
    let name = request.request.filename;
    for (const rule of options.remap ?? []) {
      if (rule.type && rule.type !== request.request.type) continue;
      if (rule.client && !rule.client(request.from)) continue;
      rule.match.lastIndex = 0;
      if (!rule.match.test(name)) continue;
      rule.match.lastIndex = 0;
      name = name.replace(rule.match, rule.replace);
      if (rule.last) break;
    }
    if (!options.mapRules) return name;
    const mapped = applyTftpMapRules(options.mapRules, name, {
      type: request.request.type,
      // An IPv4 client of a server on "::" is an IPv4 client to the 4 and 6 flags, \i and \x, as
      // tftpd-hpa sees it when it listens on both families (one socket each, its default).
      address: ipv4Form(request.from.address),
    });
    if (mapped.type === "name") return mapped.filename;
    // tftpd-hpa answers a refusal by the table with EACCESS (RFC 1350 error 2, access
    // violation), and the text "Access denied" when the rule gives none.
    return new TftpRequestError(
      TftpErrorCode.AccessViolation,
      mapped.message ?? "Access denied",
    );
  }

  function record(
    pending: TftpServerRequest,
    resolvedFilename: string,
    started: number,
    result: TftpTransferResult | { code: number; message: string } | Refusal,
  ): void {
    if (!options.onTransfer) return;
    const { request, from } = pending;
    const base = {
      peer: from,
      type: request.type,
      filename: request.filename,
      resolvedFilename,
      mode: request.mode,
      durationMs: performance.now() - started,
    };
    if ("reason" in result) {
      options.onTransfer({
        ...base,
        parameters: undefined,
        bytes: 0,
        retransmits: 0,
        outcome: "refused",
        reason: result.reason,
        ...(result.error ? { error: result.error } : {}),
      });
    } else if ("ok" in result) {
      options.onTransfer({
        ...base,
        parameters: result.parameters,
        bytes: result.stats.bytes,
        retransmits: result.stats.retransmits,
        outcome: result.ok ? "complete" : "failed",
        ...(result.ok
          ? {}
          : { error: { code: result.failure.code, message: result.failure.message } }),
      });
    } else {
      options.onTransfer({
        ...base,
        parameters: undefined,
        bytes: 0,
        retransmits: 0,
        outcome: "failed",
        error: result,
      });
    }
  }

  async function handleRequest(pending: TftpServerRequest): Promise<void> {
    const started = performance.now();
    const { request, from } = pending;
    if (access && !access.permits(from.address, request.type)) {
      // Served in the other direction only: this client may hear why.
      const error = { code: TftpErrorCode.AccessViolation, message: "Access denied" };
      endpoint.reject(pending, error.code, error.message);
      flushEndpoint();
      record(pending, request.filename, started, { reason: "denied", error });
      return;
    }
    const remapped = remap(pending);
    if (remapped instanceof TftpRequestError) {
      endpoint.reject(pending, remapped.code, remapped.message);
      flushEndpoint();
      record(pending, request.filename, started, {
        code: remapped.code,
        message: remapped.message,
      });
      return;
    }
    const filename = remapped;
    const handlerRequest: TftpHandlerRequest = {
      type: request.type,
      filename,
      requestedFilename: request.filename,
      mode: request.mode,
      peer: from,
      options: request.options,
    };
    if (workers) {
      await workers.handle(
        pending,
        handlerRequest,
        (result) => record(pending, filename, started, result),
      );
      return;
    }
    const file = await openRequestFile(handler!, handlerRequest, options.onError);
    if ("code" in file) {
      endpoint.reject(pending, file.code, file.message);
      flushEndpoint();
      record(pending, filename, started, file);
      return;
    }
    const { source, target } = file;
    let socket: TftpUdpSocket | undefined;
    // The transfer socket can receive before the driver exists; it routes through this holder.
    const route: { driver?: TftpTransferDriver } = {};
    if (!options.singlePort) {
      try {
        socket = await bindTransferSocket(
          bind,
          { ...options, host },
          request,
          (bytes, source) => route.driver?.handleDatagram(bytes, source),
        );
      } catch (error) {
        options.onError?.(error as Error);
        endpoint.reject(pending, TftpErrorCode.NotDefined, "Server busy, try again later");
        flushEndpoint();
        await dropFile(file);
        return;
      }
    }
    // An upload's window must fit what the receiving socket can queue, or its tail is lost.
    const queue = (socket ?? listener).receiveBufferSize;
    const transfer = endpoint.accept(performance.now(), pending, {
      ...(source?.size !== undefined ? { size: source.size } : {}),
      ...(target && queue ? { receiveBuffer: queue } : {}),
      ...(source && options.singlePort ? singlePortReadLimits : {}),
      confirmEnd: target !== undefined,
    });
    flushEndpoint();
    if (!transfer || closing) {
      transfer?.abort(performance.now(), TftpErrorCode.NotDefined, "Server shutting down");
      await dropFile(file);
      await socket?.close();
      return;
    }
    const through = socket ?? listener;
    const send = (bytes: Uint8Array, to: TftpAddress) => through.send(bytes, to);
    const sendMany = through.sendMany
      ? (datagrams: Uint8Array[], to: TftpAddress) => through.sendMany!(datagrams, to)
      : undefined;
    const driver = driveTransfer(transfer, send, file, sendMany);
    route.driver = driver;
    const entry: Running = { driver, socket };
    running.set(key(from), entry);
    entry.recorded = (async () => {
      const result = await transferOutcome(driver, file, options.onError);
      record(pending, filename, started, result);
    })();
    await entry.recorded;
    await driver.drained;
    if (running.get(key(from)) === entry) running.delete(key(from));
    await socket?.close();
  }

  async function close(): Promise<void> {
    if (closing) return;
    closing = true;
    for (const { driver } of running.values()) {
      driver.abort(TftpErrorCode.NotDefined, "Server shutting down");
      // And no dally after a finished upload: nothing may keep the process alive.
      driver.stop();
    }
    // Each transfer's record is made before `close` resolves, so a log may be closed after it.
    await Promise.all([...running.values()].map(async ({ driver, socket, recorded }) => {
      await driver.result;
      await recorded?.catch(() => {});
      await socket?.close();
    }));
    await workers?.close();
    await listener.close();
  }

  return {
    address: listener.local,
    get activeTransfers() {
      return running.size + (workers?.active ?? 0);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
