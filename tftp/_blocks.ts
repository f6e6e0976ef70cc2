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

/**
 * The receive buffer (SO_RCVBUF) a socket needs to queue a whole window of `windowsize` blocks of
 * `blksize` bytes, or `undefined` when the system default does (lock-step). The kernel charges
 * each datagram well above its size (about twice, for its buffer and bookkeeping).
 */
export function windowReceiveBuffer(blksize: number, windowsize: number): number | undefined {
  if (windowsize <= 1) return undefined;
  return Math.min(windowsize * queuedBytes(blksize), 32 * 1024 * 1024);
}

/** The most blocks of `blksize` bytes a receive buffer of `bytes` holds at once (at least 1). */
export function windowFit(blksize: number, bytes: number): number {
  return Math.max(1, Math.floor(bytes / queuedBytes(blksize)));
}

// What the kernel charges a queued DATA datagram against the receive buffer: measured on Linux
// loopback, 12 datagrams of 8196 bytes fill the default 212992.
function queuedBytes(blksize: number): number {
  return 2 * blksize + 1024;
}
