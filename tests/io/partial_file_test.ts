// A download's partial file, `<target>.ftkit-part`, on the runtime running the tests: kept to be
// continued from its size, renamed into place (with the old target's permissions) when whole,
// and never something other than a regular file.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openPartialFile, PARTIAL_SUFFIX } from "../../io/partial_file.ts";
import { tempDir } from "../interop/_peers.ts";

describe("openPartialFile", () => {
  test("kept, continued from its size, then renamed over the target with its mode", async () => {
    const dir = await tempDir("ftkit-partial-");
    try {
      const path = join(dir.path, "image.bin");
      await writeFile(path, "old");
      await chmod(path, 0o600);
      const first = await openPartialFile(path);
      assert.equal(first.partialPath, path + PARTIAL_SUFFIX);
      assert.equal(first.size, 0);
      await first.write(new TextEncoder().encode("hello "));
      await first.keep();
      await first.keep();
      assert.equal(await readFile(path, "utf8"), "old", "the target untouched");
      const again = await openPartialFile(path);
      assert.equal(again.size, 6);
      await again.write(new TextEncoder().encode("world"));
      assert.equal(again.size, 11);
      await again.commit();
      assert.equal(await readFile(path, "utf8"), "hello world");
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      await assert.rejects(stat(path + PARTIAL_SUFFIX));
      await assert.rejects(again.commit(), TypeError);
    } finally {
      await dir.remove();
    }
  });

  test("truncate starts over; a new target gets 0644 less the umask", async () => {
    const dir = await tempDir("ftkit-partial-");
    try {
      const path = join(dir.path, "new.bin");
      await writeFile(path + PARTIAL_SUFFIX, "not a part of it");
      const part = await openPartialFile(path);
      assert.equal(part.size, 16);
      await part.truncate();
      assert.equal(part.size, 0);
      await part.write(new TextEncoder().encode("fresh"));
      await part.commit();
      assert.equal(await readFile(path, "utf8"), "fresh");
      assert.equal((await stat(path)).mode & 0o133, 0);
    } finally {
      await dir.remove();
    }
  });

  test("a directory target, or a link planted under the partial name, is refused", async () => {
    const dir = await tempDir("ftkit-partial-");
    try {
      await mkdir(join(dir.path, "d"));
      await assert.rejects(openPartialFile(join(dir.path, "d")), TypeError);
      const path = join(dir.path, "x.bin");
      await writeFile(join(dir.path, "elsewhere"), "keep");
      await symlink(join(dir.path, "elsewhere"), path + PARTIAL_SUFFIX);
      await assert.rejects(openPartialFile(path), /partial file/);
      assert.equal(await readFile(join(dir.path, "elsewhere"), "utf8"), "keep");
    } finally {
      await dir.remove();
    }
  });
});
