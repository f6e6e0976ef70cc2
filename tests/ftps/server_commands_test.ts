// serveFtps's commands beyond the core, over real loopback sockets under the runtime running the
// tests, spoken in raw bytes: MFMT and SITE CHMOD checked on disk (and refused to those who may
// not write, and for setuid modes), HASH and the X checksums against node:crypto and zlib, the
// hashing bounds (bytes per request, hashes across the server, one at a time per session), the
// perm and unique facts, and FEAT after login against what each command does, per configuration.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveFtps } from "./_connect.ts";
import { RawFtp } from "./_raw_ftp.ts";
import { parseFtpFeat } from "../../codec/mod.ts";
import { ftpDirectoryStorage, type FtpStorage, type ServeFtpsOptions } from "../../ftps/mod.ts";
import { crc32Table } from "../../io/digest.ts";
import { repoFile } from "../_runtime.ts";
import { until } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};

const HELLO = "hello\nworld\n";
const hex = (algorithm: string, bytes: string | Uint8Array) =>
  createHash(algorithm).update(bytes).digest("hex");

type Server = Awaited<ReturnType<typeof serveFtps>>;

/** A fresh root: hello.txt and sub/. */
async function served(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "ftkit-commands-"));
  await writeFile(join(root, "hello.txt"), HELLO);
  await mkdir(join(root, "sub"));
  return root;
}

/** A server on loopback with the test certificate, no login delay; `options` add to it. */
function start(root: string, options: Partial<ServeFtpsOptions>): Promise<Server> {
  return serveFtps({
    root,
    users: { fred: "secret" },
    tls,
    host: "127.0.0.1",
    port: 0,
    loginFailureDelayMs: 0,
    lockout: false,
    ...options,
  });
}

/** A control connection through AUTH TLS and, with a user, logged in. */
async function connect(server: Server, user?: string, password = "secret"): Promise<RawFtp> {
  const raw = await RawFtp.connect(server.address.port, { ca });
  assert.equal((await raw.reply()).code, 220);
  await raw.authTls();
  if (user) assert.equal((await raw.login(user, password)).code, 230);
  return raw;
}

/** FEAT's features, by name. */
async function feat(raw: RawFtp): Promise<Map<string, string>> {
  const reply = await raw.command("FEAT");
  return parseFtpFeat({ code: reply.code, lines: reply.text.split("\n") });
}

