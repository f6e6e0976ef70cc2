/**
 * The FTP server's checksums of files: HASH and OPTS HASH (draft-bryan-ftpext-hash-02), and the
 * older single-algorithm commands XCRC, XMD5, XSHA1 and XSHA256 (the draft's appendix B). Off
 * unless the policy names algorithms. The machine checks the file and the size limit, then asks
 * the driver for the digest with a `hash` storage request: hashing is the driver's I/O, one at a
 * time per session (the session waits for it, as for any storage request).
 *
 * @module
 */

import { resolveFtpPath } from "./path.ts";
import type { Refusal, ServerState } from "./_server_session_state.ts";
import type { FtpHashAlgorithm } from "./_server_session_types.ts";

/** The X commands and the algorithm each computes. */
export const X_HASH_COMMANDS: Readonly<Record<string, FtpHashAlgorithm>> = {
  XCRC: "CRC32",
  XMD5: "MD5",
  XSHA1: "SHA-1",
  XSHA256: "SHA-256",
};

/**
 * The FEAT lines of the checksum commands served: `HASH` with every algorithm, `*` on the one
 * selected (the draft's section 3.1), and each X command whose algorithm is served.
 *
 * @param s The session.
 * @returns The features, as FEAT lists them.
 */
export function hashFeatures(s: ServerState): [string, string?][] {
  const algorithms = s.policy.hashAlgorithms;
  if (algorithms.length === 0) return [];
  const list = algorithms.map((name) => name === s.hashAlgorithm ? `${name}*` : name).join(";");
  const features: [string, string?][] = [["HASH", list]];
  for (const [verb, algorithm] of Object.entries(X_HASH_COMMANDS)) {
    if (algorithms.includes(algorithm)) features.push([verb]);
  }
  return features;
}

/**
 * What HASH is refused for before it runs: no algorithm served (502).
 *
 * @param s The session.
 * @returns The refusal, if any.
 */
export function hashRefusal(s: ServerState): Refusal | undefined {
  return s.policy.hashAlgorithms.length > 0 ? undefined : [502, "HASH not implemented."];
}

/**
 * What an X command is refused for before it runs: its algorithm not served (502).
 *
 * @param verb The command.
 * @returns The precheck of its row.
 */
export function xHashRefusal(verb: string): (s: ServerState) => Refusal | undefined {
  return (s) =>
    s.policy.hashAlgorithms.includes(X_HASH_COMMANDS[verb])
      ? undefined
      : [502, `${verb} not implemented.`];
}

/**
 * OPTS HASH: with no argument, the algorithm selected; with one served, it is selected (200 with
 * its name); another is 501 and leaves the selection (the draft's section 3.2).
 *
 * @param s The session.
 * @param argument What follows `OPTS HASH`.
 */
export function optsHash(s: ServerState, argument: string): void {
  const wanted = argument.trim().toUpperCase();
  if (wanted === "") return s.reply(200, s.hashAlgorithm);
  const algorithm = s.policy.hashAlgorithms.find((name) => name === wanted);
  if (!algorithm) return s.reply(501, "Unknown algorithm, current selection not changed.");
  s.hashAlgorithm = algorithm;
  s.reply(200, algorithm);
}

/** How a checksum command answers the refusals the draft gives codes for. */
interface Refusals {
  /** A directory or anything else but a plain file (the draft's section 3.5: 553 to HASH). */
  readonly notFile: number;
  /** A file over the size limit (556 to HASH: refused by policy, for good). */
  readonly tooLarge: number;
}

/**
 * HASH: the selected algorithm's digest of a whole file, `213 <algorithm> 0-<size> <hex> <path>`
 * (the draft's section 3; the range's end is the file's size, as ProFTPD and ftpserverlib give
 * it). Ranges (RANG) are not served: RANG is answered 502, and every hash is of a whole file.
 *
 * @param s The session.
 * @param argument The path.
 */
export function hash(s: ServerState, argument: string): void {
  const algorithm = s.hashAlgorithm;
  // RANG's range, for this HASH only (draft-bryan-ftpext-hash-02 section 3.3).
  const range = s.range;
  s.range = undefined;
  digest(s, argument, algorithm, { notFile: 553, tooLarge: 556 }, (hex, size) => {
    const span = range ? `${range[0]}-${range[0] + size - 1}` : `0-${size}`;
    s.reply(213, `${algorithm} ${span} ${hex} ${argument}`);
  }, range);
}

/**
 * XCRC, XMD5, XSHA1 or XSHA256: one algorithm's digest of a whole file, answered `250 <hex>` as
 * GlobalSCAPE's XCRC (the draft's appendix B), Serv-U, Titan and ProFTPD up to 1.3.8 answer it.
 * The whole argument is the path: the optional start and end some servers take after it are not
 * served.
 *
 * @param verb The command.
 * @returns The handler of its row.
 */
export function xHash(verb: string): (s: ServerState, argument: string) => void {
  const algorithm = X_HASH_COMMANDS[verb];
  return (s, argument) =>
    digest(s, argument, algorithm, { notFile: 550, tooLarge: 550 }, (hex) => s.reply(250, hex));
}

/** Checks the file, then asks the driver for its digest. */
function digest(
  s: ServerState,
  argument: string,
  algorithm: FtpHashAlgorithm,
  refusals: Refusals,
  done: (hex: string, size: number) => void,
  range?: readonly [number, number],
): void {
  if (argument.trim() === "") return s.reply(501, "A path is needed.");
  const path = resolveFtpPath(s.cwd, argument);
  s.storage({ op: "stat", path }, (result) => {
    if (!result.ok) return s.refused(result);
    const stat = result.stat;
    if (!stat) return s.reply(550, "No such file.");
    if (stat.type !== "file") return s.reply(refusals.notFile, "Not a plain file.");
    if (!s.permissions(path, stat.type).has("read")) return s.reply(550, "Permission denied.");
    const limit = s.policy.hashMaxBytes;
    if (stat.size > limit) {
      return s.reply(refusals.tooLarge, `File larger than the hashing limit (${limit} bytes).`);
    }
    // A range within the file: from its first byte to its last, or the file's end.
    if (range && range[0] >= stat.size) {
      return s.reply(556, "The range starts past the file's end.");
    }
    const offset = range ? range[0] : 0;
    const length = range ? Math.min(range[1] + 1, stat.size) - offset : stat.size;
    const request = { op: "hash", path, algorithm, length, ...(range ? { offset } : {}) } as const;
    s.storage(request, (hashed) => {
      if (!hashed.ok) return s.refused(hashed);
      const size = hashed.size ?? length;
      // What the driver gives goes in a reply: only hex digits, and no more bytes than asked.
      const sizeOk = Number.isSafeInteger(size) && size >= 0 && size <= length;
      if (!/^[0-9a-f]{1,128}$/.test(hashed.hash ?? "") || !sizeOk) {
        return s.reply(451, "Local error in processing.");
      }
      done(hashed.hash!, size);
    });
  });
}
