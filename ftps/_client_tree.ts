/**
 * Walking trees for the FTPS client's recursive operations: a server's directory (MLSD where FEAT
 * lists MLST, else LIST, as `FtpsClient.list` reads them), a local one, and a server's directory
 * removed depth first. Every walk is bounded in depth and entries, follows no server-side link,
 * and refuses names that could leave the tree.
 *
 * @module
 */

import { lstat, readdir, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join, resolve, sep } from "node:path";
import type { FtpsClient, FtpsEntry } from "./client.ts";
import type { FtpsRemoveDirOptions, FtpsWalkEntry, FtpsWalkOptions } from "./mirror.ts";
import { type FtpReply, ftpReplyText, parseFtpPath } from "../codec/mod.ts";
import { FtpReplyError } from "./reply_error.ts";

/** The deepest level walked unless told. */
export const DEFAULT_MAX_DEPTH = 32;
/** The most entries walked unless told. */
export const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * Why `name` (one entry of a listing) may not be a path component here, or `undefined` when it
 * may: a name with "/" or "\\" would name another directory's entry, "." and ".." this one or its
 * parent, and NUL or control characters end or forge names and lines.
 */
export function unsafeName(name: string): string | undefined {
  if (name === "") return "an empty name";
  if (name === "." || name === "..") return `the name "${name}"`;
  if (name.includes("/")) return 'a "/" in the name';
  if (name.includes("\\")) return 'a "\\" in the name';
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return "a control character in the name";
  return undefined;
}

/** A server path under `base` ("/"-joined; `relative` may be ""). */
export function remotePath(base: string, relative: string): string {
  if (relative === "") return base;
  return base.endsWith("/") ? `${base}${relative}` : `${base}/${relative}`;
}

/**
 * The local path of `relative` (checked components, "/"-joined) under `root`, refusing one that
 * would not be under it.
 */
export function localPath(root: string, relative: string): string {
  const top = resolve(root);
  if (relative === "") return top;
  const parts = relative.split("/");
  const bad = parts.map(unsafeName).find((reason) => reason !== undefined);
  if (bad) throw new TypeError(`Refused path "${relative}": ${bad}`);
  const path = join(top, ...parts);
  if (!path.startsWith(top.endsWith(sep) ? top : top + sep)) {
    throw new TypeError(`Refused path "${relative}": outside "${top}"`);
  }
  return path;
}

/** Lists a server directory. LIST's argument goes through option parsing and globbing on some
 * servers, so a LIST of a path with glob characters is one of the current directory, entered. */
async function listDirectory(
  client: FtpsClient,
  path: string,
  signal: AbortSignal | undefined,
): Promise<FtpsEntry[]> {
  const options = signal ? { signal } : {};
  // A leading "-" would be read as ls options.
  const argument = path.startsWith("-") ? `./${path}` : path;
  if (client.features.has("MLST") || !/[*?[]/.test(path)) {
    return await client.list(argument, options);
  }
  const here = await client.pwd();
  await client.cd(path);
  try {
    return await client.list(undefined, options);
  } finally {
    await client.cd(here);
  }
}

/** The walk's bounds, read once. */
function bounds(options: { maxDepth?: number; maxEntries?: number }) {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!Number.isInteger(maxDepth) || maxDepth < 0) {
    throw new RangeError(`maxDepth must be a whole number, not ${maxDepth}`);
  }
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError(`maxEntries must be a positive whole number, not ${maxEntries}`);
  }
  return { maxDepth, maxEntries };
}

/** What a walk does with the entries of one listed directory. */
interface WalkStep<T> {
  readonly options: FtpsWalkOptions;
  readonly maxDepth: number;
  readonly maxEntries: number;
  count: number;
  /** The directories left to list: relative path, depth. */
  readonly stack: [string, number, T][];
}

/** A directory below the limits is queued; one too deep is reported (or fails the walk). */
function enterDirectory<T>(step: WalkStep<T>, path: string, depth: number, state: T): void {
  if (step.options.enter && !step.options.enter(path)) return;
  if (depth > step.maxDepth) {
    const error = new RangeError(`"${path}" is deeper than maxDepth (${step.maxDepth})`);
    if (!step.options.onError) throw error;
    step.options.onError(path, error);
    return;
  }
  step.stack.push([path, depth, state]);
}

/** Counts one entry, failing the walk past the limit. */
function countEntry<T>(step: WalkStep<T>, top: string): void {
  if (++step.count > step.maxEntries) {
    throw new RangeError(`More than ${step.maxEntries} entries under "${top}" (maxEntries)`);
  }
}

