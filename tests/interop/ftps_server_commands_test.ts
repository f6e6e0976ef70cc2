// ftkit's FTPS server's commands beyond the core, from real clients on loopback: curl's quoted
// MFMT, HASH and SITE CHMOD (refused where SITE CHMOD is off), lftp setting an upload's time with
// MFMT by itself, and Python's ftplib asking HASH, OPTS HASH and the X checksums (compared with
// hashlib and zlib), the MLSD perm and unique facts (`mlsd(facts=...)`), MFMT and SITE CHMOD; and
// `ftkit ftps serve --hash --site-chmod` with curl.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import { FIXTURES, PASSWORD, USER } from "./_ftps_servers.ts";
import { CA_FILE, curl, lftp, type LoggedServer, python, startFtkit } from "./_ftps_clients.ts";
import { serveCli } from "../_cli_serve.ts";

const HELLO = "hello from ftkit\n";
const sha256 = (bytes: string | Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A served `root` (hello.txt, data.bin of 300 KB, sub/) and a client-side `local`. */
async function tree(prefix: string) {
  const dir = await tempDir(prefix);
  const root = join(dir.path, "root");
  const local = join(dir.path, "local");
  await mkdir(join(root, "sub"), { recursive: true });
  await mkdir(local);
  await writeFile(join(root, "hello.txt"), HELLO);
  await writeFile(join(root, "data.bin"), bytesOf(300_000, 42));
  return { root, local, remove: () => dir.remove() };
}

/** The mode bits of a file. */
async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o7777;
}

describe("curl: quoted MFMT, HASH and SITE CHMOD", { skip: missing("curl") }, () => {
  let files: Awaited<ReturnType<typeof tree>>;
  let server: LoggedServer;
  let plain: LoggedServer;
  before(async () => {
    files = await tree("ftkit-commands-curl-");
    server = await startFtkit(files.root, { hash: true, siteChmod: true });
    plain = await startFtkit(files.root);
  });
  after(async () => {
    await server?.close();
    await plain?.close();
    await files?.remove();
  });

  /** curl over explicit TLS with PROT P, the quoted commands sent before fetching hello.txt. */
  const quoted = (target: LoggedServer, ...commands: string[]) =>
    curl([
      "-v",
      "--ftp-ssl-reqd",
      "-u",
      `${USER}:${PASSWORD}`,
      ...commands.flatMap((command) => ["-Q", command]),
      "-o",
      join(files.local, "hello.txt"),
      `ftp://127.0.0.1:${target.port}/hello.txt`,
    ]);

  test("MFMT sets the file's time on disk", async () => {
    const ran = await quoted(server, "MFMT 20200102030405 hello.txt");
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stderr, /^< 213 Modify=20200102030405; hello\.txt\r?$/m);
    const mtime = (await stat(join(files.root, "hello.txt"))).mtime;
    assert.equal(mtime.toISOString(), "2020-01-02T03:04:05.000Z");
  });

  test("HASH and XSHA256: the file's SHA-256", async () => {
    const ran = await quoted(server, "HASH hello.txt", "XSHA256 hello.txt");
    assert.equal(ran.code, 0, ran.stderr);
    const digest = sha256(HELLO);
    assert.match(
      ran.stderr,
      new RegExp(`^< 213 SHA-256 0-${HELLO.length} ${digest} hello\\.txt`, "m"),
    );
    assert.match(ran.stderr, new RegExp(`^< 250 ${digest}\\r?$`, "m"));
  });

  test("SITE CHMOD: refused where it is off (504, curl's quote error), 200 where it is on", async () => {
    const path = join(files.root, "hello.txt");
    const before = await mode(path);
    const refused = await quoted(plain, "SITE CHMOD 600 hello.txt");
    assert.equal(refused.code, 21, refused.stderr); // CURLE_QUOTE_ERROR
    assert.match(refused.stderr, /^< 504 /m);
    assert.equal(await mode(path), before);
    const setuid = await quoted(server, "SITE CHMOD 4755 hello.txt");
    assert.equal(setuid.code, 21, setuid.stderr);
    assert.match(setuid.stderr, /^< 501 /m);
    assert.equal(await mode(path), before);
    const done = await quoted(server, "SITE CHMOD 600 hello.txt");
    assert.equal(done.code, 0, done.stderr);
    assert.equal(await mode(path), 0o600);
    assert.deepEqual([...server.errors, ...plain.errors], []);
  });
});

