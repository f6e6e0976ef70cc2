/**
 * Per-directory permissions of FTPS users: a map of directories of the user's tree to what may be
 * done there, inherited by everything below until a deeper directory names its own (the model of
 * SFTPGo's per-directory permissions). `ftpPermissionStorage` enforces them on any
 * {@linkcode FtpStorage}; the session machine writes the MLST/MLSD `perm` fact from the same rules.
 *
 * @module
 */

import { type FtpStorage, FtpStorageError, type FtpWriteStream } from "./storage.ts";
import { wraps } from "./_storage_beneath.ts";

/**
 * An operation a directory's rule allows, for what is in that directory:
 *
 * - `list`: LIST, NLST, MLSD of the directory (MLST, SIZE and MDTM of one path stay allowed);
 * - `read`: RETR (and HASH) of its files;
 * - `write`: STOR of new files and of existing ones (over them, with overwrites allowed), STOU,
 *   MFMT and SITE CHMOD;
 * - `append`: APPE, and STOR after REST (an upload continued);
 * - `delete`: DELE of its files;
 * - `rename`: RNFR and RNTO, from and to it;
 * - `mkdir`: MKD in it;
 * - `rmdir`: RMD of its subdirectories.
 */
export type FtpsPermission =
  | "list"
  | "read"
  | "write"
  | "append"
  | "delete"
  | "rename"
  | "mkdir"
  | "rmdir";

/** Every {@linkcode FtpsPermission}. */
export const FTPS_PERMISSIONS: readonly FtpsPermission[] = [
  "list",
  "read",
  "write",
  "append",
  "delete",
  "rename",
  "mkdir",
  "rmdir",
];

/**
 * Directories (absolute paths of the user's tree, `/` its top) and what each allows (`"*"`:
 * everything). A directory without a rule of its own has its nearest ancestor's; one with no
 * ruled ancestor allows everything (the storage's own policy, such as read-only, still holds).
 */
export type FtpsDirectoryPermissions = Readonly<Record<string, readonly FtpsPermission[] | "*">>;

/**
 * Checks a permissions map: absolute, normalized directories (no `.`, `..`, empty or trailing
 * components) and known permissions.
 *
 * @example
 * ```ts
 * import { checkFtpsPermissions } from "@ftkit/ftkit/ftps";
 *
 * checkFtpsPermissions({ "/": ["list", "read"], "/incoming": ["list", "write"] }); // fine
 * try {
 *   checkFtpsPermissions({ "incoming/": ["write"] });
 * } catch (error) {
 *   console.log((error as Error).message); // "permissions: 'incoming/' is not an absolute ..."
 * }
 * ```
 *
 * @param permissions The map.
 * @param name What it is called in the message.
 * @throws {TypeError} At the first mistake.
 */
export function checkFtpsPermissions(
  permissions: FtpsDirectoryPermissions,
  name = "permissions",
): void {
  for (const [directory, allowed] of Object.entries(permissions)) {
    const parts = directory.split("/").slice(1);
    const normal = directory === "/" ||
      (directory.startsWith("/") &&
        parts.every((part) => part !== "" && part !== "." && part !== ".."));
    if (!normal) {
      throw new TypeError(
        `${name}: '${directory}' is not an absolute directory path (such as "/" or "/incoming")`,
      );
    }
    if (allowed === "*") continue;
    if (!Array.isArray(allowed)) throw new TypeError(`${name}['${directory}']: a list, or "*"`);
    for (const permission of allowed) {
      if (!FTPS_PERMISSIONS.includes(permission)) {
        throw new TypeError(
          `${name}['${directory}']: unknown permission '${permission}' (${
            FTPS_PERMISSIONS.join(", ")
          })`,
        );
      }
    }
  }
}

/**
 * What the rules allow in a directory: the rule of the directory itself, or of its nearest
 * ancestor that has one; everything when none has.
 *
 * @example
 * ```ts
 * import { ftpsPermissionsAt } from "@ftkit/ftkit/ftps";
 *
 * const rules = { "/": ["list", "read"], "/incoming": ["write"] } as const;
 * console.log([...ftpsPermissionsAt(rules, "/incoming/2026")]); // ["write"]
 * console.log([...ftpsPermissionsAt(rules, "/pub")]); // ["list", "read"]
 * ```
 *
 * @param permissions The rules.
 * @param directory An absolute, normalized directory path.
 * @returns The permissions there.
 */
