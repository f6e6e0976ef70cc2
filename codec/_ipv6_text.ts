// IPv6 text in RFC 5952 form, shared by the codecs and io/cidr.ts (`ipAddressText`).

/**
 * Eight IPv6 groups (hex, without leading zeros) in RFC 5952 section 4 form: lower case, the
 * longest run of two or more zero groups (the first of equal runs) written as `::`.
 */
export function compressIpv6(groups: readonly string[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best === -1) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLength).join(":")}`;
}
