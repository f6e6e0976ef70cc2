// The PROXY protocol header (HAProxy's proxy-protocol.txt): vectors written from the
// specification's text, each citing its section.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeProxyProtocolHeader,
  encodeProxyProtocolHeader,
  isProxyProtocolStart,
  PROXY_PROTOCOL_V1_MAX_LENGTH,
  ProxyProtocolError,
} from "../../codec/mod.ts";

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const hex = (text: string) =>
  Uint8Array.from(text.replace(/\s+/g, "").match(/../g)!, (pair) => parseInt(pair, 16));
const SIGNATURE = "0d0a0d0a000d0a515549540a";

/** The decoder refuses `bytes`, saying so at `offset` with a message matching `message`. */
function refuses(bytes: Uint8Array, offset: number, message: RegExp, maxLength?: number): void {
  assert.throws(
    () => decodeProxyProtocolHeader(bytes, maxLength === undefined ? {} : { maxLength }),
    (error: Error) => {
      assert.ok(error instanceof ProxyProtocolError, String(error));
      assert.match(error.message, message);
      assert.equal(error.offset, offset, error.message);
      return true;
    },
  );
}

describe("PROXY protocol version 1 (section 2.1)", () => {
  test("the section's example, before an HTTP request: the line's length says where data starts", () => {
    const bytes = ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n");
    assert.deepEqual(decodeProxyProtocolHeader(bytes), {
      version: 1,
      command: "proxy",
      transport: "tcp4",
      source: { host: "192.168.0.1", port: 56324 },
      destination: { host: "192.168.0.11", port: 443 },
      tlvs: [],
      length: 47,
    });
  });

  test("the longest lines the receiver must take: 56, 104 and 107 bytes", () => {
    const tcp4 = ascii("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
    assert.equal(tcp4.length, 56);
    assert.equal(decodeProxyProtocolHeader(tcp4)?.length, 56);
    const full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const tcp6 = ascii(`PROXY TCP6 ${full} ${full} 65535 65535\r\n`);
    assert.equal(tcp6.length, 104);
    assert.deepEqual(decodeProxyProtocolHeader(tcp6)?.source, { host: full, port: 65535 });
    const unknown = ascii(`PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`);
    assert.equal(unknown.length, PROXY_PROTOCOL_V1_MAX_LENGTH);
    assert.deepEqual(decodeProxyProtocolHeader(unknown), {
      version: 1,
      command: "proxy",
      transport: "unknown",
      tlvs: [],
      length: 107,
    });
  });

  test("UNKNOWN: what follows it before the CRLF is ignored, and may be absent", () => {
    assert.equal(decodeProxyProtocolHeader(ascii("PROXY UNKNOWN\r\n"))?.transport, "unknown");
    assert.equal(decodeProxyProtocolHeader(ascii("PROXY UNKNOWN whatever\r\n"))?.length, 24);
    refuses(ascii("PROXY UNKNOWNX\r\n"), 6, /Unknown PROXY protocol "UNKNOWNX"/);
  });

  test("IPv6 in its text forms, with the one double colon", () => {
    const header = decodeProxyProtocolHeader(
      ascii("PROXY TCP6 2001:db8::1 ::ffff:127.0.0.2 1 2\r\n"),
    );
    assert.deepEqual(header?.source, { host: "2001:db8::1", port: 1 });
    assert.deepEqual(header?.destination, { host: "::ffff:127.0.0.2", port: 2 });
    refuses(ascii("PROXY TCP6 2001:db8::1::2 ::1 1 2\r\n"), 11, /Not an IPv6 address/);
  });

  test("more bytes are needed until the CRLF, and nothing past 107 bytes", () => {
    const line = ascii("PROXY TCP4 10.0.0.1 10.0.0.2 1000 21\r\n");
    for (let n = 0; n < line.length; n++) {
      assert.equal(decodeProxyProtocolHeader(line.subarray(0, n)), undefined, `${n} bytes`);
    }
    const long = ascii(`PROXY UNKNOWN ${"x".repeat(92)}`);
    assert.equal(long.length, 106);
    assert.equal(decodeProxyProtocolHeader(long), undefined);
    refuses(ascii(`PROXY UNKNOWN ${"x".repeat(93)}`), 107, /No CRLF in the first 107 bytes/);
    refuses(ascii(`PROXY UNKNOWN ${"x".repeat(92)}\r\n`), 107, /No CRLF/);
  });

  test("a lone CR or LF does not end the line", () => {
    refuses(ascii("PROXY UNKNOWN\rX"), 13, /CR without LF/);
    refuses(ascii("PROXY UNKNOWN\n"), 13, /LF without CR/);
    refuses(ascii("PROXY TCP4 10.0.0.1 10.0.0.2 1000 21\n\r\n"), 36, /LF without CR/);
  });

  test("exactly one space between fields; four fields; nothing else on the line", () => {
    refuses(ascii("PROXY  TCP4 10.0.0.1 10.0.0.2 1000 21\r\n"), 6, /Unknown PROXY protocol ""/);
    refuses(ascii("PROXY TCP4 10.0.0.1  10.0.0.2 1000 21\r\n"), 11, /four fields/);
    refuses(ascii("PROXY TCP4 10.0.0.1 10.0.0.2 1000\r\n"), 11, /four fields/);
    refuses(ascii("PROXY TCP4 10.0.0.1 10.0.0.2 1000 21 \r\n"), 11, /four fields/);
    refuses(ascii("PROXY tcp4 10.0.0.1 10.0.0.2 1000 21\r\n"), 6, /Unknown PROXY protocol "tcp4"/);
    refuses(ascii("PROXY UDP4 10.0.0.1 10.0.0.2 1000 21\r\n"), 6, /Unknown PROXY protocol/);
  });

  test("addresses of the family named, in one spelling; ports without leading zeros", () => {
    refuses(
      ascii("PROXY TCP4 010.0.0.1 10.0.0.2 1000 21\r\n"),
      11,
      /Not an IPv4 address: "010\.0\.0\.1"/,
    );
    refuses(ascii("PROXY TCP4 10.0.0.1 ::1 1000 21\r\n"), 20, /Not an IPv4 address: "::1"/);
    refuses(ascii("PROXY TCP6 10.0.0.1 ::1 1000 21\r\n"), 11, /Not an IPv6 address/);
    refuses(ascii("PROXY TCP4 10.0.0.1 10.0.0.2 01000 21\r\n"), 29, /Not a port: "01000"/);
    refuses(ascii("PROXY TCP4 10.0.0.1 10.0.0.2 1000 65536\r\n"), 34, /Not a port: "65536"/);
    refuses(ascii("PROXY TCP4 10.0.0.1 10.0.0.2 1000 +21\r\n"), 34, /Not a port/);
  });

  test("non-ASCII bytes are refused as soon as they come", () => {
    refuses(Uint8Array.of(...ascii("PROXY TCP4 "), 0xc3, 0xa9), 11, /printable US-ASCII/);
    refuses(Uint8Array.of(...ascii("PROXY TCP4 "), 0), 11, /printable US-ASCII/);
  });
});

describe("PROXY protocol version 2 (section 2.2)", () => {
  test("TCP over IPv4: the addresses, then the ports, in network order", () => {
    const bytes = hex(`${SIGNATURE} 21 11 000c  c0000201 c6336407  c822 0015  55534552`);
    assert.deepEqual(decodeProxyProtocolHeader(bytes), {
      version: 2,
      command: "proxy",
      transport: "tcp4",
      source: { host: "192.0.2.1", port: 51234 },
      destination: { host: "198.51.100.7", port: 21 },
      tlvs: [],
      length: 28,
    });
  });

  test("TCP over IPv6, addresses given in RFC 5952 form", () => {
    const bytes = hex(
      `${SIGNATURE} 21 21 0024 20010db8000000000000000000000001 00000000000000000000ffff7f000002 0400 0015`,
    );
    const header = decodeProxyProtocolHeader(bytes);
    assert.deepEqual(header?.source, { host: "2001:db8::1", port: 1024 });
    assert.deepEqual(header?.destination, { host: "::ffff:7f00:2", port: 21 });
    assert.equal(header?.transport, "tcp6");
  });

  test("LOCAL: the block is skipped whatever its family, and the length is always honoured", () => {
    assert.deepEqual(decodeProxyProtocolHeader(hex(`${SIGNATURE} 20 00 0000`)), {
      version: 2,
      command: "local",
      transport: "unknown",
      tlvs: [],
      length: 16,
    });
    const skipped = hex(`${SIGNATURE} 20 ff 0003 aabbcc 5155`);
    assert.equal(decodeProxyProtocolHeader(skipped)?.length, 19);
  });

  test("UNSPEC and UNIX sockets: no address given; UDP is decoded", () => {
    const unspec = decodeProxyProtocolHeader(hex(`${SIGNATURE} 21 00 0000`));
    assert.equal(unspec?.transport, "unknown");
    assert.equal(unspec?.source, undefined);
    const unix = decodeProxyProtocolHeader(hex(`${SIGNATURE} 21 31 00d8 ${"00".repeat(216)}`));
    assert.equal(unix?.transport, "unix-stream");
    assert.equal(unix?.source, undefined);
    const udp = decodeProxyProtocolHeader(
      hex(`${SIGNATURE} 21 12 000c 7f000001 7f000002 0035 0035`),
    );
    assert.deepEqual(udp?.source, { host: "127.0.0.1", port: 53 });
  });

  test("TLVs follow the addresses and must fill the header exactly", () => {
    const header = decodeProxyProtocolHeader(
      hex(`${SIGNATURE} 21 11 0017 7f000001 7f000002 0001 0002 02 0003 667470 04 0002 0000`),
    );
    assert.equal(header?.tlvs.length, 2);
    assert.equal(header?.tlvs[0].type, 2);
    assert.equal(new TextDecoder().decode(header?.tlvs[0].value), "ftp");
    refuses(hex(`${SIGNATURE} 21 11 000e 7f000001 7f000002 0001 0002 0200`), 28, /truncated TLV/);
    refuses(
      hex(`${SIGNATURE} 21 11 0010 7f000001 7f000002 0001 0002 02 0002 66`),
      28,
      /TLV longer/,
    );
  });

  test("a CRC32C TLV must match the header (section 2.2.3)", () => {
    const sent = encodeProxyProtocolHeader({
      version: 2,
      transport: "tcp4",
      source: { host: "127.0.0.2", port: 40000 },
      destination: { host: "127.0.0.1", port: 21 },
      checksum: true,
    });
    assert.equal(decodeProxyProtocolHeader(sent)?.tlvs[0].type, 3);
    const forged = sent.slice();
    forged[19] = 3; // 127.0.0.3
    refuses(forged, 28, /CRC32C does not match/);
    refuses(hex(`${SIGNATURE} 21 00 0005 03 0002 0000`), 16, /CRC32C TLV holds 4 bytes/);
  });

  test("CRC32C is Castagnoli's, as an independent bitwise CRC computes it", () => {
    // RFC 4960 appendix B's polynomial, reflected, one bit at a time.
    const crc32c = (bytes: Uint8Array) => {
      let crc = 0xffffffff;
      for (const byte of bytes) {
        crc ^= byte;
        for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
      }
      return (crc ^ 0xffffffff) >>> 0;
    };
    // The catalogue's check value, and RFC 3720 section B.4's vector of 32 zero bytes.
    assert.equal(crc32c(ascii("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    const sent = encodeProxyProtocolHeader({
      version: 2,
      transport: "tcp6",
      source: { host: "2001:db8::2", port: 5000 },
      destination: { host: "2001:db8::1", port: 990 },
      tlvs: [{ type: 5, value: ascii("id-1") }],
      checksum: true,
    });
    const view = new DataView(sent.buffer);
    const carried = view.getUint32(sent.length - 4);
    view.setUint32(sent.length - 4, 0);
    assert.equal(carried, crc32c(sent));
    view.setUint32(sent.length - 4, carried ^ 1);
    refuses(sent, sent.length - 7, /CRC32C does not match/);
    view.setUint32(sent.length - 4, carried);
    assert.equal(decodeProxyProtocolHeader(sent)?.tlvs.length, 2);
  });

  test("the version, command and family bytes: anything unassigned is refused at once", () => {
    refuses(hex(`${SIGNATURE} 11`), 12, /version 2 LOCAL or PROXY: 0x11/);
    refuses(hex(`${SIGNATURE} 22`), 12, /version 2 LOCAL or PROXY: 0x22/);
    refuses(hex(`${SIGNATURE} 21 13`), 13, /Unknown PROXY protocol family and protocol: 0x13/);
    refuses(hex(`${SIGNATURE} 21 41`), 13, /family and protocol: 0x41/);
  });

  test("an address block shorter than its family's is refused", () => {
    refuses(
      hex(`${SIGNATURE} 21 11 000b 7f000001 7f000002 0001 00`),
      14,
      /tcp4 address block takes 12 bytes, not 11/,
    );
    refuses(hex(`${SIGNATURE} 21 21 000c ${"00".repeat(12)}`), 14, /tcp6 address block takes 36/);
  });

  test("truncated: more bytes are needed, never a header from part of one", () => {
    const bytes = hex(`${SIGNATURE} 21 11 000c c0000201 c6336407 c822 0015`);
    for (let n = 0; n < bytes.length; n++) {
      assert.equal(decodeProxyProtocolHeader(bytes.subarray(0, n)), undefined, `${n} bytes`);
    }
  });

  test("bounded: a declared length past the maximum is refused from its 16 bytes alone", () => {
    refuses(hex(`${SIGNATURE} 21 11 ffff`), 14, /65551 bytes, past the 2048 taken/);
    refuses(hex(`${SIGNATURE} 21 11 0100`), 14, /272 bytes, past the 100 taken/, 100);
    assert.equal(
      decodeProxyProtocolHeader(hex(`${SIGNATURE} 21 11 ffff`), { maxLength: 65551 }),
      undefined,
    );
    assert.throws(
      () => decodeProxyProtocolHeader(new Uint8Array(0), { maxLength: 15 }),
      RangeError,
    );
    assert.throws(
      () => decodeProxyProtocolHeader(new Uint8Array(0), { maxLength: 65552 }),
      RangeError,
    );
  });
});

describe("PROXY protocol detection (sections 2.2 and 5)", () => {
  test("anything but a signature is no header, said at the first byte that differs", () => {
    refuses(ascii("USER anonymous\r\n"), 0, /Not a PROXY protocol header/);
    refuses(ascii("PROXX"), 4, /Not a PROXY protocol header/);
    refuses(ascii("PROXYTCP4"), 5, /Not a PROXY protocol header/);
    refuses(hex("0d0a0d0a000d0a5155495420"), 11, /Not a PROXY protocol header/);
    refuses(hex("16030100"), 0, /Not a PROXY protocol header/);
    assert.equal(decodeProxyProtocolHeader(new Uint8Array(0)), undefined);
  });

  test("isProxyProtocolStart wants a whole signature", () => {
    assert.ok(isProxyProtocolStart(ascii("PROXY ")));
    assert.ok(isProxyProtocolStart(hex(SIGNATURE)));
    assert.ok(!isProxyProtocolStart(ascii("PROXY")));
    assert.ok(!isProxyProtocolStart(hex(SIGNATURE).subarray(0, 11)));
    assert.ok(!isProxyProtocolStart(ascii("USER x\r\n")));
  });
});

describe("encodeProxyProtocolHeader", () => {
  test("version 1 lines, TCP4, TCP6 and UNKNOWN", () => {
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    assert.equal(
      text(encodeProxyProtocolHeader({
        version: 1,
        transport: "tcp6",
        source: { host: "2001:db8::1", port: 1 },
        destination: { host: "::1", port: 21 },
      })),
      "PROXY TCP6 2001:db8::1 ::1 1 21\r\n",
    );
    assert.equal(
      text(encodeProxyProtocolHeader({ version: 1, transport: "unknown" })),
      "PROXY UNKNOWN\r\n",
    );
  });

  test("version 2 LOCAL, and mapped IPv6 addresses as their 16 bytes", () => {
    assert.deepEqual(
      encodeProxyProtocolHeader({ version: 2, command: "local", transport: "unknown" }),
      hex(`${SIGNATURE} 20 00 0000`),
    );
    const bytes = encodeProxyProtocolHeader({
      version: 2,
      transport: "tcp6",
      source: { host: "::ffff:127.0.0.2", port: 1 },
      destination: { host: "::1", port: 2 },
    });
    assert.deepEqual(bytes.subarray(16, 32), hex("00000000000000000000ffff7f000002"));
  });

  test("misuse throws", () => {
    const tcp4 = {
      transport: "tcp4" as const,
      source: { host: "10.0.0.1", port: 1 },
      destination: { host: "10.0.0.2", port: 2 },
    };
    assert.throws(() => encodeProxyProtocolHeader({ version: 1, transport: "udp4" }), TypeError);
    assert.throws(
      () => encodeProxyProtocolHeader({ version: 1, command: "local", transport: "unknown" }),
      TypeError,
    );
    assert.throws(
      () => encodeProxyProtocolHeader({ version: 1, ...tcp4, checksum: true }),
      TypeError,
    );
    assert.throws(() => encodeProxyProtocolHeader({ version: 2, transport: "tcp4" }), TypeError);
    assert.throws(
      () => encodeProxyProtocolHeader({ ...tcp4, version: 2, source: { host: "::1", port: 1 } }),
      TypeError,
    );
    assert.throws(
      () =>
        encodeProxyProtocolHeader({
          ...tcp4,
          version: 2,
          source: { host: "10.0.0.1", port: 65536 },
        }),
      RangeError,
    );
    assert.throws(
      () =>
        encodeProxyProtocolHeader({
          ...tcp4,
          version: 2,
          tlvs: [{ type: 256, value: new Uint8Array() }],
        }),
      RangeError,
    );
    assert.throws(
      () =>
        encodeProxyProtocolHeader({
          ...tcp4,
          version: 2,
          tlvs: [{ type: 1, value: new Uint8Array(65530) }],
        }),
      RangeError,
    );
  });
});
