import { FtpCodecError } from "./ftp_error.ts";
import { compressIpv6 } from "./_ipv6_text.ts";

/** A data connection's address: an IP literal and a port. */
export interface FtpHostPort {
  /** An IPv4 (`"127.0.0.1"`) or IPv6 (`"::1"`) literal. */
  readonly host: string;
  /** The TCP port, 0-65535. */
  readonly port: number;
}

function bad(offset: number, detail: string): never {
  throw new FtpCodecError("malformed-address", offset, detail);
}

/** One number of 0-255 in decimal, spelled one way only: no leading zero (`010` is read as 10 by
 * some and as octal 8 by others, which let a checked address differ from the one connected to). */
const OCTET = /^(?:0|[1-9]\d{0,2})$/;

function isOctet(text: string): boolean {
  return OCTET.test(text) && Number(text) <= 255;
}

/**
 * Whether `text` is a dotted-quad IPv4 literal in its one spelling: four decimal numbers of
 * 0-255, without leading zeros (`127.0.0.010` is not one).
 *
 * @example
 * ```ts
 * import { isFtpIpv4 } from "@ftkit/ftkit/codec";
 *
 * console.log(isFtpIpv4("127.0.0.1"), isFtpIpv4("127.0.0.010")); // true false
 * ```
 *
 * @param text The text.
 * @returns Whether it is one.
 */
export function isFtpIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every(isOctet);
}

/**
 * Whether `text` is an IPv6 literal (RFC 4291 section 2.2 text forms; no zone; an embedded IPv4
 * address as {@linkcode isFtpIpv4} takes it).
 *
 * @example
 * ```ts
 * import { isFtpIpv6 } from "@ftkit/ftkit/codec";
 *
 * console.log(isFtpIpv6("::1"), isFtpIpv6("::ffff:127.0.0.1"), isFtpIpv6("1::2::3")); // true true false
 * ```
 *
 * @param text The text.
 * @returns Whether it is one.
 */
export function isFtpIpv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return false;
  let groups = text.split(":");
  let slots = 8;
  const last = groups[groups.length - 1];
  if (last.includes(".")) {
    // An embedded IPv4 address takes the last two groups.
    if (!isFtpIpv4(last)) return false;
    groups = groups.slice(0, -1).concat("0", "0");
    slots = 8;
  }
  const joined = groups.join(":");
  const double = joined.indexOf("::");
  if (double !== joined.lastIndexOf("::")) return false;
  const hex = (group: string) => /^[0-9A-Fa-f]{1,4}$/.test(group);
  if (double === -1) return groups.length === slots && groups.every(hex);
  const head = joined.slice(0, double);
  const tail = joined.slice(double + 2);
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  return headGroups.every(hex) && tailGroups.every(hex) &&
    headGroups.length + tailGroups.length < slots;
}

function checkPort(port: number, offset: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    bad(offset, `Port out of range: ${port}`);
  }
  return port;
}

/**
 * Encodes the argument of PORT, or the numbers of a 227 reply (RFC 959 section 4.1.2):
 * `h1,h2,h3,h4,p1,p2`. IPv4 only: IPv6 needs EPRT/EPSV.
 *
 * @example
 * ```ts
 * import { encodeFtpPort } from "@ftkit/ftkit/codec";
 *
 * console.log(encodeFtpPort({ host: "127.0.0.1", port: 50000 })); // "127,0,0,1,195,80"
 * ```
 *
 * @param address The address.
 * @returns The six numbers.
 * @throws {FtpCodecError} For a host that is not IPv4 or a port out of range.
 */
export function encodeFtpPort(address: FtpHostPort): string {
  if (!isFtpIpv4(address.host)) bad(0, `PORT takes an IPv4 address, got "${address.host}"`);
  const port = checkPort(address.port, 0);
  return `${address.host.split(".").map(Number).join(",")},${port >> 8},${port & 0xff}`;
}

