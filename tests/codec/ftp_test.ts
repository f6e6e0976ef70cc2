import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  canonicalFtpHost,
  decodeFtpCommand,
  decodeFtpEprt,
  decodeFtpPort,
  encodeFtpCommand,
  encodeFtpEprt,
  encodeFtpPort,
  encodeFtpReply,
  formatFtpEpsv,
  formatFtpFacts,
  formatFtpFeat,
  formatFtpListLine,
  formatFtpPasv,
  formatFtpPath,
  formatFtpTime,
  FtpCodecError,
  ftpHostBytes,
  FtpLineReader,
  type FtpReply,
  FtpReplyParser,
  ftpReplyText,
  isFtpIpv4,
  isFtpIpv6,
  parseFtpEpsv,
  parseFtpFacts,
  parseFtpFeat,
  parseFtpListLine,
  parseFtpNumber,
  parseFtpPasv,
  parseFtpPath,
  parseFtpTime,
  sameFtpHost,
} from "../../codec/mod.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);

function kind(expected: string) {
  return (error: unknown) => {
    assert.ok(error instanceof FtpCodecError, `an FtpCodecError, got ${error}`);
    assert.equal(error.kind, expected);
    return true;
  };
}

function replies(wire: string, options = {}): FtpReply[] {
  return new FtpReplyParser(options).push(bytes(wire));
}

describe("FTP command lines (RFC 959 section 4.1, 5.3)", () => {
  test("encoding: upper-case verb, one space, the argument, CR LF", () => {
    assert.equal(
      text(encodeFtpCommand({ verb: "user", argument: "anonymous" })),
      "USER anonymous\r\n",
    );
    assert.equal(text(encodeFtpCommand({ verb: "PASV" })), "PASV\r\n");
    assert.equal(text(encodeFtpCommand({ verb: "AUTH", argument: "TLS" })), "AUTH TLS\r\n");
    assert.equal(text(encodeFtpCommand({ verb: "STOR", argument: "a b  c" })), "STOR a b  c\r\n");
    assert.equal(
      text(encodeFtpCommand({ verb: "CWD", argument: "répertoire" })),
      "CWD répertoire\r\n",
    );
  });

  test("encoding refuses what would end the line or smuggle a command", () => {
    assert.throws(
      () => encodeFtpCommand({ verb: "RETR", argument: "a\r\nDELE b" }),
      kind("forbidden-character"),
    );
    assert.throws(
      () => encodeFtpCommand({ verb: "RETR", argument: "a\nb" }),
      kind("forbidden-character"),
    );
    assert.throws(
      () => encodeFtpCommand({ verb: "RETR", argument: "a\0b" }),
      kind("forbidden-character"),
    );
    assert.throws(() => encodeFtpCommand({ verb: "RE TR" }), kind("invalid-verb"));
    assert.throws(() => encodeFtpCommand({ verb: "RETRIEVE" }), kind("invalid-verb"));
    assert.throws(() => encodeFtpCommand({ verb: "" }), kind("invalid-verb"));
    // The checksum commands end in digits (draft-bryan-ftpext-hash-02 appendix B); no more than 3.
    assert.equal(text(encodeFtpCommand({ verb: "xsha256", argument: "a" })), "XSHA256 a\r\n");
    assert.throws(() => encodeFtpCommand({ verb: "XSHA2560" }), kind("invalid-verb"));
    assert.throws(() => encodeFtpCommand({ verb: "256" }), kind("invalid-verb"));
    assert.throws(
      () => encodeFtpCommand({ verb: "STOR", argument: "x".repeat(100) }, 50),
      kind("line-too-long"),
    );
  });

  test("decoding: verbs are case-insensitive, the argument is kept as sent", () => {
    assert.deepEqual(decodeFtpCommand("retr file.bin"), { verb: "RETR", argument: "file.bin" });
    assert.deepEqual(decodeFtpCommand("Pasv"), { verb: "PASV" });
    assert.deepEqual(decodeFtpCommand("STOR  two spaces"), {
      verb: "STOR",
      argument: " two spaces",
    });
    assert.deepEqual(decodeFtpCommand("SITE CHMOD 755 x"), {
      verb: "SITE",
      argument: "CHMOD 755 x",
    });
    assert.deepEqual(decodeFtpCommand("STOR "), { verb: "STOR", argument: "" });
    assert.deepEqual(decodeFtpCommand("UNKNOWNVERB x"), { verb: "UNKNOWNVERB", argument: "x" });
    // The checksum commands servers answer end in digits (draft-bryan-ftpext-hash-02 appendix B).
    assert.deepEqual(decodeFtpCommand("xsha256 a b"), { verb: "XSHA256", argument: "a b" });
    assert.deepEqual(decodeFtpCommand("XSHA1"), { verb: "XSHA1" });
  });

  test("decoding refuses garbage and overlong lines", () => {
    assert.throws(() => decodeFtpCommand(""), kind("invalid-verb"));
    assert.throws(() => decodeFtpCommand(" RETR x"), kind("invalid-verb"));
    assert.throws(() => decodeFtpCommand("RE7R x"), kind("invalid-verb"));
    assert.throws(() => decodeFtpCommand("XSHA2560 x"), kind("invalid-verb"));
    assert.throws(() => decodeFtpCommand("256 x"), kind("invalid-verb"));
    assert.throws(() => decodeFtpCommand("RETR a\rb"), kind("forbidden-character"));
    assert.throws(() => decodeFtpCommand(`RETR ${"a".repeat(5000)}`), kind("line-too-long"));
    assert.deepEqual(decodeFtpCommand(`RETR ${"a".repeat(100)}`, 200).argument?.length, 100);
  });
});

