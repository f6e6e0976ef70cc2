// serveFtps against a hostile client, in raw bytes, under the runtime running the tests: commands
// smuggled before TLS, bounce through another spelling of an address, protected uploads cut short,
// data connections stolen from the client's host, slow clients, pipelining floods.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { Duplex } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FtpsLogEntry, serveFtps } from "./_connect.ts";
import { dataConnection, RawFtp, readAll } from "./_raw_ftp.ts";
import { repoFile } from "../_runtime.ts";
import { pattern } from "../tftp/_script.ts";
import { until } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};

/**
 * A TLS client over a stream the test feeds, so the test decides what reaches the TCP socket:
 * `cut()` ends TCP with no close_notify (what a forged FIN, or a dead client, gives), `reset()`
 * resets it, `tls.end()` sends close_notify and then the FIN.
 */
function tlsOver(raw: Socket): Promise<{ tls: TLSSocket; cut(): void; reset(): void }> {
  let cut = false;
  const inner = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      if (cut || raw.destroyed) return callback();
      raw.write(chunk, () => callback());
    },
    final(callback) {
      if (!cut) raw.end();
      callback();
    },
  });
  raw.on("data", (chunk: Uint8Array) => inner.push(chunk));
  raw.on("end", () => inner.push(null));
  raw.on("error", () => {});
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({ socket: inner, ca, servername: "localhost" });
    secure.on("error", () => {});
    secure.once("secureConnect", () =>
      resolve({
        tls: secure,
        cut() {
          cut = true;
          raw.end();
        },
        reset() {
          cut = true;
          raw.resetAndDestroy();
        },
      }));
    secure.once("error", reject);
  });
}

/** Writes `bytes` and resolves once the TLS stream took them. */
function send(socket: TLSSocket | Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(bytes, (error) => (error ? reject(error) : resolve()))
  );
}

