/**
 * Password hashes for FTPS server users, so that a configuration holds no password in clear: scrypt
 * (RFC 7914, through node:crypto) and PBKDF2 with HMAC-SHA-256 (RFC 8018 section 5.2, through
 * WebCrypto), in a self-describing text form
 * that names the algorithm and its work parameters:
 *
 * ```
 * $scrypt$N=16384,r=8,p=1$<salt>$<hash>
 * $pbkdf2-sha256$i=600000$<salt>$<hash>
 * ```
 *
 * `<salt>` and `<hash>` are standard base64 (RFC 4648 section 4), `=` padding optional. The work
 * parameters of a hash are bounded (see {@linkcode checkFtpsPasswordHash}), so that no
 * configuration can make one login take more than about a second or 128 MiB; comparisons take
 * constant time.
 *
 * @module
 */

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/**
 * Options of {@linkcode hashFtpsPassword}: the algorithm and its work parameters.
 *
 * @example
 * ```ts
 * import { type FtpsPasswordHashOptions, hashFtpsPassword } from "@ftkit/ftkit/ftps";
 *
 * const options: FtpsPasswordHashOptions = { algorithm: "pbkdf2-sha256", iterations: 600_000 };
 * console.log((await hashFtpsPassword("secret", options)).startsWith("$pbkdf2-sha256$")); // true
 * ```
 */
export interface FtpsPasswordHashOptions {
  /** `"scrypt"` (default) or `"pbkdf2-sha256"`. */
  algorithm?: "scrypt" | "pbkdf2-sha256";
  /** scrypt's CPU/memory cost N, a power of two (default 16384). */
  cost?: number;
  /** scrypt's block size r (default 8). */
  blockSize?: number;
  /** scrypt's parallelization p (default 1). */
  parallelization?: number;
  /** PBKDF2's iteration count (default 600000, OWASP's figure for PBKDF2-HMAC-SHA256). */
  iterations?: number;
}

/** What a hash string says: the algorithm, its parameters, the salt and the derived key. */
interface ParsedHash {
  readonly algorithm: "scrypt" | "pbkdf2-sha256";
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

/** scrypt's defaults: Django's `ScryptPasswordHasher` (N=2^14, r=8, p=1: 16 MiB a login). */
const SCRYPT_DEFAULT = { N: 16384, r: 8, p: 1 } as const;
/** At most 128 MiB a login (128 * N * r bytes) and as much work as N=2^17, r=8, p=1. */
const SCRYPT_MAX_NR = 2 ** 20;
const SCRYPT_MAX_WORK = 2 ** 20;
const PBKDF2_DEFAULT_ITERATIONS = 600_000;
/** PBKDF2 iterations: at least 10000 (a weaker hash is refused), at most 5 million. */
const PBKDF2_MIN_ITERATIONS = 10_000;
const PBKDF2_MAX_ITERATIONS = 5_000_000;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const MIN_SALT = 8;
const MIN_HASH = 16;
const MAX_BYTES = 64;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The bytes of standard base64 text (padding optional), or undefined when it is not that. */
function fromBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text) || text.replace(/=+$/, "").length % 4 === 1) return undefined;
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** Standard base64 without padding. */
function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "");
}

/** `name=value,...` as numbers by name, or undefined when malformed. */
function parameters(text: string): Map<string, number> | undefined {
  const map = new Map<string, number>();
  for (const part of text.split(",")) {
    const match = part.match(/^([A-Za-z]+)=([0-9]{1,10})$/);
    if (!match || map.has(match[1])) return undefined;
    map.set(match[1], Number(match[2]));
  }
  return map;
}

