// The PROXY protocol codec on random input: every header it writes it reads back, from any
// prefix it asks for more and never decides early, its decision never changes as more bytes
// come, and on any bytes at all it throws nothing but ProxyProtocolError and never reads past
// its bounds.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  decodeProxyProtocolHeader,
  encodeProxyProtocolHeader,
  PROXY_PROTOCOL_V1_MAX_LENGTH,
  PROXY_PROTOCOL_V2_DEFAULT_MAX_LENGTH,
  ProxyProtocolError,
  type ProxyProtocolHeader,
  type ProxyProtocolHeaderInit,
  sameFtpHost,
} from "../../codec/mod.ts";

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) =>
  parts.join(".")
);
// Full, compressed and mapped spellings.
const ipv6 = fc.oneof(
  fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((groups) =>
    groups.map((group) => group.toString(16)).join(":")
  ),
  fc.tuple(
    fc.array(fc.nat(0xffff), { maxLength: 3 }),
    fc.array(fc.nat(0xffff), { maxLength: 3 }),
  ).map(([head, tail]) =>
    `${head.map((g) => g.toString(16)).join(":")}::${tail.map((g) => g.toString(16)).join(":")}`
  ),
  ipv4.map((address) => `::ffff:${address}`),
);
const endpoint = (host: fc.Arbitrary<string>) =>
  fc.record({ host, port: fc.nat(65535) }, { noNullPrototype: true });
const tlvs = fc.array(
  fc.record({
    // Not CRC32C: a TLV of that type must hold the header's checksum.
    type: fc.nat(255).filter((type) => type !== 3),
    value: fc.uint8Array({ maxLength: 40 }),
  }, { noNullPrototype: true }),
  { maxLength: 4 },
);

const inet = (transport: "tcp4" | "tcp6" | "udp4" | "udp6") => {
  const host = transport.endsWith("4") ? ipv4 : ipv6;
  return fc.record({
    transport: fc.constant(transport),
    source: endpoint(host),
    destination: endpoint(host),
  }, {
    noNullPrototype: true,
  });
};

const header: fc.Arbitrary<ProxyProtocolHeaderInit> = fc.oneof(
  fc.oneof(inet("tcp4"), inet("tcp6"), fc.constant({ transport: "unknown" as const }))
    .map((fields) => ({ version: 1 as const, ...fields })),
  fc.tuple(
    fc.oneof(
      inet("tcp4"),
      inet("tcp6"),
      inet("udp4"),
      inet("udp6"),
      fc.constant({ transport: "unknown" as const }),
      fc.constant({ transport: "unknown" as const, command: "local" as const }),
    ),
    tlvs,
    fc.boolean(),
  ).map(([fields, list, checksum]) => ({ version: 2 as const, ...fields, tlvs: list, checksum })),
);

/** Decodes, or says how it failed: `error` for a ProxyProtocolError, anything else is thrown. */
function attempt(bytes: Uint8Array): ProxyProtocolHeader | undefined | "error" {
  try {
    return decodeProxyProtocolHeader(bytes);
  } catch (error) {
    if (error instanceof ProxyProtocolError) return "error";
    throw error;
  }
}

