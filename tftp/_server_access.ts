/**
 * Which clients the TFTP server serves: `serveTftp`'s `allow` and `deny` lists, for every request
 * or per direction, checked on the listening port before a request costs anything.
 *
 * An address that no direction serves is dropped without an answer (as tftp-hpa does for a
 * client its tcp_wrappers refuse): the source of a UDP request may be forged, and an answer would
 * be traffic a stranger made the server send there, and tell a scanner that a server listens.
 * Such a datagram takes none of the endpoint's request tokens, no place among `maxTransfers`, no
 * file and no socket. An address served in the other direction only is answered ERROR 2 (access
 * violation, RFC 1350 section 5) "Access denied" through the endpoint, so its request tokens
 * bound the answers, as for any refusal that address can already get.
 *
 * @module
 */

import { TftpDecodeError } from "../codec/tftp_decode_error.ts";
import { type TftpRequest, tryDecodeTftpPacket } from "../codec/tftp_packet.ts";
import { AddressRules } from "../io/address_rules.ts";
import { type IpAddress, parseIpAddress } from "../io/cidr.ts";
import { TokenBucket } from "../io/token_bucket.ts";

/**
 * Networks in CIDR form (`10.0.0.0/8`, `fd00::/8`) or lone addresses: a list for both
 * directions, or a list per direction (`{ write: ["10.1.0.0/16"] }`: that list for uploads,
 * none for reads). An IPv4 network also holds the IPv4-mapped IPv6 form of its addresses
 * (`::ffff:10.1.2.3`), as a dual-stack socket reports IPv4 clients.
 */
export type TftpAccessList =
  | readonly string[]
  | {
    /** The networks for reads (RRQ). */
    readonly read?: readonly string[];
    /** The networks for writes (WRQ). */
    readonly write?: readonly string[];
  };

/** Verdicts kept, by address text: a flood from one address is checked without parsing again;
 * beyond, the cache starts over, so forged addresses cannot grow it without bound. */
const CACHED = 4096;

/** Whether an address is served, per direction. */
interface Verdict {
  readonly rrq: boolean;
  readonly wrq: boolean;
}

/** Refusal records at most at once, then a second: a flood of denied requests cannot fill a log. */
const RECORD_BURST = 20;
const RECORD_RATE = 10;

/** The allow and deny lists of a server, per direction, and a budget for records of drops. */
export class TftpAccess {
  readonly #read: AddressRules;
  readonly #write: AddressRules;
  readonly #verdicts = new Map<string, Verdict>();
  readonly #records = new TokenBucket(RECORD_RATE, RECORD_BURST);

  /**
   * Parses the lists; `undefined` when neither is given.
   *
   * @param allow The networks served (absent: every one not denied).
   * @param deny The networks refused (they win over `allow`).
   * @returns The rules, or `undefined` for none.
   * @throws {TypeError} When a network is not one (the message names the list and the network).
   */
  static from(
    allow: TftpAccessList | undefined,
    deny: TftpAccessList | undefined,
  ): TftpAccess | undefined {
    return allow === undefined && deny === undefined ? undefined : new TftpAccess(allow, deny);
  }

  private constructor(allow: TftpAccessList | undefined, deny: TftpAccessList | undefined) {
    const pick = (list: TftpAccessList | undefined, type: "read" | "write") =>
      list === undefined || isList(list) ? list : list[type];
    const rules = (type: "read" | "write") => {
      try {
        return new AddressRules(pick(allow, type), pick(deny, type), "");
      } catch (error) {
        throw new TypeError(`serveTftp ${(error as Error).message}`);
      }
    };
    this.#read = rules("read");
    this.#write = rules("write");
  }

  /**
   * Whether some direction serves `address`: datagrams from any other are dropped unanswered.
   *
   * @param address The client's IP address.
   * @returns Whether reads or writes are served to it.
   */
  serves(address: string): boolean {
    const verdict = this.#verdict(address);
    return verdict.rrq || verdict.wrq;
  }

  /**
   * Whether a request of this type from `address` is served.
   *
   * @param address The client's IP address.
   * @param type Read or write.
   * @returns Whether it is.
   */
  permits(address: string, type: "rrq" | "wrq"): boolean {
    return this.#verdict(address)[type];
  }

  /** The address's verdicts, parsed once (text that is no address goes to the rules as it is). */
  #verdict(address: string): Verdict {
    let verdict = this.#verdicts.get(address);
    if (verdict) return verdict;
    let parsed: IpAddress | string = address;
    try {
      parsed = parseIpAddress(address);
    } catch {
      // The rules refuse it, unless a direction has none.
    }
    verdict = { rrq: this.#read.permits(parsed), wrq: this.#write.permits(parsed) };
    if (this.#verdicts.size >= CACHED) this.#verdicts.clear();
    this.#verdicts.set(address, verdict);
    return verdict;
  }

  /**
   * The request a dropped datagram made, to record, while the budget for such records lasts
   * (`RECORD_BURST` at once, `RECORD_RATE` a second); `undefined` for anything else (not a
   * well-formed request, or over the budget).
   *
   * @param now The current time in ms.
   * @param bytes The datagram.
   * @param maxRequestLength The longest request the endpoint takes.
   * @returns The request.
   */
  recordable(now: number, bytes: Uint8Array, maxRequestLength?: number): TftpRequest | undefined {
    if (bytes.length < 2 || bytes[0] !== 0 || (bytes[1] !== 1 && bytes[1] !== 2)) return undefined;
    // Over the budget, nothing is decoded; a token goes only to what decodes.
    if (this.#records.available(now) < 1) return undefined;
    const packet = tryDecodeTftpPacket(bytes, { maxRequestLength });
    if (packet instanceof TftpDecodeError || !this.#records.tryTake(1, now)) return undefined;
    // Opcode 1 or 2 decodes to an RRQ or a WRQ.
    return packet as TftpRequest;
  }
}

function isList(list: TftpAccessList): list is readonly string[] {
  return Array.isArray(list);
}
