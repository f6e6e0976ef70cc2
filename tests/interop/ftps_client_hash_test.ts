// The FTPS client's checksums (hash, verify) and kept times (preserveTime, modified, setModified)
// against real servers on loopback: ftkit's own with hashing on (and one whose storage lies),
// ProFTPD 1.3.8 with mod_digest (HASH, XSHA256...) and its MFMT, and vsftpd 3.0.3, which has
// neither (it sets times with `MDTM <time> <path>`, and hashes nothing).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connectFtps, FtpReplyError, type FtpsClient } from "../ftps/_connect.ts";
import {
  FtpChecksumError,
  ftpDirectoryStorage,
  type FtpStorage,
  FtpUnsupportedError,
} from "../../ftps/mod.ts";
import { parseXHashReply } from "../../ftps/_client_hash.ts";
import { setRemoteTime } from "../../ftps/_client_times.ts";
import { createDigest } from "../../io/digest.ts";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import { CA_FILE, CA_PEM, type LoggedServer, startFtkit } from "./_ftps_clients.ts";
import { runCli } from "../../cli.ts";
import {
  chownFtp,
  type FtpsServer,
  PASSWORD,
  startProftpd,
  startPureFtpd,
  startPyftpdlib,
  startVsftpd,
  USER,
} from "./_ftps_servers.ts";

/** The served file's bytes: 300 KiB, more than a read chunk of the client's or a server's. */
const DATA = bytesOf(300 * 1024 + 17, 20);
/** A time with no fraction, long ago (the clock cannot be mistaken for it). */
const KEPT = new Date("2021-03-04T05:06:07Z");
/** The time the served files have. */
const SERVED = new Date("2019-08-09T10:11:12Z");

/** `bytes`' digest by node:crypto (CRC32: io/digest.ts, whose check value a test below checks). */
function expected(algorithm: string, bytes: Uint8Array): string {
  if (algorithm !== "CRC32") {
    return createHash(algorithm.replace("-", "").toLowerCase()).update(bytes).digest("hex");
  }
  const digest = createDigest("crc32");
  digest.update(bytes);
  return digest.hex();
}

/** A client of the server on `port`, logged in as the servers' user (anonymous with `false`). */
function login(port: number, user = true): Promise<FtpsClient> {
  return connectFtps({
    host: "127.0.0.1",
    port,
    ...(user ? { user: USER, password: PASSWORD } : {}),
    ca: CA_PEM,
    servername: "localhost",
    timeoutMs: 20_000,
  });
}

/** A served tree in `root`: `data.bin` (DATA) and `check.txt` ("123456789"), dated SERVED. */
async function servedFiles(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  await writeFile(join(root, "data.bin"), DATA);
  await writeFile(join(root, "check.txt"), "123456789");
  for (const name of ["data.bin", "check.txt"]) await utimes(join(root, name), SERVED, SERVED);
}

/** What every server with checksums and MFMT does: digests as node:crypto's, `verify` passing
 * both ways, times kept both ways. `remote` is the served directory's path for the client,
 * `root` the same directory on disk, `local` a scratch directory. */
