/**
 * Writing a file so that it appears whole or not at all: the bytes go to a temporary file beside
 * the target, which takes the target's name only once complete. A failure, an abort or a crash
 * leaves whatever had the name before (and at worst a `.part` file, never a truncated target).
 *
 * Shared by every protocol's downloads and uploads; imports no protocol code.
 *
 * @module
 */

import { type FileHandle, link, open, realpath, rename, stat, unlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import process from "node:process";
import { basename, dirname, join } from "node:path";

/** The temporary files a write aside makes: `.<name>.<14 random characters>.part`. */
const TEMPORARY_NAME = /^\..+\.[0-9a-z]{14}\.part$/;

// The longest piece (in UTF-8 bytes) of a target's name kept in its temporary file's name, so that
// the temporary name stays under the usual 255-byte limit.
const TEMPORARY_PREFIX_BYTES = 200;

/**
 * Whether `name` (one path component) is one of the temporary files {@linkcode createAtomicFile}
 * makes: listings leave them out.
 *
 * @param name A file name.
 * @returns Whether it is a temporary file's.
 */
export function isAtomicFileTemporary(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}

/** 64 random bits in base 36, always 14 characters. */
function randomName(): string {
  return Array.from(
    crypto.getRandomValues(new Uint32Array(2)),
    (n) => n.toString(36).padStart(7, "0"),
  ).join("");
}

/** The longest start of `name` that fits in `limit` UTF-8 bytes, cut between code points. */
function utf8Prefix(name: string, limit: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of name) {
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes > limit) break;
    end += char.length;
  }
  return name.slice(0, end);
}

/** How {@linkcode createAtomicFile} writes. */
export interface AtomicFileOptions {
  /** Replace an existing file of that name (default `true`). With `false`, `commit` fails with
   * the file system's `EEXIST` when the name is taken, even by a file created meanwhile. */
  overwrite?: boolean;
  /** Permission bits of a new file (default `0o644`, less the umask). A file that replaces
   * another takes that one's permission bits (and, when the process may, its owner). */
  mode?: number;
  /**
   * What to do when the target exists and is not a regular file (a device such as `/dev/null`,
   * a pipe): `"refuse"` (default) throws a `TypeError`; `"write"` writes into it as it is, in
   * place (nothing can be renamed over a device), as a download to `/dev/null` expects.
   */
  special?: "refuse" | "write";
  /** Bytes gathered before each write to disk (default 65536; 0 writes each chunk at once):
   * small chunks, such as TFTP blocks, reach the disk in few large writes. */
  bufferSize?: number;
}

/** A file being written aside; `commit` gives it its name, `abort` removes it. */
export interface AtomicFile {
  /** The name the file takes on `commit`. */
  readonly path: string;
  /** Where the bytes go meanwhile: a hidden `.part` file in the same directory (the target
   * itself when it is a device or pipe written in place). */
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
  // A symbolic link stays one: the file it names is the one replaced.
  const target = await realpath(path).catch(() => path);
  const existing: Stats | undefined = await stat(target).catch(() => undefined);
  if (existing && !existing.isFile()) {
    if (options.special !== "write" || existing.isDirectory()) {
      throw new TypeError(`Not a regular file: "${path}"`);
    }
    return inPlace(path, await open(target, "w"));
  }
  const temporaryPath = join(
    dirname(target),
    `.${utf8Prefix(basename(target), TEMPORARY_PREFIX_BYTES)}.${randomName()}.part`,
  );
  // "wx": a new file, never one that exists (nor a symbolic link planted under that name).
  const handle: FileHandle = await open(temporaryPath, "wx", options.mode ?? 0o644);
  if (existing) {
    // What replaces a file keeps its permissions (a 0600 file must not become readable by
    // others), and its owner where the process may give it.
    try {
      await handle.chmod(existing.mode & 0o7777);
      if (process.getuid?.() === 0) await handle.chown(existing.uid, existing.gid);
    } catch (error) {
      await handle.close().catch(() => {});
      await unlink(temporaryPath).catch(() => {});
      throw error;
    }
  }
  const overwrite = options.overwrite ?? true;
  const capacity = options.bufferSize ?? 65536;
  let batch: Uint8Array | undefined;
  let filled = 0;
  let done = false;

  const flush = async () => {
    if (filled === 0 || !batch) return;
    const full = batch.subarray(0, filled);
    filled = 0;
    await writeAll(handle, full);
  };

  return {
    path,
    temporaryPath,
    async write(chunk) {
      if (done) throw new TypeError("The file is already committed or aborted");
      if (filled + chunk.length > capacity) await flush();
      if (chunk.length >= capacity) return await writeAll(handle, chunk);
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
          await rename(temporaryPath, target);
        } else {
          // link() fails when the name is taken, even by a file made since the check: a
          // create-only write with no race.
          await link(temporaryPath, target);
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

/** Writes all of `bytes` (a write may take fewer than it was given). */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    offset += (await handle.write(bytes, offset, bytes.length - offset, null)).bytesWritten;
  }
}

/** A device or pipe, written as it is: no temporary file, nothing to rename or remove. */
function inPlace(path: string, handle: FileHandle): AtomicFile {
  let done = false;
  const close = async () => {
    if (done) return;
    done = true;
    await handle.close();
  };
  return {
    path,
    temporaryPath: path,
    async write(chunk) {
      if (done) throw new TypeError("The file is already committed or aborted");
      await writeAll(handle, chunk);
    },
    flush: () => Promise.resolve(),
    commit: close,
    abort: () => close().catch(() => {}),
  };
}
