/**
 * The FTPS client's listings: MLSD lines (RFC 3659 section 7) or LIST lines in Unix or DOS style
 * read into entries, without `.` and `..`.
 *
 * @module
 */

import {
  type FtpListEntry,
  parseFtpFacts,
  parseFtpListLine,
  parseFtpNumber,
  parseFtpTime,
} from "../codec/mod.ts";
import type { FtpsEntry } from "./client_options.ts";

/**
 * The entries of a listing.
 *
 * @param text The listing's text.
 * @param mlsd Whether it is MLSD's (facts) rather than LIST's.
 * @returns The entries, without `.` and `..`.
 */
export function listingEntries(text: string, mlsd: boolean): FtpsEntry[] {
  const entries: FtpsEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === "") continue;
    if (mlsd) {
      const { name, facts } = parseFtpFacts(line);
      const type = facts.type?.toLowerCase();
      if (type === "cdir" || type === "pdir" || name === "." || name === "..") continue;
      entries.push({
        name,
        type: type === "file"
          ? "file"
          : type === "dir"
          ? "dir"
          : type?.includes("link")
          ? "link"
          : "other",
        ...(facts.size !== undefined ? { size: parseFtpNumber(facts.size) } : {}),
        ...(facts.modify !== undefined ? { modified: parseFtpTime(facts.modify) } : {}),
      });
    } else {
      const entry: FtpListEntry | undefined = parseFtpListLine(line);
      if (!entry || entry.name === "." || entry.name === "..") continue;
      entries.push({
        name: entry.name,
        type: entry.type,
        ...(entry.size !== undefined ? { size: entry.size } : {}),
      });
    }
  }
  return entries;
}