describe("FTP control lines (RFC 959 section 4, RFC 854)", () => {
  test("lines end in CR LF or a bare LF, and may arrive a byte at a time", () => {
    const reader = new FtpLineReader();
    const wire = bytes("USER anonymous\r\nPASS a@b\nQUIT\r\n");
    const lines: string[] = [];
    for (const byte of wire) lines.push(...reader.push(Uint8Array.of(byte)));
    assert.deepEqual(lines, ["USER anonymous", "PASS a@b", "QUIT"]);
    assert.equal(reader.pending, 0);
  });

  test("Telnet commands are removed: IAC IP IAC DM before ABOR (RFC 959 section 4.1.3)", () => {
    const reader = new FtpLineReader();
    const abor = Uint8Array.of(255, 244, 255, 242, ...bytes("ABOR\r\n"));
    assert.deepEqual(reader.push(abor), ["ABOR"]);
    // IAC IAC is a 255 byte (not UTF-8: it decodes as U+FFFD); IAC DO x is dropped whole.
    assert.deepEqual(reader.push(Uint8Array.of(65, 255, 253, 1, 66, 13, 10)), ["AB"]);
    assert.deepEqual(reader.push(Uint8Array.of(65, 255, 255, 13, 10)), ["A\uFFFD"]);
  });

  test("a line over the cap is refused, even without its end", () => {
    const reader = new FtpLineReader({ maxLineLength: 10 });
    assert.deepEqual(reader.push(bytes("0123456789\r\n")), ["0123456789"]);
    assert.throws(() => reader.push(bytes("0123456789AB")), kind("line-too-long"));
    const lf = new FtpLineReader({ maxLineLength: 10 });
    assert.throws(() => lf.push(bytes("0123456789A\n")), kind("line-too-long"));
  });
});

