// The ftkit TFTP client, on the runtime running the tests, against real servers.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TftpTransferError } from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { until } from "../_wait.ts";
import {
  bytesOf,
  type Daemon,
  missing,
  onFreePort,
  PEER,
  type PeerName,
  startDaemon,
  tempDir,
  TFTPD_ARGS,
} from "./_peers.ts";

const SERVERS: {
  name: string;
  peer: PeerName;
  windowsize: boolean;
  args: (root: string, port: number) => string[];
}[] = [
  {
    name: "tftpd-hpa",
    peer: "tftpdHpa",
    windowsize: false,
    args: (root: string, port: number) => [...TFTPD_ARGS.tftpdHpa(root, port), "-c", "-p"],
  },
  {
    name: "atftpd",
    peer: "atftpd",
    windowsize: true,
    args: TFTPD_ARGS.atftpd,
  },
];

for (const peer of SERVERS) {
  describe(`ftkit TFTP client against ${peer.name}`, { skip: missing(peer.peer) }, () => {
    let root: { path: string; remove(): Promise<void> };
    let daemon: Daemon;
    let port: number;
    const file = bytesOf(2_000_000, 3);
    const huge = bytesOf(65536 * 512 + 17, 5);

    before(async () => {
      root = await tempDir(`ftkit-${peer.name}-`);
      await writeFile(join(root.path, "image.bin"), file);
      await writeFile(join(root.path, "huge.bin"), huge);
      await writeFile(join(root.path, "notes.txt"), "one\ntwo\r\nthree");
      // Started once it listens on its port itself (not after a guessed delay).
      [daemon, port] = await onFreePort("udp", async (free) => [
        await startDaemon(PEER[peer.peer], peer.args(root.path, free), { udp: free }),
        free,
      ]);
    });

    after(async () => {
      await daemon?.stop();
      await root?.remove();
    });

    for (const blksize of [512, 1468, 65464]) {
      test(`get and put at blksize ${blksize}`, async () => {
        const api = await tftpApi();
        const got = await api.tftpGet({ host: "127.0.0.1", port, remote: "image.bin", blksize });
        assert.deepEqual(got, file);
        // tftpd-hpa writes only over existing files unless -c; atftpd creates them.
        await api.tftpPut({ host: "127.0.0.1", port, remote: `up-${blksize}.bin`, blksize }, got);
        // atftpd acknowledges the last block before the file is whole on disk (peers.md): wait
        // (bounded) until it has its full length, then compare every byte.
        const stored = join(root.path, `up-${blksize}.bin`);
        await until(
          async () => (await stat(stored).catch(() => undefined))?.size === file.length,
          `${stored} to reach ${file.length} bytes`,
        ).catch(() => {});
        assert.deepEqual(new Uint8Array(await readFile(stored)), file);
      });
    }

    if (peer.windowsize) {
      for (const windowsize of [4, 16, 64]) {
        test(`get with windowsize ${windowsize}`, async () => {
          const api = await tftpApi();
          const got = await api.tftpGet({
            host: "127.0.0.1",
            port,
            remote: "image.bin",
            blksize: 1468,
            windowsize,
          });
          assert.deepEqual(got, file);
        });
      }
    }

    test("a file of more than 65535 blocks", async () => {
      const api = await tftpApi();
      const got = await api.tftpGet({ host: "127.0.0.1", port, remote: "huge.bin", blksize: 512 });
      assert.equal(got.length, huge.length);
      assert.deepEqual(got, huge);
    });

    test("netascii", async () => {
      const api = await tftpApi();
      const got = await api.tftpGet({
        host: "127.0.0.1",
        port,
        remote: "notes.txt",
        mode: "netascii",
      });
      assert.equal(new TextDecoder().decode(got), "one\ntwo\r\nthree");
    });

    test("a missing file fails with the server's ERROR 1", async () => {
      const api = await tftpApi();
      await assert.rejects(
        api.tftpGet({ host: "127.0.0.1", port, remote: "missing.bin" }),
        (error: unknown) =>
          error instanceof TftpTransferError && error.code === 1 && error.reason === "peer-error",
      );
    });
  });
}
