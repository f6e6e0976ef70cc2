// Two ftkit servers, one S3 bucket (OpenStack Swift's s3api on loopback): two FTPS servers behind
// HAProxy (control connections balanced round robin with the PROXY protocol, each server giving
// its own address for passive data connections), an upload through one read back through the
// other, and one stopped in the middle of a session while the other keeps taking new sessions;
// and two TFTP servers in single-port mode, an upload through one read back through the other.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  bytesOf,
  type Daemon,
  DaemonExitedError,
  freeTcpPort,
  missing,
  PEER,
  startDaemon,
  tempDir,
} from "./_peers.ts";
import { CA_PEM, curl, type LoggedServer, startFtkit } from "./_ftps_clients.ts";
import { PASSWORD, USER } from "./_ftps_servers.ts";
import { startSwift, swiftMissing, type SwiftStore } from "./_swift.ts";
import { connectFtps } from "../ftps/_connect.ts";
import { tftpApi } from "../_tftp_api.ts";
import { s3Storage } from "../../ftps/s3_storage.ts";
import { tftpS3Handler } from "../../tftp/s3_handler.ts";
import type { S3Options } from "../../io/s3/client.ts";
import type { TftpServer } from "../../tftp/mod.ts";

describe("two ftkit servers on one S3 bucket", {
  skip: swiftMissing() ?? missing("haproxy", "curl"),
}, () => {
  let store: SwiftStore;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let options: S3Options;
  const ftps: LoggedServer[] = [];
  let proxy: Daemon;
  let front = 0;

  before(async () => {
    store = await startSwift();
    await store.createBucket("shared");
    dir = await tempDir("ftkit-two-servers-");
    options = {
      endpoint: store.endpoint,
      region: store.region,
      bucket: "shared",
      credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
    };
    // Each server on an address of its own, which its PASV and EPSV replies give; HAProxy reaches
    // them from 127.0.0.1, the one trusted proxy.
    for (const host of ["127.0.0.2", "127.0.0.3"]) {
      ftps.push(
        await startFtkit("", {
          root: undefined,
          storage: s3Storage({
            ...options,
            prefix: "ftp/",
            allowWrite: true,
            allowOverwrite: true,
          }),
          host,
          proxyProtocol: { trusted: ["127.0.0.1"] },
        }),
      );
    }
    for (let attempt = 0;; attempt++) {
      front = await freeTcpPort();
      const config = [
        "global",
        "  maxconn 200",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 60s",
        "  timeout server 60s",
        "  retries 2",
        "  option redispatch",
        "frontend ftp",
        `  bind 127.0.0.1:${front}`,
        "  default_backend ftkit",
        "backend ftkit",
        "  balance roundrobin",
        `  server a 127.0.0.2:${ftps[0].port} send-proxy-v2 check inter 500ms fall 1`,
        `  server b 127.0.0.3:${ftps[1].port} send-proxy-v2 check inter 500ms fall 1`,
        "",
      ].join("\n");
      const file = join(dir.path, "haproxy.cfg");
      await writeFile(file, config);
      try {
        proxy = await startDaemon(PEER.haproxy, ["-db", "-f", file], { tcp: front });
        break;
      } catch (error) {
        if (!(error instanceof DaemonExitedError) || attempt === 4) throw error;
      }
    }
  });

  after(async () => {
    await proxy?.stop();
    for (const server of ftps) await server.close();
    await store?.stop();
    await dir?.remove();
  });

  /** curl from 127.0.0.5 through HAProxy; its data connections go straight to the server. */
  const viaProxy = (path: string, ...args: string[]) =>
    curl([
      "--ssl-reqd",
      "--interface",
      "127.0.0.5",
      // PASV and its address: the data connection goes straight to the session's server.
      "--disable-epsv",
      "--no-ftp-skip-pasv-ip",
      "-u",
      `${USER}:${PASSWORD}`,
      // The certificate names localhost and 127.0.0.1.
      "--resolve",
      `localhost:${front}:127.0.0.1`,
      ...args,
      `ftp://localhost:${front}/${path}`,
    ], 120_000);

  const sessions = (server: LoggedServer) =>
    server.log.filter((entry) => entry.type === "login" && entry.ok).length;

  test("an upload through one server is listed and read back through the other", async () => {
    const bytes = bytesOf(7 * 1024 * 1024 + 3, 0x2a);
    const file = join(dir.path, "up.bin");
    await writeFile(file, bytes);
    // Round robin: consecutive sessions alternate between the two servers.
    const up = await viaProxy("shared.bin", "-T", file);
    assert.equal(up.code, 0, up.stderr);
    const listed = await viaProxy("", "--list-only");
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^shared\.bin\r?$/m);
    const out = join(dir.path, "down.bin");
    const down = await viaProxy("shared.bin", "-o", out);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(new Uint8Array(await readFile(out)), bytes);
    const stored = ftps.findIndex((server) =>
      server.transfers().some((t) => t.direction === "receive" && t.path === "/shared.bin")
    );
    assert.ok(stored >= 0, "one server stored it");
    const other = ftps[1 - stored];
    assert.ok(sessions(other) >= 1, "the other server served a session");
    // Each logged its real client, from the PROXY header, and gave its own passive address.
    for (const server of ftps) {
      for (const entry of server.log.filter((entry) => entry.type === "login")) {
        assert.equal(entry.remoteAddress, "127.0.0.5");
      }
    }
  });

  test("one server stopped mid-session: the other keeps taking new sessions", async () => {
    const client = await connectFtps({
      host: "127.0.0.1",
      port: front,
      user: USER,
      password: PASSWORD,
      ca: CA_PEM,
      servername: "localhost",
      timeoutMs: 20_000,
    });
    let closed = false;
    try {
      // Control-connection commands only: ftkit's client sends data connections to the control
      // connection's host (HAProxy), whatever PASV says.
      assert.equal(await client.size("/shared.bin"), 7 * 1024 * 1024 + 3);
      // The server holding this session (the one with a session open now) stops.
      const holding = ftps.findIndex((server) => server.server.sessions > 0);
      assert.ok(holding >= 0);
      await ftps[holding].server.close({ graceMs: 0 });
      await assert.rejects(client.size("/shared.bin"));
      await client.close().catch(() => {});
      closed = true;
      const survivor = ftps[1 - holding];
      const before = sessions(survivor);
      for (let i = 0; i < 3; i++) {
        const ran = await viaProxy("shared.bin", "-o", join(dir.path, `after-${i}.bin`));
        assert.equal(ran.code, 0, `session ${i} after the stop: ${ran.stderr}`);
      }
      assert.equal(sessions(survivor) - before, 3);
    } finally {
      if (!closed) await client.close().catch(() => {});
    }
  });

  test("two TFTP servers in single-port mode: written through one, read through the other", async () => {
    const api = await tftpApi();
    const servers: TftpServer[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        servers.push(
          await api.serveTftp({
            handler: tftpS3Handler({ ...options, prefix: "tftp/", allowWrite: true }),
            host: "127.0.0.1",
            port: 0,
            singlePort: true,
          }),
        );
      }
      const image = bytesOf(3 * 1024 * 1024 + 1, 0x77);
      await api.tftpPut({
        host: "127.0.0.1",
        port: servers[0].address.port,
        remote: "boot/image.bin",
        blksize: 1468,
      }, image);
      const back = await api.tftpGet({
        host: "127.0.0.1",
        port: servers[1].address.port,
        remote: "boot/image.bin",
        blksize: 1468,
      });
      assert.deepEqual(back, image);
    } finally {
      for (const server of servers) await server.close();
    }
  });
});
