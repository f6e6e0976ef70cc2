// IP addresses and CIDR networks: strict parsing (RFC 4632 section 3.1, RFC 4291 section 2.3),
// containment across IPv4 and IPv4-mapped IPv6 (RFC 4291 section 2.5.5.2), and the list matcher;
// checked against a bit-by-bit model on random input.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type IpAddress,
  IpNetworkList,
  networkContains,
  parseIpAddress,
  parseIpNetwork,
} from "../../io/cidr.ts";

const v4 = (...bytes: number[]): IpAddress => ({ family: 4, bytes: Uint8Array.from(bytes) });

describe("parseIpAddress", () => {
  test("IPv4 in its one spelling, IPv6 in every RFC 4291 text form", () => {
    assert.deepEqual(parseIpAddress("192.0.2.1"), v4(192, 0, 2, 1));
    assert.deepEqual(
      parseIpAddress("::1").bytes,
      Uint8Array.from({ length: 16 }, (_, i) => +(i === 15)),
    );
    assert.deepEqual(
      parseIpAddress("2001:DB8::8:800:200C:417A"),
      parseIpAddress("2001:db8:0:0:8:800:200c:417a"),
    );
    assert.deepEqual(parseIpAddress("::13.1.68.3"), parseIpAddress("::d01:4403"));
  });

  test("an IPv4-mapped IPv6 address is its IPv4 address, in any spelling", () => {
    for (const text of ["::ffff:127.0.0.2", "::FFFF:7f00:2", "0:0:0:0:0:ffff:127.0.0.2"]) {
      assert.deepEqual(parseIpAddress(text), v4(127, 0, 0, 2), text);
    }
  });

  test("a zone names an interface and is dropped; only on IPv6", () => {
    assert.deepEqual(parseIpAddress("fe80::1%eth0"), parseIpAddress("fe80::1"));
    assert.throws(() => parseIpAddress("127.0.0.1%lo"), SyntaxError);
    assert.throws(() => parseIpAddress("fe80::1%"), SyntaxError);
    assert.throws(() => parseIpAddress("fe80::1%a b"), SyntaxError);
  });

  test("anything else is refused with its text in the message", () => {
    for (
      const text of [
        "",
        "127.1",
        "010.0.0.1",
        "0x7f.0.0.1",
        "256.0.0.1",
        "1.2.3.4.",
        " 1.2.3.4",
        "1::2::3",
        "1:2:3:4:5:6:7:8:9",
        "12345::",
        "[::1]",
        "localhost",
        "10.0.0.0/8",
      ]
    ) {
      assert.throws(() => parseIpAddress(text), (error: Error) => {
        assert.ok(error instanceof SyntaxError);
        assert.equal(error.message, `Not an IP address: "${text}"`);
        return true;
      });
    }
  });
});

describe("parseIpNetwork", () => {
  test("ADDRESS/PREFIX, or a lone address as a /32 or /128", () => {
    assert.deepEqual(parseIpNetwork("10.0.0.0/8"), {
      family: 4,
      bytes: Uint8Array.from([10, 0, 0, 0]),
      prefix: 8,
      text: "10.0.0.0/8",
    });
    assert.equal(parseIpNetwork("127.0.0.1").prefix, 32);
    assert.equal(parseIpNetwork("::1").prefix, 128);
    assert.equal(parseIpNetwork("0.0.0.0/0").prefix, 0);
    assert.equal(parseIpNetwork("2001:db8::/32").family, 6);
  });

  test("bits past the prefix are refused, and the message names the network meant", () => {
    assert.throws(
      () => parseIpNetwork("192.168.1.1/16"),
      /"192\.168\.1\.1\/16" has bits set past its \/16 prefix \(the network is 192\.168\.0\.0\/16\)/,
    );
    assert.throws(
      () => parseIpNetwork("2001:db8::1/32"),
      /the network is 2001:db8:0:0:0:0:0:0\/32/,
    );
    assert.throws(() => parseIpNetwork("10.0.0.128/24"), SyntaxError);
    assert.equal(parseIpNetwork("10.0.0.128/25").prefix, 25);
  });

  test("prefix lengths in their one spelling, within the family's bits", () => {
    for (
      const text of ["10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/", "10.0.0.0/-1", "::/129", "::/1e2"]
    ) {
      assert.throws(
        () => parseIpNetwork(text),
        /the prefix length is 0-(32|128) for IPv[46]/,
        text,
      );
    }
  });

  test("no zone, no host name, no spaces", () => {
    for (
      const text of ["fe80::%eth0/64", "example.com/24", "10.0.0.0 /8", "10.0.0.0/8 ", "/8", ""]
    ) {
      assert.throws(() => parseIpNetwork(text), SyntaxError, text);
    }
  });

  test("a mapped network written as IPv6 stays IPv6", () => {
    const network = parseIpNetwork("::ffff:10.0.0.0/104");
    assert.equal(network.family, 6);
    assert.equal(network.prefix, 104);
  });
});