/**
 * Decodes PORT's argument (RFC 959 section 4.1.2), strictly: exactly `h1,h2,h3,h4,p1,p2`, six
 * decimal numbers of 0-255 without leading zeros or spaces, as a server must before it connects
 * anywhere. (A 227 reply's text is read with {@linkcode parseFtpPasv}.)
 *
 * @example
 * ```ts
 * import { decodeFtpPort } from "@ftkit/ftkit/codec";
 *
 * console.log(decodeFtpPort("127,0,0,1,195,80")); // { host: "127.0.0.1", port: 50000 }
 * ```
 *
 * @param argument The argument.
 * @returns The address.
 * @throws {FtpCodecError} When it is anything else.
 */
export function decodeFtpPort(argument: string): FtpHostPort {
  const parts = argument.split(",");
  if (parts.length !== 6) bad(0, `PORT needs h1,h2,h3,h4,p1,p2: "${argument.slice(0, 60)}"`);
  let offset = 0;
  for (const part of parts) {
    if (!isOctet(part)) bad(offset, `Not a number of 0-255 in its one spelling: "${part}"`);
    offset += part.length + 1;
  }
  const numbers = parts.map(Number);
  return { host: numbers.slice(0, 4).join("."), port: numbers[4] * 256 + numbers[5] };
}

/**
 * Finds the six numbers of a 227 reply to PASV in its text, wherever they are: servers write
 * `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`, with or without the parentheses, some with spaces
 * or leading zeros. The numbers are read as decimal.
 *
 * @example
 * ```ts
 * import { parseFtpPasv } from "@ftkit/ftkit/codec";
 *
 * console.log(parseFtpPasv("Entering Passive Mode (127,0,0,1,195,80).")); // { host: "127.0.0.1", port: 50000 }
 * ```
 *
 * @param text The reply text.
 * @returns The address.
 * @throws {FtpCodecError} When no six numbers of 0-255 are there.
 */
export function parseFtpPasv(text: string): FtpHostPort {
  const match = /(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3})/.exec(
    text,
  );
  if (!match) bad(0, `No h1,h2,h3,h4,p1,p2 in "${text.slice(0, 60)}"`);
  const numbers = match.slice(1).map(Number);
  if (numbers.some((n) => n > 255)) bad(match.index, "A number above 255");
  return {
    host: numbers.slice(0, 4).join("."),
    port: numbers[4] * 256 + numbers[5],
  };
}

/**
 * Encodes EPRT's argument (RFC 2428 section 2): `|1|h.h.h.h|port|` or `|2|ipv6|port|`.
 *
 * @example
 * ```ts
 * import { encodeFtpEprt } from "@ftkit/ftkit/codec";
 *
 * console.log(encodeFtpEprt({ host: "::1", port: 50000 })); // "|2|::1|50000|"
 * ```
 *
 * @param address The address.
 * @returns The argument.
 * @throws {FtpCodecError} For a host that is no IP literal or a port out of range.
 */
export function encodeFtpEprt(address: FtpHostPort): string {
  const protocol = isFtpIpv4(address.host) ? 1 : isFtpIpv6(address.host) ? 2 : 0;
  if (protocol === 0) bad(0, `Not an IP address: "${address.host}"`);
  return `|${protocol}|${address.host}|${checkPort(address.port, 0)}|`;
}

/**
 * Decodes EPRT's argument, strictly. The delimiter is whatever printable character comes first
 * (RFC 2428 section 2 recommends `|`); the protocol must match the address (1 IPv4, 2 IPv6); an
 * IPv4 address has its one spelling ({@linkcode isFtpIpv4}), and the port is decimal without a
 * leading zero. The host comes back canonical ({@linkcode canonicalFtpHost}): connect to it, never
 * to the text sent.
 *
 * @example
 * ```ts
 * import { decodeFtpEprt } from "@ftkit/ftkit/codec";
 *
 * console.log(decodeFtpEprt("!1!132.235.1.2!6275!")); // { host: "132.235.1.2", port: 6275 }
 * ```
 *
 * @param argument The argument.
 * @returns The address.
 * @throws {FtpCodecError} When it is not well-formed.
 */