export function ftpsPermissionsAt(
  permissions: FtpsDirectoryPermissions,
  directory: string,
): ReadonlySet<FtpsPermission> {
  for (let at = directory;;) {
    if (Object.hasOwn(permissions, at)) {
      const allowed = permissions[at];
      return new Set(allowed === "*" ? FTPS_PERMISSIONS : allowed);
    }
    if (at === "/") return new Set(FTPS_PERMISSIONS);
    const slash = at.lastIndexOf("/");
    at = slash === 0 ? "/" : at.slice(0, slash);
  }
}

/** The directory a path is in (`/a/b` → `/a`, `/a` → `/`). */
function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/**
 * A storage that refuses (550 "Permission denied.") what the rules do not allow, and otherwise
 * does what `storage` does. Paths are those the session machine gives, absolute and normalized.
 *
 * @example
 * ```ts
 * import { ftpDirectoryStorage, ftpPermissionStorage } from "@ftkit/ftkit/ftps";
 *
 * // A drop box: uploads into /incoming, nothing listed or read there; the rest read-only.
 * const storage = ftpPermissionStorage(
 *   ftpDirectoryStorage("/srv/ftp", { allowWrite: true }),
 *   { "/": ["list", "read"], "/incoming": ["write"] },
 * );
 * console.log(typeof storage.write); // "function"
 * ```
 *
 * @param storage What is served.
 * @param permissions The rules (checked with {@linkcode checkFtpsPermissions}).
 * @returns The storage with the rules applied.
 */
export function ftpPermissionStorage(
  storage: FtpStorage,
  permissions: FtpsDirectoryPermissions,
): FtpStorage {
  checkFtpsPermissions(permissions);
  /** Runs `run` when `permission` holds in `directory`; else rejects with 550. */
  const when = <T>(
    directory: string,
    permission: FtpsPermission,
    run: () => Promise<T>,
  ): Promise<T> =>
    ftpsPermissionsAt(permissions, directory).has(permission)
      ? run()
      : Promise.reject(new FtpStorageError(550, "Permission denied."));
  const guarded: FtpStorage = {
    stat: (path) => storage.stat(path),
    list: (path) => when(path, "list", () => storage.list(path)),
    read: (path, offset) => when(parentOf(path), "read", () => storage.read(path, offset)),
    write: (path, options): Promise<FtpWriteStream> =>
      when(
        parentOf(path),
        options.append || options.offset > 0 ? "append" : "write",
        () => storage.write(path, options),
      ),
    writeUnique: (directory) => when(directory, "write", () => storage.writeUnique(directory)),
    mkdir: (path) => when(parentOf(path), "mkdir", () => storage.mkdir(path)),
    rmdir: (path) => when(parentOf(path), "rmdir", () => storage.rmdir(path)),
    delete: (path) => when(parentOf(path), "delete", () => storage.delete(path)),
    rename: (from, to) =>
      when(
        parentOf(from),
        "rename",
        () => when(parentOf(to), "rename", () => storage.rename(from, to)),
      ),
  };
  const { setModified, chmod, listPages } = storage;
  if (listPages) {
    // Checked when the first page is asked for: a refusal comes before any page.
    guarded.listPages = async function* (path) {
      if (!ftpsPermissionsAt(permissions, path).has("list")) {
        throw new FtpStorageError(550, "Permission denied.");
      }
      yield* listPages.call(storage, path);
    };
  }
  if (setModified) {
    guarded.setModified = (path, modified) =>
      when(parentOf(path), "write", () => setModified.call(storage, path, modified));
  }
  if (chmod) {
    guarded.chmod = (path, mode) =>
      when(parentOf(path), "write", () => chmod.call(storage, path, mode));
  }
  wraps(guarded, storage);
  return guarded;
}
