// A protected download's end, at the byte level: a scripted server (_scripted_ftps.ts) ends each
// download's TLS data connection with close_notify, or with a bare FIN (RFC 8446 section 6.1's
// truncation; RFC 4217 sections 12.6 and 12.7: a data connection ends with a TLS shutdown), and
// answers 226 either way. A RETR cut short so is refused (FtpTruncationError), and retried with
// REST under `retry`; one whose bytes are the file's SIZE is whole; a listing is refused unless
// `requireCloseNotify: false`. Every client transport of the runtime runs each test.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FtpsClient, FtpTruncationError } from "../../ftps/mod.ts";
import { clientTransports } from "./_connect.ts";
import { CA, scriptedFtps, type ScriptedFtpsOptions } from "./_scripted_ftps.ts";

/** 3 MB and a bit, not a multiple of a TLS record. */
const FILE = Uint8Array.from({ length: 3 * 1024 * 1024 + 4321 }, (_, i) => (i * 31 + 7) & 0xff);
/** Where the truncated download stops: mid-record. */
const CUT = 98_304 + 1000;
const LISTING = "-rw-r--r-- 1 ftp ftp 5 Jan 01 2026 a.txt\r\n";

for (const { name, transport } of clientTransports) {
  describe(`FtpsClient: a protected download's end, close_notify or a bare FIN (${name})`, () => {
    const withServer = async (
      options: ScriptedFtpsOptions,
      run: (client: FtpsClient, commands: string[]) => Promise<void>,
      extra: { retry?: { attempts: number; baseDelayMs: number }; requireCloseNotify?: false } = {},
    ) => {
      const server = await scriptedFtps({
        ...options,
        replies: { SIZE: `213 ${FILE.length}`, ...options.replies },
      });
      try {
        const client = await FtpsClient.connect({
          host: "127.0.0.1",
          port: server.port,
          ca: CA,
          servername: "localhost",
          user: "fred",
          password: "pass",
          transport,
          timeoutMs: 10_000,
          ...extra,
        });
        try {
          await run(client, server.commands);
        } finally {
          await client.close();
        }
      } finally {
        await server.close();
      }
    };
    const file = (end: "close_notify" | "fin", cut?: number) => (offset: number) => ({
      bytes: FILE.subarray(offset, cut),
      end,
    });

    test("a download that ends with close_notify is whole, and SIZE is not asked", async () => {
      await withServer({ downloads: { "RETR f.bin": file("close_notify") } }, async (c, sent) => {
        const got = await c.get("f.bin");
        assert.ok(Buffer.compare(got, FILE) === 0, "byte for byte");
        assert.deepEqual(sent.filter((line) => line.startsWith("SIZE")), []);
      });
    });

    test("a download cut short by a bare FIN, answered 226, rejects: it may be truncated", async () => {
      await withServer({ downloads: { "RETR f.bin": file("fin", CUT) } }, async (client) => {
        await assert.rejects(client.get("f.bin"), (error: unknown) => {
          assert.ok(error instanceof FtpTruncationError, String(error));
          assert.equal(error.received, CUT);
          assert.equal(error.expected, FILE.length);
          assert.match(error.message, /without TLS close_notify.*truncated/);
          return true;
        });
        // The session goes on.
        assert.equal(await client.pwd(), "/");
      });
    });

    test("a whole download ended by a bare FIN is accepted: its bytes are the file's SIZE", async () => {
      await withServer({ downloads: { "RETR f.bin": file("fin") } }, async (client, sent) => {
        const got = await client.get("f.bin");
        assert.ok(Buffer.compare(got, FILE) === 0, "byte for byte");
        assert.deepEqual(sent.filter((line) => line.startsWith("SIZE")), ["SIZE f.bin"]);
      });
    });

    test("getFile leaves the target as it was when the download is cut short by a FIN", async () => {
      const dir = await mkdtemp(join(tmpdir(), "ftkit-eof-"));
      try {
        const local = join(dir, "f.bin");
        await writeFile(local, "before");
        await withServer({ downloads: { "RETR f.bin": file("fin", CUT) } }, async (client) => {
          await assert.rejects(client.getFile("f.bin", local), FtpTruncationError);
        });
        assert.equal(await readFile(local, "utf8"), "before");
        assert.deepEqual(await readdir(dir), ["f.bin"]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("with retry, a download cut short by a FIN goes on with REST and completes", async () => {
      const downloads = {
        "RETR f.bin": (offset: number, attempt: number) =>
          attempt === 1 ? file("fin", CUT)(offset) : file("close_notify")(offset),
      };
      await withServer({ downloads }, async (client, sent) => {
        const got = await client.get("f.bin");
        assert.ok(Buffer.compare(got, FILE) === 0, "byte for byte");
        assert.ok(sent.includes(`REST ${CUT}`), sent.join(", "));
      }, { retry: { attempts: 3, baseDelayMs: 1 } });
    });

    test("a listing ended by a bare FIN rejects, unless requireCloseNotify is false", async () => {
      const listing = (end: "close_notify" | "fin") => () => ({
        bytes: new TextEncoder().encode(LISTING),
        end,
      });
      await withServer({ downloads: { LIST: listing("fin") } }, async (client) => {
        await assert.rejects(client.list(), FtpTruncationError);
      });
      await withServer({ downloads: { LIST: listing("fin") } }, async (client) => {
        assert.deepEqual((await client.list()).map((entry) => entry.name), ["a.txt"]);
      }, { requireCloseNotify: false });
      await withServer({ downloads: { LIST: listing("close_notify") } }, async (client) => {
        assert.deepEqual((await client.list()).map((entry) => entry.name), ["a.txt"]);
      });
    });

    test("requireCloseNotify: false takes a download cut by a FIN at the server's 226", async () => {
      await withServer({ downloads: { "RETR f.bin": file("fin", CUT) } }, async (client) => {
        assert.equal((await client.get("f.bin")).length, CUT);
      }, { requireCloseNotify: false });
    });
  });
}
