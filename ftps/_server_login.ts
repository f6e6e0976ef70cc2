/**
 * Who may log in to an FTPS server, and what each user sees: the users and their passwords or
 * pinned certificates (RFC 4217 section 12.2), an `authenticate` hook, the anonymous storage, and
 * the lockout of addresses with too many failed logins.
 *
 * @module
 */

import { AddressRules } from "../io/address_rules.ts";
import {
  checkFtpsPermissions,
  ftpPermissionStorage,
  type FtpsDirectoryPermissions,
} from "./permissions.ts";
import { canonicalFtpHost } from "../codec/mod.ts";
import { ftpDirectoryStorage } from "./directory.ts";
import type { FtpStorage } from "./storage.ts";
import type { FtpPeerCertificate } from "./transport.ts";
import type { FtpsLoginRequest, FtpsUserOptions, ServeFtpsOptions } from "./server_options.ts";
import {
  checkFtpsPasswordHash,
  looksLikeFtpsPasswordHash,
  verifyFtpsPassword,
} from "./password_hash.ts";

/** A fingerprint without colons, upper case, for comparisons. */
function fingerprintKey(text: string): string {
  return text.replace(/:/g, "").toUpperCase();
}

/** Compares two strings in time that depends only on their lengths. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}

/**
 * What session limits and lockouts count by: an IPv4 address, or an IPv6 address's /64 (one
 * subscriber's network: a client there can take any of its 2^64 addresses).
 *
 * @param address The client's IP address.
 * @returns The key it is counted by.
 */
export function clientKey(address: string): string {
  const canonical = canonicalFtpHost(address) ?? address;
  if (!canonical.includes(":")) return canonical;
  return `${canonical.split(":").slice(0, 4).join(":")}::/64`;
}

/** Password hashes computed at once: each takes up to 128 MiB and a second (see password_hash.ts);
 * more logins wait their turn. */
const MAX_HASHING = 4;

