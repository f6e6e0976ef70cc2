// Reading upload sources chunk by chunk: web streams and async iterables.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chunksOf, isReadableStream } from "../../io/stream.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

async function collect(source: AsyncIterable<Uint8Array>): Promise<number[][]> {
  const out: number[][] = [];
  for await (const chunk of source) out.push([...chunk]);
  return out;
}

describe("io: byte sources", () => {
  test("a ReadableStream: its chunks in order, and the lock released at the end", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes(1, 2));
        controller.enqueue(bytes(3));
        controller.close();
      },
    });
    assert.ok(isReadableStream(stream));
    assert.deepEqual(await collect(chunksOf(stream)), [[1, 2], [3]]);
    assert.equal(stream.locked, false);
  });

  test("a ReadableStream left early: the lock is released", async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes(9));
      },
    });
    for await (const chunk of chunksOf(stream)) {
      assert.deepEqual([...chunk], [9]);
      break;
    }
    assert.equal(stream.locked, false);
  });

  test("an async iterable is given back as it is", async () => {
    async function* source() {
      yield bytes(4);
      yield bytes(5, 6);
    }
    const iterable = source();
    assert.equal(isReadableStream(iterable), false);
    assert.equal(chunksOf(iterable), iterable);
    assert.deepEqual(await collect(chunksOf(iterable)), [[4], [5, 6]]);
  });
});