describe("FTP replies (RFC 959 section 4.2)", () => {
  test("single-line replies, several in one read", () => {
    assert.deepEqual(replies("220 (vsFTPd 3.0.3)\r\n331 Please specify the password.\r\n"), [
      { code: 220, lines: ["(vsFTPd 3.0.3)"] },
      { code: 331, lines: ["Please specify the password."] },
    ]);
  });

  test("RFC 959 multi-line: ddd- first, ddd SP last, anything between", () => {
    const wire =
      "123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n";
    assert.deepEqual(replies(wire), [{
      code: 123,
      lines: ["First line", "Second line", "  234 A line beginning with numbers", "The last line"],
    }]);
  });

  test("vsFTPd FEAT reply", () => {
    const wire =
      "211-Features:\r\n AUTH TLS\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n PBSZ\r\n PROT\r\n" +
      " REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n";
    const [reply] = replies(wire);
    const features = parseFtpFeat(reply);
    assert.equal(features.get("AUTH"), "TLS");
    assert.equal(features.get("REST"), "STREAM");
    assert.deepEqual([...features.keys()], [
      "AUTH",
      "EPRT",
      "EPSV",
      "MDTM",
      "PASV",
      "PBSZ",
      "PROT",
      "REST",
      "SIZE",
      "TVFS",
      "UTF8",
    ]);
  });

  test("pyftpdlib FEAT reply with MLST facts", () => {
    const wire = "211-Features supported:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MFMT\r\n" +
      " MLST type*;perm*;size*;modify*;unique*;unix.mode;unix.uid;unix.gid;\r\n REST STREAM\r\n" +
      " SIZE\r\n TVFS\r\n UTF8\r\n211 End FEAT.\r\n";
    const features = parseFtpFeat(replies(wire)[0]);
    assert.equal(
      features.get("MLST"),
      "type*;perm*;size*;modify*;unique*;unix.mode;unix.uid;unix.gid;",
    );
    assert.equal(features.size, 9);
  });

  test("ProFTPD-style: the code repeated on every line, and a bare code as the last line", () => {
    const wire = "230-Welcome to the archive\r\n230-Be nice\r\n230 User ftp logged in\r\n" +
      "150-Opening\r\n150\r\n";
    assert.deepEqual(replies(wire), [
      { code: 230, lines: ["Welcome to the archive", "Be nice", "User ftp logged in"] },
      { code: 150, lines: ["Opening", ""] },
    ]);
  });

  test("a multi-line reply split across reads is held until its last line", () => {
    const parser = new FtpReplyParser();
    assert.deepEqual(parser.push(bytes("220-Hello\r\n wel")), []);
    assert.ok(parser.inReply);
    assert.deepEqual(parser.push(bytes("come\r\n220 Ready\r\n")), [{
      code: 220,
      lines: ["Hello", " welcome", "Ready"],
    }]);
    assert.equal(parser.inReply, false);
  });

  test("RFC 2228 protected replies (631-633) parse like any other", () => {
    assert.deepEqual(replies("631 base64data\r\n"), [{ code: 631, lines: ["base64data"] }]);
  });

  test("garbage, overlong lines and endless replies are refused", () => {
    assert.throws(() => replies("HTTP/1.1 400 Bad Request\r\n"), kind("malformed-reply"));
    assert.throws(() => replies("22 short\r\n"), kind("malformed-reply"));
    assert.throws(() => replies("720 no such class\r\n"), kind("malformed-reply"));
    assert.throws(
      () => replies(`220 ${"x".repeat(100)}\r\n`, { maxLineLength: 50 }),
      kind("line-too-long"),
    );
    const endless = `211-start\r\n${" x\r\n".repeat(20)}`;
    assert.throws(() => replies(endless, { maxLines: 10 }), kind("reply-too-long"));
  });

  test("encoding: one line, several lines, and a middle line that would end the reply", () => {
    assert.equal(text(encodeFtpReply(200, "PROT now Private.")), "200 PROT now Private.\r\n");
    assert.equal(
      text(encodeFtpReply(211, formatFtpFeat([["AUTH", "TLS"], ["PBSZ"], ["PROT"], ["UTF8"]]))),
      "211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n UTF8\r\n211 End\r\n",
    );
    const wire = text(encodeFtpReply(214, ["Help:", "214 looks like an end", "done"]));
    assert.equal(wire, "214-Help:\r\n 214 looks like an end\r\n214 done\r\n");
    assert.deepEqual(replies(wire)[0].lines, ["Help:", " 214 looks like an end", "done"]);
    assert.equal(text(encodeFtpReply(200, [])), "200 \r\n");
    assert.throws(() => encodeFtpReply(200, "a\r\n230 fake"), kind("forbidden-character"));
    assert.throws(() => encodeFtpReply(99, "x"), RangeError);
    assert.throws(() => encodeFtpReply(200.5, "x"), RangeError);
    assert.equal(ftpReplyText({ code: 214, lines: ["a", "b"] }), "a\nb");
  });

  test("FEAT not supported: no features", () => {
    assert.equal(parseFtpFeat({ code: 502, lines: ["Command not implemented."] }).size, 0);
    const repeated = parseFtpFeat({
      code: 211,
      lines: ["x", " AUTH TLS", " auth SSL", " ", "End"],
    });
    assert.equal(repeated.get("AUTH"), "TLS SSL");
  });
});

