/**
 * Mirroring a directory tree between a server and the local file system, either way, as lftp's
 * `mirror` (and `mirror --reverse`) does: both trees walked, then directories made, files copied
 * over a pool of connections, and, when asked, what the source lacks removed. A file is copied
 * when the destination lacks it, its size differs, or the source's is newer (whole seconds: MLSD
 * and MDTM times have no finer grain; MDTM is asked only when LIST gave no time and the sizes
 * agree). Downloads go through `getFile` (a temporary file renamed into place) and take the
 * server's modification time, so that the next run finds them up to date.
 *
 * Never written through: a local symbolic link or special file where a file or directory is to go
 * (reported instead), nor anything outside the local directory.
 *
 * @module
 */

import { lstat, mkdir, rmdir, stat, unlink, utimes } from "node:fs/promises";
import { resolve } from "node:path";
import type { FtpsClient } from "./client.ts";
import type {
  FtpsMirrorEvent,
  FtpsMirrorOptions,
  FtpsMirrorResult,
  FtpsWalkEntry,
  FtpsWalkOptions,
} from "./mirror.ts";
import { FtpReplyError } from "./reply_error.ts";
import { FtpUnsupportedError } from "./checksum_error.ts";
import { pathFilter } from "./_glob.ts";
import { localPath, remotePath, walkLocal, walkRemote } from "./_client_tree.ts";
import { checkParallel, runOnPool } from "./_client_pool.ts";

/** What to do with a source file: copy it, keep the destination's, or ask MDTM first. */
type Decision = "copy" | "same" | "check";

/** One source file to copy, or to compare first. */
interface FileJob {
  readonly path: string;
  readonly source: FtpsWalkEntry;
  readonly destination?: FtpsWalkEntry;
  readonly decision: Decision;
}

/** Whole seconds since the epoch. */
const seconds = (time: Date) => Math.floor(time.getTime() / 1000);

/** Whether the source file is to be copied over the destination's (`check`: a time is missing). */
function compare(
  source: { size?: number; modified?: Date },
  destination: { size?: number; modified?: Date },
  onlyNewer: boolean,
): Decision {
  const sizesDiffer = source.size !== undefined && destination.size !== undefined &&
    source.size !== destination.size;
  if (sizesDiffer && !onlyNewer) return "copy";
  if (!source.modified || !destination.modified) return "check";
  return seconds(source.modified) > seconds(destination.modified) ? "copy" : "same";
}

/** `error`'s message. */
const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

/** The ancestors of a "/"-joined path, nearest first. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let at = path.lastIndexOf("/"); at > 0; at = path.lastIndexOf("/", at - 1)) {
    out.push(path.slice(0, at));
  }
  return out;
}

/** Makes a server directory whose parent exists; one already there (550, then CWD works) is
 * fine. */
async function makeRemoteDir(client: FtpsClient, path: string, home: string): Promise<boolean> {
  try {
    await client.raw("MKD", path);
    return true;
  } catch (error) {
    if (!(error instanceof FtpReplyError) || error.code !== 550) throw error;
    await client.cd(path);
    await client.cd(home);
    return false;
  }
}

/** Makes a local directory whose parent exists; an existing directory (not a link) is fine. */
async function makeLocalDir(path: string): Promise<boolean> {
  try {
    await mkdir(path);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
    if (!(await lstat(path)).isDirectory()) {
      throw new Error("a symbolic link or file is there, not a directory: not written through");
    }
    return false;
  }
}

/** What {@linkcode mirrorTree} is asked. */
export interface MirrorRequest {
  /** The client: it walks the server's tree, makes directories, removes, and copies too. */
  readonly client: FtpsClient;
  /** Opens one more connection for the pool. */
  readonly connect: () => Promise<FtpsClient>;
  /** The source: the server's directory when downloading, else a local one. */
  readonly source: string;
  /** The destination. */
  readonly destination: string;
  /** The options. */
  readonly options: FtpsMirrorOptions;
  /** Copy every file, unlisted and uncompared (`downloadDir`, `uploadDir`). */
  readonly everything?: boolean;
}

