/**
 * The small UDP interface the TFTP drivers run on. Each runtime's adapter implements it
 * (`tftp/adapters/{deno,bun,node}.ts`); implement it yourself to run ftkit over another transport.
 *
 * @module
 */

import type { TftpAddress } from "./address.ts";

/** Called for each datagram a socket receives. */
export type TftpDatagramHandler = (bytes: Uint8Array, from: TftpAddress) => void;

/** A bound UDP socket. */
export interface TftpUdpSocket {
  /** The address and port it is bound to. */
  readonly local: TftpAddress;
  /** Bytes of datagrams it can queue (SO_RCVBUF as the system set it), when the adapter knows;
   * windowed receivers keep their window within it. */
  readonly receiveBufferSize?: number;
  /** Sends one datagram. Failures go to the socket's `onError`, never thrown. */
  send(bytes: Uint8Array, to: TftpAddress): void;
  /** Optional: sends several datagrams to one peer in as few system calls as the runtime allows
   * (Bun's `sendMany`, one `sendmmsg` for a window of DATA), in order. Failures go to `onError`. */
  sendMany?(datagrams: readonly Uint8Array[], to: TftpAddress): void;
  /** Closes the socket; no handler runs afterwards. */
  close(): Promise<void>;
  /** Lets the process exit while the socket is still open (a client's dally after its transfer
   * ended): it keeps working as long as something else keeps the process alive. */
  unref?(): void;
}

/** What {@linkcode TftpUdpBind} needs. */
export interface TftpUdpBindOptions {
  /** The local address: `"127.0.0.1"`, `"::1"`, `"0.0.0.0"`, `"::"`. */
  host: string;
  /** The local port; 0 for any free port. */
  port: number;
  /** Receives every datagram. */
  onMessage: TftpDatagramHandler;
  /** Receives socket errors after binding (a send to an unreachable port, ...). */
  onError?: (error: Error) => void;
  /** Bytes of datagrams the socket should be able to queue (SO_RCVBUF): a windowed receiver
   * needs room for a whole window, or the tail of each window is dropped. A hint: the system may
   * cap it (`net.core.rmem_max` on Linux); leave it out for the system's default. */
  receiveBufferSize?: number;
  /** The largest datagram the socket expects, in bytes (default 65536): adapters that keep a
   * receive buffer per socket size it by this, so that many sockets cost little memory. A longer
   * datagram may arrive cut short. */
  maxDatagramSize?: number;
}

/** Binds a UDP socket; rejects when the address cannot be bound (in use, not local, ...). */
export type TftpUdpBind = (options: TftpUdpBindOptions) => Promise<TftpUdpSocket>;
