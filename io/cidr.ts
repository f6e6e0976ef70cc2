/**
 * IP addresses and networks for access lists and per-network settings: strict parsing of
 * addresses and CIDR networks (RFC 4632 section 3.1, RFC 4291 section 2.3) with errors that say
 * what is wrong, whether a network contains an address, and a list of networks to match against.
 *
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2, as dual-stack sockets
 * report IPv4 peers) is that IPv4 address: IPv4 networks contain it, and an IPv6 network contains
 * an IPv4 address when it contains its mapped form (`::/0` holds every address, `::ffff:0:0/96`
 * every IPv4 one). So one client is matched alike whichever way its socket reports it.
 *
 * @example
 * ```ts
 * import { IpNetworkList, parseIpNetwork, networkContains } from "./cidr.ts";
 *
 * const lan = parseIpNetwork("10.0.0.0/8");
 * console.log(networkContains(lan, "::ffff:10.1.2.3")); // true
 * const proxies = new IpNetworkList(["127.0.0.1", "192.168.0.0/16", "fd00::/8"]);
 * console.log(proxies.contains("192.168.7.1"), proxies.contains("10.0.0.1")); // true false
 * ```
 *
 * @module
 */

import { ftpHostBytes, isFtpIpv4, isFtpIpv6 } from "../codec/ftp_address.ts";
import { compressIpv6 } from "../codec/_ipv6_text.ts";

/** An IP address as bytes. */
export interface IpAddress {
  /** 4 (IPv4, also for an IPv4-mapped IPv6 address) or 6. */
  readonly family: 4 | 6;
  /** Its 4 or 16 bytes, in network order. */
  readonly bytes: Uint8Array;
}

/** A network: an address prefix (CIDR). */
export interface IpNetwork {
  /** 4 or 6, as written (`::ffff:10.0.0.0/104` is an IPv6 network that holds 10.0.0.0/8). */
  readonly family: 4 | 6;
  /** Its address, with every bit past the prefix zero: 4 or 16 bytes. */
  readonly bytes: Uint8Array;
  /** The prefix length: 0-32 for IPv4, 0-128 for IPv6. */
  readonly prefix: number;
  /** The network as it was written. */
  readonly text: string;
}

/** A zone (`%eth0`, RFC 4007 section 11): interface names and numbers. */
const ZONE = /^[0-9A-Za-z_.\-]{1,64}$/;

/** The family and bytes of a literal that `isFtpIpv4` or `isFtpIpv6` took. */
function bytesOf(literal: string): IpAddress {
  const bytes = ftpHostBytes(literal)!;
  return { family: bytes.length === 4 ? 4 : 6, bytes };
}

/**
 * Parses an IP address: a dotted-quad IPv4 address in its one spelling (four decimal numbers of
 * 0-255 without leading zeros: `010.0.0.1` and `127.1` are refused, as inet_aton would read them
 * otherwise) or an IPv6 address in RFC 4291 section 2.2's text forms, optionally with a zone
 * (`fe80::1%eth0`; the zone names an interface, not an address, and is dropped). An IPv4-mapped
 * IPv6 address is returned as its IPv4 address.
 *
 * @example
 * ```ts
 * import { parseIpAddress } from "./cidr.ts";
 *
 * console.log(parseIpAddress("::ffff:127.0.0.1")); // { family: 4, bytes: Uint8Array(4) [127, 0, 0, 1] }
 * ```
 *
 * @param text The address.
 * @returns Its family and bytes.
 * @throws {SyntaxError} When `text` is anything else.
 */
export function parseIpAddress(text: string): IpAddress {
  const at = text.indexOf("%");
  const host = at === -1 ? text : text.slice(0, at);
  if (isFtpIpv4(host) && at === -1) return bytesOf(host);
  if (isFtpIpv6(host) && (at === -1 || ZONE.test(text.slice(at + 1)))) return bytesOf(host);
  throw new SyntaxError(`Not an IP address: "${text.slice(0, 80)}"`);
}

/** A prefix length in its one spelling. */
const PREFIX = /^(?:0|[1-9]\d{0,2})$/;

/** An address's text for messages: dotted IPv4, or eight IPv6 groups without leading zeros. */
function addressText(address: IpAddress): string {
  return address.family === 4 ? address.bytes.join(".") : ipv6Groups(address.bytes).join(":");
}

/** The eight groups of an IPv6 address's bytes, in hex without leading zeros. */
function ipv6Groups(bytes: Uint8Array): string[] {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups;
}

/**
 * An address as RFC 5952 section 4 writes it (as `inet_ntop` does): dotted decimal for IPv4;
 * for IPv6, lowercase hex groups without leading zeros, the longest run of two or more zero
 * groups (the first of equal runs) written `::`.
 *
 * @param address The address.
 * @returns Its text.
 */
export function ipAddressText(address: IpAddress): string {
  return address.family === 4 ? address.bytes.join(".") : compressIpv6(ipv6Groups(address.bytes));
}

