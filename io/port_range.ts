/**
 * Binding a socket to a port of an inclusive range (FTP passive ports, TFTP transfer ports), for
 * firewalls that open only that range. The first port tried is random, so that concurrent
 * sessions spread over the range and the next port is not guessable from the last.
 *
 * @module
 */

/**
 * Throws a `RangeError` unless `range` is `[low, high]` with integers 1 ≤ low ≤ high ≤ 65535.
 *
 * @param range The range to check.
 * @param name The option's name, for the message.
 */
export function checkPortRange(range: readonly [number, number], name: string): void {
  const [low, high] = range;
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
    throw new RangeError(`${name} must be [low, high] within 1-65535, got [${low}, ${high}]`);
  }
}

/**
 * Binds with `bind(port)`: to port 0 (any free port) without a range; otherwise to ports of the
 * range from a random one on, until one binds, trying at most `maxTries` of them (bounded, so a
 * full range fails fast).
 *
 * @param range The inclusive range, or `undefined` for any port.
 * @param maxTries How many ports of the range to try at most.
 * @param bind Binds to one port; rejects when it cannot (in use, or refused).
 * @returns What `bind` gave.
 * @throws {Error} "No free port in low-high" when no port of the range tried would bind.
 */
export async function bindInRange<T>(
  range: readonly [number, number] | undefined,
  maxTries: number,
  bind: (port: number) => Promise<T>,
): Promise<T> {
  if (!range) return await bind(0);
  const [low, high] = range;
  const span = high - low + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < Math.min(span, maxTries); i++) {
    try {
      return await bind(low + ((start + i) % span));
    } catch {
      // In use: try the next one.
    }
  }
  throw new Error(`No free port in ${low}-${high}`);
}
