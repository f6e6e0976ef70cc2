// `ftkit ftps ls|get|put` as a real command with --proxy (through danted, SOCKS5, and tinyproxy,
// HTTP CONNECT), --cert/--key (ftkit's server logging the certificate's user in, 232), and the
// login ~/.netrc gives a host when the URL names no user (NETRC pointing to a file here).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { createFtpsCertificate } from "../../ftps/mod.ts";
import { missing, tempDir } from "./_peers.ts";
import { CA_FILE, LEAF_KEY, LEAF_PEM, type LoggedServer, startFtkit } from "./_ftps_clients.ts";
import { type ProxyDaemon, startDanted, startTinyproxy, tunnelPorts } from "./_proxies.ts";
import { projectFile, runtimeCommand } from "../_runtime.ts";

const HELLO = "hello from ftkit\n";

/** Runs the real command (killed after 120 s) with `env` over a clean environment. */
function ftkit(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  const base: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(FTKIT_PASSWORD|NETRC|ALL_PROXY|all_proxy)$/.test(name)) {
      base[name] = value;
    }
  }
  return new Promise((resolve) => {
    execFile(
      program,
      [...programArgs, ...args],
      { timeout: 120_000, killSignal: "SIGKILL", env: { ...base, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("ftkit ftps with --proxy, --cert and the login from ~/.netrc", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: LoggedServer;
  let env: Record<string, string>;
  let files: { cert: string; key: string };
  const tls = () => ["--ca", CA_FILE, "--servername", "localhost"];

  before(async () => {
    dir = await tempDir("ftkit-cli-proxy-");
    await mkdir(join(dir.path, "srv"));
    await mkdir(join(dir.path, "home"));
    await writeFile(join(dir.path, "srv", "hello.txt"), HELLO);
    const identity = await createFtpsCertificate({ names: ["fred.client.test"] });
    files = { cert: join(dir.path, "fred.pem"), key: join(dir.path, "fred.key") };
    await writeFile(files.cert, identity.certPem);
    await writeFile(files.key, identity.keyPem);
    server = await startFtkit(join(dir.path, "srv"), {
      users: {
        fred: { password: "secret" },
        carol: { certificates: [identity.fingerprint] },
      },
      tls: { cert: LEAF_PEM, key: LEAF_KEY, requestClientCertificate: true },
    });
    env = { HOME: join(dir.path, "home") };
  });

  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  const logins = (from: number) =>
    server.log.slice(from).flatMap((entry) =>
      entry.type === "login" ? [`${entry.user} ${entry.ok} ${entry.method}`] : []
    );

  test("no user in the URL: the .netrc machine's login, else its default's", async () => {
    const netrc = join(dir.path, "netrc");
    await writeFile(netrc, "machine localhost login fred password secret\n");
    let mark = server.log.length;
    const listed = await ftkit(
      ["ftps", "ls", `ftpes://localhost:${server.port}/`, ...tls()],
      { ...env, NETRC: netrc },
    );
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, "hello.txt\n");
    assert.deepEqual(logins(mark), ["fred true password"]);
    // 127.0.0.1 is no machine there: the default entry's login; its password from FTKIT_PASSWORD.
    await writeFile(netrc, "machine localhost login nobody password x\ndefault login fred\n");
    mark = server.log.length;
    const got = await ftkit(
      ["ftps", "get", `ftpes://127.0.0.1:${server.port}/hello.txt`, "-", "--quiet", ...tls()],
      { ...env, NETRC: netrc, FTKIT_PASSWORD: "secret" },
    );
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, HELLO);
    assert.deepEqual(logins(mark), ["fred true password"]);
  });

  test("--cert and --key: the certificate's user logged in without a password (232)", async () => {
    const mark = server.log.length;
    const got = await ftkit([
      "ftps",
      "get",
      `ftpes://carol@127.0.0.1:${server.port}/hello.txt`,
      "-",
      "--quiet",
      "--cert",
      files.cert,
      "--key",
      files.key,
      ...tls(),
    ], env);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, HELLO);
    assert.deepEqual(logins(mark), ["carol true certificate"]);
    const alone = await ftkit(
      ["ftps", "ls", `ftpes://carol@127.0.0.1:${server.port}/`, "--cert", files.cert, ...tls()],
      env,
    );
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--cert and --key go together/);
  });

  describe("--proxy", () => {
    let danted: ProxyDaemon | undefined;
    let tinyproxy: ProxyDaemon | undefined;
    before(async () => {
      if (!missing("danted")) danted = await startDanted(dir.path);
      if (!missing("tinyproxy")) tinyproxy = await startTinyproxy(dir.path, []);
    });
    after(async () => {
      await danted?.stop();
      await tinyproxy?.stop();
    });

    const url = (path: string) => `ftpes://fred:secret@127.0.0.1:${server.port}/${path}`;

    test("put and get through danted (socks5://)", { skip: missing("danted") }, async () => {
      const local = join(dir.path, "up.txt");
      await writeFile(local, "up through socks\n");
      const proxy = `socks5://127.0.0.1:${danted!.port}`;
      const before = (await tunnelPorts(danted!.log)).length;
      const put = await ftkit(
        ["ftps", "put", local, url("up.txt"), "--proxy", proxy, ...tls()],
        env,
      );
      assert.equal(put.code, 0, put.stderr);
      const got = await ftkit(
        ["ftps", "get", url("up.txt"), "-", "--quiet", "--proxy", proxy, ...tls()],
        env,
      );
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout, "up through socks\n");
      // Two control connections and two data connections.
      assert.ok((await tunnelPorts(danted!.log)).length - before >= 4);
    });

    test(
      "ls through tinyproxy (http:// with credentials)",
      { skip: missing("tinyproxy") },
      async () => {
        const before = (await tunnelPorts(tinyproxy!.log)).length;
        const listed = await ftkit([
          "ftps",
          "ls",
          url(""),
          "--proxy",
          `http://fred:proxy-pw@127.0.0.1:${tinyproxy!.port}`,
          ...tls(),
        ], env);
        assert.equal(listed.code, 0, listed.stderr);
        assert.match(listed.stdout, /^hello\.txt$/m);
        assert.ok((await tunnelPorts(tinyproxy!.log)).length - before >= 2);
      },
    );

    test("--active with --proxy is a usage error; a bad proxy URL is said clearly", async () => {
      const active = await ftkit(
        ["ftps", "ls", url(""), "--active", "--proxy", "socks5://127.0.0.1:9", ...tls()],
        env,
      );
      assert.equal(active.code, 2);
      assert.match(active.stderr, /--active cannot go through --proxy/);
      const https = await ftkit(
        ["ftps", "ls", url(""), "--proxy", "https://127.0.0.1:9", ...tls()],
        env,
      );
      assert.equal(https.code, 2);
      assert.match(https.stderr, /--proxy: proxy scheme https:\/\/ is not supported/);
    });
  });

  test("the proxy's password is never printed", async () => {
    const refused = await ftkit(
      ["ftps", "ls", `ftpes://fred:secret@127.0.0.1:1/`, "--proxy", "http://u:hunter2@127.0.0.1:1"],
      env,
    );
    // Nothing listens on port 1: the proxy cannot be reached, and the message says it was it.
    assert.equal(refused.code, 7, refused.stderr);
    assert.match(refused.stderr, /The HTTP proxy 127\.0\.0\.1:1: /);
    assert.ok(!refused.stderr.includes("hunter2"), refused.stderr);
    assert.equal(await readFile(join(dir.path, "srv", "hello.txt"), "utf8"), HELLO);
  });
});
