/**
 * A TFTP handler that serves an S3-compatible bucket: reads stream objects, uploads (when
 * allowed) become objects only once their last block is in.
 *
 * @module
 */

import { keyPrefix, S3Client, S3Error, type S3Options } from "../io/s3/client.ts";
import { readObject } from "../io/s3/object_reader.ts";
import { S3TooLargeError, S3Upload } from "../io/s3/upload.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import { tftpPathComponents } from "./directory.ts";
import { slashBackslashes } from "./_name_folding.ts";
import {
  type TftpHandler,
  type TftpHandlerRequest,
  type TftpReadSource,
  TftpRequestError,
  type TftpWriteTarget,
} from "./handler.ts";

export { type S3Credentials, S3Error, type S3Options } from "../io/s3/client.ts";

/** What {@linkcode tftpS3Handler} serves, and how. */
export interface TftpS3HandlerOptions extends S3Options {
  /** The keys served: those under this prefix (`tftp/` serves `tftp/pxelinux.0` as
   * `pxelinux.0`). Default: the whole bucket. */
  readonly prefix?: string;
  /** Accept uploads (default `false`: read-only). */
  readonly allowWrite?: boolean;
  /** Let uploads replace existing objects (default `false`: ERROR 6 when the object exists). */
  readonly allowOverwrite?: boolean;
  /** Treat a leading `/` as the prefix's root, as tftpd-hpa's `-s` does (default `false`). */
  readonly allowLeadingSlash?: boolean;
  /** Backslashes in names: `"refuse"` (default, ERROR 2) or `"slash"` (read as `/`). */
  readonly backslashes?: "refuse" | "slash";
  /** Bytes per part of an upload (default 8 MiB, at least 5 MiB); at most two parts are held. */
  readonly partSize?: number;
  /** The most parts an upload may have (default 10000). */
  readonly maxParts?: number;
}

function failure(error: unknown): unknown {
  if (error instanceof TftpRequestError) return error;
  if (error instanceof S3TooLargeError) {
    return new TftpRequestError(TftpErrorCode.DiskFull, "File too large");
  }
  if (error instanceof S3Error && error.status === 404) {
    return new TftpRequestError(TftpErrorCode.FileNotFound, "File not found");
  }
  // The store's own words stay on the server.
  return error;
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw failure(error);
  }
}

/**
 * A handler that serves the objects of a bucket (or of the keys under a prefix), with the names
 * checked as `tftpDirectoryHandler` checks them (no `..`, no control characters, ...), `/`
 * separating "directories".
 *
 * A read answers tsize with the object's size (HEAD) and streams it; while the client has not
 * answered (it may be a forged address), only the bytes the server asks for are requested
 * (`Range`), so a forged request costs the store a HEAD and a small GET. A body that breaks off
 * is asked for again from where it stopped, only while the object keeps its ETag.
 *
 * An upload, when `allowWrite` is set, goes to a multipart upload (parts of `partSize` bytes, at
 * most two held in memory) that is completed only after the last block, and aborted on any
 * failure or timeout, so a failed upload leaves no object and no pending upload; a small upload
 * is a single PUT at its end. Without `allowOverwrite`, an existing object is refused with ERROR 6
 * when the upload starts.
 *
 * @param options The bucket, its store and credentials, and the write policy.
 * @returns The handler, for `serveTftp({ handler })`.
 * @throws {TypeError} If the endpoint or bucket name is not valid.
 *
 * @example
 * ```ts ignore
 * import { serveTftp, tftpS3Handler } from "@ftkit/ftkit/tftp";
 *
 * const handler = tftpS3Handler({
 *   endpoint: "http://127.0.0.1:8080",
 *   bucket: "netboot",
 *   credentials: { accessKeyId: "test:tester", secretAccessKey: "testing" },
 * });
 * ```
 */
export function tftpS3Handler(options: TftpS3HandlerOptions): TftpHandler {
  const client = new S3Client(options);
  const prefix = keyPrefix(options.prefix);
  const backslashes = options.backslashes ?? "refuse";
  if (backslashes !== "refuse" && backslashes !== "slash") {
    throw new TypeError(`backslashes is "refuse" or "slash", not ${JSON.stringify(backslashes)}`);
  }
  const uploadOptions = {
    ...(options.partSize !== undefined ? { partSize: options.partSize } : {}),
    ...(options.maxParts !== undefined ? { maxParts: options.maxParts } : {}),
  };

  function keyOf(request: TftpHandlerRequest): string {
    const name = backslashes === "slash" ? slashBackslashes(request.filename) : request.filename;
    return prefix + tftpPathComponents(name, options.allowLeadingSlash ?? false).join("/");
  }

  const handler: TftpHandler = {
    read: (request) =>
      guarded(async (): Promise<TftpReadSource> => {
        const key = keyOf(request);
        const object = await client.head(key);
        if (!object) throw new TftpRequestError(TftpErrorCode.FileNotFound, "File not found");
        const reader = readObject(client, key, 0, object.size, object.etag);
        return {
          size: object.size,
          read: (limit) => guarded(() => reader.read(limit)),
          close: () => reader.close(),
        };
      }),
  };
  if (options.allowWrite) {
    handler.write = (request) =>
      guarded(async (): Promise<TftpWriteTarget> => {
        const key = keyOf(request);
        if (!options.allowOverwrite && await client.head(key)) {
          throw new TftpRequestError(TftpErrorCode.FileAlreadyExists, "File already exists");
        }
        const upload = new S3Upload(client, key, uploadOptions);
        return {
          write: (chunk) => guarded(() => upload.write(chunk)),
          commit: () => guarded(() => upload.complete()),
          abort: () => guarded(() => upload.abort()),
        };
      });
  }
  return handler;
}
