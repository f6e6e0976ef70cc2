// The S3 client's own rules, with a `fetch` that answers as a store would when it fails: which
// failures are retried and how often, what an error says (never a credential), and answers that
// are errors in a 200. The requests themselves are checked against a real store in
// tests/interop/s3_*_test.ts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { S3Client, S3Error } from "../../io/s3/client.ts";
import { S3Upload } from "../../io/s3/upload.ts";

const SECRET = "s3cr3t-never-shown";

function client(answers: (request: Request) => Response | Promise<Response>, retries = 2) {
  const seen: Request[] = [];
  const s3 = new S3Client({
    endpoint: "http://127.0.0.1:9",
    bucket: "files",
    credentials: { accessKeyId: "test:tester", secretAccessKey: SECRET },
    retries,
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init);
      seen.push(request);
      return await answers(request);
    }) as typeof fetch,
  });
  return { s3, seen };
}

const xmlError = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message></Error>`;

test("5xx, 429 and SlowDown are retried, a bounded number of times", async () => {
  for (const [status, code] of [[503, "SlowDown"], [500, "InternalError"], [429, ""]] as const) {
    const { s3, seen } = client(() => new Response(xmlError(code), { status }), 2);
    const error = await s3.head("a").then(() => undefined, (e) => e);
    assert.ok(error instanceof S3Error);
    assert.equal(error.status, status);
    assert.equal(seen.length, 3, `${status}: one try and two retries`);
  }
});

test("a failure that then succeeds is not seen; a refusal is not retried", async () => {
  let calls = 0;
  const flaky = client(
    () =>
      ++calls < 3
        ? new Response(xmlError("ServiceUnavailable"), { status: 503 })
        : new Response(null, { status: 200, headers: { "content-length": "5", etag: '"e"' } }),
    4,
  );
  assert.equal((await flaky.s3.head("a"))?.size, 5);
  assert.equal(flaky.seen.length, 3);
  const refused = client(() => new Response(xmlError("AccessDenied"), { status: 403 }), 4);
  const error = await refused.s3.list("").then(() => undefined, (e) => e);
  assert.ok(error instanceof S3Error);
  assert.equal(error.code, "AccessDenied");
  assert.equal(refused.seen.length, 1);
});

test("network errors are retried, then reported with status 0 and no credential", async () => {
  const { s3, seen } = client(() => Promise.reject(new TypeError("connection refused")), 1);
  const error = await s3.put("k", new Uint8Array(3)).then(() => undefined, (e) => e);
  assert.ok(error instanceof S3Error);
  assert.equal(error.status, 0);
  assert.equal(seen.length, 2);
  assert.doesNotMatch(`${error.message} ${String(error.cause)}`, new RegExp(SECRET));
});

test("requests are signed, path style, with the payload's hash; the secret is never sent", async () => {
  const { s3, seen } = client(() => new Response(null, { status: 200 }));
  await s3.put("dir/a b$.txt", new TextEncoder().encode("hello"));
  const [request] = seen;
  assert.equal(new URL(request.url).pathname, "/files/dir/a%20b%24.txt");
  assert.equal(
    request.headers.get("x-amz-content-sha256"),
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
  );
  assert.match(
    request.headers.get("authorization") ?? "",
    /^AWS4-HMAC-SHA256 Credential=test:tester\//,
  );
  for (const [, value] of request.headers) assert.ok(!value.includes(SECRET));
});

test("an <Error> inside a 200 (CopyObject, CompleteMultipartUpload) is an error", async () => {
  const { s3 } = client(() => new Response(xmlError("InternalError"), { status: 200 }), 0);
  const error = await s3.copy("a", "b").then(() => undefined, (e) => e);
  assert.ok(error instanceof S3Error);
  assert.equal(error.code, "InternalError");
});

test("listing pages: prefixes, objects, entities decoded, the next token", async () => {
  const { s3, seen } = client(() =>
    new Response(
      `<?xml version="1.0"?><ListBucketResult><Name>files</Name><Prefix>d/</Prefix>` +
        `<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>` +
        `<NextContinuationToken>t&amp;1</NextContinuationToken>` +
        `<Contents><Key>d/a&amp;b.txt</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>` +
        `<ETag>&quot;x&quot;</ETag><Size>12</Size></Contents>` +
        `<CommonPrefixes><Prefix>d/sub/</Prefix></CommonPrefixes></ListBucketResult>`,
      { status: 200 },
    )
  );
  const page = await s3.list("d/", { delimiter: "/", token: "a+b", maxKeys: 10 });
  assert.deepEqual(page.prefixes, ["d/sub/"]);
  assert.equal(page.objects[0].key, "d/a&b.txt");
  assert.equal(page.objects[0].etag, '"x"');
  assert.equal(page.objects[0].size, 12);
  assert.equal(page.objects[0].modified.toISOString(), "2026-01-02T03:04:05.000Z");
  assert.equal(page.next, "t&1");
  const query = new URL(seen[0].url).search;
  assert.match(query, /continuation-token=a%2Bb/);
  assert.match(query, /delimiter=%2F/);
});

test("an upload that fails aborts its multipart upload and leaves nothing", async () => {
  const calls: string[] = [];
  const { s3 } = client((request) => {
    const url = new URL(request.url);
    calls.push(`${request.method} ${url.search}`);
    if (url.searchParams.has("uploads")) {
      return new Response(
        "<InitiateMultipartUploadResult><UploadId>u1</UploadId>" +
          "</InitiateMultipartUploadResult>",
      );
    }
    if (url.searchParams.get("partNumber") === "2") {
      return new Response(xmlError("AccessDenied"), { status: 403 });
    }
    return new Response(null, {
      status: request.method === "DELETE" ? 204 : 200,
      headers: { etag: '"p"' },
    });
  }, 0);
  const upload = new S3Upload(s3, "big", { partSize: 5 * 1024 * 1024 });
  const chunk = new Uint8Array(1024 * 1024);
  let failed: unknown;
  try {
    for (let i = 0; i < 12; i++) await upload.write(chunk);
    await upload.complete();
  } catch (error) {
    failed = error;
    await upload.abort();
  }
  assert.ok(failed instanceof S3Error);
  assert.ok(calls.includes("DELETE ?uploadId=u1"), calls.join(", "));
  assert.ok(!calls.some((call) => call.startsWith("POST ?uploadId=")), "never completed");
});
