// The FTPS client against ProFTPD 1.3.8 (mod_tls), Pure-FTPd 1.0.50 and pyftpdlib 1.5.7 on
// loopback, TLS required on control and data connections, on TLS 1.2 and 1.3. (vsftpd has its own
// file, ftps_client_test.ts.)

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
  nameOnlyCertificate,
  PASSWORD,
  refusedBeforeUser,
  resumedTransfers,
  startProftpd,
  startPureFtpd,
  startPyftpdlib,
  USER,
} from "./_ftps_servers.ts";

let bigBytes: Uint8Array | undefined;
/** 100 MiB of pseudo-random bytes, made on first use (not when every suite here is skipped). */
function big(): Uint8Array {
  return bigBytes ??= bytesOf(100 * 1024 * 1024, 5);
}

/** A served tree: `root/pub/hello.txt` and `root/pub/big.bin`, owned by the ftp user. */
async function servedTree(dir: string, name: string, hello: string): Promise<string> {
  const root = join(dir, name);
  const pub = join(root, "pub");
  await chmod(dir, 0o755); // mkdtemp makes it 0700: the ftp user must get through
  await mkdir(pub, { recursive: true });
  await writeFile(join(pub, "hello.txt"), hello);
  await utimes(join(pub, "hello.txt"), HELLO_MTIME, HELLO_MTIME);
  await writeFile(join(pub, "big.bin"), big());
  await chownFtp(root, pub, join(pub, "hello.txt"), join(pub, "big.bin"));
  return root;
}

async function open(
  server: FtpsServer,
  options: { maxVersion?: "TLSv1.2" | "TLSv1.3"; passive?: boolean; implicit?: boolean } = {},
): Promise<FtpsClient> {
  return connectFtps({
    host: "127.0.0.1",
    port: server.port,
    secure: options.implicit ? "implicit" : "explicit",
    user: USER,
    password: PASSWORD,
    ca: await readFile(join(FIXTURES, "ca.pem"), "utf8"),
    servername: "localhost",
    timeoutMs: 20_000,
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
    ...(options.passive === false ? { passive: false } : {}),
  });
}

/** What the servers have in common: every operation, both TLS versions, 100 MB, active mode. */
function commonTests(
  name: string,
  server: () => FtpsServer,
  hello: string,
  /** Whether a data connection resumes the session on each version (where the runtime can). */
  resumes: { "TLSv1.2": boolean; "TLSv1.3": boolean },
): void {
  for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
    test(`${maxVersion}: every operation`, async () => {
      const client = await open(server(), { maxVersion });
      try {
        await everyOperation(client, {
          root: server().root,
          tag: `${name}-${maxVersion}`,
          hello,
          resumed: resumes[maxVersion],
        });
      } finally {
        await client.close();
      }
    });
  }

  test("100 MB down and up, byte for byte", async () => {
    const client = await open(server());
    try {
      const down = await client.get("pub/big.bin");
      assert.equal(down.length, big().length);
      assert.ok(Buffer.compare(down, big()) === 0, "identical download");
      await client.put("pub/big-up.bin", big());
      const stored = await readFile(join(server().root, "pub", "big-up.bin"));
      assert.ok(Buffer.compare(stored, big()) === 0, "identical upload");
      await client.remove("pub/big-up.bin");
    } finally {
      await client.close();
    }
  });

  test("active mode (EPRT): the client listens and is still the TLS client", async () => {
    const client = await open(server(), { passive: false });
    try {
      assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), hello);
      await client.put("pub/active.txt", "active\n");
      assert.equal(await readFile(join(server().root, "pub", "active.txt"), "utf8"), "active\n");
      await client.remove("pub/active.txt");
    } finally {
      await client.close();
    }
  });
}

describe(
  "FTPS client against ProFTPD 1.3.8 (mod_tls)",
  { skip: missing("proftpd", "openssl") },
  () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    // At ProFTPD's defaults: every protected data connection must resume the control
    // connection's TLS session (425 otherwise).
    let main: FtpsServer;
    let implicit: FtpsServer;
    const hello = "hello from proftpd\n";

    before(async () => {
      dir = await tempDir("ftkit-proftpd-");
      const root = await servedTree(dir.path, "root", hello);
      main = await startProftpd(dir.path, root);
      implicit = await startProftpd(dir.path, root, { implicit: true });
    });

    after(async () => {
      await main?.stop();
      await implicit?.stop();
      await dir?.remove();
    });

    commonTests("proftpd", () => main, hello, { "TLSv1.2": true, "TLSv1.3": true });

    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      for (const secure of ["explicit", "implicit"] as const) {
        test(`${maxVersion}, ${secure}: 21 transfers in one session, each resuming (client and TLSLog)`, async () => {
          const server = secure === "implicit" ? implicit : main;
          const client = await open(server, { maxVersion, implicit: secure === "implicit" });
          try {
            await resumedTransfers(client, server, { tag: `${maxVersion}-${secure}`, hello });
          } finally {
            await client.close();
          }
        });
      }
    }

    test("two sessions at once, in one process: each resumes its own TLS session", async () => {
      const clients = await Promise.all([open(main), open(main)]);
      try {
        await Promise.all(clients.map(async (client, n) => {
          for (let i = 0; i < 10; i++) {
            assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), hello);
            assert.equal(client.lastTransfer?.resumed, true);
            await client.put(`pub/both-${n}.txt`, `session ${n}, ${i}\n`);
            assert.equal(client.lastTransfer?.resumed, true);
            assert.ok((await client.list("pub")).some((entry) => entry.name === `both-${n}.txt`));
            assert.equal(client.lastTransfer?.resumed, true);
          }
          await client.remove(`pub/both-${n}.txt`);
        }));
      } finally {
        await Promise.all(clients.map((client) => client.close()));
      }
    });

    test("sessions one after another (TLS 1.2, 1.2, 1.3, 1.3, any, 1.2): each resumes its own", async () => {
      // By IP address, a name no other test here uses: on Deno the first sessions run in the
      // isolate's own TLS store, and later ones where it would offer what an earlier one left.
      const ca = await readFile(join(FIXTURES, "ca.pem"), "utf8");
      const versions = ["TLSv1.2", "TLSv1.2", "TLSv1.3", "TLSv1.3", undefined, "TLSv1.2"] as const;
      for (const [n, maxVersion] of versions.entries()) {
        const client = await connectFtps({
          host: "127.0.0.1",
          port: main.port,
          user: USER,
          password: PASSWORD,
          ca,
          timeoutMs: 20_000,
          ...(maxVersion ? { maxVersion } : {}),
        });
        try {
          for (let i = 0; i < 3; i++) {
            assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), hello);
            assert.equal(client.lastTransfer?.resumed, true, `session ${n}, RETR ${i}`);
            await client.put(`pub/one-after-${n}.txt`, `${i}\n`);
            assert.equal(client.lastTransfer?.resumed, true, `session ${n}, STOR ${i}`);
          }
          await client.remove(`pub/one-after-${n}.txt`);
        } finally {
          await client.close();
        }
      }
    });

    test("a wrong CA, and a wrong name, are refused before USER reaches ProFTPD", async () => {
      await refusedBeforeUser(main, dir.path, (options) =>
        connectFtps({
          host: "127.0.0.1",
          port: main.port,
          user: USER,
          password: PASSWORD,
          timeoutMs: 20_000,
          ...options,
        }));
    });
  },
);

