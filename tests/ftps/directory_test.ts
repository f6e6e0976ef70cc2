/**
 * ftpDirectoryStorage against real files in a temporary directory: every method, the upload
 * modes (atomic STOR, APPE, REST then STOR, STOU), the read-only default, the create-only
 * default of writes (no overwrite without `allowOverwrite`), and the jail (refused names,
 * symbolic links that lead out of the root).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFileSync } from "node:child_process";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ftpDirectoryStorage,
  type FtpDirectoryStorageOptions,
  type FtpReadStream,
  type FtpStorage,
  FtpStorageError,
} from "../../ftps/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A temporary directory holding the served `root` and a sibling `outside` it. */
interface Tree {
  readonly root: string;
  readonly outside: string;
  /** The root's storage (default: writes and overwrites allowed). */
  storage(options?: FtpDirectoryStorageOptions): FtpStorage;
  /** A file under the root, as text, or `undefined` when absent. */
  text(path: string): Promise<string | undefined>;
  /** The root's names, recursively, sorted (`dir/` for directories). */
  snapshot(): Promise<string[]>;
}

/** Runs `body` with a fresh tree (root: `a.txt`, `sub/b.txt`, `empty/`), then removes it. */
async function withTree(body: (tree: Tree) => Promise<void>): Promise<void> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), "ftkit-ftpdir-")));
  try {
    const root = join(dir, "root");
    const outside = join(dir, "outside");
    await mkdir(join(root, "sub"), { recursive: true });
    await mkdir(join(root, "empty"));
    await mkdir(outside);
    await writeFile(join(root, "a.txt"), "alpha");
    await writeFile(join(root, "sub", "b.txt"), "bravo!");
    await writeFile(join(outside, "secret.txt"), "secret");
    await body({
      root,
      outside,
      storage: (options = { allowWrite: true, allowOverwrite: true }) =>
        ftpDirectoryStorage(root, options),
      text: (path) => readFile(join(root, path), "utf8").catch(() => undefined),
      snapshot: async () => {
        const names: string[] = [];
        const walk = async (relative: string) => {
          for (const entry of await readdir(join(root, relative), { withFileTypes: true })) {
            const name = relative ? `${relative}/${entry.name}` : entry.name;
            if (entry.isDirectory()) {
              names.push(`${name}/`);
              await walk(name);
            } else {
              names.push(name);
            }
          }
        };
        await walk("");
        return names.sort();
      },
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Asserts that `promise` rejects with an FtpStorageError of `code` and `message`. */
async function refused(
  promise: Promise<unknown>,
  code: number,
  message: string,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FtpStorageError, `not an FtpStorageError: ${error}`);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    // A reply text never carries a real server path.
    assert.doesNotMatch(error.message, /[\/\\]/);
    return true;
  });
}

const notFound = (promise: Promise<unknown>) => refused(promise, 550, "No such file or directory.");
const notAllowed = (promise: Promise<unknown>) => refused(promise, 550, "Path is not allowed.");
const denied = (promise: Promise<unknown>) => refused(promise, 550, "Permission denied.");

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

async function readAll(stream: FtpReadStream): Promise<string> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < 10_000; i++) {
    const chunk = await stream.read();
    if (chunk === null) break;
    chunks.push(chunk);
  }
  await stream.close();
  return decoder.decode(concat(chunks));
}

async function upload(
  storage: FtpStorage,
  path: string,
  text: string,
  options: { offset?: number; append?: boolean } = {},
): Promise<void> {
  const stream = await storage.write(path, {
    offset: options.offset ?? 0,
    append: options.append ?? false,
  });
  await stream.write(encoder.encode(text));
  await stream.commit();
}

