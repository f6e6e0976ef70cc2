// Writing a file aside and giving it its name only when whole, on the runtime running the tests.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  chmod,
  lstat,
  readdir,
  readFile,
  readlink,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { basename, join } from "node:path";
import { createAtomicFile, isAtomicFileTemporary } from "../../io/atomic_file.ts";
import { bytesOf, tempDir } from "../interop/_peers.ts";

describe("createAtomicFile", () => {
  test("the bytes appear under the name only on commit, whole", async () => {
    const dir = await tempDir("ftkit-atomic-");
    try {
      const path = join(dir.path, "image.bin");
      await writeFile(path, "old");
      const bytes = bytesOf(300_000, 2);
      const file = await createAtomicFile(path, { bufferSize: 4096 });
      // Small chunks are gathered, large ones go straight through.
      for (let at = 0; at < 100_000; at += 700) {
        await file.write(bytes.subarray(at, Math.min(at + 700, 100_000)));
      }
      await file.write(bytes.subarray(100_000));
      assert.equal(await readFile(path, "utf8"), "old", "untouched before commit");
      assert.match(file.temporaryPath, /\/\.image\.bin\.[0-9a-z]{14}\.part$/);
      assert.ok(isAtomicFileTemporary(basename(file.temporaryPath)));
      assert.equal((await readdir(dir.path)).length, 2, "the target and the temporary file");
      await file.commit();
      assert.deepEqual(new Uint8Array(await readFile(path)), bytes);
      assert.deepEqual(await readdir(dir.path), ["image.bin"]);
      await assert.rejects(file.write(new Uint8Array(1)), TypeError);
      await file.abort(); // nothing to do after commit
      assert.deepEqual(await readdir(dir.path), ["image.bin"]);
    } finally {
      await dir.remove();
    }
  });

  test("abort removes the temporary file and leaves the name as it was", async () => {
    const dir = await tempDir("ftkit-atomic-");
    try {
      const path = join(dir.path, "keep.txt");
      await writeFile(path, "precious");
      const file = await createAtomicFile(path);
      await file.write(new Uint8Array(10));
      await file.flush();
      await file.abort();
      await file.abort();
      assert.equal(await readFile(path, "utf8"), "precious");
      assert.deepEqual(await readdir(dir.path), ["keep.txt"]);
    } finally {
      await dir.remove();
    }
  });

  test("overwrite false: a name taken meanwhile fails the commit with EEXIST and keeps that file", async () => {
    const dir = await tempDir("ftkit-atomic-");
    try {
      const path = join(dir.path, "new.bin");
      const first = await createAtomicFile(path, { overwrite: false });
      const second = await createAtomicFile(path, { overwrite: false });
      await first.write(new Uint8Array([1]));
      await second.write(new Uint8Array([2]));
      await first.commit();
      await assert.rejects(
        second.commit(),
        (error: unknown) => (error as { code?: string }).code === "EEXIST",
      );
      assert.deepEqual(new Uint8Array(await readFile(path)), new Uint8Array([1]));
      assert.deepEqual(await readdir(dir.path), ["new.bin"], "the loser's bytes are gone");
    } finally {
      await dir.remove();
    }
  });

  test("a directory that does not exist fails at once, before any byte", async () => {
    await assert.rejects(
      createAtomicFile("/nonexistent-ftkit-dir/x.bin"),
      (error: unknown) => (error as { code?: string }).code === "ENOENT",
    );
  });

  test("a replaced file keeps its permissions; a symbolic link stays a link to the new file", async () => {
    const dir = await tempDir("ftkit-atomic-");
    try {
      const path = join(dir.path, "secret.key");
      await writeFile(path, "old");
      await chmod(path, 0o600);
      const file = await createAtomicFile(path);
      await file.write(new TextEncoder().encode("new"));
      await file.commit();
      assert.equal(await readFile(path, "utf8"), "new");
      assert.equal((await stat(path)).mode & 0o777, 0o600, "not readable by others");
      const link = join(dir.path, "current");
      await symlink("secret.key", link);
      const through = await createAtomicFile(link);
      await through.write(new TextEncoder().encode("newer"));
      await through.commit();
      assert.ok((await lstat(link)).isSymbolicLink());
      assert.equal(await readlink(link), "secret.key");
      assert.equal(await readFile(path, "utf8"), "newer");
    } finally {
      await dir.remove();
    }
  });

  test("a device is refused, or written in place when asked; a long name gets a short aside", async () => {
    await assert.rejects(createAtomicFile("/dev/null"), TypeError);
    const device = await createAtomicFile("/dev/null", { special: "write" });
    assert.equal(device.temporaryPath, "/dev/null");
    await device.write(new Uint8Array(100));
    await device.commit();
    assert.ok((await stat("/dev/null")).isCharacterDevice(), "still the device");
    const dir = await tempDir("ftkit-atomic-");
    try {
      const name = `${"n".repeat(250)}.bin`;
      const file = await createAtomicFile(join(dir.path, name));
      assert.ok(basename(file.temporaryPath).length <= 255);
      await file.write(new Uint8Array([7]));
      await file.commit();
      assert.deepEqual(await readdir(dir.path), [name]);
    } finally {
      await dir.remove();
    }
  });
});
