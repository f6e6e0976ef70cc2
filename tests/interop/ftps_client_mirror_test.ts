// The FTPS client's recursive operations against vsftpd (LIST and MDTM) and ProFTPD (MLSD): mirror
// both ways of a tree with nested folders, spaces and UTF-8 names, byte for byte; second runs
// that copy nothing; delete, dry run, include/exclude, four parallel connections; uploadDir,
// downloadDir, walk and a recursive removeDir; `ftkit ftps mirror` end to end. And a scripted
// server whose listings name "../x" or "a/b": refused, nothing written outside.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../../cli.ts";
import { connectFtps, type FtpsClient, serveFtps } from "../ftps/_connect.ts";
import { hostileFtp } from "../ftps/_hostile_ftp.ts";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import { runtime } from "../_runtime.ts";
import { within } from "../_wait.ts";
import {
  chownFtp,
  FIXTURES,
  type FtpsServer,
  PASSWORD,
  startProftpd,
  startVsftpd,
  USER,
} from "./_ftps_servers.ts";

/** A tree's files and directories, path to bytes ("dir" for a directory); links left out. */
async function treeOf(root: string): Promise<Map<string, Uint8Array | "dir">> {
  const tree = new Map<string, Uint8Array | "dir">();
  const walk = async (dir: string, prefix: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const path = prefix ? `${prefix}/${name}` : name;
      const info = await lstat(join(dir, name));
      if (info.isDirectory()) {
        tree.set(path, "dir");
        await walk(join(dir, name), path);
      } else if (info.isFile()) tree.set(path, await readFile(join(dir, name)));
    }
  };
  await walk(root, "");
  return tree;
}

/** Asserts two trees hold the same paths, and the same bytes in each file. */
function assertSameTree(
  actual: Map<string, Uint8Array | "dir">,
  expected: Map<string, Uint8Array | "dir">,
): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [path, bytes] of expected) {
    const got = actual.get(path)!;
    if (bytes === "dir") assert.equal(got, "dir", path);
    else assert.ok(got !== "dir" && Buffer.compare(got, bytes) === 0, `${path} differs`);
  }
}

/** The source tree: nested folders, spaces, UTF-8 names, an empty folder, a link. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, "Grüße", "tief", "noch tiefer"), { recursive: true });
  await mkdir(join(root, "docs"), { recursive: true });
  await mkdir(join(root, "empty"), { recursive: true });
  await writeFile(join(root, "a.txt"), "top file\n");
  await writeFile(join(root, "Grüße", "ä b.txt"), "Grüße aus der Tiefe\n");
  await writeFile(join(root, "Grüße", "tief", "x y.bin"), bytesOf(150_000, 3));
  await writeFile(join(root, "Grüße", "tief", "noch tiefer", "z.bin"), bytesOf(7, 4));
  await writeFile(join(root, "docs", "readme.md"), "# readme\n");
  await writeFile(join(root, "docs", "trace.log"), "log\n");
  for (let i = 0; i < 6; i++) await writeFile(join(root, "docs", `n${i}.txt`), `note ${i}\n`);
  // Dated long ago: a kept time is told from the time of an upload.
  for (const file of ["a.txt", "Grüße/ä b.txt", "Grüße/tief/noch tiefer/z.bin"]) {
    await utimes(join(root, file), TREE_TIME, TREE_TIME);
  }
  await symlink("a.txt", join(root, "link.txt"));
}

/** The time some of the source tree's files have. */
const TREE_TIME = new Date("2020-02-03T04:05:06Z");

/** The bytes of a tree's files. */
function bytesIn(tree: Map<string, Uint8Array | "dir">): number {
  let total = 0;
  for (const bytes of tree.values()) if (bytes !== "dir") total += bytes.length;
  return total;
}

/** The source tree as a mirror copies it: without the link. */
async function expectedTree(root: string) {
  return await treeOf(root);
}

const servers = [
  { name: "vsftpd (LIST, MDTM)", peer: "vsftpd" as const },
  { name: "ProFTPD (MLSD)", peer: "proftpd" as const },
];

