// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): what a proxy or
// load balancer writes at the start of a TCP connection to tell the server who the client is.
// A strict, bounded decoder that takes the bytes as they arrive, and an encoder.

import { ftpHostBytes, isFtpIpv4, isFtpIpv6 } from "./ftp_address.ts";
import { compressIpv6 } from "./_ipv6_text.ts";

/** The longest version 1 header, its CRLF included (proxy-protocol.txt section 2.1). */
export const PROXY_PROTOCOL_V1_MAX_LENGTH = 107;

/** The longest version 2 header {@linkcode decodeProxyProtocolHeader} takes by default, in bytes
 * (16, the address block and TLVs): room for every TLV HAProxy, AWS and Azure send. */
export const PROXY_PROTOCOL_V2_DEFAULT_MAX_LENGTH = 2048;

/** The version 2 signature (section 2.2); a FTP server reads it as two empty lines and QUIT. */
const V2_SIGNATURE = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

/** "PROXY " : a version 1 header's start. */
const V1_START = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20);

/** The CRC32C TLV and its 4-byte value (section 2.2.3). */
const TLV_CRC32C = 0x03;

/** One end of the proxied connection. */
export interface ProxyProtocolEndpoint {
  /** The IP address: IPv4 dotted; IPv6 as a version 1 line writes it, or in RFC 5952 form from
   * version 2 (compare addresses with `sameFtpHost`, not as text). */
  readonly host: string;
  /** The TCP or UDP port. */
  readonly port: number;
}

/** A version 2 TLV (type, length, value; section 2.2). */
export interface ProxyProtocolTlv {
  /** The type (`0x01` ALPN, `0x02` authority, `0x05` unique ID, `0x20` SSL, `0xE0`-`0xEF`
   * application-specific, ...). */
  readonly type: number;
  /** The value (a view into the bytes decoded). */
  readonly value: Uint8Array;
}

/** What a proxied connection was. */
export type ProxyProtocolTransport =
  | "tcp4"
  | "tcp6"
  | "udp4"
  | "udp6"
  | "unix-stream"
  | "unix-dgram"
  /** Version 1 `UNKNOWN`, version 2 `UNSPEC`, and every version 2 `LOCAL` header: the receiver
   * uses the connection's own addresses. */
  | "unknown";

/** A decoded PROXY protocol header. */
export interface ProxyProtocolHeader {
  /** 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /** `proxy`: the connection is relayed for a client; `local` (version 2 only): the proxy made it
   * on its own (a health check), and its own addresses are the connection's. */
  readonly command: "proxy" | "local";
  /** What the client's connection was. */
  readonly transport: ProxyProtocolTransport;
  /** The client's end: for TCP and UDP over IPv4 and IPv6 only. */
  readonly source?: ProxyProtocolEndpoint;
  /** The end the client connected to (the proxy's): with `source`. */
  readonly destination?: ProxyProtocolEndpoint;
  /** Version 2's TLVs, in order (none for `local`, whose address block is ignored). */
  readonly tlvs: readonly ProxyProtocolTlv[];
  /** The bytes the header took: what follows it is the connection's own data. */
  readonly length: number;
}

/** The error {@linkcode decodeProxyProtocolHeader} throws: the connection must be dropped. */
export class ProxyProtocolError extends Error {
  /** Offset in the bytes where the problem was found. */
  readonly offset: number;

  /**
   * Makes the error; the decoder calls this, users normally only catch it.
   *
   * @param offset Where.
   * @param detail A sentence saying what was found.
   */
  constructor(offset: number, detail: string) {
    super(`${detail} (at ${offset})`);
    this.name = "ProxyProtocolError";
    this.offset = offset;
  }
}

function bad(offset: number, detail: string): never {
  throw new ProxyProtocolError(offset, detail);
}

/** How many of the first `bytes` equal `expected`'s (up to the shorter length). */
function matching(bytes: Uint8Array, expected: Uint8Array): number {
  const n = Math.min(bytes.length, expected.length);
  let i = 0;
  while (i < n && bytes[i] === expected[i]) i++;
  return i;
}

