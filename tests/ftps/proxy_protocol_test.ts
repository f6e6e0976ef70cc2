// serveFtps behind a proxy that speaks the PROXY protocol (HAProxy's proxy-protocol.txt), in raw
// bytes, under the runtime running the tests: the header from a trusted proxy is required before
// the greeting and names the client for the log, the limits and the data-connection check; a
// malformed, oversized, slow or truncated one is dropped without a word; one from an address
// that is not trusted is refused. And the passive host per client network.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeProxyProtocolHeader, type ProxyProtocolHeaderInit } from "../../codec/mod.ts";
import { type FtpsLogEntry, serveFtps } from "./_connect.ts";
import { dataConnection, RawFtp, readAll } from "./_raw_ftp.ts";
import { repoFile } from "../_runtime.ts";
import { until } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};

/** A header for a client at `host`:`port` that reached the proxy at 127.0.0.1:21. */
function proxied(version: 1 | 2, host: string, port = 40000): Uint8Array {
  const header: ProxyProtocolHeaderInit = {
    version,
    transport: host.includes(":") ? "tcp6" : "tcp4",
    source: { host, port },
    destination: { host: host.includes(":") ? "::1" : "127.0.0.1", port: 21 },
  };
  return encodeProxyProtocolHeader(header);
}

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** The log entries of one kind. */
function entries<T extends FtpsLogEntry["type"]>(
  log: readonly FtpsLogEntry[],
  type: T,
): Extract<FtpsLogEntry, { type: T }>[] {
  return log.filter((entry): entry is Extract<FtpsLogEntry, { type: T }> => entry.type === type);
}