describe("ftpDirectoryStorage: reading", () => {
  test("stat of the root, a file, a directory, and a missing path", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      const root = await storage.stat("/");
      assert.equal(root.type, "dir");
      assert.ok(root.modified instanceof Date);
      const file = await storage.stat("/a.txt");
      assert.equal(file.type, "file");
      assert.equal(file.size, 5);
      assert.equal(file.modified.getTime(), (await stat(join(tree.root, "a.txt"))).mtime.getTime());
      assert.equal((await storage.stat("/sub")).type, "dir");
      assert.equal((await storage.stat("/sub/b.txt")).size, 6);
      await notFound(storage.stat("/missing"));
      await notFound(storage.stat("/missing/deeper"));
      await notFound(storage.stat("/a.txt/under-a-file"));
    });
  });

  test("list gives a directory's entries sorted by name; the root lists too", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await writeFile(join(tree.root, "Zed"), "z");
      await writeFile(join(tree.root, "0first"), "");
      const entries = await storage.list("/");
      assert.deepEqual(
        entries.map(({ name, type, size }) => ({ name, type, size })).filter((e) =>
          e.type === "file"
        ),
        [
          { name: "0first", type: "file", size: 0 },
          { name: "Zed", type: "file", size: 1 },
          { name: "a.txt", type: "file", size: 5 },
        ],
      );
      assert.deepEqual(entries.map((e) => e.name), ["0first", "Zed", "a.txt", "empty", "sub"]);
      assert.ok(entries.every((e) => e.modified instanceof Date));
      assert.deepEqual((await storage.list("/sub")).map((e) => e.name), ["b.txt"]);
      assert.deepEqual(await storage.list("/empty"), []);
      await refused(storage.list("/a.txt"), 550, "Not a directory.");
      await notFound(storage.list("/missing"));
    });
  });

  test("list skips upload temporaries and names the jail refuses", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await writeFile(join(tree.root, ".c.txt.0123456789abcd.part"), "left over");
      await writeFile(join(tree.root, "bad\nname"), "");
      await writeFile(join(tree.root, "back\\slash"), "");
      await writeFile(join(tree.root, ".hidden"), "shown");
      const stream = await storage.write("/a.txt", { offset: 0, append: false });
      await stream.write(encoder.encode("in progress"));
      assert.ok((await readdir(tree.root)).sort().some((name) => name.endsWith(".part")));
      assert.deepEqual(
        (await storage.list("/")).map((e) => e.name),
        [".hidden", "a.txt", "empty", "sub"],
      );
      await stream.abort();
    });
  });

  test("read returns the file in chunks, from an offset, and closes idempotently", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage({ readChunkSize: 4 });
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 255);
      await writeFile(join(tree.root, "image.bin"), bytes);
      const whole = await storage.read("/image.bin", 0);
      assert.equal(whole.size, 1000);
      const first = await whole.read();
      assert.deepEqual(first, bytes.subarray(0, 4));
      await whole.close();
      await whole.close();

      const stream = await tree.storage({ readChunkSize: 300 }).read("/image.bin", 0);
      const chunks: Uint8Array[] = [];
      for (let i = 0, chunk = await stream.read(); chunk && i < 100; i++) {
        chunks.push(chunk);
        chunk = await stream.read();
      }
      await stream.close();
      assert.deepEqual(chunks.map((c) => c.length), [300, 300, 300, 100]);
      assert.deepEqual(concat(chunks), bytes);

      const resumed = await storage.read("/sub/b.txt", 2);
      assert.equal(resumed.size, 6, "size is the whole file's");
      assert.equal(await readAll(resumed), "avo!");
      const past = await storage.read("/a.txt", 50);
      assert.equal(await past.read(), null);
      await past.close();
      await assert.rejects(storage.read("/a.txt", -1), RangeError);
    });
  });

  test("read fills a buffer lent to it, up to its chunk size, and returns a view of it", async () => {
    await withTree(async (tree) => {
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 255);
      await writeFile(join(tree.root, "image.bin"), bytes);
      const stream = await tree.storage({ readChunkSize: 300 }).read("/image.bin", 0);
      const lent = new Uint8Array(256);
      const lengths: number[] = [];
      const copies: Uint8Array[] = [];
      for (let i = 0, chunk = await stream.read(lent); chunk && i < 100; i++) {
        assert.equal(chunk.buffer, lent.buffer, "the bytes are in the lent buffer");
        lengths.push(chunk.length);
        copies.push(chunk.slice());
        chunk = await stream.read(lent);
      }
      await stream.close();
      assert.deepEqual(lengths, [256, 256, 256, 232]);
      assert.ok(Buffer.compare(concat(copies), bytes) === 0);
      // A larger buffer still gets at most the chunk size.
      const large = await tree.storage({ readChunkSize: 300 }).read("/image.bin", 0);
      assert.equal((await large.read(new Uint8Array(4096)))?.length, 300);
      await large.close();
    });
  });

  test("read refuses directories, special files and missing files", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await refused(storage.read("/sub", 0), 550, "Is a directory.");
      await refused(storage.read("/", 0), 550, "Is a directory.");
      await notFound(storage.read("/missing", 0));
      let fifo = true;
      try {
        execFileSync("mkfifo", [join(tree.root, "pipe")]);
      } catch {
        fifo = false; // no mkfifo here: the rest still ran
      }
      if (fifo) {
        assert.equal((await storage.stat("/pipe")).type, "other");
        assert.equal((await storage.list("/")).find((e) => e.name === "pipe")?.type, "other");
        // Refused without opening it (which would wait for a writer).
        await refused(storage.read("/pipe", 0), 550, "Not a regular file.");
        await refused(
          storage.write("/pipe", { offset: 0, append: true }),
          550,
          "Not a regular file.",
        );
      }
    });
  });

  test("a read chunk size that is not a positive integer is a RangeError", () => {
    assert.throws(() => ftpDirectoryStorage(".", { readChunkSize: 0 }), RangeError);
    assert.throws(() => ftpDirectoryStorage(".", { readChunkSize: 1.5 }), RangeError);
  });

  test("a missing root is 550 without its path, and works once it appears", async () => {
    await withTree(async (tree) => {
      const later = join(tree.root, "later");
      const storage = ftpDirectoryStorage(later);
      await notFound(storage.stat("/"));
      await mkdir(later);
      assert.equal((await storage.stat("/")).type, "dir");
    });
  });
});