export function decodeFtpEprt(argument: string): FtpHostPort {
  const delimiter = argument[0];
  if (delimiter === undefined || !isDelimiter(delimiter)) bad(0, "No delimiter");
  const parts = argument.split(delimiter);
  if (parts.length !== 5 || parts[0] !== "" || parts[4] !== "") {
    bad(0, `EPRT needs <d>proto<d>address<d>port<d>: "${argument.slice(0, 60)}"`);
  }
  const [, protocol, host, portText] = parts;
  if (protocol === "1" ? !isFtpIpv4(host) : protocol === "2" ? !isFtpIpv6(host) : true) {
    bad(2, `Protocol ${protocol} with address "${host}"`);
  }
  if (!/^(?:0|[1-9]\d{0,4})$/.test(portText)) {
    bad(3 + protocol.length + host.length, "Port is not a number in its one spelling");
  }
  return {
    host: canonicalHost(host),
    port: checkPort(Number(portText), 3 + protocol.length + host.length),
  };
}

function isDelimiter(character: string): boolean {
  const code = character.charCodeAt(0);
  // RFC 2428: any character in ASCII 33-126, but not a digit, `.` or `:` (they would be ambiguous).
  return code >= 33 && code <= 126 && !/[0-9.:]/.test(character);
}

/**
 * The text of a 229 reply to EPSV (RFC 2428 section 3).
 *
 * @example
 * ```ts
 * import { formatFtpEpsv } from "@ftkit/ftkit/codec";
 *
 * console.log(formatFtpEpsv(50000)); // "Entering Extended Passive Mode (|||50000|)"
 * ```
 *
 * @param port The port the server listens on.
 * @returns The reply text.
 */
export function formatFtpEpsv(port: number): string {
  return `Entering Extended Passive Mode (|||${checkPort(port, 0)}|)`;
}

/**
 * Finds the port in a 229 reply's text: `(<d><d><d>port<d>)`, any delimiter (RFC 2428 section 3).
 *
 * @example
 * ```ts
 * import { parseFtpEpsv } from "@ftkit/ftkit/codec";
 *
 * console.log(parseFtpEpsv("Entering Extended Passive Mode (|||6446|)")); // 6446
 * ```
 *
 * @param text The reply text.
 * @returns The port.
 * @throws {FtpCodecError} When no port is there.
 */
export function parseFtpEpsv(text: string): number {
  const match = /\(([\x21-\x7e])\1\1(\d{1,5})\1\)/.exec(text);
  if (!match || !isDelimiter(match[1])) bad(0, `No (|||port|) in "${text.slice(0, 60)}"`);
  return checkPort(Number(match[2]), match.index + 4);
}

/**
 * The text of a 227 reply to PASV (RFC 959 section 4.1.2).
 *
 * @example
 * ```ts
 * import { formatFtpPasv } from "@ftkit/ftkit/codec";
 *
 * console.log(formatFtpPasv({ host: "127.0.0.1", port: 50000 })); // "Entering Passive Mode (127,0,0,1,195,80)."
 * ```
 *
 * @param address The address the server listens on (IPv4).
 * @returns The reply text.
 */
export function formatFtpPasv(address: FtpHostPort): string {
  return `Entering Passive Mode (${encodeFtpPort(address)}).`;
}

/**
 * The canonical text of an IP literal, for comparing addresses rather than their spellings: an
 * IPv4 dotted quad, or eight full lower-case IPv6 groups; an IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.1`, as dual-stack sockets report IPv4 peers) becomes its IPv4 address, and a
 * zone (`%eth0`) is dropped.
 *
 * @example
 * ```ts
 * import { canonicalFtpHost } from "@ftkit/ftkit/codec";
 *
 * console.log(canonicalFtpHost("::ffff:127.0.0.1")); // "127.0.0.1"
 * console.log(canonicalFtpHost("::1")); // "0000:0000:0000:0000:0000:0000:0000:0001"
 * ```
 *
 * @param text An IPv4 or IPv6 literal.
 * @returns Its canonical text, or `undefined` when it is not an IP literal.
 */
