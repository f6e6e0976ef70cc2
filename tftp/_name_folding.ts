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

import { lstat, readdir } from "node:fs/promises";
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
  return name.replace(/[A-Z]/g, (letter) => String.fromCharCode(letter.charCodeAt(0) + 32));
}

/**
 * The entry of a directory that a requested name means, ignoring ASCII case: `wanted` itself when
 * the directory holds it, else the entries equal to it but for case, the first in code-unit
 * order (so `BOOT.INI` before `Boot.ini` before `boot.ini`, whatever order the file system lists
 * them in); `undefined` when none matches.
 *
 * @param entries The directory's entries.
 * @param wanted The requested component.
 * @returns The entry to use.
 */
export function caseInsensitiveEntry(
  entries: readonly string[],
  wanted: string,
): string | undefined {
  const folded = foldAsciiCase(wanted);
  let best: string | undefined;
  for (const entry of entries) {
    if (entry === wanted) return entry;
    if (entry.length !== wanted.length || foldAsciiCase(entry) !== folded) continue;
    if (best === undefined || entry < best) best = entry;
  }
  return best;
}

/**
 * The components as they are stored under `directory`, each found ignoring ASCII case (see
 * {@linkcode caseInsensitiveEntry}), from the first to the last. A component that exists as
 * given is used as given (one `lstat`); the directory is listed only when it does not. Where no
 * entry matches, that component and those after it stay as requested (a read then finds no file;
 * an upload creates them as sent).
 *
 * The result only ever names entries the directory listed, or the names requested: it never adds
 * a separator, `.` or `..`, and the caller still checks the real path against its jail (a link
 * found this way that leads out is refused like any other).
 *
 * @param directory Where the first component is looked up.
 * @param components The requested components, already checked.
 * @returns The components to use.
 */
export async function matchCase(
  directory: string,
  components: readonly string[],
): Promise<string[]> {
  const found: string[] = [];
  let at = directory;
  for (let i = 0; i < components.length; i++) {
    const wanted = components[i];
    let entry: string | undefined;
    if (await lstat(join(at, wanted)).then(() => true, () => false)) entry = wanted;
    else {
      const entries = await readdir(at).catch(() => undefined);
      entry = entries && caseInsensitiveEntry(entries, wanted);
    }
    if (entry === undefined) return [...found, ...components.slice(i)];
    found.push(entry);
    at = join(at, entry);
  }
  return found;
}