describe("ftpDirectoryStorage: uploads", () => {
  test("STOR replaces a file atomically: old content until commit, untouched on abort", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      const aborted = await storage.write("/a.txt", { offset: 0, append: false });
      await aborted.write(encoder.encode("half of a new"));
      assert.equal(await tree.text("a.txt"), "alpha", "old content while uploading");
      await aborted.abort();
      await aborted.abort();
      assert.equal(await tree.text("a.txt"), "alpha", "old content after abort");
      assert.deepEqual(
        (await readdir(tree.root)).sort(),
        ["a.txt", "empty", "sub"],
        "no .part left",
      );

      const committed = await storage.write("/a.txt", { offset: 0, append: false });
      await committed.write(encoder.encode("new "));
      await committed.write(encoder.encode("content"));
      assert.equal(await tree.text("a.txt"), "alpha");
      await committed.commit();
      assert.equal(await tree.text("a.txt"), "new content");
      assert.deepEqual((await readdir(tree.root)).sort(), ["a.txt", "empty", "sub"]);

      await upload(storage, "/sub/c.txt", "charlie");
      assert.equal(await tree.text("sub/c.txt"), "charlie");
      const empty = await storage.write("/sub/empty.txt", { offset: 0, append: false });
      await empty.commit();
      assert.equal(await tree.text("sub/empty.txt"), "");
      const gone = await storage.write("/sub/never.txt", { offset: 0, append: false });
      await gone.write(encoder.encode("x"));
      await gone.abort();
      assert.deepEqual((await readdir(join(tree.root, "sub"))).sort(), [
        "b.txt",
        "c.txt",
        "empty.txt",
      ]);
    });
  });

  test("STOR refuses directories and missing parents", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      const store = (path: string) => storage.write(path, { offset: 0, append: false });
      await refused(store("/sub"), 550, "Is a directory.");
      await refused(store("/"), 550, "Is a directory.");
      await notFound(store("/missing/c.txt"));
      await notFound(store("/a.txt/c.txt"));
    });
  });

  test("STOR of a long name keeps its temporary name within limits", async () => {
    await withTree(async (tree) => {
      const name = "é".repeat(127); // 254 bytes in UTF-8
      await upload(tree.storage(), `/${name}`, "long");
      assert.equal(await tree.text(name), "long");
    });
  });

  test("APPE appends on commit and cuts back to the old length on abort", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await upload(storage, "/a.txt", "-beta", { append: true });
      assert.equal(await tree.text("a.txt"), "alpha-beta");
      const aborted = await storage.write("/a.txt", { offset: 0, append: true });
      await aborted.write(encoder.encode("-gamma"));
      assert.equal(await tree.text("a.txt"), "alpha-beta-gamma");
      await aborted.abort();
      assert.equal(await tree.text("a.txt"), "alpha-beta");

      await upload(storage, "/sub/new.txt", "fresh", { append: true });
      assert.equal(await tree.text("sub/new.txt"), "fresh");
      const vanished = await storage.write("/sub/other.txt", { offset: 0, append: true });
      await vanished.write(encoder.encode("temporary"));
      await vanished.abort();
      assert.equal(await tree.text("sub/other.txt"), undefined, "a new file is deleted on abort");
      await refused(storage.write("/sub", { offset: 0, append: true }), 550, "Is a directory.");
    });
  });

  test("REST then STOR continues from the offset; abort keeps what was written", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await writeFile(join(tree.root, "digits"), "0123456789");
      await upload(storage, "/digits", "AB", { offset: 4 });
      assert.equal(await tree.text("digits"), "0123AB");
      const aborted = await storage.write("/digits", { offset: 2, append: false });
      await aborted.write(encoder.encode("xy"));
      await aborted.abort();
      assert.equal(await tree.text("digits"), "01xy");
      await upload(storage, "/digits", "!", { offset: 4 });
      assert.equal(await tree.text("digits"), "01xy!", "the offset may be the end of the file");
      const beyond = "Restart offset beyond end of file.";
      await refused(storage.write("/digits", { offset: 6, append: false }), 550, beyond);
      await refused(storage.write("/missing", { offset: 1, append: false }), 550, beyond);
      await assert.rejects(storage.write("/digits", { offset: -1, append: false }), RangeError);
    });
  });

  test("STOU makes distinct new files; abort deletes its file", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      const first = await storage.writeUnique("/sub");
      const second = await storage.writeUnique("/sub");
      assert.match(first.path, /^\/sub\/ftkit\.[0-9a-z]+$/);
      assert.notEqual(first.path, second.path);
      await first.stream.write(encoder.encode("unique"));
      await first.stream.commit();
      await second.stream.write(encoder.encode("dropped"));
      await second.stream.abort();
      assert.equal(await tree.text(first.path.slice(1)), "unique");
      assert.equal(await tree.text(second.path.slice(1)), undefined);
      assert.equal((await storage.stat(first.path)).size, 6);

      const top = await storage.writeUnique("/");
      assert.match(top.path, /^\/ftkit\.[0-9a-z]+$/);
      await top.stream.commit();
      assert.equal(await tree.text(top.path.slice(1)), "");
      await refused(storage.writeUnique("/a.txt"), 550, "Not a directory.");
      await notFound(storage.writeUnique("/missing"));
    });
  });
});