describe("networkContains", () => {
  test("IPv4 networks hold IPv4 addresses however the socket reports them", () => {
    const loopback = parseIpNetwork("127.0.0.0/8");
    assert.ok(networkContains(loopback, "127.0.0.2"));
    assert.ok(networkContains(loopback, "::ffff:127.9.9.9"));
    assert.ok(!networkContains(loopback, "128.0.0.1"));
    assert.ok(!networkContains(loopback, "::1"));
    assert.ok(!networkContains(loopback, "::7f00:1"), "IPv4-compatible is not IPv4-mapped");
  });

  test("IPv6 networks hold IPv4 addresses by their mapped form", () => {
    assert.ok(networkContains(parseIpNetwork("::/0"), "192.0.2.1"));
    assert.ok(networkContains(parseIpNetwork("::ffff:0:0/96"), "192.0.2.1"));
    assert.ok(networkContains(parseIpNetwork("::ffff:10.0.0.0/104"), "10.200.0.1"));
    assert.ok(!networkContains(parseIpNetwork("::ffff:10.0.0.0/104"), "11.0.0.1"));
    assert.ok(!networkContains(parseIpNetwork("2001:db8::/32"), "192.0.2.1"));
  });

  test("a prefix that ends inside a byte", () => {
    const network = parseIpNetwork("10.0.0.192/27");
    assert.ok(networkContains(network, "10.0.0.223"));
    assert.ok(!networkContains(network, "10.0.0.224"));
    assert.ok(!networkContains(network, "10.0.0.191"));
    const six = parseIpNetwork("2001:db8:8000::/33");
    assert.ok(networkContains(six, "2001:db8:ffff::1"));
    assert.ok(!networkContains(six, "2001:db8:7fff::1"));
  });

  test("text that is no address throws, rather than matching or not", () => {
    assert.throws(() => networkContains(parseIpNetwork("::/0"), "localhost"), SyntaxError);
  });

  test("agrees with a bit-by-bit model on random addresses and networks", () => {
    const bitAt = (bytes: Uint8Array, i: number) => (bytes[i >> 3] >> (7 - (i & 7))) & 1;
    const asV6 = (address: IpAddress) =>
      address.family === 6
        ? address.bytes
        : Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...address.bytes]);
    const text = (family: 4 | 6, bytes: Uint8Array) =>
      family === 4
        ? bytes.join(".")
        : Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16))
          .join(":");
    const address = fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => text(4, bytes)),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => text(6, bytes)),
      // Mapped ones, and near misses, often.
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => `::ffff:${bytes.join(".")}`),
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => `::fffe:${bytes.join(".")}`),
    );
    fc.assert(
      fc.property(address, address, fc.integer({ min: 0, max: 128 }), (base, probe, bits) => {
        const parsed = parseIpAddress(base);
        // The written family decides the network's: an IPv4-mapped address written as IPv6 too.
        const family = base.includes(":") ? 6 : 4;
        const prefix = Math.min(bits, family === 4 ? 32 : 128);
        const full = family === 4 ? parsed.bytes : asV6(parsed);
        const masked = full.map((byte, i) =>
          byte & (0xff00 >> Math.max(0, Math.min(8, prefix - 8 * i)))
        );
        const network = parseIpNetwork(`${text(family, masked)}/${prefix}`);
        const target = parseIpAddress(probe);
        let expected: boolean;
        if (family === 4) {
          expected = target.family === 4 &&
            Array.from({ length: prefix }, (_, i) => i).every((i) =>
              bitAt(target.bytes, i) === bitAt(masked, i)
            );
        } else {
          const bytes = asV6(target);
          expected = Array.from({ length: prefix }, (_, i) => i).every((i) =>
            bitAt(bytes, i) === bitAt(masked, i)
          );
        }
        assert.equal(networkContains(network, target), expected);
        assert.equal(networkContains(network, probe), expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("IpNetworkList", () => {
  test("finds the first network that holds an address", () => {
    const list = new IpNetworkList([
      "10.0.0.0/8",
      "10.1.0.0/16",
      "::1",
      parseIpNetwork("fd00::/8"),
    ]);
    assert.equal(list.find("10.1.2.3")?.text, "10.0.0.0/8");
    assert.equal(list.find("::1")?.text, "::1");
    assert.equal(list.find("fd12::1")?.text, "fd00::/8");
    assert.equal(list.find("192.0.2.1"), undefined);
    assert.ok(list.contains(parseIpAddress("::ffff:10.9.9.9")));
    assert.ok(!list.contains("127.0.0.1"));
    assert.equal(list.networks.length, 4);
  });

  test("an empty list holds nothing; a bad entry is named when the list is made", () => {
    assert.ok(!new IpNetworkList([]).contains("127.0.0.1"));
    assert.throws(() => new IpNetworkList(["10.0.0.0/8", "10.0.0.1/8"]), /"10\.0\.0\.1\/8"/);
  });
});
