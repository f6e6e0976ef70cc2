// serveFtps run as a service, over real loopback sockets under the runtime running the tests:
// users with password hashes, the certificate replaced while sessions run (setTls), the graceful
// close that lets transfers finish (close({ graceMs })), and the checks on an inherited socket.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Buffer } from "node:buffer";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectFtps, serveFtps } from "./_connect.ts";
import { RawFtp } from "./_raw_ftp.ts";
import {
  createFtpsCertificate,
  ftpDirectoryStorage,
  type FtpReadStream,
  type FtpStorage,
  hashFtpsPassword,
} from "../../ftps/mod.ts";
import { repoFile } from "../_runtime.ts";
import { pattern } from "../tftp/_script.ts";
import { until, within } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};

/** Whether a TCP connection to 127.0.0.1:`port` is refused. */
function refused(port: number): Promise<boolean> {
  return within(
    new Promise((resolve) => {
      const socket = tcpConnect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(false);
      });
      socket.once("error", () => resolve(true));
    }),
    "a connection attempt",
  );
}

describe("serveFtps users with password hashes", () => {
  let root: string;
  let scrypt: string;
  let pbkdf2: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-hash-"));
    await writeFile(join(root, "hello.txt"), "hello\n");
    scrypt = await hashFtpsPassword("secret", { cost: 1024 });
    pbkdf2 = await hashFtpsPassword("other", { algorithm: "pbkdf2-sha256", iterations: 10_000 });
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("scrypt and PBKDF2 hashes log in with the password, never with a wrong one or the hash", async () => {
    await using server = await serveFtps({
      root,
      users: { fred: { passwordHash: scrypt }, wilma: { passwordHash: pbkdf2 }, plain: "pw" },
      tls,
      port: 0,
      loginFailureDelayMs: 0,
      maxLoginAttempts: 10,
    });
    const { port } = server.address;
    for (const [user, password] of [["fred", "secret"], ["wilma", "other"], ["plain", "pw"]]) {
      await using client = await connectFtps({ host: "127.0.0.1", port, user, password, ca });
      assert.equal(new TextDecoder().decode(await client.get("hello.txt")), "hello\n");
    }
    // The raw bytes: the hash itself, a wrong password, an unknown user all get 530.
    const raw = await RawFtp.connect(port, { ca });
    await raw.reply();
    await raw.authTls();
    for (const [user, password] of [["fred", scrypt], ["fred", "Secret"], ["nobody", "secret"]]) {
      assert.equal((await raw.login(user, password)).code, 530, `${user} ${password}`);
    }
    assert.equal((await raw.login("fred", "secret")).code, 230);
    raw.close();
  });

  test("a hash given as a password, both, or a hash out of bounds is refused at start", async () => {
    const start = (users: Record<string, unknown>) =>
      serveFtps({ root, users: users as never, tls, port: 0 });
    await assert.rejects(
      start({ fred: scrypt }),
      /users\.fred: a password hash given as the password/,
    );
    await assert.rejects(
      start({ fred: { password: "x", passwordHash: scrypt } }),
      /users\.fred: give password or passwordHash, not both/,
    );
    const slow = scrypt.replace("N=1024", "N=4194304");
    await assert.rejects(
      start({ fred: { passwordHash: slow } }),
      /users\.fred\.passwordHash: scrypt's N\*r must be at most/,
    );
    await assert.rejects(
      start({ fred: { passwordHash: "$pbkdf2-sha256$i=99999999$c2FsdHNhbHQ$" + "A".repeat(43) } }),
      /users\.fred\.passwordHash: pbkdf2-sha256's i must be from 10000 to 5000000/,
    );
  });
});