describe("ftpDirectoryStorage: directories, deleting and renaming", () => {
  test("mkdir, rmdir, delete and rename succeed", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await storage.mkdir("/new");
      await storage.mkdir("/new/deeper");
      assert.equal((await storage.stat("/new/deeper")).type, "dir");
      await storage.rmdir("/new/deeper");
      await storage.rmdir("/new");
      await notFound(storage.stat("/new"));

      await storage.delete("/sub/b.txt");
      assert.equal(await tree.text("sub/b.txt"), undefined);

      await storage.rename("/a.txt", "/sub/moved.txt");
      assert.equal(await tree.text("sub/moved.txt"), "alpha");
      await storage.rename("/sub", "/renamed");
      assert.equal(await tree.text("renamed/moved.txt"), "alpha");
      await writeFile(join(tree.root, "other.txt"), "other");
      await storage.rename("/other.txt", "/renamed/moved.txt");
      assert.equal(await tree.text("renamed/moved.txt"), "other", "a file is replaced");
      assert.deepEqual(await tree.snapshot(), ["empty/", "renamed/", "renamed/moved.txt"]);
    });
  });

  test("file system errors map onto 550 replies", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await refused(storage.mkdir("/sub"), 550, "File exists.");
      await refused(storage.mkdir("/a.txt"), 550, "File exists.");
      await refused(storage.mkdir("/"), 550, "File exists.");
      await notFound(storage.mkdir("/missing/new"));
      await refused(storage.rmdir("/sub"), 550, "Directory not empty.");
      await refused(storage.rmdir("/a.txt"), 550, "Not a directory.");
      await notFound(storage.rmdir("/missing"));
      await denied(storage.rmdir("/"));
      await refused(storage.delete("/sub"), 550, "Is a directory.");
      await refused(storage.delete("/"), 550, "Is a directory.");
      await notFound(storage.delete("/missing"));
      await notFound(storage.rename("/missing", "/x"));
      await notFound(storage.rename("/a.txt", "/missing/x"));
      await refused(storage.rename("/a.txt", "/empty"), 550, "File exists.");
      await refused(storage.rename("/sub", "/empty"), 550, "File exists.");
      await denied(storage.rename("/", "/x"));
      await denied(storage.rename("/sub", "/"));
      await refused(storage.rename("/sub", "/sub/inside"), 550, "Path is not allowed.");
      assert.deepEqual(await tree.snapshot(), ["a.txt", "empty/", "sub/", "sub/b.txt"]);
    });
  });

  test("read-only (the default) refuses every change before touching the disk", async () => {
    await withTree(async (tree) => {
      const storage = ftpDirectoryStorage(tree.root);
      const before = await tree.snapshot();
      await denied(storage.write("/a.txt", { offset: 0, append: false }));
      await denied(storage.write("/new.txt", { offset: 0, append: false }));
      await denied(storage.write("/a.txt", { offset: 0, append: true }));
      await denied(storage.write("/a.txt", { offset: 2, append: false }));
      await denied(storage.writeUnique("/"));
      await denied(storage.mkdir("/new"));
      await denied(storage.rmdir("/empty"));
      await denied(storage.delete("/a.txt"));
      await denied(storage.rename("/a.txt", "/b.txt"));
      await denied(storage.write("/../escape", { offset: 0, append: false }));
      await denied(ftpDirectoryStorage(join(tree.root, "missing")).mkdir("/x"));
      assert.deepEqual(await tree.snapshot(), before);
      assert.equal(await tree.text("a.txt"), "alpha");
      assert.equal(await readAll(await storage.read("/a.txt", 0)), "alpha", "reads still work");
      assert.equal((await storage.list("/")).length, 3);
    });
  });
});