/** Runs at most `limit` tasks at once; the others wait in order. */
class Gate {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(limit: number) {
    this.#limit = limit;
  }
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((go) => this.#waiting.push(go));
    else this.#running++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/**
 * Throws unless every user's password is usable: a `passwordHash` of the right form within the
 * work bounds, never both `password` and `passwordHash`, and no hash given as a password in clear
 * (which would let anyone who reads the hash log in with it).
 *
 * @param users The server's users.
 * @returns A hash of theirs, if any: checked against for unknown users, so that a login takes
 * as long whether the user exists or not.
 */
function checkUsers(users: ServeFtpsOptions["users"]): string | undefined {
  let anyHash: string | undefined;
  for (const [name, entry] of Object.entries(users ?? {})) {
    const user: FtpsUserOptions = typeof entry === "string" ? { password: entry } : entry;
    const where = `users.${name}`;
    // Checked now rather than at the user's first login.
    new AddressRules(user.allow, user.deny, `${where}.`);
    if (user.permissions) checkFtpsPermissions(user.permissions, `${where}.permissions`);
    if (user.password !== undefined && looksLikeFtpsPasswordHash(user.password)) {
      throw new TypeError(
        `${where}: a password hash given as the password: give it as passwordHash`,
      );
    }
    if (user.passwordHash === undefined) continue;
    if (user.password !== undefined) {
      throw new TypeError(`${where}: give password or passwordHash, not both`);
    }
    if (typeof user.passwordHash !== "string") {
      throw new TypeError(`${where}.passwordHash: not a string`);
    }
    const problem = checkFtpsPasswordHash(user.passwordHash);
    if (problem) throw new TypeError(`${where}.passwordHash: ${problem}`);
    anyHash ??= user.passwordHash;
  }
  return anyHash;
}

/** What a login gets: the storage, and what the user may do there. */
export interface UserLogin {
  /** What the user sees. */
  readonly storage: FtpStorage;
  /** Changes are allowed: the user's `allowWrite` over a directory, or a storage of its own
   * (which keeps its own policy); never for the anonymous user. */
  readonly write: boolean;
  /** Existing files may be replaced: `allowOverwrite` as `write` is. */
  readonly overwrite: boolean;
  /** The per-directory permissions `storage` enforces, if any. */
  readonly directories?: FtpsDirectoryPermissions;
}

/** The lockout policy: failed logins within a window that lock an address out for a while. */
type LockoutPolicy = { attempts: number; windowMs: number; durationMs: number };

/** Ten failed logins in ten minutes lock an address out for fifteen. */
const DEFAULT_LOCKOUT: LockoutPolicy = { attempts: 10, windowMs: 600_000, durationMs: 900_000 };

/** A password login: the machine's `authenticate` event, with what the connection says. */
export interface PasswordLogin {
  /** The user name. */
  readonly user: string;
  /** The password. */
  readonly password: string;
  /** Whether the machine let an anonymous user (`anonymous`, `ftp`) this far: any password is
   * taken, and the session gets the anonymous storage. */
  readonly anonymous: boolean;
  /** Whether the control connection is protected. */
  readonly protected: boolean;
  /** The TLS client certificate of the control connection, if one came. */
  readonly certificate: FtpPeerCertificate | undefined;
  /** The client's IP address. */
  readonly remoteAddress: string;
}

/**
 * Checks logins against the server's options and counts failures per address ({@linkcode
 * clientKey}): an address with too many is locked out (its logins fail, its new connections are
 * refused) until its time is up.
 */
export class LoginGuard {
  readonly #options: ServeFtpsOptions;
  readonly #onError: (error: Error) => void;
  readonly #policy: LockoutPolicy | undefined;
  readonly #failures = new Map<string, number[]>();
  readonly #lockedUntil = new Map<string, number>();
  /** Directory storages by root and access, so that users sharing a root share one. */
  readonly #directories = new Map<string, FtpStorage>();
  /** Each user's address rules, once parsed. */
  readonly #userAddresses = new WeakMap<FtpsUserOptions, AddressRules>();
  /** Storages guarded by per-directory permissions, by the rules and the storage beneath. */
  readonly #guarded = new WeakMap<FtpsDirectoryPermissions, WeakMap<FtpStorage, FtpStorage>>();
  /** Bounds the password hashes computed at once. */
  readonly #hashing = new Gate(MAX_HASHING);
  /** A hash of a user's, checked against when the user named has none. */
  readonly #decoy: string | undefined;

  /**
   * Takes the options; throws when nobody could log in, or a user would have nothing to see.
   *
   * @param options The server's options.
   * @param onError Where a throwing `authenticate` hook's error goes (the login fails).
   */
  constructor(options: ServeFtpsOptions, onError: (error: Error) => void) {
    const hasUsers = options.users !== undefined || options.authenticate !== undefined;
    if (!hasUsers && !options.anonymous) {
      throw new TypeError("Give users, authenticate or anonymous: nobody could log in");
    }
    if (options.root === undefined && options.storage === undefined) {
      const everyUserHasOwn = options.authenticate === undefined &&
        Object.values(options.users ?? {}).every((user) =>
          typeof user !== "string" && (user.root !== undefined || user.storage !== undefined)
        ) &&
        (!options.anonymous ||
          (typeof options.anonymous === "object" &&
            (options.anonymous.root !== undefined || options.anonymous.storage !== undefined)));
      if (!everyUserHasOwn) throw new TypeError("Give root or storage: what the server serves");
    }
    this.#decoy = checkUsers(options.users);
    if (options.permissions) checkFtpsPermissions(options.permissions);
    this.#options = options;
    this.#onError = onError;
    const policy = options.lockout ?? DEFAULT_LOCKOUT;
    this.#policy = policy === false ? undefined : policy;
  }

  /** Whether the address (its {@linkcode clientKey}) is locked out at `now`. */
  locked(key: string, now: number): boolean {
    const until = this.#lockedUntil.get(key);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#lockedUntil.delete(key);
    return false;
  }

  /** Counts a failed login from the address at `now`; enough of them lock it out. */
  failed(key: string, now: number): void {
    const policy = this.#policy;
    if (!policy) return;
    const recent = (this.#failures.get(key) ?? []).filter((t) => now - t < policy.windowMs);
    recent.push(now);
    if (recent.length >= policy.attempts) {
      this.#lockedUntil.set(key, now + policy.durationMs);
      this.#failures.delete(key);
    } else {
      this.#failures.set(key, recent);
    }
    // Bounded: forget addresses whose failures all aged out.
    if (this.#failures.size > 10_000) {
      for (const [address, times] of this.#failures) {
        if (times.every((t) => now - t >= policy.windowMs)) this.#failures.delete(address);
      }
    }
  }

  /**
   * A login by password (USER, PASS): the storage the user gets, or `undefined` when refused.
   * A locked-out address gets no check at all; a refusal is counted against it.
   *
   * @param login The credentials and the connection's facts.
   * @param key The client's {@linkcode clientKey}.
   * @returns The user's storage and access, or `undefined`.
   */
  async password(login: PasswordLogin, key: string): Promise<UserLogin | undefined> {
    let storage: UserLogin | undefined;
    if (login.anonymous) {
      // The machine lets anonymous users this far only when they are enabled.
      storage = this.#anonymousStorage();
    } else if (!this.locked(key, performance.now())) {
      storage = await this.#check({
        user: login.user,
        password: login.password,
        ...(login.certificate ? { certificate: login.certificate } : {}),
        remoteAddress: login.remoteAddress,
        protected: login.protected,
      });
    }
    if (!storage) this.failed(key, performance.now());
    return storage;
  }

  /**
   * A login by the TLS client certificate alone (USER answered 232, RFC 4217 section 12.2): the
   * storage the user gets, or `undefined`. A refusal is no failed login: the password step
   * follows (331). A locked-out address gets no certificate login.
   *
   * @param user The user name.
   * @param certificate The control connection's client certificate.
   * @param remoteAddress The client's IP address.
   * @param key The client's {@linkcode clientKey}.
   * @returns The user's storage and access, or `undefined`.
   */
  async certificate(
    user: string,
    certificate: FtpPeerCertificate,
    remoteAddress: string,
    key: string,
  ): Promise<UserLogin | undefined> {
    if (this.locked(key, performance.now())) return undefined;
    return await this.#check({ user, certificate, remoteAddress, protected: true });
  }

  /**
   * Whether some login could set modification times (MFMT): a user who may write to a directory,
   * or whose storage of its own has `setModified`, or an `authenticate` hook (whose answers are
   * not known in advance). FEAT lists MFMT before login only then.
   */
  get setModifiedOffered(): boolean {
    const options = this.#options;
    if (options.authenticate) return true;
    return Object.values(options.users ?? {}).some((entry) => {
      const login = this.#userStorage(typeof entry === "string" ? { password: entry } : entry);
      return login.write && typeof login.storage.setModified === "function";
    });
  }

  /** Asks the hook, or the users; a hook that throws refuses. */
  async #check(request: FtpsLoginRequest): Promise<UserLogin | undefined> {
    try {
      return await this.#login(request);
    } catch (error) {
      this.#onError(error as Error);
      return undefined;
    }
  }

