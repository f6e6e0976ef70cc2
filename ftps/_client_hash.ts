/**
 * The FTPS client's checksums of remote files: which command a server offers for an algorithm
 * (FEAT's HASH, draft-bryan-ftpext-hash-02 section 3.1, or the older XSHA256, XSHA1, XMD5 and
 * XCRC of its appendix B), its replies read strictly (a server's reply is hostile input: anything
 * but a digest of the algorithm's length is an error), and the procedure that asks for one. Also
 * the local digests `verify` compares them with, computed as the bytes go by.
 *
 * @module
 */

import { type FtpReply, ftpReplyText, parseFtpNumber } from "../codec/mod.ts";
import { type FileHandle, open } from "node:fs/promises";
import { createDigest, type Digest, type DigestAlgorithm } from "../io/digest.ts";
import {
  FtpChecksumError,
  type FtpsHashAlgorithm,
  type FtpsHashRange,
  FtpUnsupportedError,
} from "./checksum_error.ts";
import type { UploadSource } from "./_client_transfer.ts";
import type { UploadFrom } from "./_client_resume.ts";
import { FtpReplyError } from "./reply_error.ts";

/** What ftkit knows of each algorithm: its local digest, its length in hex, its X command. */
interface HashAlgorithmFacts {
  readonly digest: DigestAlgorithm;
  readonly hexLength: number;
  readonly x: string;
}

/** Each algorithm the client asks for. */
export const HASH_ALGORITHMS: Readonly<Record<FtpsHashAlgorithm, HashAlgorithmFacts>> = {
  "SHA-256": { digest: "sha256", hexLength: 64, x: "XSHA256" },
  "SHA-1": { digest: "sha1", hexLength: 40, x: "XSHA1" },
  MD5: { digest: "md5", hexLength: 32, x: "XMD5" },
  CRC32: { digest: "crc32", hexLength: 8, x: "XCRC" },
};

/** The algorithms, strongest first: `verify` takes the first the server offers. */
const STRONGEST_FIRST: readonly FtpsHashAlgorithm[] = ["SHA-256", "SHA-1", "MD5", "CRC32"];

/**
 * Whether `name` is an algorithm the client asks for.
 *
 * @param name A name.
 * @returns Whether it is one of `"SHA-256"`, `"SHA-1"`, `"MD5"`, `"CRC32"`.
 */
export function isHashAlgorithm(name: string): name is FtpsHashAlgorithm {
  return Object.hasOwn(HASH_ALGORITHMS, name);
}

/**
 * Reads FEAT's HASH parameters (draft-bryan-ftpext-hash-02 section 3.1): algorithm names
 * separated by `;`, the one selected marked `*`.
 *
 * @param parameters What follows `HASH` in the FEAT reply (`"CRC32;MD5;SHA-1*;SHA-256;"`).
 * @returns The names (upper case) and the one selected, if one is marked.
 */
export function parseHashFeature(parameters: string): { algorithms: string[]; selected?: string } {
  const algorithms: string[] = [];
  let selected: string | undefined;
  for (const part of parameters.split(";")) {
    const item = part.trim().toUpperCase();
    if (item === "") continue;
    const name = item.endsWith("*") ? item.slice(0, -1) : item;
    if (name === "" || !/^[A-Z0-9-]{1,32}$/.test(name)) continue;
    algorithms.push(name);
    if (item.endsWith("*")) selected = name;
  }
  return { algorithms, ...(selected !== undefined ? { selected } : {}) };
}

/**
 * Which command FEAT says hashes with `algorithm`: `"HASH"` when HASH lists it, else its X command
 * when FEAT lists that, else none.
 *
 * @param features The server's features.
 * @param algorithm The algorithm.
 * @returns The command's verb, if any.
 */
export function hashCommand(
  features: ReadonlyMap<string, string>,
  algorithm: FtpsHashAlgorithm,
): string | undefined {
  const hash = features.get("HASH");
  if (hash !== undefined && parseHashFeature(hash).algorithms.includes(algorithm)) return "HASH";
  const x = HASH_ALGORITHMS[algorithm].x;
  return features.has(x) ? x : undefined;
}

/**
 * The strongest algorithm FEAT offers a command for: SHA-256, then SHA-1, MD5, CRC32.
 *
 * @param features The server's features.
 * @returns The algorithm, or none when FEAT lists no checksum command.
 */
export function strongestHash(
  features: ReadonlyMap<string, string>,
): FtpsHashAlgorithm | undefined {
  return STRONGEST_FIRST.find((algorithm) => hashCommand(features, algorithm) !== undefined);
}

