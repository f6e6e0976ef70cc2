// Time bounds for the drivers: within, idleGuard (timers of the runtime running the tests).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { idleGuard, sleep, TimeoutError, within } from "../../io/timeout.ts";
import { collector } from "../_gc.ts";

describe("io: time bounds", () => {
  test("within: the promise's outcome when it settles first", async () => {
    assert.equal(await within(Promise.resolve(7), 10_000, "never"), 7);
    await assert.rejects(within(Promise.reject(new Error("boom")), 10_000, "never"), {
      message: "boom",
    });
  });

  test("within: a TimeoutError with the message once the time passes, and onTimeout runs", async () => {
    let ran = 0;
    await assert.rejects(
      within(new Promise(() => {}), 1, "Data close timed out", () => ran++),
      (error: unknown) =>
        error instanceof TimeoutError && error.name === "TimeoutError" &&
        error.message === "Data close timed out",
    );
    assert.equal(ran, 1);
  });

  test("idleGuard: a step that never settles fails once nothing moved", async () => {
    const guard = idleGuard(5);
    try {
      await assert.rejects(guard.within(new Promise(() => {})), {
        message: "Data: nothing moved for 5 ms",
      });
    } finally {
      guard.stop();
    }
  });

  test("idleGuard: steps that settle pass through, touched or not", async () => {
    const guard = idleGuard(60_000, "Upload");
    try {
      for (let i = 0; i < 3; i++) {
        assert.equal(await guard.within(sleep(1).then(() => i)), i);
        guard.touch();
      }
      await assert.rejects(guard.within(Promise.reject(new Error("reset"))), { message: "reset" });
    } finally {
      guard.stop();
    }
  });

  test("idleGuard: holds no step's result once it was read (a transfer keeps no chunk it moved)", async () => {
    const gc = collector();
    const guard = idleGuard(60_000);
    const results: WeakRef<Uint8Array>[] = [];
    try {
      for (let i = 0; i < 50; i++) {
        const chunk = await guard.within(Promise.resolve(new Uint8Array(65536)));
        results.push(new WeakRef(chunk));
      }
      await gc();
      // All but the last, which this function's frame may still hold; and Bun's collector scans
      // the stack conservatively, so a stale word may keep one or two: a guard that held them
      // would hold all 49.
      const held = results.slice(0, -1).filter((ref) => ref.deref() !== undefined).length;
      assert.ok(held <= 4, `${held} of 49 results still held while the guard runs`);
      // And after the step settles, a stall still fails the next one.
      const stalled = idleGuard(5);
      try {
        assert.equal(await stalled.within(Promise.resolve(1)), 1);
        await assert.rejects(stalled.within(new Promise(() => {})), TimeoutError);
        await assert.rejects(stalled.within(Promise.resolve(2)), TimeoutError);
      } finally {
        stalled.stop();
      }
    } finally {
      guard.stop();
    }
  });
});