describe("serveFtps: MFMT, HASH, SITE CHMOD and the MLST facts, on disk", () => {
  let root: string;
  let server: Server;
  before(async () => {
    root = await served();
    server = await start(root, {
      allowWrite: true,
      users: { fred: "secret", reader: { password: "secret", allowWrite: false } },
      hash: true,
      siteChmod: true,
    });
  });
  after(async () => {
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test("MFMT sets the file's time; a user who may not write gets 550, and no MFMT in FEAT", async () => {
    const raw = await connect(server);
    assert.ok((await feat(raw)).has("MFMT"), "before login: someone may use it");
    assert.equal((await raw.login("fred", "secret")).code, 230);
    assert.ok((await feat(raw)).has("MFMT"));
    assert.equal(
      (await raw.command("MFMT 20200102030405 hello.txt")).text,
      "213 Modify=20200102030405; hello.txt",
    );
    assert.equal(
      (await stat(join(root, "hello.txt"))).mtime.toISOString(),
      "2020-01-02T03:04:05.000Z",
    );
    assert.equal((await raw.command("MFMT 2020010203 hello.txt")).code, 501);
    assert.equal((await raw.command("MFMT 20200102030405 nowhere.txt")).code, 550);
    raw.close();

    const reader = await connect(server, "reader");
    assert.equal((await feat(reader)).has("MFMT"), false);
    assert.equal(
      (await reader.command("MFMT 19990101000000 hello.txt")).text,
      "550 Permission denied.",
    );
    assert.equal(
      (await stat(join(root, "hello.txt"))).mtime.toISOString(),
      "2020-01-02T03:04:05.000Z",
    );
    reader.close();
  });

  test("HASH, OPTS HASH and the X commands give the digests of the bytes on disk", async () => {
    const raw = await connect(server, "reader");
    const size = HELLO.length;
    assert.equal((await feat(raw)).get("HASH"), "SHA-256*;SHA-1;MD5;CRC32");
    assert.equal(
      (await raw.command("HASH hello.txt")).text,
      `213 SHA-256 0-${size} ${hex("sha256", HELLO)} hello.txt`,
    );
    assert.equal((await raw.command("OPTS HASH SHA-1")).text, "200 SHA-1");
    assert.equal(
      (await raw.command("HASH /hello.txt")).text,
      `213 SHA-1 0-${size} ${hex("sha1", HELLO)} /hello.txt`,
    );
    const crc = crc32Table(new TextEncoder().encode(HELLO)).toString(16).padStart(8, "0");
    assert.equal((await raw.command("XCRC hello.txt")).text, `250 ${crc}`);
    assert.equal((await raw.command("XMD5 hello.txt")).text, `250 ${hex("md5", HELLO)}`);
    assert.equal((await raw.command("XSHA1 hello.txt")).text, `250 ${hex("sha1", HELLO)}`);
    assert.equal((await raw.command("XSHA256 hello.txt")).text, `250 ${hex("sha256", HELLO)}`);
    assert.equal((await raw.command("HASH sub")).code, 553);
    assert.equal((await raw.command("HASH ../../etc/passwd")).code, 550, "jailed as ever");
    raw.close();
  });

  test("SITE CHMOD sets the bits on disk; setuid modes, readers and the root are refused", async () => {
    const mode = async () => (await stat(join(root, "hello.txt"))).mode & 0o7777;
    const raw = await connect(server, "fred");
    assert.match((await raw.command("SITE HELP")).text, /\n CHMOD <mode> <path>\n/);
    assert.equal(
      (await raw.command("SITE CHMOD 640 hello.txt")).text,
      "200 SITE CHMOD command successful.",
    );
    assert.equal(await mode(), 0o640);
    for (const bad of ["4755", "2755", "1777", "u+s", "777x"]) {
      assert.equal((await raw.command(`SITE CHMOD ${bad} hello.txt`)).code, 501, bad);
    }
    assert.equal(await mode(), 0o640);
    assert.equal((await raw.command("SITE CHMOD 700 /")).text, "550 Permission denied.");
    assert.equal((await raw.command("SITE CHMOD 777 ../..")).text, "550 Permission denied.");
    raw.close();
    const reader = await connect(server, "reader");
    assert.equal((await reader.command("SITE HELP")).text, "214 No SITE commands here.");
    assert.equal((await reader.command("SITE CHMOD 777 hello.txt")).text, "550 Permission denied.");
    assert.equal(await mode(), 0o640);
    reader.close();
  });

  test("MLST: perm as the user may act, unique from the device and inode", async () => {
    const info = await stat(join(root, "hello.txt"));
    const unique = `${info.dev.toString(16)}g${info.ino.toString(16)}`;
    const facts = async (raw: RawFtp, path: string) => {
      const lines = (await raw.command(`MLST ${path}`)).text.split("\n");
      return lines[1];
    };
    const fred = await connect(server, "fred");
    // Create-only (no allowOverwrite): no a or w on files.
    assert.match(await facts(fred, "hello.txt"), new RegExp(`;perm=dfr;unique=${unique}; `));
    assert.match(await facts(fred, "sub"), /;perm=cdeflmp;unique=[0-9a-f]+g[0-9a-f]+; /);
    fred.close();
    const reader = await connect(server, "reader");
    assert.match(await facts(reader, "hello.txt"), /;perm=r;unique=/);
    assert.match(await facts(reader, "/"), /;perm=el;/);
    reader.close();
  });
});

describe("serveFtps: hashing is off by default, and bounded when on", () => {
  let root: string;
  const servers: Server[] = [];
  before(async () => {
    root = await served();
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    if (root) await rm(root, { recursive: true, force: true });
  });

  test("defaults: HASH, the X commands and SITE CHMOD are refused; MFMT comes with writes", async () => {
    const server = await start(root, { allowWrite: true });
    servers.push(server);
    const raw = await connect(server, "fred");
    const features = await feat(raw);
    assert.equal(features.has("HASH"), false);
    assert.equal(features.has("XCRC"), false);
    assert.equal((await raw.command("HASH hello.txt")).text, "502 HASH not implemented.");
    assert.equal((await raw.command("XSHA256 hello.txt")).text, "502 XSHA256 not implemented.");
    assert.equal((await raw.command("OPTS HASH")).code, 501);
    assert.equal((await raw.command("SITE CHMOD 777 hello.txt")).code, 504);
    assert.notEqual((await stat(join(root, "hello.txt"))).mode & 0o777, 0o777);
    assert.equal((await raw.command("MFMT 20100101000000 hello.txt")).code, 213);
    raw.close();
    // A read-only server serves no MFMT to anyone: not in FEAT, before login or after, and 502.
    const readOnly = await start(root, {});
    servers.push(readOnly);
    const plain = await connect(readOnly);
    assert.equal((await feat(plain)).has("MFMT"), false);
    assert.equal((await plain.login("fred", "secret")).code, 230);
    assert.equal((await plain.command("MFMT 20100101000000 hello.txt")).code, 502);
    plain.close();
  });

  test("maxBytes: a larger file is 556 to HASH, 550 to the X commands, and is not read", async () => {
    let reads = 0;
    const directory = ftpDirectoryStorage(root);
    const storage: FtpStorage = {
      ...directory,
      read: (path, offset) => {
        reads++;
        return directory.read(path, offset);
      },
    };
    const server = await start(root, { storage, hash: { maxBytes: HELLO.length - 1 } });
    servers.push(server);
    const raw = await connect(server, "fred");
    assert.equal(
      (await raw.command("HASH hello.txt")).text,
      `556 File larger than the hashing limit (${HELLO.length - 1} bytes).`,
    );
    assert.equal((await raw.command("XMD5 hello.txt")).code, 550);
    assert.equal(reads, 0);
    raw.close();
    await assert.rejects(start(root, { hash: { maxBytes: 0 } }), RangeError);
    await assert.rejects(start(root, { hash: { maxConcurrent: 0 } }), RangeError);
    await assert.rejects(start(root, { hash: { algorithms: [] } }), TypeError);
    await assert.rejects(start(root, { hash: { algorithms: ["SHA-512" as "MD5"] } }), TypeError);
  });

  test("maxConcurrent: a hash beyond it is 450; a session's next commands wait their turn", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => release = resolve);
    let reads = 0;
    const directory = ftpDirectoryStorage(root);
    const storage: FtpStorage = {
      ...directory,
      // The first file opened for hashing holds its first read until the gate opens.
      read: async (path, offset) => {
        const stream = await directory.read(path, offset);
        if (reads++ > 0) return stream;
        return { ...stream, read: () => gate.then(() => stream.read()), close: stream.close };
      },
    };
    const server = await start(root, { storage, hash: { maxConcurrent: 1 } });
    servers.push(server);
    const first = await connect(server, "fred");
    const second = await connect(server, "fred");
    first.send("HASH hello.txt");
    first.send("NOOP");
    await until(() => reads === 1, "the first hash to start");
    assert.equal(
      (await second.command("XSHA1 hello.txt")).text,
      "450 Busy hashing other files; try again later.",
    );
    release();
    assert.match((await first.reply()).text, /^213 SHA-256 0-12 [0-9a-f]{64} hello\.txt$/);
    assert.equal((await first.reply()).text, "200 NOOP ok.", "NOOP was answered after the hash");
    assert.equal((await second.command("XSHA1 hello.txt")).text, `250 ${hex("sha1", HELLO)}`);
    first.close();
    second.close();
  });

  test("a hash stops reading when the server closes its session", async () => {
    let reads = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => release = resolve);
    const chunk = new Uint8Array(1000);
    const storage: FtpStorage = {
      ...ftpDirectoryStorage(root),
      // A file of 1 MB, read 1000 bytes at a time; the second read waits for the gate.
      stat: () => Promise.resolve({ type: "file", size: 1_000_000, modified: new Date(0) }),
      read: () =>
        Promise.resolve({
          read: async () => {
            if (++reads === 2) await gate;
            return chunk;
          },
          close: () => Promise.resolve(),
        }),
    };
    const server = await start(root, { storage, hash: true });
    const raw = await connect(server, "fred");
    raw.send("HASH big.bin");
    await until(() => reads === 2, "the hash to reach its second read");
    const closing = server.close();
    // The session is dropped (its control connection with it) while the read waits.
    await raw.closed();
    release();
    await closing;
    assert.equal(reads, 2, "no read after the session closed");
  });
});

