// The FTPS client's retry and resume (FtpsClientOptions.retry, getFile's `resume`), against
// vsftpd, ProFTPD and ftkit's own server, through a proxy that cuts the session mid-transfer
// (_cutting_proxy.ts): the download and the upload complete byte for byte, from where they broke
// off (REST, RFC 3659 section 5); a download whose data connection the proxy ends toward the
// client with a bare FIN is refused as maybe truncated; a refused login (530) is tried once.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connectFtps, FtpReplyError, type FtpsClient, serveFtps } from "../ftps/_connect.ts";
import { FtpSessionReuseError, FtpTruncationError, isRetryableFtpsError } from "../../ftps/mod.ts";
import { bytesOf, missing, tempDir } from "./_peers.ts";
import {
  chownFtp,
  FIXTURES,
  type FtpsServer,
  PASSWORD,
  startProftpd,
  startVsftpd,
  USER,
} from "./_ftps_servers.ts";
import { type CuttingProxy, PROXY_HOST, startCuttingProxy } from "./_cutting_proxy.ts";

/** 3 MiB and a bit of random-looking bytes. */
const PAYLOAD = bytesOf(3 * 1024 * 1024 + 4321, 20);
// The cut data connection, then the control connection found closed, can each take an attempt
// (and a twice-cut upload takes two of each).
const RETRY = { attempts: 6, baseDelayMs: 10, maxDelayMs: 50 } as const;
/** The idle timeout of a client whose data connection is cut silently: it notices the cut. */
const SILENT_CUT_MS = 5_000;

/** A server behind a cutting proxy, and where its `pub` directory is on disk. */
interface Peer {
  proxy: CuttingProxy;
  pub: string;
  user?: string;
  password?: string;
  /** Where the server logs the commands it gets, when it keeps what a broken upload wrote (so
   * that a continued upload sends REST there). */
  commandLog?: string;
  /** The server stops a download at the client's end (see `finAfter`'s `holdClient`). */
  stopsAtClientEnd?: boolean;
  stop(): Promise<void>;
}

