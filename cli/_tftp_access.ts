// `ftkit tftp serve --allow` and `--deny`: networks for both directions (CIDR, as `ftps serve`
// takes them), or for one (`read:CIDR`, `write:CIDR`), repeated.

import type { TftpAccessList } from "../tftp/mod.ts";
import { notNetwork, type ParsedArgs, UsageError } from "./args.ts";

/** A direction prefix; an IPv6 network cannot begin with one ("r" and "w" are not hex digits). */
const DIRECTION = /^(read|write):/;

/**
 * The list an access option gives: a plain list when no value names a direction, else one list
 * per direction, each with the values given for both; undefined when the option is not given.
 *
 * @param values The options read.
 * @param name `allow` or `deny`.
 * @returns The list for `serveTftp`.
 * @throws {UsageError} When a value is not a network.
 */
export function tftpAccessList(
  values: ParsedArgs["values"],
  name: "allow" | "deny",
): TftpAccessList | undefined {
  const given = values[name];
  const list = Array.isArray(given) ? given : typeof given === "string" ? [given] : undefined;
  if (list === undefined) return undefined;
  const both: string[] = [];
  const read: string[] = [];
  const write: string[] = [];
  for (const value of list) {
    const direction = value.match(DIRECTION)?.[1];
    const network = direction ? value.slice(direction.length + 1) : value;
    const why = notNetwork(network);
    if (why) {
      throw new UsageError(
        `--${name} takes CIDR, read:CIDR or write:CIDR (such as 10.0.0.0/8): ${why}`,
        "tftp serve",
      );
    }
    (direction === "read" ? read : direction === "write" ? write : both).push(network);
  }
  if (read.length === 0 && write.length === 0) return both;
  return {
    ...(read.length > 0 || both.length > 0 ? { read: [...both, ...read] } : {}),
    ...(write.length > 0 || both.length > 0 ? { write: [...both, ...write] } : {}),
  };
}
