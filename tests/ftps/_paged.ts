/**
 * Test helpers: a storage with one directory, `/big`, whose entries are made a page at a time as
 * the server asks for them (never all at once), and which counts how the server reads them: how
 * far ahead of the formatting it asks, and whether it returns the iterator.
 *
 * @module
 */

import {
  type FtpStorage,
  type FtpStorageEntry,
  FtpStorageError,
  type FtpStorageStat,
} from "../../ftps/mod.ts";

/** The time of every entry. */
export const PAGED_MODIFIED: Date = new Date("2026-11-23T10:34:00Z");

/** How the directory is made. */
export interface PagedOptions {
  /** Pages in `/big`. */
  readonly pages: number;
  /** Entries per page. */
  readonly perPage: number;
  /** The page (0 is the first) whose read fails, with `failure`. */
  readonly failAt?: number;
  /** What that read rejects with (default a plain `Error`). */
  readonly failure?: Error;
  /** Leave `listPages` out: a storage that lists whole only. */
  readonly wholeOnly?: boolean;
}

/** The name of entry `index` of page `page`: in the order they are listed. */
export function pagedName(page: number, index: number): string {
  return `e${String(page).padStart(4, "0")}-${String(index).padStart(4, "0")}`;
}

/** Every name of `/big`, in order. */
export function pagedNames(options: PagedOptions): string[] {
  const names: string[] = [];
  for (let page = 0; page < options.pages; page++) {
    for (let index = 0; index < options.perPage; index++) names.push(pagedName(page, index));
  }
  return names;
}

/** `/big`, made on demand, with what the server did to it. */
export class PagedDirectory {
  /** The storage to serve. */
  readonly storage: FtpStorage;
  /** Calls of `list`. */
  listCalls = 0;
  /** Calls of `listPages`. */
  listPagesCalls = 0;
  /** Pages given out. */
  pulled = 0;
  /** Pages whose last entry's name was read (formatted). */
  formatted = 0;
  /** The most pages of one listing given out and not formatted yet, when a page was asked
   * for. */
  maxAhead = 0;
  /** Calls of the iterator's `return`. */
  returned = 0;
  readonly #options: PagedOptions;

  constructor(options: PagedOptions) {
    this.#options = options;
    const refuse = () => Promise.reject(new FtpStorageError(550, "Read-only."));
    const storage: FtpStorage = {
      stat: (path) => Promise.resolve(this.#stat(path)),
      list: (path) => {
        this.listCalls++;
        this.#stat(path);
        const all: FtpStorageEntry[] = [];
        const marks = { formatted: 0 };
        for (let page = 0; page < options.pages; page++) all.push(...this.#page(page, marks));
        return Promise.resolve(all);
      },
      read: refuse,
      write: refuse,
      writeUnique: refuse,
      mkdir: refuse,
      rmdir: refuse,
      delete: refuse,
      rename: refuse,
    };
    if (!options.wholeOnly) storage.listPages = (path) => this.#pages(path);
    this.storage = storage;
  }

  #stat(path: string): FtpStorageStat {
    if (path === "/" || path === "/big") {
      return { type: "dir", size: 0, modified: PAGED_MODIFIED };
    }
    throw new FtpStorageError(550, "No such file.");
  }

  /** Page `page`'s entries: the last one's name, once read, marks the page formatted (in
   * `marks`, its listing's count, counted from the first page). */
  #page(page: number, marks: { formatted: number }): FtpStorageEntry[] {
    const entries: FtpStorageEntry[] = [];
    const last = this.#options.perPage - 1;
    for (let index = 0; index <= last; index++) {
      const name = pagedName(page, index);
      const stat = { type: "file" as const, size: index, modified: PAGED_MODIFIED };
      if (index < last) {
        entries.push({ name, ...stat });
        continue;
      }
      // deno-lint-ignore no-this-alias
      const directory = this;
      entries.push({
        ...stat,
        get name() {
          if (marks.formatted < page + 1) {
            directory.formatted += page + 1 - marks.formatted;
            marks.formatted = page + 1;
          }
          return name;
        },
      });
    }
    return entries;
  }

  /** The iterable of `listPages`: each page made when asked for. */
  #pages(path: string): AsyncIterable<FtpStorageEntry[]> {
    this.listPagesCalls++;
    const options = this.#options;
    let next = 0;
    let done = false;
    const marks = { formatted: 0 };
    const iterator: AsyncIterator<FtpStorageEntry[]> = {
      next: () => {
        if (done) return Promise.resolve({ done: true, value: undefined });
        try {
          this.#stat(path);
        } catch (error) {
          done = true;
          return Promise.reject(error);
        }
        if (next >= options.pages) {
          done = true;
          return Promise.resolve({ done: true, value: undefined });
        }
        const page = next++;
        if (page === options.failAt) {
          done = true;
          return Promise.reject(options.failure ?? new Error("The store broke."));
        }
        this.pulled++;
        this.maxAhead = Math.max(this.maxAhead, page + 1 - marks.formatted);
        return Promise.resolve({ done: false, value: this.#page(page, marks) });
      },
      return: () => {
        this.returned++;
        done = true;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }
}