function scenarios(name: string, start: (dir: string) => Promise<Peer>, skip: string | false) {
  describe(
    `FTPS client retry and resume against ${name}, through a cutting proxy`,
    { skip },
    () => {
      let dir: Awaited<ReturnType<typeof tempDir>>;
      let peer: Peer;
      let ca: string;

      before(async () => {
        dir = await tempDir("ftkit-retry-");
        ca = await readFile(join(FIXTURES, "ca.pem"), "utf8");
        peer = await start(dir.path);
        await writeFile(join(peer.pub, "payload.bin"), PAYLOAD);
        await chownFtp(join(peer.pub, "payload.bin"));
      });

      after(async () => {
        await peer?.stop();
        await dir?.remove();
      });

      const open = (retry: typeof RETRY | false = RETRY, timeoutMs = 30_000) =>
        connectFtps({
          host: PROXY_HOST,
          port: peer.proxy.port,
          ca,
          servername: "localhost",
          // Generous: a stall of a loaded machine is not a cut. A test that cuts a data
          // connection silently gives SILENT_CUT_MS, the idle timeout that notices it.
          timeoutMs,
          ...(peer.user !== undefined ? { user: peer.user } : {}),
          ...(peer.password !== undefined ? { password: peer.password } : {}),
          ...(retry ? { retry } : {}),
        });

      const use = async (
        run: (client: FtpsClient) => Promise<void>,
        retry: typeof RETRY | false = RETRY,
        timeoutMs?: number,
      ) => {
        const client = await open(retry, timeoutMs);
        try {
          await run(client);
        } finally {
          await client.close();
        }
      };

      test("a download cut mid-way (the whole session) reconnects and continues with REST", async () => {
        await use(async (client) => {
          await client.cd("pub");
          const sessions = peer.proxy.sessions;
          const cuts = peer.proxy.cuts;
          const before = peer.proxy.dataBytes;
          peer.proxy.cutAfter(1_000_000, "session");
          const got = await client.get("payload.bin");
          assert.equal(peer.proxy.cuts, cuts + 1, "cut once");
          assert.ok(peer.proxy.sessions > sessions, "a new session");
          assert.equal(got.length, PAYLOAD.length);
          assert.ok(Buffer.compare(got, PAYLOAD) === 0, "byte for byte");
          // Continued: well under twice the file went through.
          assert.ok(peer.proxy.dataBytes - before < PAYLOAD.length + 1_100_000);
          assert.equal(client.lastTransfer?.bytes, PAYLOAD.length);
        });
      });

      test("a download whose data connection alone is cut goes on in the same session", async () => {
        await use(
          async (client) => {
            const sessions = peer.proxy.sessions;
            peer.proxy.cutAfter(700_000, "data");
            const local = join(dir.path, "data-cut.bin");
            await client.getFile("pub/payload.bin", local);
            assert.equal(peer.proxy.sessions, sessions);
            assert.ok(Buffer.compare(await readFile(local), PAYLOAD) === 0, "byte for byte");
            assert.deepEqual((await readdir(dir.path)).filter((n) => n.includes("part")), []);
          },
          RETRY,
          SILENT_CUT_MS,
        );
      });

      test("a download ended toward the client by a bare FIN, the server's side whole (226), is refused; retry completes it", async () => {
        // RFC 4217 section 12.7, RFC 8446 section 6.1: no close_notify, so maybe cut short.
        const local = join(dir.path, "fin-cut.bin");
        const hold = { holdClient: peer.stopsAtClientEnd ?? false };
        await writeFile(local, "as it was");
        await use(async (client) => {
          const cuts = peer.proxy.cuts;
          peer.proxy.finAfter(98_304, hold);
          await assert.rejects(client.get("pub/payload.bin"), (error: unknown) => {
            assert.ok(error instanceof FtpTruncationError, String(error));
            assert.equal(error.expected, PAYLOAD.length);
            assert.ok(error.received <= 98_304, String(error.received));
            assert.match(error.message, /close_notify/);
            return true;
          });
          assert.equal(peer.proxy.cuts, cuts + 1, "cut once");
          peer.proxy.finAfter(98_304, hold);
          await assert.rejects(client.getFile("pub/payload.bin", local), FtpTruncationError);
          assert.equal(await readFile(local, "utf8"), "as it was");
          // The session goes on.
          assert.ok((await client.list("pub")).some((entry) => entry.name === "payload.bin"));
        }, false);
        await use(async (client) => {
          const cuts = peer.proxy.cuts;
          peer.proxy.finAfter(500_000, hold);
          await client.getFile("pub/payload.bin", local);
          assert.equal(peer.proxy.cuts, cuts + 1, "cut once");
          assert.ok(Buffer.compare(await readFile(local), PAYLOAD) === 0, "byte for byte");
        });
      });

      test("an upload cut mid-way reconnects, asks SIZE and goes on from there", async () => {
        await use(async (client) => {
          const sessions = peer.proxy.sessions;
          peer.proxy.cutAfter(1_500_000, "session");
          const progress: number[] = [];
          await client.put("pub/up.bin", PAYLOAD, { onProgress: (b) => progress.push(b) });
          assert.ok(peer.proxy.sessions > sessions, "a new session");
          const stored = await readFile(join(peer.pub, "up.bin"));
          assert.equal(stored.length, PAYLOAD.length);
          if (peer.commandLog) {
            // Continued from what the server kept, not sent again whole.
            assert.match(await readFile(peer.commandLog, "utf8"), /REST [1-9][0-9]*/);
          }
          assert.ok(Buffer.compare(stored, PAYLOAD) === 0, "byte for byte");
          assert.equal(client.lastTransfer?.bytes, PAYLOAD.length);
        });
      });

      test("a local file's upload, cut twice, still arrives whole", async () => {
        const local = join(dir.path, "local-up.bin");
        await writeFile(local, PAYLOAD);
        await use(async (client) => {
          peer.proxy.cutAfter(800_000, "session");
          let second = false;
          await client.putFile(local, "pub/up-file.bin", {
            onProgress: (bytes) => {
              if (!second && bytes > 2_000_000) {
                second = true;
                peer.proxy.cutAfter(100_000, "session");
              }
            },
          });
          const stored = await readFile(join(peer.pub, "up-file.bin"));
          assert.ok(Buffer.compare(stored, PAYLOAD) === 0, "byte for byte");
        });
      });

      test("getFile with resume keeps its partial file on failure, and a later call continues it", async () => {
        const local = join(dir.path, "resumed.bin");
        // No retry: the cut fails the download, and the partial file stays.
        let failure: unknown;
        for (let attempt = 1;; attempt++) {
          const cuts = peer.proxy.cuts;
          const client = await open(false, SILENT_CUT_MS);
          try {
            peer.proxy.cutAfter(1_200_000, "data");
            failure = await client.getFile("pub/payload.bin", local, { resume: true })
              .then(() => undefined, (error) => error);
          } finally {
            await client.close();
          }
          assert.ok(failure !== undefined, "the cut fails the download");
          if (peer.proxy.cuts > cuts) break;
          // Failed before the cut: only a refused data connection whose handshake did not resume
          // (Deno's node:tls can offer a ticket the server declines) is tried again, on a new
          // session, as a retry policy would.
          assert.ok(failure instanceof FtpSessionReuseError && attempt < 3, String(failure));
          // Said in the log: how often this happens is worth knowing.
          console.warn(`${name}: the download failed before the cut, tried again: ${failure}`);
        }
        const partial = (await stat(`${local}.ftkit-part`)).size;
        assert.ok(partial > 0 && partial < PAYLOAD.length, `partial: ${partial} (${failure})`);
        await assert.rejects(stat(local));
        const before = peer.proxy.dataBytes;
        await use(async (again) => {
          await again.getFile("pub/payload.bin", local, { resume: true });
          assert.equal(again.lastTransfer?.bytes, PAYLOAD.length - partial);
        });
        // Only the rest went through.
        assert.ok(peer.proxy.dataBytes - before <= PAYLOAD.length - partial + 65536);
        assert.ok(Buffer.compare(await readFile(local), PAYLOAD) === 0, "byte for byte");
        await assert.rejects(stat(`${local}.ftkit-part`));
      });

      test("a session cut while idle: list, size, pwd and remove reconnect first, back in cd's directory", async () => {
        await use(async (client) => {
          await client.cd("pub");
          const sessions = peer.proxy.sessions;
          peer.proxy.cutAll();
          const names = (await client.list()).map((entry) => entry.name);
          assert.ok(names.includes("payload.bin"), names.join(","));
          assert.equal(peer.proxy.sessions, sessions + 1);
          peer.proxy.cutAll();
          assert.equal(await client.size("payload.bin"), PAYLOAD.length);
          assert.match(await client.pwd(), /\/pub$/);
          await client.put("idle.txt", "x");
          peer.proxy.cutAll();
          // DELE is sent once: on a connection made again first if the client saw the cut, else
          // on the cut one, and then it fails with the connection's error, not sent again.
          const removed = await client.remove("idle.txt").then(() => true, (error) => {
            assert.ok(isRetryableFtpsError(error), String(error));
            return false;
          });
          if (!removed) await client.remove("idle.txt");
          await assert.rejects(stat(join(peer.pub, "idle.txt")));
        });
      });

      test("a refused login (530) is tried once, and says so", async () => {
        const sessions = peer.proxy.sessions;
        await assert.rejects(
          connectFtps({
            host: PROXY_HOST,
            port: peer.proxy.port,
            ca,
            servername: "localhost",
            user: "nobody-here",
            password: "wrong",
            timeoutMs: 10_000,
            retry: { attempts: 5, baseDelayMs: 10 },
          }),
          (error: unknown) => error instanceof FtpReplyError && error.code === 530,
        );
        assert.equal(peer.proxy.sessions, sessions + 1, "one attempt");
      });
    },
  );
}

