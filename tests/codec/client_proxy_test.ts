// The proxy codecs, byte for byte: SOCKS5 (RFC 1928) with username/password authentication (RFC
// 1929), HTTP CONNECT (RFC 9110 section 9.3.6) with Basic credentials (RFC 7617), and the FTPS
// client's reading of proxy URLs.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeSocks5Auth,
  encodeSocks5Connect,
  encodeSocks5Greeting,
  parseSocks5AuthReply,
  parseSocks5Method,
  parseSocks5Reply,
  Socks5Error,
  socks5ReplyText,
} from "../../codec/_socks5.ts";
import {
  encodeHttpConnect,
  HTTP_CONNECT_MAX_HEADER,
  HttpConnectError,
  parseHttpConnectResponse,
} from "../../codec/_http_connect.ts";
import { parseProxy } from "../../ftps/_client_proxy.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);
const ascii = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe("SOCKS5 codec (RFC 1928, RFC 1929)", () => {
  test("section 3: the greeting offers no authentication, and username/password when given", () => {
    assert.deepEqual(encodeSocks5Greeting(false), bytes(5, 1, 0));
    assert.deepEqual(encodeSocks5Greeting(true), bytes(5, 2, 0, 2));
  });

  test("section 3: the method chosen must be one offered; X'FF' is no acceptable method", () => {
    assert.deepEqual(parseSocks5Method(bytes(5), false), { need: 2 });
    assert.deepEqual(parseSocks5Method(bytes(5, 0, 9), false), { value: 0, length: 2 });
    assert.deepEqual(parseSocks5Method(bytes(5, 2), true), { value: 2, length: 2 });
    assert.throws(() => parseSocks5Method(bytes(5, 2), false), /method 2, which was not offered/);
    assert.throws(() => parseSocks5Method(bytes(5, 0xff), false), /requires authentication/);
    assert.throws(() => parseSocks5Method(bytes(5, 0xff), true), /accepts neither/);
    assert.throws(() => parseSocks5Method(bytes(4, 0), false), /not a SOCKS5 proxy: version 4/);
    // An HTTP proxy's answer to a SOCKS greeting.
    assert.throws(() => parseSocks5Method(ascii("HTTP/1.1 400"), false), Socks5Error);
  });

  test("RFC 1929 section 2: the username/password request and its status", () => {
    assert.deepEqual(
      encodeSocks5Auth("fred", "pw"),
      bytes(1, 4, ...ascii("fred"), 2, ...ascii("pw")),
    );
    assert.deepEqual(encodeSocks5Auth("é", "x").subarray(0, 4), bytes(1, 2, 0xc3, 0xa9));
    assert.throws(() => encodeSocks5Auth("", "pw"), /username is 1 to 255 bytes/);
    assert.throws(() => encodeSocks5Auth("fred", "x".repeat(256)), /password is 1 to 255 bytes/);
    assert.deepEqual(parseSocks5AuthReply(bytes(1)), { need: 2 });
    assert.deepEqual(parseSocks5AuthReply(bytes(1, 0)), { value: true, length: 2 });
    assert.throws(() => parseSocks5AuthReply(bytes(1, 1)), /refused the username and password/);
    assert.throws(() => parseSocks5AuthReply(bytes(5, 0)), /version 5 in its answer, 1 expected/);
  });

  test("section 4: CONNECT to an IPv4 address, an IPv6 address, and a domain name", () => {
    assert.deepEqual(encodeSocks5Connect("127.0.0.1", 21), bytes(5, 1, 0, 1, 127, 0, 0, 1, 0, 21));
    assert.deepEqual(
      encodeSocks5Connect("::1", 990),
      bytes(5, 1, 0, 4, ...new Array(15).fill(0), 1, 3, 222),
    );
    assert.deepEqual(encodeSocks5Connect("[::1]", 990)[3], 4);
    // An IPv4-mapped address goes as IPv4.
    assert.deepEqual(
      encodeSocks5Connect("::ffff:10.0.0.1", 21).subarray(3, 8),
      bytes(1, 10, 0, 0, 1),
    );
    assert.deepEqual(
      encodeSocks5Connect("ftp.example", 65535),
      bytes(5, 1, 0, 3, 11, ...ascii("ftp.example"), 255, 255),
    );
    assert.throws(() => encodeSocks5Connect("x".repeat(256), 21), /1 to 255 bytes/);
    assert.throws(() => encodeSocks5Connect("127.0.0.1", 0), /not a TCP port/);
  });

  test("section 6: a success reply with each address type, read once whole", () => {
    const v4 = bytes(5, 0, 0, 1, 10, 0, 0, 2, 4, 0);
    for (let cut = 0; cut < v4.length; cut++) {
      assert.ok("need" in parseSocks5Reply(v4.subarray(0, cut)), `cut at ${cut}`);
    }
    assert.deepEqual(parseSocks5Reply(v4), { value: { host: "10.0.0.2", port: 1024 }, length: 10 });
    // Bytes after the reply (the target's first ones) are not part of it.
    assert.equal((parseSocks5Reply(bytes(...v4, 50, 50, 48)) as { length: number }).length, 10);
    const v6 = bytes(5, 0, 0, 4, 0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 1, 0, 21);
    assert.deepEqual(parseSocks5Reply(v6), {
      value: { host: "2001:db8:0:0:0:0:0:1", port: 21 },
      length: 22,
    });
    const name = bytes(5, 0, 0, 3, 9, ...ascii("localhost"), 0, 0);
    assert.deepEqual(parseSocks5Reply(name.subarray(0, 14)), { need: 16 });
    assert.deepEqual(parseSocks5Reply(name), { value: { host: "localhost", port: 0 }, length: 16 });
    assert.throws(() => parseSocks5Reply(bytes(5, 0, 0, 7, 0)), /address type 7/);
  });

  test("section 6: every other reply code is refused with its meaning", () => {
    const meanings = [
      "general SOCKS server failure",
      "connection not allowed by ruleset",
      "network unreachable",
      "host unreachable",
      "connection refused",
      "TTL expired",
      "command not supported",
      "address type not supported",
    ];
    meanings.forEach((meaning, i) => {
      assert.equal(socks5ReplyText(i + 1), meaning);
      assert.throws(
        () => parseSocks5Reply(bytes(5, i + 1, 0, 1, 0, 0, 0, 0, 0, 0)),
        (error: unknown) =>
          error instanceof Socks5Error && error.reply === i + 1 &&
          error.message === `the SOCKS5 proxy refused the connection: ${meaning} (reply ${i + 1})`,
      );
    });
    assert.throws(
      () => parseSocks5Reply(bytes(5, 9, 0, 1, 0)),
      /unassigned reply code 9 \(reply 9\)/,
    );
  });
});