/** The entries of one listing in name order, refused names reported and left out. */
function acceptedEntries<E extends { name: string }>(
  entries: readonly E[],
  dir: string,
  options: FtpsWalkOptions,
): E[] {
  const accepted: E[] = [];
  for (const entry of entries) {
    const reason = unsafeName(entry.name);
    if (reason) options.onRefused?.({ dir, name: entry.name, reason });
    else accepted.push(entry);
  }
  return accepted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Walks a server directory, parents before what they hold, entries in name order; links are
 * reported as links and never followed. The top must list (its failure fails the walk).
 */
export async function* walkRemote(
  client: FtpsClient,
  top: string,
  options: FtpsWalkOptions = {},
): AsyncGenerator<FtpsWalkEntry> {
  const step: WalkStep<undefined> = { options, ...bounds(options), count: 0, stack: [] };
  step.stack.push(["", 0, undefined]);
  while (step.stack.length > 0) {
    const [dir, depth] = step.stack.pop()!;
    options.signal?.throwIfAborted();
    let listed: FtpsEntry[];
    try {
      listed = await listDirectory(client, remotePath(top, dir), options.signal);
    } catch (error) {
      if (dir === "" || !options.onError || options.signal?.aborted) throw error;
      options.onError(dir, error as Error);
      continue;
    }
    const below: string[] = [];
    for (const entry of acceptedEntries(listed, dir, options)) {
      countEntry(step, top);
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      yield { ...entry, path };
      if (entry.type === "dir") below.push(path);
    }
    for (const path of below.reverse()) enterDirectory(step, path, depth + 1, undefined);
  }
}

/** Options of {@linkcode walkLocal}. */
export interface LocalWalkOptions extends FtpsWalkOptions {
  /** Follow symbolic links (a link to a directory being walked is reported, not entered). */
  followLinks?: boolean;
}

/** The identity of a directory: device and inode. */
const identity = (info: { dev: number; ino: number }) => `${info.dev}:${info.ino}`;

/**
 * Walks a local directory as {@linkcode walkRemote} walks a server's: links reported as links,
 * or with `followLinks` followed (files and directories they lead to, within the bounds; a link
 * to a directory above it is reported to `onError` as a cycle).
 */
export async function* walkLocal(
  top: string,
  options: LocalWalkOptions = {},
): AsyncGenerator<FtpsWalkEntry> {
  const root = resolve(top);
  const rootInfo = await stat(root);
  // Each directory to list carries the identities of the directories above it and itself.
  const step: WalkStep<ReadonlySet<string>> = {
    options,
    ...bounds(options),
    count: 0,
    stack: [],
  };
  step.stack.push(["", 0, new Set([identity(rootInfo)])]);
  while (step.stack.length > 0) {
    const [dir, depth, above] = step.stack.pop()!;
    options.signal?.throwIfAborted();
    let names: string[];
    try {
      names = await readdir(localPath(root, dir));
    } catch (error) {
      if (dir === "" || !options.onError) throw error;
      options.onError(dir, error as Error);
      continue;
    }
    const below: [string, ReadonlySet<string>][] = [];
    for (const { name } of acceptedEntries(names.map((name) => ({ name })), dir, options)) {
      countEntry(step, top);
      const path = dir === "" ? name : `${dir}/${name}`;
      const full = localPath(root, path);
      let info: Stats;
      try {
        info = await lstat(full);
        if (info.isSymbolicLink() && options.followLinks) info = await stat(full);
      } catch (error) {
        if (!options.onError) throw error;
        options.onError(path, error as Error);
        continue;
      }
      if (options.followLinks && info.isDirectory() && above.has(identity(info))) {
        const error = new Error("a symbolic link to a directory above it (a cycle)");
        if (!options.onError) throw error;
        options.onError(path, error);
        continue;
      }
      const type = info.isSymbolicLink()
        ? "link"
        : info.isDirectory()
        ? "dir"
        : info.isFile()
        ? "file"
        : "other";
      yield {
        name,
        path,
        type,
        ...(type === "file" ? { size: info.size } : {}),
        modified: info.mtime,
      };
      if (type === "dir") below.push([path, new Set([...above, identity(info)])]);
    }
    for (const [path, set] of below.reverse()) enterDirectory(step, path, depth + 1, set);
  }
}

/**
 * Removes a server directory and everything under it: files and links (never followed) with
 * DELE, then directories with RMD, deepest first. The first failure stops it (a refused name
 * stays, so its directory's RMD fails).
 */
export async function removeRemoteTree(
  client: FtpsClient,
  top: string,
  options: FtpsRemoveDirOptions = {},
): Promise<void> {
  const dirs: string[] = [];
  const files: string[] = [];
  const walk = walkRemote(client, top, {
    ...(options.maxDepth !== undefined ? { maxDepth: options.maxDepth } : {}),
    ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  for await (const entry of walk) (entry.type === "dir" ? dirs : files).push(entry.path);
  for (const path of files) {
    options.signal?.throwIfAborted();
    await client.remove(remotePath(top, path));
  }
  // Deepest first: a directory after everything under it.
  dirs.sort((a, b) => b.split("/").length - a.split("/").length);
  for (const path of [...dirs, ""]) {
    options.signal?.throwIfAborted();
    await client.removeDir(remotePath(top, path));
  }
}

/**
 * MKD for each missing directory of `path`, on the connection as it is (`raw` sends once); an
 * existing one (550) is checked to be a directory (CWD there and back).
 *
 * @param raw Sends a command and gives its positive reply.
 * @param path The directory.
 */
export async function makeDirs(
  raw: (verb: string, argument?: string) => Promise<FtpReply>,
  path: string,
): Promise<void> {
  const parts = path.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join("/");
    if (prefix === "" || parts[i - 1] === "") continue;
    try {
      await raw("MKD", prefix);
    } catch (error) {
      // 550 for one that exists: check that it is a directory.
      if (!(error instanceof FtpReplyError) || error.code !== 550) throw error;
      const here = parseFtpPath(ftpReplyText(await raw("PWD")));
      await raw("CWD", prefix);
      await raw("CWD", here);
    }
  }
}