/**
 * Whether `bytes` begin with a PROXY protocol signature: `PROXY ` (version 1) or version 2's
 * twelve bytes, whole. Only for telling a misconfigured proxy apart in a log: a server decides
 * whether to read a header by where the connection comes from, never by guessing from its bytes
 * (proxy-protocol.txt section 5).
 *
 * @example
 * ```ts
 * import { isProxyProtocolStart } from "@ftkit/ftkit/codec";
 *
 * const line = new TextEncoder().encode("PROXY TCP4 192.0.2.1 192.0.2.2 5000 21\r\n");
 * console.log(isProxyProtocolStart(line)); // true
 * ```
 *
 * @param bytes The first bytes of a connection.
 * @returns Whether they begin like a header.
 */
export function isProxyProtocolStart(bytes: Uint8Array): boolean {
  return matching(bytes, V1_START) === V1_START.length ||
    matching(bytes, V2_SIGNATURE) === V2_SIGNATURE.length;
}

/** Options of {@linkcode decodeProxyProtocolHeader}. */
export interface ProxyProtocolDecodeOptions {
  /** The longest version 2 header taken, in bytes (default
   * {@linkcode PROXY_PROTOCOL_V2_DEFAULT_MAX_LENGTH}; 16-65551). */
  readonly maxLength?: number;
}

/**
 * Decodes the PROXY protocol header at the start of `bytes`, which hold what the connection
 * delivered so far. Returns `undefined` while `bytes` are the start of a header that may still
 * be valid (read more, within a time bound, and call again with all of it), or the header, whose
 * `length` says where the connection's own data begins. Strict, as the specification asks
 * (sections 2.1 and 2.2): exactly one space between the fields of a version 1 line, addresses of
 * the family named in one spelling, ports without leading zeros, CRLF within 107 bytes; a version
 * 2 header of version 2 with a known command, family and protocol, an address block as long as
 * its family's, TLVs that fill the rest exactly, and a CRC32C TLV that matches. Anything else
 * throws, as soon as the bytes show it.
 *
 * @example
 * ```ts
 * import { decodeProxyProtocolHeader } from "@ftkit/ftkit/codec";
 *
 * const bytes = new TextEncoder().encode("PROXY TCP4 192.0.2.1 198.51.100.7 51234 21\r\nUSER");
 * const header = decodeProxyProtocolHeader(bytes);
 * console.log(header?.source, header?.length); // { host: "192.0.2.1", port: 51234 } 44
 * console.log(decodeProxyProtocolHeader(bytes.subarray(0, 20))); // undefined: read more
 * ```
 *
 * @param bytes The connection's first bytes.
 * @param options The longest version 2 header taken.
 * @returns The header, or `undefined` when more bytes are needed.
 * @throws {ProxyProtocolError} When `bytes` cannot begin a valid header.
 * @throws {RangeError} When `maxLength` is out of range.
 */
export function decodeProxyProtocolHeader(
  bytes: Uint8Array,
  options: ProxyProtocolDecodeOptions = {},
): ProxyProtocolHeader | undefined {
  const maxLength = options.maxLength ?? PROXY_PROTOCOL_V2_DEFAULT_MAX_LENGTH;
  if (!Number.isInteger(maxLength) || maxLength < 16 || maxLength > 65551) {
    throw new RangeError(`maxLength must be 16-65551, got ${maxLength}`);
  }
  if (bytes.length === 0) return undefined;
  if (bytes[0] === V1_START[0]) return decodeV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return decodeV2(bytes, maxLength);
  bad(0, "Not a PROXY protocol header");
}

/** A decimal port in its one spelling (section 2.1: no leading zeros). */
const PORT = /^(?:0|[1-9]\d{0,4})$/;