describe("serveFtps against a hostile client", () => {
  let root: string;
  let server: Awaited<ReturnType<typeof serveFtps>>;
  const log: FtpsLogEntry[] = [];
  const errors: Error[] = [];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-hostile-"));
    await writeFile(join(root, "big.bin"), pattern(4 << 20, 5));
    server = await serveFtps({
      root,
      allowWrite: true,
      // The cut uploads below go to files that exist, which must keep their content.
      allowOverwrite: true,
      users: { fred: "secret" },
      tls,
      dataProtection: "optional",
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
      onLog: (entry) => log.push(entry),
      onError: (error) => errors.push(error),
    });
  });
  after(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A control connection through AUTH TLS and login; PROT P unless `clear`. */
  async function session(options: { clear?: boolean; localAddress?: string } = {}) {
    const ftp = await RawFtp.connect(server.address.port, {
      ca,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    assert.equal((await ftp.reply()).code, 220);
    await ftp.authTls();
    assert.equal((await ftp.login("fred", "secret")).code, 230);
    assert.equal((await ftp.command("PBSZ 0")).code, 200);
    assert.equal((await ftp.command(options.clear ? "PROT C" : "PROT P")).code, 200);
    assert.equal((await ftp.command("TYPE I")).code, 200);
    return ftp;
  }

  test("RFC 4217 section 4: commands sent with AUTH TLS, before the handshake, never run", async () => {
    const ftp = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await ftp.reply()).code, 220);
      // One segment: AUTH, then a whole login in plain text (CVE-2011-0411).
      await ftp.write("AUTH TLS\r\nUSER fred\r\nPASS secret\r\n");
      assert.equal((await ftp.reply()).code, 234);
      await ftp.startTls();
      const pwd = await ftp.command("PWD");
      assert.equal(pwd.code, 530, `PWD inside TLS: ${pwd.text}`);
    } finally {
      ftp.close();
    }
    const half = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await half.reply()).code, 220);
      // The start of a line in plain text, its end inside TLS.
      await half.write("AUTH TLS\r\nNOOP");
      assert.equal((await half.reply()).code, 234);
      await half.startTls();
      await half.write("\r\n");
      const reply = await half.reply();
      assert.equal(reply.code, 500, `the line completed inside TLS: ${reply.text}`);
      assert.equal((await half.login("fred", "secret")).code, 230, "the session goes on");
    } finally {
      half.close();
    }
  });

  test("RFC 2577 section 3: no bounce through a leading zero in EPRT or PORT", async () => {
    // A listener on 127.0.0.8, which "127.0.0.010" names when read as octal.
    const victim = createServer();
    let bounced = 0;
    victim.on("connection", (socket: Socket) => {
      bounced++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => victim.listen(0, "127.0.0.8", resolve));
    const port = (victim.address() as { port: number }).port;
    const ftp = await session({ clear: true, localAddress: "127.0.0.10" });
    try {
      for (const command of [`EPRT |1|127.0.0.010|${port}|`, "PORT 127,0,0,010,4,1"]) {
        const reply = await ftp.command(command);
        assert.equal(reply.code, 501, `${command}: ${reply.text}`);
      }
      // Nothing set up: the transfer has no data connection to make.
      assert.equal((await ftp.command("LIST")).code, 425);
      assert.equal(bounced, 0, "nothing connected to 127.0.0.8");
    } finally {
      ftp.close();
      await new Promise((resolve) => victim.close(resolve));
    }
  });

  /** A protected STOR (or APPE) of `name` with `bytes` on a new data connection, ended by
   * `end`. */
  async function upload(
    ftp: RawFtp,
    verb: "STOR" | "APPE",
    name: string,
    bytes: Uint8Array,
    end: "close_notify" | "fin" | "reset",
  ): Promise<number> {
    const raw = await dataConnection(await ftp.epsv());
    assert.equal((await ftp.command(`${verb} ${name}`)).code, 150);
    const data = await tlsOver(raw);
    await send(data.tls, bytes);
    if (end === "close_notify") data.tls.end();
    else if (end === "fin") data.cut();
    else data.reset();
    return (await ftp.reply(20_000)).code;
  }

  test("a protected upload that ends without close_notify keeps nothing: 426", async () => {
    const ftp = await session();
    const target = join(root, "keep.bin");
    try {
      await writeFile(target, "the original");
      const bytes = pattern(300_000, 9);
      // A FIN with no close_notify (a forged FIN, a client killed mid-upload), and a reset.
      for (const verb of ["STOR", "APPE"] as const) {
        for (const end of ["fin", "reset"] as const) {
          assert.equal(await upload(ftp, verb, "keep.bin", bytes, end), 426, `${verb}, ${end}`);
          assert.equal(await readFile(target, "utf8"), "the original", `${verb}, ${end}`);
        }
      }
      // Ended as RFC 4217 section 12.6 says: the file is replaced.
      assert.equal(await upload(ftp, "STOR", "keep.bin", bytes, "close_notify"), 226);
      assert.deepEqual(new Uint8Array(await readFile(target)), bytes);
      const outcomes = log.filter((entry) => entry.type === "transfer").map((entry) =>
        entry.type === "transfer" ? entry.outcome : ""
      );
      assert.ok(outcomes.includes("truncated"), outcomes.join(" "));
    } finally {
      ftp.close();
    }
  });

  test("RFC 2577 section 7: a second data connection from the client's host fails the transfer", async () => {
    const ftp = await session({ clear: true });
    const target = join(root, "stolen.bin");
    try {
      // Download: two programs connect to the passive port; whichever the server took, it says
      // 426, not 226, and logs the other.
      const port = await ftp.epsv();
      const thief = await dataConnection(port);
      const client = await dataConnection(port);
      const reads = [readAll(thief).catch(() => null), readAll(client).catch(() => null)];
      assert.equal((await ftp.command("RETR big.bin")).code, 150);
      const reply = await ftp.reply(20_000);
      assert.equal(reply.code, 426, reply.text);
      await Promise.all(reads);
      assert.ok(
        log.some((entry) => entry.type === "data-refused" && entry.reason === "extra-connection"),
      );
      // Upload: nothing from either is kept.
      await writeFile(target, "the original");
      const upPort = await ftp.epsv();
      const first = await dataConnection(upPort);
      const second = await dataConnection(upPort);
      first.on("error", () => {});
      second.on("error", () => {});
      assert.equal((await ftp.command("STOR stolen.bin")).code, 150);
      first.end("from one");
      second.end("from the other");
      assert.equal((await ftp.reply(20_000)).code, 426);
      assert.equal(await readFile(target, "utf8"), "the original");
      // One connection, as a client makes: the transfer goes.
      const own = await dataConnection(await ftp.epsv());
      const got = readAll(own);
      assert.equal((await ftp.command("RETR big.bin")).code, 150);
      assert.equal((await ftp.reply(20_000)).code, 226);
      assert.equal((await got).length, 4 << 20);
    } finally {
      ftp.close();
    }
  });

  test("USER takes the name as sent: a trailing space is another user", async () => {
    const ftp = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await ftp.reply()).code, 220);
      await ftp.authTls();
      assert.equal((await ftp.command("USER fred ")).code, 331);
      assert.equal((await ftp.command("PASS secret")).code, 530);
    } finally {
      ftp.close();
    }
  });

  test("more pipelined commands than the server holds: 421, and no error inside", async () => {
    const ftp = await session();
    try {
      await ftp.write("SIZE big.bin\r\n".repeat(40));
      const replies: number[] = [];
      for (;;) {
        const reply = await ftp.reply();
        replies.push(reply.code);
        if (reply.code === 421) break;
      }
      await ftp.closed();
      // The storage's answers to the commands held when the session closed are let go.
      await until(() => server.sessions === 0, "the session is gone");
      assert.deepEqual(errors, []);
    } finally {
      ftp.close();
    }
  });

  test("the server reported no errors", () => {
    assert.deepEqual(errors, []);
  });
});

