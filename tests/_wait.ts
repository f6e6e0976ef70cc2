// Bounded waits for tests: on a condition or a promise, never on a fixed sleep. A bound is a cap
// against hangs, generous enough for a loaded 2-core machine; a test never passes because a wait
// ran out, only because what it waited for happened.

/** How long a test waits by default for something that normally takes milliseconds. */
export const WAIT_MS = 30_000;

/**
 * Resolves once `condition()` holds (checked at once, then every `intervalMs`); rejects with
 * `what` in the message after `timeoutMs`.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number = WAIT_MS,
  intervalMs = 10,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() > deadline) throw new Error(`Waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Settles as `promise` does, or rejects with `what` in the message after `timeoutMs`. */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  timeoutMs: number = WAIT_MS,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Waited ${timeoutMs} ms for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
