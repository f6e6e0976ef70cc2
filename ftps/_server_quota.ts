/**
 * Storage quotas of an FTPS server: bytes and files per user, counted over the storage the user
 * logs in to. The usage of a storage is measured once (a walk of its tree, bounded) when a write
 * first needs it, then kept up to date by the server's own uploads, deletes and renames. An
 * upload that would pass the quota is refused with 552 (RFC 959: "exceeded storage allocation"):
 * before any data when its size is known (ALLO, or a new file beyond the file count), else at the
 * byte that passes it, and then the storage aborts the upload, so no partial file is left.
 *
 * @module
 */

import { resolveFtpPath } from "./path.ts";
import { type FtpStorage, FtpStorageError, type FtpWriteStream } from "./storage.ts";
import type { FtpsQuota, FtpsUserOptions, ServeFtpsOptions } from "./server_options.ts";
import { storageBeneath } from "./_storage_beneath.ts";

/** Entries a usage walk reads at most; a bigger tree has no known usage (writes get 451). */
export const MAX_QUOTA_WALK = 1_000_000;

/** Directory levels a usage walk descends at most. */
const MAX_QUOTA_DEPTH = 64;

/** A storage's usage: what is committed, and what uploads in progress are adding. */
class Usage {
  bytes = 0;
  files = 0;
  /** Bytes uploads in progress add (beyond the files they replace). */
  pendingBytes = 0;
  /** New files uploads in progress make. */
  pendingFiles = 0;
}

/**
 * Checks a quota option.
 *
 * @param quota The option.
 * @param name Its name, for the error.
 * @throws {RangeError} When a limit is not a whole number of at least 0.
 */
function checkQuota(quota: FtpsQuota | undefined, name: string): void {
  for (const key of ["bytes", "files"] as const) {
    const value = quota?.[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new RangeError(`${name}.${key} is a whole number, at least 0: not ${value}`);
    }
  }
}

/** The server's quotas: each user's limit, and each storage's usage. */
export class ServerQuotas {
  readonly #options: ServeFtpsOptions;
  readonly #usage = new WeakMap<FtpStorage, Promise<Usage>>();
  readonly #onError: (error: Error) => void;

  /**
   * Checks the quotas in the options.
   *
   * @param options The server's options.
   * @param onError Where a failed usage walk is reported.
   * @throws {RangeError} When a limit is out of range.
   */
  constructor(options: ServeFtpsOptions, onError: (error: Error) => void) {
    this.#options = options;
    this.#onError = onError;
    checkQuota(options.userQuota, "userQuota");
    for (const [name, entry] of Object.entries(options.users ?? {})) {
      if (typeof entry === "object") checkQuota(entry.quota, `users.${name}.quota`);
    }
  }

  /**
   * The quota of a user, if they have one.
   *
   * @param user The user logged in.
   * @returns Their limits, or `undefined` for none.
   */
  quotaOf(user: string | undefined): FtpsQuota | undefined {
    if (user === undefined) return undefined;
    const users = this.#options.users;
    const entry: FtpsUserOptions | string | undefined = users && Object.hasOwn(users, user)
      ? users[user]
      : undefined;
    const quota = (typeof entry === "object" ? entry.quota : undefined) ?? this.#options.userQuota;
    return quota && (quota.bytes !== undefined || quota.files !== undefined) ? quota : undefined;
  }