describe(
  "FTPS client against Pure-FTPd 1.0.50",
  { skip: missing("pureFtpd", "purePw", "openssl") },
  () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let server: FtpsServer;
    const hello = "hello from pure-ftpd\n";

    before(async () => {
      dir = await tempDir("ftkit-pure-ftpd-");
      server = await startPureFtpd(dir.path, await servedTree(dir.path, "root", hello));
    });

    after(async () => {
      await server?.stop();
      await dir?.remove();
    });

    // Pure-FTPd sends no TLS 1.3 tickets (curl sees none either): nothing to resume there.
    commonTests("pure", () => server, hello, { "TLSv1.2": true, "TLSv1.3": false });
  },
);

describe(
  "FTPS client against pyftpdlib 1.5.7 (TLS_FTPHandler)",
  { skip: missing("python", "pyftpdlib", "openssl") },
  () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let server: FtpsServer;
    let breaksResumption: FtpsServer;
    let byName: FtpsServer;
    let nameCa: string;
    const hello = "hello from pyftpdlib\n";

    before(async () => {
      dir = await tempDir("ftkit-pyftpdlib-");
      const root = await servedTree(dir.path, "root", hello);
      server = await startPyftpdlib(root);
      breaksResumption = await startPyftpdlib(root, { optionalClientCerts: true });
      const names = await nameOnlyCertificate(dir.path);
      nameCa = names.ca;
      byName = await startPyftpdlib(root, { cert: names.cert, key: names.key });
    });

    after(async () => {
      await server?.stop();
      await breaksResumption?.stop();
      await byName?.stop();
      await dir?.remove();
    });

    commonTests("pyftpdlib", () => server, hello, { "TLSv1.2": true, "TLSv1.3": true });

    test("a certificate for a host name only: data connections are checked against that name", async () => {
      // Data connections go to the control connection's address (127.0.0.1), which this
      // certificate does not carry: they must be checked against the name the client was given.
      const client = await connectFtps({
        host: "localhost",
        port: byName.port,
        user: USER,
        password: PASSWORD,
        ca: await readFile(nameCa, "utf8"),
        timeoutMs: 20_000,
      });
      try {
        assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), hello);
        assert.ok((await client.list("pub")).some((entry) => entry.name === "hello.txt"));
      } finally {
        await client.close();
      }
      // The same certificate is refused for an address it does not name.
      await assert.rejects(
        connectFtps({
          host: "127.0.0.1",
          port: byName.port,
          user: USER,
          password: PASSWORD,
          ca: await readFile(nameCa, "utf8"),
          timeoutMs: 20_000,
        }),
        /certificate|IP|altname|NotValidForName/i,
      );
    });

    // pyftpdlib itself sometimes loses its reply to a download whose handshake it broke off (an
    // unhandled exception when it sends before the handshake is done): the session then times
    // out. An upload always gets its 522, so the retry is shown on one.
    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      test(`${maxVersion}: a server that breaks off resumed handshakes: tried once more without resumption`, async () => {
        const client = await open(breaksResumption, { maxVersion });
        try {
          // An upload from a stream: nothing was read from it before the retry.
          await client.put(`pub/retry-${maxVersion}.txt`, new Blob(["retried\n"]).stream());
          assert.deepEqual(client.lastTransfer, { bytes: 8, tls: true, resumed: false });
          const stored = join(breaksResumption.root, "pub", `retry-${maxVersion}.txt`);
          assert.equal(await readFile(stored, "utf8"), "retried\n");
          // Later transfers, downloads included, no longer offer the session.
          for (let i = 0; i < 3; i++) {
            assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), hello);
            assert.equal(client.lastTransfer?.resumed, false);
          }
          assert.ok((await client.list("pub")).some((entry) => entry.name === "hello.txt"));
          await client.remove(`pub/retry-${maxVersion}.txt`);
        } finally {
          await client.close();
        }
      });
    }
  },
);
