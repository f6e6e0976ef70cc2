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
