// The FTPS client against vsftpd 3.0.3 on loopback: explicit and implicit TLS, TLS 1.2 and 1.3,
// vsftpd's defaults of PROT P required and TLS session reuse required on data connections.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { chmod, mkdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connectFtps, type FtpsClient } from "../ftps/_connect.ts";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import {
  chownFtp,
  everyOperation,
  FIXTURES,
  type FtpsServer,
  HELLO_MTIME,
  refusedBeforeUser,
  resumedTransfers,
  startVsftpd,
} from "./_ftps_servers.ts";

const skip = missing("vsftpd");

describe("FTPS client against vsftpd (session reuse required)", { skip }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let explicit: FtpsServer;
  let implicit: FtpsServer;
  let ca: string;
  let bigBytes: Uint8Array | undefined;
  // 100 MiB.
  const big = () => bigBytes ??= bytesOf(100 * 1024 * 1024, 7);

  before(async () => {
    dir = await tempDir("ftkit-vsftpd-");
    // The anonymous root may not be writable (vsftpd chroots there); pub is, for the ftp user.
    await mkdir(join(dir.path, "top", "pub"), { recursive: true });
    await chmod(dir.path, 0o755);
    await chmod(join(dir.path, "top"), 0o755);
    await writeFile(join(dir.path, "top", "pub", "hello.txt"), "hello from vsftpd\n");
    await utimes(join(dir.path, "top", "pub", "hello.txt"), HELLO_MTIME, HELLO_MTIME);
    await writeFile(join(dir.path, "top", "pub", "big.bin"), big());
    await chownFtp(join(dir.path, "top", "pub"));
    ca = await readFile(join(FIXTURES, "ca.pem"), "utf8");
    explicit = await startVsftpd(dir.path, join(dir.path, "top"));
    implicit = await startVsftpd(dir.path, join(dir.path, "top"), { implicit: true });
  });

  after(async () => {
    await explicit?.stop();
    await implicit?.stop();
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

  for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
    test(`${maxVersion}: every operation, each data connection resuming the session`, async () => {
      const client = await open({ maxVersion });
      try {
        // vsftpd has no MLSD: listings are LIST lines, parsed.
        assert.equal(client.features.has("MLST"), false);
        await everyOperation(client, {
          root: join(dir.path, "top"),
          tag: `vsftpd-${maxVersion}`,
          hello: "hello from vsftpd\n",
          resumed: true,
        });
      } finally {
        await client.close();
      }
    });
  }

  test("100 MB down and up, byte for byte", async () => {
    const client = await open();
    try {
      const down = await client.get("pub/big.bin");
      assert.equal(down.length, big().length);
      assert.ok(Buffer.compare(down, big()) === 0, "identical download");
      await client.put("pub/big-up.bin", big());
      const stored = await readFile(join(dir.path, "top", "pub", "big-up.bin"));
      assert.ok(Buffer.compare(stored, big()) === 0, "identical upload");
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

  for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
    for (const secure of ["explicit", "implicit"] as const) {
      test(`${maxVersion}, ${secure}: 21 transfers in one session, each resuming (client and vsftpd's log)`, async () => {
        const client = await open({ maxVersion, implicit: secure === "implicit" });
        try {
          await resumedTransfers(client, secure === "implicit" ? implicit : explicit, {
            tag: `${maxVersion}-${secure}`,
            hello: "hello from vsftpd\n",
          });
        } finally {
          await client.close();
        }
      });
    }
  }

  test("a wrong CA, and a wrong name, are refused before USER reaches vsftpd", async () => {
    await refusedBeforeUser(
      explicit,
      dir.path,
      (options) =>
        connectFtps({ host: "127.0.0.1", port: explicit.port, timeoutMs: 20_000, ...options }),
    );
  });

  test("a certificate that does not match is refused by default", async () => {
    await assert.rejects(
      connectFtps({ host: "127.0.0.1", port: explicit.port, timeoutMs: 10_000 }),
      /certificate|self.signed|unable to verify/i,
    );
  });
});
