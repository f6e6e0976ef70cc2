// serveFtps under an upload larger than the server should hold, in raw bytes: the bytes the
// server has written to its storage are let go of while the upload goes on. A server that kept
// each chunk until the transfer ended (a watchdog raced by every read, whose reactions held each
// read's result) would hold a whole upload in memory: a client that uploads more than the server
// has memory for brings it down.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "node:net";
import { serveFtps } from "./_connect.ts";
import { dataConnection, RawFtp } from "./_raw_ftp.ts";
import { ftpDirectoryStorage, type FtpStorage } from "../../ftps/mod.ts";
import { repoFile } from "../_runtime.ts";
import { collector } from "../_gc.ts";
import { within } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};
const gc = collector();

/** 48 MiB sent; the check is made once 24 MiB are written (chunks of up to 1 MiB: 20 or more). */
const TOTAL = 48 << 20;
const CHECK_AT = 24 << 20;

/** Writes `total` bytes to `socket` in 64 KiB pieces, waiting for a drain when it is full. */
async function pump(socket: Socket, total: number): Promise<void> {
  const piece = new Uint8Array(65536).fill(0x5a);
  for (let sent = 0; sent < total; sent += piece.length) {
    if (!socket.write(piece)) {
      await within(
        new Promise((resolve) => socket.once("drain", resolve)),
        "the server to read on",
      );
    }
  }
  socket.end();
}

describe("serveFtps holds no upload in memory", () => {
  let root: string;
  let server: Awaited<ReturnType<typeof serveFtps>>;
  /** What the storage was given, as WeakRefs: the server must not keep these. */
  const given: WeakRef<Uint8Array>[] = [];
  let written = 0;
  let alive: number | undefined;
  /** How many chunks were checked. */
  let checked = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-memory-"));
    const directory = ftpDirectoryStorage(root, { allowWrite: true });
    // The directory's storage, but an upload's bytes go nowhere: only the server could hold them.
    const storage: FtpStorage = Object.assign(Object.create(directory), {
      write: () =>
        Promise.resolve({
          async write(bytes: Uint8Array) {
            given.push(new WeakRef(bytes));
            written += bytes.length;
            if (alive === undefined && written >= CHECK_AT) {
              // Every chunk but this one and the one before is the server's no more.
              await gc();
              const before = given.slice(0, -2);
              checked = before.length;
              alive = before.filter((ref) => ref.deref() !== undefined).length;
            }
          },
          commit: () => Promise.resolve(),
          abort: () => Promise.resolve(),
        }),
    });
    server = await serveFtps({
      storage,
      allowWrite: true,
      users: { fred: "secret" },
      tls,
      dataProtection: "optional",
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
    });
  });
  after(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  test("the chunks of an upload are let go of once written, while it runs", async () => {
    const ftp = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await ftp.reply()).code, 220);
      await ftp.authTls();
      assert.equal((await ftp.login("fred", "secret")).code, 230);
      assert.equal((await ftp.command("PBSZ 0")).code, 200);
      assert.equal((await ftp.command("PROT C")).code, 200);
      assert.equal((await ftp.command("TYPE I")).code, 200);
      const data = await dataConnection(await ftp.epsv());
      assert.equal((await ftp.command("STOR big.bin")).code, 150);
      await pump(data, TOTAL);
      assert.equal((await ftp.reply()).code, 226);
      assert.equal(written, TOTAL);
      assert.ok(checked >= 20, `checked mid-upload, ${checked} chunks`);
      // Bun's collector scans the stack conservatively: a stale word may keep one or two. A
      // server that kept its chunks would hold them all.
      assert.ok(alive! <= 3, `${alive} of ${checked} chunks written were still held`);
    } finally {
      ftp.close();
    }
  });
});
