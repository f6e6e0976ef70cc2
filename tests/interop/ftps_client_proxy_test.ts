// The FTPS client through proxies on loopback: Dante's danted (SOCKS5, RFC 1928; `socks5://` and
// `socks5h://`), tinyproxy (HTTP CONNECT, RFC 9110 section 9.3.6, with Basic authentication and
// ConnectPort rules), and a small SOCKS5 server here for username/password authentication (RFC
// 1929: danted checks those against the system's users) and refusals. The control connection and
// each passive data connection must go through the proxy (its log counts them), TLS end to end;
// active mode is refused.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createServer, type Socket } from "node:net";
import { FtpsClient } from "../../ftps/mod.ts";
import { clientTransports, connectFtps } from "../ftps/_connect.ts";
import { freeTcpPort, missing, tempDir } from "./_peers.ts";
import {
  MiniSocks,
  type ProxyDaemon,
  startDanted,
  startTinyproxy,
  tunnelPorts,
} from "./_proxies.ts";
import { CA_PEM, type LoggedServer, startFtkit } from "./_ftps_clients.ts";
import { chownFtp, PASSWORD, startVsftpd, USER } from "./_ftps_servers.ts";
import { until } from "../_wait.ts";

const TEXT = "through the proxy\n";

/** Lists, uploads and downloads `name` through `client`; returns what came back. */
async function roundTrip(client: FtpsClient, name: string): Promise<void> {
  await client.put(name, TEXT);
  assert.ok((await client.list()).some((entry) => entry.name === name));
  assert.equal(new TextDecoder().decode(await client.get(name)), TEXT);
  assert.equal(client.lastTransfer?.tls, true);
}

