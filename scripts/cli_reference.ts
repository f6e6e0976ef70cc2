/**
 * Writes the README's command reference (between its two markers) from the command's help table
 * (`cli/help.ts`), so that `--help` and the README say the same. `tests/cli_test.ts` checks that
 * they do.
 *
 * Usage: deno run -A scripts/cli_reference.ts
 *
 * @module
 */

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { withReference } from "../cli/help.ts";

if (import.meta.main) {
  const path = fileURLToPath(new URL("../README.md", import.meta.url));
  await writeFile(path, withReference(await readFile(path, "utf8")));
  console.log(`Wrote the command reference into ${path}`);
}
