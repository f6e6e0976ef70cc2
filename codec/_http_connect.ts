// The client side of an HTTP proxy's tunnel, CONNECT (RFC 9110 section 9.3.6), as bytes: the
// request, and a parser of the proxy's response header that takes what has arrived so far. Pure:
// the driver moves the bytes.

/** The longest response header read from a proxy before the tunnel (all of it, 1xx included). */
export const HTTP_CONNECT_MAX_HEADER: number = 16 * 1024;

/** A proxy's response that refuses the tunnel, or is not HTTP. */
export class HttpConnectError extends Error {
  override name = "HttpConnectError";
  /** The status code, when the proxy answered with one. */
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

/** The authority-form target (RFC 9112 section 3.2.3): an IPv6 literal in brackets. */
function authority(host: string, port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`not a TCP port: ${port}`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\s\0-\x1f\x7f/?#@]/.test(host) || host === "") {
    throw new RangeError(`not a host to connect to: ${JSON.stringify(host)}`);
  }
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Base64 of UTF-8 text (RFC 7617 section 2.1: Basic credentials, charset UTF-8). */
function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * The CONNECT request to `host` at `port`, with Basic proxy credentials (RFC 7617,
 * `Proxy-Authorization`, RFC 9110 section 11.7.2) when `auth` is given.
 */
export function encodeHttpConnect(
  host: string,
  port: number,
  auth?: { readonly user: string; readonly password: string },
): Uint8Array {
  const target = authority(host, port);
  if (auth && auth.user.includes(":")) {
    throw new RangeError("a Basic username cannot hold ':' (RFC 7617 section 2)");
  }
  const lines = [
    `CONNECT ${target} HTTP/1.1`,
    `Host: ${target}`,
    ...(auth ? [`Proxy-Authorization: Basic ${base64(`${auth.user}:${auth.password}`)}`] : []),
    "",
    "",
  ];
  return new TextEncoder().encode(lines.join("\r\n"));
}

/** A parse that needs more bytes, or the tunnel's start (`length`: the header's bytes). */
export type HttpConnectParse = { readonly need: true } | {
  readonly status: number;
  readonly length: number;
};

/**
 * The proxy's response to CONNECT, from what has arrived: interim 1xx responses are passed over;
 * a 2xx final response opens the tunnel, whose bytes start after `length`; any other status is an
 * {@linkcode HttpConnectError} with the status and reason. A header not ended within `maxBytes`
 * (default {@linkcode HTTP_CONNECT_MAX_HEADER}) is refused.
 */
export function parseHttpConnectResponse(
  bytes: Uint8Array,
  maxBytes: number = HTTP_CONNECT_MAX_HEADER,
): HttpConnectParse {
  let at = 0;
  for (;;) {
    const end = headerEnd(bytes, at, maxBytes);
    if (end === undefined) {
      if (bytes.length >= maxBytes) {
        throw new HttpConnectError(`the proxy's response header is over ${maxBytes} bytes`);
      }
      return { need: true };
    }
    // The header is ASCII (RFC 9110 section 5.5: other bytes are opaque); latin1 keeps each byte.
    const head = Array.from(bytes.subarray(at, end.start), (b) => String.fromCharCode(b)).join("");
    const statusLine = head.split(/\r?\n/)[0].replace(/\r$/, "");
    const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!match) {
      throw new HttpConnectError(
        `not an HTTP proxy: it answered ${JSON.stringify(statusLine.slice(0, 80))}`,
      );
    }
    const status = Number(match[1]);
    at = end.next;
    if (status >= 100 && status < 200) continue;
    if (status >= 200 && status < 300) return { status, length: at };
    const reason = (match[2] ?? "").replace(/[^\x20-\x7e]/g, "?").slice(0, 120);
    // 407 (RFC 9110 section 15.5.8); tinyproxy answers a CONNECT without credentials with 401.
    const hint = status === 407 || status === 401
      ? " (the proxy requires authentication: check the username and password)"
      : "";
    throw new HttpConnectError(
      `the HTTP proxy refused the tunnel: ${status}${reason ? ` ${reason}` : ""}${hint}`,
      status,
    );
  }
}

/** Where the header that starts at `from` ends (an empty line, CRLF or bare LF), within `max`. */
function headerEnd(
  bytes: Uint8Array,
  from: number,
  max: number,
): { start: number; next: number } | undefined {
  const limit = Math.min(bytes.length, max);
  for (let i = from; i < limit; i++) {
    if (bytes[i] !== 10) continue;
    if (i + 1 < limit && bytes[i + 1] === 10) return { start: i, next: i + 2 };
    if (i + 2 < limit && bytes[i + 1] === 13 && bytes[i + 2] === 10) {
      return { start: i, next: i + 3 };
    }
  }
  return undefined;
}