describe("HTTP CONNECT codec (RFC 9110 section 9.3.6)", () => {
  test("the request in authority form, with Basic proxy credentials (RFC 7617)", () => {
    assert.equal(
      text(encodeHttpConnect("ftp.example", 21)),
      "CONNECT ftp.example:21 HTTP/1.1\r\nHost: ftp.example:21\r\n\r\n",
    );
    assert.equal(
      text(encodeHttpConnect("::1", 990, { user: "Aladdin", password: "open sesame" })),
      "CONNECT [::1]:990 HTTP/1.1\r\nHost: [::1]:990\r\n" +
        "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n",
    );
    // RFC 7617 section 2.1: UTF-8.
    assert.match(text(encodeHttpConnect("h", 1, { user: "é", password: "" })), /Basic w6k6\r\n/);
    assert.throws(
      () => encodeHttpConnect("h", 1, { user: "a:b", password: "" }),
      /cannot hold ':'/,
    );
    assert.throws(() => encodeHttpConnect("a b\r\nX: y", 21), /not a host/);
    assert.throws(() => encodeHttpConnect("h", 70000), /not a TCP port/);
  });

  test("a 2xx opens the tunnel after the header; interim 1xx responses are passed over", () => {
    const ok = ascii("HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n220 hi\r\n");
    for (let cut = 0; cut < ok.length - 8; cut++) {
      assert.deepEqual(parseHttpConnectResponse(ok.subarray(0, cut)), { need: true });
    }
    assert.deepEqual(parseHttpConnectResponse(ok), { status: 200, length: ok.length - 8 });
    assert.deepEqual(parseHttpConnectResponse(ascii("HTTP/1.0 200 OK\n\n")), {
      status: 200,
      length: 17,
    });
    const interim = ascii("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    assert.deepEqual(parseHttpConnectResponse(interim), { status: 204, length: interim.length });
  });

  test("any other status is refused with it and its reason; 401 and 407 ask for credentials", () => {
    assert.throws(
      () => parseHttpConnectResponse(ascii("HTTP/1.1 403 Filtered\r\n\r\n")),
      (error: unknown) =>
        error instanceof HttpConnectError && error.status === 403 &&
        error.message === "the HTTP proxy refused the tunnel: 403 Filtered",
    );
    assert.throws(
      () => parseHttpConnectResponse(ascii("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")),
      /407 Proxy Authentication Required \(the proxy requires authentication/,
    );
    assert.throws(() => parseHttpConnectResponse(ascii("HTTP/1.1 401\r\n\r\n")), /401 \(the proxy/);
    // A hostile reason is cut and shown as printable ASCII only.
    assert.throws(
      () => parseHttpConnectResponse(ascii(`HTTP/1.1 502 \u001b[31m${"x".repeat(500)}\r\n\r\n`)),
      (error: unknown) =>
        (error as Error).message ===
          `the HTTP proxy refused the tunnel: 502 ?[31m${"x".repeat(115)}`,
    );
    assert.throws(
      () => parseHttpConnectResponse(ascii("SSH-2.0-OpenSSH\r\n\r\n")),
      /not an HTTP proxy/,
    );
  });

  test("a header not ended within 16 KiB is refused", () => {
    const long = ascii(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(HTTP_CONNECT_MAX_HEADER)}`);
    assert.throws(() => parseHttpConnectResponse(long), /over 16384 bytes/);
    assert.throws(
      () => parseHttpConnectResponse(ascii("HTTP/1.1 200 OK\r\nX: 1234\r\n\r\n"), 20),
      /over 20 bytes/,
    );
  });
});

describe("FTPS client proxy URLs", () => {
  test("schemes, credentials (percent-decoded, options winning), IPv6 and the default port", () => {
    assert.deepEqual(parseProxy("socks5://127.0.0.1:1080"), {
      kind: "socks5",
      host: "127.0.0.1",
      port: 1080,
    });
    assert.deepEqual(parseProxy("SOCKS5H://fred:p%40ss%3A@[::1]:9050/"), {
      kind: "socks5h",
      host: "::1",
      port: 9050,
      auth: { user: "fred", password: "p@ss:" },
    });
    assert.deepEqual(parseProxy("http://proxy.example"), {
      kind: "http",
      host: "proxy.example",
      port: 1080,
    });
    assert.deepEqual(parseProxy({ url: "http://a:b@h:3128", user: "c", password: "d" }).auth, {
      user: "c",
      password: "d",
    });
    assert.deepEqual(parseProxy("http://fred@h:3128").auth, { user: "fred", password: "" });
  });

  test("what cannot be read is refused clearly", () => {
    assert.throws(() => parseProxy("https://h:443"), /https:\/\/ is not supported/);
    assert.throws(() => parseProxy("socks4://h:1080"), /socks4:\/\/ is not supported/);
    assert.throws(() => parseProxy("h:1080"), /not a proxy URL/);
    assert.throws(() => parseProxy("http://h:1080/path"), /not a proxy URL/);
    assert.throws(() => parseProxy("http://h:0"), /not 1-65535/);
    assert.throws(() => parseProxy("http://a:%zz@h"), /password is not valid percent-encoding/);
    assert.throws(() => parseProxy({ url: "http://h", password: "x" }), /needs a username/);
  });
});