function checkedTransfers(
  connect: () => Promise<FtpsClient>,
  dirs: () => { remote: string; root: string; local: string },
): void {
  test("hash(): every algorithm's digest is node:crypto's (CRC32: the check value)", async () => {
    const { remote } = dirs();
    await using client = await connect();
    for (const algorithm of ["SHA-256", "SHA-1", "MD5"] as const) {
      const digest = createHash(algorithm.replace("-", "").toLowerCase()).update(DATA);
      assert.equal(await client.hash(`${remote}/data.bin`, algorithm), digest.digest("hex"));
    }
    // CRC-32's check value (ISO 3309, as zip computes it).
    assert.equal(await client.hash(`${remote}/check.txt`, "CRC32"), "cbf43926");
    assert.equal(await client.hash(`${remote}/data.bin`), expected("SHA-256", DATA));
  });

  test("verify: getFile, get, putFile and put pass on a good transfer", async () => {
    const { remote, root, local } = dirs();
    await using client = await connect();
    const target = join(local, "verified.bin");
    await client.getFile(`${remote}/data.bin`, target, { verify: true });
    assert.equal(Buffer.compare(await readFile(target), DATA), 0);
    assert.equal(Buffer.compare(await client.get(`${remote}/data.bin`, { verify: true }), DATA), 0);
    await client.putFile(target, `${remote}/up-verified.bin`, { verify: true });
    assert.equal(Buffer.compare(await readFile(join(root, "up-verified.bin")), DATA), 0);
    await client.put(`${remote}/put-verified.bin`, DATA, { verify: true });
    assert.equal(Buffer.compare(await readFile(join(root, "put-verified.bin")), DATA), 0);
    // Continued with REST: the local file's first bytes are hashed from it.
    await client.putFile(target, `${remote}/up-verified.bin`, { verify: true, offset: 1000 });
    await writeFile(target, DATA.subarray(0, 5000));
    await client.getFile(`${remote}/data.bin`, target, { verify: true, offset: 5000 });
    assert.equal(Buffer.compare(await readFile(target), DATA), 0);
  });

  test("preserveTime: the remote file gets the local time (MFMT), and the local the remote's", async () => {
    const { remote, root, local } = dirs();
    await using client = await connect();
    const source = join(local, "dated.bin");
    await writeFile(source, DATA.subarray(0, 1000));
    await utimes(source, KEPT, KEPT);
    await client.putFile(source, `${remote}/dated.bin`, { preserveTime: true });
    assert.equal(
      (await client.lastModified(`${remote}/dated.bin`)).toISOString(),
      KEPT.toISOString(),
    );
    assert.equal((await stat(join(root, "dated.bin"))).mtime.toISOString(), KEPT.toISOString());
    await client.put(`${remote}/given.txt`, "given\n", { modified: KEPT });
    assert.equal(
      (await client.lastModified(`${remote}/given.txt`)).toISOString(),
      KEPT.toISOString(),
    );
    const target = join(local, "fetched.bin");
    await client.getFile(`${remote}/data.bin`, target, { preserveTime: true, verify: true });
    const fetched = await stat(target);
    const served = await client.lastModified(`${remote}/data.bin`);
    assert.equal(served.toISOString(), SERVED.toISOString());
    assert.equal(fetched.mtime.toISOString(), served.toISOString());
    assert.equal(fetched.atime.toISOString(), served.toISOString());
  });

  test("verify with resume: the whole partial file is compared; one that differs is emptied", async () => {
    const { remote, local } = dirs();
    await using client = await connect();
    const target = join(local, "resumed.bin");
    await writeFile(`${target}.ftkit-part`, DATA.subarray(0, 5000));
    await client.getFile(`${remote}/data.bin`, target, { resume: true, verify: true });
    assert.equal(Buffer.compare(await readFile(target), DATA), 0);
    // A partial file that is not the file's start: the rest comes, the whole differs.
    const bad = join(local, "resumed-bad.bin");
    const wrong = DATA.slice(0, 5000);
    wrong[10] ^= 0xff;
    await writeFile(`${bad}.ftkit-part`, wrong);
    await assert.rejects(
      client.getFile(`${remote}/data.bin`, bad, { resume: true, verify: true }),
      FtpChecksumError,
    );
    await assert.rejects(stat(bad), { code: "ENOENT" });
    assert.equal((await stat(`${bad}.ftkit-part`)).size, 0);
  });

  test("mirror: verify reaches every file it copies", async () => {
    const { remote, local } = dirs();
    await using client = await connect();
    const into = join(local, "mirrored");
    const result = await client.mirror(remote, into, { transfer: { verify: true } });
    assert.deepEqual(result.errors, []);
    assert.ok(result.copied.includes("data.bin"), JSON.stringify(result.copied));
    assert.equal(Buffer.compare(await readFile(join(into, "data.bin")), DATA), 0);
  });
}

/** A storage whose first read of each file it was given flips a byte, and whose writes flip one:
 * RETR gives, and STOR keeps, other bytes than HASH then reads. */