/** A reply's last line, where servers put the digest (ProFTPD says what it computes before). */
function lastLine(reply: FtpReply): string {
  return (reply.lines.at(-1) ?? "").trim();
}

/** The error for a reply that is not the digest asked for. */
function notADigest(command: string, reply: FtpReply, algorithm: FtpsHashAlgorithm): FtpReplyError {
  return new FtpReplyError(
    command,
    reply,
    `Not a ${algorithm} digest (${HASH_ALGORITHMS[algorithm].hexLength} hex digits)`,
  );
}

/**
 * Reads a reply to HASH (draft-bryan-ftpext-hash-02 section 3.1):
 * `213 <algorithm> <start>-<end> <hex> <path>`, on its last line. The algorithm must be the one
 * asked for, the range must start at `start`, the digest must have the algorithm's length.
 *
 * @param command The command line, for errors.
 * @param reply The reply.
 * @param algorithm The algorithm asked for.
 * @param start The range's first byte asked for (0: the whole file).
 * @returns The digest, lower-case hex.
 * @throws {FtpReplyError} For anything else.
 */
export function parseHashReply(
  command: string,
  reply: FtpReply,
  algorithm: FtpsHashAlgorithm,
  start = 0,
): string {
  const match = /^(\S+) (\d{1,16})-(\d{1,16}) ([0-9A-Fa-f]+)(?: .*)?$/.exec(lastLine(reply));
  if (
    reply.code !== 213 || !match || match[1].toUpperCase() !== algorithm ||
    match[4].length !== HASH_ALGORITHMS[algorithm].hexLength
  ) {
    throw notADigest(command, reply, algorithm);
  }
  // A server may take RANG and hash the whole file all the same (ProFTPD 1.3.8 does).
  if (Number(match[2]) !== start) {
    throw new FtpReplyError(
      command,
      reply,
      `The server hashed from byte ${match[2]}, not ${start}`,
    );
  }
  return match[4].toLowerCase();
}

/**
 * Reads a reply to XSHA256, XSHA1, XMD5 or XCRC (draft-bryan-ftpext-hash-02 appendix B): a 2yz
 * reply (250 from ProFTPD, GlobalSCAPE and Serv-U, 213 from others) whose last line is the digest,
 * or the digest and then, after a space, the path.
 *
 * @param command The command line, for errors.
 * @param reply The reply.
 * @param algorithm The command's algorithm.
 * @returns The digest, lower-case hex.
 * @throws {FtpReplyError} For anything else.
 */
export function parseXHashReply(
  command: string,
  reply: FtpReply,
  algorithm: FtpsHashAlgorithm,
): string {
  const match = /^([0-9A-Fa-f]+)(?: .*)?$/.exec(lastLine(reply));
  if (
    reply.code < 200 || reply.code > 299 || !match ||
    match[1].length !== HASH_ALGORITHMS[algorithm].hexLength
  ) {
    throw notADigest(command, reply, algorithm);
  }
  return match[1].toLowerCase();
}

/**
 * Reads a reply to `OPTS HASH <algorithm>` (draft-bryan-ftpext-hash-02 section 3.2): 200 and the
 * algorithm now selected, which must be the one asked for.
 *
 * @param reply The reply.
 * @param algorithm The algorithm asked for.
 * @throws {FtpReplyError} When another is selected.
 */
export function checkOptsHashReply(reply: FtpReply, algorithm: FtpsHashAlgorithm): void {
  if (reply.code !== 200 || ftpReplyText(reply).trim().toUpperCase() !== algorithm) {
    throw new FtpReplyError(`OPTS HASH ${algorithm}`, reply, `${algorithm} was not selected`);
  }
}

/** How the hash procedure reaches the server: its commands, and what it offers. */
export interface HashPeer {
  /** Sends a command and gives its positive reply (a negative one rejects with FtpReplyError). */
  readonly raw: (verb: string, argument?: string) => Promise<FtpReply>;
  /** The server's features (FEAT). */
  readonly features: ReadonlyMap<string, string>;
  /** The algorithm HASH computes now, once known (FEAT's `*`, then each OPTS HASH). */
  selected?: string;
}

/** Whether a refusal says the command does not exist (RFC 959 section 4.2: 500, 502). */
function unknownCommand(error: unknown): boolean {
  return error instanceof FtpReplyError && (error.code === 500 || error.code === 502);
}

/**
 * A remote file's digest: HASH (after `OPTS HASH` when another algorithm is selected, and RANG for
 * a range) when FEAT's HASH lists the algorithm, else its X command. An X command FEAT does not
 * list is tried all the same (servers leave them out), a 500 or 502 to it meaning there is none.
 * A range needs HASH and RANG (draft-bryan-ftp-range-08): the X commands' range arguments are not
 * the same from server to server.
 *
 * @param peer The server.
 * @param path The file.
 * @param algorithm The algorithm.
 * @param range Part of the file.
 * @returns The digest, lower-case hex.
 * @throws {FtpUnsupportedError} When the server offers no way to hash so.
 */