describe("ftpDirectoryStorage: create-only without allowOverwrite", () => {
  const overwriteDenied = (promise: Promise<unknown>) =>
    refused(promise, 550, "Overwrite permission denied.");

  test("STOR, APPE and REST then STOR onto a file are refused; new names are created", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage({ allowWrite: true });
      await symlink("sub/b.txt", join(tree.root, "infile"));
      const before = await tree.snapshot();
      await overwriteDenied(storage.write("/a.txt", { offset: 0, append: false }));
      await overwriteDenied(storage.write("/a.txt", { offset: 0, append: true }));
      await overwriteDenied(storage.write("/a.txt", { offset: 2, append: false }));
      await overwriteDenied(storage.write("/a.txt", { offset: 5, append: false }));
      // A link inside the root leads to a file that exists: not written through either.
      await overwriteDenied(storage.write("/infile", { offset: 0, append: false }));
      await overwriteDenied(storage.write("/infile", { offset: 0, append: true }));
      assert.deepEqual(await tree.snapshot(), before, "nothing made, not even a temporary file");
      assert.equal(await tree.text("a.txt"), "alpha");
      assert.equal(await tree.text("sub/b.txt"), "bravo!");
      // What is not an existing file answers as before.
      await refused(storage.write("/sub", { offset: 0, append: false }), 550, "Is a directory.");
      const beyond = "Restart offset beyond end of file.";
      await refused(storage.write("/missing", { offset: 1, append: false }), 550, beyond);
      await notFound(storage.write("/missing/c.txt", { offset: 0, append: false }));

      await upload(storage, "/new.txt", "created");
      assert.equal(await tree.text("new.txt"), "created");
      await overwriteDenied(storage.write("/new.txt", { offset: 0, append: false }));
      await upload(storage, "/sub/appended.txt", "made by APPE", { append: true });
      assert.equal(await tree.text("sub/appended.txt"), "made by APPE");
      const unique = await storage.writeUnique("/sub");
      await unique.stream.write(encoder.encode("unique"));
      await unique.stream.commit();
      assert.equal(await tree.text(unique.path.slice(1)), "unique");
    });
  });

  test("a name taken while a STOR is under way is refused at commit, and kept", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage({ allowWrite: true });
      const late = await storage.write("/race.txt", { offset: 0, append: false });
      await late.write(encoder.encode("second"));
      await writeFile(join(tree.root, "race.txt"), "first");
      await overwriteDenied(late.commit());
      assert.equal(await tree.text("race.txt"), "first");
      assert.deepEqual(
        (await readdir(tree.root)).sort(),
        ["a.txt", "empty", "race.txt", "sub"],
        "no .part left",
      );
      await late.abort(); // after a failed commit: nothing more to do
      assert.equal(await tree.text("race.txt"), "first");
    });
  });

  test("RNTO onto an existing entry is refused; onto a new name it renames", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage({ allowWrite: true });
      const renameDenied = (promise: Promise<unknown>) =>
        refused(promise, 550, "Rename permission denied.");
      await symlink("sub/b.txt", join(tree.root, "infile"));
      await renameDenied(storage.rename("/a.txt", "/sub/b.txt"));
      await renameDenied(storage.rename("/a.txt", "/a.txt"));
      await renameDenied(storage.rename("/empty", "/a.txt"));
      await renameDenied(storage.rename("/a.txt", "/infile"));
      await refused(storage.rename("/a.txt", "/empty"), 550, "File exists.");
      assert.equal(await tree.text("a.txt"), "alpha");
      assert.equal(await tree.text("sub/b.txt"), "bravo!");
      await storage.rename("/a.txt", "/sub/moved.txt");
      assert.equal(await tree.text("sub/moved.txt"), "alpha");
      assert.deepEqual(await tree.snapshot(), [
        "empty/",
        "infile",
        "sub/",
        "sub/b.txt",
        "sub/moved.txt",
      ]);
    });
  });

  test("allowOverwrite without allowWrite is still read-only", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage({ allowOverwrite: true });
      await denied(storage.write("/a.txt", { offset: 0, append: false }));
      await denied(storage.rename("/a.txt", "/sub/b.txt"));
      assert.equal(await tree.text("a.txt"), "alpha");
    });
  });
});

