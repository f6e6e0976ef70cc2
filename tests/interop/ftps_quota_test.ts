// ftkit's FTPS server quotas with real clients: bytes and files per user, refused with 552 before
// any data when the size is known (ALLO) and at the byte that passes the quota otherwise, never
// leaving a partial file; deletes and renames give the space back.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import { PASSWORD, USER } from "./_ftps_servers.ts";
import { CA_PEM, curl, lftp, startFtkit } from "./_ftps_clients.ts";
import { RawFtp } from "../ftps/_raw_ftp.ts";
import { serveCli } from "../_cli_serve.ts";
import { FIXTURES } from "./_ftps_servers.ts";

const KiB = 1024;

/** A directory with `seed` files, and a place outside it for the local files. */
async function tree(seed: Record<string, number>) {
  const served = await tempDir("ftkit-quota-");
  const local = await tempDir("ftkit-quota-local-");
  for (const [name, size] of Object.entries(seed)) {
    await writeFile(join(served.path, name), bytesOf(size, 1));
  }
  return {
    served: served.path,
    async file(name: string, size: number): Promise<string> {
      const path = join(local.path, name);
      await writeFile(path, bytesOf(size, 2));
      return path;
    },
    async remove() {
      await served.remove();
      await local.remove();
    },
  };
}