describe("lftp: an upload keeps its time (MFMT)", { skip: missing("lftp") }, () => {
  test("put sends MFMT with the local file's time, which the server sets", async () => {
    const files = await tree("ftkit-commands-lftp-");
    const server = await startFtkit(files.root);
    try {
      const local = join(files.local, "made.txt");
      await writeFile(local, "made long ago\n");
      const when = new Date("2021-03-04T05:06:07Z");
      await utimes(local, when, when);
      const ran = await lftp(`ftp://127.0.0.1:${server.port}`, [
        "debug 9",
        `put ${local} -o made.txt`,
      ]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stderr, /^---> MFMT 20210304050607 made\.txt\r?$/m);
      assert.match(ran.stderr, /^<--- 213 Modify=20210304050607; made\.txt\r?$/m);
      const remote = await stat(join(files.root, "made.txt"));
      assert.equal(remote.mtime.getTime(), when.getTime());
      assert.equal(await readFile(join(files.root, "made.txt"), "utf8"), "made long ago\n");
      assert.deepEqual(server.errors, []);
    } finally {
      await server.close();
      await files.remove();
    }
  });
});

const PY_SCRIPT = String.raw`
import hashlib, json, os, ssl, sys, zlib
from ftplib import FTP_TLS, error_perm

host, port, ca, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
ftp = FTP_TLS(context=ssl.create_default_context(cafile=ca), timeout=20)
ftp.connect(host, port)
out["feat"] = ftp.sendcmd("FEAT")
ftp.login(sys.argv[5], sys.argv[6])
ftp.prot_p()
data = open(os.path.join(root, "data.bin"), "rb").read()
out["expected"] = {
    "SHA-256": hashlib.sha256(data).hexdigest(),
    "SHA-1": hashlib.sha1(data).hexdigest(),
    "MD5": hashlib.md5(data).hexdigest(),
    "CRC32": "%08x" % zlib.crc32(data),
    "size": len(data),
}
out["opts"] = ftp.sendcmd("OPTS HASH")
out["hash"] = ftp.sendcmd("HASH data.bin")
out["x"] = {verb: ftp.sendcmd(verb + " data.bin") for verb in ["XCRC", "XMD5", "XSHA1", "XSHA256"]}
out["by_algorithm"] = {}
for name in ["SHA-1", "MD5", "CRC32", "SHA-256"]:
    ftp.sendcmd("OPTS HASH " + name)
    out["by_algorithm"][name] = ftp.sendcmd("HASH data.bin")
try:
    ftp.sendcmd("OPTS HASH SHA-512")
except error_perm as error:
    out["unknown"] = str(error)
# RANG (draft-bryan-ftp-range-08): a range of the file hashed, then fetched.
ftp.sendcmd("OPTS HASH SHA-256")
out["rang"] = ftp.sendcmd("RANG 100 1099")
out["ranged_hash"] = ftp.sendcmd("HASH data.bin")
out["expected"]["ranged"] = hashlib.sha256(data[100:1100]).hexdigest()
ftp.sendcmd("RANG 100 1099")
chunks = []
ftp.retrbinary("RETR data.bin", chunks.append)
out["ranged_retr"] = hashlib.sha256(b"".join(chunks)).hexdigest()
out["ranged_retr_size"] = len(b"".join(chunks))
out["mlsd"] = {name: facts for name, facts in ftp.mlsd(facts=["type", "perm", "unique"])}
out["mfmt"] = ftp.sendcmd("MFMT 20190807060504 data.bin")
out["chmod"] = ftp.sendcmd("SITE CHMOD 640 data.bin")
out["help"] = ftp.sendcmd("SITE HELP")
out["quit"] = ftp.quit()
print(json.dumps(out))
`;