/** Runs a mirror (see the module's documentation). */
export async function mirrorTree(request: MirrorRequest): Promise<FtpsMirrorResult> {
  const { client, options } = request;
  const upload = options.direction === "upload";
  const dryRun = options.dryRun ?? false;
  const parallel = options.parallel ?? 1;
  checkParallel(parallel);
  if (options.direction !== undefined && options.direction !== "download" && !upload) {
    throw new TypeError(`direction must be "download" or "upload", not "${options.direction}"`);
  }
  const filter = pathFilter(options.include, options.exclude);
  const { signal } = options;
  const result = {
    copied: [] as string[],
    bytes: 0,
    created: [] as string[],
    deleted: [] as string[],
    skipped: [] as { path: string; reason: string }[],
    errors: [] as { path: string; message: string }[],
    warnings: [] as string[],
    connections: 1,
  };
  const emit = (event: Omit<FtpsMirrorEvent, "dryRun">) => options.onEvent?.({ ...event, dryRun });
  const fail = (path: string, message: string) => {
    result.errors.push({ path, message });
    emit({ type: "error", path, reason: message });
  };
  const skip = (path: string, reason: string) => {
    result.skipped.push({ path, reason });
    emit({ type: "skip", path, reason });
  };

  // The server's side as an absolute path: the pool's other connections start in the login
  // directory, whatever this one's current directory is.
  const home = await client.pwd();
  const remoteArgument = upload ? request.destination : request.source;
  const remoteTop = remoteArgument.startsWith("/")
    ? remoteArgument
    : remoteArgument === "" || remoteArgument === "."
    ? home
    : remotePath(home, remoteArgument.replace(/^\.\//, ""));
  const localTop = resolve(upload ? request.source : request.destination);

  // The source must be a directory: an empty or failed listing must never pass for an empty
  // tree (whose mirror with `delete` would empty the destination).
  if (upload) {
    if (!(await stat(localTop)).isDirectory()) {
      throw new TypeError(`Not a directory: "${localTop}"`);
    }
  } else {
    await client.cd(remoteTop);
    await client.cd(home);
  }
  let sourceWhole = true;
  const walkOptions = (side: "source" | "destination"): FtpsWalkOptions => ({
    enter: (path) => filter.dir(path),
    onRefused: ({ dir, name, reason }) => {
      if (side === "source") sourceWhole = false;
      fail(dir === "" ? name : `${dir}/${name}`, `refused: ${reason}`);
    },
    onError: (path, error) => {
      if (side === "source") sourceWhole = false;
      fail(path, `not listed: ${messageOf(error)}`);
    },
    ...(options.maxDepth !== undefined ? { maxDepth: options.maxDepth } : {}),
    ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
    ...(signal ? { signal } : {}),
  });
  const collect = async (walk: AsyncIterable<FtpsWalkEntry>) => {
    const entries = new Map<string, FtpsWalkEntry>();
    for await (const entry of walk) entries.set(entry.path, entry);
    return entries;
  };
  const source = await collect(
    upload
      ? walkLocal(localTop, { ...walkOptions("source"), followLinks: options.followLinks ?? false })
      : walkRemote(client, remoteTop, walkOptions("source")),
  );

  // The destination's top is made (unless dry), then walked (unless every file is copied).
  let destination = new Map<string, FtpsWalkEntry>();
  if (upload) {
    if (!dryRun) await client.mkdir(remoteTop, { recursive: true });
    if (!request.everything) {
      destination = await collect(walkRemote(client, remoteTop, walkOptions("destination")))
        .catch((error) => {
          // Only a dry run reaches a top that may be missing.
          if (!dryRun || !(error instanceof FtpReplyError)) throw error;
          return new Map<string, FtpsWalkEntry>();
        });
    }
  } else {
    const top = await stat(localTop).catch(() => undefined);
    if (top && !top.isDirectory()) throw new TypeError(`Not a directory: "${localTop}"`);
    if (!top && !dryRun) await mkdir(localTop, { recursive: true });
    if (top && !request.everything) {
      destination = await collect(walkLocal(localTop, walkOptions("destination")));
    }
  }

  // Directories first, parents before children; one whose destination is no directory blocks
  // what is under it.
  const blocked = new Set<string>();
  const isBlocked = (path: string) => ancestors(path).some((dir) => blocked.has(dir));
  for (const [path, entry] of source) {
    if (entry.type !== "dir" || !filter.dir(path) || isBlocked(path)) continue;
    const there = destination.get(path);
    if (there?.type === "dir") continue;
    if (there) {
      blocked.add(path);
      fail(path, `the destination has a ${there.type} there, not a directory`);
      continue;
    }
    try {
      const made = dryRun ||
        (upload
          ? await makeRemoteDir(client, remotePath(remoteTop, path), home)
          : await makeLocalDir(localPath(localTop, path)));
      if (!made) continue;
      result.created.push(path);
      emit({ type: "mkdir", path });
    } catch (error) {
      if (signal?.aborted) throw error;
      blocked.add(path);
      fail(path, messageOf(error));
    }
  }

  const jobs: FileJob[] = [];
  for (const [path, entry] of source) {
    if (entry.type === "dir" || !filter.file(path) || isBlocked(path)) continue;
    if (entry.type === "link") {
      skip(path, "a symbolic link (not followed)");
      continue;
    }
    if (entry.type === "other") {
      skip(path, "not a regular file");
      continue;
    }
    const there = destination.get(path);
    if (there?.type === "dir") fail(path, "a directory is in the way at the destination");
    else if (there && !upload && there.type !== "file") {
      fail(path, `the local destination is a ${there.type}: not written through`);
    } else {
      const decision = !there || request.everything
        ? "copy"
        : compare(entry, there, options.onlyNewer ?? false);
      if (decision === "same") skip(path, "up to date");
      else jobs.push({ path, source: entry, ...(there ? { destination: there } : {}), decision });
    }
  }

  // Uploads give the server's file the local time, as downloads take the server's (so that the
  // next run finds them up to date): MFMT, SITE UTIME or MDTM (FtpsClient.setModified); a server
  // with none of these is said once, and its files keep the time of their upload.
  let setsTimes = true;
  const keepTime = async (connection: FtpsClient, remote: string, time: Date) => {
    try {
      await connection.setModified(remote, time);
    } catch (error) {
      if (!(error instanceof FtpUnsupportedError) && !(error instanceof FtpReplyError)) throw error;
      if (error instanceof FtpUnsupportedError) setsTimes = false;
      result.warnings.push(`${remote}: its time was not set: ${messageOf(error)}`);
    }
  };
  const copyFile = async (connection: FtpsClient, job: FileJob) => {
    const { path } = job;
    const remote = remotePath(remoteTop, path);
    let sourceTime = job.source.modified;
    if (job.decision === "check") {
      // LIST gave no time: the server's file's MDTM (RFC 3659 section 3), or only sizes.
      const time = await connection.lastModified(remote).catch((error) => {
        if (error instanceof FtpReplyError) return undefined;
        throw error;
      });
      const remoteSide = { ...(upload ? job.destination : job.source), modified: time };
      const localSide = upload ? job.source : job.destination!;
      const [from, to] = upload ? [localSide, remoteSide] : [remoteSide, localSide];
      if (!upload) sourceTime = time;
      let decision = compare(from, to, options.onlyNewer ?? false);
      if (decision === "check") decision = from.size !== to.size ? "copy" : "same";
      if (decision === "same") return skip(path, "up to date");
    }
    if (dryRun) {
      result.copied.push(path);
      result.bytes += job.source.size ?? 0;
      emit({
        type: "copy",
        path,
        ...(job.source.size !== undefined ? { bytes: job.source.size } : {}),
      });
      return;
    }
    const transfer = { ...options.transfer, ...(signal ? { signal } : {}) };
    if (upload) {
      await connection.putFile(localPath(localTop, path), remote, transfer);
      if (sourceTime && setsTimes) await keepTime(connection, remote, sourceTime);
    } else {
      const target = localPath(localTop, path);
      // Checked again just before: a link planted since the walk is not written through.
      const now = await lstat(target).catch(() => undefined);
      if (now && !now.isFile()) {
        throw new Error("the local destination is no regular file: not written through");
      }
      await connection.getFile(remote, target, transfer);
      if (sourceTime) await utimes(target, sourceTime, sourceTime);
    }
    const bytes = connection.lastTransfer?.bytes ?? 0;
    result.copied.push(path);
    result.bytes += bytes;
    emit({ type: "copy", path, bytes });
  };
  result.connections = await runOnPool(jobs, {
    client,
    connect: request.connect,
    parallel: dryRun ? 1 : parallel,
    run: copyFile,
    failed: (job, error) => fail(job.path, messageOf(error)),
    warn: (message) => result.warnings.push(message),
    ...(signal ? { signal } : {}),
  });

  if (options.delete) await removeExtra();
  return result;

  /** Removes what the destination holds and the source does not, deepest first. */
  async function removeExtra(): Promise<void> {
    if (!sourceWhole) {
      fail("", "nothing deleted: the source could not be listed whole");
      return;
    }
    const kept = new Set<string>();
    const doomed: FtpsWalkEntry[] = [];
    for (const [path, entry] of destination) {
      const allowed = entry.type === "dir" ? filter.dir(path) : filter.file(path);
      if (!source.has(path) && allowed) doomed.push(entry);
      else for (const dir of ancestors(path)) kept.add(dir);
    }
    const order = doomed.filter((entry) => entry.type !== "dir" || !kept.has(entry.path))
      .sort((a, b) =>
        (a.type === "dir" ? 1 : 0) - (b.type === "dir" ? 1 : 0) ||
        b.path.split("/").length - a.path.split("/").length
      );
    for (const entry of order) {
      signal?.throwIfAborted();
      try {
        if (!dryRun) {
          const dir = entry.type === "dir";
          if (upload) {
            const path = remotePath(remoteTop, entry.path);
            await (dir ? client.removeDir(path) : client.remove(path));
          } else {
            const path = localPath(localTop, entry.path);
            // A link is removed itself, never what it leads to.
            await (dir ? rmdir(path) : unlink(path));
          }
        }
        result.deleted.push(entry.path);
        emit({ type: "delete", path: entry.path });
      } catch (error) {
        if (signal?.aborted) throw error;
        fail(entry.path, `not deleted: ${messageOf(error)}`);
      }
    }
  }
}