describe("serveFtps behind a PROXY protocol proxy", () => {
  let root: string;
  const log: FtpsLogEntry[] = [];
  const errors: Error[] = [];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-proxy-"));
    await writeFile(join(root, "hello.txt"), "hello\n");
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** A plain FTP server trusting `trusted` as proxies. */
  function server(
    trusted: string[],
    extra: Partial<Parameters<typeof serveFtps>[0]> = {},
  ): ReturnType<typeof serveFtps> {
    return serveFtps({
      root,
      users: { fred: "secret" },
      secure: "none",
      dataProtection: "none",
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
      proxyProtocol: { trusted, headerTimeoutMs: 2000 },
      onLog: (entry) => log.push(entry),
      onError: (error) => errors.push(error),
      ...extra,
    });
  }

  /** Waits until the server closes `ftp`, and says what it sent first (nothing, for a drop). */
  async function dropped(ftp: RawFtp): Promise<string> {
    try {
      await ftp.closed();
      return ftp.unread;
    } finally {
      ftp.close();
    }
  }

  test("version 1 and 2: the greeting comes after the header, and the client is the header's", async () => {
    for (const version of [1, 2] as const) {
      log.length = 0;
      await using ftpd = await server(["127.0.0.0/30"]);
      const ftp = await RawFtp.connect(ftpd.address.port, {
        before: proxied(version, "127.0.0.2"),
      });
      try {
        assert.equal((await ftp.reply()).code, 220);
        assert.equal((await ftp.login("fred", "secret")).code, 230);
        const [login] = entries(log, "login");
        assert.equal(login.remoteAddress, "127.0.0.2", `version ${version}`);
      } finally {
        ftp.close();
      }
      await until(() => entries(log, "closed").length === 1, "the session's end");
      assert.equal(entries(log, "closed")[0].remoteAddress, "127.0.0.2");
    }
  });

  test("nothing is sent before the header, however long it takes within its bound", async () => {
    await using ftpd = await server(["127.0.0.1"]);
    const line = proxied(1, "127.0.0.2");
    const ftp = await RawFtp.connect(ftpd.address.port, { before: line.subarray(0, 10) });
    try {
      // Another client is greeted meanwhile: the server had the time to greet the first.
      const other = await RawFtp.connect(ftpd.address.port, { before: proxied(2, "127.0.0.3") });
      assert.equal((await other.reply()).code, 220);
      other.close();
      assert.equal(ftp.unread, "");
      await ftp.write(line.subarray(10));
      assert.equal((await ftp.reply()).code, 220);
    } finally {
      ftp.close();
    }
  });

  test("the client's first command in the header's segment is not lost", async () => {
    await using ftpd = await server(["127.0.0.1"]);
    const header = proxied(2, "127.0.0.2");
    const ftp = await RawFtp.connect(ftpd.address.port, {
      before: Uint8Array.of(...header, ...ascii("USER fred\r\n")),
    });
    try {
      assert.equal((await ftp.reply()).code, 220);
      assert.equal((await ftp.reply()).code, 331);
      assert.equal((await ftp.command("PASS secret")).code, 230);
    } finally {
      ftp.close();
    }
  });

  test("a malformed, oversized, truncated or slow header is dropped without a greeting", async () => {
    log.length = 0;
    await using ftpd = await server(["127.0.0.1"], {
      proxyProtocol: { trusted: ["127.0.0.1"], headerTimeoutMs: 300 },
    });
    const v2 = proxied(2, "127.0.0.2");
    const cases: [string, Uint8Array][] = [
      ["no header at all", ascii("USER fred\r\n")],
      ["a malformed line", ascii("PROXY TCP4 127.0.0.2 127.0.0.1 040000 21\r\n")],
      ["a line without CRLF in 107 bytes", ascii(`PROXY UNKNOWN ${"x".repeat(100)}`)],
      [
        "an unknown version 2 command",
        Uint8Array.of(...v2.subarray(0, 12), 0x22, ...v2.subarray(13)),
      ],
      ["a version 2 header longer than taken", Uint8Array.of(...v2.subarray(0, 14), 0xff, 0xff)],
    ];
    for (const [what, bytes] of cases) {
      const ftp = await RawFtp.connect(ftpd.address.port, { before: bytes });
      assert.equal(await dropped(ftp), "", what);
    }
    // Truncated: 16 bytes declare an address block of 12, and 8 come; then the proxy stops.
    const truncated = await RawFtp.connect(ftpd.address.port, { before: v2.subarray(0, 24) });
    assert.equal(await dropped(truncated), "", "a truncated version 2 header");
    // Slow: the start of a line, and nothing more within the bound.
    const slow = await RawFtp.connect(ftpd.address.port, { before: ascii("PROXY TCP4 127.0.0.2") });
    assert.equal(await dropped(slow), "", "a header that never ends");
    // Nothing at all.
    const silent = await RawFtp.connect(ftpd.address.port);
    assert.equal(await dropped(silent), "", "a proxy that says nothing");
    await until(() => entries(log, "refused").length === cases.length + 3, "every refusal logged");
    for (const { sessionId, ...entry } of entries(log, "refused")) {
      assert.match(sessionId, /^[0-9a-f]+-\d+$/);
      assert.deepEqual(entry, {
        type: "refused",
        remoteAddress: "127.0.0.1",
        reason: "proxy-header",
      });
    }
    assert.equal(entries(log, "login").length, 0);
  });

  test("a version 2 LOCAL header (a health check) and UNKNOWN: the connection's own address", async () => {
    log.length = 0;
    await using ftpd = await server(["127.0.0.1"]);
    const headers = [
      encodeProxyProtocolHeader({ version: 2, command: "local", transport: "unknown" }),
      encodeProxyProtocolHeader({ version: 1, transport: "unknown" }),
    ];
    for (const header of headers) {
      const ftp = await RawFtp.connect(ftpd.address.port, { before: header });
      try {
        assert.equal((await ftp.reply()).code, 220);
        assert.equal((await ftp.login("fred", "secret")).code, 230);
      } finally {
        ftp.close();
      }
    }
    assert.deepEqual(entries(log, "login").map((entry) => entry.remoteAddress), [
      "127.0.0.1",
      "127.0.0.1",
    ]);
  });

  test("from an address that is not trusted: served as itself; a header from it is refused", async () => {
    log.length = 0;
    await using ftpd = await server(["127.0.0.9"]);
    const plain = await RawFtp.connect(ftpd.address.port);
    try {
      assert.equal((await plain.reply()).code, 220);
      assert.equal((await plain.login("fred", "secret")).code, 230);
      assert.equal(entries(log, "login")[0].remoteAddress, "127.0.0.1");
    } finally {
      plain.close();
    }
    for (const version of [1, 2] as const) {
      const spoof = await RawFtp.connect(ftpd.address.port, {
        before: proxied(version, "10.9.9.9"),
      });
      const sent = await dropped(spoof);
      assert.match(sent, /^220 /, "the greeting went before the header came");
      assert.doesNotMatch(sent, /\r\n[0-9]{3} /, `version ${version}: nothing answered the header`);
    }
    await until(() => entries(log, "refused").length === 2, "both refusals logged");
    for (const { sessionId, ...entry } of entries(log, "refused")) {
      assert.match(sessionId, /^[0-9a-f]+-\d+$/);
      assert.deepEqual(entry, {
        type: "refused",
        remoteAddress: "127.0.0.1",
        reason: "proxy-untrusted",
      });
    }
    assert.ok(!log.some((entry) => "remoteAddress" in entry && entry.remoteAddress === "10.9.9.9"));
  });

  test("the session limit per address and the lockout count the header's client", async () => {
    log.length = 0;
    await using ftpd = await server(["127.0.0.1"], {
      maxSessionsPerIp: 1,
      lockout: { attempts: 1, windowMs: 60_000, durationMs: 60_000 },
    });
    const first = await RawFtp.connect(ftpd.address.port, { before: proxied(1, "127.0.0.2") });
    assert.equal((await first.reply()).code, 220);
    const second = await RawFtp.connect(ftpd.address.port, {
      before: proxied(1, "127.0.0.2", 40001),
    });
    const other = await RawFtp.connect(ftpd.address.port, { before: proxied(1, "127.0.0.3") });
    try {
      assert.equal((await second.reply()).code, 421, "one session for 127.0.0.2");
      assert.equal((await other.reply()).code, 220, "the proxy's other clients are not held back");
      // A failed login locks 127.0.0.3 out, and only it.
      assert.equal((await other.login("fred", "wrong")).code, 530);
      other.close();
      const locked = await RawFtp.connect(ftpd.address.port, { before: proxied(2, "127.0.0.3") });
      assert.equal((await locked.reply()).code, 421);
      locked.close();
      first.close();
      const again = await RawFtp.connect(ftpd.address.port, { before: proxied(2, "127.0.0.2") });
      await until(
        () => entries(log, "closed").some((e) => e.remoteAddress === "127.0.0.2"),
        "first's end",
      );
      assert.equal((await again.reply()).code, 220);
      again.close();
    } finally {
      for (const ftp of [first, second, other]) ftp.close();
    }
    assert.deepEqual(
      entries(log, "refused").map((entry) => [entry.remoteAddress, entry.reason]),
      [["127.0.0.2", "max-sessions-per-ip"], ["127.0.0.3", "locked-out"]],
    );
  });

  test("RFC 2577 section 3: passive data connections must come from the header's client", async () => {
    log.length = 0;
    await using ftpd = await server(["127.0.0.1"]);
    const ftp = await RawFtp.connect(ftpd.address.port, { before: proxied(2, "127.0.0.2") });
    try {
      assert.equal((await ftp.reply()).code, 220);
      assert.equal((await ftp.login("fred", "secret")).code, 230);
      const port = await ftp.epsv();
      // From another address, and from the proxy's own: closed unread.
      const thieves = [
        await dataConnection(port, { localAddress: "127.0.0.3" }),
        await dataConnection(port, { localAddress: "127.0.0.1" }),
      ];
      const stolen = thieves.map((thief) => readAll(thief).catch(() => new Uint8Array(0)));
      assert.equal((await ftp.command("RETR hello.txt")).code, 150);
      for (const got of stolen) assert.equal((await got).length, 0);
      const data = await dataConnection(port, { localAddress: "127.0.0.2" });
      assert.equal(new TextDecoder().decode(await readAll(data)), "hello\r\n"); // TYPE A
      assert.equal((await ftp.reply()).code, 226);
    } finally {
      ftp.close();
    }
    assert.deepEqual(
      entries(log, "data-refused").map((entry) => [entry.remoteAddress, entry.from, entry.reason]),
      [["127.0.0.2", "127.0.0.3", "foreign-host"], ["127.0.0.2", "127.0.0.1", "foreign-host"]],
    );
    assert.equal(entries(log, "transfer")[0].remoteAddress, "127.0.0.2");
  });

  test("with dataThroughProxy, a passive data connection may come from a trusted proxy", async () => {
    log.length = 0;
    await using ftpd = await server([], {
      proxyProtocol: { trusted: ["127.0.0.1"], dataThroughProxy: true },
    });
    const ftp = await RawFtp.connect(ftpd.address.port, { before: proxied(1, "127.0.0.2") });
    try {
      assert.equal((await ftp.reply()).code, 220);
      assert.equal((await ftp.login("fred", "secret")).code, 230);
      const port = await ftp.epsv();
      const thief = await dataConnection(port, { localAddress: "127.0.0.3" });
      const stolen = readAll(thief).catch(() => new Uint8Array(0));
      assert.equal((await ftp.command("RETR hello.txt")).code, 150);
      assert.equal((await stolen).length, 0);
      const data = await dataConnection(port, { localAddress: "127.0.0.1" });
      assert.equal(new TextDecoder().decode(await readAll(data)), "hello\r\n"); // TYPE A
      assert.equal((await ftp.reply()).code, 226);
    } finally {
      ftp.close();
    }
    assert.deepEqual(
      entries(log, "data-refused").map((entry) => entry.from),
      ["127.0.0.3"],
    );
  });

  test("implicit TLS: the header comes before the handshake, in the same segment or not", async () => {
    log.length = 0;
    await using ftpd = await server(["127.0.0.1"], {
      secure: "implicit",
      tls,
      dataProtection: "required",
    });
    for (const version of [1, 2] as const) {
      const ftp = await RawFtp.connect(ftpd.address.port, {
        ca,
        implicit: true,
        before: proxied(version, "127.0.0.2"),
      });
      try {
        assert.equal((await ftp.reply()).code, 220);
        assert.equal((await ftp.login("fred", "secret")).code, 230);
      } finally {
        ftp.close();
      }
    }
    assert.deepEqual(entries(log, "login").map((entry) => entry.remoteAddress), [
      "127.0.0.2",
      "127.0.0.2",
    ]);
  });

  test("closing the server drops the connections still owing their header", async () => {
    const ftpd = await server(["127.0.0.1"], {
      proxyProtocol: { trusted: ["127.0.0.1"], headerTimeoutMs: 60_000 },
    });
    const waiting = await RawFtp.connect(ftpd.address.port, { before: ascii("PROXY ") });
    await ftpd.close();
    assert.equal(await dropped(waiting), "");
  });

  test("the option is checked when the server starts", async () => {
    await assert.rejects(server(["10.0.0.1/8"]), SyntaxError);
    await assert.rejects(server(["localhost"]), SyntaxError);
    await assert.rejects(
      server([], { proxyProtocol: { trusted: [], headerTimeoutMs: 0 } }),
      RangeError,
    );
  });

  test("the server reported no errors", () => {
    assert.deepEqual(errors, []);
  });
});