function lyingStorage(root: string): FtpStorage {
  const honest = ftpDirectoryStorage(root, { allowWrite: true, allowOverwrite: true });
  const seen = new Set<string>();
  const flip = (bytes: Uint8Array) => {
    const copy = bytes.slice();
    if (copy.length > 0) copy[0] ^= 0xff;
    return copy;
  };
  return {
    ...honest,
    async read(path, offset) {
      const stream = await honest.read(path, offset);
      // A file written here was corrupted then: its reads are true.
      if (seen.has(path)) return stream;
      seen.add(path);
      let first = true;
      return {
        ...(stream.size !== undefined ? { size: stream.size } : {}),
        async read() {
          const chunk = await stream.read();
          if (!chunk || !first) return chunk;
          first = false;
          return flip(chunk);
        },
        close: () => stream.close(),
      };
    },
    async write(path, options) {
      seen.add(path);
      const stream = await honest.write(path, options);
      let first = true;
      return {
        write(bytes) {
          const out = first ? flip(bytes) : bytes;
          first = false;
          return stream.write(out);
        },
        commit: () => stream.commit(),
        abort: () => stream.abort(),
      };
    },
  };
}

describe("FTPS client checksums and kept times against ftkit's server", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let ftkit: LoggedServer;
  let plain: LoggedServer;
  let liar: LoggedServer;

  before(async () => {
    dir = await tempDir("ftkit-hash-");
    await servedFiles(join(dir.path, "served"));
    await servedFiles(join(dir.path, "lies"));
    await mkdir(join(dir.path, "local"));
    const options = { allowOverwrite: true, hash: true } as const;
    ftkit = await startFtkit(join(dir.path, "served"), options);
    plain = await startFtkit(join(dir.path, "served"), { allowOverwrite: true });
    liar = await startFtkit(join(dir.path, "lies"), {
      ...options,
      root: undefined,
      storage: lyingStorage(join(dir.path, "lies")),
    });
  });

  after(async () => {
    await ftkit?.close();
    await plain?.close();
    await liar?.close();
    await dir?.remove();
  });

  const open = (server: () => LoggedServer) => () => login(server().port);

  checkedTransfers(open(() => ftkit), () => ({
    remote: "",
    root: join(dir.path, "served"),
    local: join(dir.path, "local"),
  }));

  test("hash() of a range: HASH after RANG", async () => {
    await using client = await open(() => ftkit)();
    assert.equal(
      await client.hash("data.bin", "SHA-256", { start: 100, end: 1100 }),
      expected("SHA-256", DATA.subarray(100, 1100)),
    );
    assert.equal(
      await client.hash("data.bin", "MD5", { start: 300 * 1024 }),
      expected("MD5", DATA.subarray(300 * 1024)),
    );
    // The range was used once: the next download is whole.
    assert.equal((await client.get("check.txt")).length, 9);
  });

  test("a server that lies: getFile rejects and leaves the target as it was", async () => {
    await using client = await open(() => liar)();
    const target = join(dir.path, "local", "kept.bin");
    await writeFile(target, "what was there\n");
    await assert.rejects(
      client.getFile("data.bin", target, { verify: true }),
      (error: unknown) =>
        error instanceof FtpChecksumError && error.algorithm === "SHA-256" &&
        error.remote === expected("SHA-256", DATA) && error.local !== error.remote,
    );
    assert.equal(await readFile(target, "utf8"), "what was there\n");
    assert.deepEqual(
      (await readdir(join(dir.path, "local"))).filter((n) => n.endsWith(".part")),
      [],
    );
    // An upload stored otherwise than sent.
    await assert.rejects(
      client.put("stored.bin", DATA, { verify: true }),
      (error: unknown) =>
        error instanceof FtpChecksumError && error.local === expected("SHA-256", DATA),
    );
    // The session goes on.
    assert.equal((await client.raw("NOOP")).code, 200);
  });

  test("ftkit ftps hash, and get and put with --preserve --verify", async () => {
    const url = (server: LoggedServer, path: string) =>
      `ftpes://${USER}:${PASSWORD}@127.0.0.1:${server.port}/${path}`;
    const hash = await cli("ftps", "hash", url(ftkit, "data.bin"), "--ca", CA_FILE);
    assert.equal(hash.code, 0, hash.err.join("\n"));
    assert.deepEqual(hash.out, [`${expected("SHA-256", DATA)}  data.bin`]);
    const crc = await cli(
      "ftps",
      "hash",
      url(ftkit, "check.txt"),
      "--ca",
      CA_FILE,
      "--algorithm",
      "crc32",
    );
    assert.deepEqual(crc.out, ["cbf43926  check.txt"]);
    const unknown = await cli("ftps", "hash", url(ftkit, "data.bin"), "--algorithm", "sha512");
    assert.equal(unknown.code, 2);
    assert.match(unknown.err.join("\n"), /--algorithm takes sha256, sha1, md5 or crc32/);

    const target = join(dir.path, "local", "cli.bin");
    const get = await cli(
      "ftps",
      "get",
      url(ftkit, "data.bin"),
      target,
      "--ca",
      CA_FILE,
      "--preserve",
      "--verify",
      "--quiet",
    );
    assert.equal(get.code, 0, get.err.join("\n"));
    assert.equal(Buffer.compare(await readFile(target), DATA), 0);
    assert.equal((await stat(target)).mtime.toISOString(), SERVED.toISOString());
    await utimes(target, KEPT, KEPT);
    const put = await cli(
      "ftps",
      "put",
      target,
      url(ftkit, "cli-up.bin"),
      "--ca",
      CA_FILE,
      "--preserve",
      "--verify",
      "--quiet",
    );
    assert.equal(put.code, 0, put.err.join("\n"));
    assert.equal(
      (await stat(join(dir.path, "served", "cli-up.bin"))).mtime.toISOString(),
      KEPT.toISOString(),
    );

    // No checksums: the download does not start, the local file stays.
    const refused = await cli(
      "ftps",
      "get",
      url(plain, "data.bin"),
      target,
      "--ca",
      CA_FILE,
      "--verify",
    );
    assert.equal(refused.code, 1);
    assert.match(refused.err.join("\n"), /lists no checksum command/);
    assert.equal((await stat(target)).mtime.toISOString(), KEPT.toISOString());
    const stdout = await cli("ftps", "get", url(ftkit, "data.bin"), "-", "--preserve");
    assert.equal(stdout.code, 2);
  });

  test("verify on a server with no checksums fails before anything moves", async () => {
    await using client = await open(() => plain)();
    const target = join(dir.path, "local", "untouched.bin");
    await writeFile(target, "before\n");
    const from = plain.log.length;
    const unsupported = (error: unknown) =>
      error instanceof FtpUnsupportedError && error.feature === "hash";
    await assert.rejects(client.getFile("data.bin", target, { verify: true }), unsupported);
    await assert.rejects(client.put("never.bin", DATA, { verify: true }), unsupported);
    await assert.rejects(client.hash("data.bin"), unsupported);
    assert.equal(await readFile(target, "utf8"), "before\n");
    assert.deepEqual(plain.transfers(from), []);
    await assert.rejects(stat(join(dir.path, "served", "never.bin")));
    // A time no server can be given is refused before the upload.
    await assert.rejects(client.put("never.bin", DATA, { modified: new Date(NaN) }), RangeError);
    await assert.rejects(stat(join(dir.path, "served", "never.bin")));
    // A whole-file check cannot cover an append.
    await assert.rejects(client.put("x.bin", DATA, { verify: true, append: true }), TypeError);
  });
});

