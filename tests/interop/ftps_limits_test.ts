// ftkit's FTPS server limits with real clients: sessions per user, and bandwidth per server and
// per user (token buckets in the driver). A throttled transfer is checked against the least time
// its rate allows (a loaded machine only makes it slower), never against an upper bound.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import { PASSWORD, USER } from "./_ftps_servers.ts";
import { CA_PEM, curl, lftp, logged, startFtkit } from "./_ftps_clients.ts";
import { RawFtp } from "../ftps/_raw_ftp.ts";
import { connectFtps } from "../ftps/_connect.ts";
import { serveCli } from "../_cli_serve.ts";
import { FIXTURES } from "./_ftps_servers.ts";

const KiB = 1024;

let root: { path: string; remove(): Promise<void> };
before(async () => {
  root = await tempDir("ftkit-limits-");
  await writeFile(join(root.path, "big.bin"), bytesOf(384 * KiB, 3));
});
after(() => root.remove());

describe("ftkit FTPS server: sessions per user", () => {
  test("a login past the user's limit is 530 and counts as no failure; REIN and QUIT free it", async () => {
    const ftkit = await startFtkit(root.path, {
      maxSessionsPerUser: 1,
      users: { [USER]: PASSWORD, bob: { password: "pw", maxSessions: 2 } },
      // One failed login would lock the address out: the refusals below must not count.
      lockout: { attempts: 1, windowMs: 600_000, durationMs: 600_000 },
    });
    const open: RawFtp[] = [];
    const login = async (user: string, password: string) => {
      const raw = await RawFtp.connect(ftkit.port, { ca: CA_PEM });
      open.push(raw);
      assert.equal((await raw.reply()).code, 220);
      await raw.authTls();
      return { raw, reply: await raw.login(user, password) };
    };
    try {
      const first = await login(USER, PASSWORD);
      assert.equal(first.reply.code, 230);
      const second = await login(USER, PASSWORD);
      assert.equal(second.reply.code, 530);
      assert.equal(second.reply.text, "530 Too many sessions for this user.");
      // Another user has slots of their own; bob's own limit (2) overrides the server's.
      assert.equal((await login("bob", "pw")).reply.code, 230);
      assert.equal((await login("bob", "pw")).reply.code, 230);
      assert.equal((await login("bob", "pw")).reply.code, 530);
      // REIN logs the first session out: its slot is free for the second, on the same session.
      assert.equal((await first.raw.command("REIN")).code, 220);
      // (REIN cleared TLS: the second session asks again, still under TLS.)
      assert.equal((await second.raw.login(USER, PASSWORD)).code, 230);
      // QUIT frees a slot too.
      assert.equal((await second.raw.command("QUIT")).code, 221);
      await second.raw.closed();
      const third = await login(USER, PASSWORD);
      assert.equal(third.reply.code, 230);
      const entries = await logged(
        ftkit.log,
        0,
        (entry) => entry.type === "login" && entry.refused === "max-sessions-per-user",
        2,
      );
      assert.equal(entries.length, 2);
      assert.ok(entries.every((entry) => entry.type === "login" && !entry.ok));
    } finally {
      for (const raw of open) raw.close();
      await ftkit.close();
    }
  });
});

describe("ftkit ftps serve: limits from the command line", () => {
  test("--max-sessions-per-user and the rates reach the server", async () => {
    const server = await serveCli(["tcp"], ([port]) => [
      "ftps",
      "serve",
      root.path,
      "--port",
      String(port),
      "--user",
      "fred:secret",
      "--cert",
      join(FIXTURES, "leaf.pem"),
      "--key",
      join(FIXTURES, "leaf.key"),
      "--max-sessions-per-user",
      "1",
      "--download-rate",
      "64K",
      "--quiet",
    ], /^Fetch a file with: curl /);
    const open: RawFtp[] = [];
    try {
      const login = async () => {
        const raw = await RawFtp.connect(server.ports[0], { ca: CA_PEM });
        open.push(raw);
        assert.equal((await raw.reply()).code, 220);
        await raw.authTls();
        return await raw.login("fred", "secret");
      };
      assert.equal((await login()).code, 230);
      assert.equal((await login()).text, "530 Too many sessions for this user.");
      // The slot is free once the server has closed the first session.
      const [first] = open;
      assert.equal((await first.command("QUIT")).code, 221);
      await first.closed();
      // The rate: 384 KiB at 64 KiB/s, less a 16 KiB burst, takes at least 5.75 s.
      await using client = await connectFtps({
        host: "127.0.0.1",
        port: server.ports[0],
        user: "fred",
        password: "secret",
        ca: CA_PEM,
        servername: "localhost",
      });
      const started = performance.now();
      const got = await client.get("big.bin");
      const elapsed = performance.now() - started;
      assert.equal(got.length, 384 * KiB);
      const least = ((384 - 16) * KiB / (64 * KiB)) * 1000;
      assert.ok(elapsed >= least * 0.95, `${elapsed.toFixed(0)} ms, under ${least} ms`);
    } finally {
      for (const raw of open) raw.close();
      await server.stop();
    }
  });
});

