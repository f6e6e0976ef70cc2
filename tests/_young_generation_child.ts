// A child process for tests/io/runtime_test.ts: calls holdYoungGeneration, then allocates many
// objects that live a while (as a server's sessions do), and prints whether the flag was set and
// the young generation's size in bytes afterwards.
//
// Usage: tests/_young_generation_child.ts

import process from "node:process";
import { getHeapSpaceStatistics } from "node:v8";
import { holdYoungGeneration } from "../io/runtime.ts";

const held = await holdYoungGeneration();
const kept: { at: number; bytes: Uint8Array }[] = [];
for (let at = 0; at < 1_000_000; at++) {
  kept.push({ at, bytes: new Uint8Array(16) });
  if (kept.length > 100_000) kept.splice(0, 50_000);
}
const young = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
process.stdout.write(`${JSON.stringify({ held, youngBytes: young?.space_size ?? 0 })}\n`);