function decodeV1(bytes: Uint8Array): ProxyProtocolHeader | undefined {
  const start = matching(bytes, V1_START);
  if (start < Math.min(bytes.length, V1_START.length)) {
    bad(start, "Not a PROXY protocol header");
  }
  const limit = Math.min(bytes.length, PROXY_PROTOCOL_V1_MAX_LENGTH);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const byte = bytes[i];
    if (byte === 0x0d) {
      if (i + 1 === PROXY_PROTOCOL_V1_MAX_LENGTH) break; // Its LF would be the 108th byte.
      if (i + 1 === bytes.length) return undefined;
      // Section 2.1: a lone CR or LF does not end the line.
      if (bytes[i + 1] !== 0x0a) bad(i, "CR without LF in a PROXY line");
      end = i;
      break;
    }
    if (byte === 0x0a) bad(i, "LF without CR in a PROXY line");
    if (byte < 0x20 || byte > 0x7e) bad(i, "A PROXY line holds only printable US-ASCII");
  }
  if (end === -1) {
    if (bytes.length < PROXY_PROTOCOL_V1_MAX_LENGTH) return undefined;
    bad(PROXY_PROTOCOL_V1_MAX_LENGTH, "No CRLF in the first 107 bytes of a PROXY line");
  }
  const line = String.fromCharCode(...bytes.subarray(0, end));
  const length = end + 2;
  const rest = line.slice(V1_START.length);
  if (rest === "UNKNOWN" || rest.startsWith("UNKNOWN ")) {
    // Whatever follows UNKNOWN is ignored (section 2.1).
    return { version: 1, command: "proxy", transport: "unknown", tlvs: [], length };
  }
  const fields = rest.split(" ");
  const family = fields[0];
  if (family !== "TCP4" && family !== "TCP6") {
    bad(V1_START.length, `Unknown PROXY protocol "${family.slice(0, 10)}"`);
  }
  if (fields.length !== 5) {
    bad(V1_START.length + 5, "A PROXY line has four fields after its protocol, one space apart");
  }
  const valid = family === "TCP4" ? isFtpIpv4 : isFtpIpv6;
  let offset = V1_START.length + 5;
  for (const [i, field] of fields.slice(1).entries()) {
    const ok = i < 2 ? valid(field) : PORT.test(field) && Number(field) <= 65535;
    if (!ok) {
      bad(
        offset,
        `Not ${i < 2 ? `an ${family === "TCP4" ? "IPv4" : "IPv6"} address` : "a port"}: "${field}"`,
      );
    }
    offset += field.length + 1;
  }
  return {
    version: 1,
    command: "proxy",
    transport: family === "TCP4" ? "tcp4" : "tcp6",
    source: { host: fields[1], port: Number(fields[3]) },
    destination: { host: fields[2], port: Number(fields[4]) },
    tlvs: [],
    length,
  };
}

/** The transports of version 2's fourteenth byte (section 2.2), and their address lengths. */
const V2_FAMILIES: ReadonlyMap<number, { transport: ProxyProtocolTransport; size: number }> =
  new Map([
    [0x00, { transport: "unknown", size: 0 }],
    [0x11, { transport: "tcp4", size: 12 }],
    [0x12, { transport: "udp4", size: 12 }],
    [0x21, { transport: "tcp6", size: 36 }],
    [0x22, { transport: "udp6", size: 36 }],
    [0x31, { transport: "unix-stream", size: 216 }],
    [0x32, { transport: "unix-dgram", size: 216 }],
  ]);