describe("ftpDirectoryStorage: the jail", () => {
  const refusedPaths = [
    "/../etc/passwd",
    "/sub/../../outside/secret.txt",
    "/..",
    "/.",
    "/./a.txt",
    "//a.txt",
    "/sub//b.txt",
    "/sub/",
    "a.txt",
    "",
    "/sub\\b.txt",
    "/..\\outside",
    "/a\x00.txt",
    "/a\n.txt",
    "/a\x1f",
    "/a\x7f",
    "/con",
    "/NUL.txt",
    "/sub/lpt1",
    "/c:",
    "/C:secret",
  ];

  test("names that could leave the root are refused by every method", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      const before = await tree.snapshot();
      for (const path of refusedPaths) {
        await notAllowed(storage.stat(path));
        await notAllowed(storage.list(path));
        await notAllowed(storage.read(path, 0));
        await notAllowed(storage.write(path, { offset: 0, append: false }));
        await notAllowed(storage.write(path, { offset: 0, append: true }));
        await notAllowed(storage.writeUnique(path));
        await notAllowed(storage.mkdir(path));
        await notAllowed(storage.rmdir(path));
        await notAllowed(storage.delete(path));
        await notAllowed(storage.rename(path, "/x"));
        await notAllowed(storage.rename("/a.txt", path));
      }
      assert.deepEqual(await tree.snapshot(), before);
      assert.deepEqual(await readdir(tree.outside), ["secret.txt"]);
    });
  });

  test("symbolic links out of the root are absent; links inside are followed", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await symlink(tree.outside, join(tree.root, "out"));
      await symlink(join(tree.outside, "secret.txt"), join(tree.root, "outfile"));
      await symlink(join(tree.outside, "missing"), join(tree.root, "dangling"));
      await symlink(join(tree.root, "sub"), join(tree.root, "in"));
      await symlink("sub/b.txt", join(tree.root, "infile"));

      // Outside: the same reply whether or not something is there.
      for (const path of ["/out", "/outfile", "/dangling", "/out/secret.txt", "/out/missing"]) {
        await notFound(storage.stat(path));
        await notFound(storage.list(path));
        await notFound(storage.read(path, 0));
        await notFound(storage.write(path, { offset: 0, append: false }));
        await notFound(storage.write(path, { offset: 0, append: true }));
        await notFound(storage.write(path, { offset: 3, append: false }));
        await notFound(storage.mkdir(path));
        await notFound(storage.delete(path));
        await notFound(storage.rmdir(path));
        await notFound(storage.rename(path, "/x"));
        await notFound(storage.rename("/a.txt", path));
      }
      await notFound(storage.write("/out/new.txt", { offset: 0, append: false }));
      await notFound(storage.mkdir("/out/dir"));
      await notFound(storage.writeUnique("/out"));
      assert.deepEqual(await readdir(tree.outside), ["secret.txt"]);
      assert.equal(await readFile(join(tree.outside, "secret.txt"), "utf8"), "secret");

      // Listings omit them, and report links inside as what they lead to.
      const entries = await storage.list("/");
      assert.deepEqual(
        entries.map(({ name, type, size }) => [name, type, type === "file" ? size : 0]),
        [["a.txt", "file", 5], ["empty", "dir", 0], ["in", "dir", 0], ["infile", "file", 6], [
          "sub",
          "dir",
          0,
        ]],
      );

      // Inside: followed.
      assert.equal((await storage.stat("/in")).type, "dir");
      assert.equal((await storage.stat("/infile")).type, "file");
      assert.deepEqual((await storage.list("/in")).map((e) => e.name), ["b.txt"]);
      assert.equal(await readAll(await storage.read("/infile", 0)), "bravo!");
      assert.equal(await readAll(await storage.read("/in/b.txt", 1)), "ravo!");
      await upload(storage, "/in/c.txt", "charlie");
      assert.equal(await tree.text("sub/c.txt"), "charlie");
      await upload(storage, "/infile", "written through");
      assert.equal(await tree.text("sub/b.txt"), "written through");
      await upload(storage, "/infile", "+", { append: true });
      assert.equal(await tree.text("sub/b.txt"), "written through+");
      await storage.mkdir("/in/made");
      assert.equal((await stat(join(tree.root, "sub", "made"))).isDirectory(), true);

      // DELE and RNTO act on the link itself, never on what it leads to.
      await storage.rename("/infile", "/link");
      await storage.delete("/link");
      assert.equal(await tree.text("sub/b.txt"), "written through+");
      await refused(storage.rmdir("/in"), 550, "Not a directory.");
    });
  });

  test("the root itself may be reached through a symbolic link", async () => {
    await withTree(async (tree) => {
      const alias = join(tree.outside, "alias");
      await symlink(tree.root, alias);
      const storage = ftpDirectoryStorage(alias, { allowWrite: true });
      assert.equal((await storage.stat("/a.txt")).size, 5);
      await upload(storage, "/sub/c.txt", "charlie");
      assert.equal(await tree.text("sub/c.txt"), "charlie");
    });
  });
});

