/**
 * Addresses and outgoing datagrams, as the TFTP machines exchange them with their driver.
 *
 * @module
 */

/** A UDP endpoint: an IPv4 or IPv6 address and a port. A transfer ID in RFC 1350's terms. */
export interface TftpAddress {
  /** The IP address, as the driver's socket reports it (`"127.0.0.1"`, `"::1"`). */
  readonly address: string;
  /** The UDP port. */
  readonly port: number;
}

/** One datagram a machine wants sent. */
export interface TftpTransmit {
  /** Where to send it. */
  readonly to: TftpAddress;
  /** The datagram. */
  readonly bytes: Uint8Array;
}

/**
 * Whether two addresses are the same endpoint.
 *
 * @param a One address.
 * @param b The other.
 * @returns `true` when address and port are equal.
 *
 * @example
 * ```ts
 * import { sameTftpAddress } from "@ftkit/ftkit/tftp";
 *
 * sameTftpAddress({ address: "::1", port: 69 }, { address: "::1", port: 69 }); // true
 * ```
 */
export function sameTftpAddress(a: TftpAddress, b: TftpAddress): boolean {
  return a.port === b.port && a.address === b.address;
}
