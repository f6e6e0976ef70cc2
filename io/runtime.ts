/**
 * Which JavaScript runtime runs the code, for the functions that load that runtime's adapter
 * themselves.
 *
 * @module
 */

/** A runtime ftkit has adapters for. */
export type FtkitRuntime = "deno" | "bun" | "node";

/**
 * The runtime running this code: Deno when `globalThis.Deno` is there, Bun when `globalThis.Bun`
 * is, else Node (or a runtime that offers Node's modules).
 *
 * @returns The runtime's name.
 */
export function currentRuntime(): FtkitRuntime {
  const global = globalThis as { Deno?: unknown; Bun?: unknown };
  if (typeof global.Deno === "object" && global.Deno !== null) return "deno";
  if (typeof global.Bun === "object" && global.Bun !== null) return "bun";
  return "node";
}

/**
 * A loader that runs `load` on its first call and gives every later call the same promise; a
 * failed load is run again on the next call.
 *
 * @param load Loads the value (a dynamic `import()` of an adapter).
 * @returns The caching loader.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((error) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}

/**
 * On Node, keeps V8's young generation at the size it starts with (1 MiB semi-spaces) for the rest
 * of the process, unless the command line or `NODE_OPTIONS` sizes it already. A server's many
 * sessions otherwise grow it to its most (16 MiB semi-spaces, 32 MiB of RSS) and it stays there;
 * with allocation kept low on the hot paths (a download reads into one lent buffer), collecting
 * it more often costs no measurable CPU. `--max-semi-space-size` takes effect only at start;
 * the growth factor is read at each collection. No effect elsewhere: Bun's engine is JSC, and
 * Deno's `node:v8` does not set flags (`--v8-flags=--max-semi-space-size=1` does it there).
 *
 * @returns Whether the flag was set.
 */
export async function holdYoungGeneration(): Promise<boolean> {
  if (currentRuntime() !== "node") return false;
  const process = (await import("node:process")).default;
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  if (/semi[-_]space/.test(given)) return false;
  const { setFlagsFromString } = await import("node:v8");
  setFlagsFromString("--semi-space-growth-factor=1");
  return true;
}
