// ftkit's FTPS server behind HAProxy (TCP mode, `send-proxy` and `send-proxy-v2`) on loopback,
// with curl and a raw client connecting from 127.0.0.2 while HAProxy connects from 127.0.0.1:
// the server logs the real client, a passive transfer goes with its data connection made straight
// to the server and checked against the real client's address (one from 127.0.0.3 is refused),
// and with the passive ports forwarded through HAProxy too, only `dataThroughProxy` lets EPSV
// transfers through.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type Daemon,
  DaemonExitedError,
  freeTcpPort,
  missing,
  PEER,
  startDaemon,
  tempDir,
} from "./_peers.ts";
import {
  CA_PEM,
  curl,
  type FtpsLogEntry,
  logged,
  type LoggedServer,
  startFtkit,
} from "./_ftps_clients.ts";
import { PASSWORD, USER } from "./_ftps_servers.ts";
import { dataConnection, RawFtp, readAll } from "../ftps/_raw_ftp.ts";

const HELLO = "hello through haproxy\n";

/** HAProxy in the foreground with `config`, listening on `port` once started. */
async function haproxy(dir: string, config: string, port: number): Promise<Daemon> {
  const file = join(dir, `haproxy-${port}.cfg`);
  await writeFile(file, config);
  return await startDaemon(PEER.haproxy, ["-db", "-f", file], { tcp: port });
}

const DEFAULTS = [
  "global",
  "  maxconn 200",
  "defaults",
  "  mode tcp",
  "  timeout connect 5s",
  "  timeout client 60s",
  "  timeout server 60s",
];

/** A frontend on `bind` relaying to `server` (`send-proxy`, `send-proxy-v2` or nothing). */
function relay(name: string, bind: string, server: string): string[] {
  return [
    `frontend ${name}`,
    `  bind ${bind}`,
    `  default_backend ${name}_servers`,
    `backend ${name}_servers`,
    `  server ftkit ${server}`,
  ];
}

/** The entries of one type logged from index `from`. */
function entries<T extends FtpsLogEntry["type"]>(
  log: readonly FtpsLogEntry[],
  type: T,
  from = 0,
): Extract<FtpsLogEntry, { type: T }>[] {
  return log.slice(from).filter((entry): entry is Extract<FtpsLogEntry, { type: T }> =>
    entry.type === type
  );
}

describe("ftkit's FTPS server behind HAProxy (PROXY protocol)", {
  skip: missing("haproxy", "curl"),
}, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let ftkit: LoggedServer;
  let proxy: Daemon;
  const ports = { v1: 0, v2: 0 };
  before(async () => {
    dir = await tempDir("ftkit-haproxy-");
    await writeFile(join(dir.path, "hello.txt"), HELLO);
    ftkit = await startFtkit(dir.path, {
      proxyProtocol: { trusted: ["127.0.0.1"] },
      dataProtection: "optional",
    });
    // HAProxy's own address toward the server is 127.0.0.1: the trusted proxy.
    for (let attempt = 0;; attempt++) {
      ports.v1 = await freeTcpPort();
      ports.v2 = await freeTcpPort();
      const config = [
        ...DEFAULTS,
        ...relay("v1", `127.0.0.1:${ports.v1}`, `127.0.0.1:${ftkit.port} send-proxy`),
        ...relay("v2", `127.0.0.1:${ports.v2}`, `127.0.0.1:${ftkit.port} send-proxy-v2`),
        "",
      ].join("\n");
      try {
        proxy = await haproxy(dir.path, config, ports.v2);
        break;
      } catch (error) {
        if (!(error instanceof DaemonExitedError) || attempt === 4) throw error;
      }
    }
  });
  after(async () => {
    await proxy?.stop();
    await ftkit?.close();
    await dir?.remove();
  });

  for (const version of ["v1", "v2"] as const) {
    test(`curl from 127.0.0.2 through send-proxy${version === "v2" ? "-v2" : ""}: logged as 127.0.0.2, PASV straight to the server`, async () => {
      const from = ftkit.log.length;
      // PASV (not EPSV, which would send the data connection to HAProxy) and its address (the
      // server's own: no passiveHost), from 127.0.0.2 for both connections.
      const ran = await curl([
        "--ssl-reqd",
        "--interface",
        "127.0.0.2",
        "--disable-epsv",
        "--no-ftp-skip-pasv-ip",
        "-u",
        `${USER}:${PASSWORD}`,
        `ftp://127.0.0.1:${ports[version]}/hello.txt`,
      ], 60_000);
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal(ran.stdout, HELLO);
      const [transfer] = await logged(ftkit.log, from, (entry) => entry.type === "transfer");
      assert.ok(transfer && transfer.type === "transfer");
      assert.equal(transfer.remoteAddress, "127.0.0.2");
      assert.equal(transfer.outcome, "ok");
      assert.ok(transfer.tls, "PROT P");
      const login = entries(ftkit.log, "login", from);
      assert.deepEqual(login.map((entry) => [entry.remoteAddress, entry.ok]), [[
        "127.0.0.2",
        true,
      ]]);
      assert.deepEqual(entries(ftkit.log, "data-refused", from), []);
    });
  }

  test("a data connection from another address than the real client's is refused", async () => {
    const from = ftkit.log.length;
    const ftp = await RawFtp.connect(ports.v2, { ca: CA_PEM, localAddress: "127.0.0.2" });
    try {
      assert.equal((await ftp.reply()).code, 220);
      await ftp.authTls();
      assert.equal((await ftp.login(USER, PASSWORD)).code, 230);
      assert.equal((await ftp.command("PBSZ 0")).code, 200);
      assert.equal((await ftp.command("PROT C")).code, 200);
      assert.equal((await ftp.command("TYPE I")).code, 200);
      const pasv = await ftp.command("PASV");
      const [, port] = pasv.text.match(/\(127,0,0,1,(\d+,\d+)\)/)!;
      const dataPort = port.split(",").map(Number).reduce((high, low) => high * 256 + low);
      const thief = await dataConnection(dataPort, { localAddress: "127.0.0.3" });
      const stolen = readAll(thief).catch(() => new Uint8Array(0));
      assert.equal((await ftp.command("RETR hello.txt")).code, 150);
      assert.equal((await stolen).length, 0);
      const data = await dataConnection(dataPort, { localAddress: "127.0.0.2" });
      assert.equal(new TextDecoder().decode(await readAll(data)), HELLO);
      assert.equal((await ftp.reply()).code, 226);
    } finally {
      ftp.close();
    }
    assert.deepEqual(
      entries(ftkit.log, "data-refused", from).map((
        entry,
      ) => [entry.remoteAddress, entry.from, entry.reason]),
      [["127.0.0.2", "127.0.0.3", "foreign-host"]],
    );
  });

  test("the server reported no errors", () => {
    assert.deepEqual(ftkit.errors, []);
  });
});