/** Runs the command in-process: its exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

describe("FTPS client checksums and kept times against ProFTPD (mod_digest)", {
  skip: missing("proftpd"),
}, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: FtpsServer;
  let root: string;

  before(async () => {
    dir = await tempDir("ftkit-proftpd-hash-");
    await chmod(dir.path, 0o755);
    root = join(dir.path, "root");
    await servedFiles(join(root, "pub"));
    await chownFtp(
      root,
      join(root, "pub"),
      join(root, "pub", "data.bin"),
      join(root, "pub", "check.txt"),
    );
    await mkdir(join(dir.path, "local"));
    // Session reuse not required: a run of uploads from Deno against ProFTPD requiring it fails
    // now and then with 425 whatever this file tests (rustls' single-use TLS 1.3 tickets).
    server = await startProftpd(dir.path, root, {
      reuseRequired: false,
      extra: ["LoadModule mod_digest.c", "LoadModule mod_site_misc.c", "DigestEngine on"],
    });
  });

  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  const connect = () => login(server.port);

  checkedTransfers(connect, () => ({
    remote: "pub",
    root: join(root, "pub"),
    local: join(dir.path, "local"),
  }));

  test("FEAT lists HASH (SHA-1 selected) and the X commands; their replies read as digests", async () => {
    await using client = await connect();
    assert.match(client.features.get("HASH") ?? "", /SHA-1\*/);
    for (
      const [verb, algorithm] of [["XSHA256", "SHA-256"], ["XSHA1", "SHA-1"], [
        "XMD5",
        "MD5",
      ]] as const
    ) {
      assert.ok(client.features.has(verb), verb);
      const reply = await client.raw(verb, "pub/data.bin");
      assert.equal(parseXHashReply(verb, reply, algorithm), expected(algorithm, DATA));
    }
    // XCRC's digest comes in upper case.
    const crc = await client.raw("XCRC", "pub/check.txt");
    assert.equal(crc.lines.at(-1), "CBF43926");
    assert.equal(parseXHashReply("XCRC", crc, "CRC32"), "cbf43926");
  });

  test("hash() of a range: ProFTPD takes RANG (350) yet hashes the whole file, which is refused", async () => {
    await using client = await connect();
    assert.equal(client.features.get("RANG"), "STREAM");
    await assert.rejects(
      client.hash("pub/data.bin", "SHA-256", { start: 100, end: 1100 }),
      (error: unknown) =>
        error instanceof FtpReplyError && error.code === 213 &&
        /SHA-256 0-307217 /.test(error.message) &&
        /hashed from byte 0, not 100/.test(error.message),
    );
    // RANG 1 0 forgot the range: the next download is whole.
    assert.equal((await client.get("pub/check.txt")).length, 9);
  });

  test("MFMT sets the time MLST then shows", async () => {
    await using client = await connect();
    assert.ok(client.features.has("MFMT"));
    assert.equal(await client.setModified("pub/check.txt", KEPT), "MFMT");
    const mlst = await client.raw("MLST", "pub/check.txt");
    assert.match(mlst.lines.join("\n"), /modify=20210304050607;/);
  });

  test("without MFMT, SITE UTIME (mod_site_misc, its UTC form) sets the time, read back", async () => {
    await using client = await connect();
    assert.match(client.features.get("SITE") ?? "", /\bUTIME\b/);
    const withoutMfmt = {
      raw: (verb: string, argument?: string) => client.raw(verb, argument),
      features: new Map([...client.features].filter(([name]) => name !== "MFMT")),
    };
    assert.equal(await setRemoteTime(withoutMfmt, "pub/check.txt", SERVED), "SITE UTIME");
    assert.equal(
      (await stat(join(root, "pub", "check.txt"))).mtime.toISOString(),
      SERVED.toISOString(),
    );
  });
});