for (const { name, peer } of servers) {
  describe(`FTPS client mirror against ${name}`, { skip: missing(peer, "openssl") }, () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let server: FtpsServer;
    let pub: string;
    let source: string;
    let ca: string;
    let login: { user?: string; password?: string };

    before(async () => {
      dir = await tempDir(`ftkit-mirror-${peer}-`);
      ca = await readFile(join(FIXTURES, "ca.pem"), "utf8");
      source = join(dir.path, "source");
      await makeTree(source);
      if (peer === "vsftpd") {
        const top = join(dir.path, "top");
        pub = join(top, "pub");
        await mkdir(pub, { recursive: true });
        await chownFtp(pub);
        server = await startVsftpd(dir.path, top);
        login = {};
      } else {
        const root = join(dir.path, "root");
        pub = join(root, "pub");
        await mkdir(pub, { recursive: true });
        await chownFtp(dir.path, root, pub);
        // Deno's node:tls (rustls) offers each TLS 1.3 ticket once, and ProFTPD sends none on an
        // upload's data connection: a run of uploads there ends in a full handshake that ProFTPD
        // refuses (425) and the client tries again after reading the refused connection to its
        // end (up to its timeout). Resumption is not required there; it is on Node and Bun.
        server = await startProftpd(dir.path, root, { reuseRequired: runtime !== "deno" });
        login = { user: USER, password: PASSWORD };
      }
    });

    after(async () => {
      await server?.stop();
      await dir?.remove();
    });

    const open = (): Promise<FtpsClient> =>
      connectFtps({
        host: "127.0.0.1",
        port: server.port,
        ca,
        servername: "localhost",
        timeoutMs: 20_000,
        ...login,
      });

    test("upload then download mirrors, byte for byte; second runs copy nothing", async () => {
      const client = await open();
      try {
        assert.equal(client.features.has("MLST"), peer === "proftpd");
        const up = await client.mirror(source, "pub/tree", { direction: "upload" });
        assert.deepEqual(up.errors, []);
        assert.deepEqual(up.skipped, [{
          path: "link.txt",
          reason: "a symbolic link (not followed)",
        }]);
        assert.equal(up.copied.length, 12);
        assert.equal(up.bytes, bytesIn(await expectedTree(source)));
        assertSameTree(await treeOf(join(pub, "tree")), await expectedTree(source));
        // Times kept: the server's files have the local files' times (MFMT on ProFTPD, MDTM
        // <time> <path> on vsftpd), to the second.
        assert.deepEqual(up.warnings, []);
        for (const file of ["a.txt", "Grüße/ä b.txt", "Grüße/tief/noch tiefer/z.bin"]) {
          const [here, there] = [
            await stat(join(source, file)),
            await stat(join(pub, "tree", file)),
          ];
          assert.equal(Math.floor(there.mtimeMs / 1000), Math.floor(here.mtimeMs / 1000), file);
        }
        const again = await client.mirror(source, "pub/tree", { direction: "upload" });
        assert.deepEqual([again.copied, again.created, again.errors], [[], [], []]);

        const local = join(dir.path, "down");
        const down = await client.mirror("pub/tree", local);
        assert.deepEqual(down.errors, []);
        assert.equal(down.copied.length, 12);
        assertSameTree(await treeOf(local), await expectedTree(source));
        const twice = await client.mirror("pub/tree", local);
        assert.deepEqual([twice.copied, twice.created, twice.errors], [[], [], []]);
        assert.equal(twice.skipped.length, 12);

        // A file changed at the source (another size) is copied again, and only it.
        await writeFile(join(pub, "tree", "docs", "readme.md"), "# readme, longer now\n");
        const changed = await client.mirror("/pub/tree/", local);
        assert.deepEqual(changed.copied, ["docs/readme.md"]);
        assert.equal(
          await readFile(join(local, "docs", "readme.md"), "utf8"),
          "# readme, longer now\n",
        );
      } finally {
        await client.close();
      }
    });

    test("delete removes extras, excluded ones stay; a dry run changes nothing", async () => {
      const client = await open();
      try {
        const local = join(dir.path, "extras");
        await client.mirror(source, "pub/extras", { direction: "upload" });
        await client.mirror("pub/extras", local);
        await writeFile(join(local, "extra.txt"), "not at the source\n");
        await mkdir(join(local, "old", "older"), { recursive: true });
        await writeFile(join(local, "old", "older", "x.txt"), "old\n");
        await writeFile(join(local, "keep.log"), "excluded, kept\n");
        await writeFile(join(pub, "extras", "a.txt"), "the source changed\n");
        const before = await treeOf(local);

        const dry = await client.mirror("pub/extras", local, {
          delete: true,
          dryRun: true,
          exclude: ["*.log"],
        });
        assert.deepEqual(dry.copied, ["a.txt"]);
        assert.deepEqual([...dry.deleted].sort(), [
          "extra.txt",
          "old",
          "old/older",
          "old/older/x.txt",
        ]);
        assert.deepEqual(dry.errors, []);
        assertSameTree(await treeOf(local), before);

        const real = await client.mirror("pub/extras", local, { delete: true, exclude: ["*.log"] });
        assert.deepEqual(real.deleted, ["old/older/x.txt", "extra.txt", "old/older", "old"]);
        const expected = await treeOf(join(pub, "extras"));
        // The excluded trace.log is not copied, the local keep.log not removed.
        expected.delete("docs/trace.log");
        const now = await treeOf(local);
        assert.equal(
          new TextDecoder().decode(now.get("keep.log") as Uint8Array),
          "excluded, kept\n",
        );
        now.delete("keep.log");
        now.delete("docs/trace.log");
        assertSameTree(now, expected);

        // Upload direction: the server's extras removed (DELE, RMD).
        await client.mkdir("pub/extras/gone/deeper", { recursive: true });
        await client.put("pub/extras/gone/deeper/f.txt", "f\n");
        await client.put("pub/extras/stray.txt", "s\n");
        const up = await client.mirror(source, "pub/extras", { direction: "upload", delete: true });
        assert.deepEqual(up.deleted, ["gone/deeper/f.txt", "stray.txt", "gone/deeper", "gone"]);
        assertSameTree(await treeOf(join(pub, "extras")), await expectedTree(source));
      } finally {
        await client.close();
      }
    });

    test("include and exclude globs", async () => {
      const client = await open();
      try {
        await client.mirror(source, "pub/globs", { direction: "upload" });
        const local = join(dir.path, "globs");
        const result = await client.mirror("pub/globs", local, {
          include: ["*.txt", "**/z.bin"],
          exclude: ["docs/n[0-3].txt", "tief/"],
        });
        assert.deepEqual(result.errors, []);
        assert.deepEqual([...result.copied].sort(), [
          "Grüße/ä b.txt",
          "a.txt",
          "docs/n4.txt",
          "docs/n5.txt",
        ]);
        const files = [...(await treeOf(local))].filter(([, bytes]) => bytes !== "dir");
        assert.deepEqual(files.map(([path]) => path).sort(), [...result.copied].sort());
      } finally {
        await client.close();
      }
    });

    test("four parallel connections give the same trees; uploadDir, downloadDir, walk, removeDir", async () => {
      const client = await open();
      try {
        const up = await client.uploadDir(source, "pub/parallel", { parallel: 4 });
        assert.deepEqual(up.errors, []);
        assert.equal(up.connections, 4);
        assertSameTree(await treeOf(join(pub, "parallel")), await expectedTree(source));
        const local = join(dir.path, "parallel");
        const events: string[] = [];
        const down = await client.downloadDir("pub/parallel", local, {
          parallel: 4,
          onEvent: (event) => events.push(`${event.type} ${event.path}`),
        });
        assert.deepEqual([down.errors, down.warnings], [[], []]);
        assert.equal(down.connections, 4);
        assert.equal(events.filter((event) => event.startsWith("copy ")).length, 12);
        assertSameTree(await treeOf(local), await expectedTree(source));
        // A mirror over four connections finds nothing to do.
        const again = await client.mirror("pub/parallel", local, { parallel: 4 });
        assert.deepEqual([again.copied, again.errors], [[], []]);

        const walked: string[] = [];
        for await (const entry of client.walk("pub/parallel")) {
          walked.push(`${entry.type} ${entry.path}`);
        }
        assert.ok(walked.includes("dir Grüße/tief/noch tiefer"), walked.join("\n"));
        assert.ok(walked.includes("file Grüße/ä b.txt"), walked.join("\n"));
        assert.equal(walked.length, 17);

        await client.removeDir("pub/parallel", { recursive: true });
        assert.deepEqual((await readdir(pub)).includes("parallel"), false);
        await assert.rejects(client.removeDir("pub/parallel", { recursive: true }));
      } finally {
        await client.close();
      }
    });

    test("uploads follow links when asked: a file's link is its file, a cycle is reported", async () => {
      const linked = join(dir.path, "linked");
      await mkdir(join(linked, "sub"), { recursive: true });
      await writeFile(join(linked, "real.txt"), "real\n");
      await symlink("../real.txt", join(linked, "sub", "alias.txt"));
      await symlink("..", join(linked, "sub", "up"));
      const client = await open();
      try {
        const result = await client.uploadDir(linked, "pub/linked", { followLinks: true });
        assert.deepEqual([...result.copied].sort(), ["real.txt", "sub/alias.txt"]);
        assert.deepEqual(result.errors, [{
          path: "sub/up",
          message: "not listed: a symbolic link to a directory above it (a cycle)",
        }]);
        assert.equal(await readFile(join(pub, "linked", "sub", "alias.txt"), "utf8"), "real\n");
        assert.equal((await lstat(join(pub, "linked", "sub", "alias.txt"))).isFile(), true);
        const plain = await client.uploadDir(linked, "pub/unlinked");
        assert.deepEqual(plain.copied, ["real.txt"]);
        assert.deepEqual(plain.skipped.map((skip) => skip.path).sort(), [
          "sub/alias.txt",
          "sub/up",
        ]);
        await client.removeDir("pub/linked", { recursive: true });
        await client.removeDir("pub/unlinked", { recursive: true });
      } finally {
        await client.close();
      }
    });

    test("ftkit ftps mirror, both ways, with a summary", async () => {
      const out: string[] = [];
      const err: string[] = [];
      const output = {
        out: (line: string) => out.push(line),
        err: (line: string) => err.push(line),
      };
      const url = peer === "vsftpd"
        ? `ftpes://localhost:${server.port}/pub/cli`
        : `ftpes://${USER}:${PASSWORD}@localhost:${server.port}/pub/cli`;
      const tls = ["--ca", join(FIXTURES, "ca.pem")];
      const up = await runCli(["ftps", "mirror", source, url, ...tls, "--parallel", "2"], output);
      assert.equal(up, 0, err.join("\n"));
      assert.ok(out.includes("copy Grüße/ä b.txt (22 B)"), out.join("\n"));
      assert.ok(out.includes("skip link.txt: a symbolic link (not followed)"), out.join("\n"));
      assert.match(
        err.at(-1)!,
        /^Copied 12 files \(\d+ bytes\) in [0-9.]+ s, 0 up to date, 1 skipped, 5 directories made, 0 deleted, 0 errors \(2 connections\)$/,
      );
      const local = join(dir.path, "cli");
      await mkdir(local);
      await writeFile(join(local, "extra.txt"), "x\n");
      out.length = 0;
      const dry = await runCli(
        ["ftps", "mirror", url, local, ...tls, "--delete", "--dry-run"],
        output,
      );
      assert.equal(dry, 0, err.join("\n"));
      assert.ok(out.includes("would delete extra.txt"), out.join("\n"));
      assert.deepEqual(await readdir(local), ["extra.txt"]);
      const down = await runCli(
        ["ftps", "mirror", url, local, ...tls, "--delete", "--quiet"],
        output,
      );
      assert.equal(down, 0, err.join("\n"));
      assertSameTree(await treeOf(local), await expectedTree(source));
    });
  });
}