scenarios("vsftpd", async (dir) => {
  const proxy = await startCuttingProxy();
  const top = join(dir, "top");
  await mkdir(join(top, "pub"), { recursive: true });
  await chownFtp(join(top, "pub"));
  const [low, high] = proxy.passivePorts;
  let server: FtpsServer;
  try {
    server = await startVsftpd(dir, top, {
      extra: [`pasv_min_port=${low}`, `pasv_max_port=${high}`],
    });
  } catch (error) {
    await proxy.close();
    throw error;
  }
  proxy.serverPort = server.port;
  return {
    proxy,
    pub: join(top, "pub"),
    ...(server.log ? { commandLog: server.log } : {}),
    stop: async () => {
      await proxy.close();
      await server.stop();
    },
  };
}, missing("vsftpd"));

scenarios("ProFTPD", async (dir) => {
  const proxy = await startCuttingProxy();
  const root = join(dir, "root");
  await mkdir(join(root, "pub"), { recursive: true });
  await chownFtp(dir, root, join(root, "pub"));
  const [low, high] = proxy.passivePorts;
  let server: FtpsServer;
  try {
    server = await startProftpd(dir, root, { extra: [`PassivePorts ${low} ${high}`] });
  } catch (error) {
    await proxy.close();
    throw error;
  }
  proxy.serverPort = server.port;
  return {
    proxy,
    pub: join(root, "pub"),
    ...(server.log ? { commandLog: server.log } : {}),
    user: USER,
    password: PASSWORD,
    stop: async () => {
      await proxy.close();
      await server.stop();
    },
  };
}, missing("proftpd", "openssl"));

scenarios("ftkit's own server", async (dir) => {
  const proxy = await startCuttingProxy();
  await mkdir(join(dir, "root", "pub"), { recursive: true });
  const server = await serveFtps({
    root: join(dir, "root"),
    allowWrite: true,
    users: { fred: "secret" },
    tls: {
      cert: await readFile(join(FIXTURES, "leaf.pem"), "utf8"),
      key: await readFile(join(FIXTURES, "leaf.key"), "utf8"),
    },
    host: "127.0.0.1",
    port: 0,
    passivePorts: proxy.passivePorts,
    loginFailureDelayMs: 0,
    lockout: false,
  });
  proxy.serverPort = server.address.port;
  return {
    proxy,
    pub: join(dir, "root", "pub"),
    user: "fred",
    password: "secret",
    stopsAtClientEnd: true,
    stop: async () => {
      await proxy.close();
      await server.close();
    },
  };
}, false);
