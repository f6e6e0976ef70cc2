/**
 * Builds the npm package into `npm/`: `tsc` emits ESM, `.d.ts` and source maps for the library,
 * the command and the tests (the tests stay out of the tarball; Node runs them from there), then a
 * generated `package.json`, the README and the LICENSE are added.
 *
 * Usage: deno run -A scripts/build_npm.ts
 *
 * @module
 */

import { chmod, cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { run } from "./_run.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}npm/`;

/**
 * Entry points whose file differs by runtime, as `{ subpath: { deno, bun, node } }` (files without
 * extension, relative to the package root). Subpaths not listed here are the same everywhere:
 * `ftkit`, `ftkit/tftp` and `ftkit/ftps` among them, whose server and client functions pick the
 * runtime's adapter when first called (as on JSR, which has no conditions), so they need none.
 */
const runtimeEntries: Record<string, Partial<Record<"deno" | "bun" | "node", string>>> = {
  // One import for the TFTP server and client, with each runtime's own UDP adapter.
  "./tftp/runtime": {
    deno: "tftp/adapters/deno",
    bun: "tftp/adapters/bun",
    node: "tftp/adapters/node",
  },
  // The FTPS client, with each runtime's transport.
  "./ftps/runtime": {
    deno: "ftps/adapters/deno",
    bun: "ftps/adapters/bun",
    node: "ftps/adapters/node",
  },
};

interface DenoJson {
  name: string;
  version: string;
  license: string;
  exports: Record<string, string>;
}

/** Builds `npm/`. Returns the path of the directory. */
export async function buildNpm(): Promise<string> {
  const denoJson: DenoJson = JSON.parse(await readFile(`${root}deno.json`, "utf8"));
  await rm(out, { recursive: true, force: true });
  await run([`${root}node_modules/.bin/tsc`, "-p", `${root}tsconfig.npm.json`], { cwd: root });

  // The command's shebang names deno in the source; the npm bin runs under node.
  const cliPath = `${out}cli.js`;
  const cli = await readFile(cliPath, "utf8");
  await writeFile(cliPath, cli.replace(/^#!.*\n/, "#!/usr/bin/env node\n"));
  await chmod(cliPath, 0o755);

  const exports: Record<string, Record<string, string>> = {};
  for (const [subpath, source] of Object.entries(denoJson.exports)) {
    const base = source.replace(/\.ts$/, "");
    const conditions: Record<string, string> = { types: `${base}.d.ts` };
    for (const [runtime, file] of Object.entries(runtimeEntries[subpath] ?? {})) {
      conditions[runtime] = `./${file}.js`;
    }
    conditions.default = `${base}.js`;
    exports[subpath] = conditions;
  }

  const emitted = await readdir(out);
  const files = emitted.filter((name) => name !== "tests").sort();

  const packageJson = {
    name: "ftkit",
    version: denoJson.version,
    description:
      "Zero-dependency TFTP and FTPS toolkit: strict codecs and sans-I/O state machines, with adapters for Deno, Bun and Node.",
    license: denoJson.license,
    type: "module",
    exports,
    bin: { ftkit: "./cli.js" },
    files: [...files, "README.md", "LICENSE"],
    engines: { node: ">=20", deno: ">=2", bun: ">=1.1" },
    sideEffects: false,
    keywords: ["tftp", "ftps", "ftp", "pxe", "netboot", "tls", "sans-io", "deno", "bun", "node"],
  };
  await writeFile(`${out}package.json`, JSON.stringify(packageJson, null, 2) + "\n");
  await cp(`${root}README.md`, `${out}README.md`);
  await cp(`${root}LICENSE`, `${out}LICENSE`);
  return out;
}

if (import.meta.main) {
  await buildNpm();
  console.log(`Built ${out}`);
}