/** The hash's parts, or the reason it is not a usable hash. */
function parseHash(text: string): ParsedHash | string {
  const parts = text.split("$");
  if (parts.length !== 5 || parts[0] !== "") {
    return "expected $scrypt$N=..,r=..,p=..$SALT$HASH or $pbkdf2-sha256$i=..$SALT$HASH";
  }
  const [, algorithm, params, saltText, hashText] = parts;
  if (algorithm !== "scrypt" && algorithm !== "pbkdf2-sha256") {
    return `unknown algorithm "${algorithm.slice(0, 20)}" (scrypt or pbkdf2-sha256)`;
  }
  const salt = fromBase64(saltText);
  const hash = fromBase64(hashText);
  if (!salt || salt.length < MIN_SALT || salt.length > MAX_BYTES) {
    return `the salt must be ${MIN_SALT} to ${MAX_BYTES} bytes of base64`;
  }
  if (!hash || hash.length < MIN_HASH || hash.length > MAX_BYTES) {
    return `the hash must be ${MIN_HASH} to ${MAX_BYTES} bytes of base64`;
  }
  const map = parameters(params);
  if (algorithm === "scrypt") {
    const [N, r, p] = ["N", "r", "p"].map((name) => map?.get(name) ?? NaN);
    if (!map || map.size !== 3 || ![N, r, p].every(Number.isSafeInteger)) {
      return "scrypt takes N=..,r=..,p=..";
    }
    const problem = scryptProblem(N, r, p);
    if (problem) return problem;
    return { algorithm, N, r, p, iterations: 0, salt, hash };
  }
  const iterations = map?.get("i") ?? NaN;
  if (!map || map.size !== 1 || !Number.isSafeInteger(iterations)) {
    return "pbkdf2-sha256 takes i=..";
  }
  const problem = iterationsProblem(iterations);
  if (problem) return problem;
  return { algorithm, N: 0, r: 0, p: 0, iterations, salt, hash };
}

/** Why scrypt's parameters are refused, or undefined. */
function scryptProblem(N: number, r: number, p: number): string | undefined {
  if (!(N >= 2 && (N & (N - 1)) === 0)) return `scrypt's N must be a power of two, not ${N}`;
  if (r < 1 || p < 1) return "scrypt's r and p must be at least 1";
  if (N * r > SCRYPT_MAX_NR) return `scrypt's N*r must be at most ${SCRYPT_MAX_NR} (128 MiB)`;
  if (N * r * p > SCRYPT_MAX_WORK) return `scrypt's N*r*p must be at most ${SCRYPT_MAX_WORK}`;
  return undefined;
}

/** Why a PBKDF2 iteration count is refused, or undefined. */
function iterationsProblem(iterations: number): string | undefined {
  if (iterations < PBKDF2_MIN_ITERATIONS || iterations > PBKDF2_MAX_ITERATIONS) {
    return `pbkdf2-sha256's i must be from ${PBKDF2_MIN_ITERATIONS} to ${PBKDF2_MAX_ITERATIONS}`;
  }
  return undefined;
}

/**
 * Why `hash` is not a password hash {@linkcode verifyFtpsPassword} takes, or `undefined` when it
 * is one: the form, the algorithm, the salt and hash lengths (8 to 64 and 16 to 64 bytes), and
 * the work bounds (scrypt: N a power of two, N*r and N*r*p at most 2^20, so at most 128 MiB;
 * PBKDF2: 10000 to 5000000 iterations).
 *
 * @example
 * ```ts
 * import { checkFtpsPasswordHash } from "@ftkit/ftkit/ftps";
 *
 * console.log(checkFtpsPasswordHash("$scrypt$N=1024,r=8,p=1$c2FsdHNhbHQ$" + "A".repeat(43))); // undefined
 * console.log(checkFtpsPasswordHash("$md5$x$y$z")); // 'unknown algorithm "md5" (scrypt or pbkdf2-sha256)'
 * ```
 *
 * @param hash The text to check.
 * @returns What is wrong with it, or `undefined`.
 */
export function checkFtpsPasswordHash(hash: string): string | undefined {
  const parsed = parseHash(hash);
  return typeof parsed === "string" ? parsed : undefined;
}

/**
 * Whether `text` has the form of a password hash (it begins `$scrypt$` or `$pbkdf2-sha256$`),
 * usable or not: such a text is never taken as a password in clear.
 *
 * @example
 * ```ts
 * import { looksLikeFtpsPasswordHash } from "@ftkit/ftkit/ftps";
 *
 * console.log(looksLikeFtpsPasswordHash("$scrypt$N=16384,r=8,p=1$...")); // true
 * console.log(looksLikeFtpsPasswordHash("secret")); // false
 * ```
 *
 * @param text A password or a hash.
 * @returns Whether it is meant as a hash.
 */
export function looksLikeFtpsPasswordHash(text: string): boolean {
  return text.startsWith("$scrypt$") || text.startsWith("$pbkdf2-sha256$");
}

function deriveScrypt(
  password: string,
  salt: Uint8Array,
  length: number,
  { N, r, p }: { N: number; r: number; p: number },
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // maxmem above the 128 * N * r bytes scrypt needs (Node's default, 32 MiB, is less).
    const maxmem = 128 * N * r * 2 + 1024 * 1024;
    scrypt(password, salt, length, { N, r, p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(new Uint8Array(key));
    });
  });
}

