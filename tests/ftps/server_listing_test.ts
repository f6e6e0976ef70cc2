// serveFtps over real loopback sockets with a storage that lists a page at a time (`listPages`):
// LIST, NLST and MLSD of 50 pages of 1000 entries arrive whole and in order while the server
// holds one page at a time; refusals still come before the 150; a page that fails ends the
// transfer with 451; the iterator is returned whenever the server stops early; STAT lists whole.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { connectFtps, type FtpsLogEntry, serveFtps } from "./_connect.ts";
import { dataConnection, RawFtp, readAll } from "./_raw_ftp.ts";
import { FtpStorageError, type ServeFtpsOptions } from "../../ftps/mod.ts";
import { parseFtpFacts, parseFtpListLine } from "../../codec/mod.ts";
import { PagedDirectory, pagedNames, type PagedOptions } from "./_paged.ts";
import { repoFile } from "../_runtime.ts";
import { until, within } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};

const decoder = new TextDecoder();

const LARGE: PagedOptions = { pages: 50, perPage: 1000 };
/** More pages than a paused client's socket buffers can take: the server is still listing. */
const ENDLESS: PagedOptions = { pages: 100_000, perPage: 1000 };

/** Plain FTP control and PROT C data: what is checked is the driver. */
const PLAIN = {
  secure: "none" as const,
  dataProtection: "none" as const,
  host: "127.0.0.1",
  port: 0,
  loginFailureDelayMs: 0,
  users: { fred: "secret" },
};

/** A plain server of `directory`'s storage, with its log and errors. */
async function plainServer(directory: PagedDirectory, options: Partial<ServeFtpsOptions> = {}) {
  const log: FtpsLogEntry[] = [];
  const errors: Error[] = [];
  const server = await serveFtps({
    ...PLAIN,
    storage: directory.storage,
    onLog: (entry) => void log.push(entry),
    onError: (error) => void errors.push(error),
    ...options,
  });
  return { server, log, errors };
}

async function loggedIn(port: number): Promise<RawFtp> {
  const raw = await RawFtp.connect(port);
  try {
    assert.equal((await raw.reply()).code, 220);
    assert.equal((await raw.login("fred", "secret")).code, 230);
    return raw;
  } catch (error) {
    raw.close();
    throw error;
  }
}

/** Everything a data connection gives until it closes, however it closes. */
function readUntilClosed(socket: Socket): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  socket.on("error", () => {});
  return within(
    new Promise<Uint8Array>((resolve) => {
      socket.once("close", () => {
        const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
        let at = 0;
        for (const chunk of chunks) {
          out.set(chunk, at);
          at += chunk.length;
        }
        resolve(out);
      });
    }),
    "the data connection's close",
  );
}

/** The names in a listing's data, by its command. */
function namesIn(verb: "LIST" | "NLST" | "MLSD", data: Uint8Array): string[] {
  const lines = decoder.decode(data).split("\r\n");
  assert.equal(lines.pop(), "", `${verb}: every line ends in CRLF`);
  if (verb === "NLST") return lines;
  if (verb === "MLSD") return lines.map((line) => parseFtpFacts(line).name);
  return lines.map((line) => parseFtpListLine(line)?.name ?? `unparsed: ${line}`);
}

