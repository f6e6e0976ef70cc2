/**
 * A download that can be continued by a later run: its bytes go to `<target>.ftkit-part`, a name
 * known in advance, which a failure keeps (to continue from its size next time) and which takes
 * the target's name once whole. The target itself is never written before that, so it stays as
 * it was until the download is complete (io/atomic_file.ts does the same with a name no later
 * run can find).
 *
 * Shared by the protocols' clients; imports no protocol code.
 *
 * @module
 */

import { chmod, type FileHandle, lstat, open, realpath, rename, stat } from "node:fs/promises";

/** What a partial file's name adds to its target's. */
export const PARTIAL_SUFFIX = ".ftkit-part";

/** A download being written to its partial file; see the module's documentation. */
export interface PartialFile {
  /** The name the file takes on `commit`. */
  readonly path: string;
  /** The partial file: `<path>.ftkit-part`. */
  readonly partialPath: string;
  /** Its bytes so far (those an earlier run left, and those written since). */
  readonly size: number;
  /** Appends bytes; call it again only once the previous call has resolved. */
  write(chunk: Uint8Array): Promise<void>;
  /** Empties the partial file, to start over. */
  truncate(): Promise<void>;
  /** Closes the file and gives it the target's name (and an existing target's permissions). */
  commit(): Promise<void>;
  /** Closes the file and leaves it where it is, to be continued. Does nothing after `commit`. */
  keep(): Promise<void>;
}

/**
 * Opens (or creates) the partial file of `path`, positioned at its end.
 *
 * @param path The file the download is for (a symbolic link's target is the one written).
 * @returns The partial file.
 * @throws TypeError when the target or the partial name is something other than a regular file
 * (a directory, a device, a symbolic link planted under the partial name).
 */
export async function openPartialFile(path: string): Promise<PartialFile> {
  const target = await realpath(path).catch(() => path);
  const existing = await stat(target).catch(() => undefined);
  if (existing && !existing.isFile()) throw new TypeError(`Not a regular file: "${path}"`);
  const partialPath = `${target}${PARTIAL_SUFFIX}`;
  const found = await lstat(partialPath).catch(() => undefined);
  if (found && !found.isFile()) {
    throw new TypeError(`Not a regular file: "${partialPath}" (a download's partial file)`);
  }
  // "a": every write goes to the end, whatever was there.
  const handle: FileHandle = await open(partialPath, "a", 0o644);
  let size = (await handle.stat()).size;
  let open_ = true;
  const close = async () => {
    if (!open_) return false;
    open_ = false;
    await handle.close();
    return true;
  };
  return {
    path,
    partialPath,
    get size() {
      return size;
    },
    async write(chunk) {
      for (let at = 0; at < chunk.length;) {
        at += (await handle.write(chunk, at, chunk.length - at, null)).bytesWritten;
      }
      size += chunk.length;
    },
    async truncate() {
      await handle.truncate(0);
      size = 0;
    },
    async commit() {
      if (!(await close())) throw new TypeError("The partial file is already closed");
      // What replaces a file keeps its permissions (a 0600 file must not become readable).
      if (existing) await chmod(partialPath, existing.mode & 0o7777);
      await rename(partialPath, target);
    },
    async keep() {
      await close().catch(() => false);
    },
  };
}
