// `ftkit tftp serve` with per-client roots, unique roots, case-insensitive names and
// backslashes, asked by real clients: tftp-hpa's `tftp` and `atftp` (which send from
// 127.0.0.1) and curl (`--interface 127.0.0.2` makes it a second client), and the command's
// usage errors for these options.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { runCli } from "../../cli.ts";
import { serveCli, type ServingCli } from "../_cli_serve.ts";
import { until } from "../_wait.ts";
import { tftpApi } from "../_tftp_api.ts";
import { missing, PEER, runPeer, tempDir } from "./_peers.ts";

/** Files under the test's directory, by path: content says which one was served. */
const FILES: Record<string, string> = {
  "main/who.txt": "main",
  "main/Boot/X86/WdsNbp.com": "wds",
  "main/BOOT.INI": "BOOT.INI",
  "main/boot.ini": "boot.ini",
  "a/who.txt": "a",
  "a/Boot/X86/WdsNbp.com": "wds for a",
  "unique/who.txt": "unique root",
  "unique/127.0.0.1/who.txt": "unique 127.0.0.1",
  "outside/secret.txt": "secret",
};

describe("ftkit tftp serve: per-client roots and Windows names, with real clients", () => {
  let dir: { path: string; remove(): Promise<void> };
  let windows: ServingCli | undefined;
  let unique: ServingCli | undefined;
  const at = (path: string) => join(dir.path, path);
  let count = 0;

  before(async () => {
    dir = await tempDir("ftkit-clients-cli-");
    for (const [path, content] of Object.entries(FILES)) {
      await mkdir(dirname(at(path)), { recursive: true });
      await writeFile(at(path), content);
    }
    await mkdir(at("got"));
    await symlink("../outside", at("main/Outside"));
    await symlink("../main/who.txt", at("a/main.txt"));
    windows = await serveCli(
      ["udp"],
      ([free]) => [
        "tftp",
        "serve",
        at("main"),
        "--port",
        String(free),
        "--client-root",
        `127.0.0.2=${at("a")}`,
        "--case-insensitive",
        "--backslashes",
        "--allow-write",
      ],
      /^Fetch a file with: /,
    );
    unique = await serveCli(
      ["udp"],
      ([free]) => ["tftp", "serve", at("unique"), "--port", String(free), "--unique-root"],
      /^Fetch a file with: /,
    );
  });

  after(async () => {
    await windows?.stop();
    await unique?.stop();
    await dir?.remove();
  });

  /** tftp-hpa's `tftp` reads `name`: the content, or its error line. */
  async function hpa(port: number, name: string): Promise<string> {
    const out = at(`got/hpa-${++count}`);
    const ran = await runPeer(PEER.tftpHpa, [
      "-m",
      "octet",
      "127.0.0.1",
      String(port),
      "-c",
      "get",
      name,
      out,
    ]);
    const error = /Error code (\d+)/.exec(ran.stdout + ran.stderr);
    if (error) return `error ${error[1]}`;
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    return await readFile(out, "utf8");
  }

  /** atftp reads `name`: the content, or "failed". */
  async function atftp(port: number, name: string): Promise<string> {
    const out = at(`got/atftp-${++count}`);
    const ran = await runPeer(PEER.atftp, [
      "--get",
      "-r",
      name,
      "-l",
      out,
      "127.0.0.1",
      String(port),
    ]);
    if (ran.code !== 0) return "failed";
    return await readFile(out, "utf8");
  }

  /** curl reads `name` from `local` (127.0.0.1 or 127.0.0.2): the content, or "failed". */
  async function curl(port: number, name: string, local: string): Promise<string> {
    const out = at(`got/curl-${++count}`);
    const ran = await runPeer(PEER.curl, [
      "-sS",
      "--interface",
      local,
      "-o",
      out,
      `tftp://127.0.0.1:${port}/${name}`,
    ]);
    if (ran.code !== 0) return "failed";
    return await readFile(out, "utf8");
  }

  test(
    "tftp-hpa: backslashes and any case find the file",
    { skip: missing("tftpHpa") },
    async () => {
      const port = windows!.ports[0];
      assert.equal(await hpa(port, "\\boot\\x86\\wdsnbp.com"), "wds");
      assert.equal(await hpa(port, "WHO.TXT"), "main");
      assert.equal(await hpa(port, "Boot.Ini"), "BOOT.INI");
      assert.equal(await hpa(port, "boot.ini"), "boot.ini");
    },
  );

  test("tftp-hpa: converted names are still jailed", { skip: missing("tftpHpa") }, async () => {
    const port = windows!.ports[0];
    assert.equal(await hpa(port, "..\\..\\outside\\secret.txt"), "error 2");
    assert.equal(await hpa(port, "\\..\\outside\\secret.txt"), "error 2");
    // A case match onto a link that leads out of the root.
    assert.equal(await hpa(port, "outside\\secret.txt"), "error 2");
  });

  test("atftp: mixed case and backslashes", { skip: missing("atftp") }, async () => {
    const port = windows!.ports[0];
    assert.equal(await atftp(port, "BOOT\\X86\\WDSNBP.COM"), "wds");
    assert.equal(await atftp(port, "..\\outside\\secret.txt"), "failed");
    assert.equal(await atftp(port, "OUTSIDE/secret.txt"), "failed");
  });

  test("curl from two addresses: each gets its own root", { skip: missing("curl") }, async () => {
    const port = windows!.ports[0];
    assert.equal(await curl(port, "who.txt", "127.0.0.1"), "main");
    assert.equal(await curl(port, "who.txt", "127.0.0.2"), "a");
    assert.equal(await curl(port, "Boot\\x86\\WDSNBP.com", "127.0.0.2"), "wds for a");
    // 127.0.0.2's root is its jail: a link into the main root is refused.
    assert.equal(await curl(port, "main.txt", "127.0.0.2"), "failed");
    assert.equal(await curl(port, "main.txt", "127.0.0.1"), "failed");
  });

  test("curl uploads from 127.0.0.2 land in its root", { skip: missing("curl") }, async () => {
    const port = windows!.ports[0];
    const local = at("got/upload.txt");
    await writeFile(local, "uploaded by .2");
    const ran = await runPeer(PEER.curl, [
      "-sS",
      "--interface",
      "127.0.0.2",
      "-T",
      local,
      `tftp://127.0.0.1:${port}/Incoming.TXT`,
    ]);
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    assert.equal(await readFile(at("a/Incoming.TXT"), "utf8"), "uploaded by .2");
    await windows!.line(/^127\.0\.0\.2:\d+ write Incoming\.TXT: \d+ bytes/);
  });

  test("--unique-root: 127.0.0.1 gets its subdirectory, 127.0.0.2 the root", {
    skip: missing("tftpHpa", "curl"),
  }, async () => {
    const port = unique!.ports[0];
    assert.equal(await hpa(port, "who.txt"), "unique 127.0.0.1");
    assert.equal(await curl(port, "who.txt", "127.0.0.1"), "unique 127.0.0.1");
    assert.equal(await curl(port, "who.txt", "127.0.0.2"), "unique root");
    // Without --backslashes and --case-insensitive: refused and not found.
    assert.equal(await hpa(port, "127.0.0.1\\who.txt"), "error 2");
    assert.equal(await hpa(port, "WHO.TXT"), "error 1");
  });
});