describe("serveFtps against slow clients", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-slow-"));
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("no login in time: 421, whatever else the client sends", async () => {
    await using server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
      port: 0,
      loginTimeoutMs: 300,
    });
    const idle = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await idle.reply()).code, 220);
      // Commands are no login: each is answered (or not, once the deadline came), then 421.
      await idle.write("FEAT\r\nNOOP\r\n");
      let reply = await idle.reply();
      for (let i = 0; i < 3 && reply.code !== 421; i++) reply = await idle.reply();
      assert.equal(reply.code, 421);
      assert.match(reply.text, /login/i);
      await idle.closed();
    } finally {
      idle.close();
    }
  });

  test("a command line that trickles in: 421", async () => {
    await using server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
      port: 0,
      lineTimeoutMs: 200,
    });
    const trickle = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await trickle.reply()).code, 220);
      await trickle.write("NO");
      const cut = await trickle.reply();
      assert.equal(cut.code, 421);
      assert.match(cut.text, /line/i);
      await trickle.closed();
    } finally {
      trickle.close();
    }
  });

  test("one address holds at most 10 sessions by default", async () => {
    const log: FtpsLogEntry[] = [];
    await using server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
      port: 0,
      onLog: (entry) => log.push(entry),
    });
    const held: RawFtp[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const ftp = await RawFtp.connect(server.address.port, { ca });
        held.push(ftp);
        assert.equal((await ftp.reply()).code, 220);
      }
      const eleventh = await RawFtp.connect(server.address.port, { ca });
      held.push(eleventh);
      assert.equal((await eleventh.reply()).code, 421);
      assert.ok(
        log.some((entry) => entry.type === "refused" && entry.reason === "max-sessions-per-ip"),
      );
    } finally {
      for (const ftp of held) ftp.close();
    }
  });
});

