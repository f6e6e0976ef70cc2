/**
 * The TFTP server on every core: worker threads (`node:worker_threads` on Node and Bun, web
 * Workers on Deno) run the transfers, each worker owning the sockets and files of its own. Internal:
 * tftp/server.ts starts them when `workers` is above 1.
 *
 * The server's thread keeps the listening socket and the endpoint machine: request parsing, the
 * per-address request tokens, `maxTransfers` and `maxTransfersPerClient` stay global. For each
 * request it admits, it picks the least loaded worker, which opens the file with the directory
 * handler (the same code as the server's thread) and binds the transfer's socket; the endpoint
 * then accepts the request (negotiation happens here), and the worker runs the negotiated
 * transfer machine with the same driver. The endpoint tracks a stand-in for that machine
 * (`RemoteTransfer`): the worker reports when its client answers, when it ends (with the outcome,
 * for `onTransfer`) and when it is drained; a request the client repeats and an eviction are
 * passed to the worker.
 *
 * Measured on Node 20.20, Bun 1.4.5 and Deno 2.9.5 (Linux): a UDP socket cannot be handed to
 * another thread, and spreading one port's datagrams over sockets needs SO_REUSEPORT, which
 * Node 20's `node:dgram` ignores (EADDRINUSE), as do Deno's `node:dgram` and `Bun.udpSocket`;
 * `reuseAddr` and Deno's `reuseAddress` bind a second socket that receives every datagram alone.
 * So one listener hands requests out.
 *
 * @module
 */

import { Worker } from "node:worker_threads";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import type { TftpRequest } from "../codec/tftp_packet.ts";
import type { TftpAddress } from "./address.ts";
import type { TftpHandlerRequest } from "./handler.ts";
import {
  TftpServerEndpoint,
  type TftpServerEndpointOptions,
  type TftpServerRequest,
  TftpServerTransfer,
} from "./server_endpoint.ts";
import type { TftpTransferInit } from "./transfer.ts";
import type { TftpTransferResult } from "./transfer_driver.ts";
import type { Refusal, TransferSocketOptions } from "./_server_transfer.ts";
import type { TftpDirectoryOptions } from "./directory.ts";
import { currentRuntime } from "../io/runtime.ts";

/** What a worker is told once, as it starts. */
export interface WorkerSetup {
  root: string;
  directory: TftpDirectoryOptions;
  sockets: Omit<TransferSocketOptions, "onError">;
}

/** A message to a worker. */
export type ToWorker =
  | { type: "open"; id: number; request: TftpHandlerRequest }
  | { type: "start"; id: number; request: TftpRequest; init: TftpTransferInit }
  | { type: "datagram"; id: number; bytes: Uint8Array; from: TftpAddress }
  | { type: "drop" | "evict"; id: number }
  | { type: "close" }
  | { type: "setup"; setup: WorkerSetup };

/** A message from a worker. */
export type FromWorker =
  | { type: "ready" | "closed" }
  | { type: "opened"; id: number; size?: number; receiveBufferSize?: number; upload: boolean }
  | { type: "refused"; id: number; code: number; message: string }
  | { type: "busy"; id: number }
  | { type: "answered" | "drained"; id: number }
  | { type: "result"; id: number; result: TftpTransferResult }
  | { type: "error"; message: string };

type Opened =
  | Extract<FromWorker, { type: "opened" }>
  | Extract<FromWorker, { type: "refused" }>
  | Extract<FromWorker, { type: "busy" }>
  | { type: "gone" };

/** The worker's entry module, beside this one in the source (.ts) and in the npm build (.js). */
const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./_tftp_worker.ts" : "./_tftp_worker.js",
  import.meta.url,
);

/** How long `close()` waits for a worker to end its transfers before it is terminated. */
const CLOSE_GRACE_MS = 5000;

/**
 * The endpoint's stand-in for a transfer a worker runs: its state is what the worker last
 * reported; a repeated request and an eviction are passed on to the worker.
 */
