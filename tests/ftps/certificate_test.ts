// createFtpsCertificate: the certificates as the runtime's own X.509 parser reads them, and real TLS
// handshakes over loopback against them (node:tls everywhere, Deno's native TLS on Deno).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { connect, createServer, type Server, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { createFtpsCertificate, type FtpsCertificate } from "../../ftps/certificate.ts";
import { runtime } from "../_runtime.ts";

/** The subjectAltName entries, normalized: "DNS:name" or "IP:<16 or 4 bytes as hex>". */
function altNames(certificate: X509Certificate): string[] {
  const text = certificate.subjectAltName ?? "";
  return text.split(/,\s*/).filter((entry) => entry !== "").map((entry) => {
    const match = /^IP Address:(.*)$/.exec(entry);
    return match ? `IP:${ipHex(match[1])}` : entry;
  });
}

/** An IP address as printed by any runtime (compressed or not, any case, with a dotted IPv4 tail
 * or not) as plain hex bytes. */
function ipHex(text: string): string {
  const dotted = /^(.*?)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const bytes = dotted.slice(2).map((part) => Number(part).toString(16).padStart(2, "0"));
    if (dotted[1] === "") return bytes.join("");
    text = `${dotted[1]}${bytes[0]}${bytes[1]}:${bytes[2]}${bytes[3]}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const missing = tail === undefined ? 0 : 8 - groups(head).length - groups(tail).length;
  return [...groups(head), ...new Array<string>(missing).fill("0"), ...groups(tail)]
    .map((group) => group.toLowerCase().padStart(4, "0"))
    .join("");
}

/** The value of `key` in an X.509 name as printed by `X509Certificate` ("CN=x\nO=y"). */
function nameField(name: string | undefined, key: string): string | undefined {
  // Deno gives undefined for an empty name.
  for (const line of (name ?? "").split(/\n|,\s*/)) {
    const [field, ...value] = line.split("=");
    if (field.trim() === key) return value.join("=");
  }
  return undefined;
}

function serial(pem: string): bigint {
  // Hex, with or without a leading zero digit depending on the runtime.
  return BigInt(`0x${new X509Certificate(pem).serialNumber}`);
}

function publicKey(pem: string): string {
  return new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" }).toString("hex");
}

describe("createFtpsCertificate", () => {
  test("the leaf and the CA parse, chain, and carry the default names", async () => {
    // The clock around the call: the certificate's own "now" lies between these two.
    const before = Date.now();
    const generated = await createFtpsCertificate();
    const after = Date.now();
    const leaf = new X509Certificate(generated.certPem);
    const ca = new X509Certificate(generated.caPem);

    assert.equal(nameField(leaf.subject, "CN"), "localhost");
    assert.equal(nameField(leaf.issuer, "CN"), "ftkit ephemeral CA");
    assert.equal(nameField(ca.subject, "CN"), "ftkit ephemeral CA");
    assert.deepEqual(altNames(leaf), [
      "DNS:localhost",
      "IP:7f000001",
      "IP:00000000000000000000000000000001",
    ]);

    assert.ok(leaf.checkIssued(ca), "the CA issued the leaf");
    assert.ok(!ca.checkIssued(leaf), "the leaf did not issue the CA");
    assert.equal(leaf.verify(ca.publicKey), true);
    assert.equal(ca.verify(ca.publicKey), true, "the CA is self-signed");
    assert.equal(leaf.verify(leaf.publicKey), false);
    assert.equal(ca.ca, true);
    assert.equal(leaf.ca, false);
    assert.equal(leaf.publicKey.asymmetricKeyType, "ec");

    const now = Date.now();
    // Within [earliest, latest], allowing for the printed times' whole seconds; no bound on how
    // long generating took.
    const near = (time: number, earliest: number, latest: number) =>
      time >= earliest - 1000 && time <= latest;
    for (const certificate of [leaf, ca]) {
      const from = Date.parse(certificate.validFrom);
      const to = Date.parse(certificate.validTo);
      assert.ok(from <= now && now < to, `${certificate.validFrom} to ${certificate.validTo}`);
      // 30 days from the call, started an hour before it.
      assert.ok(near(from, before - 3_600_000, after - 3_600_000), certificate.validFrom);
      assert.ok(near(to, before + 30 * 86_400_000, after + 30 * 86_400_000), certificate.validTo);
    }

    assert.match(generated.fingerprint, /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
    assert.equal(generated.fingerprint, leaf.fingerprint256);
    assert.equal(generated.caFingerprint, ca.fingerprint256);
    assert.notEqual(generated.fingerprint, generated.caFingerprint);

    assert.match(
      generated.keyPem,
      /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/,
    );
    for (const pem of [generated.certPem, generated.caPem]) {
      assert.match(
        pem,
        /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE-----\n$/,
      );
    }
  });

  test("custom names, validity and CA name show up in the certificates", async () => {
    const notBefore = new Date("2030-01-02T03:04:05.678Z");
    const generated = await createFtpsCertificate({
      names: ["ftp.example.test", "10.1.2.3", "fe80::1", "::ffff:192.0.2.1", "*.example.test"],
      days: 9000,
      notBefore,
      caName: "Test CA",
    });
    const leaf = new X509Certificate(generated.certPem);
    const ca = new X509Certificate(generated.caPem);
    assert.equal(nameField(leaf.subject, "CN"), "ftp.example.test");
    assert.equal(nameField(leaf.issuer, "CN"), "Test CA");
    assert.equal(nameField(ca.subject, "CN"), "Test CA");
    assert.deepEqual(altNames(leaf), [
      "DNS:ftp.example.test",
      "IP:0a010203",
      "IP:fe800000000000000000000000000001",
      "IP:00000000000000000000ffffc0000201",
      "DNS:*.example.test",
    ]);
    assert.ok(leaf.checkIssued(ca));
    assert.equal(leaf.verify(ca.publicKey), true);
    assert.equal(leaf.checkHost("ftp.example.test"), "ftp.example.test");
    assert.equal(leaf.checkIP("10.1.2.3"), "10.1.2.3");
    assert.equal(leaf.checkHost("localhost"), undefined);
    // Whole seconds; notAfter is 9000 days after notBefore, past 2049 so a GeneralizedTime.
    assert.equal(Date.parse(leaf.validFrom), Date.parse("2030-01-02T03:04:05Z"));
    assert.equal(Date.parse(leaf.validTo), Date.parse("2054-08-24T03:04:05Z"));
    assert.equal(Date.parse(ca.validTo), Date.parse(leaf.validTo));
  });

  test("bad options throw before anything is generated", async () => {
    const cases: [unknown, ErrorConstructor, RegExp][] = [
      [{ names: [] }, RangeError, /empty/],
      [{ names: "localhost" }, TypeError, /not an array/],
      [{ names: [42] }, TypeError, /not a string/],
      [{ names: [""] }, RangeError, /""/],
      [{ names: ["localhost", "bad_name"] }, RangeError, /"bad_name"/],
      [{ names: ["-lead.example"] }, RangeError, /-lead/],
      [{ names: ["a..b"] }, RangeError, /a\.\.b/],
      [{ names: ["256.1.1.1"] }, RangeError, /256\.1\.1\.1/],
      [{ names: ["1.2.3"] }, RangeError, /1\.2\.3/],
      [{ names: ["1::2::3"] }, RangeError, /1::2::3/],
      [{ names: ["1:2:3:4:5:6:7:8:9"] }, RangeError, /not an IP address or a DNS name/],
      [{ names: ["fe80::1%eth0"] }, RangeError, /fe80/],
      [{ names: ["[::1]"] }, RangeError, /\[::1\]/],
      [{ names: ["bücher.example"] }, RangeError, /bücher/],
      [{ names: [`${"a".repeat(64)}.example`] }, RangeError, /aaaa/],
      [{ days: 0 }, RangeError, /positive integer/],
      [{ days: -1 }, RangeError, /positive integer/],
      [{ days: 1.5 }, RangeError, /positive integer/],
      [{ days: Number.NaN }, RangeError, /positive integer/],
      [{ days: "30" }, TypeError, /not a number/],
      [{ days: 10_000_000 }, RangeError, /9999/],
      [{ notBefore: "2030-01-01" }, TypeError, /not a Date/],
      [{ notBefore: new Date(Number.NaN) }, RangeError, /invalid Date/],
      [{ caName: "" }, RangeError, /1 to 64/],
      [{ caName: "x".repeat(65) }, RangeError, /1 to 64/],
    ];
    for (const [options, type, message] of cases) {
      await assert.rejects(
        createFtpsCertificate(options as Parameters<typeof createFtpsCertificate>[0]),
        (error: unknown) => error instanceof type && message.test((error as Error).message),
        JSON.stringify(options),
      );
    }
  });

  test("a first name too long for a common name leaves the subject empty", async () => {
    const long = `${"a".repeat(60)}.example.test`;
    const leaf = new X509Certificate((await createFtpsCertificate({ names: [long] })).certPem);
    assert.equal(nameField(leaf.subject, "CN"), undefined);
    assert.deepEqual(altNames(leaf), [`DNS:${long}`]);
    assert.equal(leaf.checkHost(long), long);
  });

  test("every call makes new keys and serial numbers", async () => {
    const [first, second] = await Promise.all([createFtpsCertificate(), createFtpsCertificate()]);
    const serials = [first.caPem, first.certPem, second.caPem, second.certPem].map(serial);
    assert.equal(new Set(serials).size, 4, serials.join(" "));
    for (const value of serials) {
      // 16 bytes, the first non-zero and below 0x80 (so positive without a sign byte).
      assert.ok(value >= 1n << 120n && value < 1n << 127n, value.toString(16));
    }
    assert.notEqual(publicKey(first.certPem), publicKey(second.certPem));
    assert.notEqual(publicKey(first.caPem), publicKey(second.caPem));
    assert.notEqual(publicKey(first.caPem), publicKey(first.certPem));
    assert.notEqual(first.keyPem, second.keyPem);
    assert.notEqual(first.fingerprint, second.fingerprint);
  });
});

/** A node:tls server with the generated leaf on 127.0.0.1 that answers "hi" and hangs up. */
async function tlsServer(
  generated: FtpsCertificate,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer(
    { cert: generated.certPem, key: generated.keyPem },
    (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      socket.end("hi");
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connects with node:tls, verifying against the CA; resolves with what the server sent. */
function nodeClient(
  port: number,
  ca: string,
  servername: string | undefined,
): Promise<{ authorized: boolean; received: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca,
      rejectUnauthorized: true,
      ...(servername === undefined ? {} : { servername }),
    });
    let received = "";
    let authorized = false;
    socket.setEncoding("utf8");
    socket.on("secureConnect", () => authorized = socket.authorized);
    socket.on("data", (chunk: string) => received += chunk);
    socket.on("error", (error) => {
      socket.destroy();
      reject(error);
    });
    socket.on("end", () => {
      socket.destroy();
      resolve({ authorized, received });
    });
  });
}

// The slice of Deno's API used here, typed by hand so the file also compiles without Deno types.
interface DenoConn {
  read(buffer: Uint8Array): Promise<number | null>;
  handshake(): Promise<unknown>;
  close(): void;
}
interface DenoApi {
  connect(options: { hostname: string; port: number }): Promise<DenoConn>;
  connectTls(options: { hostname: string; port: number; caCerts: string[] }): Promise<DenoConn>;
  startTls(conn: DenoConn, options: { hostname: string; caCerts: string[] }): Promise<DenoConn>;
}

/** Handshakes on `conn`, reads to the end, closes; returns what arrived. */
async function denoReceive(conn: DenoConn): Promise<string> {
  try {
    await conn.handshake();
    const buffer = new Uint8Array(64);
    let received = "";
    const decoder = new TextDecoder();
    for (let i = 0; i < 100; i++) {
      const count = await conn.read(buffer);
      if (count === null) break;
      received += decoder.decode(buffer.subarray(0, count));
    }
    return received;
  } finally {
    conn.close();
  }
}

describe("createFtpsCertificate over TLS", () => {
  test("node:tls clients verify the leaf by name and by IP address against the CA", async () => {
    const generated = await createFtpsCertificate();
    const server = await tlsServer(generated);
    try {
      assert.deepEqual(await nodeClient(server.port, generated.caPem, "localhost"), {
        authorized: true,
        received: "hi",
      });
      assert.deepEqual(await nodeClient(server.port, generated.caPem, undefined), {
        authorized: true,
        received: "hi",
      });
      // Not a name the leaf holds, and not a CA the client trusts: both refused.
      await assert.rejects(nodeClient(server.port, generated.caPem, "example.test"));
      const other = await createFtpsCertificate();
      await assert.rejects(nodeClient(server.port, other.caPem, "localhost"));
    } finally {
      await server.close();
    }
  });

  test(
    "Deno's native TLS verifies the leaf against the CA",
    { skip: runtime === "deno" ? false : "Deno only" },
    async () => {
      const deno = (globalThis as unknown as { Deno: DenoApi }).Deno;
      const generated = await createFtpsCertificate();
      const server = await tlsServer(generated);
      try {
        // By name: TCP to 127.0.0.1, then TLS checking "localhost" (which may resolve to ::1).
        const tcp = await deno.connect({ hostname: "127.0.0.1", port: server.port });
        const byName = await deno.startTls(tcp, {
          hostname: "localhost",
          caCerts: [generated.caPem],
        });
        assert.equal(await denoReceive(byName), "hi");
        // By IP address.
        const byIp = await deno.connectTls({
          hostname: "127.0.0.1",
          port: server.port,
          caCerts: [generated.caPem],
        });
        assert.equal(await denoReceive(byIp), "hi");
        // Against another CA: refused.
        const other = await createFtpsCertificate();
        const untrusted = await deno.connectTls({
          hostname: "127.0.0.1",
          port: server.port,
          caCerts: [other.caPem],
        });
        await assert.rejects(denoReceive(untrusted));
      } finally {
        await server.close();
      }
    },
  );
});
