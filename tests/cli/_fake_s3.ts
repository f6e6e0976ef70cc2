// A stand-in S3 store on loopback for the command's tests: one bucket of objects held in memory,
// answering what a read-only server asks (ListObjectsV2, HEAD, GET with a range) as S3 does. It
// checks no signature: it records each request with its Authorization header, for the tests to
// check who signed and that no secret was sent.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A request the store received. */
export interface FakeS3Request {
  readonly method: string;
  /** The key (`""` for the bucket itself). */
  readonly key: string;
  readonly query: Record<string, string>;
  /** Every header, as sent. */
  readonly headers: IncomingMessage["headers"];
}

/** The running store. */
export interface FakeS3 extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** What it received, in order. */
  readonly requests: FakeS3Request[];
  close(): Promise<void>;
}

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function xmlError(response: ServerResponse, status: number, code: string): void {
  response.writeHead(status, { "content-type": "application/xml" });
  response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code></Error>`);
}

/** ListObjectsV2: the keys under `prefix`, grouped at `delimiter`, at most `maxKeys`. */
function listing(objects: Map<string, Uint8Array>, query: Record<string, string>): string {
  const prefix = query.prefix ?? "";
  const delimiter = query.delimiter ?? "";
  const maxKeys = Number(query["max-keys"] ?? 1000);
  const contents: string[] = [];
  const prefixes = new Set<string>();
  for (const key of [...objects.keys()].sort()) {
    if (!key.startsWith(prefix)) continue;
    const at = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (at !== -1) prefixes.add(key.slice(0, at + delimiter.length));
    else contents.push(key);
  }
  const entries = [
    ...contents.map((key) =>
      `<Contents><Key>${escape(key)}</Key><Size>${objects.get(key)!.length}</Size>` +
      `<LastModified>1970-01-01T00:00:00.000Z</LastModified><ETag>"${
        escape(key)
      }"</ETag></Contents>`
    ),
    ...[...prefixes].map((each) =>
      `<CommonPrefixes><Prefix>${escape(each)}</Prefix></CommonPrefixes>`
    ),
  ].slice(0, maxKeys);
  return `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Prefix>${
    escape(prefix)
  }</Prefix>` +
    `<IsTruncated>false</IsTruncated>${entries.join("")}</ListBucketResult>`;
}

/** A GET of an object, whole or the range asked for. */
function object(
  request: IncomingMessage,
  response: ServerResponse,
  bytes: Uint8Array,
  key: string,
) {
  const headers = {
    "content-type": "application/octet-stream",
    etag: `"${key}"`,
    "last-modified": new Date(0).toUTCString(),
  };
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
  if (!range) {
    response.writeHead(200, { ...headers, "content-length": bytes.length });
    return response.end(bytes);
  }
  const start = Number(range[1]);
  const end = range[2] === "" ? bytes.length : Math.min(bytes.length, Number(range[2]) + 1);
  if (start >= bytes.length) return xmlError(response, 416, "InvalidRange");
  response.writeHead(206, {
    ...headers,
    "content-length": end - start,
    "content-range": `bytes ${start}-${end - 1}/${bytes.length}`,
  });
  response.end(bytes.subarray(start, end));
}

/**
 * Starts the store on 127.0.0.1 (a free port) with `objects` in `bucket`, path-style
 * (`/BUCKET/KEY`).
 */
export async function fakeS3(bucket: string, objects: Map<string, Uint8Array>): Promise<FakeS3> {
  const requests: FakeS3Request[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const [, name = "", ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    const query = Object.fromEntries(url.searchParams);
    requests.push({ method: request.method ?? "", key, query, headers: request.headers });
    request.resume();
    if (decodeURIComponent(name) !== bucket) return xmlError(response, 404, "NoSuchBucket");
    if (request.method === "GET" && key === "" && query["list-type"] === "2") {
      response.writeHead(200, { "content-type": "application/xml" });
      return response.end(listing(objects, query));
    }
    const bytes = objects.get(key);
    if (request.method === "HEAD") {
      if (!bytes) {
        response.writeHead(404);
        return response.end();
      }
      response.writeHead(200, {
        "content-length": bytes.length,
        etag: `"${key}"`,
        "last-modified": new Date(0).toUTCString(),
      });
      return response.end();
    }
    if (request.method === "GET") {
      return bytes ? object(request, response, bytes, key) : xmlError(response, 404, "NoSuchKey");
    }
    xmlError(response, 501, "NotImplemented");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}
