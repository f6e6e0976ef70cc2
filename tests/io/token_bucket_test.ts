// Bandwidth limits as token buckets (io/token_bucket.ts): pure arithmetic over the `now` given.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pieceSize, takeFromAll, TokenBucket } from "../../io/token_bucket.ts";

describe("io: token buckets", () => {
  test("a full bucket lets its burst go at once, then each byte costs 1/rate s", () => {
    const bucket = new TokenBucket(1000, 500);
    assert.equal(bucket.take(500, 0), 0);
    // 100 bytes of debt at 1000 B/s: 100 ms.
    assert.equal(bucket.take(100, 0), 100);
    // 50 ms later half the debt is paid; 50 more bytes put it back to 100 ms.
    assert.equal(bucket.take(50, 50), 100);
  });

  test("a quiet time refills up to the burst, never beyond", () => {
    const bucket = new TokenBucket(1000, 500);
    bucket.take(500, 0);
    assert.equal(bucket.take(500, 10_000), 0);
    assert.equal(bucket.take(1, 10_000), 1);
  });

  test("a clock that goes back neither refills nor breaks the bucket", () => {
    const bucket = new TokenBucket(1000, 100);
    bucket.take(100, 1000);
    assert.equal(bucket.take(100, 500), 100);
    assert.equal(bucket.take(0, 1100), 0);
  });

  test("over a long run the bytes let through keep to the rate plus the burst", () => {
    // A taker that sends 4 KiB, then waits what it is told, for 10 simulated seconds.
    const bucket = new TokenBucket(64 * 1024);
    let now = 0;
    let sent = 0;
    while (now < 10_000) {
      sent += 4096;
      now += bucket.take(4096, now);
    }
    const allowed = 64 * 1024 * 10 + bucket.burst + 4096;
    assert.ok(sent <= allowed, `${sent} bytes in 10 s, more than ${allowed}`);
    assert.ok(sent >= 64 * 1024 * 10, `${sent} bytes in 10 s: the rate was not reached`);
  });

  test("two concurrent takers share the rate: together they keep to it", () => {
    const bucket = new TokenBucket(10_000, 1000);
    const clocks = [0, 0];
    let sent = 0;
    for (let turn = 0; turn < 2000; turn++) {
      const taker = clocks[0] <= clocks[1] ? 0 : 1;
      if (clocks[taker] >= 5000) break;
      sent += 500;
      clocks[taker] += bucket.take(500, clocks[taker]);
    }
    assert.ok(sent <= 10_000 * 5 + 1000 + 1000, `${sent} bytes in 5 s`);
  });

  test("takeFromAll waits as long as the slowest bucket says; none is no limit", () => {
    const fast = new TokenBucket(100_000, 1000);
    const slow = new TokenBucket(1000, 1000);
    assert.equal(takeFromAll([fast, slow], 2000, 0), 1000);
    assert.equal(takeFromAll([], 1e9, 0), 0);
  });

  test("pieceSize: a quarter second at the slowest rate, at least 1 KiB", () => {
    assert.equal(pieceSize([]), Infinity);
    assert.equal(pieceSize([new TokenBucket(1 << 20), new TokenBucket(64 * 1024)]), 16 * 1024);
    assert.equal(pieceSize([new TokenBucket(1024)]), 1024);
  });

  test("tryTake takes only what the bucket holds, never into debt; available says how much", () => {
    const bucket = new TokenBucket(10, 3);
    assert.equal(bucket.available(0), 3);
    assert.equal(bucket.tryTake(2, 0), true);
    assert.equal(bucket.tryTake(2, 0), false, "1 left: 2 are not taken");
    assert.equal(bucket.available(0), 1, "a refused take leaves the tokens");
    assert.equal(bucket.tryTake(1, 0), true);
    assert.equal(bucket.tryTake(1, 50), false, "half a token refilled");
    assert.equal(bucket.tryTake(1, 100), true);
    assert.equal(bucket.available(10_000), 3, "refilled up to the burst");
  });

  test("a rate or burst that is not a positive number is refused", () => {
    for (const rate of [0, -1, NaN, Infinity]) {
      assert.throws(() => new TokenBucket(rate), RangeError);
    }
    assert.throws(() => new TokenBucket(1000, 0), RangeError);
  });
});
