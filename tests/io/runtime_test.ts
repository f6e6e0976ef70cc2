// io/runtime.ts: which runtime runs the code, and the loader that imports an adapter once.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { currentRuntime, loadOnce } from "../../io/runtime.ts";
import { runtime } from "../_runtime.ts";

describe("currentRuntime", () => {
  test("names the runtime running the tests", () => {
    assert.equal(currentRuntime(), runtime);
  });
});

describe("loadOnce", () => {
  test("loads on the first call and gives every call the same promise", async () => {
    let loads = 0;
    const load = loadOnce(() => Promise.resolve(++loads));
    assert.equal(loads, 0, "nothing is loaded before the first call");
    const [first, second] = [load(), load()];
    assert.equal(first, second);
    assert.equal(await first, 1);
    assert.equal(await load(), 1);
    assert.equal(loads, 1);
  });

  test("a failed load is run again on the next call", async () => {
    let loads = 0;
    const load = loadOnce(() =>
      ++loads === 1 ? Promise.reject(new Error("not yet")) : Promise.resolve(loads)
    );
    await assert.rejects(load(), /not yet/);
    assert.equal(await load(), 2);
    assert.equal(await load(), 2);
    assert.equal(loads, 2);
  });
});