describe("serveFtps: AUTH TLS held behind a transfer", () => {
  test("the session reads the new TLS stream once the held AUTH TLS runs", async () => {
    const root = await mkdtemp(join(tmpdir(), "ftkit-held-auth-"));
    await writeFile(join(root, "big.bin"), pattern(4 << 20, 2));
    await using server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls,
      requireTlsForLogin: false,
      dataProtection: "optional",
      host: "127.0.0.1",
      port: 0,
    });
    const ftp = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await ftp.reply()).code, 220);
      assert.equal((await ftp.login("fred", "secret")).code, 230);
      assert.equal((await ftp.command("TYPE I")).code, 200);
      const data = await dataConnection(await ftp.epsv());
      const got = readAll(data);
      assert.equal((await ftp.command("RETR big.bin")).code, 150);
      // Held until the transfer ends (RFC 959 section 4.1.3), then run: the control connection
      // changes streams while the session was waiting to read the old one.
      ftp.send("AUTH TLS");
      assert.equal((await got).length, 4 << 20);
      assert.equal((await ftp.reply(30_000)).code, 226);
      assert.equal((await ftp.reply(30_000)).code, 234);
      await ftp.startTls();
      // AUTH reset the login (RFC 4217 section 4); the session answers inside TLS.
      assert.equal((await ftp.command("PWD", 30_000)).code, 530);
      assert.equal((await ftp.login("fred", "secret")).code, 230);
    } finally {
      ftp.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("serveFtps: allow and deny lists of client networks", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-access-"));
    await writeFile(join(root, "f.txt"), "x");
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** The reply the server sends a connection from `from` first: its greeting, or a refusal. */
  async function greeting(port: number, from: string) {
    const raw = await RawFtp.connect(port, { localAddress: from, ca });
    try {
      const reply = await raw.reply();
      if (reply.code === 421) await raw.closed();
      return reply;
    } finally {
      raw.close();
    }
  }

  test("a denied network is answered 421 and closed before its session; deny wins over allow", async () => {
    const log: FtpsLogEntry[] = [];
    await using server = await serveFtps({
      root,
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
      port: 0,
      allow: ["127.0.0.0/24"],
      deny: ["127.0.0.2"],
      onLog: (entry) => void log.push(entry),
    });
    const port = server.address.port;
    assert.equal((await greeting(port, "127.0.0.1")).code, 220);
    const denied = await greeting(port, "127.0.0.2");
    assert.equal(denied.text, "421 Service not available to your address.");
    // Outside the allow list.
    assert.equal((await greeting(port, "127.0.1.1")).code, 421);
    await until(() => log.filter((entry) => entry.type === "refused").length === 2, "refusals");
    assert.deepEqual(
      log.filter((entry) => entry.type === "refused").map((entry) =>
        entry.type === "refused" && [entry.remoteAddress, entry.reason]
      ),
      [["127.0.0.2", "denied"], ["127.0.1.1", "denied"]],
    );
  });

  test("a user's lists: a login from elsewhere fails as a wrong password does", async () => {
    await using server = await serveFtps({
      root,
      users: { fred: { password: "secret", allow: ["127.0.0.3"] }, barney: "pw" },
      tls,
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
    });
    const login = async (from: string, user: string, password: string) => {
      const raw = await RawFtp.connect(server.address.port, { localAddress: from, ca });
      try {
        assert.equal((await raw.reply()).code, 220);
        await raw.authTls();
        return (await raw.login(user, password)).text;
      } finally {
        raw.close();
      }
    };
    assert.equal(await login("127.0.0.1", "fred", "secret"), "530 Login incorrect.");
    assert.equal(await login("127.0.0.3", "fred", "secret"), "230 Login successful.");
    assert.equal(await login("127.0.0.1", "barney", "pw"), "230 Login successful.");
  });

  test("a list that is not of networks is refused when the server starts", async () => {
    await assert.rejects(
      serveFtps({ root, users: { fred: "x" }, tls, port: 0, deny: ["10.0.0.0/33"] }),
      /deny/,
    );
    await assert.rejects(
      serveFtps({ root, users: { fred: { password: "x", allow: ["nonsense"] } }, tls, port: 0 }),
      /users\.fred\.allow/,
    );
  });
});
