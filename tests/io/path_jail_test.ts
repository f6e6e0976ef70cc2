// The root directory jail both servers use (real files and links in a temporary directory).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, realpath, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { allowedPathComponent, pathJail } from "../../io/path_jail.ts";
import { tempDir } from "../interop/_peers.ts";

describe("io: the path jail", () => {
  test("components: names that could leave the root or mean a device are refused", () => {
    for (const name of ["boot.cfg", "a b", ".hidden", "..x", "é", "con_x"]) {
      assert.equal(allowedPathComponent(name), true, name);
    }
    for (const name of ["", ".", "..", "a\\b", "a\x00", "\x7f", "CON", "nul.txt", "c:x", "LPT1"]) {
      assert.equal(allowedPathComponent(name), false, JSON.stringify(name));
    }
  });

  test("real paths: inside, outside through a link, and a missing path rejects", async () => {
    const outer = await tempDir("ftkit-jail-");
    try {
      const root = join(outer.path, "root");
      await mkdir(join(root, "sub"), { recursive: true });
      await writeFile(join(root, "sub", "f"), "x");
      await writeFile(join(outer.path, "secret"), "s");
      await symlink(join(outer.path, "secret"), join(root, "out"));
      await symlink(join(root, "sub"), join(root, "in"));
      const jail = pathJail(root);
      const base = await jail.root();
      assert.equal(base, await realpath(root));
      assert.equal(await jail.realInside(base, join(base, "in", "f")), join(base, "sub", "f"));
      assert.equal(await jail.realInside(base, base), base);
      assert.equal(await jail.realInside(base, join(base, "out")), undefined);
      await assert.rejects(jail.realInside(base, join(base, "missing")), { code: "ENOENT" });
      // A sibling whose name starts like the root is not inside it.
      assert.equal(jail.contains(base, base + "-other"), false);
      assert.equal(jail.contains(base, join(base, "x")), true);
    } finally {
      await outer.remove();
    }
  });

  test("a missing root: the failure is not kept, so the root may appear later", async () => {
    const outer = await tempDir("ftkit-jail-");
    try {
      const root = join(outer.path, "later");
      const jail = pathJail(root);
      await assert.rejects(jail.root(), { code: "ENOENT" });
      await mkdir(root);
      assert.equal(await jail.root(), await realpath(root));
    } finally {
      await outer.remove();
    }
  });
});
