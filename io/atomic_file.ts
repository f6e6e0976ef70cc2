/**
 * Writing a file so that it appears whole or not at all: the bytes go to a temporary file beside
 * the target, which takes the target's name only once complete. A failure, an abort or a crash
 * leaves whatever had the name before (and at worst a `.part` file, never a truncated target).
 *
 * Shared by every protocol's downloads and uploads; imports no protocol code.
 *
 * @module
 */

import { type FileHandle, link, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** How {@linkcode createAtomicFile} writes. */
export interface AtomicFileOptions {
  /** Replace an existing file of that name (default `true`). With `false`, `commit` fails with
   * the file system's `EEXIST` when the name is taken, even by a file created meanwhile. */
  overwrite?: boolean;
  /** Permission bits of the new file (default `0o644`, less the umask). */
  mode?: number;
  /** Bytes gathered before each write to disk (default 65536): small chunks, such as TFTP
   * blocks, reach the disk in few large writes. */
  bufferSize?: number;
}

/** A file being written aside; `commit` gives it its name, `abort` removes it. */
export interface AtomicFile {
  /** The name the file takes on `commit`. */
  readonly path: string;
  /** Where the bytes go meanwhile: a hidden `.part` file in the same directory. */
  readonly temporaryPath: string;
  /** Appends bytes; call it again only once the previous call has resolved. */
  write(chunk: Uint8Array): Promise<void>;
  /** Writes out what is gathered, so the bytes so far are on disk. */
  flush(): Promise<void>;
  /** Completes the file: writes out what is gathered, closes it and gives it its name. On
   * failure the temporary file is removed and the error (from the file system) thrown. */
  commit(): Promise<void>;
  /** Discards the file: closes and removes it. Does nothing after `commit` or a first `abort`. */
  abort(): Promise<void>;
}

/**
 * Starts writing `path` aside: opens a new temporary file beside it (in the same directory, so
 * that the final rename is atomic). Nothing named `path` is touched before `commit`.
 *
 * @param path The file to write.
 * @param options Overwrite policy, permissions, buffering.
 * @returns The file being written.
 * @throws The file system's error when the temporary file cannot be made (no such directory,
 * no permission, ...).
 *
 * @example
 * ```ts ignore
 * const file = await createAtomicFile("firmware.bin");
 * try {
 *   for await (const chunk of download) await file.write(chunk);
 *   await file.commit(); // firmware.bin is now the whole download
 * } catch (error) {
 *   await file.abort(); // firmware.bin is as it was
 *   throw error;
 * }
 * ```
 */
export async function createAtomicFile(
  path: string,
  options: AtomicFileOptions = {},
): Promise<AtomicFile> {
  const temporaryPath = join(
    dirname(path),
    `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.part`,
  );
  // "wx": a new file, never one that exists (nor a symbolic link planted under that name).
  const handle: FileHandle = await open(temporaryPath, "wx", options.mode ?? 0o644);
  const overwrite = options.overwrite ?? true;
  const capacity = options.bufferSize ?? 65536;
  let batch: Uint8Array | undefined;
  let filled = 0;
  let done = false;

  const writeAll = async (bytes: Uint8Array) => {
    for (let offset = 0; offset < bytes.length;) {
      offset += (await handle.write(bytes, offset, bytes.length - offset, null)).bytesWritten;
    }
  };
  const flush = async () => {
    if (filled === 0 || !batch) return;
    const full = batch.subarray(0, filled);
    filled = 0;
    await writeAll(full);
  };

  return {
    path,
    temporaryPath,
    async write(chunk) {
      if (done) throw new TypeError("The file is already committed or aborted");
      if (filled + chunk.length > capacity) await flush();
      if (chunk.length >= capacity) return await writeAll(chunk);
      // Allocated on the first small write: a file that never gets a byte costs no buffer.
      batch ??= new Uint8Array(capacity);
      batch.set(chunk, filled);
      filled += chunk.length;
    },
    flush,
    async commit() {
      if (done) throw new TypeError("The file is already committed or aborted");
      done = true;
      try {
        await flush();
        await handle.close();
        if (overwrite) {
          await rename(temporaryPath, path);
        } else {
          // link() fails when the name is taken, even by a file made since the check: a
          // create-only write with no race.
          await link(temporaryPath, path);
          // The file has its name: a temporary name left behind is no failure of the write.
          await unlink(temporaryPath).catch(() => {});
        }
      } catch (error) {
        await handle.close().catch(() => {});
        await unlink(temporaryPath).catch(() => {});
        throw error;
      }
    },
    async abort() {
      if (done) return;
      done = true;
      await handle.close().catch(() => {});
      await unlink(temporaryPath).catch(() => {});
    },
  };
}
