// A full garbage collection on the runtime running the tests, for tests that check what is no
// longer held (a WeakRef's target collected): Bun's own, V8's `gc` on Deno and Node (exposed at
// run time: the test runners start without --expose-gc).

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Returns a function that runs a full collection, then lets a turn pass (a WeakRef's target is
 * kept until the end of the turn that made or read it). */
export function collector(): () => Promise<void> {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  let collect: () => void;
  if (bun) collect = () => bun.gc(true);
  else {
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as () => void;
  }
  const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
  return async () => {
    await turn();
    collect();
    await turn();
    collect();
  };
}
