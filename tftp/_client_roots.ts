/**
 * Which directory serves which client: per-client roots chosen by the client's address (the
 * first network that holds it wins), and dnsmasq's `--tftp-unique-root` (a subdirectory of the
 * root named after the client's IP address, used when it exists). Each root is a jail of its own;
 * a unique subdirectory is where names start, inside its root's jail.
 *
 * @module
 */

import { stat } from "node:fs/promises";
import { join } from "node:path";
import {
  type IpAddress,
  ipAddressText,
  type IpNetwork,
  networkContains,
  parseIpAddress,
  parseIpNetwork,
} from "../io/cidr.ts";
import { type PathJail, pathJail } from "../io/path_jail.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import type { TftpAddress } from "./address.ts";
import { TftpRequestError } from "./handler.ts";

/** A per-client root: the clients of `network` are served from `root`, and only from it. */
export interface TftpClientRoot {
  /**
   * The clients: a network in CIDR form (`"10.0.0.0/8"`, `"fd00::/8"`) or one address
   * (`"10.0.0.7"`). An IPv4 network also holds the IPv4-mapped form (`::ffff:10.0.0.7`) a
   * dual-stack socket reports.
   */
  readonly network: string;
  /** The directory these clients are served from: a jail of its own, like the main root. */
  readonly root: string;
}

/** What {@linkcode tftpClientRoots} reads from the directory handler's options. */
export interface TftpClientRootOptions {
  /** Per-client roots, tried in order. */
  readonly clientRoots?: readonly TftpClientRoot[];
  /** What the clients no entry matches get: the main root (default), or a refusal. */
  readonly unmatchedClients?: "root" | "refuse";
  /** A subdirectory named after the client's IP address, when it exists (dnsmasq's). */
  readonly uniqueRoot?: boolean | "ip";
}

/** Where one client's names are resolved. */
export interface TftpClientPlace {
  /** The jail of the client's root. */
  readonly jail: PathJail;
  /** The real path of that root: every real path must stay in it. */
  readonly base: string;
  /** Where the client's names start: `base`, or its unique subdirectory (a real path in it). */
  readonly directory: string;
}

/**
 * The place each client's names are resolved, by the options of a directory handler.
 *
 * @param root The main root.
 * @param options The per-client roots and the unique-root rule.
 * @returns A function from the client's address to its place; it rejects with
 *   {@linkcode TftpRequestError} code 2 when the client is refused or its unique subdirectory is a
 *   link that leads out of its root.
 * @throws {SyntaxError} When a network of `clientRoots` is not one.
 * @throws {TypeError} When an option has a value it does not take.
 */
export function tftpClientRoots(
  root: string,
  options: TftpClientRootOptions,
): (peer: TftpAddress) => Promise<TftpClientPlace> {
  const { uniqueRoot, unmatchedClients = "root" } = options;
  if (uniqueRoot !== undefined && typeof uniqueRoot !== "boolean" && uniqueRoot !== "ip") {
    throw new TypeError(
      `uniqueRoot takes true or "ip", not ${JSON.stringify(uniqueRoot)} (a TFTP server alone ` +
        "does not know its clients' hardware addresses)",
    );
  }
  if (unmatchedClients !== "root" && unmatchedClients !== "refuse") {
    throw new TypeError(
      `unmatchedClients takes "root" or "refuse", not ${JSON.stringify(unmatchedClients)}`,
    );
  }
  const entries: { network: IpNetwork; jail: PathJail }[] = (options.clientRoots ?? []).map(
    (entry) => {
      if (typeof entry?.root !== "string" || entry.root === "") {
        throw new TypeError("Each of clientRoots needs a root directory");
      }
      return { network: parseIpNetwork(String(entry.network)), jail: pathJail(entry.root) };
    },
  );
  const main = pathJail(root);

  return async (peer) => {
    let address: IpAddress | undefined;
    try {
      address = parseIpAddress(peer.address);
    } catch {
      address = undefined; // A transport's own address form: no network holds it.
    }
    const entry = address && entries.find(({ network }) => networkContains(network, address));
    if (!entry && unmatchedClients === "refuse") {
      throw new TftpRequestError(TftpErrorCode.AccessViolation, "Access denied");
    }
    const jail = entry?.jail ?? main;
    const base = await jail.root();
    if (!uniqueRoot || !address) return { jail, base, directory: base };
    // dnsmasq: the subdirectory is used when it exists as a directory (a link to one counts),
    // and the root otherwise; never a mix of the two for one request.
    const unique = join(base, ipAddressText(address));
    const info = await stat(unique).catch(() => undefined);
    if (!info?.isDirectory()) return { jail, base, directory: base };
    // Gone since the stat: the root, as if it never was.
    const real = await jail.realInside(base, unique).catch(() => base);
    if (real === undefined) {
      throw new TftpRequestError(TftpErrorCode.AccessViolation, "Path is not allowed");
    }
    return { jail, base, directory: real };
  };
}