export async function remoteHash(
  peer: HashPeer,
  path: string,
  algorithm: FtpsHashAlgorithm,
  range: FtpsHashRange = {},
): Promise<string> {
  const start = range.start ?? 0;
  const ranged = start !== 0 || range.end !== undefined;
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`Bad start: ${start}`);
  if (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end <= start)) {
    throw new RangeError(`Bad end: ${range.end} (after start, ${start})`);
  }
  const command = hashCommand(peer.features, algorithm);
  if (command === "HASH") {
    if (ranged && !peer.features.has("RANG")) {
      throw new FtpUnsupportedError(
        "hash",
        `The server hashes no part of a file (it has no RANG): ${path} ${start}-${range.end}`,
      );
    }
    peer.selected ??= parseHashFeature(peer.features.get("HASH")!).selected;
    if (peer.selected !== algorithm) {
      peer.selected = undefined;
      checkOptsHashReply(await peer.raw("OPTS", `HASH ${algorithm}`), algorithm);
      peer.selected = algorithm;
    }
    if (!ranged) return parseHashReply(`HASH ${path}`, await peer.raw("HASH", path), algorithm);
    const last = (range.end ?? await size(peer, path)) - 1;
    if (last < start) throw new RangeError(`Nothing to hash from byte ${start} of ${path}`);
    await rang(peer, `${start} ${last}`);
    try {
      return parseHashReply(`HASH ${path}`, await peer.raw("HASH", path), algorithm, start);
    } catch (error) {
      // A range left set would apply to the next RETR: `RANG 1 0` forgets it (section 3.2).
      await rang(peer, "1 0").catch(() => {});
      throw error;
    }
  }
  const x = HASH_ALGORITHMS[algorithm].x;
  if (ranged) {
    throw new FtpUnsupportedError("hash", `The server hashes no part of a file with ${algorithm}`);
  }
  try {
    return parseXHashReply(`${x} ${path}`, await peer.raw(x, path), algorithm);
  } catch (error) {
    if (command === undefined && unknownCommand(error)) {
      throw new FtpUnsupportedError("hash", `The server offers no ${algorithm} checksum of files`);
    }
    throw error;
  }
}

/** RANG (draft-bryan-ftp-range-08 section 3): its positive reply is 350. */
async function rang(peer: HashPeer, argument: string): Promise<void> {
  try {
    await peer.raw("RANG", argument);
  } catch (error) {
    if (!(error instanceof FtpReplyError) || error.code !== 350) throw error;
  }
}

/** SIZE (RFC 3659 section 4). */
async function size(peer: HashPeer, path: string): Promise<number> {
  return parseFtpNumber(ftpReplyText(await peer.raw("SIZE", path)).trim());
}

/**
 * The algorithm `verify` compares with: the strongest the server offers, by FEAT.
 *
 * @param features The server's features.
 * @param path The file, for the error.
 * @returns The algorithm.
 * @throws {FtpUnsupportedError} When FEAT lists no checksum command ftkit knows.
 */
export function verifyAlgorithm(
  features: ReadonlyMap<string, string>,
  path: string,
): FtpsHashAlgorithm {
  const algorithm = strongestHash(features);
  if (algorithm) return algorithm;
  throw new FtpUnsupportedError(
    "hash",
    `Cannot verify ${path}: the server lists no checksum command in FEAT (HASH, XSHA256, ` +
      "XSHA1, XMD5, XCRC)",
  );
}

/**
 * Starts a local digest for `algorithm`.
 *
 * @param algorithm The algorithm.
 * @returns The digest, empty.
 */
export function localDigest(algorithm: FtpsHashAlgorithm): Digest {
  return createDigest(HASH_ALGORITHMS[algorithm].digest);
}

/**
 * An upload source whose bytes also go through a digest; each attempt starts a new one.
 *
 * @param source The upload's bytes.
 * @param algorithm The algorithm.
 * @param prefix Bytes of the file before those sent (an upload continued with REST), hashed
 * first on each attempt.
 * @returns The source, and the digest of the last attempt's bytes.
 */
export function digestedSource(
  source: UploadSource,
  algorithm: FtpsHashAlgorithm,
  prefix?: () => Promise<Digest>,
): { source: UploadSource; digest: () => Digest } {
  let digest = localDigest(algorithm);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    digest = prefix ? await prefix() : localDigest(algorithm);
    for await (const chunk of source.chunks()) {
      digest.update(chunk);
      yield chunk;
    }
  }
  return { source: { chunks, replayable: source.replayable }, digest: () => digest };
}

