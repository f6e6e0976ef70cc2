/**
 * The options and results of the FTPS client's recursive operations: `FtpsClient.walk`,
 * `FtpsClient.downloadDir`, `FtpsClient.uploadDir`,
 * `FtpsClient.mirror` and a recursive `FtpsClient.removeDir`.
 *
 * Names a server lists are hostile input: an entry whose name holds "/", "\\", NUL or another
 * control character, or is "." or "..", is refused (reported, never followed nor written), and
 * every local path is checked to be under the local directory before anything is written there.
 *
 * @module
 */

import type { FtpsEntry, FtpsTransferOptions } from "./client.ts";

/** One entry of a walked tree. */
export interface FtpsWalkEntry extends FtpsEntry {
  /** The path from the walked directory, its components joined by "/" (`"docs/a b.txt"`). */
  readonly path: string;
}

/** An entry left out because of its name. */
export interface FtpsRefusedName {
  /** The directory that listed it, relative to the top ("" for the top). */
  readonly dir: string;
  /** The name as listed. */
  readonly name: string;
  /** Why it was refused. */
  readonly reason: string;
}

/** Options of `FtpsClient.walk`. */
export interface FtpsWalkOptions {
  /** The deepest level entered, the walked directory being 0 (default 32): a deeper directory is
   * reported to `onError` (or, without it, fails the walk) and not entered. */
  maxDepth?: number;
  /** The most entries, all levels together (default 100000): one more fails the walk with a
   * `RangeError`. */
  maxEntries?: number;
  /** Called with each entry refused because of its name (it is left out either way). */
  onRefused?: (refused: FtpsRefusedName) => void;
  /** Called when a directory under the top cannot be listed (its entries are then left out);
   * without it, that failure fails the walk. */
  onError?: (path: string, error: Error) => void;
  /** Whether the directory at `path` (relative) is entered (default: every one). */
  enter?: (path: string) => boolean;
  /** Stops the walk. */
  signal?: AbortSignal;
}

/** What a transfer of many files does to each file, beyond the options they all share. */
export type FtpsTreeTransferOptions = Omit<FtpsTransferOptions, "offset" | "onProgress" | "signal">;

/** Options of `FtpsClient.downloadDir` and `FtpsClient.uploadDir`. */
export interface FtpsTreeOptions {
  /** Glob patterns of the files to take (default: every file): `*`, `?`, `**`, `[a-z]`; a
   * pattern without "/" matches a name at any depth, one with "/" the path from the top. */
  include?: readonly string[];
  /** Glob patterns of the files and directories to leave out (a directory with all it holds). */
  exclude?: readonly string[];
  /** Connections moving files at once, 1-16 (default 1). The tree is listed on the client's own
   * connection; each other one is a client of its own, connected and logged in with the same
   * options (and its own TLS session to resume). */
  parallel?: number;
  /** Uploads: follow symbolic links to files and directories (default false: links are skipped
   * and reported). A link back to a directory being walked is skipped; depth and entry limits
   * hold. Links are never followed on the server. */
  followLinks?: boolean;
  /** The deepest level walked (default 32). */
  maxDepth?: number;
  /** The most entries walked on either side (default 100000). */
  maxEntries?: number;
  /** Options given to every file's `getFile` or `putFile`. */
  transfer?: FtpsTreeTransferOptions;
  /** Called as each step is done (or, with `dryRun`, planned). */
  onEvent?: (event: FtpsMirrorEvent) => void;
  /** Stops the whole operation: running transfers are aborted (ABOR) and it rejects. */
  signal?: AbortSignal;
}

/** Options of `FtpsClient.mirror`. */
export interface FtpsMirrorOptions extends FtpsTreeOptions {
  /** `"download"` (default): the source is the server's, the destination local; `"upload"`: the
   * other way. */
  direction?: "download" | "upload";
  /** Remove what the destination holds and the source does not (default false); excluded
   * entries are kept. Nothing is removed when the source could not be listed whole. */
  delete?: boolean;
  /** Only report what would be done (default false): nothing is created, copied or removed. */
  dryRun?: boolean;
  /** Copy a file only when it is missing or newer at the source, not when only its size differs
   * (default false). */
  onlyNewer?: boolean;
}

/** One step of a mirror or tree transfer. */
export interface FtpsMirrorEvent {
  /** What: a file copied, a directory made, an entry removed, an entry skipped, a failure. */
  readonly type: "copy" | "mkdir" | "delete" | "skip" | "error";
  /** The path from the top ("/"-separated). */
  readonly path: string;
  /** Bytes copied (`copy`; with `dryRun`, the source's size when known). */
  readonly bytes?: number;
  /** Why (`skip`, `error`). */
  readonly reason?: string;
  /** Whether it was only planned (`dryRun`). */
  readonly dryRun: boolean;
}

/** A failure on one path. */
export interface FtpsTreeError {
  /** The path from the top ("" for the whole operation). */
  readonly path: string;
  /** What went wrong. */
  readonly message: string;
}

/** What a mirror or tree transfer did (or, with `dryRun`, would do). */
export interface FtpsMirrorResult {
  /** Files copied. */
  readonly copied: readonly string[];
  /** Bytes copied. */
  readonly bytes: number;
  /** Directories made at the destination. */
  readonly created: readonly string[];
  /** Entries removed from the destination (`delete`). */
  readonly deleted: readonly string[];
  /** Entries not copied, and why (up to date, a symbolic link, not a regular file). */
  readonly skipped: readonly { readonly path: string; readonly reason: string }[];
  /** Failures: names refused, listings, transfers or removals that failed. */
  readonly errors: readonly FtpsTreeError[];
  /** What did not stop the work but should be known (a pool connection that could not be
   * opened). */
  readonly warnings: readonly string[];
  /** The connections that moved files. */
  readonly connections: number;
}

/** Options of a recursive `FtpsClient.removeDir`. */
export interface FtpsRemoveDirOptions {
  /** Remove everything under the directory first, depth first (DELE, then RMD). */
  recursive?: boolean;
  /** The deepest level walked (default 32). */
  maxDepth?: number;
  /** The most entries walked (default 100000). */
  maxEntries?: number;
  /** Stops the removal between commands. */
  signal?: AbortSignal;
}