describe("FTPS client mirror's connection pool, against ftkit's own server", () => {
  const withServer = async (
    options: { maxSessionsPerIp?: number },
    body: (server: { port: number; root: string }, ca: string) => Promise<void>,
  ) => {
    const dir = await tempDir("ftkit-mirror-pool-");
    const root = join(dir.path, "root");
    await mkdir(join(root, "tree"), { recursive: true });
    for (let i = 0; i < 24; i++) {
      await writeFile(join(root, "tree", `f${i}.bin`), bytesOf(200_000 + i, i));
    }
    const server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls: {
        cert: await readFile(join(FIXTURES, "leaf.pem"), "utf8"),
        key: await readFile(join(FIXTURES, "leaf.key"), "utf8"),
      },
      host: "127.0.0.1",
      port: 0,
      ...options,
    });
    try {
      await body(
        { port: server.address.port, root },
        await readFile(join(FIXTURES, "ca.pem"), "utf8"),
      );
    } finally {
      await server.close();
      await dir.remove();
    }
  };
  const open = (port: number, ca: string) =>
    connectFtps({
      host: "127.0.0.1",
      port,
      ca,
      servername: "localhost",
      user: "fred",
      password: "secret",
    });

  test("a server that allows 2 sessions: parallel 4 goes on with 2, and says so", async () => {
    await withServer({ maxSessionsPerIp: 2 }, async (server, ca) => {
      const client = await open(server.port, ca);
      try {
        const local = join(server.root, "..", "copy");
        const result = await client.downloadDir("tree", local, { parallel: 4 });
        assert.deepEqual(result.errors, []);
        assert.equal(result.connections, 2);
        assert.equal(result.warnings.length, 2, result.warnings.join("\n"));
        assert.match(result.warnings[0], /could not be opened .*going on with fewer/);
        assertSameTree(await treeOf(local), await treeOf(join(server.root, "tree")));
      } finally {
        await client.close();
      }
    });
  });

  test("a transfer aborted while its data connection opens ends, every time", async () => {
    await withServer({}, async (server, ca) => {
      const client = await open(server.port, ca);
      try {
        // Aborts from the same tick to a few ms in: some land while the data connection is
        // being made, before RETR went out (that transfer used to wait forever).
        for (let round = 0; round < 60; round++) {
          const stop = new AbortController();
          const getting = client.getFile("tree/f0.bin", join(server.root, "..", "f0.bin"), {
            signal: stop.signal,
          });
          setTimeout(() => stop.abort(new Error("stop")), round % 6);
          await within(getting.catch(() => {}), `round ${round}'s transfer to end`);
        }
        assert.equal((await client.list("tree")).length, 24);
      } finally {
        await client.close();
      }
    });
  });

  test("an abort stops every connection's transfer; no file is left half written", async () => {
    await withServer({}, async (server, ca) => {
      const client = await open(server.port, ca);
      try {
        const local = join(server.root, "..", "aborted");
        const stop = new AbortController();
        let copies = 0;
        await assert.rejects(
          client.mirror("tree", local, {
            parallel: 3,
            signal: stop.signal,
            onEvent: (event) => {
              if (event.type === "copy" && ++copies === 2) stop.abort(new Error("enough"));
            },
          }),
          /enough/,
        );
        const names = await readdir(local);
        assert.ok(names.length < 24, names.join(" "));
        assert.deepEqual(names.filter((name) => name.endsWith(".part")), []);
        for (const name of names) {
          const got = await readFile(join(local, name));
          assert.ok(
            Buffer.compare(got, await readFile(join(server.root, "tree", name))) === 0,
            name,
          );
        }
        // The client's own connection still works.
        assert.equal((await client.list("tree")).length, 24);
      } finally {
        await client.close();
      }
    });
  });
});

