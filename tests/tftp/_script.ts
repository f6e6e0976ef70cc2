// Helpers for byte-exact scripts: build packets, drain machines.

import { encodeTftpPacket, type TftpPacket } from "../../codec/mod.ts";
import type { TftpAddress, TftpTransferEvent, TftpTransmit } from "../../tftp/mod.ts";

/** The bytes of a packet. */
export function wire(packet: TftpPacket): Uint8Array {
  return encodeTftpPacket(packet);
}

/** Anything that queues datagrams: a transfer machine or the server endpoint. */
export interface Pollable {
  pollTransmit(): TftpTransmit | undefined;
}

/** Every queued datagram. */
export function transmits(machine: Pollable): TftpTransmit[] {
  const out: TftpTransmit[] = [];
  for (let t = machine.pollTransmit(); t; t = machine.pollTransmit()) out.push(t);
  return out;
}

/** Every queued event of a transfer machine (or of the endpoint, with its own event type). */
export function events<E = TftpTransferEvent>(machine: { pollEvent(): E | undefined }): E[] {
  const out: E[] = [];
  for (let e = machine.pollEvent(); e; e = machine.pollEvent()) out.push(e);
  return out;
}

/** The server's listening address in scripts. */
export const SERVER: TftpAddress = { address: "127.0.0.1", port: 69 };
/** The server's transfer ID in scripts. */
export const SERVER_TID: TftpAddress = { address: "127.0.0.1", port: 50001 };
/** The client's transfer ID in scripts. */
export const CLIENT: TftpAddress = { address: "127.0.0.1", port: 40000 };

/** Bytes of the given length with a recognisable pattern. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
