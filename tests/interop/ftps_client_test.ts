// The FTPS client against vsftpd 3.0.3 on loopback: explicit and implicit TLS, TLS 1.2 and 1.3,
// vsftpd's defaults of PROT P required and TLS session reuse required on data connections.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { chmod, chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connectFtps, FtpReplyError, type FtpsClient } from "../ftps/_connect.ts";
import {
  bytesOf,
  type Daemon,
  freeTcpPort,
  missing,
  PEER,
  startDaemon,
  tempDir,
  waitForTcp,
} from "./_peers.ts";
import { repoFile } from "../_runtime.ts";

const skip = missing(PEER.vsftpd);
const FIXTURES = repoFile("tests/fixtures/tls");
const isDeno = "Deno" in globalThis;

/** vsftpd with anonymous users forced onto TLS, in `root` (files in `root/pub`). */
async function vsftpd(root: string, implicit: boolean): Promise<{ port: number; daemon: Daemon }> {
  const port = await freeTcpPort();
  const config = join(root, `vsftpd-${port}.conf`);
  await writeFile(
    config,
    [
      "listen=YES",
      "listen_address=127.0.0.1",
      `listen_port=${port}`,
      "background=NO",
      "seccomp_sandbox=NO",
      "anonymous_enable=YES",
      "local_enable=NO",
      "write_enable=YES",
      `anon_root=${join(root, "top")}`,
      "anon_upload_enable=YES",
      "anon_mkdir_write_enable=YES",
      "anon_other_write_enable=YES",
      "anon_umask=022",
      "no_anon_password=YES",
      "ssl_enable=YES",
      "allow_anon_ssl=YES",
      "force_anon_data_ssl=YES",
      "force_anon_logins_ssl=YES",
      "require_ssl_reuse=YES",
      `implicit_ssl=${implicit ? "YES" : "NO"}`,
      `rsa_cert_file=${join(FIXTURES, "leaf.pem")}`,
      `rsa_private_key_file=${join(FIXTURES, "leaf.key")}`,
      "secure_chroot_dir=/var/run/vsftpd/empty",
      "xferlog_enable=NO",
      "",
    ].join("\n"),
  );
  const daemon = await startDaemon(PEER.vsftpd, [config], 100);
  await waitForTcp(port);
  return { port, daemon };
}

