/**
 * A small S3 client over `fetch`, signed with Signature Version 4 (./sigv4.ts): the object,
 * listing and multipart-upload calls a file server needs, each retried with backoff on 5xx,
 * throttling and network failures, a bounded number of times, and each bounded in time.
 *
 * Runtime-neutral: `fetch`, WebCrypto and timers only, so it runs unchanged on Deno, Bun and Node.
 *
 * @module
 */

import { EMPTY_SHA256, type S3Credentials, sha256Hex, signV4, uriEncode } from "./sigv4.ts";
import { xmlBlocks, xmlEscape, xmlText } from "./xml.ts";

export type { S3Credentials } from "./sigv4.ts";

/** Where a bucket is and how to reach it. */
export interface S3Options {
  /**
   * The store's address (`http://127.0.0.1:8080`, `https://s3.eu-west-1.amazonaws.com`). Default:
   * AWS's regional endpoint, `https://s3.<region>.amazonaws.com`.
   */
  readonly endpoint?: string;
  /** The region requests are signed for (default `us-east-1`). */
  readonly region?: string;
  /** The bucket. */
  readonly bucket: string;
  /** Who signs. */
  readonly credentials: S3Credentials;
  /**
   * Address the bucket in the path (`<endpoint>/<bucket>/<key>`) rather than the host name
   * (`<bucket>.<host>/<key>`). Default: path style when `endpoint` is given (what self-hosted
   * stores serve), host style on AWS.
   */
  readonly pathStyle?: boolean;
  /** Retries of a request that failed in a way worth retrying: 5xx, 429, throttling, network
   * errors (default 4). Backoff doubles from 200 ms, with jitter, up to 5 s. */
  readonly retries?: number;
  /** The longest wait for a request's answer, and between two reads of a body (default 30000). */
  readonly timeoutMs?: number;
  /** The `fetch` to use (default: the runtime's). */
  readonly fetch?: typeof fetch;
}

/**
 * A prefix of keys as a folder: no leading `/`, one trailing `/`, or `""` for the whole bucket.
 *
 * @example
 * ```ts
 * import { keyPrefix } from "./client.ts";
 *
 * console.log(keyPrefix("/ftp//")); // "ftp/"
 * ```
 */
