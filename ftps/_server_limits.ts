/**
 * The FTPS server's per-user limits, shared by every session of the server: how many sessions
 * each user holds, and the bandwidth buckets (the server's, each user's) a transfer paces itself
 * by.
 *
 * @module
 */

import { TokenBucket } from "../io/token_bucket.ts";
import type { FtpsBandwidth, FtpsUserOptions, ServeFtpsOptions } from "./server_options.ts";

/** Which way bytes go: `upload` from the client, `download` to it. */
export type BandwidthDirection = keyof FtpsBandwidth;

/** The least rate a bandwidth limit may have, in bytes per second. */
export const MIN_BANDWIDTH = 1024;

/**
 * Checks a bandwidth option.
 *
 * @param bandwidth The option.
 * @param name Its name, for the error.
 * @throws {RangeError} When a rate is not a number of at least {@linkcode MIN_BANDWIDTH}.
 */
export function checkBandwidth(bandwidth: FtpsBandwidth | undefined, name: string): void {
  for (const direction of ["upload", "download"] as const) {
    const rate = bandwidth?.[direction];
    if (rate === undefined) continue;
    if (typeof rate !== "number" || !Number.isFinite(rate) || rate < MIN_BANDWIDTH) {
      throw new RangeError(
        `${name}.${direction} is bytes per second, at least ${MIN_BANDWIDTH}: not ${rate}`,
      );
    }
  }
}

/** A user's entry in the options, if they have one of their own. */
function userEntry(options: ServeFtpsOptions, user: string): FtpsUserOptions | undefined {
  const entry = options.users && Object.hasOwn(options.users, user)
    ? options.users[user]
    : undefined;
  return typeof entry === "object" ? entry : undefined;
}

/** The server's per-user limits and bandwidth buckets. */
export class ServerLimits {
  readonly #options: ServeFtpsOptions;
  readonly #sessions = new Map<string, number>();
  readonly #server: Partial<Record<BandwidthDirection, TokenBucket>> = {};
  readonly #users = new Map<string, Partial<Record<BandwidthDirection, TokenBucket>>>();

  /**
   * Checks the limits in the options.
   *
   * @param options The server's options.
   * @throws {RangeError} When a limit is out of range.
   */
  constructor(options: ServeFtpsOptions) {
    this.#options = options;
    checkBandwidth(options.bandwidth, "bandwidth");
    checkBandwidth(options.userBandwidth, "userBandwidth");
    const counts: [string, number | undefined][] = [
      ["maxSessionsPerUser", options.maxSessionsPerUser],
    ];
    for (const [name, entry] of Object.entries(options.users ?? {})) {
      if (typeof entry !== "object") continue;
      checkBandwidth(entry.bandwidth, `users.${name}.bandwidth`);
      counts.push([`users.${name}.maxSessions`, entry.maxSessions]);
    }
    for (const [name, count] of counts) {
      if (count !== undefined && (!Number.isInteger(count) || count < 1)) {
        throw new RangeError(`${name} is a whole number of sessions, at least 1: not ${count}`);
      }
    }
    for (const direction of ["upload", "download"] as const) {
      const rate = options.bandwidth?.[direction];
      if (rate !== undefined) this.#server[direction] = new TokenBucket(rate);
    }
  }

  /**
   * Takes one of the user's session slots, if one is free.
   *
   * @param user The user logging in.
   * @returns Whether the login may go on (then {@linkcode release} gives the slot back).
   */
  claim(user: string): boolean {
    const limit = userEntry(this.#options, user)?.maxSessions ?? this.#options.maxSessionsPerUser;
    const held = this.#sessions.get(user) ?? 0;
    if (limit !== undefined && held >= limit) return false;
    this.#sessions.set(user, held + 1);
    return true;
  }

  /**
   * Gives back a slot {@linkcode claim} took.
   *
   * @param user The user whose session logged out or ended.
   */
  release(user: string): void {
    const held = this.#sessions.get(user) ?? 0;
    if (held > 1) return void this.#sessions.set(user, held - 1);
    // The user's last session: their buckets go too (the map holds logged-in users only).
    this.#sessions.delete(user);
    this.#users.delete(user);
  }

  /**
   * The buckets a transfer of `user` going `direction` takes its bytes from: the user's and the
   * server's, those that are set.
   *
   * @param user The user logged in (`undefined`: the server's only).
   * @param direction Which way the bytes go.
   * @returns The buckets (empty: no limit).
   */
  buckets(user: string | undefined, direction: BandwidthDirection): TokenBucket[] {
    const buckets: TokenBucket[] = [];
    if (user !== undefined) {
      const rate = (userEntry(this.#options, user)?.bandwidth ?? this.#options.userBandwidth)
        ?.[direction];
      if (rate !== undefined) {
        let own = this.#users.get(user);
        if (!own) this.#users.set(user, own = {});
        buckets.push(own[direction] ??= new TokenBucket(rate));
      }
    }
    const server = this.#server[direction];
    if (server) buckets.push(server);
    return buckets;
  }
}