describe("ftkit FTPS server: quotas", () => {
  const skip = missing("curl", "lftp");

  test(
    "bytes: an upload past the quota is 552 at the byte that passes it and leaves nothing (curl)",
    {
      skip,
    },
    async () => {
      const t = await tree({ "old.bin": 40 * KiB });
      const ftkit = await startFtkit(t.served, {
        allowOverwrite: true,
        users: { [USER]: { password: PASSWORD, quota: { bytes: 100 * KiB } } },
      });
      const url = `ftp://127.0.0.1:${ftkit.port}`;
      const put = (local: string, name: string) =>
        curl(["--ssl-reqd", "-u", `${USER}:${PASSWORD}`, "-T", local, `${url}/${name}`]);
      try {
        // 40 KiB used: 80 KiB more does not fit. curl sends no ALLO: refused mid-upload.
        const big = await t.file("big.bin", 80 * KiB);
        const refused = await put(big, "big.bin");
        // curl's exit 70: "Exceeded storage allocation", its name for a 552 (RFC 959).
        assert.equal(refused.code, 70, refused.stderr);
        assert.deepEqual(
          await readdir(t.served),
          ["old.bin"],
          "no partial file, no temporary file",
        );
        // 50 KiB fits (90 of 100).
        assert.equal((await put(await t.file("mid.bin", 50 * KiB), "mid.bin")).code, 0);
        // Replacing old.bin (40 KiB) with 50 KiB needs 10 more: 100 of 100 fits.
        const replacement = await t.file("old2.bin", 50 * KiB);
        assert.equal((await put(replacement, "old.bin")).code, 0);
        assert.equal(
          Buffer.compare(await readFile(join(t.served, "old.bin")), await readFile(replacement)),
          0,
        );
        // Full: one byte more is refused; deleting mid.bin gives its 50 KiB back.
        assert.equal((await put(await t.file("one.bin", 1), "one.bin")).code, 70);
        const deleted = await curl([
          "--ssl-reqd",
          "-u",
          `${USER}:${PASSWORD}`,
          "-Q",
          "-DELE mid.bin",
          `${url}/`,
          "-o",
          "/dev/null",
        ]);
        assert.equal(deleted.code, 0, deleted.stderr);
        // 50 KiB free now: 80 KiB is still too much, 40 KiB fits.
        assert.equal((await put(big, "big2.bin")).code, 70);
        assert.equal((await put(await t.file("small.bin", 40 * KiB), "small.bin")).code, 0);
        assert.deepEqual((await readdir(t.served)).sort(), ["old.bin", "small.bin"]);
        const refusals = ftkit.transfers().filter((entry) => entry.outcome === "storage");
        assert.equal(refusals.length, 3, JSON.stringify(ftkit.transfers()));
      } finally {
        await ftkit.close();
        await t.remove();
      }
    },
  );

  test("ALLO: a size that does not fit is 552 before any data (raw, and lftp with ftp:use-allo)", {
    skip,
  }, async () => {
    const t = await tree({ "old.bin": 10 * KiB });
    const ftkit = await startFtkit(t.served, { userQuota: { bytes: 64 * KiB } });
    const raw = await RawFtp.connect(ftkit.port, { ca: CA_PEM });
    try {
      assert.equal((await raw.reply()).code, 220);
      await raw.authTls();
      assert.equal((await raw.login(USER, PASSWORD)).code, 230);
      assert.equal((await raw.command("PBSZ 0")).code, 200);
      assert.equal((await raw.command("PROT P")).code, 200);
      assert.equal((await raw.command("ALLO 60000")).code, 200);
      await raw.epsv();
      // 10 KiB + 60000 bytes > 64 KiB: refused at STOR, before a 150 and before any data.
      const refused = await raw.command("STOR new.bin");
      assert.equal(refused.text, "552 Quota exceeded.");
      // lftp sends ALLO with ftp:use-allo: refused at once, nothing left.
      const local = await t.file("big.bin", 60 * KiB);
      const ran = await lftp(`ftp://127.0.0.1:${ftkit.port}`, [
        "set ftp:use-allo yes",
        `put ${local} -o big.bin`,
      ]);
      assert.notEqual(ran.code, 0);
      assert.match(ran.stderr, /552/);
      assert.deepEqual(await readdir(t.served), ["old.bin"]);
      assert.deepEqual(ftkit.transfers(), [], "no transfer began: no data connection was used");
    } finally {
      raw.close();
      await ftkit.close();
      await t.remove();
    }
  });

  test("files: a new file past the count is 552 at once; replacing one is no new file", {
    skip,
  }, async () => {
    const t = await tree({ "a.bin": 100 });
    const ftkit = await startFtkit(t.served, {
      allowOverwrite: true,
      userQuota: { files: 2 },
    });
    const url = `ftp://127.0.0.1:${ftkit.port}`;
    const put = async (name: string) =>
      await curl([
        "--ssl-reqd",
        "-u",
        `${USER}:${PASSWORD}`,
        "-T",
        await t.file(name, 200),
        `${url}/${name}`,
      ]);
    try {
      assert.equal((await put("b.bin")).code, 0);
      const third = await put("c.bin");
      assert.match(third.stderr, /552/);
      assert.equal((await put("a.bin")).code, 0, "a replacement");
      assert.deepEqual((await readdir(t.served)).sort(), ["a.bin", "b.bin"]);
    } finally {
      await ftkit.close();
      await t.remove();
    }
  });

  test("ftkit ftps serve --quota-bytes and --quota-files reach the server", { skip }, async () => {
    const t = await tree({ "a.bin": 1000 });
    const server = await serveCli(["tcp"], ([port]) => [
      "ftps",
      "serve",
      t.served,
      "--port",
      String(port),
      "--user",
      "fred:secret",
      "--cert",
      join(FIXTURES, "leaf.pem"),
      "--key",
      join(FIXTURES, "leaf.key"),
      "--allow-write",
      "--quota-bytes",
      "2K",
      "--quota-files",
      "2",
      "--quiet",
    ], /^Fetch a file with: curl /);
    const put = async (name: string, size: number) =>
      await curl([
        "--ssl-reqd",
        "-u",
        "fred:secret",
        "-T",
        await t.file(name, size),
        `ftp://127.0.0.1:${server.ports[0]}/${name}`,
      ]);
    try {
      assert.equal((await put("b.bin", 2000)).code, 70, "1000 + 2000 bytes > 2 KiB");
      assert.equal((await put("c.bin", 1000)).code, 0);
      assert.equal((await put("d.bin", 10)).code, 25, "a third file: 552 at STOR");
      assert.deepEqual((await readdir(t.served)).sort(), ["a.bin", "c.bin"]);
    } finally {
      await server.stop();
      await t.remove();
    }
  });
});
