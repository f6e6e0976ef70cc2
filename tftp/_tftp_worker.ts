/**
 * A TFTP server worker thread (see tftp/_server_workers.ts): it opens the files of the requests
 * the server's thread hands it, binds their transfer sockets, and runs the transfers the
 * endpoint accepted, with the same code as the server's thread (tftp/_server_transfer.ts).
 * Internal.
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import { currentRuntime } from "../io/runtime.ts";
import { tftpDirectoryHandler } from "./directory.ts";
import { TftpServerTransfer } from "./server_endpoint.ts";
import type { TftpTransferDriver } from "./transfer_driver.ts";
import type { TftpUdpBind, TftpUdpSocket } from "./transport.ts";
import {
  bindTransferSocket,
  driveTransfer,
  dropFile,
  type OpenedFile,
  openRequestFile,
  transferOutcome,
} from "./_server_transfer.ts";
import type { FromWorker, ToWorker, WorkerSetup } from "./_server_workers.ts";

/** One request this worker holds: its file and socket, then its driven transfer. */
interface Held {
  file: OpenedFile;
  socket: TftpUdpSocket;
  driver?: TftpTransferDriver;
  answered: boolean;
}

/** The slice of a web Worker's global scope used on Deno. */
interface WebWorkerScope {
  onmessage: ((event: { data: ToWorker }) => void) | null;
  postMessage(message: FromWorker): void;
}

const runtime = currentRuntime();
// On Deno a web Worker, told its setup in the first message; elsewhere node:worker_threads.
const scope = globalThis as unknown as WebWorkerScope;
let deliver: (message: ToWorker) => void = () => {};
let setupGiven!: (setup: WorkerSetup) => void;
const given = new Promise<WorkerSetup>((resolve) => (setupGiven = resolve));
const post: (message: FromWorker) => void = runtime === "deno"
  ? (message) => scope.postMessage(message)
  : (message) => parentPort!.postMessage(message);
const receive = (message: ToWorker) => {
  if (message.type === "setup") setupGiven(message.setup);
  else deliver(message);
};
if (runtime === "deno") scope.onmessage = (event) => receive(event.data);
else parentPort!.on("message", receive);
const setup = runtime === "deno" ? await given : workerData as WorkerSetup;

const onError = (error: Error) => post({ type: "error", message: String(error?.message ?? error) });
const handler = tftpDirectoryHandler(setup.root, setup.directory);
const sockets = { ...setup.sockets, onError };
const held = new Map<number, Held>();
let closing = false;
/** The transfers running, until each has closed its socket. */
const running = new Set<Promise<void>>();

// The running runtime's UDP, as the server's thread chose it.
const bind: TftpUdpBind = runtime === "deno"
  ? (await import("./adapters/_deno_udp.ts")).bindDenoUdp
  : runtime === "bun"
  ? (await import("./adapters/_bun_udp.ts")).bindBunUdp
  : (await import("./adapters/_dgram.ts")).bindNodeDgram;

async function open(id: number, request: Extract<ToWorker, { type: "open" }>["request"]) {
  const file = await openRequestFile(handler, request, onError);
  if ("code" in file) {
    post({ type: "refused", id, code: file.code, message: file.message });
    return;
  }
  let socket: TftpUdpSocket;
  try {
    socket = await bindTransferSocket(bind, sockets, request, (bytes, from) => {
      const entry = held.get(id);
      if (!entry?.driver) return;
      entry.driver.handleDatagram(bytes, from);
      noteAnswered(id, entry);
    });
  } catch (error) {
    onError(error as Error);
    await dropFile(file);
    post({ type: "busy", id });
    return;
  }
  if (closing) {
    await dropFile(file);
    await socket.close();
    post({ type: "busy", id });
    return;
  }
  held.set(id, { file, socket, answered: false });
  post({
    type: "opened",
    id,
    ...(file.source?.size !== undefined ? { size: file.source.size } : {}),
    ...(socket.receiveBufferSize !== undefined
      ? { receiveBufferSize: socket.receiveBufferSize }
      : {}),
    upload: file.target !== undefined,
  });
}

/**
 * Tells the server's thread once the transfer's client has answered (the endpoint then counts it
 * as answered: its token comes back, and it is no longer evicted to make room). Checked before
 * each datagram goes out too, so the news leaves before the reply that follows the answer.
 */
function noteAnswered(id: number, entry: Held): void {
  if (entry.answered || !entry.driver?.transfer.answered) return;
  entry.answered = true;
  post({ type: "answered", id });
}

async function start(message: Extract<ToWorker, { type: "start" }>): Promise<void> {
  const { id } = message;
  const entry = held.get(id);
  if (!entry) return;
  const transfer = new TftpServerTransfer(message.request, message.init);
  transfer.start(performance.now());
  const { socket } = entry;
  const driver = driveTransfer(
    transfer,
    (bytes, to) => {
      noteAnswered(id, entry);
      socket.send(bytes, to);
    },
    entry.file,
    socket.sendMany
      ? (datagrams, to) => {
        noteAnswered(id, entry);
        socket.sendMany!(datagrams, to);
      }
      : undefined,
  );
  entry.driver = driver;
  if (closing) driver.stop();
  const result = await transferOutcome(driver, entry.file, onError);
  post({ type: "result", id, result });
  await driver.drained;
  await entry.socket.close();
  held.delete(id);
  post({ type: "drained", id });
}

/** Lets a request go that will not run. */
async function drop(id: number): Promise<void> {
  const entry = held.get(id);
  if (!entry || entry.driver) return;
  held.delete(id);
  await dropFile(entry.file);
  await entry.socket.close();
}

async function close(): Promise<void> {
  closing = true;
  const ending: Promise<unknown>[] = [];
  for (const [id, entry] of held) {
    if (!entry.driver) {
      ending.push(drop(id));
      continue;
    }
    entry.driver.abort(TftpErrorCode.NotDefined, "Server shutting down");
    // And no dally after a finished upload: nothing may keep the process alive.
    entry.driver.stop();
  }
  await Promise.all(ending);
  // The transfers post their outcomes and close their sockets as their drivers settle.
  await Promise.all(running);
  post({ type: "closed" });
}

deliver = (message) => {
  const failed = (error: unknown) => onError(error as Error);
  switch (message.type) {
    case "open":
      open(message.id, message.request).catch(failed);
      break;
    case "start": {
      const task = start(message).catch(failed);
      running.add(task);
      task.finally(() => running.delete(task));
      break;
    }
    case "datagram":
      held.get(message.id)?.driver?.handleDatagram(message.bytes, message.from);
      break;
    case "evict": {
      const driver = held.get(message.id)?.driver;
      if (driver && driver.transfer.evict(performance.now())) driver.poll();
      break;
    }
    case "drop":
      drop(message.id).catch(failed);
      break;
    case "close":
      close().catch(failed);
      break;
  }
};
post({ type: "ready" });