  /**
   * Opens a file for an upload within the quota: refused (552) at once when it cannot fit, else
   * the storage's stream, counted, refusing (552) the write that passes the quota.
   *
   * @param storage The user's storage.
   * @param quota The user's limits.
   * @param path The file (for STOU: the directory), as the client sees it.
   * @param options Where the upload starts, whether it appends or makes a unique name, and the
   * size ALLO announced.
   * @param open Opens it in the storage.
   * @returns What `open` gave, its stream counted.
   */
  async open<T extends { stream: FtpWriteStream }>(
    storage: FtpStorage,
    quota: FtpsQuota,
    path: string,
    options: { offset: number; append: boolean; unique: boolean; size?: number },
    open: () => Promise<T>,
  ): Promise<T> {
    const usage = await this.#usageOf(storage);
    const existing = options.unique ? undefined : await storage.stat(path).catch(() => undefined);
    const old = existing?.type === "file" ? existing.size : 0;
    const isNew = existing === undefined;
    if (isNew && quota.files !== undefined && usage.files + usage.pendingFiles + 1 > quota.files) {
      throw new FtpStorageError(552, "Quota exceeded: no more files.");
    }
    // The file's size before the first byte, and the growth each byte brings past the old size.
    const start = options.append ? old : Math.min(options.offset, old);
    const fits = (growth: number) =>
      quota.bytes === undefined || usage.bytes + usage.pendingBytes + growth <= quota.bytes;
    if (options.size !== undefined && !fits(start + options.size - old)) {
      throw new FtpStorageError(552, "Quota exceeded.");
    }
    const opened = await open();
    if (isNew) usage.pendingFiles++;
    // Growth held in pendingBytes: never below 0 (a shorter replacement frees bytes at commit).
    let written = 0;
    let held = 0;
    let settled = false;
    const release = () => {
      if (settled) return;
      settled = true;
      usage.pendingBytes -= held;
      if (isNew) usage.pendingFiles--;
    };
    const inner = opened.stream;
    const counted: FtpWriteStream = {
      async write(bytes) {
        const growth = Math.max(0, start + written + bytes.length - old);
        if (!fits(growth - held)) throw new FtpStorageError(552, "Quota exceeded.");
        usage.pendingBytes += growth - held;
        held = growth;
        written += bytes.length;
        await inner.write(bytes);
      },
      async commit() {
        await inner.commit();
        release();
        usage.bytes += start + written - old;
        if (isNew) usage.files++;
      },
      async abort() {
        release();
        await inner.abort();
      },
    };
    return { ...opened, stream: counted };
  }

  /**
   * Runs a delete or rename that may remove a file (`gone`: the path whose file goes, when it
   * exists), and takes that file off the usage once done.
   *
   * @param storage The user's storage.
   * @param gone The file a delete removes, or a rename replaces.
   * @param run The storage operation.
   */
  async removing(storage: FtpStorage, gone: string, run: () => Promise<void>): Promise<void> {
    const known = this.#usage.get(storageBeneath(storage));
    const before = known ? await storage.stat(gone).catch(() => undefined) : undefined;
    await run();
    if (!known || before?.type !== "file") return;
    const usage = await known;
    usage.bytes -= before.size;
    usage.files--;
  }

  /** The storage's usage: walked once (the first caller's walk serves every other), over the
   * storage beneath any per-directory permissions (which would hide parts of the tree). */
  #usageOf(wrapped: FtpStorage): Promise<Usage> {
    const storage = storageBeneath(wrapped);
    let usage = this.#usage.get(storage);
    if (!usage) {
      usage = walk(storage).catch((error) => {
        this.#usage.delete(storage);
        this.#onError(error as Error);
        throw new FtpStorageError(451, "Quota usage unknown.");
      });
      this.#usage.set(storage, usage);
    }
    return usage;
  }
}

/** Counts the files and bytes under `/`, at most {@linkcode MAX_QUOTA_WALK} entries deep and wide. */
async function walk(storage: FtpStorage): Promise<Usage> {
  const usage = new Usage();
  let seen = 0;
  const pending: [string, number][] = [["/", 0]];
  while (pending.length > 0) {
    const [dir, depth] = pending.pop()!;
    for (const entry of await storage.list(dir)) {
      if (++seen > MAX_QUOTA_WALK) {
        throw new Error(`More than ${MAX_QUOTA_WALK} entries: the quota's usage is not counted`);
      }
      if (entry.type === "file") {
        usage.bytes += entry.size;
        usage.files++;
      } else if (entry.type === "dir" && depth < MAX_QUOTA_DEPTH) {
        pending.push([resolveFtpPath(dir, entry.name), depth + 1]);
      }
    }
  }
  return usage;
}