describe("serveFtps: FEAT after login lists what each user can do, per configuration", () => {
  let root: string;
  before(async () => {
    root = await served();
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  test("MFMT, HASH and the X commands, SITE CHMOD: listed exactly when they work", async () => {
    const choices = [false, true];
    let walked = 0;
    for (const allowWrite of choices) {
      for (const hash of choices) {
        for (const siteChmod of choices) {
          const server = await serveFtps({
            root,
            secure: "none",
            users: { fred: "secret" },
            anonymous: true,
            allowWrite,
            hash,
            siteChmod,
            host: "127.0.0.1",
            port: 0,
            loginFailureDelayMs: 0,
          });
          try {
            for (const user of ["fred", "anonymous"]) {
              const what = JSON.stringify({ allowWrite, hash, siteChmod, user });
              const raw = await RawFtp.connect(server.address.port);
              await raw.reply();
              assert.equal((await raw.login(user, "secret")).code, 230, what);
              const features = await feat(raw);
              const works = async (line: string, code: number) =>
                (await raw.command(line)).code === code;
              assert.equal(
                features.has("MFMT"),
                await works("MFMT 20200102030405 hello.txt", 213),
                what,
              );
              assert.equal(features.has("HASH"), await works("HASH hello.txt", 213), what);
              for (const verb of ["XCRC", "XMD5", "XSHA1", "XSHA256"]) {
                assert.equal(features.has(verb), await works(`${verb} hello.txt`, 250), what);
              }
              const help = (await raw.command("SITE HELP")).text;
              assert.equal(
                / CHMOD /.test(help),
                await works("SITE CHMOD 644 hello.txt", 200),
                what,
              );
              raw.close();
              walked++;
            }
          } finally {
            await server.close();
          }
        }
      }
    }
    assert.equal(walked, 16);
  });
});
