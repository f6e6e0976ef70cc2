/**
 * TFTP: the server and client functions ({@linkcode serveTftp}, {@linkcode tftpGet},
 * {@linkcode tftpGetStream}, {@linkcode tftpGetFile}, {@linkcode tftpPut},
 * {@linkcode tftpPutFile}), which run on the running runtime's UDP adapter, and under them the
 * sans-I/O machines: the client transfer, the server endpoint and its transfers, and option
 * negotiation. The machines do no I/O and hold no timer or clock: time comes in as `now`,
 * datagrams and deadlines and events go out, so the same machines run over any transport.
 *
 * @example
 * ```ts
 * import { TftpClientTransfer } from "@ftkit/ftkit/tftp";
 *
 * const client = new TftpClientTransfer({
 *   type: "rrq",
 *   filename: "pxelinux.0",
 *   server: { address: "127.0.0.1", port: 69 },
 * });
 * client.start(0);
 * const datagram = client.pollTransmit(); // send datagram.bytes to datagram.to
 * const deadline = client.pollTimeout(); // call client.handleTimeout(now) once it passes
 * ```
 *
 * @module
 */

export * from "./address.ts";
export * from "./negotiation.ts";
export {
  type TftpFailureReason,
  type TftpRetransmitOptions,
  TftpTransfer,
  type TftpTransferEvent,
  type TftpTransferInit,
  type TftpTransferStats,
} from "./transfer.ts";
export * from "./client_transfer.ts";
export * from "./server_endpoint.ts";
export * from "./transport.ts";
export * from "./transfer_driver.ts";
export * from "./handler.ts";
export * from "./directory.ts";
export * from "./s3_handler.ts";
export * from "./server.ts";
export * from "./remap_file.ts";
export * from "./posix_regex.ts";
export * from "./client.ts";
export * from "./transfer_error.ts";
export * from "./runtime_api.ts";
export * from "./adapters/auto.ts";
