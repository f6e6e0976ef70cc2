/**
 * Serving a directory over FTP, jailed: the {@linkcode FtpStorage} that `serveFtps` drives, backed
 * by a real directory. Read-only unless writes are enabled, and create-only unless overwriting is
 * enabled too; every path is resolved component by component inside the root and a symbolic link
 * that leads out of it is treated as absent; an uploaded file appears whole or not at all
 * (temporary file, then rename).
 *
 * @module
 */

import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
  utimes,
} from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";
import type { FtpStorageEntry, FtpStorageStat } from "./storage.ts";
import { createAtomicFile, isAtomicFileTemporary } from "../io/atomic_file.ts";
import { OPEN_APPEND, OPEN_READ, OPEN_UPDATE } from "../io/open_flags.ts";
import { allowedPathComponent, pathJail } from "../io/path_jail.ts";
import {
  type FtpReadStream,
  type FtpStorage,
  FtpStorageError,
  type FtpWriteStream,
} from "./storage.ts";

/** How {@linkcode ftpDirectoryStorage} serves its directory. */
export interface FtpDirectoryStorageOptions {
  /**
   * Accept changes: STOR, APPE, STOU, MKD, RMD, DELE, RNFR/RNTO, and `setModified` (MFMT) and
   * `chmod` (SITE CHMOD) (default `false`: read-only; every change is refused with 550
   * "Permission denied.").
   */
  allowWrite?: boolean;
  /**
   * With `allowWrite`, let uploads and renames change a file that exists (default `false`:
   * create-only, as ProFTPD's `AllowOverwrite off` with `AllowStoreRestart off`, its defaults).
   * Without it, STOR, REST then STOR (resuming) and APPE onto an existing file are refused with
   * 550 "Overwrite permission denied." and RNTO onto one with 550 "Rename permission denied.";
   * the file keeps its bytes. Creating files is unaffected: STOR or APPE of a new name, STOU.
   */
  allowOverwrite?: boolean;
  /** The most bytes read from disk at a time (default 262144; fewer into a smaller buffer lent
   * to `read`: the server lends each download one of 16-256 KiB, by how many run at once). */
  readChunkSize?: number;
}

// Tries at a fresh STOU name before giving up (each is 64 random bits: a clash is the disk's doing).
const UNIQUE_TRIES = 16;
// Directory entries examined at once while listing.
const LIST_BATCH = 64;

const notAllowed = () => new FtpStorageError(550, "Path is not allowed.");
const notFound = () => new FtpStorageError(550, "No such file or directory.");
const denied = () => new FtpStorageError(550, "Permission denied.");
// ProFTPD's replies under AllowOverwrite off (mod_xfer's STOR, mod_core's RNTO), without the path.
const overwriteDenied = () => new FtpStorageError(550, "Overwrite permission denied.");
const renameDenied = () => new FtpStorageError(550, "Rename permission denied.");

/** Splits an absolute virtual path (`/` or `/a/b`) into its components, refusing anything else. */
function pathComponents(path: string): string[] {
  if (typeof path !== "string" || !path.startsWith("/")) throw notAllowed();
  if (path === "/") return [];
  const components = path.slice(1).split("/");
  if (!components.every(allowedPathComponent)) throw notAllowed();
  return components;
}

/** Maps a file system error onto the reply a client may see (never with a real path in it). */
function storageError(error: unknown): FtpStorageError {
  if (error instanceof FtpStorageError) return error;
  switch ((error as { code?: unknown } | null)?.code) {
    case "ENOENT":
    case "ENOTDIR":
    case "ELOOP":
      return notFound();
    case "EEXIST":
      return new FtpStorageError(550, "File exists.");
    case "ENOTEMPTY":
      return new FtpStorageError(550, "Directory not empty.");
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return denied();
    case "EISDIR":
      return new FtpStorageError(550, "Is a directory.");
    case "ENOSPC":
    case "EDQUOT":
      // RFC 959 section 4.2: 552 "exceeded storage allocation".
      return new FtpStorageError(552, "Insufficient storage space.");
    case "ENAMETOOLONG":
      // RFC 959 section 4.2: 553 "File name not allowed".
      return new FtpStorageError(553, "File name not allowed.");
    default:
      return new FtpStorageError(451, "Local error.");
  }
}

/** Runs a file system call, mapping its failure with `storageError`. */
async function mapped<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    throw storageError(error);
  }
}

