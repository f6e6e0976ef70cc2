// Which runtime the tests run under, and where the project's files are for it.

import process from "node:process";
import { fileURLToPath } from "node:url";

/** The runtime executing the tests. */
export const runtime: "deno" | "bun" | "node" = "Deno" in globalThis
  ? "deno"
  : "Bun" in globalThis
  ? "bun"
  : "node";

// Deno and Bun run tests/*.ts; Node runs the npm build's compiled npm/tests/*.js.
const compiled = !import.meta.url.endsWith(".ts");

/** The repository root. */
export const repoRoot: URL = new URL(compiled ? "../../" : "../", import.meta.url);

/** A file of the repository, by its path from the root. */
export function repoFile(path: string): string {
  return fileURLToPath(new URL(path, repoRoot));
}

/**
 * A source file (`cli.ts`, ...) as the current runtime runs it: the `.ts` source for Deno and Bun,
 * the compiled `.js` of the npm build for Node.
 */
export function projectFile(sourcePath: string): string {
  return compiled ? repoFile(`npm/${sourcePath.replace(/\.ts$/, ".js")}`) : repoFile(sourcePath);
}

/** The command line that runs `script` (a path) under the current runtime. */
export function runtimeCommand(script: string): [string, string[]] {
  return runtime === "deno"
    ? [process.execPath, ["run", "-A", script]]
    : [process.execPath, [script]];
}
