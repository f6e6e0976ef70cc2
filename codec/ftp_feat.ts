import type { FtpReply } from "./ftp_reply.ts";

/**
 * Reads the features of a FEAT reply (RFC 2389 section 3.2): each line between the first and the
 * last names a feature and, after a space, its parameters. Names are made upper case; a reply
 * other than 211 (FEAT not supported) has none.
 *
 * @example
 * ```ts
 * import { parseFtpFeat } from "@ftkit/ftkit/codec";
 *
 * const features = parseFtpFeat({
 *   code: 211,
 *   lines: ["Features:", " AUTH TLS", " PBSZ", " MLST type*;size*;modify*;", " UTF8", "End"],
 * });
 * console.log(features.get("AUTH"), features.has("UTF8")); // "TLS" true
 * ```
 *
 * @param reply The reply to FEAT.
 * @returns Feature name to parameters (`""` when there are none).
 */
export function parseFtpFeat(reply: FtpReply): Map<string, string> {
  const features = new Map<string, string>();
  if (reply.code !== 211) return features;
  for (const line of reply.lines.slice(1, -1)) {
    const text = line.trim();
    if (text === "") continue;
    const space = text.indexOf(" ");
    const name = (space === -1 ? text : text.slice(0, space)).toUpperCase();
    const parameters = space === -1 ? "" : text.slice(space + 1).trim();
    // A server listing a feature twice (some list AUTH once per mechanism): keep them all.
    const known = features.get(name);
    features.set(name, known === undefined || known === "" ? parameters : `${known} ${parameters}`);
  }
  return features;
}

/**
 * The lines of a 211 reply to FEAT (RFC 2389 section 3.2), for `encodeFtpReply(211, lines)`.
 *
 * @example
 * ```ts
 * import { formatFtpFeat } from "@ftkit/ftkit/codec";
 *
 * console.log(formatFtpFeat([["AUTH", "TLS"], ["PBSZ"], ["UTF8"]]));
 * // ["Features:", " AUTH TLS", " PBSZ", " UTF8", "End"]
 * ```
 *
 * @param features Each feature's name and parameters.
 * @returns The reply lines.
 */
export function formatFtpFeat(features: Iterable<readonly [string, string?]>): string[] {
  const lines = ["Features:"];
  for (const [name, parameters] of features) {
    lines.push(parameters ? ` ${name} ${parameters}` : ` ${name}`);
  }
  lines.push("End");
  return lines;
}