describe("FTPS client mirror from a server whose listings are hostile", () => {
  for (const mlst of [true, false]) {
    test(`${mlst ? "MLSD" : "LIST"}: "../x", "a/b" and control bytes refused, nothing outside`, async () => {
      const line = (name: string, type = "file") =>
        mlst
          ? `type=${type};size=2;modify=20240101000000; ${name}`
          : `${type === "dir" ? "d" : "-"}rw-r--r-- 1 u g 2 Jan 01 2024 ${name}`;
      const server = await hostileFtp({
        mlst,
        listings: {
          "/top": [
            line("../x"),
            line("a/b"),
            line("a\\b"),
            line("bad\u0001name"),
            line(".."),
            line("ok.txt"),
            line("sub", "dir"),
            line("..", "dir"),
          ],
          "/top/sub": [line("../../escape"), line("fine.txt")],
        },
      });
      const dir = await tempDir("ftkit-hostile-");
      try {
        const client = await connectFtps({ host: "127.0.0.1", port: server.port, secure: false });
        try {
          const target = join(dir.path, "inside", "target");
          await mkdir(target, { recursive: true });
          await writeFile(join(target, "extra.txt"), "stays: the source was not listed whole\n");
          const refused: string[] = [];
          const result = await client.mirror("/top", target, { delete: true });
          for (const error of result.errors) refused.push(`${error.path}: ${error.message}`);
          assert.deepEqual([...result.copied].sort(), ["ok.txt", "sub/fine.txt"]);
          assert.deepEqual(
            refused.sort(),
            [
              ": nothing deleted: the source could not be listed whole",
              '../x: refused: a "/" in the name',
              'a/b: refused: a "/" in the name',
              'a\\b: refused: a "\\" in the name',
              "bad\u0001name: refused: a control character in the name",
              'sub/../../escape: refused: a "/" in the name',
            ].sort(),
          );
          assert.deepEqual(result.deleted, []);
          assert.deepEqual(await readdir(join(dir.path)), ["inside"]);
          assert.deepEqual(await readdir(join(dir.path, "inside")), ["target"]);
          assert.deepEqual((await readdir(target)).sort(), ["extra.txt", "ok.txt", "sub"]);
          assert.deepEqual(await readdir(join(target, "sub")), ["fine.txt"]);
          // The walk reports the same refusals and yields only the safe names.
          const names: string[] = [];
          const seen: string[] = [];
          for await (
            const entry of client.walk("/top", { onRefused: (refusal) => seen.push(refusal.name) })
          ) names.push(entry.path);
          assert.deepEqual(names, ["ok.txt", "sub", "sub/fine.txt"]);
          assert.equal(seen.length, 5);
        } finally {
          await client.close();
        }
      } finally {
        await server.close();
        await dir.remove();
      }
    });
  }

  test("a listing deeper than maxDepth or longer than maxEntries is bounded", async () => {
    const listings: Record<string, string[]> = {};
    // Every directory lists one below itself: a loop that a walk must not follow forever.
    for (let i = 0, path = "/loop"; i < 40; i++, path += "/d") {
      listings[path] = ["type=dir; d", "type=file;size=2; f"];
    }
    const server = await hostileFtp({ mlst: true, listings });
    try {
      const client = await connectFtps({ host: "127.0.0.1", port: server.port, secure: false });
      try {
        const errors: string[] = [];
        let count = 0;
        for await (
          const _ of client.walk("/loop", { maxDepth: 5, onError: (path) => errors.push(path) })
        ) count++;
        assert.equal(count, 12);
        assert.deepEqual(errors, ["d/d/d/d/d/d"]);
        await assert.rejects(async () => {
          for await (const _ of client.walk("/loop", { maxEntries: 7 })) { /* drained */ }
        }, /More than 7 entries/);
        await assert.rejects(async () => {
          for await (const _ of client.walk("/loop", { maxDepth: 2 })) { /* drained */ }
        }, /deeper than maxDepth/);
      } finally {
        await client.close();
      }
    } finally {
      await server.close();
    }
  });
});
