// TYPE A line ends (RFC 959 section 3.1.1.1): LF in files, CRLF on the wire, whatever the chunks.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FtpAsciiDecoder, FtpAsciiEncoder } from "../../codec/mod.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunks: Uint8Array[]) => {
  const whole = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(whole);
};

/** `input` cut at every pair of places (three chunks, empty ones included). */
function* splits(input: string): Generator<string[]> {
  for (let a = 0; a <= input.length; a++) {
    for (let b = a; b <= input.length; b++) {
      yield [input.slice(0, a), input.slice(a, b), input.slice(b)];
    }
  }
}

describe("TYPE A", () => {
  const cases: [file: string, wire: string][] = [
    ["", ""],
    ["one\ntwo\n", "one\r\ntwo\r\n"],
    ["no line end", "no line end"],
    ["\n\n", "\r\n\r\n"],
    // Already CRLF: left as it is; a lone CR stays a lone CR.
    ["dos\r\nline\r\n", "dos\r\nline\r\n"],
    ["a\rb\n", "a\rb\r\n"],
    ["ends with CR\r", "ends with CR\r"],
  ];

  test("file to wire: each LF not after a CR becomes CRLF, however the file is cut", () => {
    for (const [file, wire] of cases) {
      for (const parts of splits(file)) {
        const encoder = new FtpAsciiEncoder();
        assert.equal(text(parts.map((part) => encoder.encode(bytes(part)))), wire, parts.join("|"));
      }
    }
  });

  test("wire to file: CRLF becomes LF, a held CR comes out with the next chunk or at the end", () => {
    const decoded: [wire: string, file: string][] = [
      ["", ""],
      ["one\r\ntwo\r\n", "one\ntwo\n"],
      ["bare\nLF", "bare\nLF"],
      ["lone\rCR", "lone\rCR"],
      ["ends with CR\r", "ends with CR\r"],
      ["\r\r\n", "\r\n"],
    ];
    for (const [wire, file] of decoded) {
      for (const parts of splits(wire)) {
        const decoder = new FtpAsciiDecoder();
        const out = parts.map((part) => decoder.decode(bytes(part)));
        out.push(decoder.flush());
        assert.equal(text(out), file, parts.join("|"));
      }
    }
  });

  test("a CR at the end of a chunk is held until what follows shows", () => {
    const decoder = new FtpAsciiDecoder();
    assert.equal(text([decoder.decode(bytes("a\r"))]), "a");
    assert.equal(text([decoder.decode(bytes("\nb\r"))]), "\nb");
    assert.equal(text([decoder.flush()]), "\r");
    // Flushed: nothing is held any more.
    assert.equal(decoder.flush().length, 0);
  });

  test("a chunk needing no change is returned as it is", () => {
    const chunk = bytes("plain\r\n");
    assert.equal(new FtpAsciiEncoder().encode(chunk), chunk);
  });

  test("files round-trip: wire(file) decodes to the file, when the file has no lone CR before LF", () => {
    for (const [file] of cases) {
      if (/\r\n/.test(file)) continue; // CRLF in a file is sent as it is and comes back as LF
      const wire = new FtpAsciiEncoder().encode(bytes(file));
      const decoder = new FtpAsciiDecoder();
      assert.equal(text([decoder.decode(wire), decoder.flush()]), file);
    }
  });
});