function decodeV2(bytes: Uint8Array, maxLength: number): ProxyProtocolHeader | undefined {
  const signature = matching(bytes, V2_SIGNATURE);
  if (signature < Math.min(bytes.length, V2_SIGNATURE.length)) {
    bad(signature, "Not a PROXY protocol header");
  }
  if (bytes.length > 12 && bytes[12] !== 0x20 && bytes[12] !== 0x21) {
    bad(12, `Not PROXY protocol version 2 LOCAL or PROXY: 0x${bytes[12].toString(16)}`);
  }
  const local = bytes[12] === 0x20;
  // LOCAL: the family is ignored with the rest of the block (section 2.2).
  const family = bytes.length > 13 && !local ? V2_FAMILIES.get(bytes[13]) : undefined;
  if (bytes.length > 13 && !local && !family) {
    bad(13, `Unknown PROXY protocol family and protocol: 0x${bytes[13].toString(16)}`);
  }
  if (bytes.length < 16) return undefined;
  const length = 16 + ((bytes[14] << 8) | bytes[15]);
  if (length > maxLength) bad(14, `A PROXY header of ${length} bytes, past the ${maxLength} taken`);
  if (bytes.length < length) return undefined;
  const header = bytes.subarray(0, length);
  if (local) return { version: 2, command: "local", transport: "unknown", tlvs: [], length };
  const { transport, size } = family!;
  if (length - 16 < size) {
    bad(14, `A ${transport} address block takes ${size} bytes, not ${length - 16}`);
  }
  const tlvs = decodeTlvs(header, 16 + size);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const result = { version: 2 as const, command: "proxy" as const, transport, tlvs, length };
  if (size === 12) {
    return {
      ...result,
      source: { host: header.subarray(16, 20).join("."), port: view.getUint16(24) },
      destination: { host: header.subarray(20, 24).join("."), port: view.getUint16(26) },
    };
  }
  if (size === 36) {
    return {
      ...result,
      source: { host: ipv6Text(view, 16), port: view.getUint16(48) },
      destination: { host: ipv6Text(view, 32), port: view.getUint16(50) },
    };
  }
  // UNIX sockets have no address this decoder gives; UNSPEC has none.
  return result;
}

function ipv6Text(view: DataView, offset: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(view.getUint16(offset + i).toString(16));
  return compressIpv6(groups);
}

/** The TLVs from `offset` to the header's end, which they must fill exactly; checks CRC32C. */
function decodeTlvs(header: Uint8Array, offset: number): ProxyProtocolTlv[] {
  const tlvs: ProxyProtocolTlv[] = [];
  let at = offset;
  while (at < header.length) {
    if (header.length - at < 3) bad(at, "A truncated TLV in a PROXY header");
    const size = (header[at + 1] << 8) | header[at + 2];
    if (at + 3 + size > header.length) bad(at, "A TLV longer than its PROXY header");
    const type = header[at];
    const value = header.subarray(at + 3, at + 3 + size);
    if (type === TLV_CRC32C) {
      if (size !== 4) bad(at, "A CRC32C TLV holds 4 bytes");
      const copy = header.slice();
      copy.fill(0, at + 3, at + 7);
      const expected = new DataView(value.buffer, value.byteOffset, 4).getUint32(0);
      if (crc32c(copy) !== expected) bad(at, "The PROXY header's CRC32C does not match");
    }
    tlvs.push({ type, value });
    at += 3 + size;
  }
  return tlvs;
}

let crcTable: Uint32Array | undefined;

