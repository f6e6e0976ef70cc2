/**
 * An {@linkcode FtpStorage} over an S3-compatible bucket: AWS S3, or any store with its API
 * (MinIO, Ceph, OpenStack Swift's s3api, ...), reached with `fetch` and signed with Signature
 * Version 4. Several servers may share one bucket: nothing is kept between requests.
 *
 * @module
 */

import { allowedPathComponent } from "../io/path_jail.ts";
import { keyPrefix, S3Client, S3Error, type S3Object, type S3Options } from "../io/s3/client.ts";
import { readObject } from "../io/s3/object_reader.ts";
import { MAX_PART_SIZE, S3TooLargeError, S3Upload } from "../io/s3/upload.ts";
import {
  type FtpReadStream,
  type FtpStorage,
  type FtpStorageEntry,
  FtpStorageError,
  type FtpStorageStat,
  type FtpWriteStream,
} from "./storage.ts";

export { type S3Credentials, S3Error, type S3Options } from "../io/s3/client.ts";

/** What {@linkcode s3Storage} serves, and how. */
export interface S3StorageOptions extends S3Options {
  /** The keys served: those under this prefix (`ftp/` serves `ftp/a.txt` as `/a.txt`). Default:
   * the whole bucket. */
  readonly prefix?: string;
  /** Accept changes: uploads, MKD, RMD, DELE, RNFR/RNTO and MFMT (default `false`). */
  readonly allowWrite?: boolean;
  /** With `allowWrite`, let uploads and renames replace an object that exists (default `false`;
   * as `ftpDirectoryStorage`'s option of the same name). */
  readonly allowOverwrite?: boolean;
  /** Bytes per part of a multipart upload (default 8 MiB, at least 5 MiB). An upload holds at most
   * two parts in memory; one smaller than a part is stored with a single PUT. */
  readonly partSize?: number;
  /** The most parts an upload may have (default 10000, S3's limit; Swift's s3api allows 1000
   * unless configured otherwise): `partSize * maxParts` is the largest upload. */
  readonly maxParts?: number;
  /** The most objects a directory rename copies (default 1000); a larger tree is refused. */
  readonly maxRenameObjects?: number;
  /** Objects larger than this are copied part by part (default 5 GiB, S3's largest single copy). */
  readonly maxCopySize?: number;
}

/** Listing page size. */
const PAGE = 1000;
/** The metadata name of the modification time MFMT sets (seconds since the epoch). */
const MTIME = "mtime";

const notAllowed = () => new FtpStorageError(550, "Path is not allowed.");
const notFound = () => new FtpStorageError(550, "No such file or directory.");
const denied = () => new FtpStorageError(550, "Permission denied.");
const overwriteDenied = () => new FtpStorageError(550, "Overwrite permission denied.");
const renameDenied = () => new FtpStorageError(550, "Rename permission denied.");

/** What a store's refusal means to an FTP client; anything else stays an {@linkcode S3Error},
 * answered 451 without its text (the server's `onError` sees it). */
function mapped(error: unknown): unknown {
  if (error instanceof S3TooLargeError) return new FtpStorageError(552, "File too large.");
  if (!(error instanceof S3Error)) return error;
  if (error.status === 404) return notFound();
  if (error.code === "EntityTooLarge" || error.code === "QuotaExceeded") {
    return new FtpStorageError(552, "Insufficient storage space.");
  }
  if (error.status === 412) return new FtpStorageError(450, "File changed meanwhile.");
  return error;
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapped(error);
  }
}

/** An object's modification time: MFMT's, else the store's. */
function modifiedOf(object: S3Object): Date {
  const set = Number(object.meta?.[MTIME]);
  return Number.isFinite(set) && object.meta?.[MTIME] ? new Date(set * 1000) : object.modified;
}