describe("serveFtps: listings from a storage that lists a page at a time", () => {
  test("ftkit's client over TLS: MLSD of 50 pages of 1000 entries, in order, one page at a time", async () => {
    const directory = new PagedDirectory(LARGE);
    await using server = await serveFtps({
      tls,
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
      users: { fred: "secret" },
      storage: directory.storage,
    });
    const ftp = await connectFtps({
      host: "127.0.0.1",
      port: server.address.port,
      user: "fred",
      password: "secret",
      ca,
      servername: "localhost",
      timeoutMs: 30_000,
    });
    try {
      const entries = await ftp.list("/big");
      assert.deepEqual(entries.map((entry) => entry.name), pagedNames(LARGE));
      assert.equal(entries[1].size, 1);
      assert.equal(directory.pulled, 50);
      assert.equal(directory.formatted, 50);
      assert.equal(directory.maxAhead, 1, "each page formatted before the next was asked for");
      assert.equal(directory.listCalls, 0, "never the whole list");
      assert.equal(directory.returned, 0, "an iterator read to its end is not returned");
    } finally {
      await ftp.close();
    }
  });

  test("LIST, NLST and MLSD (TYPE A too): every entry in order; the log counts every byte", async () => {
    const directory = new PagedDirectory(LARGE);
    const { server, log } = await plainServer(directory);
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    try {
      for (const [verb, type] of [["LIST", "A"], ["NLST", "I"], ["MLSD", "A"]] as const) {
        assert.equal((await raw.command(`TYPE ${type}`)).code, 200);
        const pulled = directory.pulled;
        const data = await dataConnection(await raw.epsv());
        const received = readAll(data);
        assert.equal((await raw.command(`${verb} /big`)).code, 150, verb);
        const bytes = await received;
        assert.equal((await raw.reply()).code, 226, verb);
        assert.deepEqual(namesIn(verb, bytes), pagedNames(LARGE), verb);
        assert.equal(directory.pulled - pulled, 50, verb);
        await until(
          () => log.some((entry) => entry.type === "transfer" && entry.command === verb),
          "its log entry",
        );
        const logged = log.find((entry) => entry.type === "transfer" && entry.command === verb);
        assert.ok(logged?.type === "transfer");
        assert.equal(logged.outcome, "ok", verb);
        assert.equal(logged.bytes, bytes.length, verb);
      }
      assert.equal(directory.maxAhead, 1);
      assert.equal(directory.listCalls, 0);
      assert.equal((await raw.command("NOOP")).code, 200);
    } finally {
      raw.close();
    }
  });

  test("per-directory permissions: a refused list is 550 before any 150, the pages never asked", async () => {
    const directory = new PagedDirectory({ pages: 3, perPage: 4 });
    const { server } = await plainServer(directory, {
      users: { fred: { password: "secret", permissions: { "/": ["read"], "/big": ["list"] } } },
    });
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    try {
      for (const verb of ["LIST", "NLST", "MLSD"]) {
        const data = await dataConnection(await raw.epsv());
        const reply = await raw.command(`${verb} /`);
        assert.equal(reply.text, "550 Permission denied.", verb);
        data.destroy();
      }
      assert.equal(directory.listPagesCalls, 0, "the wrapper refused before asking");
      assert.equal((await raw.command("STAT /")).text, "550 Permission denied.");
      // Where list is allowed, the wrapper passes the pages on.
      const data = await dataConnection(await raw.epsv());
      const received = readAll(data);
      assert.equal((await raw.command("NLST /big")).code, 150);
      assert.deepEqual(namesIn("NLST", await received), pagedNames({ pages: 3, perPage: 4 }));
      assert.equal((await raw.reply()).code, 226);
      assert.equal(directory.listPagesCalls, 1);
    } finally {
      raw.close();
    }
  });

  test("a refused first page is answered in place of the 150", async () => {
    const directory = new PagedDirectory({
      pages: 3,
      perPage: 4,
      failAt: 0,
      failure: new FtpStorageError(450, "Listing busy."),
    });
    const { server, errors } = await plainServer(directory);
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    try {
      const data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("LIST /big")).text, "450 Listing busy.");
      data.destroy();
      assert.equal((await raw.command("NOOP")).code, 200);
      assert.deepEqual(errors, []);
    } finally {
      raw.close();
    }
  });

  test("a page failing after the first: the first page's bytes, then 451, and the session goes on", async () => {
    for (
      const [failure, text] of [
        [new Error("The store broke."), "451 Local error."],
        [new FtpStorageError(450, "Throttled."), "451 Throttled."],
      ] as const
    ) {
      const directory = new PagedDirectory({ ...LARGE, failAt: 1, failure });
      const { server, errors, log } = await plainServer(directory);
      await using _ = server;
      const raw = await loggedIn(server.address.port);
      try {
        const data = await dataConnection(await raw.epsv());
        const received = readUntilClosed(data);
        assert.equal((await raw.command("NLST /big")).code, 150);
        assert.equal((await raw.reply()).text, text);
        const names = decoder.decode(await received).split("\r\n").filter(Boolean);
        assert.deepEqual(names, pagedNames({ pages: 1, perPage: 1000 }), "the first page, no more");
        assert.equal((await raw.command("NOOP")).code, 200);
        // Only an error the storage did not mean for the client is reported.
        assert.deepEqual(errors, failure instanceof FtpStorageError ? [] : [failure]);
        await until(
          () => log.some((entry) => entry.type === "transfer"),
          "the transfer's log entry",
        );
        const logged = log.find((entry) => entry.type === "transfer");
        assert.equal(logged?.type === "transfer" && logged.outcome, "storage");
        assert.equal(directory.returned, 0, "an iterator that failed is not returned");
      } finally {
        raw.close();
      }
    }
  });

  test("ABOR mid-listing: 426 then 226, and the iterator is returned", async () => {
    const directory = new PagedDirectory(ENDLESS);
    const { server } = await plainServer(directory);
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    try {
      const data = await dataConnection(await raw.epsv());
      data.pause(); // never read: the server waits on its writes
      assert.equal((await raw.command("LIST /big")).code, 150);
      await until(() => directory.pulled >= 2, "a second page asked for");
      assert.equal((await raw.command("ABOR")).code, 426);
      assert.equal((await raw.reply()).code, 226);
      await until(() => directory.returned === 1, "the iterator returned");
      data.destroy();
      assert.equal((await raw.command("NOOP")).code, 200);
      assert.ok(directory.pulled < ENDLESS.pages, "the listing stopped");
      assert.equal(directory.maxAhead, 1);
    } finally {
      raw.close();
    }
  });

  test("a data connection that breaks mid-listing: 426, and the iterator is returned", async () => {
    const directory = new PagedDirectory(ENDLESS);
    const { server } = await plainServer(directory);
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    try {
      const data = await dataConnection(await raw.epsv());
      const first = new Promise<void>((resolve) => data.once("data", () => resolve()));
      data.on("error", () => {});
      assert.equal((await raw.command("MLSD /big")).code, 150);
      await within(first, "the listing's first bytes");
      data.destroy();
      assert.equal((await raw.reply()).code, 426);
      await until(() => directory.returned === 1, "the iterator returned");
      assert.equal((await raw.command("NOOP")).code, 200);
    } finally {
      raw.close();
    }
  });

  test("a data connection that never comes: 425, and the iterator is returned", async () => {
    const directory = new PagedDirectory(LARGE);
    const { server } = await plainServer(directory, { dataTimeoutMs: 300 });
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    try {
      await raw.epsv();
      assert.equal((await raw.command("NLST /big")).code, 150);
      assert.equal((await raw.reply()).code, 425);
      await until(() => directory.returned === 1, "the iterator returned");
      assert.equal(directory.pulled, 1, "only the first page was read");
    } finally {
      raw.close();
    }
  });

  test("the session closing before its listing's data connection comes: the iterator is returned", async () => {
    const directory = new PagedDirectory(LARGE);
    const { server } = await plainServer(directory);
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    await raw.epsv();
    assert.equal((await raw.command("LIST /big")).code, 150);
    raw.close();
    await until(() => directory.returned === 1, "the iterator returned");
    assert.equal(directory.pulled, 1);
  });

  test("STAT lists the whole directory from list; a storage without listPages lists as before", async () => {
    const small = { pages: 3, perPage: 4 };
    for (const wholeOnly of [false, true]) {
      const directory = new PagedDirectory({ ...small, wholeOnly });
      const { server } = await plainServer(directory);
      await using _ = server;
      const raw = await loggedIn(server.address.port);
      try {
        const status = (await raw.command("STAT /big")).text.split("\n");
        assert.equal(status[0], "213-Status of /big:");
        assert.equal(status.at(-1), "213 End of status");
        assert.deepEqual(
          status.slice(1, -1).map((line) => parseFtpListLine(line)?.name),
          pagedNames(small),
        );
        assert.equal(directory.listCalls, 1);
        assert.equal(directory.listPagesCalls, 0);
        const data = await dataConnection(await raw.epsv());
        const received = readAll(data);
        assert.equal((await raw.command("MLSD /big")).code, 150);
        assert.deepEqual(namesIn("MLSD", await received), pagedNames(small));
        assert.equal((await raw.reply()).code, 226);
        assert.equal(directory.listCalls, wholeOnly ? 2 : 1);
        assert.equal(directory.listPagesCalls, wholeOnly ? 0 : 1);
      } finally {
        raw.close();
      }
    }
  });

  test("an empty directory from listPages: 150, no bytes, 226", async () => {
    const directory = new PagedDirectory({ pages: 0, perPage: 1000 });
    const { server } = await plainServer(directory);
    await using _ = server;
    const raw = await loggedIn(server.address.port);
    try {
      const data = await dataConnection(await raw.epsv());
      const received = readAll(data);
      assert.equal((await raw.command("LIST /big")).code, 150);
      assert.equal((await received).length, 0);
      assert.equal((await raw.reply()).code, 226);
      assert.equal(directory.returned, 0);
    } finally {
      raw.close();
    }
  });
});