describe("serveFtps setTls: a new certificate for new handshakes, sessions keep theirs", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-reload-"));
    await writeFile(join(root, "hello.txt"), "hello\n");
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("a session from before keeps working (its data connections resume); a new one sees the new certificate", async () => {
    const renewed = await createFtpsCertificate();
    for (const secure of ["explicit", "implicit"] as const) {
      await using server = await serveFtps({
        root,
        users: { fred: "secret" },
        tls,
        secure,
        port: 0,
        requireTlsResumption: true,
      });
      const { port } = server.address;
      const options = { host: "127.0.0.1", port, secure, user: "fred", password: "secret" };
      await using before = await connectFtps({ ...options, ca });
      const first = await RawFtp.connect(port, { ca, implicit: secure === "implicit" });
      await first.reply();
      if (secure === "explicit") await first.authTls();
      const oldFingerprint = first.peerFingerprint;
      first.close();

      server.setTls({ cert: renewed.certPem, key: renewed.keyPem });
      // The session from before: its data connections resume its TLS session (required here).
      assert.deepEqual((await before.list()).map((entry) => entry.name), ["hello.txt"]);
      assert.equal(new TextDecoder().decode(await before.get("hello.txt")), "hello\n");
      // A new one: the new certificate, which the old CA does not vouch for.
      await using after = await connectFtps({ ...options, ca: renewed.caPem });
      assert.equal(new TextDecoder().decode(await after.get("hello.txt")), "hello\n");
      const second = await RawFtp.connect(port, {
        ca: renewed.caPem,
        implicit: secure === "implicit",
      });
      await second.reply();
      if (secure === "explicit") await second.authTls();
      assert.equal(second.peerFingerprint, renewed.fingerprint, secure);
      assert.notEqual(second.peerFingerprint, oldFingerprint);
      second.close();
      await assert.rejects(connectFtps({ ...options, ca }), "the old CA no longer verifies");
    }
  });

  test("a key of another certificate, a change of requestClientCertificate, or plain FTP: refused, the old certificate stays", async () => {
    const other = await createFtpsCertificate();
    await using server = await serveFtps({ root, users: { fred: "secret" }, tls, port: 0 });
    assert.throws(
      () => server.setTls({ cert: tls.cert, key: other.keyPem }),
      /The key is not the certificate's private key/,
    );
    assert.throws(() => server.setTls({ cert: "no PEM", key: tls.key }), /not PEM/);
    assert.throws(
      () => server.setTls({ ...tls, requestClientCertificate: true }),
      /cannot change requestClientCertificate/,
    );
    const { port } = server.address;
    await using client = await connectFtps({
      host: "127.0.0.1",
      port,
      user: "fred",
      password: "secret",
      ca,
    });
    assert.deepEqual((await client.list()).map((entry) => entry.name), ["hello.txt"]);
    await using plain = await serveFtps({
      root,
      users: { fred: "secret" },
      secure: "none",
      port: 0,
    });
    assert.throws(() => plain.setTls(tls), /plain FTP/);
    // The server does not start with a key of another certificate either.
    await assert.rejects(
      serveFtps({
        root,
        users: { fred: "x" },
        tls: { cert: tls.cert, key: other.keyPem },
        port: 0,
      }),
      /The key is not the certificate's private key/,
    );
  });
});

/** A storage whose downloads hold after their first chunk until `release()`. */
function heldStorage(
  root: string,
): { storage: FtpStorage; release(): void; started: Promise<void> } {
  const inner = ftpDirectoryStorage(root);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const begun = new Promise<void>((resolve) => (started = resolve));
  const storage: FtpStorage = {
    stat: (path) => inner.stat(path),
    list: (path) => inner.list(path),
    async read(path, offset): Promise<FtpReadStream> {
      const stream = await inner.read(path, offset);
      let chunks = 0;
      return {
        ...(stream.size !== undefined ? { size: stream.size } : {}),
        async read() {
          if (chunks++ === 1) {
            started();
            await released;
          }
          return await stream.read();
        },
        close: () => stream.close(),
      };
    },
    write: (path, options) => inner.write(path, options),
    writeUnique: (directory) => inner.writeUnique(directory),
    mkdir: (path) => inner.mkdir(path),
    rmdir: (path) => inner.rmdir(path),
    delete: (path) => inner.delete(path),
    rename: (from, to) => inner.rename(from, to),
  };
  return { storage, release, started: begun };
}

