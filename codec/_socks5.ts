// The client side of SOCKS version 5 (RFC 1928) with username/password authentication (RFC
// 1929), as bytes: the messages a client sends, and parsers of the server's answers that take
// what has arrived so far and say how much more they need. Pure: the driver moves the bytes.

import { ftpHostBytes } from "./ftp_address.ts";

/** RFC 1928 section 3: the methods a client can offer. */
export const SOCKS5_NO_AUTH = 0x00;
/** RFC 1928 section 3 and RFC 1929: username and password. */
export const SOCKS5_USER_PASS = 0x02;
/** RFC 1928 section 3: none of the offered methods is acceptable. */
const NO_ACCEPTABLE = 0xff;

/** A SOCKS5 server's answer that refuses, or does not follow, the protocol. */
export class Socks5Error extends Error {
  override name = "Socks5Error";
  /** The reply code (RFC 1928 section 6), when the server refused the connection with one. */
  readonly reply: number | undefined;
  constructor(message: string, reply?: number) {
    super(message);
    this.reply = reply;
  }
}

/** RFC 1928 section 6: what each REP code means. */
const REPLIES: Record<number, string> = {
  0x01: "general SOCKS server failure",
  0x02: "connection not allowed by ruleset",
  0x03: "network unreachable",
  0x04: "host unreachable",
  0x05: "connection refused",
  0x06: "TTL expired",
  0x07: "command not supported",
  0x08: "address type not supported",
};

/** The meaning of a SOCKS5 reply code (RFC 1928 section 6). */
export function socks5ReplyText(code: number): string {
  return REPLIES[code] ?? `unassigned reply code ${code}`;
}

/** A parse that needs more bytes (`need`: how many in all, at least), or its result and length. */
export type Socks5Parse<T> = { readonly need: number } | {
  readonly value: T;
  readonly length: number;
};

/**
 * The version identifier/method selection message (RFC 1928 section 3): username and password
 * offered only when the client has them.
 */
export function encodeSocks5Greeting(withPassword: boolean): Uint8Array {
  return withPassword
    ? Uint8Array.of(5, 2, SOCKS5_NO_AUTH, SOCKS5_USER_PASS)
    : Uint8Array.of(5, 1, SOCKS5_NO_AUTH);
}

/**
 * The METHOD SELECTION message (RFC 1928 section 3): the method the server chose, which must be
 * one that was offered.
 */
export function parseSocks5Method(
  bytes: Uint8Array,
  withPassword: boolean,
): Socks5Parse<number> {
  if (bytes.length < 2) return { need: 2 };
  version(bytes[0], 5);
  const method = bytes[1];
  if (method === NO_ACCEPTABLE) {
    throw new Socks5Error(
      withPassword
        ? "the SOCKS5 proxy accepts neither no authentication nor a username and password"
        : "the SOCKS5 proxy requires authentication (give a username and password)",
    );
  }
  if (method !== SOCKS5_NO_AUTH && !(withPassword && method === SOCKS5_USER_PASS)) {
    throw new Socks5Error(`the SOCKS5 proxy chose method ${method}, which was not offered`);
  }
  return { value: method, length: 2 };
}

/** RFC 1929 section 2: the username/password request; each is 1 to 255 bytes of UTF-8. */
export function encodeSocks5Auth(user: string, password: string): Uint8Array {
  const name = new TextEncoder().encode(user);
  const secret = new TextEncoder().encode(password);
  for (const [what, bytes] of [["username", name], ["password", secret]] as const) {
    if (bytes.length < 1 || bytes.length > 255) {
      throw new RangeError(`a SOCKS5 ${what} is 1 to 255 bytes (RFC 1929 section 2)`);
    }
  }
  return Uint8Array.of(1, name.length, ...name, secret.length, ...secret);
}

/** RFC 1929 section 2: the server's verdict on the username and password; 0 is success. */
export function parseSocks5AuthReply(bytes: Uint8Array): Socks5Parse<true> {
  if (bytes.length < 2) return { need: 2 };
  version(bytes[0], 1);
  if (bytes[1] !== 0) {
    throw new Socks5Error(
      `the SOCKS5 proxy refused the username and password (status ${bytes[1]})`,
    );
  }
  return { value: true, length: 2 };
}

/**
 * The CONNECT request (RFC 1928 section 4) to `host` (an IPv4 or IPv6 literal goes as an address,
 * ATYP 1 or 4; a name as DOMAINNAME, ATYP 3, resolved by the proxy) at `port`.
 */
export function encodeSocks5Connect(host: string, port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`not a TCP port: ${port}`);
  }
  const address = ftpHostBytes(host.replace(/^\[(.*)\]$/, "$1"));
  let target: number[];
  if (address) target = [address.length === 4 ? 1 : 4, ...address];
  else {
    const name = new TextEncoder().encode(host);
    if (name.length < 1 || name.length > 255) {
      throw new RangeError("a SOCKS5 domain name is 1 to 255 bytes (RFC 1928 section 5)");
    }
    target = [3, name.length, ...name];
  }
  return Uint8Array.of(5, 1, 0, ...target, port >> 8, port & 255);
}

/** The bound address and port a SOCKS5 server reports (RFC 1928 section 6). */
export interface Socks5Bound {
  /** BND.ADDR: an IP literal, or a name. */
  readonly host: string;
  /** BND.PORT. */
  readonly port: number;
}

/**
 * The reply to CONNECT (RFC 1928 section 6): success gives the bound address; any other REP is a
 * {@linkcode Socks5Error} that says what the code means.
 */
export function parseSocks5Reply(bytes: Uint8Array): Socks5Parse<Socks5Bound> {
  if (bytes.length < 5) return { need: 5 };
  version(bytes[0], 5);
  const code = bytes[1];
  if (code !== 0) {
    throw new Socks5Error(
      `the SOCKS5 proxy refused the connection: ${socks5ReplyText(code)} (reply ${code})`,
      code,
    );
  }
  const type = bytes[3];
  const addressLength = type === 1 ? 4 : type === 4 ? 16 : type === 3 ? 1 + bytes[4] : -1;
  if (addressLength < 0) throw new Socks5Error(`the SOCKS5 reply has address type ${type}`);
  const length = 4 + addressLength + 2;
  if (bytes.length < length) return { need: length };
  const address = bytes.subarray(4, 4 + addressLength);
  const host = type === 1
    ? address.join(".")
    : type === 4
    ? Array.from({ length: 8 }, (_, i) => ((address[2 * i] << 8) | address[2 * i + 1]).toString(16))
      .join(":")
    : new TextDecoder().decode(address.subarray(1));
  const port = (bytes[length - 2] << 8) | bytes[length - 1];
  return { value: { host, port }, length };
}

function version(got: number, expected: number): void {
  if (got !== expected) {
    throw new Socks5Error(
      `not a SOCKS5 proxy: version ${got} in its answer, ${expected} expected (RFC 1928)`,
    );
  }
}
