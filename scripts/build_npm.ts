/**
 * Builds the npm package into `npm/`: `tsc` emits ESM, `.d.ts` and source maps for the library,
 * the command and the tests (the tests stay out of the tarball; Node runs them from there), then a
 * generated `package.json`, the README, CHANGELOG, SECURITY and LICENSE files are added. The
 * TypeScript sources the shipped maps name are copied under `src/` (apart from the emitted files:
 * TypeScript would resolve a `.ts` beside a `.d.ts` first and compile it in the user's project),
 * and the maps are pointed there, so that every map resolves inside the package.
 *
 * Usage: deno run -A scripts/build_npm.ts
 *
 * @module
 */

import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./_run.ts";
import { projectRepositoryFields } from "./_repository.ts";

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
  const files = emitted.filter((name) => name !== "tests" && name !== "examples").sort();
  await shipSources(files);

  const packageJson = {
    name: "ftkit",
    version: denoJson.version,
    description:
      "Zero-dependency TFTP and FTPS toolkit: strict codecs and sans-I/O state machines, with adapters for Deno, Bun and Node.",
    license: denoJson.license,
    type: "module",
    exports,
    bin: { ftkit: "./cli.js" },
    files: [...files, "src", "README.md", "CHANGELOG.md", "SECURITY.md", "LICENSE"],
    engines: { node: ">=20", deno: ">=2", bun: ">=1.1" },
    sideEffects: false,
    homepage: "https://jsr.io/@ftkit/ftkit",
    // From the repository's remote (or FTKIT_REPOSITORY); absent while it has none.
    ...await projectRepositoryFields(root),
    keywords: [
      "tftp",
      "ftps",
      "ftp",
      "ftp-server",
      "ftp-client",
      "tftp-server",
      "tftp-client",
      "pxe",
      "netboot",
      "ipxe",
      "u-boot",
      "firmware",
      "tls",
      "rfc1350",
      "rfc4217",
      "sans-io",
      "deno",
      "bun",
      "node",
    ],
  };
  await writeFile(`${out}package.json`, JSON.stringify(packageJson, null, 2) + "\n");
  for (const file of ["README.md", "CHANGELOG.md", "SECURITY.md", "LICENSE"]) {
    await cp(`${root}${file}`, `${out}${file}`);
  }
  return out;
}

/** Every file under `dir`, as paths relative to `out`. */
async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(out, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...await walk(path));
    else found.push(path);
  }
  return found;
}

/**
 * Copies the sources that the source maps among `shipped` (names in `npm/`) name into `npm/src/`,
 * at their place in the repository, and rewrites each map's `sources` to point there.
 */
async function shipSources(shipped: readonly string[]): Promise<void> {
  const maps: string[] = [];
  for (const name of shipped) {
    const paths = name.endsWith(".map") ? [name] : await walk(name).catch(() => []);
    maps.push(...paths.filter((path) => path.endsWith(".map")));
  }
  const copied = new Set<string>();
  for (const path of maps) {
    const mapFile = join(out, path);
    const map = JSON.parse(await readFile(mapFile, "utf8"));
    map.sources = await Promise.all(map.sources.map(async (source: string) => {
      // tsc wrote each source relative to the map, as laid out in the repository.
      const original = resolve(dirname(mapFile), map.sourceRoot ?? "", source);
      const inRepo = relative(root, original);
      if (inRepo.startsWith("..") || inRepo.startsWith(`npm${sep}`)) {
        throw new Error(`${path} names a source outside the sources: ${source}`);
      }
      const copy = join(out, "src", inRepo);
      if (!copied.has(copy)) {
        copied.add(copy);
        await mkdir(dirname(copy), { recursive: true });
        await cp(original, copy);
      }
      return relative(dirname(mapFile), copy).split(sep).join("/");
    }));
    map.sourceRoot = "";
    await writeFile(mapFile, JSON.stringify(map));
  }
}

if (import.meta.main) {
  await buildNpm();
  console.log(`Built ${out}`);
}