describe("serveFtps passiveHost per client network", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-pasv-"));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** The address a PASV reply names to a client at `localAddress`. */
  async function pasvFrom(port: number, localAddress: string): Promise<string> {
    const ftp = await RawFtp.connect(port, { host: "127.0.0.5", localAddress });
    try {
      assert.equal((await ftp.reply()).code, 220);
      assert.equal((await ftp.login("fred", "secret")).code, 230);
      const reply = await ftp.command("PASV");
      if (reply.code !== 227) return reply.text;
      return reply.text.match(/\((\d+,\d+,\d+,\d+),/)![1].replaceAll(",", ".");
    } finally {
      ftp.close();
    }
  }

  function server(passiveHost: Parameters<typeof serveFtps>[0]["passiveHost"]) {
    return serveFtps({
      root,
      users: { fred: "secret" },
      secure: "none",
      dataProtection: "none",
      host: "127.0.0.5",
      port: 0,
      passiveHost,
    });
  }

  test("the first rule whose network holds the client wins; a name is resolved; none: local", async () => {
    await using ftpd = await server([
      { network: ["127.0.0.2/32", "10.0.0.0/8"], host: "192.0.2.7" },
      { network: "127.0.0.3" },
      { network: "127.0.0.0/29", host: "localhost" },
    ]);
    const port = ftpd.address.port;
    assert.equal(await pasvFrom(port, "127.0.0.2"), "192.0.2.7");
    assert.equal(await pasvFrom(port, "127.0.0.3"), "127.0.0.5", "a rule without host: local");
    assert.equal(await pasvFrom(port, "127.0.0.4"), "127.0.0.1", "localhost, resolved");
    assert.equal(await pasvFrom(port, "127.0.0.9"), "127.0.0.5", "no rule: local");
  });

  test("a name that does not resolve: 425 to PASV, and EPSV still works", async () => {
    await using ftpd = await server("ftkit-test.invalid");
    const ftp = await RawFtp.connect(ftpd.address.port, { host: "127.0.0.5" });
    try {
      assert.equal((await ftp.reply()).code, 220);
      assert.equal((await ftp.login("fred", "secret")).code, 230);
      const reply = await ftp.command("PASV");
      assert.equal(reply.text, "425 Cannot resolve the passive address: use EPSV.");
      assert.equal((await ftp.command("EPSV")).code, 229);
    } finally {
      ftp.close();
    }
  });

  test("the option is checked when the server starts", async () => {
    await assert.rejects(server("2001:db8::1"), /neither an IPv4 address nor a host name/);
    await assert.rejects(server([{ host: "192.0.2.1" }, {}]), /passiveHost\[1\] needs a network/);
    await assert.rejects(server([{ network: "10.0.0.1/8", host: "192.0.2.1" }]), SyntaxError);
  });
});