/**
 * The digest of a local file's bytes from `start` up to `end`, read 256 KiB at a time.
 *
 * @param file The file.
 * @param algorithm The algorithm.
 * @param start The first byte.
 * @param end The byte after the last (default the file's end).
 * @returns The digest, not yet read out (more bytes may follow).
 */
export async function fileDigest(
  file: FileHandle,
  algorithm: FtpsHashAlgorithm,
  start = 0,
  end: number = Infinity,
): Promise<Digest> {
  const digest = localDigest(algorithm);
  const buffer = new Uint8Array(256 * 1024);
  for (let position = start; position < end;) {
    const want = Math.min(buffer.length, end - position);
    const { bytesRead } = await file.read(buffer, 0, want, position);
    if (bytesRead === 0) break;
    digest.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return digest;
}

/** What a transfer with `verify` compares: the algorithm, and the digest of the bytes here. */
export interface VerifyCheck {
  /** The algorithm. */
  readonly algorithm: FtpsHashAlgorithm;
  /** The digest of the local bytes, fed as they go. */
  readonly digest: Digest;
}

/**
 * The check of a transfer with `verify` (before anything moves), or undefined without.
 *
 * @param features The server's features.
 * @param path The file.
 * @param options The transfer's options.
 * @param offsetHashed Whether the caller hashes the whole local file itself, so that `offset` is
 * allowed (getFile, putFile).
 * @returns The check.
 * @throws {FtpUnsupportedError} When FEAT lists no checksum command ftkit knows.
 */
export function verifying(
  features: ReadonlyMap<string, string>,
  path: string,
  options: { verify?: boolean; append?: boolean; offset?: number },
  offsetHashed = false,
): VerifyCheck | undefined {
  if (!options.verify) return undefined;
  if (options.append || (options.offset && !offsetHashed)) {
    throw new TypeError(
      "verify compares whole files: not with append, nor with offset but on getFile and putFile",
    );
  }
  const algorithm = verifyAlgorithm(features, path);
  return { algorithm, digest: localDigest(algorithm) };
}

/**
 * Compares the server's digest of `path` with the local one (fed `bytes` first, if given).
 *
 * @param peer The server.
 * @param path The file.
 * @param check The algorithm and the local digest.
 * @param bytes Bytes still to feed the local digest.
 * @throws {FtpChecksumError} When they differ.
 */
export async function compareHash(
  peer: HashPeer,
  path: string,
  check: VerifyCheck,
  bytes?: Uint8Array,
): Promise<void> {
  if (bytes) check.digest.update(bytes);
  const local = check.digest.hex();
  const remote = await remoteHash(peer, path, check.algorithm);
  if (remote !== local) throw new FtpChecksumError(path, check.algorithm, local, remote);
}

/**
 * With `check`, compares the whole local file at `localPath` with the server's digest of `path`.
 *
 * @param peer The server.
 * @param path The remote file.
 * @param localPath The local file.
 * @param check The algorithm (its digest is not used: the file is read whole).
 * @throws {FtpChecksumError} When they differ.
 */
export async function compareLocalFile(
  peer: HashPeer,
  path: string,
  localPath: string,
  check: VerifyCheck | undefined,
): Promise<void> {
  if (!check) return;
  const whole = await open(localPath, "r");
  try {
    const digest = await fileDigest(whole, check.algorithm);
    await compareHash(peer, path, { algorithm: check.algorithm, digest });
  } finally {
    await whole.close();
  }
}

/**
 * An upload's sources, digested for `check`: bytes and text at once, a stream as it goes (sent
 * once: never again once read from).
 *
 * @param data What the upload sends.
 * @param from Its sources by position.
 * @param check The check, when `verify` is on.
 * @returns The sources, and the check with the digest of what went (none without `check`).
 */
export function digestedUpload(
  data: Uint8Array | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  from: UploadFrom,
  check: VerifyCheck | undefined,
): { from: UploadFrom; check: () => VerifyCheck | undefined } {
  if (!check) return { from, check: () => undefined };
  if (typeof data === "string" || data instanceof Uint8Array) {
    check.digest.update(typeof data === "string" ? new TextEncoder().encode(data) : data);
    return { from, check: () => check };
  }
  let sent: (() => Digest) | undefined;
  return {
    from: (position) => {
      const source = from(position);
      if (!source) return undefined;
      const digested = digestedSource(source, check.algorithm);
      sent = digested.digest;
      return digested.source;
    },
    check: () => (sent ? { ...check, digest: sent() } : check),
  };
}