export function canonicalFtpHost(text: string): string | undefined {
  const host = text.replace(/%.*$/, ""); // A zone (fe80::1%eth0) does not change the address.
  if (isFtpIpv4(host)) return host.split(".").map(Number).join(".");
  if (!isFtpIpv6(host)) return undefined;
  let words: string[] = host.toLowerCase().split(":");
  const last = words[words.length - 1];
  if (last.includes(".")) {
    const [a, b, c, d] = last.split(".").map(Number);
    words = words.slice(0, -1).concat(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  const gap = words.indexOf("");
  if (gap !== -1) {
    // "::" splits into empty words: drop them and fill the gap with zeros.
    const head = words.slice(0, gap).filter((word) => word !== "");
    const tail = words.slice(gap).filter((word) => word !== "");
    words = [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail];
  }
  const full = words.map((word) => word.padStart(4, "0"));
  if (full.slice(0, 5).every((word) => word === "0000") && full[5] === "ffff") {
    const [high, low] = [parseInt(full[6], 16), parseInt(full[7], 16)];
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return full.join(":");
}

/**
 * The bytes of an IP literal, in network order: 4 for IPv4 and for an IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.1`, as dual-stack sockets report IPv4 peers), 16 for other IPv6; a zone
 * (`%eth0`) is dropped, as {@linkcode canonicalFtpHost} does.
 *
 * @example
 * ```ts
 * import { ftpHostBytes } from "@ftkit/ftkit/codec";
 *
 * console.log(ftpHostBytes("::ffff:127.0.0.1")); // Uint8Array(4) [ 127, 0, 0, 1 ]
 * console.log(ftpHostBytes("::1")?.length); // 16
 * console.log(ftpHostBytes("localhost")); // undefined
 * ```
 *
 * @param text An IPv4 or IPv6 literal.
 * @returns Its bytes, or `undefined` when it is not an IP literal.
 */
export function ftpHostBytes(text: string): Uint8Array | undefined {
  const canonical = canonicalFtpHost(text);
  if (canonical === undefined) return undefined;
  if (!canonical.includes(":")) return Uint8Array.from(canonical.split("."), Number);
  const bytes = new Uint8Array(16);
  canonical.split(":").forEach((group, i) => {
    bytes[2 * i] = parseInt(group.slice(0, 2), 16);
    bytes[2 * i + 1] = parseInt(group.slice(2), 16);
  });
  return bytes;
}

/**
 * The address an EPRT names, as connected to: IPv4 as it is (its one spelling was checked), an
 * IPv4-mapped IPv6 address as its IPv4 address, other IPv6 in RFC 5952 form (lower case, no
 * leading zeros, the longest run of two or more zero groups as `::`).
 */
function canonicalHost(text: string): string {
  const full = canonicalFtpHost(text)!;
  if (!full.includes(":")) return full;
  return compressIpv6(full.split(":").map((group) => group.replace(/^0+(?=.)/, "")));
}

/**
 * Whether two IP literals name the same address (`::1` and `0:0:0:0:0:0:0:1`, `127.0.0.1` and
 * `::ffff:127.0.0.1`). Anything that is not an IP literal matches nothing.
 *
 * @example
 * ```ts
 * import { sameFtpHost } from "@ftkit/ftkit/codec";
 *
 * console.log(sameFtpHost("::ffff:127.0.0.1", "127.0.0.1")); // true
 * ```
 *
 * @param a An IP literal.
 * @param b Another.
 * @returns Whether they are one address.
 */
export function sameFtpHost(a: string, b: string): boolean {
  const first = canonicalFtpHost(a);
  return first !== undefined && first === canonicalFtpHost(b);
}
