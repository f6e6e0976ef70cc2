/**
 * Reading the byte sources users hand to uploads and handlers (web `ReadableStream`s and async
 * iterables) one chunk at a time, the same way in both protocols.
 *
 * @module
 */

/** Whether `value` is a web `ReadableStream` (duck-typed: streams from another realm count). */
export function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof (value as ReadableStream<Uint8Array> | undefined)?.getReader === "function";
}

/**
 * The chunks of `source`, in order. A stream is read through a reader whose lock is released when
 * the iteration ends (early or not); an iterable is given back as it is.
 */
export function chunksOf(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  return isReadableStream(source) ? streamChunks(source) : source;
}

async function* streamChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