/**
 * Serves a bucket (or the keys under a prefix) as an FTP file tree.
 *
 * How S3's flat keys become a tree: `/` separates directories; a directory exists when a key lies
 * under it or its folder marker (an empty object `dir/`, which MKD makes and RMD deletes) does.
 * Listings are ListObjectsV2 with the delimiter `/`, read a page of up to 1000 keys at a time
 * (`listPages`: the server streams LIST, NLST and MLSD from them, never holding a whole listing).
 * Directories show the Unix epoch as their time (S3 keeps none for a prefix).
 *
 * - RETR streams the object (`Range` from a REST offset); a body that breaks off is asked for again
 *   from where it stopped, only while the object keeps its ETag.
 * - STOR, STOU and APPE write through a multipart upload, parts of `partSize` bytes, at most two in
 *   memory; the object appears whole when the upload completes, and an aborted or failed upload is
 *   aborted in the store, leaving no object and no pending upload. An object replaced keeps its
 *   old bytes until then.
 * - APPE and REST then STOR keep the first bytes of the existing object (copied by the store,
 *   UploadPartCopy, from 5 MiB on; read and written back below that) ahead of the new ones. As on
 *   `ftpDirectoryStorage`, an aborted resume keeps what was written: the object becomes what it
 *   was up to the offset, then the bytes received.
 * - RNFR/RNTO copies, then deletes the source (part by part above `maxCopySize`); a directory is
 *   renamed object by object (at most `maxRenameObjects`), all copies first, so a failure leaves
 *   the source whole.
 * - MFMT stores the time as the object's `x-amz-meta-mtime` (a copy onto itself); MDTM and MLST
 *   show it, listings show the store's own time (S3 lists no metadata). SITE CHMOD is not offered.
 * - DELE deletes an object; RMD deletes an empty directory's marker (550 "Directory not empty."
 *   otherwise).
 *
 * Failures of the store (after `retries` retries with backoff on 5xx, throttling and network
 * errors) are answered 451 without their detail; a missing key is 550, a store that is full 552.
 * No reply carries the store's address, keys outside the prefix, or credentials.
 *
 * Without `allowOverwrite`, an upload or rename checks that its target is absent when it starts;
 * an object another server stores under that name meanwhile can still be replaced (S3 offers no
 * create-only write that every store honours).
 *
 * @param options The bucket, its store and credentials, and the write policy.
 * @returns The storage, for `serveFtps`.
 * @throws {TypeError} If the endpoint or bucket name is not valid.
 *
 * @example
 * ```ts ignore
 * import { s3Storage, serveFtps } from "@ftkit/ftkit/ftps";
 *
 * const storage = s3Storage({
 *   endpoint: "http://127.0.0.1:8080",
 *   bucket: "files",
 *   prefix: "ftp/",
 *   credentials: { accessKeyId: "test:tester", secretAccessKey: "testing" },
 *   allowWrite: true,
 * });
 * console.log((await storage.stat("/")).type); // "dir"
 * ```
 */
