// AWS Signature Version 4, checked against AWS's published examples: the Signature Version 4 test
// suite (service "service", 2015-08-30) and the S3 API reference's header-signing examples
// (examplebucket, 2013-05-24).

import { test } from "node:test";
import assert from "node:assert/strict";
import { EMPTY_SHA256, sha256Hex, signV4, uriEncode } from "../../io/s3/sigv4.ts";

const SUITE = {
  region: "us-east-1",
  service: "service",
  credentials: {
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  },
  date: new Date("2015-08-30T12:36:00Z"),
};

const S3_EXAMPLE = {
  region: "us-east-1",
  service: "s3",
  credentials: {
    accessKeyId: "AKIAIOSFODNN7EXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  },
  date: new Date("2013-05-24T00:00:00Z"),
};

test("SigV4 test suite: get-vanilla, the whole Authorization header", async () => {
  const signed = await signV4({
    ...SUITE,
    method: "GET",
    url: new URL("https://example.amazonaws.com/"),
    payloadHash: EMPTY_SHA256,
  });
  assert.equal(
    signed.canonicalRequest,
    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
      EMPTY_SHA256,
  );
  assert.equal(
    signed.headers.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, " +
      "SignedHeaders=host;x-amz-date, " +
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  );
  // Not S3: no content hash header is added or signed.
  assert.equal(signed.headers["x-amz-content-sha256"], undefined);
});

test("SigV4 test suite: query order, POST, UTF-8 path", async () => {
  const cases: [string, string, string][] = [
    // get-vanilla-query-order-key-case: parameters sorted before signing.
    [
      "GET",
      "https://example.amazonaws.com/?Param2=value2&Param1=value1",
      "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ],
    // post-vanilla
    [
      "POST",
      "https://example.amazonaws.com/",
      "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ],
    // get-utf8: the path "/ሴ", encoded once.
    [
      "GET",
      "https://example.amazonaws.com/\u1234",
      "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    ],
  ];
  for (const [method, url, signature] of cases) {
    const signed = await signV4({ ...SUITE, method, url: new URL(url), payloadHash: EMPTY_SHA256 });
    assert.equal(signed.signature, signature, `${method} ${url}`);
  }
});

test("S3 reference example: GET Object with a Range header", async () => {
  const signed = await signV4({
    ...S3_EXAMPLE,
    method: "GET",
    url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
    headers: { Range: "bytes=0-9" },
    payloadHash: EMPTY_SHA256,
  });
  assert.equal(
    signed.stringToSign,
    "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
      "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
  );
  assert.equal(
    signed.signature,
    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
  assert.equal(signed.headers["x-amz-content-sha256"], EMPTY_SHA256);
  assert.equal(signed.headers["x-amz-date"], "20130524T000000Z");
});

test("S3 reference example: PUT Object, a key with `$`, a signed body", async () => {
  const payloadHash = await sha256Hex("Welcome to Amazon S3.");
  assert.equal(payloadHash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  const signed = await signV4({
    ...S3_EXAMPLE,
    method: "PUT",
    url: new URL(`https://examplebucket.s3.amazonaws.com/${uriEncode("test$file.text", true)}`),
    headers: { Date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" },
    payloadHash,
  });
  assert.match(signed.canonicalRequest, /^PUT\n\/test%24file\.text\n\n/);
  assert.equal(
    signed.stringToSign.split("\n")[3],
    "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
  );
  assert.equal(
    signed.headers.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
      "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, " +
      "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
  );
});

test("S3 reference example: GET Bucket (list objects) with a query", async () => {
  const signed = await signV4({
    ...S3_EXAMPLE,
    method: "GET",
    url: new URL("https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J"),
    payloadHash: EMPTY_SHA256,
  });
  assert.equal(
    signed.signature,
    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
  );
});

test("a session token is sent and signed; a changed secret changes the signature", async () => {
  const base = {
    ...S3_EXAMPLE,
    method: "GET",
    url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
    payloadHash: EMPTY_SHA256,
  };
  const withToken = await signV4({
    ...base,
    credentials: { ...S3_EXAMPLE.credentials, sessionToken: "token/+=" },
  });
  assert.equal(withToken.headers["x-amz-security-token"], "token/+=");
  assert.match(withToken.headers.authorization, /SignedHeaders=[^,]*x-amz-security-token/);
  const other = await signV4({
    ...base,
    credentials: { ...S3_EXAMPLE.credentials, secretAccessKey: "other" },
  });
  const plain = await signV4(base);
  assert.notEqual(other.signature, plain.signature);
  assert.equal(plain.signature, (await signV4(base)).signature);
});

test("uriEncode: RFC 3986 unreserved kept, the rest as %XX in capitals", () => {
  assert.equal(uriEncode("a b+c%d", false), "a%20b%2Bc%25d");
  assert.equal(uriEncode("a/b", false), "a%2Fb");
  assert.equal(uriEncode("a/b", true), "a/b");
  assert.equal(uriEncode("A-z_0.9~"), "A-z_0.9~");
  assert.equal(uriEncode("\u00e9!*'()"), "%C3%A9%21%2A%27%28%29");
});