async function derivePbkdf2(
  password: string,
  salt: Uint8Array,
  length: number,
  iterations: number,
): Promise<Uint8Array> {
  // WebCrypto: as fast as node:crypto on Node, four times faster on Deno (measured).
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(salt), iterations },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

function derive(password: string, parsed: ParsedHash, length: number): Promise<Uint8Array> {
  return parsed.algorithm === "scrypt"
    ? deriveScrypt(password, parsed.salt, length, parsed)
    : derivePbkdf2(password, parsed.salt, length, parsed.iterations);
}

/**
 * Hashes a password for an FTPS server user (`users: { fred: { passwordHash } }` of `serveFtps`,
 * `passwordHash` in `ftkit ftps serve --config`): scrypt with N=16384, r=8, p=1 by default, or
 * PBKDF2-HMAC-SHA256 with 600000 iterations, a random 16-byte salt and a 32-byte key. `ftkit ftps
 * passwd` prints one.
 *
 * @example Hash a password, and serve a user with it
 * ```ts
 * import { hashFtpsPassword, verifyFtpsPassword } from "@ftkit/ftkit/ftps";
 *
 * const passwordHash = await hashFtpsPassword("secret");
 * console.log(passwordHash.startsWith("$scrypt$N=16384,r=8,p=1$")); // true
 * console.log(await verifyFtpsPassword("secret", passwordHash)); // true
 * // serveFtps({ users: { fred: { passwordHash } }, ... })
 * ```
 *
 * @param password The password.
 * @param options The algorithm and its work parameters.
 * @returns The hash, in the form `$scrypt$N=16384,r=8,p=1$SALT$HASH` (or `$pbkdf2-sha256$i=...`).
 * @throws {RangeError} When the work parameters are out of bounds (see
 * {@linkcode checkFtpsPasswordHash}).
 */
export async function hashFtpsPassword(
  password: string,
  options: FtpsPasswordHashOptions = {},
): Promise<string> {
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const algorithm = options.algorithm ?? "scrypt";
  if (algorithm === "scrypt") {
    const N = options.cost ?? SCRYPT_DEFAULT.N;
    const r = options.blockSize ?? SCRYPT_DEFAULT.r;
    const p = options.parallelization ?? SCRYPT_DEFAULT.p;
    const problem = [N, r, p].every(Number.isSafeInteger)
      ? scryptProblem(N, r, p)
      : "scrypt's N, r and p must be integers";
    if (problem) throw new RangeError(problem);
    const hash = await deriveScrypt(password, salt, HASH_BYTES, { N, r, p });
    return `$scrypt$N=${N},r=${r},p=${p}$${toBase64(salt)}$${toBase64(hash)}`;
  }
  if (algorithm !== "pbkdf2-sha256") {
    throw new RangeError(`Unknown algorithm "${algorithm}" (scrypt or pbkdf2-sha256)`);
  }
  const iterations = options.iterations ?? PBKDF2_DEFAULT_ITERATIONS;
  const problem = Number.isSafeInteger(iterations)
    ? iterationsProblem(iterations)
    : "pbkdf2-sha256's iterations must be an integer";
  if (problem) throw new RangeError(problem);
  const hash = await derivePbkdf2(password, salt, HASH_BYTES, iterations);
  return `$pbkdf2-sha256$i=${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

/**
 * Whether `password` is the one `hash` was made from ({@linkcode hashFtpsPassword}), compared in
 * constant time.
 *
 * @example
 * ```ts
 * import { hashFtpsPassword, verifyFtpsPassword } from "@ftkit/ftkit/ftps";
 *
 * const hash = await hashFtpsPassword("secret", { cost: 1024 });
 * console.log(await verifyFtpsPassword("secret", hash)); // true
 * console.log(await verifyFtpsPassword("Secret", hash)); // false
 * ```
 *
 * @param password The password sent.
 * @param hash The stored hash.
 * @returns Whether they match.
 * @throws {TypeError} When `hash` is not a usable hash (see {@linkcode checkFtpsPasswordHash}).
 */
export async function verifyFtpsPassword(password: string, hash: string): Promise<boolean> {
  const parsed = parseHash(hash);
  if (typeof parsed === "string") throw new TypeError(`Not a password hash: ${parsed}`);
  const derived = await derive(password, parsed, parsed.hash.length);
  return timingSafeEqual(derived, parsed.hash);
}
