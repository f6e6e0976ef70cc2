// serveFtps over real loopback sockets, under the runtime running the tests: ftkit's own client
// against it, and a hand-driven control connection for the hardening (line cap, timeouts,
// session limits, failed logins and lockout, ABOR, partial uploads, data connection checks).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  clientTransports,
  connectFtps,
  FtpReplyError,
  type FtpsLogEntry,
  serveFtps,
} from "./_connect.ts";
import { dataConnection, RawFtp, readAll } from "./_raw_ftp.ts";
import {
  createFtpsCertificate,
  ftpDirectoryStorage,
  FtpsClient,
  type FtpSocket,
  type FtpStorage,
  FtpStorageError,
  type FtpTransport,
} from "../../ftps/mod.ts";
import { nodeFtpServerTransport } from "../../ftps/adapters/_node_tcp.ts";
import { serveFtpsWith } from "../../ftps/server.ts";
import { repoFile } from "../_runtime.ts";
import { pattern as bytes } from "../tftp/_script.ts";
import { freeTcpPort } from "../interop/_peers.ts";
import { until, within } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};

async function served(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "ftkit-serve-"));
  await writeFile(join(root, "hello.txt"), "hello\nworld\n");
  await writeFile(join(root, "big.bin"), bytes(8 << 20, 7));
  return root;
}

async function client(port: number, options: { implicit?: boolean; user?: string } = {}) {
  return await connectFtps({
    host: "127.0.0.1",
    port,
    secure: options.implicit ? "implicit" : "explicit",
    user: options.user ?? "fred",
    password: "secret",
    ca,
    servername: "localhost",
    timeoutMs: 30_000,
  });
}