export function keyPrefix(prefix = ""): string {
  return prefix.replace(/^\/+/, "").replace(/\/*$/, "/").replace(/^\/$/, "");
}

/** A request the store refused or failed, after any retries. */
export class S3Error extends Error {
  /** The HTTP status (0: no answer). */
  readonly status: number;
  /** S3's error code (`NoSuchKey`, `SlowDown`, …), or `""`. */
  readonly code: string;

  /**
   * Makes the error; its message names the call, the status and the code, never a credential.
   *
   * @param operation What was asked (`GET a/b`).
   * @param status The HTTP status (0: no answer).
   * @param code S3's error code.
   * @param cause What failed underneath, for a network error.
   */
  constructor(operation: string, status: number, code: string, cause?: unknown) {
    super(
      `S3 ${operation}: ${status === 0 ? "no answer" : `${status}`}${code ? ` ${code}` : ""}`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "S3Error";
    this.status = status;
    this.code = code;
  }
}

/** An object's facts, from HEAD or a listing. */
export interface S3Object {
  /** Its key. */
  readonly key: string;
  /** Its size in bytes. */
  readonly size: number;
  /** When it was last written. */
  readonly modified: Date;
  /** Its ETag, quotes included. */
  readonly etag: string;
  /** Its `x-amz-meta-*` headers (HEAD only), names without the prefix. */
  readonly meta?: Readonly<Record<string, string>>;
}

/** One page of a listing. */
export interface S3ListPage {
  /** The "folders": common prefixes, each ending with the delimiter. */
  readonly prefixes: string[];
  /** The objects. */
  readonly objects: S3Object[];
  /** The token for the next page, when there is one. */
  readonly next?: string;
}

interface RequestInit {
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  /** Statuses that are answers, not failures (beyond 2xx). */
  readonly accept?: readonly number[];
}

const RETRIED_CODES = new Set([
  "SlowDown",
  "RequestTimeout",
  "InternalError",
  "ServiceUnavailable",
]);
const MAX_ERROR_BODY = 65_536;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads at most `limit` bytes of a body as text, and lets go of the rest. */
async function boundedText(response: Response, limit = MAX_ERROR_BODY): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < limit) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(all.subarray(0, limit));
}

/**
 * A client for one bucket.
 *
 * @example
 * ```ts ignore
 * import { S3Client } from "./client.ts";
 *
 * const s3 = new S3Client({
 *   endpoint: "http://127.0.0.1:8080",
 *   bucket: "files",
 *   credentials: { accessKeyId: "test:tester", secretAccessKey: "testing" },
 * });
 * await s3.put("hello.txt", new TextEncoder().encode("hello\n"));
 * console.log((await s3.head("hello.txt"))?.size); // 6
 * ```
 */
export class S3Client {
  /** The bucket. */
  readonly bucket: string;
  readonly #base: string;
  readonly #region: string;
  readonly #credentials: S3Credentials;
  readonly #retries: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  /**
   * Makes the client; nothing is sent yet.
   *
   * @param options Where the bucket is and who signs.
   */
  constructor(options: S3Options) {
    const region = options.region ?? "us-east-1";
    const endpoint = new URL(options.endpoint ?? `https://s3.${region}.amazonaws.com`);
    if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
      throw new TypeError(`An S3 endpoint is http: or https:, not ${endpoint.protocol}`);
    }
    if (!/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(options.bucket)) {
      throw new TypeError(`Not a bucket name: ${JSON.stringify(options.bucket)}`);
    }
    const pathStyle = options.pathStyle ?? options.endpoint !== undefined;
    const origin = endpoint.origin;
    const base = endpoint.pathname.replace(/\/+$/, "");
    this.bucket = options.bucket;
    this.#base = pathStyle
      ? `${origin}${base}/${uriEncode(options.bucket)}`
      : `${endpoint.protocol}//${options.bucket}.${endpoint.host}${base}`;
    this.#region = region;
    this.#credentials = options.credentials;
    this.#retries = Math.max(0, Math.floor(options.retries ?? 4));
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? fetch;
  }

  /** The longest wait for an answer or between two reads of a body, in milliseconds. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  #url(key: string | undefined, query: Record<string, string> | undefined): URL {
    const url = new URL(
      key === undefined ? `${this.#base}/` : `${this.#base}/${uriEncode(key, true)}`,
    );
    for (const [name, value] of Object.entries(query ?? {})) {
      // Signed as sent: every byte outside RFC 3986's unreserved set encoded.
      url.search += `${url.search ? "&" : ""}${uriEncode(name)}=${uriEncode(value)}`;
    }
    return url;
  }

  /**
   * Sends a signed request and resolves with the answer, retrying what is worth retrying; rejects
   * with {@linkcode S3Error} for anything but 2xx or an accepted status. The caller reads or
   * cancels the body.
   */
  async request(
    method: string,
    key: string | undefined,
    init: RequestInit = {},
  ): Promise<Response> {
    const url = this.#url(key, init.query);
    const operation = `${method} ${key ?? "/"}`;
    const payloadHash = init.body ? await sha256Hex(init.body) : EMPTY_SHA256;
    for (let attempt = 0;; attempt++) {
      const last = attempt >= this.#retries;
      const { headers } = await signV4({
        method,
        url,
        headers: init.headers ?? {},
        payloadHash,
        region: this.#region,
        service: "s3",
        credentials: this.#credentials,
        date: new Date(),
      });
      delete headers.host;
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), this.#timeoutMs);
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method,
          headers,
          ...(init.body ? { body: init.body as Uint8Array<ArrayBuffer> } : {}),
          signal: abort.signal,
          redirect: "manual",
        });
      } catch (error) {
        if (last) throw new S3Error(operation, 0, "", error);
        await sleep(this.#backoff(attempt));
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (
        (response.status >= 200 && response.status < 300) || init.accept?.includes(response.status)
      ) {
        return response;
      }
      const text = method === "HEAD" ? "" : await boundedText(response).catch(() => "");
      const code = xmlText(text, "Code") ?? "";
      const retried = response.status >= 500 || response.status === 429 || RETRIED_CODES.has(code);
      if (!retried || last) throw new S3Error(operation, response.status, code);
      await sleep(this.#backoff(attempt));
    }
  }

  #backoff(attempt: number): number {
    const ceiling = Math.min(5000, 200 * 2 ** attempt);
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  /** A request whose 2xx answer is XML; an `<Error>` in it (CopyObject and
   * CompleteMultipartUpload can fail after answering 200) is thrown. */
  async #xml(method: string, key: string | undefined, init: RequestInit = {}): Promise<string> {
    const response = await this.request(method, key, init);
    const text = await boundedText(response, 16 * 1024 * 1024);
    if (/^\s*(<\?xml[^>]*>\s*)?<Error>/.test(text)) {
      throw new S3Error(`${method} ${key ?? "/"}`, response.status, xmlText(text, "Code") ?? "");
    }
    return text;
  }

  /**
   * An object's facts, or `undefined` when there is none.
   *
   * @param key The object's key.
   */
  async head(key: string): Promise<S3Object | undefined> {
    const response = await this.request("HEAD", key, { accept: [404] });
    await response.body?.cancel().catch(() => {});
    if (response.status === 404) return undefined;
    const meta: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name.toLowerCase().startsWith("x-amz-meta-")) meta[name.slice(11).toLowerCase()] = value;
    });
    return {
      key,
      size: Number(response.headers.get("content-length") ?? 0),
      modified: new Date(response.headers.get("last-modified") ?? 0),
      etag: response.headers.get("etag") ?? "",
      meta,
    };
  }

  /**
   * An object's bytes from `start` (to `end`, exclusive, when given), as a streaming answer.
   * Resolves with `undefined` when `start` is at or past the end (416).
   *
   * @param key The object's key.
   * @param start The first byte.
   * @param ifMatch Only if the object still has this ETag (412 otherwise).
   * @param end Where to stop (exclusive); default the object's end.
   */
  async get(
    key: string,
    start = 0,
    ifMatch?: string,
    end?: number,
  ): Promise<Response | undefined> {
    const headers: Record<string, string> = {};
    if (end !== undefined) headers.range = `bytes=${start}-${end - 1}`;
    else if (start > 0) headers.range = `bytes=${start}-`;
    if (ifMatch) headers["if-match"] = ifMatch;
    const response = await this.request("GET", key, { headers, accept: [416] });
    if (response.status === 416) {
      await response.body?.cancel().catch(() => {});
      return undefined;
    }
    return response;
  }

  /**
   * Stores an object whole.
   *
   * @param key The object's key.
   * @param body Its bytes.
   * @param headers Extra headers (`x-amz-meta-*`).
   */
  async put(key: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<void> {
    const response = await this.request("PUT", key, { body, headers });
    await response.body?.cancel().catch(() => {});
  }

  /**
   * Deletes an object (a missing one is no error).
   *
   * @param key The object's key.
   */
  async delete(key: string): Promise<void> {
    const response = await this.request("DELETE", key, { accept: [404] });
    await response.body?.cancel().catch(() => {});
  }

  #copySource(key: string): string {
    return `/${uriEncode(this.bucket)}/${uriEncode(key, true)}`;
  }

  /**
   * Copies an object within the bucket (up to 5 GB: larger ones take {@linkcode uploadPartCopy}).
   *
   * @param from The source key.
   * @param to The new key.
   * @param meta New `x-amz-meta-*` values (the source's are replaced), or keep the source's.
   */
  async copy(from: string, to: string, meta?: Record<string, string>): Promise<void> {
    const headers: Record<string, string> = { "x-amz-copy-source": this.#copySource(from) };
    if (meta) {
      headers["x-amz-metadata-directive"] = "REPLACE";
      for (const [name, value] of Object.entries(meta)) headers[`x-amz-meta-${name}`] = value;
    }
    await this.#xml("PUT", to, { headers });
  }

  /**
   * One page of a listing (ListObjectsV2).
   *
   * @param prefix Only keys that start with it.
   * @param options The delimiter that groups keys into common prefixes, the page's size, and
   * the token of the page to read.
   */
  async list(
    prefix: string,
    options: { delimiter?: string; maxKeys?: number; token?: string } = {},
  ): Promise<S3ListPage> {
    const query: Record<string, string> = { "list-type": "2", prefix };
    if (options.delimiter) query.delimiter = options.delimiter;
    if (options.maxKeys) query["max-keys"] = String(options.maxKeys);
    if (options.token) query["continuation-token"] = options.token;
    const xml = await this.#xml("GET", undefined, { query });
    const prefixes = xmlBlocks(xml, "CommonPrefixes").map((block) =>
      xmlText(block, "Prefix") ?? ""
    );
    const objects = xmlBlocks(xml, "Contents").map((block) => ({
      key: xmlText(block, "Key") ?? "",
      size: Number(xmlText(block, "Size") ?? 0),
      modified: new Date(xmlText(block, "LastModified") ?? 0),
      etag: xmlText(block, "ETag") ?? "",
    }));
    const next = xmlText(xml, "IsTruncated") === "true"
      ? xmlText(xml, "NextContinuationToken")
      : undefined;
    return next ? { prefixes, objects, next } : { prefixes, objects };
  }

  /**
   * Starts a multipart upload; resolves with its id.
   *
   * @param key The object's key.
   * @param headers Extra headers (`x-amz-meta-*`).
   */
  async createUpload(key: string, headers: Record<string, string> = {}): Promise<string> {
    const xml = await this.#xml("POST", key, { query: { uploads: "" }, headers });
    const id = xmlText(xml, "UploadId");
    if (!id) throw new S3Error(`POST ${key}?uploads`, 200, "NoUploadId");
    return id;
  }

  /**
   * Uploads one part; resolves with its ETag.
   *
   * @param key The object's key.
   * @param uploadId The upload.
   * @param part Its number, from 1.
   * @param body Its bytes.
   */
  async uploadPart(key: string, uploadId: string, part: number, body: Uint8Array): Promise<string> {
    const response = await this.request("PUT", key, {
      query: { partNumber: String(part), uploadId },
      body,
    });
    await response.body?.cancel().catch(() => {});
    return response.headers.get("etag") ?? "";
  }

  /**
   * Fills one part with a range of an existing object (UploadPartCopy); resolves with its ETag.
   *
   * @param key The object's key.
   * @param uploadId The upload.
   * @param part Its number, from 1.
   * @param from The source key.
   * @param start The range's first byte.
   * @param end The range's end (exclusive).
   */
  async uploadPartCopy(
    key: string,
    uploadId: string,
    part: number,
    from: string,
    start: number,
    end: number,
  ): Promise<string> {
    const xml = await this.#xml("PUT", key, {
      query: { partNumber: String(part), uploadId },
      headers: {
        "x-amz-copy-source": this.#copySource(from),
        "x-amz-copy-source-range": `bytes=${start}-${end - 1}`,
      },
    });
    return xmlText(xml, "ETag") ?? "";
  }

  /**
   * Completes a multipart upload: the object appears whole.
   *
   * @param key The object's key.
   * @param uploadId The upload.
   * @param etags The parts' ETags, in order from part 1.
   */
  async completeUpload(key: string, uploadId: string, etags: readonly string[]): Promise<void> {
    const parts = etags.map((etag, index) =>
      `<Part><PartNumber>${index + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`
    );
    const body = new TextEncoder().encode(
      `<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>`,
    );
    await this.#xml("POST", key, { query: { uploadId }, body });
  }

  /**
   * Aborts a multipart upload and frees its parts (an unknown upload is no error).
   *
   * @param key The object's key.
   * @param uploadId The upload.
   */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    const response = await this.request("DELETE", key, { query: { uploadId }, accept: [404] });
    await response.body?.cancel().catch(() => {});
  }

  /**
   * The multipart uploads in progress under `prefix` (one page of up to 1000).
   *
   * @param prefix Only keys that start with it.
   */
  async listUploads(prefix: string): Promise<{ key: string; uploadId: string }[]> {
    const xml = await this.#xml("GET", undefined, { query: { uploads: "", prefix } });
    return xmlBlocks(xml, "Upload").map((block) => ({
      key: xmlText(block, "Key") ?? "",
      uploadId: xmlText(block, "UploadId") ?? "",
    }));
  }
}
