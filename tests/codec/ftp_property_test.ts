import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeFtpCommand,
  decodeFtpEprt,
  decodeFtpPort,
  encodeFtpCommand,
  encodeFtpEprt,
  encodeFtpPort,
  encodeFtpReply,
  formatFtpFacts,
  formatFtpListLine,
  formatFtpPath,
  formatFtpTime,
  FtpCodecError,
  FtpLineReader,
  FtpReplyParser,
  parseFtpEpsv,
  parseFtpFacts,
  parseFtpListLine,
  parseFtpNumber,
  parseFtpPasv,
  parseFtpPath,
  parseFtpTime,
  sameFtpHost,
} from "../../codec/mod.ts";

/** Runs `parse`; anything thrown must be an FtpCodecError. */
function onlyCodecErrors(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    if (!(error instanceof FtpCodecError)) throw error;
  }
}

const anyText = fc.string({ unit: "binary", maxLength: 200 });
// Text that can sit inside a line: no CR, LF or NUL.
const lineText = (maxLength = 80) =>
  fc.string({ unit: "binary", maxLength }).map((text) => text.replace(/[\r\n\0]/g, "_"));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) =>
  parts.join(".")
);
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((groups) =>
  groups.map((group) => group.toString(16)).join(":")
);
const port = fc.nat(65535);

/** Splits `bytes` into pieces at the given cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(start, point));
    start = point;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

describe("FTP codecs on random input", () => {
  test("every parser either parses or throws FtpCodecError", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        onlyCodecErrors(() => decodeFtpCommand(text));
        onlyCodecErrors(() => decodeFtpPort(text));
        onlyCodecErrors(() => parseFtpPasv(text));
        onlyCodecErrors(() => decodeFtpEprt(text));
        onlyCodecErrors(() => parseFtpEpsv(text));
        onlyCodecErrors(() => parseFtpFacts(text));
        onlyCodecErrors(() => parseFtpTime(text));
        onlyCodecErrors(() => parseFtpNumber(text));
        onlyCodecErrors(() => parseFtpPath(text));
        onlyCodecErrors(() => parseFtpListLine(text));
      }),
      { numRuns: 2000 },
    );
  });

  test("the stream readers take any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        onlyCodecErrors(() => new FtpLineReader({ maxLineLength: 64 }).push(bytes));
        onlyCodecErrors(() => new FtpReplyParser({ maxLineLength: 64, maxLines: 5 }).push(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("FTP codec round trips", () => {
  test("commands", () => {
    const verb = fc.stringMatching(/^[A-Za-z]{3,4}$/);
    fc.assert(
      fc.property(verb, fc.option(lineText(), { nil: undefined }), (name, argument) => {
        const line = encodeFtpCommand({ verb: name, argument });
        const [decoded] = new FtpLineReader().push(line);
        assert.deepEqual(
          decodeFtpCommand(decoded),
          argument === undefined
            ? { verb: name.toUpperCase() }
            : { verb: name.toUpperCase(), argument },
        );
      }),
    );
  });

  test("replies, however the bytes are split", () => {
    const code = fc.integer({ min: 100, max: 659 });
    const lines = fc.array(lineText(), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(code, lines, fc.array(fc.nat(2000), { maxLength: 8 }), (value, text, cuts) => {
        const wire = encodeFtpReply(value, text);
        const parser = new FtpReplyParser();
        const out = split(wire, cuts).flatMap((piece) => parser.push(piece));
        assert.equal(out.length, 1);
        assert.equal(out[0].code, value);
        // Encoding indents a middle line that looks like an end; parsing strips a `ddd-` that
        // begins a middle line (servers that repeat the code): what comes back is that.
        const expected = text.map((line, i) => {
          if (i === 0 || i === text.length - 1) return line;
          const indented = /^\d{3}( |$)/.test(line) ? ` ${line}` : line;
          return indented.startsWith(`${value}-`) ? indented.slice(4) : indented;
        });
        assert.deepEqual(out[0].lines, expected);
      }),
    );
  });

  test("PORT and EPRT addresses", () => {
    fc.assert(
      fc.property(ipv4, port, (host, number) => {
        assert.deepEqual(decodeFtpPort(encodeFtpPort({ host, port: number })), {
          host,
          port: number,
        });
        assert.deepEqual(decodeFtpEprt(encodeFtpEprt({ host, port: number })), {
          host,
          port: number,
        });
      }),
    );
    fc.assert(
      fc.property(ipv6, port, (host, number) => {
        // The host comes back canonical: the same address, and a fixed point.
        const decoded = decodeFtpEprt(encodeFtpEprt({ host, port: number }));
        assert.equal(decoded.port, number);
        assert.ok(sameFtpHost(decoded.host, host), `${decoded.host} is ${host}`);
        assert.deepEqual(decodeFtpEprt(encodeFtpEprt(decoded)), decoded);
      }),
    );
  });

  test("MLSD facts, times and 257 paths", () => {
    const factName = fc.stringMatching(/^[a-z][a-z0-9.]{0,8}$/);
    const factValue = fc.stringMatching(/^[^;\r\n\0 ]{0,12}$/);
    fc.assert(
      fc.property(
        fc.dictionary(factName, factValue, { maxKeys: 5 }),
        lineText(40).filter((name) => name.length > 0 && !name.startsWith(" ")),
        (facts, name) => {
          const entry = parseFtpFacts(formatFtpFacts({ name, facts }));
          assert.deepEqual(entry, { name, facts: { ...facts } });
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.date({ min: new Date("1970-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }),
        (time) => {
          assert.equal(parseFtpTime(formatFtpTime(time)).getTime(), time.getTime());
        },
      ),
    );
    fc.assert(
      fc.property(lineText(60), (path) => {
        assert.equal(parseFtpPath(formatFtpPath(path, "created")), path);
      }),
    );
  });

  test("LIST lines: what formatFtpListLine writes, parseFtpListLine reads back", () => {
    fc.assert(
      fc.property(
        lineText(40).filter((name) => name.trim() === name && name.length > 0),
        fc.constantFrom("file" as const, "dir" as const),
        fc.nat(Number.MAX_SAFE_INTEGER),
        fc.date({ min: new Date("1970-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }),
        fc.date({ min: new Date("1970-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }),
        (name, type, size, modified, now) => {
          const entry = parseFtpListLine(formatFtpListLine({ name, type, size, modified }, now))!;
          assert.equal(entry.name, name);
          assert.equal(entry.type, type);
          assert.equal(entry.size, size);
          assert.equal(entry.modified.month, modified.getUTCMonth() + 1);
          assert.equal(entry.modified.day, modified.getUTCDate());
          if (entry.modified.year !== undefined) {
            assert.equal(entry.modified.year, modified.getUTCFullYear());
          } else {
            assert.equal(entry.modified.hour, modified.getUTCHours());
            assert.equal(entry.modified.minute, modified.getUTCMinutes());
          }
        },
      ),
    );
  });
});