describe("ftkit FTPS server: bandwidth", () => {
  const skip = missing("curl", "lftp");

  test("the server's download rate paces RETR (ftkit's client), byte for byte", async () => {
    const rate = 128 * KiB;
    const ftkit = await startFtkit(root.path, { bandwidth: { download: rate } });
    try {
      await using client = await connectFtps({
        host: "127.0.0.1",
        port: ftkit.port,
        user: USER,
        password: PASSWORD,
        ca: CA_PEM,
        servername: "localhost",
      });
      const started = performance.now();
      const got = await client.get("big.bin");
      const elapsed = performance.now() - started;
      assert.equal(Buffer.compare(got, await readFile(join(root.path, "big.bin"))), 0);
      // 384 KiB, of which a burst of 32 KiB (a quarter second) goes at once: at least 2.75 s.
      const least = ((384 - 32) * KiB / rate) * 1000;
      assert.ok(elapsed >= least * 0.95, `${elapsed.toFixed(0)} ms, under ${least} ms`);
    } finally {
      await ftkit.close();
    }
  });

  test("a user's upload rate paces STOR from lftp, shared by the user's sessions", {
    skip,
  }, async () => {
    const rate = 64 * KiB;
    const dir = await tempDir("ftkit-limits-up-");
    const ftkit = await startFtkit(dir.path, { userBandwidth: { upload: rate } });
    try {
      const local = join(root.path, "big.bin");
      const started = performance.now();
      // Two uploads at once by the same user: together they keep to the user's rate.
      const [a, b] = await Promise.all([
        lftp(`ftp://127.0.0.1:${ftkit.port}`, [`put ${local} -o a.bin`]),
        lftp(`ftp://127.0.0.1:${ftkit.port}`, [`put ${local} -o b.bin`]),
      ]);
      const elapsed = performance.now() - started;
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const sent = await readFile(local);
      for (const name of ["a.bin", "b.bin"]) {
        assert.equal(Buffer.compare(await readFile(join(dir.path, name)), sent), 0, name);
      }
      // 768 KiB at 64 KiB/s, less a 16 KiB burst: at least 11.75 s.
      const least = ((768 - 16) * KiB / rate) * 1000;
      assert.ok(elapsed >= least * 0.95, `${elapsed.toFixed(0)} ms, under ${least} ms`);
    } finally {
      await ftkit.close();
      await dir.remove();
    }
  });

  test(
    "a client that gives up a throttled download ends its transfer (curl)",
    { skip },
    async () => {
      const ftkit = await startFtkit(root.path, { bandwidth: { download: 1024 } });
      try {
        // 384 KiB at 1 KiB/s would take six minutes: curl gives up after 2 s, and the server's
        // transfer ends as soon as the client is gone.
        const outcome = await curl([
          "--ssl-reqd",
          "--max-time",
          "2",
          `ftp://${USER}:${PASSWORD}@127.0.0.1:${ftkit.port}/big.bin`,
          "-o",
          "/dev/null",
        ]);
        assert.equal(outcome.code, 28, outcome.stderr);
        const [entry] = await logged(ftkit.log, 0, (entry) => entry.type === "transfer");
        assert.ok(
          entry && entry.type === "transfer" && entry.outcome !== "ok",
          JSON.stringify(entry),
        );
      } finally {
        await ftkit.close();
      }
    },
  );
});