describe("ftpDirectoryStorage: setModified (MFMT), chmod (SITE CHMOD), the unique fact", () => {
  test("setModified sets the modification time, keeps the access time, follows links inside", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      const before = await stat(join(tree.root, "a.txt"));
      const when = new Date("2020-01-02T03:04:05Z");
      await storage.setModified!("/a.txt", when);
      const after = await stat(join(tree.root, "a.txt"));
      assert.equal(after.mtime.getTime(), when.getTime());
      assert.equal(after.atime.getTime(), before.atime.getTime());
      assert.equal((await storage.stat("/a.txt")).modified.getTime(), when.getTime());
      await storage.setModified!("/sub", new Date("2001-02-03T04:05:06.5Z"));
      assert.equal(
        (await stat(join(tree.root, "sub"))).mtime.toISOString(),
        "2001-02-03T04:05:06.500Z",
      );
      await symlink("a.txt", join(tree.root, "link"));
      await storage.setModified!("/link", new Date(0));
      assert.equal((await stat(join(tree.root, "a.txt"))).mtime.getTime(), 0);
      await notFound(storage.setModified!("/missing", when));
      await notAllowed(storage.setModified!("/../outside/secret.txt", when));
      await symlink(join(tree.outside, "secret.txt"), join(tree.root, "escape"));
      await notFound(storage.setModified!("/escape", when));
      await assert.rejects(storage.setModified!("/a.txt", new Date(Number.NaN)), TypeError);
      await denied(tree.storage({}).setModified!("/a.txt", when));
      assert.equal((await stat(join(tree.root, "a.txt"))).mtime.getTime(), 0);
    });
  });

  test("chmod sets 0 to 0o777, never the root's, never a setuid bit; read-only refuses", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      const mode = async (path: string) => (await stat(join(tree.root, path))).mode & 0o7777;
      await storage.chmod!("/a.txt", 0o600);
      assert.equal(await mode("a.txt"), 0o600);
      await storage.chmod!("/sub", 0o750);
      assert.equal(await mode("sub"), 0o750);
      await denied(storage.chmod!("/", 0o700));
      for (const bad of [0o4755, 0o1777, -1, 0.5, 512]) {
        await assert.rejects(storage.chmod!("/a.txt", bad), RangeError, String(bad));
      }
      assert.equal(await mode("a.txt"), 0o600);
      await notFound(storage.chmod!("/missing", 0o644));
      await symlink(join(tree.outside, "secret.txt"), join(tree.root, "escape"));
      await notFound(storage.chmod!("/escape", 0o777));
      assert.notEqual((await stat(join(tree.outside, "secret.txt"))).mode & 0o777, 0o777);
      await denied(tree.storage({}).chmod!("/a.txt", 0o644));
      assert.equal(await mode("a.txt"), 0o600);
    });
  });

  test("unique: device and inode in hex, the same through a link, distinct for distinct files", async () => {
    await withTree(async (tree) => {
      const storage = tree.storage();
      await symlink("a.txt", join(tree.root, "link"));
      const info = await stat(join(tree.root, "a.txt"));
      const expected = `${info.dev.toString(16)}g${info.ino.toString(16)}`;
      assert.equal((await storage.stat("/a.txt")).unique, expected);
      assert.equal((await storage.stat("/link")).unique, expected);
      const listed = Object.fromEntries(
        (await storage.list("/")).map((entry) => [entry.name, entry.unique]),
      );
      assert.equal(listed["a.txt"], expected);
      assert.equal(listed.link, expected);
      assert.notEqual(listed.sub, expected);
      assert.match(listed.sub!, /^[0-9a-f]+g[0-9a-f]+$/);
    });
  });
});
