/**
 * Which client addresses a server serves (the FTPS server and its users, the TFTP server per
 * direction): CIDR allow and deny lists. A denied address is refused whatever else holds; with
 * an allow list, only its networks are served.
 *
 * @module
 */

import { type IpAddress, IpNetworkList } from "./cidr.ts";

/** An allow list and a deny list, checked. */
export class AddressRules {
  readonly #allow: IpNetworkList | undefined;
  readonly #deny: IpNetworkList | undefined;

  /**
   * Parses the lists.
   *
   * @param allow Networks served (absent: every one not denied).
   * @param deny Networks refused.
   * @param name What the lists are called, for an error.
   * @throws {TypeError} When a network is not one (the message names it).
   */
  constructor(
    allow: readonly string[] | undefined,
    deny: readonly string[] | undefined,
    name: string,
  ) {
    const list = (networks: readonly string[] | undefined, which: string) => {
      if (networks === undefined) return undefined;
      try {
        return new IpNetworkList(networks);
      } catch (error) {
        throw new TypeError(`${name}${which}: ${(error as Error).message}`);
      }
    };
    this.#allow = list(allow, "allow");
    this.#deny = list(deny, "deny");
  }

  /** Whether any rule is set. */
  get any(): boolean {
    return this.#allow !== undefined || this.#deny !== undefined;
  }

  /**
   * Whether `address` is served: not in the deny list, and in the allow list when there is one.
   * An address that cannot be read is served only when no rule is set.
   *
   * @param address The client's IP address (text, or parsed once for several checks).
   * @returns Whether it is served.
   */
  permits(address: IpAddress | string): boolean {
    if (!this.any) return true;
    try {
      if (this.#deny?.contains(address)) return false;
      return this.#allow === undefined || this.#allow.contains(address);
    } catch {
      return false;
    }
  }
}
