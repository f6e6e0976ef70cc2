// Block numbers: the machines count blocks from 1 without limit ("absolute" numbers); the wire
// carries 16 bits. After 65535 the wire number wraps to 0, or to 1 with the rollover option.
// Absolute 0 stands for the request stage (the ACK 0 that answers a WRQ or an OACK).

/** The wire block number of absolute block `n`. */
export function wireBlock(n: number, rollover: 0 | 1): number {
  if (n <= 0xffff) return n;
  return rollover === 0 ? n % 0x10000 : ((n - 1) % 0xffff) + 1;
}

/** How many wire numbers a cycle has once wrapping: 0-65535, or 1-65535. */
export function cycleLength(rollover: 0 | 1): number {
  return rollover === 0 ? 0x10000 : 0xffff;
}

/** Steps forward from absolute `from` to reach wire number `wire` (0 when `from` has it). */
export function stepsTo(from: number, wire: number, rollover: 0 | 1): number {
  const length = cycleLength(rollover);
  return (((wire - wireBlock(from, rollover)) % length) + length) % length;
}