describe("Python ftplib: HASH, the X commands, MLSD facts, MFMT, SITE CHMOD", {
  skip: missing("python"),
}, () => {
  let files: Awaited<ReturnType<typeof tree>>;
  let server: LoggedServer;
  before(async () => {
    files = await tree("ftkit-commands-python-");
    server = await startFtkit(files.root, { allowOverwrite: true, hash: true, siteChmod: true });
  });
  after(async () => {
    await server?.close();
    await files?.remove();
  });

  test("every digest equals hashlib's and zlib's; facts, times and modes as set", async () => {
    const out = await python<Record<string, unknown>>(PY_SCRIPT, [
      "127.0.0.1",
      server.port,
      CA_FILE,
      files.root,
      USER,
      PASSWORD,
    ]);
    const expected = out.expected as Record<string, string | number>;
    assert.match(out.feat as string, /\n HASH SHA-256\*;SHA-1;MD5;CRC32\n/);
    assert.match(out.feat as string, /\n MFMT\n/);
    assert.match(out.feat as string, /\n MLST type\*;size\*;modify\*;perm\*;unique\*;\n/);
    assert.equal(out.opts, "200 SHA-256");
    assert.equal(
      out.hash,
      `213 SHA-256 0-${expected.size} ${expected["SHA-256"]} data.bin`,
    );
    assert.deepEqual(out.x, {
      XCRC: `250 ${expected.CRC32}`,
      XMD5: `250 ${expected.MD5}`,
      XSHA1: `250 ${expected["SHA-1"]}`,
      XSHA256: `250 ${expected["SHA-256"]}`,
    });
    for (const [name, reply] of Object.entries(out.by_algorithm as Record<string, string>)) {
      assert.equal(reply, `213 ${name} 0-${expected.size} ${expected[name]} data.bin`);
    }
    assert.equal(out.unknown, "501 Unknown algorithm, current selection not changed.");
    assert.match(out.feat as string, /\n RANG STREAM\n/);
    assert.equal(out.rang, "350 Restarting at 100. End byte range at 1099.");
    assert.equal(out.ranged_hash, `213 SHA-256 100-1099 ${expected.ranged} data.bin`);
    assert.equal(out.ranged_retr, expected.ranged);
    assert.equal(out.ranged_retr_size, 1000);
    const mlsd = out.mlsd as Record<string, Record<string, string>>;
    const info = await stat(join(files.root, "hello.txt"));
    assert.deepEqual(mlsd["hello.txt"], {
      type: "file",
      perm: "adfrw",
      unique: `${info.dev.toString(16)}g${info.ino.toString(16)}`,
    });
    assert.equal(mlsd.sub.type, "dir");
    assert.equal(mlsd.sub.perm, "cdeflmp");
    assert.notEqual(mlsd.sub.unique, mlsd["hello.txt"].unique);
    assert.equal(out.mfmt, "213 Modify=20190807060504; data.bin");
    assert.equal(
      (await stat(join(files.root, "data.bin"))).mtime.toISOString(),
      "2019-08-07T06:05:04.000Z",
    );
    assert.equal(out.chmod, "200 SITE CHMOD command successful.");
    assert.equal(await mode(join(files.root, "data.bin")), 0o640);
    assert.match(out.help as string, /^214-SITE commands:\n CHMOD <mode> <path>\n HELP\n214 End$/);
    assert.match(out.quit as string, /^221 /);
    assert.deepEqual(server.errors, []);
  });
});

describe("ftkit ftps serve --hash --site-chmod, with curl", { skip: missing("curl") }, () => {
  test("the flags serve HASH and SITE CHMOD; without them both are refused", async () => {
    const files = await tree("ftkit-commands-cli-");
    const serve = (...flags: string[]) =>
      serveCli(["tcp"], ([port]) => [
        "ftps",
        "serve",
        files.root,
        "--port",
        String(port),
        "--user",
        "fred:secret",
        "--cert",
        join(FIXTURES, "leaf.pem"),
        "--key",
        join(FIXTURES, "leaf.key"),
        "--allow-write",
        ...flags,
        "--quiet",
      ], /^Fetch a file with: curl /);
    const quote = (port: number, command: string) =>
      curl([
        "-v",
        "--ftp-ssl-reqd",
        "-u",
        "fred:secret",
        "-Q",
        command,
        "-o",
        join(files.local, "hello.txt"),
        `ftp://localhost:${port}/hello.txt`,
      ]);
    try {
      const off = await serve();
      try {
        const hash = await quote(off.ports[0], "HASH hello.txt");
        assert.equal(hash.code, 21, hash.stderr);
        assert.match(hash.stderr, /^< 502 HASH not implemented\./m);
        const chmod = await quote(off.ports[0], "SITE CHMOD 600 hello.txt");
        assert.equal(chmod.code, 21, chmod.stderr);
      } finally {
        await off.stop();
      }
      const on = await serve("--hash", "--site-chmod");
      try {
        const hash = await quote(on.ports[0], "HASH hello.txt");
        assert.equal(hash.code, 0, hash.stderr);
        assert.match(
          hash.stderr,
          new RegExp(`^< 213 SHA-256 0-${HELLO.length} ${sha256(HELLO)} `, "m"),
        );
        const chmod = await quote(on.ports[0], "SITE CHMOD 600 hello.txt");
        assert.equal(chmod.code, 0, chmod.stderr);
        assert.equal(await mode(join(files.root, "hello.txt")), 0o600);
      } finally {
        await on.stop();
      }
    } finally {
      await files.remove();
    }
  });
});
