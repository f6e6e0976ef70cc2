// The ftkit TFTP server, on the runtime running the tests, answering real clients.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TftpServer, TftpTransferRecord } from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { bytesOf, missing, PEER, runPeer, tempDir } from "./_peers.ts";
import { until } from "../_wait.ts";

describe("ftkit TFTP server with real clients", () => {
  let root: { path: string; remove(): Promise<void> };
  let outside: { path: string; remove(): Promise<void> };
  let server: TftpServer;
  let port: number;
  const records: TftpTransferRecord[] = [];
  const file = bytesOf(3_000_000, 7);
  const small = bytesOf(70_000, 9);
  // 65537 blocks of 512 bytes, plus a short one: the block number wraps.
  const huge = bytesOf(65537 * 512 + 100, 11);

  before(async () => {
    root = await tempDir("ftkit-root-");
    outside = await tempDir("ftkit-outside-");
    await writeFile(join(root.path, "firmware.bin"), file);
    await writeFile(join(root.path, "small.bin"), small);
    await writeFile(join(root.path, "huge.bin"), huge);
    await writeFile(join(root.path, "motd.txt"), "line one\nline two\r\nlast\n");
    await writeFile(join(outside.path, "secret.txt"), "secret");
    await symlink(join(outside.path, "secret.txt"), join(root.path, "escape.txt"));
    const api = await tftpApi();
    server = await api.serveTftp({
      root: root.path,
      host: "127.0.0.1",
      port: 0,
      allowWrite: true,
      onTransfer: (record) => records.push(record),
    });
    port = server.address.port;
  });

  after(async () => {
    await server?.close();
    await root?.remove();
    await outside?.remove();
  });

  const url = (name: string) => `tftp://127.0.0.1:${port}/${name}`;

  for (const blksize of [512, 1468, 65464]) {
    test(`curl reads 3 MB at blksize ${blksize}`, { skip: missing("curl") }, async () => {
      const out = join(root.path, `curl-${blksize}.out`);
      const ran = await runPeer(PEER.curl, [
        "-sS",
        "--tftp-blksize",
        String(blksize),
        "-o",
        out,
        url("firmware.bin"),
      ]);
      assert.equal(ran.code, 0, ran.stderr + ran.stdout);
      assert.deepEqual(new Uint8Array(await readFile(out)), file);
    });

    test(`curl writes at blksize ${blksize}`, { skip: missing("curl") }, async () => {
      const local = join(root.path, "small.bin");
      const ran = await runPeer(PEER.curl, [
        "-sS",
        "--tftp-blksize",
        String(blksize),
        "-T",
        local,
        url(`up-curl-${blksize}.bin`),
      ]);
      assert.equal(ran.code, 0, ran.stderr + ran.stdout);
      assert.deepEqual(
        new Uint8Array(await readFile(join(root.path, `up-curl-${blksize}.bin`))),
        small,
      );
    });

    test(
      `atftp reads at blksize ${blksize}, windowsize 16`,
      { skip: missing("atftp") },
      async () => {
        const out = join(root.path, `atftp-${blksize}.out`);
        const ran = await runPeer(PEER.atftp, [
          "--get",
          "-r",
          "firmware.bin",
          "-l",
          out,
          "--option",
          `blksize ${blksize}`,
          "--option",
          "windowsize 16",
          "127.0.0.1",
          String(port),
        ]);
        assert.equal(ran.code, 0, ran.stderr + ran.stdout);
        assert.deepEqual(new Uint8Array(await readFile(out)), file);
      },
    );

    test(`atftp writes at blksize ${blksize}`, { skip: missing("atftp") }, async () => {
      const ran = await runPeer(PEER.atftp, [
        "--put",
        "-r",
        `up-atftp-${blksize}.bin`,
        "-l",
        join(root.path, "small.bin"),
        "--option",
        `blksize ${blksize}`,
        "127.0.0.1",
        String(port),
      ]);
      assert.equal(ran.code, 0, ran.stderr + ran.stdout);
      assert.deepEqual(
        new Uint8Array(await readFile(join(root.path, `up-atftp-${blksize}.bin`))),
        small,
      );
    });

    test(
      `busybox tftp reads and writes at blksize ${blksize}`,
      { skip: missing("busybox") },
      async () => {
        const out = join(root.path, `busybox-${blksize}.out`);
        const get = await runPeer(PEER.busybox, [
          "tftp",
          "-g",
          "-r",
          "firmware.bin",
          "-l",
          out,
          "-b",
          String(blksize),
          "127.0.0.1",
          String(port),
        ]);
        assert.equal(get.code, 0, get.stderr);
        assert.deepEqual(new Uint8Array(await readFile(out)), file);
        const put = await runPeer(PEER.busybox, [
          "tftp",
          "-p",
          "-r",
          `up-busybox-${blksize}.bin`,
          "-l",
          join(root.path, "small.bin"),
          "-b",
          String(blksize),
          "127.0.0.1",
          String(port),
        ]);
        assert.equal(put.code, 0, put.stderr);
        assert.deepEqual(
          new Uint8Array(await readFile(join(root.path, `up-busybox-${blksize}.bin`))),
          small,
        );
      },
    );
  }

  test("atftp reads with windowsize 64 at blksize 8192 without stalling", {
    skip: missing("atftp"),
  }, async () => {
    const out = join(root.path, "atftp-window.out");
    const ran = await runPeer(PEER.atftp, [
      "--get",
      "-r",
      "firmware.bin",
      "-l",
      out,
      "--option",
      "blksize 8192",
      "--option",
      "windowsize 64",
      "127.0.0.1",
      String(port),
    ], { timeoutMs: 100_000 });
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    assert.deepEqual(new Uint8Array(await readFile(out)), file);
  });

  test(
    "tftp-hpa reads and writes (RFC 1350, no options)",
    { skip: missing("tftpHpa") },
    async () => {
      const out = join(root.path, "hpa.out");
      const get = await runPeer(PEER.tftpHpa, [
        "-m",
        "octet",
        "127.0.0.1",
        String(port),
        "-c",
        "get",
        "small.bin",
        out,
      ]);
      assert.equal(get.code, 0, get.stderr + get.stdout);
      assert.deepEqual(new Uint8Array(await readFile(out)), small);
      const put = await runPeer(PEER.tftpHpa, [
        "-m",
        "octet",
        "127.0.0.1",
        String(port),
        "-c",
        "put",
        join(root.path, "small.bin"),
        "up-hpa.bin",
      ]);
      assert.equal(put.code, 0, put.stderr + put.stdout);
      assert.deepEqual(new Uint8Array(await readFile(join(root.path, "up-hpa.bin"))), small);
    },
  );

  test("netascii with tftp-hpa: the text arrives with local line ends", {
    skip: missing("tftpHpa"),
  }, async () => {
    const out = join(root.path, "motd.out");
    const ran = await runPeer(PEER.tftpHpa, [
      "-m",
      "netascii",
      "127.0.0.1",
      String(port),
      "-c",
      "get",
      "motd.txt",
      out,
    ]);
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    assert.equal(await readFile(out, "utf8"), "line one\nline two\r\nlast\n");
    const put = await runPeer(PEER.tftpHpa, [
      "-m",
      "netascii",
      "127.0.0.1",
      String(port),
      "-c",
      "put",
      join(root.path, "motd.txt"),
      "motd-up.txt",
    ]);
    assert.equal(put.code, 0, put.stderr + put.stdout);
    assert.equal(
      await readFile(join(root.path, "motd-up.txt"), "utf8"),
      "line one\nline two\r\nlast\n",
    );
  });

  test("curl reads a file of more than 65535 blocks", { skip: missing("curl") }, async () => {
    const out = join(root.path, "huge.out");
    const ran = await runPeer(PEER.curl, [
      "-sS",
      "--tftp-blksize",
      "512",
      "-o",
      out,
      url("huge.bin"),
    ], { timeoutMs: 120_000 });
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    assert.deepEqual(new Uint8Array(await readFile(out)), huge);
  });

  test("path traversal from real clients is refused", {
    skip: missing("tftpHpa", "atftp"),
  }, async () => {
    for (
      const name of [
        "../etc/passwd",
        "/etc/passwd",
        "a/../../secret",
        "escape.txt",
        "..\\\\x",
        "NUL",
      ]
    ) {
      const out = join(root.path, "never.out");
      const ran = await runPeer(PEER.atftp, [
        "--get",
        "-r",
        name,
        "-l",
        out,
        "127.0.0.1",
        String(port),
      ]);
      assert.notEqual(ran.code, 0, `atftp got ${name}`);
    }
    const hpa = await runPeer(PEER.tftpHpa, [
      "127.0.0.1",
      String(port),
      "-c",
      "get",
      "../../../../etc/passwd",
      join(root.path, "never2.out"),
    ]);
    assert.match(hpa.stdout + hpa.stderr, /Error code 2/);
    const refusals = () =>
      records.filter((record) => record.outcome === "failed" && record.error?.code === 2);
    // A client can exit before the server has recorded its refusal: wait for them (bounded).
    await until(() => refusals().length >= 6, "six refusals recorded").catch(() => {});
    const refused = refusals();
    assert.ok(refused.length >= 6, `${refused.length} refusals recorded`);
    for (const record of refused) {
      assert.ok(!record.error!.message.includes(root.path), "no server path leaks");
    }
  });

  test("an upload never replaces an existing file unless allowed (ERROR 6)", {
    skip: missing("curl"),
  }, async () => {
    const ran = await runPeer(PEER.curl, [
      "-sS",
      "-T",
      join(root.path, "small.bin"),
      url("firmware.bin"),
    ]);
    assert.notEqual(ran.code, 0);
    assert.deepEqual(
      new Uint8Array(await readFile(join(root.path, "firmware.bin"))),
      file,
      "untouched",
    );
  });

  test("a missing file is ERROR 1", { skip: missing("tftpHpa") }, async () => {
    const ran = await runPeer(PEER.tftpHpa, [
      "127.0.0.1",
      String(port),
      "-c",
      "get",
      "nope.bin",
      join(root.path, "nope.out"),
    ]);
    assert.match(ran.stdout + ran.stderr, /Error code 1: File not found/);
  });
});