  async #login(request: FtpsLoginRequest): Promise<UserLogin | undefined> {
    const options = this.#options;
    if (options.authenticate) {
      const answer = await options.authenticate(request);
      if (answer === true) {
        return this.#ruled(
          this.#serverStorage(options.allowWrite ?? false, options.allowOverwrite ?? false),
          options.permissions,
        );
      }
      return answer === false ? undefined : own(answer);
    }
    const entry = Object.hasOwn(options.users ?? {}, request.user)
      ? options.users![request.user]
      : undefined;
    const user: FtpsUserOptions | undefined = typeof entry === "string"
      ? { password: entry }
      : entry;
    if (user?.passwordHash === undefined && request.password !== undefined && this.#decoy) {
      // As long as a real check: whether the user exists does not show in the time taken.
      await this.#verify(request.password, this.#decoy);
    }
    if (user === undefined) return undefined;
    if (request.password === undefined) {
      const certificate = request.certificate;
      if (!certificate || !user.certificates) return undefined;
      const key = fingerprintKey(certificate.fingerprint256);
      return user.certificates.some((pin) => fingerprintKey(pin) === key) &&
          this.#permits(user, request.remoteAddress)
        ? this.#userStorage(user)
        : undefined;
    }
    const ok = user.passwordHash !== undefined
      ? await this.#verify(request.password, user.passwordHash)
      : user.password !== undefined && sameSecret(request.password, user.password);
    // From a network the user may not log in from: as a wrong password (ProFTPD answers so).
    return ok && this.#permits(user, request.remoteAddress) ? this.#userStorage(user) : undefined;
  }

  /** Whether the user may log in from `address` (their allow and deny lists). */
  #permits(user: FtpsUserOptions, address: string): boolean {
    if (user.allow === undefined && user.deny === undefined) return true;
    let rules = this.#userAddresses.get(user);
    if (!rules) this.#userAddresses.set(user, rules = new AddressRules(user.allow, user.deny, ""));
    return rules.permits(address);
  }

  /** Checks a password against a hash, a few at a time. */
  #verify(password: string, hash: string): Promise<boolean> {
    return this.#hashing.run(() => verifyFtpsPassword(password, hash));
  }

  #directory(root: string, allowWrite: boolean, allowOverwrite: boolean): UserLogin {
    const overwrite = allowWrite && allowOverwrite;
    const key = `${allowWrite ? "w" : "r"}${overwrite ? "o" : ""}:${root}`;
    let storage = this.#directories.get(key);
    if (!storage) {
      this.#directories.set(
        key,
        storage = ftpDirectoryStorage(root, { allowWrite, allowOverwrite }),
      );
    }
    return { storage, write: allowWrite, overwrite };
  }

  #serverStorage(allowWrite: boolean, allowOverwrite: boolean): UserLogin {
    const storage = this.#options.storage;
    return storage
      ? own(storage)
      : this.#directory(this.#options.root!, allowWrite, allowOverwrite);
  }

  #userStorage(user: FtpsUserOptions): UserLogin {
    const allowWrite = user.allowWrite ?? this.#options.allowWrite ?? false;
    const allowOverwrite = user.allowOverwrite ?? this.#options.allowOverwrite ?? false;
    const login = user.storage
      ? own(user.storage)
      : user.root !== undefined
      ? this.#directory(user.root, allowWrite, allowOverwrite)
      : this.#serverStorage(allowWrite, allowOverwrite);
    return this.#ruled(login, user.permissions ?? this.#options.permissions);
  }

  /**
   * The login with its per-directory permissions applied to its storage: one guarded storage per
   * storage and rules, so that every session under the same rules shares it.
   */
  #ruled(login: UserLogin, permissions: FtpsDirectoryPermissions | undefined): UserLogin {
    if (permissions === undefined) return login;
    let byStorage = this.#guarded.get(permissions);
    if (!byStorage) this.#guarded.set(permissions, byStorage = new WeakMap());
    let storage = byStorage.get(login.storage);
    if (!storage) {
      byStorage.set(login.storage, storage = ftpPermissionStorage(login.storage, permissions));
    }
    return { ...login, storage, directories: permissions };
  }

  /** What anonymous users see: read-only. */
  #anonymousStorage(): UserLogin {
    const options = this.#options;
    const anonymous = typeof options.anonymous === "object" ? options.anonymous : {};
    const login = anonymous.storage
      ? own(anonymous.storage)
      : anonymous.root !== undefined
      ? this.#directory(anonymous.root, false, false)
      : this.#serverStorage(false, false);
    return this.#ruled(
      { storage: login.storage, write: false, overwrite: false },
      this.#options.permissions,
    );
  }
}

/** A storage of the caller's own: it keeps its own policy, so the user may try anything. */
function own(storage: FtpStorage): UserLogin {
  return { storage, write: true, overwrite: true };
}