function entryType(info: {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}): FtpStorageStat["type"] {
  return info.isFile()
    ? "file"
    : info.isDirectory()
    ? "dir"
    : info.isSymbolicLink()
    ? "link"
    : "other";
}

/** The `unique` fact of a file (RFC 3659 section 7.5.2): its device and inode numbers, in hex. */
function uniqueOf(info: { dev: number; ino: number }): string {
  return `${info.dev.toString(16)}g${info.ino.toString(16)}`;
}

/** What `stat` and listings say about a file. */
function statOf(info: Stats): FtpStorageStat {
  return {
    type: entryType(info),
    size: info.size,
    modified: info.mtime,
    unique: uniqueOf(info),
  };
}

/** 64 random bits in base 36, always 14 characters. */
function randomName(): string {
  return Array.from(
    crypto.getRandomValues(new Uint32Array(2)),
    (n) => n.toString(36).padStart(7, "0"),
  ).join("");
}

/** Writes all of `bytes` at `position` (`null`: the file's own position, or its end if appending). */
async function writeAll(
  file: FileHandle,
  bytes: Uint8Array,
  position: number | null,
): Promise<number> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(
      bytes,
      done,
      bytes.length - done,
      position === null ? null : position + done,
    );
    done += bytesWritten;
  }
  return done;
}

/** A path inside the root, located: where its entry is and what it resolves to. */
interface Located {
  /** The components of the virtual path (none for the root). */
  readonly components: readonly string[];
  /** The entry itself: its parent directory's real path joined with its name. */
  readonly path: string;
  /** What the entry resolves to (inside the root), or `undefined` when nothing is there. */
  readonly real: string | undefined;
}

/**
 * A storage that serves the directory `root` ({@linkcode FtpStorage}).
 *
 * Paths are jailed: a virtual path is split into components, refusing (550 "Path is not
 * allowed.") empty, `.` and `..` components, backslashes, control characters, Windows device
 * names and drive letters; then every existing component is resolved and must stay inside the
 * root's real path. A symbolic link inside the root is followed when it leads to a place inside
 * the root; one that leads out of it, or nowhere, is treated as absent: 550 "No such file or
 * directory." whatever is (or is not) at the other end, and listings omit it. Listings also omit
 * the temporary files of uploads in progress and names the jail would refuse (they could not be
 * reached, and a control character in a name would break a LIST line).
 *
 * Uploads (RFC 959 section 4.1.3):
 * - STOR (`offset` 0) writes a temporary file `.<name>.<random>.part` beside the target and gives
 *   it the target's name on commit, so a partial upload never replaces an existing file; abort
 *   deletes it. A link inside the root is written through: its target is the file replaced.
 *   Without `allowOverwrite` the name is taken with a hard link, which fails when something took
 *   it meanwhile (550 "Overwrite permission denied." at the end of the transfer).
 * - APPE (`append`, any `offset` ignored) appends to the file, or creates it; abort truncates it
 *   back to its old length, or deletes it if it was new.
 * - REST then STOR (`offset` above 0) continues an existing file of at least `offset` bytes: it is
 *   cut to `offset` and written from there. Abort keeps what was written: that is the point of
 *   resuming.
 * - STOU makes `ftkit.<random>` in the directory, exclusively; abort deletes it.
 *
 * Without `allowOverwrite`, no upload changes a file that exists: STOR onto it is refused, as
 * ProFTPD refuses it under `AllowOverwrite off`, and so are APPE and REST then STOR, which
 * ProFTPD refuses under `AllowStoreRestart off` (both its defaults; its warning: appending or
 * resuming lets a client corrupt or grow files that are not its own). Each is answered 550
 * "Overwrite permission denied." (ProFTPD answers APPE 451, a temporary failure: this one is
 * not); APPE of a new name creates the file. With `allowOverwrite`, all three act on existing
 * files as described above.
 *
 * `setModified` (MFMT) sets a file's or directory's modification time, keeping its access time;
 * `chmod` (SITE CHMOD) sets its permission bits (0 to 0o777), but never the root's. Both act on
 * what a link inside the root leads to. `stat` and listings give each entry's `unique` fact: its
 * device and inode numbers, in hex (`803g1a2b`).
 *
 * DELE, RMD and RNFR/RNTO act on the entry itself: a link is deleted or renamed, never what it
 * points to. RMD of the root, and renaming from or onto it, are refused; RNTO never replaces a
 * directory (550 "File exists."), nor, without `allowOverwrite`, anything else (550 "Rename
 * permission denied.", as ProFTPD's `AllowOverwrite off`). Error texts never contain a real
 * server path.
 *
 * Between resolving a path and opening it, another process could swap a component for a link;
 * FTP clients cannot make links, so this matters only if something else writes under the root.
 * Likewise RNTO checks that its target is absent, then renames: a file that another session
 * stores under that name in between is replaced.
 *
 * @param root The directory to serve (its real path is taken once, on first use).
 * @param options Write and overwrite policy, read chunk size.
 * @returns The storage, for `serveFtps`.
 * @throws {RangeError} If `readChunkSize` is not a positive integer.
 *
 * @example
 * ```ts ignore
 * import { ftpDirectoryStorage } from "@ftkit/ftkit/ftps";
 *
 * const storage = ftpDirectoryStorage("/srv/ftp", { allowWrite: true, allowOverwrite: true });
 * const entries = await storage.list("/pub");
 * ```
 */