describe("FTP data addresses (RFC 959 section 4.1.2, RFC 2428)", () => {
  test("hosts compare as addresses: IPv6 spellings, IPv4-mapped, zones", () => {
    assert.equal(canonicalFtpHost("::1"), "0000:0000:0000:0000:0000:0000:0000:0001");
    assert.equal(canonicalFtpHost("::"), "0000:0000:0000:0000:0000:0000:0000:0000");
    assert.equal(canonicalFtpHost("2001:DB8::1:0:0:1"), "2001:0db8:0000:0000:0001:0000:0000:0001");
    assert.equal(canonicalFtpHost("::1.2.3.4"), "0000:0000:0000:0000:0000:0000:0102:0304");
    assert.equal(canonicalFtpHost("::ffff:127.0.0.1"), "127.0.0.1");
    assert.equal(canonicalFtpHost("::FFFF:7f00:1"), "127.0.0.1");
    // An IPv4 address has one spelling: with leading zeros it is no address at all (some read
    // 010 as 10, others as octal 8), so it matches nothing.
    assert.equal(canonicalFtpHost("127.000.0.1"), undefined);
    assert.ok(!sameFtpHost("127.0.0.010", "127.0.0.10"));
    assert.ok(!sameFtpHost("127.0.0.010", "127.0.0.8"));
    assert.equal(canonicalFtpHost("fe80::1%eth0"), "fe80:0000:0000:0000:0000:0000:0000:0001");
    assert.equal(canonicalFtpHost("localhost"), undefined);
    assert.ok(sameFtpHost("::1", "0:0:0:0:0:0:0:1"));
    assert.ok(sameFtpHost("::ffff:127.0.0.1", "127.0.0.1"));
    assert.ok(!sameFtpHost("127.0.0.1", "127.0.0.2"));
    assert.ok(!sameFtpHost("::1", "127.0.0.1"));
    assert.ok(!sameFtpHost("x", "x"), "not an address: matches nothing");
    assert.deepEqual(ftpHostBytes("::ffff:10.1.2.3"), Uint8Array.of(10, 1, 2, 3));
    assert.deepEqual(
      ftpHostBytes("2001:db8::ff00:42"),
      Uint8Array.of(0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42),
    );
    assert.deepEqual(ftpHostBytes("fe80::1%eth0")?.at(-1), 1);
    assert.equal(ftpHostBytes("127.0.0.010"), undefined);
  });

  test("PORT and PASV: h1,h2,h3,h4,p1,p2", () => {
    assert.equal(encodeFtpPort({ host: "132.235.1.2", port: 6275 }), "132,235,1,2,24,131");
    assert.deepEqual(decodeFtpPort("132,235,1,2,24,131"), { host: "132.235.1.2", port: 6275 });
    assert.deepEqual(decodeFtpPort("0,0,0,0,0,0"), { host: "0.0.0.0", port: 0 });
    // PORT's argument has one spelling: a leading zero (read as octal by some), spaces, other
    // text or a seventh number are refused, never guessed at.
    for (
      const bad of [
        "127,0,0,010,4,1",
        "127,0,0,1,04,1",
        "127, 0,0,1,4,1",
        "1127,0,0,1,4,1",
        "127,0,0,1,4,1,1",
        "(127,0,0,1,4,1)",
        "127,0,0,1,4",
        "127,0,0,1,4,256",
        "127,0,0,1,4,+1",
        "",
      ]
    ) {
      assert.throws(() => decodeFtpPort(bad), kind("malformed-address"), bad);
    }
    assert.equal(
      formatFtpPasv({ host: "127.0.0.1", port: 50000 }),
      "Entering Passive Mode (127,0,0,1,195,80).",
    );
    // What servers send: vsFTPd, pyftpdlib (lower case, no parentheses on some), IIS.
    for (
      const reply of [
        "Entering Passive Mode (127,0,0,1,195,80).",
        "entering passive mode (127,0,0,1,195,80)",
        "Entering Passive Mode 127,0,0,1,195,80",
        "Entering Passive Mode (127, 0, 0, 1, 195, 80)",
      ]
    ) {
      assert.deepEqual(parseFtpPasv(reply), { host: "127.0.0.1", port: 50000 }, reply);
    }
    // Leading zeros in a reply are read as decimal.
    assert.deepEqual(parseFtpPasv("(127,000,000,010,195,080)"), {
      host: "127.0.0.10",
      port: 50000,
    });
    assert.throws(() => parseFtpPasv("Entering Passive Mode"), kind("malformed-address"));
    assert.throws(() => parseFtpPasv("256,0,0,1,1,1"), kind("malformed-address"));
    assert.throws(() => encodeFtpPort({ host: "::1", port: 21 }), kind("malformed-address"));
    assert.throws(
      () => encodeFtpPort({ host: "127.0.0.1", port: 65536 }),
      kind("malformed-address"),
    );
  });

  test("EPRT (RFC 2428 section 2): the RFC's examples, and other delimiters", () => {
    assert.deepEqual(decodeFtpEprt("|1|132.235.1.2|6275|"), { host: "132.235.1.2", port: 6275 });
    // The host comes back canonical, to connect to: RFC 5952 text for IPv6, and an IPv4-mapped
    // address as its IPv4 address.
    assert.deepEqual(decodeFtpEprt("|2|1080::8:800:200C:417A|5282|"), {
      host: "1080::8:800:200c:417a",
      port: 5282,
    });
    assert.deepEqual(decodeFtpEprt("!1!10.0.0.1!21!"), { host: "10.0.0.1", port: 21 });
    assert.deepEqual(decodeFtpEprt("|2|::ffff:127.0.0.1|21|"), { host: "127.0.0.1", port: 21 });
    assert.deepEqual(decodeFtpEprt("|2|0:0:0:0:0:0:0:1|21|"), { host: "::1", port: 21 });
    assert.deepEqual(decodeFtpEprt("|2|1:0:0:1:0:0:0:1|21|"), { host: "1:0:0:1::1", port: 21 });
    assert.deepEqual(decodeFtpEprt("|2|0001:2:3:4:5:6:7:8|21|"), {
      host: "1:2:3:4:5:6:7:8",
      port: 21,
    });
    assert.equal(encodeFtpEprt({ host: "132.235.1.2", port: 6275 }), "|1|132.235.1.2|6275|");
    assert.equal(encodeFtpEprt({ host: "::1", port: 50000 }), "|2|::1|50000|");
    for (
      const bad of [
        "",
        "|1|132.235.1.2|6275",
        "|3|132.235.1.2|6275|",
        "|1|::1|21|",
        "|2|1.2.3.4|21|",
        "|1|1.2.3|21|",
        "|1|1.2.3.4|70000|",
        "|1|1.2.3.4|x|",
        "11111",
        "|1|1.2.3.4|21|x",
        // One spelling only: 010 is 10 to some and octal 8 to others.
        "|1|127.0.0.010|21|",
        "|1|127.000.0.1|21|",
        "|2|::ffff:127.0.0.010|21|",
        "|1|127.0.0.1|021|",
        "|1| 127.0.0.1|21|",
      ]
    ) {
      assert.throws(() => decodeFtpEprt(bad), kind("malformed-address"), bad);
    }
    assert.throws(
      () => encodeFtpEprt({ host: "example.com", port: 21 }),
      kind("malformed-address"),
    );
  });

  test("EPSV (RFC 2428 section 3): 229 (|||port|), any delimiter", () => {
    assert.equal(parseFtpEpsv("Entering Extended Passive Mode (|||6446|)"), 6446);
    assert.equal(parseFtpEpsv("Entering Extended Passive Mode (!!!6446!)"), 6446);
    assert.equal(formatFtpEpsv(6446), "Entering Extended Passive Mode (|||6446|)");
    assert.throws(
      () => parseFtpEpsv("Entering Extended Passive Mode (||6446|)"),
      kind("malformed-address"),
    );
    assert.throws(
      () => parseFtpEpsv("Entering Extended Passive Mode (|||99999|)"),
      kind("malformed-address"),
    );
    assert.throws(() => parseFtpEpsv("(111164461)"), kind("malformed-address"));
  });

  test("IP literals", () => {
    for (const ok of ["0.0.0.0", "255.255.255.255", "127.0.0.1"]) assert.ok(isFtpIpv4(ok), ok);
    for (
      const no of [
        "256.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "a.b.c.d",
        "",
        "1..2.3",
        "127.0.0.010",
        "01.2.3.4",
      ]
    ) {
      assert.ok(!isFtpIpv4(no), no);
    }
    for (
      const ok of [
        "::",
        "::1",
        "1::",
        "fe80::1",
        "1:2:3:4:5:6:7:8",
        "::ffff:1.2.3.4",
        "1:2:3:4:5:6:1.2.3.4",
      ]
    ) {
      assert.ok(isFtpIpv6(ok), ok);
    }
    for (
      const no of [
        "",
        ":",
        ":::",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "g::1",
        "12345::",
        "::1.2.3",
        "1.2.3.4",
      ]
    ) {
      assert.ok(!isFtpIpv6(no), no);
    }
  });
});

