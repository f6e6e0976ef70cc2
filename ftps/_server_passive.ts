/**
 * What an FTPS server's PASV replies name, for a server behind NAT or a load balancer: the
 * `passiveHost` option's rules, checked once when the server starts and matched per client
 * network for each session, and the resolution of a passive host name to its IPv4 address
 * (bounded in time; lookups of one name at the same time share one).
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { isFtpIpv4 } from "../codec/mod.ts";
import { IpNetworkList } from "../io/cidr.ts";
import { within } from "../io/timeout.ts";
import { hostFamily } from "./_server_session_state.ts";
import { isHostName } from "../io/host_name.ts";
import type { FtpsPassiveHostRule } from "./server_options.ts";

/** How long a passive host name may take to resolve. */
export const PASSIVE_LOOKUP_MS = 5000;

/** The rules of `passiveHost`, parsed: what a 227 names to each client. */
export class PassiveHosts {
  readonly #rules: readonly { networks: IpNetworkList | undefined; host: string | undefined }[];

  /**
   * Parses and checks the option.
   *
   * @param option `passiveHost`: an address or name for every client, or rules per network.
   * @throws {TypeError} When a host is neither an IPv4 address nor a host name, or a rule is
   * empty.
   * @throws {SyntaxError} When a network is not one.
   */
  constructor(option: string | readonly FtpsPassiveHostRule[] | undefined) {
    const rules = option === undefined
      ? []
      : typeof option === "string"
      ? [{ host: option }]
      : option;
    this.#rules = rules.map((rule, i) => {
      const where = typeof option === "string" ? "passiveHost" : `passiveHost[${i}]`;
      if (rule.network === undefined && rule.host === undefined) {
        throw new TypeError(`${where} needs a network, a host or both`);
      }
      const host = rule.host;
      if (host !== undefined && hostFamily(host) !== 4 && !isHostName(host)) {
        throw new TypeError(
          `${where}: "${host.slice(0, 80)}" is neither an IPv4 address nor a host name`,
        );
      }
      const networks = rule.network === undefined
        ? undefined
        : new IpNetworkList(typeof rule.network === "string" ? [rule.network] : rule.network);
      return { networks, host };
    });
  }

  /**
   * What a session's PASV replies name to a client: the host of the first rule whose network
   * holds its address (a rule without networks holds every address).
   *
   * @param client The client's IP address.
   * @returns The address or name, or `undefined` for the control connection's local address.
   */
  hostFor(client: string): string | undefined {
    return this.#rules.find((rule) => rule.networks?.contains(client) ?? true)?.host;
  }
}

/** Lookups under way, by name: sessions asking at the same time share one. */
const resolving = new Map<string, Promise<string | undefined>>();

/**
 * The IPv4 address a passive host name resolves to now (the system's resolver, `/etc/hosts`
 * first), or `undefined` when it has none within {@linkcode PASSIVE_LOOKUP_MS}.
 *
 * @param name The host name.
 * @returns Its first IPv4 address.
 */
export async function resolvePassiveHost(name: string): Promise<string | undefined> {
  let pending = resolving.get(name);
  if (!pending) {
    // A lookup that outlives the wait below still holds the name: another does not start
    // beside it (getaddrinfo runs on a thread of a small shared pool).
    pending = lookup(name, { family: 4 }).then(
      ({ address }) => (isFtpIpv4(address) ? address : undefined),
      () => undefined,
    ).finally(() => resolving.delete(name));
    resolving.set(name, pending);
  }
  return await within(pending, PASSIVE_LOOKUP_MS, `Resolving ${name} timed out`).catch(() =>
    undefined
  );
}