describe("serveFtps with ftkit's client", () => {
  let root: string;
  let server: Awaited<ReturnType<typeof serveFtps>>;
  const log: FtpsLogEntry[] = [];
  before(async () => {
    root = await served();
    server = await serveFtps({
      root,
      allowWrite: true,
      // APPE and REST then STOR onto existing files below.
      allowOverwrite: true,
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
      onLog: (entry) => log.push(entry),
    });
  });
  after(async () => {
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test("getFile: a failed download leaves the local file as it was; offset continues one", async () => {
    const ftp: FtpsClient = await client(server.address.port);
    const local = await mkdtemp(join(tmpdir(), "ftkit-getfile-"));
    try {
      const target = join(local, "big.bin");
      await writeFile(target, "the user's own file");
      await assert.rejects(ftp.getFile("missing.bin", target), /550/);
      assert.equal(await readFile(target, "utf8"), "the user's own file");
      assert.deepEqual(await readdir(local), ["big.bin"]);
      const whole = new Uint8Array(await readFile(join(root, "big.bin")));
      await ftp.getFile("big.bin", target);
      assert.deepEqual(new Uint8Array(await readFile(target)), whole);
      // A download that broke off after 3 MiB (and left a stale tail) continues from there.
      await writeFile(target, Buffer.concat([whole.subarray(0, 3 << 20), Buffer.from("stale")]));
      await ftp.getFile("big.bin", target, { offset: 3 << 20 });
      assert.deepEqual(new Uint8Array(await readFile(target)), whole);
      assert.deepEqual(await readdir(local), ["big.bin"]);
    } finally {
      await ftp.close();
      await rm(local, { recursive: true, force: true });
    }
  });

  test("explicit TLS: every file operation, checked on disk", async () => {
    const ftp: FtpsClient = await client(server.address.port);
    try {
      const names = (await ftp.list()).map((entry) => entry.name).sort();
      assert.deepEqual(names, ["big.bin", "hello.txt"]);
      assert.deepEqual(
        await ftp.get("big.bin"),
        new Uint8Array(await readFile(join(root, "big.bin"))),
      );
      assert.equal(await ftp.size("big.bin"), 8 << 20);
      assert.ok((await ftp.lastModified("hello.txt")) instanceof Date);
      await ftp.mkdir("up");
      await ftp.put("up/a.bin", bytes(300_000, 3));
      assert.deepEqual(new Uint8Array(await readFile(join(root, "up/a.bin"))), bytes(300_000, 3));
      await ftp.append("up/a.bin", new TextEncoder().encode("tail"));
      assert.equal((await readFile(join(root, "up/a.bin"))).length, 300_004);
      // putFile with an offset (REST) sends the local file from that byte on.
      const localDir = await mkdtemp(join(tmpdir(), "ftkit-putfile-"));
      try {
        await writeFile(join(localDir, "c.bin"), bytes(300_000, 5));
        await ftp.put("up/c.bin", bytes(300_000, 5).subarray(0, 100_000));
        await ftp.putFile(join(localDir, "c.bin"), "up/c.bin", { offset: 100_000 });
        const stored = await readFile(join(root, "up/c.bin"));
        assert.equal(stored.length, 300_000);
        assert.ok(Buffer.compare(stored, bytes(300_000, 5)) === 0, "byte for byte");
        await ftp.remove("up/c.bin");
      } finally {
        await rm(localDir, { recursive: true, force: true });
      }
      await ftp.rename("up/a.bin", "up/b.bin");
      await ftp.cd("up");
      assert.equal(await ftp.pwd(), "/up");
      await ftp.remove("b.bin");
      await ftp.cd("/");
      await ftp.removeDir("up");
      assert.deepEqual((await readdir(root)).sort(), ["big.bin", "hello.txt"]);
      // The data connections resumed the control connection's TLS session.
      assert.equal(ftp.lastTransfer?.resumed, true);
    } finally {
      await ftp.close();
    }
    const transfers = log.filter((entry) => entry.type === "transfer");
    assert.ok(transfers.length >= 4);
    assert.ok(transfers.every((entry) => entry.outcome === "ok" && entry.tls !== undefined));
    // ftkit's client ends each protected upload with close_notify (RFC 4217 section 12.7).
    const uploads = transfers.filter((entry) => entry.direction === "receive");
    assert.ok(uploads.length >= 2);
    assert.ok(uploads.every((entry) => entry.closeNotified === true), JSON.stringify(uploads));
  });

  test("the storage's refusals reach the client as replies", async () => {
    const ftp = await client(server.address.port);
    try {
      await assert.rejects(ftp.get("missing.txt"), (error: unknown) => {
        assert.ok(error instanceof FtpReplyError);
        assert.equal(error.code, 550);
        assert.ok(!error.message.includes(root), "no server path in the reply");
        return true;
      });
      await assert.rejects(ftp.get("../../etc/passwd"), FtpReplyError);
      await assert.rejects(ftp.removeDir("hello.txt"), FtpReplyError);
    } finally {
      await ftp.close();
    }
  });

  test("a wrong password is refused with 530", async () => {
    await assert.rejects(
      connectFtps({
        host: "127.0.0.1",
        port: server.address.port,
        secure: "explicit",
        user: "fred",
        password: "wrong",
        ca,
        servername: "localhost",
      }),
      (error: unknown) => error instanceof FtpReplyError && error.code === 530,
    );
  });
});

describe("serveFtps: uploads are create-only unless allowOverwrite", () => {
  /** Rejects with a 550 whose text is `text`. */
  const refused550 = (text: string) => (error: unknown) => {
    assert.ok(error instanceof FtpReplyError, String(error));
    assert.equal(error.code, 550);
    assert.match(error.message, new RegExp(text));
    return true;
  };

  test("STOR, APPE, REST then STOR and RNTO onto a file are 550; its bytes stay", async () => {
    const root = await served();
    const own = await mkdtemp(join(tmpdir(), "ftkit-own-"));
    try {
      await writeFile(join(own, "mine.txt"), "mine");
      await using server = await serveFtps({
        root,
        allowWrite: true,
        users: {
          fred: "secret",
          olga: { password: "secret", allowOverwrite: true },
          jo: { password: "secret", root: own, allowOverwrite: true },
        },
        tls,
        host: "127.0.0.1",
        port: 0,
      });
      const hello = await readFile(join(root, "hello.txt"));
      const fred = await client(server.address.port);
      try {
        const overwrite = refused550("Overwrite permission denied");
        await assert.rejects(fred.put("hello.txt", "replaced"), overwrite);
        await assert.rejects(fred.put("hello.txt", "tail", { append: true }), overwrite);
        await assert.rejects(fred.put("hello.txt", "resumed", { offset: 6 }), overwrite);
        await fred.put("new.txt", "created");
        await assert.rejects(fred.rename("new.txt", "hello.txt"), refused550("Rename permission"));
        assert.ok(Buffer.compare(await readFile(join(root, "hello.txt")), hello) === 0);
        assert.equal(await readFile(join(root, "new.txt"), "utf8"), "created");
        assert.deepEqual((await readdir(root)).sort(), ["big.bin", "hello.txt", "new.txt"]);
        // The session goes on after each refusal.
        assert.equal(new TextDecoder().decode(await fred.get("hello.txt")), "hello\nworld\n");
      } finally {
        await fred.close();
      }
      // A user's own allowOverwrite, in the server's root and in a root of their own.
      const olga = await client(server.address.port, { user: "olga" });
      try {
        await olga.put("hello.txt", "replaced");
        await olga.put("hello.txt", "+", { append: true });
        assert.equal(await readFile(join(root, "hello.txt"), "utf8"), "replaced+");
        await olga.rename("new.txt", "hello.txt");
        assert.equal(await readFile(join(root, "hello.txt"), "utf8"), "created");
      } finally {
        await olga.close();
      }
      const jo = await client(server.address.port, { user: "jo" });
      try {
        await jo.put("mine.txt", "still mine");
        assert.equal(await readFile(join(own, "mine.txt"), "utf8"), "still mine");
      } finally {
        await jo.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(own, { recursive: true, force: true });
    }
  });

  test("an authenticate hook's true gets the server's allowOverwrite", async () => {
    const root = await served();
    try {
      for (const allowOverwrite of [false, true]) {
        await using server = await serveFtps({
          root,
          allowWrite: true,
          allowOverwrite,
          authenticate: ({ password }) => password === "secret",
          tls,
          host: "127.0.0.1",
          port: 0,
        });
        const ftp = await client(server.address.port);
        try {
          const put = ftp.put("hello.txt", `allowOverwrite: ${allowOverwrite}`);
          if (allowOverwrite) await put;
          else await assert.rejects(put, refused550("Overwrite permission denied"));
        } finally {
          await ftp.close();
        }
      }
      assert.equal(await readFile(join(root, "hello.txt"), "utf8"), "allowOverwrite: true");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("serveFtps: modes and identities", () => {
  let root: string;
  before(async () => (root = await served()));
  after(() => rm(root, { recursive: true, force: true }));

  test("without host, the server listens on loopback only", async () => {
    await using server = await serveFtps({ root, users: { fred: "secret" }, tls, port: 0 });
    assert.equal(server.address.host, "127.0.0.1");
    const ftp = await client(server.address.port);
    try {
      assert.equal(new TextDecoder().decode(await ftp.get("hello.txt")), "hello\nworld\n");
    } finally {
      await ftp.close();
    }
  });

  test("implicit TLS", async () => {
    await using server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls,
      secure: "implicit",
      host: "127.0.0.1",
      port: 0,
    });
    const ftp = await client(server.address.port, { implicit: true });
    try {
      assert.equal(new TextDecoder().decode(await ftp.get("hello.txt")), "hello\nworld\n");
    } finally {
      await ftp.close();
    }
  });

  test("anonymous is read-only, and only when enabled; per-user roots", async () => {
    const own = await mkdtemp(join(tmpdir(), "ftkit-own-"));
    await writeFile(join(own, "mine.txt"), "mine");
    try {
      await using server = await serveFtps({
        root,
        users: { fred: "secret", jo: { password: "secret", root: own, allowWrite: true } },
        anonymous: true,
        tls,
        host: "127.0.0.1",
        port: 0,
      });
      const anonymous = await connectFtps({
        host: "127.0.0.1",
        port: server.address.port,
        secure: "explicit",
        ca,
        servername: "localhost",
      });
      try {
        assert.equal((await anonymous.get("hello.txt")).length, 12);
        await assert.rejects(
          anonymous.put("new.txt", "x"),
          (error: unknown) => error instanceof FtpReplyError && error.code === 550,
        );
      } finally {
        await anonymous.close();
      }
      const jo = await client(server.address.port, { user: "jo" });
      try {
        assert.deepEqual((await jo.list()).map((entry) => entry.name), ["mine.txt"]);
        await jo.put("more.txt", "more");
        assert.equal(await readFile(join(own, "more.txt"), "utf8"), "more");
      } finally {
        await jo.close();
      }
      // fred shares the read-only root.
      const fred = await client(server.address.port);
      try {
        await assert.rejects(fred.put("x.txt", "x"), FtpReplyError);
      } finally {
        await fred.close();
      }

      await using closed = await serveFtps({
        root,
        users: { fred: "secret" },
        tls,
        host: "127.0.0.1",
        port: 0,
      });
      await assert.rejects(
        connectFtps({
          host: "127.0.0.1",
          port: closed.address.port,
          secure: "explicit",
          ca,
          servername: "localhost",
        }),
        (error: unknown) => error instanceof FtpReplyError && error.code === 530,
      );
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });

  test("RFC 4217 section 12.2: a pinned client certificate logs in with 232", async () => {
    const clientCertificate = await createFtpsCertificate({ names: ["fred.client.test"] });
    const stranger = await createFtpsCertificate({ names: ["mallory.client.test"] });
    const log: FtpsLogEntry[] = [];
    await using server = await serveFtps({
      root,
      users: { fred: { certificates: [clientCertificate.fingerprint] } },
      tls: { ...tls, requestClientCertificate: true },
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
      onLog: (entry) => log.push(entry),
    });
    await certificateLogin(server.address.port, clientCertificate, 232);
    await certificateLogin(server.address.port, stranger, 331);
    // A hook that throws refuses the certificate (331, the error reported), as for passwords.
    const errors: Error[] = [];
    await using throwing = await serveFtps({
      root,
      authenticate: () => {
        throw new Error("the directory service is down");
      },
      tls: { ...tls, requestClientCertificate: true },
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
      onError: (error) => void errors.push(error),
    });
    await certificateLogin(throwing.address.port, clientCertificate, 331);
    assert.deepEqual(errors.map((error) => error.message), ["the directory service is down"]);
    assert.deepEqual(
      log.filter((entry) => entry.type === "login").map((entry) =>
        entry.type === "login" && [entry.user, entry.ok, entry.method]
      ),
      [["fred", true, "certificate"], ["fred", false, "certificate"]],
    );
  });
});

/** AUTH TLS with a client certificate, then USER fred: the reply code must be `expected`. */
async function certificateLogin(
  port: number,
  certificate: { certPem: string; keyPem: string },
  expected: number,
): Promise<void> {
  const { connect: tcp } = await import("node:net");
  const { connect } = await import("node:tls");
  const plain = tcp({ host: "127.0.0.1", port });
  plain.on("error", () => {}); // a reset shows as a missing reply below, not an uncaught error
  let text = "";
  const next = async (pattern: RegExp, source: { on: typeof plain.on; off: typeof plain.off }) => {
    const deadline = Date.now() + 30_000;
    while (!pattern.test(text)) {
      if (Date.now() > deadline) throw new Error(`Waiting for ${pattern}: ${text}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          source.off("data", done);
          resolve();
        };
        source.on("data", done);
        setTimeout(done, 100);
      });
    }
  };
  const onPlain = (chunk: Uint8Array) => (text += new TextDecoder().decode(chunk));
  plain.on("data", onPlain);
  try {
    await next(/^220 .*\r\n/, plain);
    plain.write("AUTH TLS\r\n");
    await next(/234 .*\r\n/, plain);
    plain.off("data", onPlain);
    text = "";
    const secure = connect({
      socket: plain,
      ca: await readFile(join(fixtures, "ca.pem"), "utf8"),
      servername: "localhost",
      cert: certificate.certPem,
      key: certificate.keyPem,
    });
    await within(
      new Promise<void>((resolve, reject) => {
        secure.once("secureConnect", () => resolve());
        secure.once("error", reject);
      }),
      "the TLS handshake",
    );
    secure.on("error", () => {});
    secure.on("data", (chunk: Uint8Array) => (text += new TextDecoder().decode(chunk)));
    secure.write("USER fred\r\n");
    await next(/^\d{3} .*\r\n/, secure);
    assert.equal(Number(text.slice(0, 3)), expected, text);
    secure.destroy();
  } finally {
    plain.destroy();
  }
}

describe("serveFtps hardening (plain FTP control, PROT C data: what is checked is the driver)", () => {
  let root: string;
  before(async () => (root = await served()));
  after(() => rm(root, { recursive: true, force: true }));

  const plain = {
    secure: "none" as const,
    dataProtection: "none" as const,
    host: "127.0.0.1",
    port: 0,
    loginFailureDelayMs: 0,
  };

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

  test("an overlong command line is answered 500 and the session closed; memory stays bounded", async () => {
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      maxLineLength: 512,
    });
    const raw = await RawFtp.connect(server.address.port);
    try {
      assert.equal((await raw.reply()).code, 220);
      // 4 MB without a line end: the server must not buffer it.
      const junk = new Uint8Array(64 * 1024).fill(0x41);
      const sending = (async () => {
        for (let i = 0; i < 64 && !raw.ended; i++) await raw.write(junk);
      })();
      const reply = await raw.reply();
      assert.equal(reply.code, 500);
      await raw.closed();
      await within(sending, "the junk sender to stop");
    } finally {
      raw.close();
    }
    // The server goes on serving.
    const next = await loggedIn(server.address.port);
    next.close();
  });

  test("an idle session is closed with 421", async () => {
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      idleTimeoutMs: 300,
      // The idle deadline, not the login one, is what this waits for.
      loginTimeoutMs: 600_000,
    });
    // Nothing is sent after the greeting, so no step of the test can run into the deadline.
    const raw = await RawFtp.connect(server.address.port);
    try {
      assert.equal((await raw.reply()).code, 220);
      const reply = await raw.reply();
      assert.equal(reply.code, 421);
      assert.match(reply.text, /idle/i);
      await raw.closed();
    } finally {
      raw.close();
    }
  });

  test("max sessions, and max sessions per address: 421", async () => {
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      maxSessions: 2,
    });
    const open: RawFtp[] = [];
    try {
      const first = await loggedIn(server.address.port);
      open.push(first);
      open.push(await loggedIn(server.address.port));
      const third = await RawFtp.connect(server.address.port);
      open.push(third);
      const reply = await third.reply();
      assert.equal(reply.code, 421);
      assert.match(reply.text, /Too many connections/);
      await third.closed();
      // One leaves: there is room again once the server has ended that session (bounded wait).
      assert.equal((await first.command("QUIT")).code, 221);
      await first.closed();
      await until(() => server.sessions <= 1, "the server to end the session that quit");
      open.push(await loggedIn(server.address.port));
    } finally {
      for (const raw of open) raw.close();
    }

    await using perIp = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      maxSessionsPerIp: 1,
    });
    const one = await loggedIn(perIp.address.port);
    try {
      const two = await RawFtp.connect(perIp.address.port);
      try {
        assert.equal((await two.reply()).code, 421);
      } finally {
        two.close();
      }
    } finally {
      one.close();
    }
  });

  test("failed logins are answered late, and lock the address out", async () => {
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      loginFailureDelayMs: 250,
      maxLoginAttempts: 5,
      lockout: { attempts: 2, windowMs: 60_000, durationMs: 60_000 },
    });
    const raw = await RawFtp.connect(server.address.port);
    try {
      await raw.reply();
      assert.equal((await raw.command("USER fred")).code, 331);
      const started = performance.now();
      assert.equal((await raw.command("PASS wrong")).code, 530);
      // A lower bound only, which load cannot break: the server's own 250 ms timer starts after
      // the PASS was sent, and nothing can answer before it fires (no upper bound is asserted).
      assert.ok(performance.now() - started >= 200, "the 530 waited for the delay");
      await raw.command("USER fred");
      assert.equal((await raw.command("PASS wrong")).code, 530);
      // Locked out now: even the right password fails in this session...
      await raw.command("USER fred");
      assert.equal((await raw.command("PASS secret")).code, 530);
    } finally {
      raw.close();
    }
    // ...and new connections are turned away.
    const next = await RawFtp.connect(server.address.port);
    try {
      const reply = await next.reply();
      assert.equal(reply.code, 421);
      assert.match(reply.text, /failed logins/);
    } finally {
      next.close();
    }
  });

  test("a refused connection gets one whole 421 line, then the end of the stream", async () => {
    const log: FtpsLogEntry[] = [];
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      maxSessions: 1,
      maxLoginAttempts: 5,
      lockout: { attempts: 1, windowMs: 60_000, durationMs: 60_000 },
      onLog: (entry) => log.push(entry),
    });
    const port = server.address.port;
    const first = await loggedIn(port);
    try {
      // Read as raw bytes to the end: the reply and nothing else, ended cleanly.
      const full = await dataConnection(port);
      assert.equal(
        Buffer.from(await readAll(full)).toString("latin1"),
        "421 Too many connections; try again later.\r\n",
      );
      full.destroy();
      // One failed login locks this address out; its next connection is told so.
      assert.equal((await first.command("USER fred")).code, 331);
      assert.equal((await first.command("PASS wrong")).code, 530);
      const locked = await dataConnection(port);
      assert.equal(
        Buffer.from(await readAll(locked)).toString("latin1"),
        "421 Too many failed logins from your address; try again later.\r\n",
      );
      locked.destroy();
    } finally {
      first.close();
    }
    assert.deepEqual(
      log.flatMap((entry) => entry.type === "refused" ? [entry.reason] : []),
      ["max-sessions", "locked-out"],
    );
  });

  test("a passive data connection that never comes: 425 after the data timeout", async () => {
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      dataTimeoutMs: 300,
    });
    const raw = await loggedIn(server.address.port);
    try {
      await raw.epsv();
      assert.equal((await raw.command("RETR hello.txt")).code, 150);
      assert.equal((await raw.reply()).code, 425);
      assert.equal((await raw.command("NOOP")).code, 200, "the session goes on");
    } finally {
      raw.close();
    }
  });

  test("a stalled download is cut after the data timeout: 426", async () => {
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      dataTimeoutMs: 400,
    });
    const raw = await loggedIn(server.address.port);
    try {
      await raw.command("TYPE I");
      const port = await raw.epsv();
      const data = await dataConnection(port);
      data.pause(); // never read: 8 MB cannot fit in the socket buffers
      assert.equal((await raw.command("RETR big.bin")).code, 150);
      assert.equal((await raw.reply()).code, 426);
      data.destroy();
    } finally {
      raw.close();
    }
  });

  test("ABOR during a download: 426 then 226, and the session goes on", async () => {
    await using server = await serveFtps({ ...plain, root, users: { fred: "secret" } });
    const raw = await loggedIn(server.address.port);
    try {
      await raw.command("TYPE I");
      const port = await raw.epsv();
      const data = await dataConnection(port);
      data.pause();
      assert.equal((await raw.command("RETR big.bin")).code, 150);
      const abort = await raw.command("ABOR");
      assert.equal(abort.code, 426);
      assert.equal((await raw.reply()).code, 226);
      data.destroy();
      assert.equal((await raw.command("NOOP")).code, 200);
    } finally {
      raw.close();
    }
  });

  test("without allowOverwrite, STOR onto a file is 550 before any data; the file stays", async () => {
    await writeFile(join(root, "kept.txt"), "old content");
    await using server = await serveFtps({
      ...plain,
      root,
      allowWrite: true,
      users: { fred: "secret" },
    });
    const raw = await loggedIn(server.address.port);
    try {
      await raw.command("TYPE I");
      for (const command of ["STOR kept.txt", "APPE kept.txt"]) {
        const data = await dataConnection(await raw.epsv());
        const reply = await raw.command(command);
        assert.equal(reply.code, 550, reply.text);
        assert.match(reply.text, /^550 Overwrite permission denied\.$/);
        data.end("new content");
        data.destroy();
      }
      const data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("REST 3")).code, 350);
      assert.equal((await raw.command("STOR kept.txt")).text, "550 Overwrite permission denied.");
      data.destroy();
      assert.equal((await raw.command("RNFR hello.txt")).code, 350);
      assert.equal((await raw.command("RNTO kept.txt")).text, "550 Rename permission denied.");
      assert.equal((await raw.command("NOOP")).code, 200);
      assert.equal(await readFile(join(root, "kept.txt"), "utf8"), "old content");
      assert.ok(!(await readdir(root)).some((name) => name.endsWith(".part")));
    } finally {
      raw.close();
      await rm(join(root, "kept.txt"), { force: true });
    }
  });

  test("a partial upload never replaces the existing file", async () => {
    await writeFile(join(root, "keep.txt"), "old content");
    await using server = await serveFtps({
      ...plain,
      root,
      allowWrite: true,
      allowOverwrite: true,
      users: { fred: "secret" },
      // The complete upload below must not stall into it, also on a loaded machine.
      dataTimeoutMs: 2000,
    });
    const raw = await loggedIn(server.address.port);
    try {
      await raw.command("TYPE I");
      // Aborted by ABOR mid-way.
      let data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("STOR keep.txt")).code, 150);
      await new Promise<void>((resolve) => data.write("new partial", () => resolve()));
      // ABOR once the partial bytes are on disk, in the upload's temporary file (bounded wait).
      await until(
        async () => (await partial(root, "keep.txt")) === "new partial".length,
        "the partial upload to reach its temporary file",
      );
      assert.equal((await raw.command("ABOR")).code, 426);
      assert.equal((await raw.reply()).code, 226);
      data.destroy();
      assert.equal(await readFile(join(root, "keep.txt"), "utf8"), "old content");
      // Stalled until the data timeout.
      data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("STOR keep.txt")).code, 150);
      await new Promise<void>((resolve) => data.write("new partial", () => resolve()));
      assert.equal((await raw.reply()).code, 426);
      data.destroy();
      assert.equal(await readFile(join(root, "keep.txt"), "utf8"), "old content");
      // A complete upload does replace it.
      data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("STOR keep.txt")).code, 150);
      await new Promise<void>((resolve) => data.end("new content", () => resolve()));
      assert.equal((await raw.reply()).code, 226);
      assert.equal(await readFile(join(root, "keep.txt"), "utf8"), "new content");
      assert.deepEqual((await readdir(root)).filter((name) => name.endsWith(".part")), []);
    } finally {
      raw.close();
    }
  });

  test("a storage failing mid-transfer: its own reply (a full disk), or 451; the file is let go", async () => {
    const disk = ftpDirectoryStorage(root, { allowWrite: true });
    const released: string[] = [];
    const errors: Error[] = [];
    const storage: FtpStorage = {
      ...disk,
      async read(path, offset) {
        const stream = await disk.read(path, offset);
        let reads = 0;
        return {
          size: stream.size,
          // One chunk, then a failure the storage did not mean for the client.
          read: () => reads++ === 0 ? stream.read() : Promise.reject(new Error("disk gone")),
          close: () => (released.push(`close ${path}`), stream.close()),
        };
      },
      async write(path, options) {
        const stream = await disk.write(path, options);
        return {
          write: (bytes) =>
            path === "/full.bin"
              ? Promise.reject(new FtpStorageError(552, "Disk full."))
              : stream.write(bytes),
          commit: () =>
            path === "/late.bin"
              ? Promise.reject(new FtpStorageError(452, "No room left."))
              : stream.commit(),
          abort: () => (released.push(`abort ${path}`), stream.abort()),
        };
      },
    };
    await using server = await serveFtps({
      ...plain,
      storage,
      users: { fred: "secret" },
      onError: (error) => errors.push(error),
    });
    const raw = await loggedIn(server.address.port);
    try {
      await raw.command("TYPE I");
      let data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("RETR big.bin")).code, 150);
      assert.equal((await raw.reply()).text, "451 Local error.");
      data.destroy();
      assert.deepEqual(errors.map((error) => error.message), ["disk gone"]);
      for (const name of ["full.bin", "late.bin"]) {
        data = await dataConnection(await raw.epsv());
        assert.equal((await raw.command(`STOR ${name}`)).code, 150);
        await new Promise<void>((resolve) => data.end("some bytes", () => resolve()));
        assert.equal(
          (await raw.reply()).text,
          name === "full.bin" ? "552 Disk full." : "452 No room left.",
        );
        data.destroy();
      }
      assert.equal((await raw.command("NOOP")).code, 200);
      assert.deepEqual(released, ["close /big.bin", "abort /full.bin", "abort /late.bin"]);
      assert.deepEqual((await readdir(root)).filter((name) => name.endsWith(".bin")), ["big.bin"]);
    } finally {
      raw.close();
    }
  });

  test("ASCII type: LF in files, CRLF on the wire, both ways", async () => {
    await using server = await serveFtps({
      ...plain,
      root,
      allowWrite: true,
      users: { fred: "secret" },
    });
    const raw = await loggedIn(server.address.port);
    try {
      assert.equal((await raw.command("TYPE A")).code, 200);
      let data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("RETR hello.txt")).code, 150);
      assert.equal(new TextDecoder().decode(await readAll(data)), "hello\r\nworld\r\n");
      assert.equal((await raw.reply()).code, 226);
      data = await dataConnection(await raw.epsv());
      assert.equal((await raw.command("STOR lines.txt")).code, 150);
      await new Promise<void>((resolve) => data.end("one\r\ntwo\r\n", () => resolve()));
      assert.equal((await raw.reply()).code, 226);
      assert.equal(await readFile(join(root, "lines.txt"), "utf8"), "one\ntwo\n");
    } finally {
      raw.close();
    }
  });

  test("RFC 2577: a data connection from another host is closed unread; PORT elsewhere refused", async () => {
    // The transport, with the first passive connection made to look as if it came from elsewhere
    // (the first listener is the server's own). `spoofed` resolves once that connection has
    // been accepted, so the genuine one is made only then: which is which never depends on the
    // order in which two connections reach the listener.
    let listeners = 0;
    let spoof = true;
    let spoofedNow: () => void = () => {};
    const spoofed = new Promise<void>((resolve) => (spoofedNow = resolve));
    const transport = {
      ...nodeFtpServerTransport,
      async listen(options: { host: string; port: number }) {
        const listener = await nodeFtpServerTransport.listen(options);
        if (listeners++ === 0) return listener;
        return {
          get port() {
            return listener.port;
          },
          close: () => listener.close(),
          async accept() {
            const socket = await listener.accept();
            if (!socket || !spoof) return socket;
            spoof = false;
            spoofedNow();
            return {
              localAddress: socket.localAddress,
              remoteAddress: "192.0.2.7",
              read: () => socket.read(),
              write: (bytes: Uint8Array) => socket.write(bytes),
              end: () => socket.end(),
              close: () => socket.close(),
              startTls: socket.startTls.bind(socket),
              acceptTls: socket.acceptTls.bind(socket),
            };
          },
        };
      },
    };
    await using server = await serveFtpsWith(transport, {
      ...plain,
      root,
      users: { fred: "secret" },
    });
    const raw = await loggedIn(server.address.port);
    const data: Socket[] = [];
    try {
      await raw.command("TYPE I");
      const port = await raw.epsv();
      // Each is read from the start: the server may end the foreign one before the other exists.
      const foreign = await dataConnection(port);
      data.push(foreign);
      const fromForeign = readAll(foreign);
      assert.equal((await raw.command("RETR hello.txt")).code, 150);
      await within(spoofed, "the server to accept the first data connection");
      const genuine = await dataConnection(port);
      data.push(genuine);
      const [foreignBytes, genuineBytes] = await Promise.all([fromForeign, readAll(genuine)]);
      assert.equal(foreignBytes.length, 0, "the foreign connection got nothing");
      assert.equal(new TextDecoder().decode(genuineBytes), "hello\nworld\n");
      assert.equal((await raw.reply()).code, 226);
      const refused = await raw.command("EPRT |1|192.0.2.7|4000|");
      assert.equal(refused.code, 504);
      assert.equal((await raw.command("PORT 127,0,0,1,0,80")).code, 504, "a privileged port");
    } finally {
      for (const socket of data) socket.destroy();
      raw.close();
    }
  });

  test("passive ports come from the range; PASV names the masquerade address", async () => {
    // A range that was free a moment ago (not a fixed one another process may hold); the server
    // tries the others of it when one was taken meanwhile.
    const [low, high] = await freeRange(11);
    await using server = await serveFtps({
      ...plain,
      root,
      users: { fred: "secret" },
      passivePorts: [low, high],
      passiveHost: "203.0.113.9",
    });
    const raw = await loggedIn(server.address.port);
    try {
      const port = await raw.epsv();
      assert.ok(port >= low && port <= high, `port ${port} in the range ${low}-${high}`);
      const pasv = await raw.command("PASV");
      assert.equal(pasv.code, 227);
      const numbers = pasv.text.match(/\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/)!.slice(1).map(
        Number,
      );
      assert.deepEqual(numbers.slice(0, 4), [203, 0, 113, 9]);
      const pasvPort = numbers[4] * 256 + numbers[5];
      assert.ok(pasvPort >= low && pasvPort <= high, `port ${pasvPort} in the range`);
    } finally {
      raw.close();
    }
  });

  test("options are checked", async () => {
    await assert.rejects(serveFtps({ root, users: {}, host: "127.0.0.1", port: 0 }), TypeError);
    await assert.rejects(
      serveFtps({ ...plain, root, users: {}, passivePorts: [5, 1] }),
      RangeError,
    );
    await assert.rejects(serveFtps({ ...plain, users: { fred: "secret" } }), TypeError);
    await assert.rejects(serveFtps({ ...plain, root }), TypeError);
    // A storage can be given instead of a root.
    await using server = await serveFtps({
      ...plain,
      storage: ftpDirectoryStorage(root),
      users: { fred: "secret" },
    });
    const raw = await loggedIn(server.address.port);
    raw.close();
  });
});

describe("serveFtps: the TLS session", () => {
  let root: string;
  before(async () => (root = await served()));
  after(() => rm(root, { recursive: true, force: true }));

  test("resumption required: a data connection that resumes gets through; one that does not gets 522, and the client says why", async () => {
    await using server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
      port: 0,
      requireTlsResumption: true,
    });
    const ftp = await client(server.address.port);
    try {
      for (let i = 0; i < 3; i++) {
        assert.equal((await ftp.get("hello.txt")).length, 12);
        assert.equal(ftp.lastTransfer?.resumed, true);
      }
    } finally {
      await ftp.close();
    }
    // The same client, its data connections offering no session.
    const { transport } = clientTransports.at(-1)!;
    const fresh = await FtpsClient.connect({
      host: "127.0.0.1",
      port: server.address.port,
      user: "fred",
      password: "secret",
      ca,
      servername: "localhost",
      transport: withoutResumption(transport),
    });
    try {
      await assert.rejects(fresh.get("hello.txt"), (error: unknown) => {
        assert.ok(error instanceof FtpReplyError, String(error));
        assert.equal(error.code, 522);
        assert.match(error.message, /resume the control connection's TLS session.*did not/);
        return true;
      });
    } finally {
      await fresh.close();
    }
  });
});

/** `transport` for one client, its data connections' TLS offering no session to resume. */
function withoutResumption(transport: FtpTransport): FtpTransport {
  const wrap = (socket: FtpSocket): FtpSocket =>
    new Proxy(socket, {
      get(target, key) {
        if (key === "startTls") {
          return ({ sessions: _, ...options }: Parameters<FtpSocket["startTls"]>[0]) =>
            target.startTls(options);
        }
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  // The first connection is the control connection: it keeps its session store.
  let control = true;
  return {
    ...transport,
    connect: async (options) => {
      const socket = await transport.connect(options);
      const first = control;
      control = false;
      return first ? socket : wrap(socket);
    },
  };
}

/** The size of the temporary file (`.<name>.<random>.part`) of an upload to `name` in `dir`. */
async function partial(dir: string, name: string): Promise<number | undefined> {
  const temporary = (await readdir(dir)).find((entry) =>
    entry.startsWith(`.${name}.`) && entry.endsWith(".part")
  );
  return temporary === undefined ? undefined : (await stat(join(dir, temporary))).size;
}

/**
 * `size` consecutive TCP ports on 127.0.0.1 that were all free a moment ago: found by listening
 * on each (bounded in attempts).
 */
async function freeRange(size: number): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const low = await freeTcpPort();
    if (low + size - 1 > 65535) continue;
    const held: Server[] = [];
    try {
      for (let port = low; port < low + size; port++) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, "127.0.0.1", () => resolve());
        });
        held.push(server);
      }
      return [low, low + size - 1];
    } catch {
      // One was taken: try another range.
    } finally {
      await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  }
  throw new Error(`No ${size} consecutive free ports found`);
}

describe("serveFtps: a client that gives up its AUTH TLS handshake", () => {
  test("its session ends at once, not at the handshake timeout: close() does not wait for it", async () => {
    const root = await served();
    try {
      const log: FtpsLogEntry[] = [];
      const server = await serveFtps({
        root,
        users: { fred: "secret" },
        tls,
        host: "127.0.0.1",
        port: 0,
        // Far beyond every bound below: only the client's end can end the session in time.
        tlsHandshakeTimeoutMs: 600_000,
        onLog: (entry) => void log.push(entry),
      });
      const { connect: tcp } = await import("node:net");
      const { connect } = await import("node:tls");
      const plain = tcp({ host: "127.0.0.1", port: server.address.port });
      plain.on("error", () => {});
      let text = "";
      plain.on("data", (chunk: Uint8Array) => (text += new TextDecoder().decode(chunk)));
      await until(() => /^220 /m.test(text), "the greeting");
      plain.write("AUTH TLS\r\n");
      await until(() => /^234 /m.test(text), "234");
      plain.removeAllListeners("data");
      // No CA given: the client rejects the server's certificate and ends the connection.
      const secure = connect({ socket: plain, servername: "localhost" });
      const refused = await within(
        new Promise<Error>((resolve) => secure.once("error", resolve)),
        "the client's certificate error",
      );
      assert.match(
        String((refused as { code?: string }).code ?? refused.message),
        /CERT|VERIFY|ISSUER/i,
      );
      secure.destroy();
      await until(
        () => log.some((entry) => entry.type === "closed"),
        "the session's end",
      );
      await within(server.close(), "the server's close");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
