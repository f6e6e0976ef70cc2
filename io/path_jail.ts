/**
 * Keeping a server's paths inside its root directory, the same way for both protocols: which
 * names a path component may have, the root's real path (taken once), and whether a real path
 * (every symbolic link followed) is still inside the root.
 *
 * @module
 */

import { realpath } from "node:fs/promises";
import { sep } from "node:path";

// Names Windows reserves for devices, with or without an extension.
const DEVICE_NAME = /^(con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)(\..*)?$/i;

/**
 * Whether `name` may be one component of a path inside a root: not empty, `.` or `..`, no
 * backslash, no control character, no Windows device name and no drive letter (`c:`).
 */
export function allowedPathComponent(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("\\") &&
    // deno-lint-ignore no-control-regex
    !/[\x00-\x1f\x7f]/.test(name) && !DEVICE_NAME.test(name) && !/^[a-z]:/i.test(name);
}

/** A root directory, and the checks that keep real paths inside it. */
export interface PathJail {
  /** The root's real path: taken once; a failure (the root missing) is not kept, so the root
   * may appear later. */
  root(): Promise<string>;
  /** Whether the real path `path` is the root `base` (from {@linkcode PathJail.root}) or under it. */
  contains(base: string, path: string): boolean;
  /**
   * The real path of `path` (which must exist; rejects with the file system's error otherwise),
   * or `undefined` when a symbolic link anywhere on it leads out of the root.
   */
  realInside(base: string, path: string): Promise<string | undefined>;
}

/**
 * The jail of `root`.
 *
 * @param root The directory paths must stay in.
 * @returns Its checks.
 */
export function pathJail(root: string): PathJail {
  let real: Promise<string> | undefined;
  const contains = (base: string, path: string): boolean =>
    path === base || path.startsWith(base.endsWith(sep) ? base : base + sep);
  return {
    root: () =>
      real ??= realpath(root).catch((error) => {
        real = undefined;
        throw error;
      }),
    contains,
    async realInside(base, path) {
      const resolved = await realpath(path);
      return contains(base, resolved) ? resolved : undefined;
    },
  };
}