describe("MLSD/MLST facts, times and sizes (RFC 3659)", () => {
  test("section 7.7's examples and pyftpdlib's lines", () => {
    assert.deepEqual(parseFtpFacts("Type=cdir;Perm=el;Unique=keVO1+ZF4; test"), {
      name: "test",
      facts: { type: "cdir", perm: "el", unique: "keVO1+ZF4" },
    });
    assert.deepEqual(
      parseFtpFacts(
        "type=file;size=1234;modify=20261123103400;perm=r;unique=fd01g1; boot menu.cfg",
      ),
      {
        name: "boot menu.cfg",
        facts: {
          type: "file",
          size: "1234",
          modify: "20261123103400",
          perm: "r",
          unique: "fd01g1",
        },
      },
    );
    // MLST entries come after one space; an entry without facts starts with one.
    assert.deepEqual(parseFtpFacts(" type=file;size=3; a;b.txt"), {
      name: "a;b.txt",
      facts: { type: "file", size: "3" },
    });
    assert.deepEqual(parseFtpFacts(" no facts.txt"), { name: "no facts.txt", facts: {} });
    assert.throws(() => parseFtpFacts("type=file;size=3;nospace"), kind("malformed-facts"));
    assert.throws(() => parseFtpFacts("type=file;=3; x"), kind("malformed-facts"));
    assert.throws(() => parseFtpFacts("type; x"), kind("malformed-facts"));
  });

  test("formatting facts", () => {
    assert.equal(
      formatFtpFacts({ name: "a b", facts: { type: "file", size: "3" } }),
      "type=file;size=3; a b",
    );
    assert.equal(formatFtpFacts({ name: "x", facts: {} }), " x");
    assert.throws(
      () => formatFtpFacts({ name: "x", facts: { type: "a;b" } }),
      kind("malformed-facts"),
    );
    assert.throws(
      () => formatFtpFacts({ name: "x", facts: { "ty pe": "a" } }),
      kind("malformed-facts"),
    );
    assert.throws(
      () => formatFtpFacts({ name: "x\r\nDELE y", facts: {} }),
      kind("forbidden-character"),
    );
  });

  test("time values: YYYYMMDDHHMMSS[.sss], UTC (section 2.3)", () => {
    assert.equal(parseFtpTime("19980615100045").toISOString(), "1998-06-15T10:00:45.000Z");
    assert.equal(parseFtpTime("20261123103000.5").toISOString(), "2026-11-23T10:30:00.500Z");
    assert.equal(parseFtpTime("20261123103000.123456").getUTCMilliseconds(), 123);
    assert.equal(formatFtpTime(new Date("1998-06-15T10:00:45Z")), "19980615100045");
    assert.equal(formatFtpTime(new Date("2026-11-23T10:30:00.050Z")), "20261123103000.050");
    for (
      const bad of [
        "2026112310300",
        "20260231103000",
        "20261123243000",
        "20261123106000",
        "x",
        "2026-11-23",
      ]
    ) {
      assert.throws(() => parseFtpTime(bad), kind("malformed-time"), bad);
    }
  });

  test("sizes: decimal, up to 2^53-1, never truncated", () => {
    assert.equal(parseFtpNumber("0"), 0);
    assert.equal(parseFtpNumber("5368709120"), 5368709120);
    assert.equal(parseFtpNumber(" 12 "), 12);
    assert.equal(parseFtpNumber(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    for (const bad of ["", "-1", "1.5", "1e3", "9007199254740992", "12345678901234567"]) {
      assert.throws(() => parseFtpNumber(bad), kind("malformed-number"), bad);
    }
  });
});

describe("257 paths (RFC 959 appendix II)", () => {
  test("quoted, with quotes inside doubled", () => {
    assert.equal(parseFtpPath('"/home/user" is the current directory'), "/home/user");
    assert.equal(parseFtpPath('"/usr/dm/"" odd" is current directory.'), '/usr/dm/" odd');
    assert.equal(parseFtpPath('MKD command successful: "/a b"'), "/a b");
    assert.equal(formatFtpPath('/usr/dm/" odd', "created"), '"/usr/dm/"" odd" created');
    assert.equal(parseFtpPath(formatFtpPath('"x""', "y")), '"x""');
    assert.throws(() => parseFtpPath("/home/user is current"), kind("malformed-path"));
    assert.throws(() => parseFtpPath('"/home/user'), kind("malformed-path"));
  });
});

describe("LIST lines as real servers write them", () => {
  const file = (line: string) => parseFtpListLine(line)!;

  test("formatFtpListLine writes vsftpd's layout; old and future times show the year", () => {
    const now = new Date("2026-11-24T00:00:00Z");
    const at = (iso: string) => new Date(iso);
    assert.equal(
      formatFtpListLine({
        name: "boot.cfg",
        type: "file",
        size: 1234,
        modified: at("2026-11-23T10:34:00Z"),
      }, now),
      "-rw-r--r--    1 ftp      ftp          1234 Nov 23 10:34 boot.cfg",
    );
    assert.equal(
      formatFtpListLine({
        name: "pub",
        type: "dir",
        size: 4096,
        modified: at("2020-01-03T08:00:00Z"),
      }, now),
      "drwxr-xr-x    2 ftp      ftp          4096 Jan  3  2020 pub",
    );
    assert.equal(
      formatFtpListLine({
        name: "latest",
        type: "link",
        size: 7,
        target: "v1.2.bin",
        permissions: "rwxrwxrwx",
        modified: at("2027-08-01T00:00:00Z"),
      }, now),
      "lrwxrwxrwx    1 ftp      ftp             7 Aug  1  2027 latest -> v1.2.bin",
    );
    const entry = { type: "file" as const, size: 1, modified: now };
    assert.throws(() => formatFtpListLine({ ...entry, name: "a\r\nb" }, now), FtpCodecError);
    assert.throws(
      () => formatFtpListLine({ ...entry, name: "a", target: "\0" }, now),
      FtpCodecError,
    );
    assert.throws(
      () => formatFtpListLine({ ...entry, name: "a", permissions: "rw" }, now),
      RangeError,
    );
    assert.throws(() => formatFtpListLine({ ...entry, name: "a", size: -1 }, now), RangeError);
    assert.throws(() => formatFtpListLine({ ...entry, name: "a", size: 1.5 }, now), RangeError);
  });

  test("Unix ls -l: vsFTPd, ProFTPD, pyftpdlib, Pure-FTPd, FileZilla Server", () => {
    for (
      const line of [
        "-rw-r--r--    1 1000     1000         1234 Nov 23 10:34 boot.cfg", // vsFTPd
        "-rw-r--r--   1 ftp      ftp          1234 Nov 23 10:34 boot.cfg", // ProFTPD
        "-rw-r--r--   1 user     group        1234 Nov 23 10:34 boot.cfg", // pyftpdlib
        "-rw-r--r--    1 1000       1000             1234 Nov 23 10:34 boot.cfg", // Pure-FTPd
        "-rw-r--r-- 1 ftp ftp           1234 Nov 23 10:34 boot.cfg", // FileZilla Server
      ]
    ) {
      assert.deepEqual(file(line), {
        name: "boot.cfg",
        type: "file",
        size: 1234,
        permissions: "rw-r--r--",
        modified: { month: 11, day: 23, hour: 10, minute: 34 },
        format: "unix",
      }, line);
    }
  });

  test("directories, old dates with a year, names with spaces, links, no owner", () => {
    assert.deepEqual(file("drwxr-xr-x    2 0        0            4096 Jan 01  2025 pub"), {
      name: "pub",
      type: "dir",
      size: 4096,
      permissions: "rwxr-xr-x",
      modified: { year: 2025, month: 1, day: 1 },
      format: "unix",
    });
    assert.equal(
      file("-rw-r--r--    1 0 0 5 Feb  3 09:05 a name  with spaces").name,
      "a name  with spaces",
    );
    const link = file("lrwxrwxrwx    1 0        0               7 Nov 23 10:34 lib -> usr/lib");
    assert.equal(link.type, "link");
    assert.equal(link.name, "lib");
    assert.equal(link.target, "usr/lib");
    assert.equal(file("-rw-r--r-- 1 5 Nov 23 10:34 x").size, 5);
    assert.equal(file("crw-rw-rw-    1 0 0 0 Nov 23 10:34 null").type, "other");
    assert.equal(parseFtpListLine("total 12"), undefined);
    assert.equal(parseFtpListLine(""), undefined);
  });

  test("DOS style: IIS, 12-hour and 4-digit-year variants", () => {
    assert.deepEqual(file("11-23-26  10:34AM       <DIR>          aspnet_client"), {
      name: "aspnet_client",
      type: "dir",
      modified: { year: 2026, month: 11, day: 23, hour: 10, minute: 34 },
      format: "dos",
    });
    assert.deepEqual(file("02-14-99  03:07PM                 1234 old file.txt"), {
      name: "old file.txt",
      type: "file",
      size: 1234,
      modified: { year: 1999, month: 2, day: 14, hour: 15, minute: 7 },
      format: "dos",
    });
    assert.equal(file("12-01-25  12:00AM  1 midnight").modified.hour, 0);
    assert.equal(file("12-01-25  12:00PM  1 noon").modified.hour, 12);
    assert.deepEqual(file("2026-11-23  18:05  42 x").modified, {
      year: 2026,
      month: 11,
      day: 23,
      hour: 18,
      minute: 5,
    });
  });

  test("anything else is refused", () => {
    assert.throws(() => parseFtpListLine("hello world"), kind("malformed-listing"));
    assert.throws(
      () => parseFtpListLine("-rw-r--r-- 1 a b 5 Foo 23 10:34 x"),
      kind("malformed-listing"),
    );
  });
});
