/**
 * AWS Signature Version 4 for request headers, with WebCrypto (HMAC-SHA256, SHA-256): the
 * canonical request, the string to sign, the derived signing key and the `Authorization` header,
 * as AWS's "Signature Version 4 signing process" describes them. S3's form: paths are encoded
 * once and never normalized, and `x-amz-content-sha256` names the payload's hash.
 *
 * @module
 */

/** Credentials for an S3-compatible store. */
export interface S3Credentials {
  /** The access key id (`AKIA...`; on Swift's s3api, `account:user`). */
  readonly accessKeyId: string;
  /** The secret access key. Never logged, never sent. */
  readonly secretAccessKey: string;
  /** A temporary credential's session token (`x-amz-security-token`). */
  readonly sessionToken?: string;
}

/** What `signV4` signs. */
export interface SigV4Request {
  /** The HTTP method. */
  readonly method: string;
  /** The whole address; its path is signed as given (percent-decoded, then encoded once). */
  readonly url: URL;
  /** Headers to send and sign, besides `host` and the `x-amz-*` ones added. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The payload's SHA-256 in hex, or `UNSIGNED-PAYLOAD`. */
  readonly payloadHash: string;
  /** The region (`us-east-1`). */
  readonly region: string;
  /** The service (`s3`); for `s3` the payload hash is also sent as `x-amz-content-sha256`. */
  readonly service: string;
  /** Who signs. */
  readonly credentials: S3Credentials;
  /** When. */
  readonly date: Date;
}

/** The SHA-256 of nothing, in hex. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * The SHA-256 of `bytes` (or of a string's UTF-8), in hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./sigv4.ts";
 *
 * console.log(await sha256Hex("")); // "e3b0c442…b855"
 * ```
 */
export async function sha256Hex(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  return hex(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

async function hmac(key: Uint8Array | ArrayBuffer, text: string): Promise<ArrayBuffer> {
  const imported = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return await crypto.subtle.sign("HMAC", imported, encoder.encode(text));
}

/**
 * RFC 3986 percent-encoding as SigV4 wants it: every byte but `A-Za-z0-9-._~` (and `/` when
 * `slash` is kept) as `%XX` in capitals.
 *
 * @example
 * ```ts
 * import { uriEncode } from "./sigv4.ts";
 *
 * console.log(uriEncode("a b/c$", true)); // "a%20b/c%24"
 * ```
 */
export function uriEncode(text: string, keepSlash = false): string {
  let out = "";
  for (const byte of encoder.encode(text)) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(char) || (keepSlash && char === "/")) out += char;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function decodeOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The canonical path: each segment decoded, then encoded once (S3 never normalizes it). */
function canonicalPath(url: URL): string {
  return url.pathname.split("/").map((segment) => uriEncode(decodeOr(segment))).join("/") || "/";
}

/** The canonical query: names and values encoded, sorted by name then value. */
function canonicalQuery(url: URL): string {
  const pairs: [string, string][] = [];
  for (const part of url.search.slice(1).split("&")) {
    if (part === "") continue;
    const equals = part.indexOf("=");
    const name = equals < 0 ? part : part.slice(0, equals);
    const value = equals < 0 ? "" : part.slice(equals + 1);
    const decode = (text: string) => decodeOr(text.replaceAll("+", "%20"));
    pairs.push([uriEncode(decode(name)), uriEncode(decode(value))]);
  }
  pairs.sort(([a, x], [b, y]) => a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0);
  return pairs.map(([name, value]) => `${name}=${value}`).join("&");
}

/** `20130524T000000Z`. */
function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

// Derived keys by secret, day, region and service: one HMAC per request instead of five.
const signingKeys = new Map<string, ArrayBuffer>();

async function signingKey(
  secret: string,
  day: string,
  region: string,
  service: string,
): Promise<ArrayBuffer> {
  const id = `${day}\n${region}\n${service}\n${secret}`;
  const known = signingKeys.get(id);
  if (known) return known;
  const dated = await hmac(encoder.encode(`AWS4${secret}`), day);
  const key = await hmac(await hmac(await hmac(dated, region), service), "aws4_request");
  if (signingKeys.size >= 16) signingKeys.clear();
  signingKeys.set(id, key);
  return key;
}

/** What `signV4` worked out: the headers to send, and the steps, for tests and debugging. */
export interface SigV4Signed {
  /** Every header to send (lower-case names): the given ones, `host`, `x-amz-date`, the
   * security token and (for S3) `x-amz-content-sha256`, and `authorization`. */
  readonly headers: Record<string, string>;
  /** The canonical request. */
  readonly canonicalRequest: string;
  /** The string to sign. */
  readonly stringToSign: string;
  /** The signature, in hex. */
  readonly signature: string;
}

/**
 * Signs a request with AWS Signature Version 4 (header form).
 *
 * @example
 * ```ts
 * import { EMPTY_SHA256, signV4 } from "./sigv4.ts";
 *
 * const { headers } = await signV4({
 *   method: "GET",
 *   url: new URL("http://127.0.0.1:8080/bucket/key"),
 *   payloadHash: EMPTY_SHA256,
 *   region: "us-east-1",
 *   service: "s3",
 *   credentials: { accessKeyId: "test:tester", secretAccessKey: "testing" },
 *   date: new Date(),
 * });
 * console.log(headers.authorization.startsWith("AWS4-HMAC-SHA256 ")); // true
 * ```
 */
export async function signV4(request: SigV4Request): Promise<SigV4Signed> {
  const { credentials, region, service } = request;
  const stamp = amzDate(request.date);
  const day = stamp.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  headers.host = request.url.host;
  headers["x-amz-date"] = stamp;
  if (service === "s3") headers["x-amz-content-sha256"] = request.payloadHash;
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names
    .map((name) => `${name}:${headers[name].trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const signedHeaders = names.join(";");
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(request.url),
    canonicalQuery(request.url),
    canonicalHeaders,
    signedHeaders,
    request.payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${stamp}\n${scope}\n${await sha256Hex(canonicalRequest)}`;
  const key = await signingKey(credentials.secretAccessKey, day, region, service);
  const signature = hex(await hmac(key, stringToSign));
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { headers, canonicalRequest, stringToSign, signature };
}
