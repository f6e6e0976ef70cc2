// IP addresses as sockets report them. IPv4-mapped IPv6 addresses (RFC 4291 section 2.5.5.2): a
// socket bound to "::" reports an IPv4 client as ::ffff:a.b.c.d, and the server keys its clients
// by the IPv4 form, so that one client is one client whichever socket family saw it. Zone indices
// (RFC 4007 section 11): "fe80::1%eth0" names the interface to send on, and a reply's source may
// carry another spelling of it, or none.

import { isFtpIpv4, isFtpIpv6 } from "../codec/ftp_address.ts";

const MAPPED =
  /^(?:::|(?:0{1,4}:){5})ffff:(?:(\d{1,3}(?:\.\d{1,3}){3})|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i;

/**
 * The IPv4 address an IPv4-mapped IPv6 address stands for, or `address` itself.
 *
 * @param address An IP address as a socket reports it.
 * @returns `"127.0.0.1"` for `"::ffff:127.0.0.1"` (or `"::ffff:7f00:1"`); anything else unchanged.
 */
export function ipv4Form(address: string): string {
  const mapped = MAPPED.exec(address);
  if (!mapped) return address;
  if (mapped[1] !== undefined) return mapped[1];
  const high = parseInt(mapped[2], 16);
  const low = parseInt(mapped[3], 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * Whether two addresses name the same host: compared without their zone index (`%eth0`, `%2`),
 * an IPv4-mapped address as its IPv4 form.
 *
 * @param a One address.
 * @param b The other.
 * @returns `true` for `"::1%lo"` and `"::1"`, or `"::ffff:127.0.0.1"` and `"127.0.0.1"`.
 */
export function sameHost(a: string, b: string): boolean {
  return a === b || ipv4Form(a.replace(/%.*$/, "")) === ipv4Form(b.replace(/%.*$/, ""));
}

/**
 * The family of an IP literal: 4, 6 (a zone index allowed, `fe80::1%eth0`), or 0 for anything
 * else (a host name). As `node:net`'s `isIP` answers, without compiling its large IPv6 pattern
 * on the first call (13 ms of a short command's start, measured on Node).
 *
 * @param text An address or a host name.
 * @returns 4, 6 or 0.
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (isFtpIpv4(text)) return 4;
  const at = text.indexOf("%");
  const address = at === -1 ? text : text.slice(0, at);
  return (at === -1 || at < text.length - 1) && isFtpIpv6(address) ? 6 : 0;
}