describe("FTPS client kept times against vsftpd (no MFMT, no checksums)", {
  skip: missing("vsftpd"),
}, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: FtpsServer;

  before(async () => {
    dir = await tempDir("ftkit-vsftpd-times-");
    await chmod(dir.path, 0o755);
    const top = join(dir.path, "top");
    await mkdir(join(top, "pub"), { recursive: true });
    await chmod(top, 0o755);
    await servedFiles(join(top, "pub"));
    await chownFtp(join(top, "pub"));
    await mkdir(join(dir.path, "local"));
    server = await startVsftpd(dir.path, top);
  });

  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  const connect = () => login(server.port, false);

  test("preserveTime sets the time with MDTM <time> <path> (mdtm_write), read back", async () => {
    await using client = await connect();
    assert.equal(client.features.has("MFMT"), false);
    const source = join(dir.path, "local", "dated.bin");
    await writeFile(source, "dated\n");
    await utimes(source, KEPT, KEPT);
    await client.putFile(source, "pub/dated.bin", { preserveTime: true });
    assert.equal((await client.lastModified("pub/dated.bin")).toISOString(), KEPT.toISOString());
    assert.equal(await client.setModified("pub/dated.bin", SERVED), "MDTM");
    const target = join(dir.path, "local", "fetched.bin");
    await client.getFile("pub/data.bin", target, { preserveTime: true });
    assert.equal((await stat(target)).mtime.toISOString(), SERVED.toISOString());
  });

  test("with mdtm_write=NO, preserveTime fails clearly after the upload", async () => {
    const strict = await startVsftpd(dir.path, join(dir.path, "top"), { extra: ["mdtm_write=NO"] });
    try {
      await using client = await login(strict.port, false);
      await assert.rejects(
        client.put("pub/undated.txt", "x\n", { modified: KEPT }),
        (error: unknown) => error instanceof FtpUnsupportedError && error.feature === "set-time",
      );
      assert.equal(await readFile(join(dir.path, "top", "pub", "undated.txt"), "utf8"), "x\n");
    } finally {
      await strict.stop();
    }
  });

  test("no checksum command: hash() and verify are unsupported (XSHA256 answered 500)", async () => {
    await using client = await connect();
    const unsupported = (error: unknown) => error instanceof FtpUnsupportedError;
    await assert.rejects(client.hash("pub/data.bin"), unsupported);
    await assert.rejects(client.hash("pub/data.bin", "CRC32"), unsupported);
    await assert.rejects(client.get("pub/data.bin", { verify: true }), unsupported);
  });

  test("mirror with verify: each file fails clearly, none is written", async () => {
    await using client = await connect();
    const into = join(dir.path, "local", "unverified");
    const result = await client.mirror("pub", into, { transfer: { verify: true } });
    assert.deepEqual(result.copied, []);
    assert.ok(result.errors.length >= 1);
    for (const error of result.errors) assert.match(error.message, /Cannot verify/);
    await assert.rejects(stat(join(into, "data.bin")), { code: "ENOENT" });
  });
});