export function ftpDirectoryStorage(
  root: string,
  options: FtpDirectoryStorageOptions = {},
): FtpStorage {
  const chunkSize = options.readChunkSize ?? 262144;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`Read chunk size must be a positive integer, got ${chunkSize}`);
  }
  const allowWrite = options.allowWrite ?? false;
  const allowOverwrite = options.allowOverwrite ?? false;

  const jail = pathJail(root);
  const rootPath = (): Promise<string> => mapped(jail.root());

  /** Resolves `real` (a path that exists) and checks that it stays inside the root. */
  async function resolveInside(base: string, path: string): Promise<string> {
    const real = await mapped(jail.realInside(base, path));
    if (real === undefined) throw notFound();
    return real;
  }

  /** Locates a virtual path: its parent must exist inside the root; it need not exist itself. */
  async function locate(path: string): Promise<Located> {
    const components = pathComponents(path);
    const base = await rootPath();
    if (components.length === 0) return { components, path: base, real: base };
    const parent = await resolveInside(base, join(base, ...components.slice(0, -1)));
    const entry = join(parent, components[components.length - 1]);
    let real: string;
    try {
      real = await realpath(entry);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ENOENT") throw storageError(error);
      // Absent, or a link that leads nowhere (treated like one that leads out of the root).
      if (await lstat(entry).then(() => true, () => false)) throw notFound();
      return { components, path: entry, real: undefined };
    }
    if (!jail.contains(base, real)) throw notFound();
    return { components, path: entry, real };
  }

  /** Locates a virtual path that must exist. */
  async function existing(path: string): Promise<Located & { real: string }> {
    const located = await locate(path);
    if (located.real === undefined) throw notFound();
    return located as Located & { real: string };
  }

  function writable(): void {
    if (!allowWrite) throw denied();
  }

  /** One directory entry for a listing, or `undefined` to omit it. */
  async function listEntry(
    base: string,
    directory: string,
    name: string,
  ): Promise<FtpStorageEntry | undefined> {
    if (!allowedPathComponent(name) || isAtomicFileTemporary(name)) return undefined;
    const path = join(directory, name);
    try {
      let info = await lstat(path);
      if (info.isSymbolicLink()) {
        // Reported as what it leads to, when that is inside the root.
        if (!jail.contains(base, await realpath(path))) return undefined;
        info = await stat(path);
      }
      return { name, ...statOf(info) };
    } catch {
      return undefined; // Gone since readdir, or a link leading nowhere.
    }
  }

  /**
   * A stream over an open file, written from `start` (`null`: at its end). `commit` and `abort`
   * close the file themselves; only the first call of either runs.
   */
  function writeStream(
    file: FileHandle,
    start: number | null,
    commit: () => Promise<void>,
    abort: () => Promise<void>,
  ): FtpWriteStream {
    let position = start;
    let finished = false;
    return {
      async write(bytes: Uint8Array): Promise<void> {
        const written = await mapped(writeAll(file, bytes, position));
        if (position !== null) position += written;
      },
      async commit(): Promise<void> {
        if (finished) return;
        finished = true;
        await commit();
      },
      async abort(): Promise<void> {
        if (finished) return;
        finished = true;
        await abort();
      },
    };
  }

  /** Closes `file`, mapping a failure (a delayed write error can surface here). */
  async function close(file: FileHandle): Promise<void> {
    await mapped(file.close());
  }

  /**
   * STOR: a temporary file beside `target` that takes its name on commit (io/atomic_file.ts):
   * renamed onto it, or without `allowOverwrite` linked, which fails if the name was taken.
   */
  async function replaceWrite(target: string): Promise<FtpWriteStream> {
    // Every chunk straight to disk: what the network hands over is large already.
    const file = await mapped(
      createAtomicFile(target, { bufferSize: 0, overwrite: allowOverwrite }),
    );
    let finished = false;
    return {
      write: (bytes) => mapped(file.write(bytes)),
      async commit(): Promise<void> {
        if (finished) return;
        finished = true;
        try {
          await file.commit();
        } catch (error) {
          // Another upload or rename took the name since the upload began.
          if ((error as { code?: unknown }).code === "EEXIST") throw overwriteDenied();
          throw storageError(error);
        }
      },
      async abort(): Promise<void> {
        if (finished) return;
        finished = true;
        await file.abort();
      },
    };
  }

  /** APPE: appends; abort cuts the file back to its old length, or deletes a new one. */
  async function appendWrite(located: Located): Promise<FtpWriteStream> {
    if (located.real === undefined) {
      // "x": fails if anything (even a dangling link) took the name since it was located.
      const file = await mapped(open(located.path, "ax", 0o644));
      return writeStream(file, null, () => close(file), async () => {
        await file.close().catch(() => {});
        await unlink(located.path).catch(() => {});
      });
    }
    const file = await mapped(open(located.real, OPEN_APPEND));
    const size = await regularSize(file);
    return writeStream(file, null, () => close(file), async () => {
      try {
        await mapped(file.truncate(size));
      } finally {
        await file.close().catch(() => {});
      }
    });
  }

  /** REST then STOR: continues an existing file from `offset`; abort keeps what was written. */
  async function resumeWrite(located: Located, offset: number): Promise<FtpWriteStream> {
    const beyond = () => new FtpStorageError(550, "Restart offset beyond end of file.");
    if (located.real === undefined) throw beyond();
    const file = await mapped(open(located.real, OPEN_UPDATE));
    try {
      const info = await file.stat();
      if (!info.isFile()) throw new FtpStorageError(550, "Not a regular file.");
      if (info.size < offset) throw beyond();
      await file.truncate(offset);
    } catch (error) {
      await file.close().catch(() => {});
      throw storageError(error);
    }
    return writeStream(file, offset, () => close(file), () => close(file));
  }

  return {
    async stat(path: string): Promise<FtpStorageStat> {
      const { real } = await existing(path);
      return statOf(await mapped(stat(real)));
    },

    async list(path: string): Promise<FtpStorageEntry[]> {
      const { real } = await existing(path);
      const base = await rootPath();
      if (!(await mapped(stat(real))).isDirectory()) {
        throw new FtpStorageError(550, "Not a directory.");
      }
      const names = await mapped(readdir(real));
      const entries: FtpStorageEntry[] = [];
      for (let i = 0; i < names.length; i += LIST_BATCH) {
        const batch = names.slice(i, i + LIST_BATCH).map((name) => listEntry(base, real, name));
        for (const entry of await Promise.all(batch)) if (entry) entries.push(entry);
      }
      // By UTF-16 code units: the same order on every machine, whatever its locale.
      return entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    },

    async read(path: string, offset: number): Promise<FtpReadStream> {
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new RangeError(`Offset must be a non-negative integer, got ${offset}`);
      }
      const { real } = await existing(path);
      // Checked before opening: opening a FIFO for reading would wait for a writer.
      const before = await mapped(stat(real));
      if (before.isDirectory()) throw new FtpStorageError(550, "Is a directory.");
      if (!before.isFile()) throw new FtpStorageError(550, "Not a regular file.");
      const file = await mapped(open(real, OPEN_READ));
      const size = await regularSize(file);
      let position = offset;
      let closed = false;
      return {
        size,
        async read(into?: Uint8Array): Promise<Uint8Array | null> {
          // Into the caller's buffer when it lends one: no new memory per chunk.
          const buffer = into ?? new Uint8Array(chunkSize);
          const length = Math.min(buffer.length, chunkSize);
          const { bytesRead } = await mapped(file.read(buffer, 0, length, position));
          position += bytesRead;
          return bytesRead === 0 ? null : buffer.subarray(0, bytesRead);
        },
        async close(): Promise<void> {
          if (closed) return;
          closed = true;
          await file.close();
        },
      };
    },

    async write(
      path: string,
      { offset, append }: { offset: number; append: boolean },
    ): Promise<FtpWriteStream> {
      writable();
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new RangeError(`Offset must be a non-negative integer, got ${offset}`);
      }
      const located = await locate(path);
      if (located.components.length === 0) throw new FtpStorageError(550, "Is a directory.");
      if (located.real !== undefined) {
        const info = await mapped(stat(located.real));
        if (info.isDirectory()) throw new FtpStorageError(550, "Is a directory.");
        if (!info.isFile()) throw new FtpStorageError(550, "Not a regular file.");
        // Create-only: STOR, APPE and REST then STOR all leave an existing file as it is.
        if (!allowOverwrite) throw overwriteDenied();
      }
      if (append) return await appendWrite(located);
      if (offset > 0) return await resumeWrite(located, offset);
      // A link inside the root is written through: the file it leads to is replaced.
      const target = located.real ?? located.path;
      return await replaceWrite(target);
    },

    async writeUnique(directory: string): Promise<{ path: string; stream: FtpWriteStream }> {
      writable();
      const { real } = await existing(directory);
      if (!(await mapped(stat(real))).isDirectory()) {
        throw new FtpStorageError(550, "Not a directory.");
      }
      for (let i = 0; i < UNIQUE_TRIES; i++) {
        // RFC 959 section 4.1.3 (STOU): the name must be unique in that directory.
        const name = `ftkit.${randomName()}`;
        const target = join(real, name);
        let file: FileHandle;
        try {
          file = await open(target, "wx", 0o644);
        } catch (error) {
          if ((error as { code?: unknown }).code === "EEXIST") continue;
          throw storageError(error);
        }
        const stream = writeStream(file, 0, () => close(file), async () => {
          await file.close().catch(() => {});
          await unlink(target).catch(() => {});
        });
        return { path: directory === "/" ? `/${name}` : `${directory}/${name}`, stream };
      }
      throw new FtpStorageError(451, "Local error.");
    },

    async mkdir(path: string): Promise<void> {
      writable();
      const located = await locate(path);
      if (located.real !== undefined) throw new FtpStorageError(550, "File exists.");
      await mapped(mkdir(located.path));
    },

    async rmdir(path: string): Promise<void> {
      writable();
      const located = await existing(path);
      if (located.components.length === 0) throw denied();
      if (!(await mapped(lstat(located.path))).isDirectory()) {
        throw new FtpStorageError(550, "Not a directory.");
      }
      try {
        await rmdir(located.path);
      } catch (error) {
        // POSIX lets rmdir report a non-empty directory as EEXIST too.
        if ((error as { code?: unknown }).code === "EEXIST") {
          throw new FtpStorageError(550, "Directory not empty.");
        }
        throw storageError(error);
      }
    },

    async delete(path: string): Promise<void> {
      writable();
      const located = await existing(path);
      if ((await mapped(lstat(located.path))).isDirectory()) {
        throw new FtpStorageError(550, "Is a directory.");
      }
      await mapped(unlink(located.path));
    },

    async rename(from: string, to: string): Promise<void> {
      writable();
      const source = await existing(from);
      const target = await locate(to);
      if (source.components.length === 0 || target.components.length === 0) throw denied();
      if (target.real !== undefined) {
        if ((await mapped(lstat(target.path))).isDirectory()) {
          throw new FtpStorageError(550, "File exists.");
        }
        if (!allowOverwrite) throw renameDenied();
      }
      try {
        await rename(source.path, target.path);
      } catch (error) {
        // A directory moved into itself.
        if ((error as { code?: unknown }).code === "EINVAL") throw notAllowed();
        throw storageError(error);
      }
    },

    async setModified(path: string, modified: Date): Promise<void> {
      writable();
      if (!(modified instanceof Date) || Number.isNaN(modified.getTime())) {
        throw new TypeError("The modification time must be a valid Date");
      }
      const { real } = await existing(path);
      // The access time stays as it is.
      const info = await mapped(stat(real));
      await mapped(utimes(real, info.atime, modified));
    },

    async chmod(path: string, mode: number): Promise<void> {
      writable();
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
        throw new RangeError(`Mode must be 0 to 0o777 (no setuid, setgid or sticky), got ${mode}`);
      }
      const located = await existing(path);
      // Taking every permission from the root would lock every user out of it.
      if (located.components.length === 0) throw denied();
      await mapped(chmod(located.real, mode));
    },
  };
}

/** The size of an open file, which must be a regular file (else it is closed and refused). */
async function regularSize(file: FileHandle): Promise<number> {
  try {
    const info = await file.stat();
    if (!info.isFile()) throw new FtpStorageError(550, "Not a regular file.");
    return info.size;
  } catch (error) {
    await file.close().catch(() => {});
    throw storageError(error);
  }
}