export function s3Storage(options: S3StorageOptions): FtpStorage & {
  listPages(path: string): AsyncIterable<FtpStorageEntry[]>;
} {
  const client = new S3Client(options);
  const prefix = keyPrefix(options.prefix);
  const allowWrite = options.allowWrite ?? false;
  const allowOverwrite = options.allowOverwrite ?? false;
  const uploadOptions = {
    ...(options.partSize !== undefined ? { partSize: options.partSize } : {}),
    ...(options.maxParts !== undefined ? { maxParts: options.maxParts } : {}),
  };
  const maxRenameObjects = options.maxRenameObjects ?? 1000;
  const maxCopySize = Math.min(MAX_PART_SIZE, options.maxCopySize ?? MAX_PART_SIZE);

  /** The key of a path (`""` for the root, which is no object). */
  function keyOf(path: string): string {
    if (typeof path !== "string" || !path.startsWith("/")) throw notAllowed();
    if (path === "/") return prefix;
    const components = path.slice(1).split("/");
    if (!components.every(allowedPathComponent)) throw notAllowed();
    return prefix + components.join("/");
  }

  /** The prefix of the keys under a directory. */
  function dirKey(path: string): string {
    return path === "/" ? prefix : `${keyOf(path)}/`;
  }

  function writable(): void {
    if (!allowWrite) throw denied();
  }

  /** Whether a directory exists: the root always; others by a marker or a key under them. */
  async function dirStat(path: string): Promise<FtpStorageStat | undefined> {
    if (path === "/") return { type: "dir", size: 0, modified: new Date(0) };
    const base = dirKey(path);
    const [first] = (await client.list(base, { maxKeys: 1 })).objects;
    if (!first) return undefined;
    // A marker (the first key, when there is one) carries the directory's time.
    if (first.key !== base) return { type: "dir", size: 0, modified: new Date(0) };
    const marker = await client.head(base);
    return { type: "dir", size: 0, modified: marker ? modifiedOf(marker) : first.modified };
  }

  async function stat(path: string): Promise<FtpStorageStat> {
    if (path !== "/") {
      const object = await client.head(keyOf(path));
      if (object) return { type: "file", size: object.size, modified: modifiedOf(object) };
    }
    const dir = await dirStat(path);
    if (!dir) throw notFound();
    return dir;
  }

  function parentOf(path: string): string {
    return path.slice(0, path.lastIndexOf("/")) || "/";
  }

  async function parentMustExist(path: string): Promise<void> {
    const parent = parentOf(path);
    if (parent === "/") return;
    const found = await stat(parent).catch(() => undefined);
    if (found?.type !== "dir") throw notFound();
  }

  async function* listPages(path: string): AsyncGenerator<FtpStorageEntry[]> {
    const base = dirKey(path);
    let token: string | undefined;
    let pages = 0;
    let any = path === "/";
    do {
      const page = await guarded(() =>
        client.list(base, { delimiter: "/", maxKeys: PAGE, ...(token ? { token } : {}) })
      );
      const entries: FtpStorageEntry[] = [];
      for (const common of page.prefixes) {
        any = true;
        const name = common.slice(base.length, -1);
        if (allowedPathComponent(name)) {
          entries.push({ name, type: "dir", size: 0, modified: new Date(0) });
        }
      }
      for (const object of page.objects) {
        any = true;
        const name = object.key.slice(base.length);
        if (object.key === base || !allowedPathComponent(name)) continue;
        entries.push({ name, type: "file", size: object.size, modified: object.modified });
      }
      if (!any && pages === 0) {
        // Nothing under it: a file, or nothing at all.
        const found = await guarded(() => stat(path));
        if (found.type !== "dir") throw new FtpStorageError(550, "Not a directory.");
      }
      pages++;
      if (entries.length > 0) yield entries;
      token = page.next;
    } while (token);
  }

  async function overwriteCheck(key: string): Promise<S3Object | undefined> {
    const existing = await client.head(key);
    if (existing && !allowOverwrite) throw overwriteDenied();
    return existing;
  }

  function writeStream(upload: S3Upload, keepOnAbort: boolean): FtpWriteStream {
    let finished = false;
    return {
      write: (bytes) => guarded(() => upload.write(bytes)),
      async commit(): Promise<void> {
        if (finished) return;
        finished = true;
        await guarded(() => upload.complete());
      },
      async abort(): Promise<void> {
        if (finished) return;
        finished = true;
        // A resume keeps what it wrote (REST then STOR is for continuing later).
        if (keepOnAbort) await guarded(() => upload.complete());
        else await guarded(() => upload.abort());
      },
    };
  }

  /** Copies one object, part by part when it is too big for one copy. */
  async function copyObject(from: S3Object, to: string): Promise<void> {
    if (from.size <= maxCopySize) return await client.copy(from.key, to);
    const id = await client.createUpload(to);
    try {
      const etags: string[] = [];
      for (let at = 0; at < from.size; at += maxCopySize) {
        const end = Math.min(from.size, at + maxCopySize);
        etags.push(await client.uploadPartCopy(to, id, etags.length + 1, from.key, at, end));
      }
      await client.completeUpload(to, id, etags);
    } catch (error) {
      await client.abortUpload(to, id).catch(() => {});
      throw error;
    }
  }

  /** Every object under a prefix, a page at a time. */
  async function* objectsUnder(base: string): AsyncGenerator<S3Object[]> {
    let token: string | undefined;
    do {
      const page = await client.list(base, { maxKeys: PAGE, ...(token ? { token } : {}) });
      yield page.objects;
      token = page.next;
    } while (token);
  }

  async function renameDirectory(from: string, to: string): Promise<void> {
    const source = dirKey(from);
    const target = dirKey(to);
    if (target.startsWith(source)) {
      throw new FtpStorageError(550, "Cannot move a directory into itself.");
    }
    let count = 0;
    for await (const objects of objectsUnder(source)) {
      count += objects.length;
      if (count > maxRenameObjects) {
        throw new FtpStorageError(550, "Directory too large to rename.");
      }
    }
    const copied: string[] = [];
    try {
      for await (const objects of objectsUnder(source)) {
        for (const object of objects) {
          const key = target + object.key.slice(source.length);
          await copyObject(object, key);
          copied.push(key);
        }
      }
      // A directory known only by the keys under it keeps existing under its new name.
      if (copied.length === 0) await client.put(target, new Uint8Array(0));
    } catch (error) {
      for (const key of copied) await client.delete(key).catch(() => {});
      throw error;
    }
    for await (const objects of objectsUnder(source)) {
      for (const object of objects) await client.delete(object.key);
    }
  }

  return {
    stat: (path) => guarded(() => stat(path)),

    async list(path: string): Promise<FtpStorageEntry[]> {
      const all: FtpStorageEntry[] = [];
      for await (const page of listPages(path)) all.push(...page);
      return all;
    },

    listPages,

    read: (path, offset) =>
      guarded(async (): Promise<FtpReadStream> => {
        const object = await client.head(keyOf(path));
        if (!object) {
          if (await dirStat(path)) throw new FtpStorageError(550, "Is a directory.");
          throw notFound();
        }
        const reader = readObject(client, object.key, offset, object.size, object.etag);
        return {
          size: object.size,
          read: () => guarded(() => reader.read()),
          close: () => reader.close(),
        };
      }),

    write: (path, { offset, append }) =>
      guarded(async (): Promise<FtpWriteStream> => {
        writable();
        const key = keyOf(path);
        if (path === "/" || await dirStat(path)) throw new FtpStorageError(550, "Is a directory.");
        await parentMustExist(path);
        const existing = await overwriteCheck(key);
        if (offset > 0 && !append && (!existing || existing.size < offset)) {
          throw new FtpStorageError(550, "Restart offset beyond end of file.");
        }
        const upload = new S3Upload(client, key, uploadOptions);
        const kept = append ? existing?.size ?? 0 : offset;
        try {
          if (existing && kept > 0) await upload.prefill(key, kept, existing.etag);
        } catch (error) {
          await upload.abort().catch(() => {});
          throw error;
        }
        return writeStream(upload, offset > 0 && !append);
      }),

    writeUnique: (directory) =>
      guarded(async () => {
        writable();
        const found = await stat(directory);
        if (found.type !== "dir") throw new FtpStorageError(550, "Not a directory.");
        for (let tries = 0; tries < 16; tries++) {
          const random = crypto.getRandomValues(new Uint8Array(8));
          const name = `ftkit.${
            Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")
          }`;
          const path = directory === "/" ? `/${name}` : `${directory}/${name}`;
          if (await client.head(keyOf(path))) continue;
          return {
            path,
            stream: writeStream(new S3Upload(client, keyOf(path), uploadOptions), false),
          };
        }
        throw new FtpStorageError(451, "Local error.");
      }),

    mkdir: (path) =>
      guarded(async () => {
        writable();
        if (path === "/") throw new FtpStorageError(550, "File exists.");
        await parentMustExist(path);
        if (await client.head(keyOf(path)) || await dirStat(path)) {
          throw new FtpStorageError(550, "File exists.");
        }
        await client.put(dirKey(path), new Uint8Array(0));
      }),

    rmdir: (path) =>
      guarded(async () => {
        writable();
        if (path === "/") throw denied();
        const base = dirKey(path);
        const page = await client.list(base, { maxKeys: 2 });
        if (page.objects.length === 0) {
          if (await client.head(keyOf(path))) throw new FtpStorageError(550, "Not a directory.");
          throw notFound();
        }
        if (page.objects.some((object) => object.key !== base)) {
          throw new FtpStorageError(550, "Directory not empty.");
        }
        await client.delete(base);
      }),

    delete: (path) =>
      guarded(async () => {
        writable();
        const key = keyOf(path);
        if (path === "/" || !await client.head(key)) {
          if (await dirStat(path)) throw new FtpStorageError(550, "Is a directory.");
          throw notFound();
        }
        await client.delete(key);
      }),

    rename: (from, to) =>
      guarded(async () => {
        writable();
        if (from === "/" || to === "/") throw renameDenied();
        const source = await client.head(keyOf(from));
        const sourceDir = source ? undefined : await dirStat(from);
        if (!source && !sourceDir) throw notFound();
        await parentMustExist(to);
        if (await dirStat(to)) throw new FtpStorageError(550, "File exists.");
        const target = await client.head(keyOf(to));
        if (target && (sourceDir || !allowOverwrite)) {
          throw sourceDir ? new FtpStorageError(550, "File exists.") : renameDenied();
        }
        if (source) {
          if (keyOf(from) === keyOf(to)) return;
          await copyObject(source, keyOf(to));
          await client.delete(source.key);
          return;
        }
        await renameDirectory(from, to);
      }),

    setModified: (path, modified) =>
      guarded(async () => {
        writable();
        const key = keyOf(path);
        const seconds = String(Math.floor(modified.getTime() / 1000));
        const object = path === "/" ? undefined : await client.head(key);
        if (object) {
          if (object.size > maxCopySize) throw new FtpStorageError(550, "File too large to touch.");
          return await client.copy(key, key, { ...object.meta, [MTIME]: seconds });
        }
        if (!await dirStat(path)) throw notFound();
        // A directory's time lives on its marker (made if it had none).
        await client.put(dirKey(path), new Uint8Array(0), { [`x-amz-meta-${MTIME}`]: seconds });
      }),
  };
}