describe("ftkit tftp serve: usage errors of the per-client options", () => {
  let dir: { path: string; remove(): Promise<void> };
  before(async () => (dir = await tempDir("ftkit-clients-usage-")));
  after(async () => await dir?.remove());

  for (
    const [args, message] of [
      [
        ["--client-root", "10.0.0.1/8=DIR"],
        /--client-root '10\.0\.0\.1\/8=.*': Not an IP network: .*bits set past its \/8 prefix/,
      ],
      [["--client-root", "10.0.0.0/8"], /--client-root takes CIDR=DIR, not '10\.0\.0\.0\/8'/],
      [["--client-root", "10.0.0.0/8="], /--client-root takes CIDR=DIR/],
      [
        ["--client-root", "10.0.0.0/8=/nonexistent/ftkit"],
        /no such directory: '\/nonexistent\/ftkit'/,
      ],
      [["--client-roots-only"], /--client-roots-only needs --client-root/],
      [["--backslashes=yes"], /option '--backslashes' takes no value/],
    ] as const
  ) {
    test(`${args.join(" ")}: exit 2`, async () => {
      const err: string[] = [];
      const argv = args.map((arg) => arg.replace("DIR", dir.path));
      const code = await runCli(["tftp", "serve", dir.path, "--port", "0", ...argv], {
        out: () => {},
        err: (line) => err.push(line),
      });
      assert.equal(code, 2, err.join("\n"));
      assert.match(err[0], message);
    });
  }

  test("--client-root is repeatable: the first match wins", async () => {
    await mkdir(join(dir.path, "x"));
    await mkdir(join(dir.path, "y"));
    await writeFile(join(dir.path, "x", "who.txt"), "x");
    await writeFile(join(dir.path, "y", "who.txt"), "y");
    const server = await serveCli(
      ["udp"],
      ([free]) => [
        "tftp",
        "serve",
        dir.path,
        "--port",
        String(free),
        "--client-root",
        `127.0.0.0/8=${join(dir.path, "x")}`,
        "--client-root",
        `127.0.0.1=${join(dir.path, "y")}`,
        "--client-roots-only",
      ],
      /^Fetch a file with: /,
    );
    try {
      const api = await tftpApi();
      const got = await api.tftpGet({
        host: "127.0.0.1",
        port: server.ports[0],
        remote: "who.txt",
      });
      assert.equal(new TextDecoder().decode(got), "x");
      await until(
        () => server.lines.some((line) => / read who\.txt: 1 bytes/.test(line)),
        "a read",
      );
    } finally {
      await server.stop();
    }
  });
});
