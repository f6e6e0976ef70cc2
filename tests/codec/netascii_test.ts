import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { NetasciiDecoder, netasciiEncodedLength, NetasciiEncoder } from "../../codec/mod.ts";
import { bytes } from "../_bytes.ts";

const CR = 0x0d;
const LF = 0x0a;

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Splits `data` at the given cut points (any numbers; taken modulo the length, sorted). */
function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(data.subarray(start, point));
    start = point;
  }
  chunks.push(data.subarray(start));
  return chunks;
}

function decodeAll(chunks: Uint8Array[]): Uint8Array {
  const decoder = new NetasciiDecoder();
  return concat([...chunks.map((chunk) => decoder.decode(chunk)), decoder.flush()]);
}

describe("netascii encoder", () => {
  test("RFC 1350/RFC 764: LF becomes CR LF and CR becomes CR NUL", () => {
    const encoder = new NetasciiEncoder();
    assert.deepEqual(encoder.encode(bytes("a\nb\rc")), bytes("a", CR, LF, "b", CR, 0, "c"));
    assert.deepEqual(encoder.flush(), new Uint8Array(0));
  });

  test("CR LF in the input stays recoverable: CR NUL CR LF", () => {
    assert.deepEqual(new NetasciiEncoder().encode(bytes("x\r\n")), bytes("x", CR, 0, CR, LF));
  });

  test("a chunk without CR or LF is returned as it is", () => {
    const chunk = bytes("plain text");
    assert.equal(new NetasciiEncoder().encode(chunk), chunk);
  });

  test("counts bytes in and out", () => {
    const encoder = new NetasciiEncoder();
    encoder.encode(bytes("a\n"));
    encoder.encode(bytes("\r"));
    assert.equal(encoder.bytesIn, 3);
    assert.equal(encoder.bytesOut, 5);
  });

  test("netasciiEncodedLength is the encoded length", () => {
    assert.equal(netasciiEncodedLength(bytes("one\ntwo\r\n")), 12);
    assert.equal(netasciiEncodedLength(new Uint8Array(0)), 0);
  });
});

describe("netascii decoder", () => {
  test("CR LF becomes LF and CR NUL becomes CR", () => {
    assert.deepEqual(decodeAll([bytes("a", CR, LF, "b", CR, 0, "c")]), bytes("a\nb\rc"));
  });

  test("a CR at the end of a chunk waits for the next chunk", () => {
    const decoder = new NetasciiDecoder();
    assert.deepEqual(decoder.decode(bytes("a", CR)), bytes("a"));
    assert.equal(decoder.pending, true);
    assert.deepEqual(decoder.decode(bytes(LF, "b")), bytes("\nb"));
    assert.equal(decoder.pending, false);
    assert.deepEqual(decoder.flush(), new Uint8Array(0));
  });

  test("a held CR survives an empty chunk", () => {
    const decoder = new NetasciiDecoder();
    decoder.decode(bytes(CR));
    assert.deepEqual(decoder.decode(new Uint8Array(0)), new Uint8Array(0));
    assert.deepEqual(decoder.decode(bytes(0)), bytes(CR));
  });

  test("a CR at the very end of the input is kept by flush", () => {
    const decoder = new NetasciiDecoder();
    assert.deepEqual(decoder.decode(bytes("end", CR)), bytes("end"));
    assert.deepEqual(decoder.flush(), bytes(CR));
    assert.equal(decoder.pending, false);
  });

  test("a CR followed by another byte is kept, and so is that byte", () => {
    assert.deepEqual(decodeAll([bytes("a", CR, "b")]), bytes("a", CR, "b"));
    assert.deepEqual(decodeAll([bytes(CR), bytes("b")]), bytes(CR, "b"));
    assert.deepEqual(decodeAll([bytes(CR, CR, LF)]), bytes(CR, LF));
    assert.deepEqual(decodeAll([bytes(CR), bytes(CR), bytes(LF)]), bytes(CR, LF));
  });

  test("a chunk without CR is returned as it is", () => {
    const chunk = bytes("plain\ntext");
    assert.equal(new NetasciiDecoder().decode(chunk), chunk);
  });
});

describe("netascii properties", () => {
  test("decode(encode(x)) = x for any bytes split at any boundaries", () => {
    const interesting = fc.uint8Array({ maxLength: 300 }).map((data) =>
      data.map((byte) => [CR, LF, 0, byte][byte & 3])
    );
    fc.assert(
      fc.property(
        interesting,
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (data, encodeCuts, decodeCuts) => {
          const encoder = new NetasciiEncoder();
          const wire = concat([
            ...split(data, encodeCuts).map((c) => encoder.encode(c)),
            encoder.flush(),
          ]);
          assert.equal(wire.length, netasciiEncodedLength(data));
          assert.equal(encoder.bytesOut, wire.length);
          assert.deepEqual(decodeAll(split(wire, decodeCuts)), data);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("decoding any bytes in any chunks equals decoding them whole, and never drops a byte", () => {
    const wireLike = fc.uint8Array({ maxLength: 200 }).map((data) =>
      data.map((byte) => [CR, LF, 0, byte][byte & 3])
    );
    fc.assert(
      fc.property(wireLike, fc.array(fc.nat(), { maxLength: 6 }), (wire, cuts) => {
        const whole = decodeAll([wire]);
        assert.deepEqual(decodeAll(split(wire, cuts)), whole);
        // Only CR LF and CR NUL pairs shrink, one byte each.
        let pairs = 0;
        for (let i = 0; i + 1 < wire.length; i++) {
          if (wire[i] === CR && (wire[i + 1] === LF || wire[i + 1] === 0)) {
            pairs++;
            i++;
          }
        }
        assert.equal(whole.length, wire.length - pairs);
      }),
      { numRuns: 2000 },
    );
  });
});