describe("FTPS client kept times against Pure-FTPd and pyftpdlib (MFMT, no checksums)", {
  skip: missing("pureFtpd", "python", "pyftpdlib"),
}, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let root: string;
  const servers: Record<string, FtpsServer> = {};

  before(async () => {
    dir = await tempDir("ftkit-mfmt-");
    await chmod(dir.path, 0o755);
    root = join(dir.path, "root");
    await servedFiles(join(root, "pub"));
    await chownFtp(
      root,
      join(root, "pub"),
      join(root, "pub", "data.bin"),
      join(root, "pub", "check.txt"),
    );
    servers["Pure-FTPd"] = await startPureFtpd(dir.path, root);
    servers.pyftpdlib = await startPyftpdlib(root);
  });

  after(async () => {
    for (const server of Object.values(servers)) await server.stop();
    await dir?.remove();
  });

  for (const name of ["Pure-FTPd", "pyftpdlib"]) {
    test(`${name}: preserveTime by MFMT (read back where its reply does not say), no hash`, async () => {
      await using client = await login(servers[name].port);
      // Pure-FTPd answers MFMT "213 UTIME OK.", pyftpdlib "213 Modify=<time>; <path>".
      await client.put("pub/dated.txt", "dated\n", { modified: KEPT });
      assert.equal((await client.lastModified("pub/dated.txt")).toISOString(), KEPT.toISOString());
      assert.equal(
        (await stat(join(root, "pub", "dated.txt"))).mtime.toISOString(),
        KEPT.toISOString(),
      );
      await assert.rejects(client.hash("pub/data.bin", "MD5"), FtpUnsupportedError);
    });
  }
});
