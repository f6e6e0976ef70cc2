/**
 * Names as Windows clients send them, read before the path jail checks them: backslashes as
 * separators (`\boot\x86\wdsnbp.com`), and letters in any case (a file stored as `BOOTMGR.EXE`
 * asked for as `bootmgr.exe`). Both are opt-in; both only turn a name into path components that
 * the jail then checks as it checks any other, so `..\..\etc\passwd` is still `..` and refused.
 *
 * Case is folded for ASCII letters only (A-Z and a-z), as dnsmasq's `--tftp-lowercase` and
 * tftp-hpa's `\L` do (C `tolower`): names that differ in any other character never match.
 *
 * @module
 */

import { lstat, readdir, stat } from "node:fs/promises";
import { join } from "node:path";

/**
 * `name` with its backslashes read as slashes. Leading backslashes are dropped: a Windows client
 * that asks for `\boot\x86\wdsnbp.com` means the TFTP root, as WDS and dnsmasq read it. A leading
 * `/` is left as it is (the caller's rule for absolute names still applies to it).
 *
 * @param name The name as requested.
 * @returns The name with `/` separators.
 */
export function slashBackslashes(name: string): string {
  return name.replace(/^\\+/, "").replaceAll("\\", "/");
}

/** `name` with its ASCII capitals made small (other characters as they are). */
export function foldAsciiCase(name: string): string {
  if (!/[A-Z]/.test(name)) return name;
  return name.replace(/[A-Z]/g, (letter) => String.fromCharCode(letter.charCodeAt(0) + 32));
}

/**
 * A directory's entries by their folded name (see {@linkcode foldAsciiCase}), each folded name
 * holding the first of its entries in code-unit order (so `BOOT.INI` before `Boot.ini` before
 * `boot.ini`, whatever order the file system lists them in): the entry a requested name means
 * when no entry is spelled exactly as asked.
 *
 * @param entries The directory's entries.
 * @returns The index.
 */
export function foldedIndex(entries: readonly string[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const entry of entries) {
    const folded = foldAsciiCase(entry);
    const held = index.get(folded);
    if (held === undefined || entry < held) index.set(folded, entry);
  }
  return index;
}

/** One directory's listing, and the stamps that say it is still current. */
interface Listing {
  readonly dev: number;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly size: number;
  readonly index: Map<string, string>;
}

/**
 * Directory listings by folded name, kept while their directory is unchanged, so that a name
 * asked in another case costs one `stat` rather than a listing of its directory each time (a
 * listing of 10,000 entries took 54-177 ms on Deno, 9-19 ms on Bun). A listing is current while
 * the directory's device, inode, modification and change times are those seen before it was
 * taken. It is kept only when one of those times is more than a second old: a change of entries
 * sets both to the current time, and a change within the time stamp's granularity of the listing
 * could otherwise go unseen (Git's index has the same rule for "racily clean" entries). At most
 * `maxDirectories` listings holding at most `maxEntries` entries in all are kept.
 */
export class FoldedListings {
  readonly #listings = new Map<string, Listing>();
  readonly #maxDirectories: number;
  readonly #maxEntries: number;
  #entries = 0;

  /**
   * Makes an empty cache.
   *
   * @param maxDirectories Listings kept at most (the least recently used goes first).
   * @param maxEntries Entries the kept listings may hold in all.
   */
  constructor(maxDirectories = 64, maxEntries = 65536) {
    this.#maxDirectories = maxDirectories;
    this.#maxEntries = maxEntries;
  }

  /**
   * The entry of `directory` equal to `wanted` but for ASCII case, the first in code-unit order;
   * `undefined` when none is, or `directory` is not a directory that can be listed.
   *
   * @param directory The directory.
   * @param wanted The requested component.
   * @returns The entry.
   */
  async entry(directory: string, wanted: string): Promise<string | undefined> {
    const info = await stat(directory).catch(() => undefined);
    if (!info?.isDirectory()) return undefined;
    const folded = foldAsciiCase(wanted);
    const kept = this.#listings.get(directory);
    if (
      kept && kept.dev === info.dev && kept.ino === info.ino && kept.mtimeMs === info.mtimeMs &&
      kept.ctimeMs === info.ctimeMs
    ) {
      this.#listings.delete(directory);
      this.#listings.set(directory, kept);
      return kept.index.get(folded);
    }
    // Listed after the stat: a change in between gives a newer stamp, and so a new listing.
    const entries = await readdir(directory).catch(() => undefined);
    if (!entries) return undefined;
    const index = foldedIndex(entries);
    // A change of entries sets both stamps to the current time: one that is old then differs.
    const settled = Date.now() - Math.min(info.mtimeMs, info.ctimeMs) > 1000;
    this.#forget(directory);
    if (settled && entries.length <= this.#maxEntries) {
      this.#listings.set(directory, { ...pick(info), size: entries.length, index });
      this.#entries += entries.length;
      // The least recently used go first.
      while (this.#listings.size > this.#maxDirectories || this.#entries > this.#maxEntries) {
        this.#forget(this.#listings.keys().next().value!);
      }
    }
    return index.get(folded);
  }

  #forget(directory: string): void {
    const kept = this.#listings.get(directory);
    if (!kept) return;
    this.#listings.delete(directory);
    this.#entries -= kept.size;
  }
}

/** The stamps of a directory that say whether its listing is still current. */
function pick(info: { dev: number; ino: number; mtimeMs: number; ctimeMs: number }) {
  return { dev: info.dev, ino: info.ino, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
}

/**
 * The components as they are stored under `directory`, each found ignoring ASCII case, from
 * the first to the last. A component that exists as given is used as given (one `lstat`);
 * otherwise the first entry equal to it but for case, in code-unit order (see
 * {@linkcode foldedIndex}), from its directory's listing (kept in `listings` while the directory
 * is unchanged). Where no entry matches, that component and those after it stay as requested (a
 * read then finds no file; an upload creates them as sent).
 *
 * The result only ever names entries the directory listed, or the names requested: it never adds
 * a separator, `.` or `..`, and the caller still checks the real path against its jail (a link
 * found this way that leads out is refused like any other).
 *
 * @param directory Where the first component is looked up.
 * @param components The requested components, already checked.
 * @param listings The listings kept between requests.
 * @returns The components to use.
 */
export async function matchCase(
  directory: string,
  components: readonly string[],
  listings: FoldedListings,
): Promise<string[]> {
  const found: string[] = [];
  let at = directory;
  for (let i = 0; i < components.length; i++) {
    const wanted = components[i];
    const exists = await lstat(join(at, wanted)).then(() => true, () => false);
    const entry = exists ? wanted : await listings.entry(at, wanted);
    if (entry === undefined) return [...found, ...components.slice(i)];
    found.push(entry);
    at = join(at, entry);
  }
  return found;
}