/** CRC32C (Castagnoli, RFC 4960 appendix B), as section 2.2.3 asks. */
function crc32c(bytes: Uint8Array): number {
  const table = crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of bytes) crc = table[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** What {@linkcode encodeProxyProtocolHeader} writes. */
export interface ProxyProtocolHeaderInit {
  /** 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /** `proxy` (default), or `local` (version 2 only; no addresses). */
  readonly command?: "proxy" | "local";
  /** TCP over IPv4 or IPv6 (both versions), UDP (version 2), or `unknown`; not UNIX sockets. */
  readonly transport: Exclude<ProxyProtocolTransport, "unix-stream" | "unix-dgram">;
  /** The client's end (required for TCP and UDP). */
  readonly source?: ProxyProtocolEndpoint;
  /** The end it connected to (required for TCP and UDP). */
  readonly destination?: ProxyProtocolEndpoint;
  /** Version 2 TLVs to append. */
  readonly tlvs?: readonly ProxyProtocolTlv[];
  /** Version 2: append a CRC32C TLV over the whole header (section 2.2.3). */
  readonly checksum?: boolean;
}

/**
 * Encodes a PROXY protocol header, as a proxy writes it at the start of a connection to a server
 * (or a test, to a server that expects one).
 *
 * @example
 * ```ts
 * import { encodeProxyProtocolHeader } from "@ftkit/ftkit/codec";
 *
 * const line = encodeProxyProtocolHeader({
 *   version: 1,
 *   transport: "tcp4",
 *   source: { host: "192.0.2.1", port: 51234 },
 *   destination: { host: "198.51.100.7", port: 21 },
 * });
 * console.log(new TextDecoder().decode(line)); // "PROXY TCP4 192.0.2.1 198.51.100.7 51234 21\r\n"
 * ```
 *
 * @param header What to write.
 * @returns The header's bytes.
 * @throws {TypeError} When an address is missing or not of the transport's family, or a field
 * does not exist in the version.
 * @throws {RangeError} When a port, a TLV or the whole header is out of range.
 */
export function encodeProxyProtocolHeader(header: ProxyProtocolHeaderInit): Uint8Array {
  const local = header.command === "local";
  const inet = header.transport !== "unknown" && !local;
  if (
    header.version === 1 &&
    (local || header.tlvs || header.checksum || header.transport.startsWith("udp"))
  ) {
    throw new TypeError("Version 1 has no LOCAL command, UDP, TLVs or checksum");
  }
  const family = header.transport.endsWith("4") ? 4 : 6;
  const ends = inet ? [header.source, header.destination] : [];
  for (const end of ends) {
    if (!end) throw new TypeError(`A ${header.transport} header needs a source and a destination`);
    if (!(family === 4 ? isFtpIpv4(end.host) : isFtpIpv6(end.host))) {
      throw new TypeError(`Not an IPv${family} address: "${end.host}"`);
    }
    if (!Number.isInteger(end.port) || end.port < 0 || end.port > 65535) {
      throw new RangeError(`A port is 0-65535, got ${end.port}`);
    }
  }
  if (header.version === 1) {
    const text = inet
      ? `PROXY ${family === 4 ? "TCP4" : "TCP6"} ${ends[0]!.host} ${ends[1]!.host} ${
        ends[0]!.port
      } ${ends[1]!.port}\r\n`
      : "PROXY UNKNOWN\r\n";
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  }
  const addresses = inet ? ends.map((end) => addressBytes(end!.host, family)) : [];
  const size = addresses.reduce((sum, address) => sum + address.length, inet ? 4 : 0);
  const tlvs = [...(header.tlvs ?? [])];
  if (header.checksum) tlvs.push({ type: TLV_CRC32C, value: new Uint8Array(4) });
  const length = 16 + size + tlvs.reduce((sum, tlv) => sum + 3 + tlv.value.length, 0);
  if (length > 65551) {
    throw new RangeError(`A PROXY header holds at most 65551 bytes, not ${length}`);
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out.set(V2_SIGNATURE);
  out[12] = local ? 0x20 : 0x21;
  out[13] = inet ? (family === 4 ? 0x10 : 0x20) | (header.transport.startsWith("udp") ? 2 : 1) : 0;
  view.setUint16(14, length - 16);
  let at = 16;
  for (const address of addresses) {
    out.set(address, at);
    at += address.length;
  }
  if (inet) {
    view.setUint16(at, ends[0]!.port);
    view.setUint16(at + 2, ends[1]!.port);
    at += 4;
  }
  for (const tlv of tlvs) {
    if (!Number.isInteger(tlv.type) || tlv.type < 0 || tlv.type > 255) {
      throw new RangeError(`A TLV type is 0-255, got ${tlv.type}`);
    }
    out[at] = tlv.type;
    view.setUint16(at + 1, tlv.value.length);
    out.set(tlv.value, at + 3);
    at += 3 + tlv.value.length;
  }
  if (header.checksum) view.setUint32(length - 4, crc32c(out));
  return out;
}

/** The 4 or 16 bytes of an address `isFtpIpv4` or `isFtpIpv6` took. */
function addressBytes(host: string, family: 4 | 6): Uint8Array {
  const bytes = ftpHostBytes(host)!;
  if (family === 4 || bytes.length === 16) return bytes;
  // An IPv4-mapped IPv6 address, given as IPv4 by ftpHostBytes: ::ffff:a.b.c.d.
  const out = new Uint8Array(16);
  out.set([0xff, 0xff], 10);
  out.set(bytes, 12);
  return out;
}