describe("ftkit's FTPS server behind HAProxy, passive ports forwarded too", {
  skip: missing("haproxy", "curl"),
}, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const servers: LoggedServer[] = [];
  let proxy: Daemon;
  /** HAProxy's control ports: to the server with dataThroughProxy, and to the one without. */
  const ports = { through: 0, direct: 0 };
  before(async () => {
    dir = await tempDir("ftkit-haproxy-data-");
    await writeFile(join(dir.path, "hello.txt"), HELLO);
    // HAProxy listens on 127.0.0.4 for control and for both servers' passive ranges, and relays
    // each passive port to the same port of 127.0.0.1 (a server line without a port).
    for (let attempt = 0;; attempt++) {
      const base = 20000 + Math.floor(Math.random() * 40000);
      for (const [i, dataThroughProxy] of [true, false].entries()) {
        servers[i] = await startFtkit(dir.path, {
          proxyProtocol: { trusted: ["127.0.0.1"], dataThroughProxy },
          passivePorts: [base + 5 * i, base + 5 * i + 4],
          // The refused transfer waits this long for a connection from the client itself.
          ...(dataThroughProxy ? {} : { dataTimeoutMs: 2000 }),
        });
      }
      ports.through = await freeTcpPort();
      ports.direct = await freeTcpPort();
      const config = [
        ...DEFAULTS,
        ...relay(
          "through",
          `127.0.0.4:${ports.through}`,
          `127.0.0.1:${servers[0].port} send-proxy-v2`,
        ),
        ...relay(
          "direct",
          `127.0.0.4:${ports.direct}`,
          `127.0.0.1:${servers[1].port} send-proxy-v2`,
        ),
        ...relay("passive", `127.0.0.4:${base}-${base + 9}`, "127.0.0.1"),
        "",
      ].join("\n");
      try {
        proxy = await haproxy(dir.path, config, ports.direct);
        break;
      } catch (error) {
        for (const server of servers.splice(0)) await server.close();
        if (!(error instanceof DaemonExitedError) || attempt === 4) throw error;
      }
    }
  });
  after(async () => {
    await proxy?.stop();
    for (const server of servers) await server.close();
    await dir?.remove();
  });

  /** curl from 127.0.0.2 with EPSV: its data connection goes to HAProxy, which relays it. */
  const epsv = (port: number) =>
    curl([
      "--ssl-reqd",
      "--interface",
      "127.0.0.2",
      "-u",
      `${USER}:${PASSWORD}`,
      // The certificate names localhost and 127.0.0.1: localhost, reached at 127.0.0.4.
      "--resolve",
      `localhost:${port}:127.0.0.4`,
      `ftp://localhost:${port}/hello.txt`,
    ], 60_000);

  test("with dataThroughProxy, EPSV's data connection through HAProxy is taken", async () => {
    const [server] = servers;
    const ran = await epsv(ports.through);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, HELLO);
    const [transfer] = await logged(server.log, 0, (entry) => entry.type === "transfer");
    assert.ok(transfer && transfer.type === "transfer");
    assert.equal(transfer.remoteAddress, "127.0.0.2");
    assert.equal(transfer.outcome, "ok");
  });

  test("without it, a data connection from the proxy is not the client's: refused", async () => {
    const server = servers[1];
    const ran = await epsv(ports.direct);
    assert.notEqual(ran.code, 0, ran.stdout);
    const refused = await logged(server.log, 0, (entry) => entry.type === "data-refused");
    assert.ok(refused.length >= 1, JSON.stringify(server.log));
    for (const entry of refused) {
      // Named by its session, with its user: the rest is the refusal.
      const { sessionId, user: _user, ...rest } = entry as Extract<
        typeof entry,
        { type: "data-refused" }
      >;
      assert.match(sessionId, /^[0-9a-f]+-\d+$/);
      assert.deepEqual(rest, {
        type: "data-refused",
        remoteAddress: "127.0.0.2",
        from: "127.0.0.1",
        reason: "foreign-host",
      });
    }
  });

  test("the servers reported no errors", () => {
    for (const server of servers) assert.deepEqual(server.errors, []);
  });
});
