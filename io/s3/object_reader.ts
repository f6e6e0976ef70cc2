/**
 * An object read as a stream of chunks, from any offset: a body that breaks off or stalls is
 * asked for again from where it stopped (`Range`), only while the object keeps its ETag, a
 * bounded number of times; a stall is a read that waits longer than the client's timeout.
 *
 * @module
 */

import { type S3Client, S3Error } from "./client.ts";

/** An object opened for reading. */
export interface S3ObjectReader {
  /** The next bytes, or `null` at the end. With `limit`, a new request asks for that many bytes
   * only (the next one goes on from there). */
  read(limit?: number): Promise<Uint8Array | null>;
  /** Lets go of the body; called once, whether or not it was read to the end. */
  close(): Promise<void>;
}

const STALLED = Symbol("stalled");

/**
 * Opens `key` for reading from `start`; the first request goes out on the first read.
 *
 * @param client The bucket's client.
 * @param key The object's key.
 * @param start The first byte.
 * @param size The object's size (from HEAD): reading ends there.
 * @param etag The object's ETag (from HEAD): a re-request after a break must find the same object.
 * @returns The reader.
 *
 * @example
 * ```ts ignore
 * import { S3Client } from "./client.ts";
 * import { readObject } from "./object_reader.ts";
 *
 * declare const s3: S3Client;
 * const head = (await s3.head("a.bin"))!;
 * const reader = readObject(s3, "a.bin", 0, head.size, head.etag);
 * for (let chunk; (chunk = await reader.read()) !== null;) console.log(chunk.length);
 * await reader.close();
 * ```
 */
export function readObject(
  client: S3Client,
  key: string,
  start: number,
  size: number,
  etag: string,
): S3ObjectReader {
  let position = start;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let breaks = 0;
  let closed = false;
  // Where the current request's body ends.
  let end = size;

  async function open(
    limit?: number,
  ): Promise<ReadableStreamDefaultReader<Uint8Array> | undefined> {
    // A limit asks for that much only (a TFTP client that may be forged); the rest comes later.
    end = limit !== undefined && position + limit < size ? position + limit : size;
    const response = await client.get(
      key,
      position,
      etag || undefined,
      end < size ? end : undefined,
    );
    if (!response) return undefined;
    if (!response.body) throw new S3Error(`GET ${key}`, response.status, "NoBody");
    return response.body.getReader();
  }

  async function next(current: ReadableStreamDefaultReader<Uint8Array>) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<typeof STALLED>((resolve) => {
      timer = setTimeout(() => resolve(STALLED), client.timeoutMs);
    });
    try {
      return await Promise.race([current.read(), stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async read(limit?: number): Promise<Uint8Array | null> {
      for (;;) {
        if (closed || position >= size) return null;
        if (reader && position >= end) {
          await reader.cancel().catch(() => {});
          reader = undefined;
        }
        reader ??= await open(limit);
        if (!reader) return null;
        let failure: unknown;
        try {
          const result = await next(reader);
          if (result !== STALLED) {
            if (result.done) throw new S3Error(`GET ${key}`, 200, "ShortBody");
            const chunk = result.value.subarray(0, end - position);
            position += chunk.length;
            if (chunk.length > 0) return chunk;
            continue;
          }
          failure = new S3Error(`GET ${key}`, 200, "Stalled");
        } catch (error) {
          failure = error;
        }
        // The body broke off or stalled: ask again from here, a bounded number of times.
        const broken = reader;
        reader = undefined;
        await broken.cancel().catch(() => {});
        if (++breaks > 3) throw failure;
      }
    },
    async close(): Promise<void> {
      closed = true;
      await reader?.cancel().catch(() => {});
      reader = undefined;
    },
  };
}
