/**
 * The transfer side of the TFTP server, shared by the server's own thread and its workers
 * (tftp/_tftp_worker.ts): opening a request's file through the handler, binding the transfer's
 * socket, and driving the accepted transfer machine until its file is closed or stored.
 *
 * @module
 */

import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import type { TftpRequest } from "../codec/tftp_packet.ts";
import type { TftpAddress } from "./address.ts";
import {
  type TftpHandler,
  type TftpHandlerRequest,
  type TftpReadSource,
  TftpRequestError,
  type TftpWriteTarget,
  toReadSource,
} from "./handler.ts";
import { TFTP_DEFAULT_MAX_BLKSIZE } from "./negotiation.ts";
import type { TftpTransfer } from "./transfer.ts";
import { TftpTransferDriver, type TftpTransferResult } from "./transfer_driver.ts";
import type { TftpUdpBind, TftpUdpSocket } from "./transport.ts";
import { windowReceiveBuffer } from "./_window_buffer.ts";
import { bindInRange } from "../io/port_range.ts";

/** A request's open file: a source for a read, a target for a write. */
export interface OpenedFile {
  source?: TftpReadSource;
  target?: TftpWriteTarget;
}

/** Why a request was refused: the ERROR to send. */
export interface Refusal {
  code: number;
  message: string;
}

/**
 * Opens the file of a request through the handler; a refusal when the handler refuses it (its
 * code and message) or fails (ERROR 0 "Server error", and the failure to `onError`).
 */
export async function openRequestFile(
  handler: TftpHandler,
  request: TftpHandlerRequest,
  onError: ((error: Error) => void) | undefined,
): Promise<OpenedFile | Refusal> {
  try {
    if (request.type === "rrq") {
      if (!handler.read) {
        throw new TftpRequestError(TftpErrorCode.AccessViolation, "Reading is not allowed");
      }
      return { source: toReadSource(await handler.read(request)) };
    }
    if (!handler.write) {
      throw new TftpRequestError(TftpErrorCode.AccessViolation, "Writing is not allowed");
    }
    return { target: await handler.write(request) };
  } catch (error) {
    if (error instanceof TftpRequestError) return { code: error.code, message: error.message };
    onError?.(error as Error);
    return { code: TftpErrorCode.NotDefined, message: "Server error" };
  }
}

/** Where and how transfer sockets are bound. */
export interface TransferSocketOptions {
  host: string;
  portRange?: readonly [number, number];
  maxBlksize?: number;
  onError?: (error: Error) => void;
}

/** Binds the socket of one transfer, sized for what its client will send. */
export async function bindTransferSocket(
  bind: TftpUdpBind,
  options: TransferSocketOptions,
  request: Pick<TftpRequest, "type" | "options">,
  onMessage: (bytes: Uint8Array, from: TftpAddress) => void,
): Promise<TftpUdpSocket> {
  const upload = request.type === "wrq";
  const common = {
    host: options.host,
    onMessage,
    onError: options.onError,
    // An upload in windows needs room for one (the OACK may only lower what was asked).
    receiveBufferSize: upload
      ? windowReceiveBuffer(request.options.blksize ?? 512, request.options.windowsize ?? 1)
      : undefined,
    // A read's client sends ACKs and ERRORs; an upload's, DATA of the block size at most.
    maxDatagramSize: upload
      ? Math.min(request.options.blksize ?? 512, options.maxBlksize ?? TFTP_DEFAULT_MAX_BLKSIZE) +
        4
      : 1024,
  };
  return await bindInRange(options.portRange, 256, (port) => bind({ ...common, port }));
}

/** Starts driving an accepted transfer between its client and its open file. */
export function driveTransfer(
  transfer: TftpTransfer,
  send: (bytes: Uint8Array, to: TftpAddress) => void,
  file: OpenedFile,
  sendMany?: (datagrams: Uint8Array[], to: TftpAddress) => void,
): TftpTransferDriver {
  const { source, target } = file;
  return new TftpTransferDriver(transfer, send, {
    read: source ? (limit) => source.read(limit) : undefined,
    readInto: source?.readInto ? (buffers) => source.readInto!(buffers) : undefined,
    write: target ? (chunk) => target.write(chunk) : undefined,
    // The upload becomes visible before the final ACK tells the client it succeeded.
    finish: target ? () => target.commit() : undefined,
  }, sendMany);
}

/** Waits for a driven transfer's outcome, then lets its file go: a failed upload is discarded. */
export async function transferOutcome(
  driver: TftpTransferDriver,
  file: OpenedFile,
  onError: ((error: Error) => void) | undefined,
): Promise<TftpTransferResult> {
  const result = await driver.result;
  try {
    if (file.target && !result.ok) await file.target.abort();
    await file.source?.close();
  } catch (error) {
    onError?.(error as Error);
  }
  return result;
}

/** Lets the file of a request that will not run go. */
export async function dropFile(file: OpenedFile): Promise<void> {
  await file.source?.close();
  await file.target?.abort();
}