/**
 * Parses a network: `ADDRESS/PREFIX` (CIDR) or a lone address (a /32 or /128 of its own). The
 * address is an IPv4 or IPv6 literal as {@linkcode parseIpAddress} takes it, without a zone; the
 * prefix a decimal number within the family's bits. Strict: bits set past the prefix
 * (`10.0.0.1/8`) are refused, since such an entry usually means another network than it says.
 * An IPv4-mapped address keeps its IPv6 form (`::ffff:10.0.0.0/104`), which holds the IPv4
 * addresses it maps.
 *
 * @example
 * ```ts
 * import { parseIpNetwork } from "./cidr.ts";
 *
 * console.log(parseIpNetwork("192.168.0.0/16").prefix); // 16
 * try {
 *   parseIpNetwork("192.168.1.1/16");
 * } catch (error) {
 *   console.log((error as SyntaxError).message); // bits set past its /16 prefix: ...
 * }
 * ```
 *
 * @param text The network.
 * @returns The network.
 * @throws {SyntaxError} When `text` is not a network, or has bits set past its prefix.
 */
export function parseIpNetwork(text: string): IpNetwork {
  const slash = text.indexOf("/");
  const host = slash === -1 ? text : text.slice(0, slash);
  const shown = text.slice(0, 80);
  if (host.includes("%") || !(isFtpIpv4(host) || isFtpIpv6(host))) {
    throw new SyntaxError(`Not an IP network: "${shown}" (give ADDRESS/PREFIX or ADDRESS)`);
  }
  // The family as written: a mapped address written as IPv6 stays an IPv6 network.
  const family = isFtpIpv4(host) ? 4 : 6;
  const parsed = bytesOf(host);
  const bytes = family === parsed.family ? parsed.bytes : mapped(parsed.bytes);
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const length = text.slice(slash + 1);
    if (!PREFIX.test(length) || Number(length) > bits) {
      throw new SyntaxError(
        `Not an IP network: "${shown}" (the prefix length is 0-${bits} for IPv${family})`,
      );
    }
    prefix = Number(length);
  }
  const masked = mask(bytes, prefix);
  if (masked.some((byte, i) => byte !== bytes[i])) {
    const network = `${addressText({ family, bytes: masked })}/${prefix}`;
    throw new SyntaxError(
      `Not an IP network: "${shown}" has bits set past its /${prefix} prefix (the network is ${network})`,
    );
  }
  return { family, bytes, prefix, text };
}

/** An IPv4 address's IPv4-mapped IPv6 form (`::ffff:a.b.c.d`). */
function mapped(ipv4: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(ipv4, 12);
  return bytes;
}

/** `bytes` with every bit past the first `prefix` cleared. */
function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  return bytes.map((byte, i) => {
    const kept = Math.max(0, Math.min(8, prefix - 8 * i));
    return byte & (0xff00 >> kept);
  });
}

/**
 * Whether `network` contains `address` (see the module's note on IPv4-mapped addresses).
 *
 * @example
 * ```ts
 * import { networkContains, parseIpNetwork } from "./cidr.ts";
 *
 * const every = parseIpNetwork("::/0");
 * console.log(networkContains(every, "127.0.0.1"), networkContains(every, "::1")); // true true
 * ```
 *
 * @param network The network.
 * @param address The address (text is parsed with {@linkcode parseIpAddress}).
 * @returns Whether the address is in it.
 * @throws {SyntaxError} When `address` is text that is not an IP address.
 */
export function networkContains(network: IpNetwork, address: IpAddress | string): boolean {
  const parsed = typeof address === "string" ? parseIpAddress(address) : address;
  let bytes = parsed.bytes;
  if (network.family !== parsed.family) {
    if (network.family === 4) return false;
    bytes = mapped(bytes);
  }
  const whole = network.prefix >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== network.bytes[i]) return false;
  const rest = network.prefix & 7;
  if (rest === 0) return true;
  const bitMask = 0xff00 >> rest;
  return (bytes[whole] & bitMask) === network.bytes[whole];
}

/**
 * A list of networks, parsed once, to match addresses against (an allow or deny list, the
 * trusted proxies, the client networks of a per-network setting).
 *
 * @example
 * ```ts
 * import { IpNetworkList } from "./cidr.ts";
 *
 * const list = new IpNetworkList(["10.0.0.0/8", "fd00::/8"]);
 * console.log(list.find("10.9.8.7")?.text); // "10.0.0.0/8"
 * ```
 */
export class IpNetworkList {
  readonly #networks: readonly IpNetwork[];

  /**
   * Parses the networks.
   *
   * @param networks Networks as {@linkcode parseIpNetwork} takes them, or parsed ones.
   * @throws {SyntaxError} When one is not a network (the message names it).
   */
  constructor(networks: readonly (string | IpNetwork)[]) {
    this.#networks = networks.map((network) =>
      typeof network === "string" ? parseIpNetwork(network) : network
    );
  }

  /** The networks, in the order given. */
  get networks(): readonly IpNetwork[] {
    return this.#networks;
  }

  /**
   * The first network that contains `address`, or `undefined`.
   *
   * @param address The address (text is parsed with {@linkcode parseIpAddress}).
   * @returns The network.
   * @throws {SyntaxError} When `address` is text that is not an IP address.
   */
  find(address: IpAddress | string): IpNetwork | undefined {
    const parsed = typeof address === "string" ? parseIpAddress(address) : address;
    return this.#networks.find((network) => networkContains(network, parsed));
  }

  /**
   * Whether a network of the list contains `address`.
   *
   * @param address The address (text is parsed with {@linkcode parseIpAddress}).
   * @returns Whether one does.
   * @throws {SyntaxError} When `address` is text that is not an IP address.
   */
  contains(address: IpAddress | string): boolean {
    return this.find(address) !== undefined;
  }
}
