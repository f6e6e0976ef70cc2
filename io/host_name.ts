// Host names as RFC 1123 writes them: what a command line or a configuration may give where an
// address or a name is allowed.

/**
 * Whether `text` is a DNS host name (RFC 1123 section 2.1): labels of letters, digits and
 * hyphens, 1-63 characters, neither starting nor ending with a hyphen, 253 characters in all,
 * one trailing dot allowed; and a last label that is not all digits (RFC 1123 section 2.1 asks
 * a name to be told from a dotted-decimal address by it, so a mistyped IPv4 address is no name).
 *
 * @param text The text.
 * @returns Whether it is one.
 */
export function isHostName(text: string): boolean {
  const name = text.endsWith(".") ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  return labels.every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) &&
    !/^\d+$/.test(labels[labels.length - 1]);
}