describe("serveFtps close({ graceMs }): transfers finish, idle sessions get 421", () => {
  let root: string;
  const content = pattern(3 << 20, 11);
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ftkit-grace-"));
    await writeFile(join(root, "big.bin"), content);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("a download running when the close begins completes byte for byte; new connections are refused", async () => {
    const held = heldStorage(root);
    const server = await serveFtps({
      storage: held.storage,
      users: { fred: "secret" },
      tls,
      port: 0,
    });
    const { port } = server.address;
    const login = { host: "127.0.0.1", port, user: "fred", password: "secret", ca };
    const downloader = await connectFtps(login);
    const idle = await RawFtp.connect(port, { ca });
    await idle.reply();
    await idle.authTls();
    assert.equal((await idle.login("fred", "secret")).code, 230);
    const download = downloader.get("big.bin");
    await within(held.started, "the download to begin");
    const closed = server.close({ graceMs: 60_000 });
    // The idle session is told at once, and new connections are refused.
    assert.equal((await idle.reply()).text, "421 Server shutting down: closing the connection.");
    await idle.closed();
    assert.equal(await refused(port), true);
    await until(
      () => server.sessions === 1,
      "the idle session to end; the downloading one runs on",
    );
    held.release();
    const bytes = await within(download, "the download");
    assert.equal(Buffer.compare(Buffer.from(bytes), Buffer.from(content)), 0);
    await within(closed, "the close");
    assert.equal(server.sessions, 0);
    await downloader.close().catch(() => {});
  });

  test("at the deadline what still runs is closed; a second close without grace cuts it short", async () => {
    for (const cut of [false, true]) {
      const held = heldStorage(root);
      const server = await serveFtps({
        storage: held.storage,
        users: { fred: "secret" },
        tls,
        port: 0,
      });
      const client = await connectFtps({
        host: "127.0.0.1",
        port: server.address.port,
        user: "fred",
        password: "secret",
        ca,
        timeoutMs: 60_000,
      });
      const download = client.get("big.bin");
      download.catch(() => {});
      await within(held.started, "the download to begin");
      const closed = server.close({ graceMs: cut ? 600_000 : 50 });
      if (cut) assert.equal(server.close(), closed, "the same close");
      // The data connection is dropped at the deadline (the storage's read still waits).
      await assert.rejects(within(download, "the download to fail"));
      held.release();
      await within(closed, "the close");
      assert.equal(server.sessions, 0);
      await client.close().catch(() => {});
    }
  });

  test("the close waits for a sent download's data connection until the client's end", async () => {
    // A download the server has sent whole (226): its data connection lingers until the
    // client's end. A graceful close that resolved before that would let the process exit under
    // bytes still on their way (Bun keeps what the system could not take yet, and a close with
    // unread bytes resets the connection).
    const small = content.subarray(0, 64 << 10);
    await writeFile(join(root, "small.bin"), small);
    const server = await serveFtps({ root, users: { fred: "secret" }, tls, port: 0 });
    const { port } = server.address;
    const control = await RawFtp.connect(port, { ca });
    await control.reply();
    await control.authTls();
    assert.equal((await control.login("fred", "secret")).code, 230);
    for (const line of ["PBSZ 0", "PROT P", "TYPE I"]) {
      assert.equal(Math.floor((await control.command(line)).code / 100), 2, line);
    }
    const dataPort = await control.epsv();
    control.send("RETR small.bin");
    // Half open (node:tls takes the option, its types do not name it): the client's end goes
    // back only when it says so.
    const halfOpen = { allowHalfOpen: true };
    const data = tlsConnect({
      host: "127.0.0.1",
      port: dataPort,
      ca,
      servername: "localhost",
      ...halfOpen,
    });
    data.on("error", () => {});
    const chunks: Uint8Array[] = [];
    data.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    const read = new Promise<void>((resolve) => data.once("end", resolve));
    try {
      await within(
        new Promise((resolve) => data.once("secureConnect", resolve)),
        "the data connection's TLS",
      );
      assert.equal((await control.reply()).code, 150);
      assert.equal((await control.reply()).code, 226);
      await within(read, "the end of the download");
      const order: string[] = [];
      const closed = server.close({ graceMs: 60_000 }).then(() => order.push("server closed"));
      assert.equal(
        (await control.reply()).text,
        "421 Server shutting down: closing the connection.",
      );
      await control.closed();
      await until(() => server.sessions === 0, "the session to end");
      order.push("client ended");
      data.end();
      assert.equal(Buffer.compare(Buffer.concat(chunks), Buffer.from(small)), 0);
      await within(closed, "the close");
      assert.deepEqual(order, ["client ended", "server closed"]);
    } finally {
      data.destroy();
      await server.close();
    }
  });

  test("graceMs is checked", async () => {
    const server = await serveFtps({ root, users: { fred: "x" }, tls, port: 0 });
    assert.throws(() => server.close({ graceMs: -1 }), RangeError);
    await server.close({ graceMs: 1000 });
    await until(() => server.sessions === 0, "no session");
  });
});

describe("serveFtps fd: an inherited listening socket", () => {
  test("fd is a descriptor, and excludes host and port", async () => {
    const root = tmpdir();
    await assert.rejects(serveFtps({ root, users: { f: "x" }, tls, fd: -1 }), RangeError);
    await assert.rejects(serveFtps({ root, users: { f: "x" }, tls, fd: 3, port: 21 }), TypeError);
    await assert.rejects(
      serveFtps({ root, users: { f: "x" }, tls, fd: 3, host: "127.0.0.1" }),
      /Give fd, or host and port/,
    );
  });
});
