// io/runtime.ts: which runtime runs the code, and the loader that imports an adapter once.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { currentRuntime, holdYoungGeneration, loadOnce } from "../../io/runtime.ts";
import { projectFile, runtime, runtimeCommand } from "../_runtime.ts";

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

describe("holdYoungGeneration", () => {
  /** Runs tests/_young_generation_child.ts with `env` added; what it printed. */
  const child = (env: Record<string, string>) => {
    const [program, args] = runtimeCommand(projectFile("tests/_young_generation_child.ts"));
    return new Promise<{ held: boolean; youngBytes: number }>((resolve, reject) => {
      execFile(
        program,
        args,
        { env: { ...process.env, ...env }, timeout: 60_000 },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`${error.message}: ${stderr}`));
          else resolve(JSON.parse(stdout));
        },
      );
    });
  };

  test("on Node, keeps the young generation at its starting size under many live objects", async () => {
    const { held, youngBytes } = await child({});
    assert.equal(held, runtime === "node");
    // V8 grows it to 32 MiB under this load when free to (16 MiB semi-spaces); held, it stays at
    // the 1 MiB semi-spaces it started with.
    if (runtime === "node") assert.ok(youngBytes <= 4 * 1024 * 1024, `${youngBytes} bytes`);
  });

  test("leaves a young generation sized on the command line alone", async () => {
    if (runtime !== "node") {
      assert.equal(await holdYoungGeneration(), false);
      return;
    }
    const { held, youngBytes } = await child({ NODE_OPTIONS: "--max-semi-space-size=8" });
    assert.equal(held, false);
    assert.ok(youngBytes > 4 * 1024 * 1024, `${youngBytes} bytes`);
  });
});
