/**
 * What a logged-in FTP user may do on each path: one function of the path and what is there,
 * made from the user's access at login. The MLST/MLSD `perm` fact (RFC 3659 section 7.5.5) is
 * written from it, and MFMT and SITE CHMOD ask it before they ask the storage. A per-directory
 * policy would be another function of the same shape.
 *
 * @module
 */

import type { FtpStorageStat } from "./storage.ts";
import type { FtpUserAccess } from "./_server_session_types.ts";
import { type FtpsDirectoryPermissions, ftpsPermissionsAt } from "./permissions.ts";

/**
 * An operation on a path: the ten of RFC 3659 section 7.5.5's `perm` fact (as named below), and
 * MFMT's and SITE CHMOD's.
 */
export type FtpOperation =
  | "read" // r: RETR, and HASH
  | "write" // w: STOR onto the file
  | "append" // a: APPE to the file
  | "create" // c: STOR, APPE and STOU of new files in the directory, RNTO to new names there
  | "mkdir" // m: MKD in the directory
  | "delete" // d: DELE of the file, RMD of the directory
  | "purge" // p: deleting what the directory holds
  | "rename" // f: RNFR
  | "enter" // e: CWD into the directory
  | "list" // l: LIST, NLST, MLSD of the directory
  | "set-modified" // MFMT
  | "chmod"; // SITE CHMOD

/** What the user may do on `path`, where the storage has something of `type`. */
export type FtpPermissions = (
  path: string,
  type: FtpStorageStat["type"],
) => ReadonlySet<FtpOperation>;

/** The access flags, each given (the directory rules go apart). */
export type AccessFlags = Required<Omit<FtpUserAccess, "directories">>;

/** Everything false: no login yet. */
export const NO_ACCESS: AccessFlags = {
  write: false,
  overwrite: false,
  setModified: false,
  chmod: false,
};

/**
 * The access flags with their defaults (false) in place.
 *
 * @param access The flags as the driver gave them.
 * @returns Every flag.
 */
export function fullAccess(access: FtpUserAccess): AccessFlags {
  return {
    write: access.write ?? false,
    overwrite: access.overwrite ?? false,
    setModified: access.setModified ?? false,
    chmod: access.chmod ?? false,
  };
}

/**
 * The user's permissions, the same on every path: reading and listing for all; with `write`,
 * creating, deleting and renaming (never the top directory itself), MFMT and SITE CHMOD where
 * the storage can do them; with `overwrite` too, STOR onto and APPE to existing files.
 *
 * @param access What the user may do.
 * @param directories Per-directory permissions, narrowing what `access` gives on each path.
 * @returns The permissions of each path.
 */
export function ftpUserPermissions(
  access: AccessFlags,
  directories?: FtpsDirectoryPermissions,
): FtpPermissions {
  const everywhere = sameEverywhere(access);
  return directories === undefined
    ? everywhere
    : (path, type) => narrowed(everywhere(path, type), directories, path, type);
}

/** The directory a path is in (`/a/b` → `/a`, `/a` → `/`; `/` for `/`). */
function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/**
 * What the directory rules leave of `base` on `path`: a file by its directory's rule; a
 * directory by its own (listing, creating, MKD, deleting inside) and its parent's (RMD, renames,
 * MFMT, SITE CHMOD of it).
 */
function narrowed(
  base: ReadonlySet<FtpOperation>,
  directories: FtpsDirectoryPermissions,
  path: string,
  type: FtpStorageStat["type"],
): ReadonlySet<FtpOperation> {
  const parent = ftpsPermissionsAt(directories, parentOf(path));
  const own = type === "dir" ? ftpsPermissionsAt(directories, path) : parent;
  const needs: Record<FtpOperation, boolean> = {
    read: parent.has("read"),
    write: parent.has("write"),
    append: parent.has("append"),
    create: own.has("write"),
    mkdir: own.has("mkdir"),
    delete: type === "dir" ? parent.has("rmdir") : parent.has("delete"),
    purge: own.has("delete"),
    rename: parent.has("rename"),
    enter: true,
    list: own.has("list"),
    "set-modified": parent.has("write"),
    chmod: parent.has("write"),
  };
  return new Set([...base].filter((operation) => needs[operation]));
}

/** The permissions `access` gives, the same on every path (cached by type). */
function sameEverywhere(access: AccessFlags): FtpPermissions {
  const sets = new Map<string, ReadonlySet<FtpOperation>>();
  return (path, type) => {
    const top = path === "/";
    const key = `${type}${top ? "/" : ""}`;
    let operations = sets.get(key);
    if (!operations) {
      const allowed: FtpOperation[] = [];
      const directory = type === "dir";
      if (directory) allowed.push("enter", "list");
      if (type === "file") allowed.push("read");
      if (access.write) {
        if (directory) allowed.push("create", "mkdir", "purge");
        if (!top) allowed.push("delete", "rename");
        if (type === "file" && access.overwrite) allowed.push("write", "append");
        if (access.setModified) allowed.push("set-modified");
        if (access.chmod && !top) allowed.push("chmod");
      }
      sets.set(key, operations = new Set(allowed));
    }
    return operations;
  };
}

/** RFC 3659 section 7.5.5's indicators, in the order the fact lists them. */
const PERM_LETTERS: readonly (readonly [string, FtpOperation])[] = [
  ["a", "append"],
  ["c", "create"],
  ["d", "delete"],
  ["e", "enter"],
  ["f", "rename"],
  ["l", "list"],
  ["m", "mkdir"],
  ["p", "purge"],
  ["r", "read"],
  ["w", "write"],
];

/**
 * The `perm` fact's value for a set of operations (RFC 3659 section 7.5.5).
 *
 * @param operations What the user may do there.
 * @returns The indicators, in alphabetical order (`"r"`, `"adfrw"`, `"cdeflmp"`).
 */
export function permFact(operations: ReadonlySet<FtpOperation>): string {
  return PERM_LETTERS.filter(([, operation]) => operations.has(operation))
    .map(([letter]) => letter).join("");
}