describe("PROXY protocol codec properties", () => {
  test("what is encoded decodes to itself, and its length says where data starts", () => {
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 64 }), (sent, data) => {
        const bytes = encodeProxyProtocolHeader(sent);
        const decoded = decodeProxyProtocolHeader(Uint8Array.of(...bytes, ...data))!;
        assert.equal(decoded.length, bytes.length);
        assert.equal(decoded.version, sent.version);
        assert.equal(decoded.command, sent.command ?? "proxy");
        assert.equal(decoded.transport, sent.transport);
        for (const end of ["source", "destination"] as const) {
          if (sent.command === "local" || sent.transport === "unknown") {
            assert.equal(decoded[end], undefined);
            continue;
          }
          assert.ok(sameFtpHost(decoded[end]!.host, sent[end]!.host));
          assert.equal(decoded[end]!.port, sent[end]!.port);
        }
        if (sent.version === 2 && sent.command !== "local") {
          const expected = sent.tlvs!.length + (sent.checksum ? 1 : 0);
          assert.equal(decoded.tlvs.length, expected);
          sent.tlvs!.forEach((tlv, i) => {
            assert.equal(decoded.tlvs[i].type, tlv.type);
            assert.equal(Buffer.compare(decoded.tlvs[i].value, tlv.value), 0);
          });
        }
        // Re-encoding what was decoded gives as many bytes (a LOCAL block, TLVs and all, is skipped).
        if (sent.version === 1 || (sent.command !== "local" && !sent.checksum)) {
          const again = encodeProxyProtocolHeader({
            version: decoded.version,
            command: decoded.command,
            transport: decoded.transport as ProxyProtocolHeaderInit["transport"],
            ...(decoded.source ? { source: decoded.source, destination: decoded.destination } : {}),
            ...(decoded.version === 2 && decoded.command === "proxy" ? { tlvs: decoded.tlvs } : {}),
          });
          assert.equal(again.length, bytes.length);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test("every strict prefix of a header asks for more, and never decides early", () => {
    fc.assert(
      fc.property(header, (sent) => {
        const bytes = encodeProxyProtocolHeader(sent);
        for (let n = 0; n < bytes.length; n++) {
          assert.equal(decodeProxyProtocolHeader(bytes.subarray(0, n)), undefined, `${n} bytes`);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("any bytes: only ProxyProtocolError, within the bounds, and a decision that more bytes never change", () => {
    // Random bytes, and valid headers mutated: a byte changed, cut, or bytes inserted.
    const mutated = fc.tuple(
      header,
      fc.nat(),
      fc.nat(255),
      fc.nat(3),
      fc.uint8Array({ maxLength: 8 }),
    )
      .map(([sent, at, byte, how, extra]) => {
        const bytes = encodeProxyProtocolHeader(sent);
        const i = at % bytes.length;
        if (how === 0) {
          return Uint8Array.of(...bytes.subarray(0, i), byte, ...bytes.subarray(i + 1));
        }
        if (how === 1) return bytes.subarray(0, i);
        if (how === 2) {
          return Uint8Array.of(...bytes.subarray(0, i), ...extra, ...bytes.subarray(i));
        }
        return Uint8Array.of(...bytes, ...extra);
      });
    const anyBytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 120 }).map((rest) =>
        Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20, ...rest)
      ),
      mutated,
    );
    fc.assert(
      fc.property(anyBytes, fc.uint8Array({ maxLength: 40 }), (bytes, more) => {
        const first = attempt(bytes);
        const later = attempt(Uint8Array.of(...bytes, ...more));
        if (first === "error") {
          assert.equal(later, "error", "a refusal stands whatever comes after");
        } else if (first !== undefined) {
          assert.ok(first.length <= bytes.length);
          const bound = first.version === 1
            ? PROXY_PROTOCOL_V1_MAX_LENGTH
            : PROXY_PROTOCOL_V2_DEFAULT_MAX_LENGTH;
          assert.ok(first.length <= bound);
          assert.deepEqual(later, first, "a header stays the same header");
        }
      }),
      { numRuns: 5000 },
    );
  });

  test("a header is decided within its bound: 107 bytes for a line, the maximum for version 2", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 101, maxLength: 101 }),
        fc.integer({ min: 16, max: 300 }),
        (rest, max) => {
          const line = Uint8Array.of(
            0x50,
            0x52,
            0x4f,
            0x58,
            0x59,
            0x20,
            ...rest.map((b) => 0x20 + (b % 95)),
          );
          assert.notEqual(attempt(line), undefined, "107 bytes decide a line");
          const v2 = Uint8Array.of(
            0x0d,
            0x0a,
            0x0d,
            0x0a,
            0x00,
            0x0d,
            0x0a,
            0x51,
            0x55,
            0x49,
            0x54,
            0x0a,
            0x21,
            0x11,
            max >> 8,
            max & 255,
          );
          try {
            const header = decodeProxyProtocolHeader(v2, { maxLength: 16 + max - 1 });
            assert.fail(`a declared ${16 + max} bytes past the maximum was taken: ${header}`);
          } catch (error) {
            assert.ok(error instanceof ProxyProtocolError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
