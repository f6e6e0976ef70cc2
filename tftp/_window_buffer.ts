// Sizing a socket's receive buffer for a window of DATA blocks (RFC 7440), and the window a given
// buffer holds.

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