describe("FTPS client against vsftpd (session reuse required)", { skip }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let explicit: { port: number; daemon: Daemon };
  let implicit: { port: number; daemon: Daemon };
  let ca: string;
  const big = bytesOf(100 * 1024 * 1024, 7);

  before(async () => {
    dir = await tempDir("ftkit-vsftpd-");
    // The anonymous root may not be writable (vsftpd chroots there); pub is, for the ftp user.
    await mkdir(join(dir.path, "top", "pub"), { recursive: true });
    await chmod(dir.path, 0o755);
    await chmod(join(dir.path, "top"), 0o755);
    await writeFile(join(dir.path, "top", "pub", "hello.txt"), "hello from vsftpd\n");
    await writeFile(join(dir.path, "top", "pub", "big.bin"), big);
    await chownFtp(join(dir.path, "top", "pub"));
    ca = await readFile(join(FIXTURES, "ca.pem"), "utf8");
    explicit = await vsftpd(dir.path, false);
    implicit = await vsftpd(dir.path, true);
  });

  after(async () => {
    await explicit?.daemon.stop();
    await implicit?.daemon.stop();
    await dir?.remove();
  });

  const open = (
    options: { implicit?: boolean; maxVersion?: "TLSv1.2" | "TLSv1.3"; passive?: boolean } = {},
  ): Promise<FtpsClient> =>
    connectFtps({
      host: "127.0.0.1",
      port: options.implicit ? implicit.port : explicit.port,
      secure: options.implicit ? "implicit" : "explicit",
      ca,
      servername: "localhost",
      timeoutMs: 20_000,
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      ...(options.passive === false ? { passive: false } : {}),
    });

  if (isDeno) {
    test("Deno: commands work; a protected transfer is refused with an error that says why", async () => {
      const client = await open();
      try {
        assert.equal(await client.pwd(), "/");
        assert.ok(client.features.has("AUTH"));
        await assert.rejects(client.get("pub/hello.txt"), (error: unknown) => {
          assert.ok(error instanceof FtpReplyError, String(error));
          assert.equal(error.code, 522);
          assert.match(error.message, /resume the control connection's TLS session.*Node or Bun/);
          return true;
        });
        // vsftpd ends the session after a refused data connection.
        await assert.rejects(client.raw("NOOP"), /closed/);
      } finally {
        await client.close();
      }
    });
    return;
  }

  for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
    test(`${maxVersion}: every operation, each data connection resuming the session`, async () => {
      const client = await open({ maxVersion });
      try {
        assert.equal(await client.pwd(), "/");
        const text = new TextDecoder().decode(await client.get("pub/hello.txt"));
        assert.equal(text, "hello from vsftpd\n");
        assert.deepEqual(client.lastTransfer, { bytes: 18, tls: true, resumed: true });
        const payload = bytesOf(300_000, 11);
        const seen: number[] = [];
        await client.put(`pub/up-${maxVersion}.bin`, payload, {
          onProgress: (bytes) => seen.push(bytes),
        });
        assert.equal(seen.at(-1), payload.length);
        assert.equal(client.lastTransfer?.resumed, true);
        await client.append(`pub/up-${maxVersion}.bin`, "tail");
        assert.equal(await client.size(`pub/up-${maxVersion}.bin`), payload.length + 4);
        const back = await client.get(`pub/up-${maxVersion}.bin`, { offset: 299_990 });
        assert.equal(new TextDecoder().decode(back.subarray(10)), "tail");
        assert.deepEqual(back.subarray(0, 10), payload.subarray(299_990));
        const modified = await client.lastModified("pub/hello.txt");
        assert.ok(Math.abs(modified.getTime() - Date.now()) < 3_600_000);
        await client.mkdir(`pub/${maxVersion}/a/b`, { recursive: true });
        await client.mkdir(`pub/${maxVersion}/a/b`, { recursive: true });
        await client.rename(`pub/up-${maxVersion}.bin`, `pub/${maxVersion}/a/b/moved.bin`);
        await client.cd(`pub/${maxVersion}/a`);
        assert.equal(await client.pwd(), `/pub/${maxVersion}/a`);
        const entries = await client.list("b");
        assert.deepEqual(entries.map((entry) => [entry.name, entry.type, entry.size]), [
          ["moved.bin", "file", payload.length + 4],
        ]);
        await client.remove("b/moved.bin");
        await client.removeDir("b");
        await client.cd("/");
        await client.removeDir(`pub/${maxVersion}/a`);
        await client.removeDir(`pub/${maxVersion}`);
        await assert.rejects(client.get("pub/missing"), (error: unknown) => {
          assert.ok(error instanceof FtpReplyError && error.code === 550);
          return true;
        });
        assert.equal((await client.raw("NOOP")).code, 200);
      } finally {
        await client.close();
      }
    });
  }

  test("100 MB down and up, byte for byte", async () => {
    const client = await open();
    try {
      const down = await client.get("pub/big.bin");
      assert.equal(down.length, big.length);
      assert.ok(Buffer.compare(down, big) === 0, "identical download");
      await client.put("pub/big-up.bin", big);
      const stored = await readFile(join(dir.path, "top", "pub", "big-up.bin"));
      assert.ok(Buffer.compare(stored, big) === 0, "identical upload");
      await client.remove("pub/big-up.bin");
    } finally {
      await client.close();
    }
  });

  test("implicit TLS (port 990 style)", async () => {
    const client = await open({ implicit: true });
    try {
      assert.equal(
        new TextDecoder().decode(await client.get("pub/hello.txt")),
        "hello from vsftpd\n",
      );
      assert.equal(client.lastTransfer?.resumed, true);
    } finally {
      await client.close();
    }
  });

  test("active mode (EPRT): the client listens, and is still the TLS client", async () => {
    const client = await open({ passive: false });
    try {
      assert.equal(
        new TextDecoder().decode(await client.get("pub/hello.txt")),
        "hello from vsftpd\n",
      );
      await client.put("pub/active.txt", "active\n");
      assert.equal(await readFile(join(dir.path, "top", "pub", "active.txt"), "utf8"), "active\n");
      await client.remove("pub/active.txt");
    } finally {
      await client.close();
    }
  });

  test("an AbortSignal stops a download with ABOR; the session goes on", async () => {
    const client = await open();
    try {
      const controller = new AbortController();
      await assert.rejects(
        client.get("pub/big.bin", {
          signal: controller.signal,
          onProgress: (bytes) => bytes > 1_000_000 && controller.abort(),
        }),
        (error: unknown) => (error as Error).name === "AbortError",
      );
      assert.equal((await client.raw("NOOP")).code, 200);
      assert.equal((await client.get("pub/hello.txt")).length, 18);
    } finally {
      await client.close();
    }
  });

  test("a certificate that does not match is refused by default", async () => {
    await assert.rejects(
      connectFtps({ host: "127.0.0.1", port: explicit.port, timeoutMs: 10_000 }),
      /certificate|self.signed|unable to verify/i,
    );
  });
});

/** Gives `path` to the ftp user, as vsftpd's anonymous uploads need. */
async function chownFtp(path: string): Promise<void> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const line = passwd.split("\n").find((entry) => entry.startsWith("ftp:"));
  if (!line) throw new Error("No ftp user: vsftpd's package makes it");
  const [, , uid, gid] = line.split(":");
  await chown(path, Number(uid), Number(gid));
}