class RemoteTransfer extends TftpServerTransfer {
  readonly init: TftpTransferInit;
  #answered = false;
  #finished = false;
  #drained = false;
  #post: ((message: ToWorker) => void) | undefined;
  id = 0;
  readonly result: Promise<TftpTransferResult>;
  readonly drained: Promise<void>;
  #resolveResult!: (result: TftpTransferResult) => void;
  #resolveDrained!: () => void;

  constructor(request: TftpRequest, init: TftpTransferInit) {
    super(request, init);
    this.init = init;
    this.result = new Promise((resolve) => (this.#resolveResult = resolve));
    this.drained = new Promise((resolve) => (this.#resolveDrained = resolve));
  }

  override get answered(): boolean {
    return this.#answered;
  }

  override isFinished(): boolean {
    return this.#finished;
  }

  override isDrained(): boolean {
    return this.#drained;
  }

  override handleDatagram(_now: number, bytes: Uint8Array, from: TftpAddress): void {
    this.#post?.({ type: "datagram", id: this.id, bytes: bytes.slice(), from });
  }

  /** Ends the transfer to make room. The worker may have seen the client's answer that has not
   * reached this thread yet: the transfer then runs on (it ends as usual), though the endpoint
   * has already let its place go. */
  override evict(_now: number): boolean {
    if (this.#answered || this.#finished) return false;
    this.#post?.({ type: "evict", id: this.id });
    this.#finished = true;
    return true;
  }

  /** The worker runs it from now on. */
  attach(id: number, post: (message: ToWorker) => void): void {
    this.id = id;
    this.#post = post;
  }

  answer(): void {
    this.#answered = true;
  }

  finish(result: TftpTransferResult): void {
    this.#finished = true;
    this.#resolveResult(result);
  }

  drain(): void {
    this.#finished = true;
    this.#drained = true;
    this.#resolveDrained();
  }
}

/** The endpoint whose accepted transfers run in workers. */
class WorkerEndpoint extends TftpServerEndpoint {
  protected override createTransfer(
    request: TftpRequest,
    init: TftpTransferInit,
  ): TftpServerTransfer {
    return new RemoteTransfer(request, init);
  }
}

/** A worker thread, as the server's thread sees it. */
interface Thread {
  post(message: ToWorker): void;
  terminate(): Promise<void>;
}

/** The slice of the web `Worker` used on Deno, typed by hand so no Deno types reach npm users. */
interface WebWorker {
  onmessage: ((event: { data: FromWorker }) => void) | null;
  onerror: ((event: { message?: string; preventDefault(): void }) => void) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}

/**
 * Starts the worker module in a thread: a web `Worker` on Deno (its `node:worker_threads` takes
 * only `file:` and `data:` URLs, and from JSR the module is at an `https:` one; measured with
 * Deno 2.9.5), `node:worker_threads` on Node and Bun. The setup goes first, as a message on Deno.
 * `onExit` is called once, when the thread has ended for any reason.
 */
function startThread(
  setup: WorkerSetup,
  onMessage: (message: FromWorker) => void,
  onError: (error: Error) => void,
  onExit: () => void,
): Thread {
  if (currentRuntime() === "deno") {
    const Web = (globalThis as unknown as {
      Worker: new (url: URL, options: { type: "module" }) => WebWorker;
    }).Worker;
    const worker = new Web(WORKER_URL, { type: "module" });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      worker.terminate();
      onExit();
    };
    worker.onmessage = (event) => onMessage(event.data);
    worker.onerror = (event) => {
      // Handled here: unhandled, a worker's error would end the whole process.
      event.preventDefault();
      onError(new Error(event.message ?? "A TFTP worker failed"));
      end();
    };
    worker.postMessage({ type: "setup", setup });
    return {
      post: (message) => worker.postMessage(message),
      terminate: () => Promise.resolve(end()),
    };
  }
  const worker = new Worker(WORKER_URL, { workerData: setup });
  worker.on("message", onMessage);
  worker.on("error", onError);
  worker.on("exit", onExit);
  return {
    post: (message) => worker.postMessage(message),
    terminate: async () => {
      await worker.terminate();
    },
  };
}

/** One worker thread and what runs in it. */
class PoolWorker {
  readonly thread: Thread;
  /** Requests being opened and transfers not drained. */
  load = 0;
  alive = true;
  /** It said it was ready. */
  started = false;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  readonly #opens = new Map<number, (reply: Opened) => void>();
  readonly #transfers = new Map<number, RemoteTransfer>();
  #closed: (() => void) | undefined;

  constructor(setup: WorkerSetup, onError: (error: Error) => void) {
    let started!: () => void;
    let failed!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    let exited!: () => void;
    this.exited = new Promise((resolve) => (exited = resolve));
    this.thread = startThread(setup, (message) => {
      if (message.type === "ready") {
        this.started = true;
        started();
      } else this.#receive(message, onError);
    }, (error) => {
      // Until it is ready, its failure is the start's.
      if (this.started) onError(error);
      else failed(error);
    }, () => {
      failed(new Error("The TFTP worker stopped as it started"));
      this.#gone();
      exited();
    });
  }

  post(message: ToWorker): void {
    if (this.alive) this.thread.post(message);
  }

  open(id: number, request: TftpHandlerRequest): Promise<Opened> {
    if (!this.alive) return Promise.resolve({ type: "gone" });
    return new Promise((resolve) => {
      this.#opens.set(id, resolve);
      this.post({ type: "open", id, request });
    });
  }

  start(transfer: RemoteTransfer): void {
    this.#transfers.set(transfer.id, transfer);
    this.post({ type: "start", id: transfer.id, request: transfer.request, init: transfer.init });
  }

  /** Asks the worker to end its transfers and waits (boundedly) before it is terminated. */
  async close(): Promise<void> {
    if (this.alive) {
      const closed = new Promise<void>((resolve) => (this.#closed = resolve));
      this.post({ type: "close" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
      await Promise.race([closed, this.exited, late]);
      clearTimeout(timer);
    }
    await this.thread.terminate();
    await this.exited;
  }

  #receive(message: FromWorker, onError: (error: Error) => void): void {
    switch (message.type) {
      case "closed":
        this.#closed?.();
        return;
      case "error":
        onError(new Error(message.message));
        return;
      case "opened":
      case "refused":
      case "busy":
        this.#opens.get(message.id)?.(message);
        this.#opens.delete(message.id);
        return;
      case "answered":
        this.#transfers.get(message.id)?.answer();
        return;
      case "result":
        this.#transfers.get(message.id)?.finish(message.result);
        return;
      case "drained":
        this.#transfers.get(message.id)?.drain();
        this.#transfers.delete(message.id);
        return;
    }
  }

  /** The worker ended: its requests and transfers fail, and let their places go. */
  #gone(): void {
    this.alive = false;
    for (const resolve of this.#opens.values()) resolve({ type: "gone" });
    this.#opens.clear();
    for (const transfer of this.#transfers.values()) {
      const stats = { ...transfer.stats, endedAt: performance.now() };
      transfer.finish({
        ok: false,
        failure: {
          type: "failed",
          reason: "aborted",
          code: TftpErrorCode.NotDefined,
          message: "The worker running the transfer stopped",
          stats,
        },
        stats,
        parameters: transfer.parameters,
      });
      transfer.drain();
    }
    this.#transfers.clear();
  }
}

/** What the server's thread needs of its workers. */
export interface TftpWorkers {
  /** The endpoint, whose transfers run in the workers. */
  readonly endpoint: TftpServerEndpoint;
  /** Transfers the workers run (dallying ones included). */
  readonly active: number;
  /**
   * Runs an admitted request in a worker: `report` gets its outcome, or the refusal.
   *
   * @param pending The request, from the endpoint.
   * @param request The request for the handler (after remapping).
   * @param report Receives what `onTransfer` is told.
   */
  handle(
    pending: TftpServerRequest,
    request: TftpHandlerRequest,
    report: (result: TftpTransferResult | Refusal) => void,
  ): Promise<void>;
  /** Ends every transfer (ERROR 0 to its client) and every worker. */
  close(): Promise<void>;
}

/** What the workers are started with: the server's options, `host` settled. */
export interface TftpWorkersOptions extends TftpServerEndpointOptions, TftpDirectoryOptions {
  root?: string;
  host: string;
  portRange?: readonly [number, number];
  onError?: (error: Error) => void;
}

/**
 * Starts `count` workers serving `options.root`, and waits until each is ready.
 *
 * @param count How many.
 * @param options The server's options: the endpoint's limits stay here, global; the directory
 * and socket options go to the workers.
 * @param flush Sends what the endpoint queued from the listening socket.
 */
export async function startTftpWorkers(
  count: number,
  options: TftpWorkersOptions,
  flush: () => void,
): Promise<TftpWorkers> {
  const setup: WorkerSetup = {
    root: options.root!,
    directory: {
      allowWrite: options.allowWrite,
      allowOverwrite: options.allowOverwrite,
      createDirectories: options.createDirectories,
      allowLeadingSlash: options.allowLeadingSlash,
      readChunkSize: options.readChunkSize,
      clientRoots: options.clientRoots?.map(({ network, root }) => ({ network, root })),
      unmatchedClients: options.unmatchedClients,
      uniqueRoot: options.uniqueRoot,
      caseInsensitive: options.caseInsensitive,
      backslashes: options.backslashes,
    },
    sockets: { host: options.host, portRange: options.portRange, maxBlksize: options.maxBlksize },
  };
  const onError = (error: Error) => options.onError?.(error);
  const endpoint = new WorkerEndpoint(options);
  const pool: PoolWorker[] = [];
  let closing = false;
  let nextId = 1;
  let active = 0;

  function spawn(slot: number): PoolWorker {
    const worker = new PoolWorker(setup, onError);
    pool[slot] = worker;
    // A worker that dies is replaced (its transfers have failed), unless the server is closing.
    // One that never started is not: whatever stopped it would stop the next.
    worker.exited.then(() => {
      if (closing || pool[slot] !== worker || !worker.started) return;
      onError(new Error("A TFTP worker stopped; starting another"));
      spawn(slot).ready.catch((error) => onError(error));
    });
    return worker;
  }

  try {
    await Promise.all(Array.from({ length: count }, (_, slot) => spawn(slot).ready));
  } catch (error) {
    closing = true;
    await Promise.all(pool.map((worker) => worker.close()));
    throw error;
  }

  function pick(): PoolWorker | undefined {
    let best: PoolWorker | undefined;
    for (const worker of pool) {
      if (worker.alive && (!best || worker.load < best.load)) best = worker;
    }
    return best;
  }

  async function handle(
    pending: TftpServerRequest,
    request: TftpHandlerRequest,
    report: (result: TftpTransferResult | Refusal) => void,
  ): Promise<void> {
    const worker = pick();
    if (!worker) {
      // Every worker died and is being replaced.
      endpoint.reject(pending, TftpErrorCode.NotDefined, "Server busy, try again later");
      flush();
      return;
    }
    const id = nextId++;
    worker.load++;
    try {
      const opened = await worker.open(id, request);
      if (opened.type === "refused") {
        endpoint.reject(pending, opened.code, opened.message);
        flush();
        report(opened);
        return;
      }
      if (opened.type !== "opened") {
        endpoint.reject(pending, TftpErrorCode.NotDefined, "Server busy, try again later");
        flush();
        return;
      }
      const transfer = endpoint.accept(performance.now(), pending, {
        ...(opened.size !== undefined ? { size: opened.size } : {}),
        ...(opened.upload && opened.receiveBufferSize
          ? { receiveBuffer: opened.receiveBufferSize }
          : {}),
        confirmEnd: opened.upload,
      }) as RemoteTransfer | undefined;
      flush();
      if (!transfer || closing || !worker.alive) {
        transfer?.drain();
        worker.post({ type: "drop", id });
        return;
      }
      transfer.attach(id, (message) => worker.post(message));
      active++;
      worker.start(transfer);
      report(await transfer.result);
      await transfer.drained;
      active--;
    } finally {
      worker.load--;
    }
  }

  return {
    endpoint,
    get active() {
      return active;
    },
    handle,
    async close() {
      closing = true;
      await Promise.all(pool.map((worker) => worker.close()));
    },
  };
}