describe("FTPS client through proxies", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: LoggedServer;
  let passive: [number, number];

  before(async () => {
    dir = await tempDir("ftkit-proxy-");
    const first = await freeTcpPort();
    passive = [first, Math.min(first + 15, 65535)];
    server = await startFtkit(dir.path, { passivePorts: passive });
  });

  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  const options = (proxy: string | { url: string; user?: string; password?: string }) => ({
    host: "127.0.0.1",
    port: server.port,
    user: USER,
    password: PASSWORD,
    ca: CA_PEM,
    servername: "localhost",
    proxy,
    timeoutMs: 20_000,
  });

  test("active mode through a proxy is refused before connecting", async () => {
    await assert.rejects(
      connectFtps({ ...options("socks5://127.0.0.1:9"), passive: false }),
      /Active mode \(passive: false\) cannot go through the SOCKS5 proxy 127\.0\.0\.1:9/,
    );
  });

  test("an unsupported scheme and a broken URL are refused clearly", async () => {
    await assert.rejects(connectFtps(options("https://127.0.0.1:3128")), /https:\/\/ is not/);
    await assert.rejects(connectFtps(options("socks5://127.0.0.1:99999")), /not 1-65535/);
  });

  describe("danted (SOCKS5)", { skip: missing("danted") }, () => {
    let danted: ProxyDaemon;
    before(async () => (danted = await startDanted(dir.path)));
    after(async () => await danted?.stop());

    for (const { name, transport } of clientTransports) {
      test(`${name}: socks5:// carries the control and every data connection`, async () => {
        const before = (await tunnelPorts(danted.log)).length;
        const client = await FtpsClient.connect({
          ...options(`socks5://127.0.0.1:${danted.port}`),
          transport,
        });
        try {
          await roundTrip(client, `danted-${name.replace(/\W+/g, "-")}.txt`);
        } finally {
          await client.close();
        }
        // One tunnel to the control port, one per data connection (STOR, MLSD/LIST, RETR).
        await until(
          async () => (await tunnelPorts(danted.log)).length >= before + 4,
          "danted's log of four tunnels",
        );
        const ports = (await tunnelPorts(danted.log)).slice(before);
        assert.equal(ports.filter((port) => port === server.port).length, 1);
        const data = ports.filter((port) => port !== server.port);
        assert.equal(data.length, 3);
        assert.ok(data.every((port) => port >= passive[0] && port <= passive[1]), `${data}`);
      });
    }

    test("vsftpd through it: data connections still resume the TLS session", {
      skip: missing("vsftpd"),
    }, async () => {
      const top = join(dir.path, "vsftpd-top");
      await mkdir(join(top, "pub"), { recursive: true });
      // The anonymous root must not be writable by the ftp user (vsftpd chroots there); pub is.
      await chmod(dir.path, 0o755);
      await chmod(top, 0o755);
      await writeFile(join(top, "pub", "hello.txt"), TEXT);
      await chownFtp(join(top, "pub"));
      const vsftpd = await startVsftpd(dir.path, top);
      try {
        const before = (await tunnelPorts(danted.log)).length;
        {
          await using client = await connectFtps({
            host: "127.0.0.1",
            port: vsftpd.port,
            ca: CA_PEM,
            servername: "localhost",
            proxy: `socks5://127.0.0.1:${danted.port}`,
            timeoutMs: 20_000,
          });
          assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), TEXT);
          // vsftpd requires reuse (require_ssl_reuse=YES): it took the session the tunnel carried.
          assert.equal(client.lastTransfer?.resumed, true);
          await client.put("pub/up.txt", TEXT);
          assert.ok((await client.list("pub")).some((entry) => entry.name === "up.txt"));
        }
        await until(
          async () => (await tunnelPorts(danted.log)).length >= before + 4,
          "danted's log of four tunnels to vsftpd",
        );
        const ports = (await tunnelPorts(danted.log)).slice(before);
        assert.equal(ports.filter((port) => port === vsftpd.port).length, 1);
      } finally {
        await vsftpd.stop();
      }
    });

    test("socks5h:// sends the name for the proxy to resolve", async () => {
      await using client = await connectFtps({
        ...options(`socks5h://127.0.0.1:${danted.port}`),
        host: "localhost",
      });
      await roundTrip(client, "danted-socks5h.txt");
    });
  });

  describe("tinyproxy (HTTP CONNECT)", { skip: missing("tinyproxy") }, () => {
    let tinyproxy: ProxyDaemon;
    let controlOnly: ProxyDaemon;
    const ports = () => [server.port, ...Array.from({ length: 16 }, (_, i) => passive[0] + i)];
    before(async () => {
      tinyproxy = await startTinyproxy(dir.path, ports());
      controlOnly = await startTinyproxy(dir.path, [server.port]);
    });
    after(async () => {
      await tinyproxy?.stop();
      await controlOnly?.stop();
    });

    test("http:// with Basic credentials carries the control and every data connection", async () => {
      const before = (await tunnelPorts(tinyproxy.log)).length;
      {
        await using client = await connectFtps(
          options(`http://fred:proxy-pw@127.0.0.1:${tinyproxy.port}`),
        );
        await roundTrip(client, "tinyproxy.txt");
      }
      await until(
        async () => (await tunnelPorts(tinyproxy.log)).length >= before + 4,
        "tinyproxy's log of four tunnels",
      );
      const seen = (await tunnelPorts(tinyproxy.log)).slice(before);
      assert.equal(seen.filter((port) => port === server.port).length, 1);
      assert.equal(seen.filter((port) => port !== server.port).length, 3);
    });

    test("credentials as options, and wrong ones refused with the proxy's 401 or 407", async () => {
      {
        await using client = await connectFtps(
          options({
            url: `http://127.0.0.1:${tinyproxy.port}`,
            user: "fred",
            password: "proxy-pw",
          }),
        );
        assert.ok(Array.isArray(await client.list()));
      }
      await assert.rejects(
        connectFtps(options(`http://fred:wrong@127.0.0.1:${tinyproxy.port}`)),
        /HTTP proxy 127\.0\.0\.1:\d+ gave no tunnel to 127\.0\.0\.1:\d+: .*40[17] .*requires authentication/,
      );
    });

    test("a data port the proxy does not allow: the transfer fails with its 403", async () => {
      await using client = await connectFtps(
        options(`http://fred:proxy-pw@127.0.0.1:${controlOnly.port}`),
      );
      await assert.rejects(client.list(), /refused the tunnel: 403/);
    });
  });

  describe("a SOCKS5 server with username and password (RFC 1929)", () => {
    let socks: MiniSocks;
    let refusing: MiniSocks;
    before(async () => {
      socks = new MiniSocks({ user: "fred", password: "socks pw" });
      refusing = new MiniSocks({ refuse: 2 });
      await socks.listen();
      await refusing.listen();
    });
    after(async () => {
      await socks?.close();
      await refusing?.close();
    });

    test("the right credentials: every connection through it", async () => {
      const before = socks.targets.length;
      {
        await using client = await connectFtps(
          options(`socks5://fred:socks%20pw@127.0.0.1:${socks.port}`),
        );
        await roundTrip(client, "mini-socks.txt");
      }
      const targets = socks.targets.slice(before);
      assert.equal(targets.length, 4);
      assert.equal(targets[0], `127.0.0.1:${server.port}`);
    });

    test("implicit TLS through it: the handshake runs over the tunnel", async () => {
      const implicit = await startFtkit(dir.path, { secure: "implicit" });
      try {
        const before = socks.targets.length;
        {
          await using client = await connectFtps({
            ...options(`socks5://fred:socks%20pw@127.0.0.1:${socks.port}`),
            port: implicit.port,
            secure: "implicit",
          });
          assert.equal(new TextDecoder().decode(await client.get("mini-socks.txt")), TEXT);
        }
        assert.deepEqual(socks.targets.slice(before, before + 1), [`127.0.0.1:${implicit.port}`]);
      } finally {
        await implicit.close();
      }
    });

    test("a proxy that never answers: bounded by timeoutMs, its connection closed", async () => {
      const sockets: Socket[] = [];
      let closed = 0;
      const silent = createServer((socket) => {
        sockets.push(socket);
        socket.on("close", () => closed++).on("error", () => {}).resume();
      });
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const address = silent.address();
      const port = typeof address === "object" && address ? address.port : 0;
      try {
        await assert.rejects(
          connectFtps({ ...options(`socks5://127.0.0.1:${port}`), timeoutMs: 500 }),
          /within 500 ms/,
        );
        await until(
          () => sockets.length === 1 && closed === 1,
          "the client to close its connection to the silent proxy",
        );
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    test("wrong credentials, none, and a refusal: each said clearly", async () => {
      await assert.rejects(
        connectFtps(options(`socks5://fred:wrong@127.0.0.1:${socks.port}`)),
        /refused the username and password/,
      );
      await assert.rejects(
        connectFtps(options(`socks5://127.0.0.1:${socks.port}`)),
        /requires authentication/,
      );
      await assert.rejects(
        connectFtps(options(`socks5://127.0.0.1:${refusing.port}`)),
        /connection not allowed by ruleset \(reply 2\)/,
      );
    });
  });
});
