/**
 * An object written as it arrives: bytes gather in a part buffer; a full buffer goes out as one
 * part of a multipart upload while the next fills, so memory stays at two parts whatever the
 * object's size. An object smaller than a part goes out in one PUT. Nothing is visible before
 * `complete`; `abort` (or any failure) aborts the multipart upload, so no object and no pending
 * upload are left.
 *
 * @module
 */

import { type S3Client, S3Error } from "./client.ts";

/** S3's smallest part, but for the last. */
export const MIN_PART_SIZE: number = 5 * 1024 * 1024;
/** S3's largest part, and the largest range one UploadPartCopy copies. */
export const MAX_PART_SIZE: number = 5 * 1024 * 1024 * 1024;

/** How an upload is cut. */
export interface S3UploadOptions {
  /** Bytes per part (default 8 MiB, at least 5 MiB): two parts' worth is the memory it holds. */
  readonly partSize?: number;
  /** The most parts an upload may have (default 10000, S3's limit; Swift's s3api allows 1000
   * unless configured otherwise). More bytes than `partSize * maxParts` fail. */
  readonly maxParts?: number;
  /** `x-amz-meta-*` headers for the object. */
  readonly headers?: Record<string, string>;
}

/** Thrown when an upload would need more parts than allowed. */
export class S3TooLargeError extends Error {
  /** Makes the error. */
  constructor() {
    super("The object would need more parts than the store allows");
    this.name = "S3TooLargeError";
  }
}

/**
 * One object being uploaded. Call `write` again only once the previous call has resolved; then
 * exactly one of `complete` and `abort`.
 *
 * @example
 * ```ts ignore
 * import { S3Client } from "./client.ts";
 * import { S3Upload } from "./upload.ts";
 *
 * declare const s3: S3Client;
 * const upload = new S3Upload(s3, "big.bin");
 * await upload.write(new Uint8Array(20 * 1024 * 1024));
 * await upload.complete();
 * ```
 */
export class S3Upload {
  readonly #client: S3Client;
  readonly #key: string;
  readonly #partSize: number;
  readonly #maxParts: number;
  readonly #headers: Record<string, string>;
  #buffer: Uint8Array | undefined;
  #filled = 0;
  #uploadId: Promise<string> | undefined;
  readonly #etags: string[] = [];
  #inFlight: Promise<void> | undefined;
  #failure: unknown;
  #written = 0;
  #ended = false;

  /**
   * Starts nothing yet: the first full part (or `complete`) sends the first request.
   *
   * @param client The bucket's client.
   * @param key The object's key.
   * @param options How parts are cut.
   */
  constructor(client: S3Client, key: string, options: S3UploadOptions = {}) {
    this.#client = client;
    this.#key = key;
    this.#partSize = Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, options.partSize ?? 8 << 20));
    this.#maxParts = Math.max(1, Math.min(10_000, options.maxParts ?? 10_000));
    this.#headers = options.headers ?? {};
  }

  /** The bytes written so far. */
  get written(): number {
    return this.#written;
  }

  /** The multipart upload's id, once one was started. */
  uploadId(): Promise<string> | undefined {
    return this.#uploadId;
  }

  #start(): Promise<string> {
    this.#uploadId ??= this.#client.createUpload(this.#key, this.#headers);
    return this.#uploadId;
  }

  /** Sends the buffer as the next part; waits for the part before it first. */
  async #flush(): Promise<void> {
    const body = this.#buffer?.subarray(0, this.#filled) ?? new Uint8Array(0);
    this.#buffer = undefined;
    this.#filled = 0;
    const part = this.#etags.length + 1;
    if (part > this.#maxParts) throw new S3TooLargeError();
    this.#etags.push("");
    await this.#inFlight;
    if (this.#failure !== undefined) throw this.#failure;
    const sent = (async () => {
      const id = await this.#start();
      this.#etags[part - 1] = await this.#client.uploadPart(this.#key, id, part, body);
    })();
    // A failure is kept for the next call: the caller learns of it then, or at `complete`.
    this.#inFlight = sent.catch((error) => {
      this.#failure ??= error;
    });
  }

  /**
   * Adds bytes to the object.
   *
   * @param bytes The next bytes (copied: the caller may reuse them).
   */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.#ended) throw new TypeError("The upload has ended");
    if (this.#failure !== undefined) throw this.#failure;
    let at = 0;
    while (at < bytes.length) {
      this.#buffer ??= new Uint8Array(this.#partSize);
      const take = Math.min(bytes.length - at, this.#partSize - this.#filled);
      this.#buffer.set(bytes.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      this.#written += take;
      if (this.#filled === this.#partSize) await this.#flush();
    }
  }

  /**
   * Copies the first `length` bytes of an existing object into the upload, ahead of what is
   * written next (APPE and REST then STOR keep what was there). Ranges of at least a part are
   * copied by the store (UploadPartCopy); a shorter head is read and written.
   *
   * @param from The source key.
   * @param length How many bytes.
   * @param etag The source's ETag, so that a source changed meanwhile is an error.
   */
  async prefill(from: string, length: number, etag?: string): Promise<void> {
    if (this.#written !== 0) throw new TypeError("prefill comes before any write");
    let at = 0;
    while (length - at >= MIN_PART_SIZE) {
      const end = Math.min(length, at + MAX_PART_SIZE);
      // The last copied part may not leave less than a part's minimum to read.
      const cut = length - end > 0 && length - end < MIN_PART_SIZE ? end - MIN_PART_SIZE : end;
      const part = this.#etags.length + 1;
      if (part > this.#maxParts) throw new S3TooLargeError();
      const id = await this.#start();
      this.#etags.push(await this.#client.uploadPartCopy(this.#key, id, part, from, at, cut));
      at = cut;
      this.#written = at;
    }
    if (at === length) return;
    const response = await this.#client.get(from, at, etag);
    if (!response?.body) throw new S3Error(`GET ${from}`, 416, "InvalidRange");
    const reader = response.body.getReader();
    try {
      while (this.#written < length) {
        const { value, done } = await reader.read();
        if (done) throw new S3Error(`GET ${from}`, 200, "ShortBody");
        await this.write(value.subarray(0, length - this.#written));
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  /** Makes the object visible, whole. On failure the upload is aborted, then the error thrown. */
  async complete(): Promise<void> {
    if (this.#ended) throw new TypeError("The upload has ended");
    this.#ended = true;
    try {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#uploadId === undefined) {
        const body = this.#buffer?.subarray(0, this.#filled) ?? new Uint8Array(0);
        this.#buffer = undefined;
        await this.#client.put(this.#key, body, this.#headers);
        return;
      }
      if (this.#filled > 0 || this.#etags.length === 0) await this.#flush();
      await this.#inFlight;
      if (this.#failure !== undefined) throw this.#failure;
      await this.#client.completeUpload(this.#key, await this.#uploadId, this.#etags);
    } catch (error) {
      await this.#abortUpload();
      throw error;
    }
  }

  /** Drops the upload: nothing becomes visible, and a started multipart upload is aborted. */
  async abort(): Promise<void> {
    this.#ended = true;
    this.#buffer = undefined;
    await this.#abortUpload();
  }

  async #abortUpload(): Promise<void> {
    const pending = this.#uploadId;
    this.#uploadId = undefined;
    if (!pending) return;
    // A part still being sent is waited for: aborting first could let it land afterwards.
    await this.#inFlight;
    const id = await pending.catch(() => undefined);
    if (id !== undefined) await this.#client.abortUpload(this.#key, id);
  }
}
