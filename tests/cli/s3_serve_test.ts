// The servers on a bucket: `ftkit ftps serve --storage s3://...`, `ftkit tftp serve s3://...` and
// `ftkit serve s3://...`. Usage errors in-process; the rest with the real command in a child
// process, with an environment of the test's own (a temporary HOME, no AWS_* variables but those
// given): no keys, a store that does not answer, and a stand-in store on loopback served over
// TFTP and FTPS. No secret key is ever printed or sent.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type AddressInfo, createServer } from "node:net";
import { runCli } from "../../cli.ts";
import { tempDir } from "../interop/_peers.ts";
import { tftpApi } from "../_tftp_api.ts";
import { connectFtps } from "../ftps/_connect.ts";
import { fakeS3 } from "./_fake_s3.ts";
import { ftkitChild } from "./_ftkit_child.ts";

const SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET";
const KEYS = { AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: SECRET };

/** The command's exit code and lines, run in-process. */
async function inProcess(
  ...args: string[]
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

let home: string;

/** `ftkit ARGS` with no AWS_* variables but `env`, and the test's HOME. */
const ftkit = (args: string[], env: Record<string, string> = {}) => ftkitChild(args, home, env);

let dir: Awaited<ReturnType<typeof tempDir>>;
before(async () => {
  dir = await tempDir("ftkit-s3-serve-");
  home = join(dir.path, "home");
  await mkdir(home);
});
after(() => dir.remove());

describe("ftkit servers on a bucket: usage errors (exit 2, one line, the command's help)", () => {
  test("the source, the options a bucket cannot take, and S3 options without a bucket", async () => {
    const served = dir.path;
    const config = join(dir.path, "bad-root.json");
    await writeFile(
      config,
      JSON.stringify({
        storage: "s3://files/ftp",
        users: { fred: { password: "pw", root: "../wilma" } },
      }),
    );
    for (
      const [args, line] of [
        [
          ["ftps", "serve", served, "--storage", "s3://files/ftp"],
          "give DIR or --storage, not both",
        ],
        [
          ["ftps", "serve", "s3://files/ftp"],
          "a bucket is served with --storage s3://files/ftp, not as DIR",
        ],
        [
          ["ftps", "serve", "--storage", "files/ftp"],
          "--storage: 'files/ftp' is not an s3:// URL (s3://BUCKET[/PREFIX])",
        ],
        [
          ["ftps", "serve", served, "--s3-endpoint", "http://127.0.0.1:8080"],
          "--s3-endpoint goes with --storage s3://BUCKET[/PREFIX]",
        ],
        [
          ["ftps", "serve", "--config", config],
          "users.fred.root: '../wilma' is no prefix under s3://files/ftp (names, not '.' or '..', " +
          "no backslash)",
        ],
        [
          ["tftp", "serve", "s3://files/tftp", "--workers", "4"],
          "--workers 4: an s3:// source is served by one thread (give --workers 1, or none)",
        ],
        ...[
          "--client-root=10.0.0.0/8=/srv",
          "--client-roots-only",
          "--unique-root",
          "--case-insensitive",
        ]
          .map((option) => [
            ["tftp", "serve", "s3://files/tftp", option],
            `${option.replace(/=.*/, "")} is for a directory; an s3:// source has no client ` +
            "directories or names to fold",
          ]),
        [
          ["tftp", "serve", "s3://ab"],
          "'ab' is not a bucket name (3 to 255 letters, digits, '.', '-' or '_', beginning with a " +
          "letter or digit)",
        ],
        [
          ["tftp", "serve", served, "--s3-region", "eu-west-1"],
          "--s3-region goes with an s3:// source",
        ],
        [
          ["tftp", "serve", "s3://files/tftp", "--s3-endpoint", "ftp://127.0.0.1"],
          "--s3-endpoint takes an http:// or https:// URL (no user, password, query or fragment), " +
          "not 'ftp://127.0.0.1'",
        ],
        [
          ["serve", "s3://files/pub", "--s3-profile", "a b"],
          "--s3-profile takes a profile name, such as default, not 'a b'",
        ],
        [["serve", served, "--s3-profile", "ops"], "--s3-profile goes with an s3:// source"],
      ] as [string[], string][]
    ) {
      const { code, out, err } = await inProcess(...args);
      const command = args[0] === "serve" ? "serve" : args.slice(0, 2).join(" ");
      assert.equal(code, 2, args.join(" "));
      assert.deepEqual(out, []);
      assert.deepEqual(err, [`ftkit: ${line}`, `Try 'ftkit ${command} --help'.`], args.join(" "));
    }
  });

  test("no keys: which variables and files were read; exit 2", async () => {
    const credentials = join(home, ".aws", "credentials");
    const config = join(home, ".aws", "config");
    for (
      const [args, command] of [
        [["tftp", "serve", "s3://netboot/images", "--port", "0"], "tftp serve"],
        [["ftps", "serve", "--storage", "s3://files/ftp", "--port", "0"], "ftps serve"],
      ]
    ) {
      const { code, stdout, stderr } = await ftkit(args as string[]).exited;
      assert.equal(code, 2, stderr);
      assert.equal(stdout, "");
      assert.equal(
        stderr,
        "ftkit: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give " +
          `aws_access_key_id and aws_secret_access_key to the profile 'default' in ${credentials} ` +
          `(or ${config}, also read)\nTry 'ftkit ${command} --help'.\n`,
      );
    }
  });
});

describe("ftkit servers on a bucket that does not answer", () => {
  test("one line, exit 7, nothing served, no secret", async () => {
    // A listener of the test's own that closes every connection unanswered (a port merely freed
    // could be taken meanwhile by another test's server, which would answer).
    const silent = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      for (
        const [args, url] of [
          [["ftps", "serve", "--storage", "s3://files/ftp", "--port", "0"], "s3://files/ftp"],
          [["tftp", "serve", "s3://netboot/images", "--port", "0"], "s3://netboot/images"],
          [["serve", "s3://files/pub", "--tftp-port", "0", "--ftps-port", "0"], "s3://files/pub"],
        ] as [string[], string][]
      ) {
        const { code, stdout, stderr } = await ftkit([...args, "--s3-endpoint", endpoint], KEYS)
          .exited;
        assert.equal(code, 7, stderr);
        assert.equal(stdout, "");
        const lines = stderr.split("\n");
        assert.equal(lines.length, 2, stderr);
        assert.equal(lines[1], "");
        assert.match(
          lines[0],
          new RegExp(
            `^ftkit: cannot reach ${url} at ${endpoint}: S3 GET /: no answer( \\(.+\\))?$`,
          ),
        );
        assert.ok(!stderr.includes(SECRET));
      }
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("ftkit servers on a bucket", () => {
  const boot = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
  const objects = new Map<string, Uint8Array>([
    ["images/pxelinux.0", boot],
    ["images/cfg/default", new TextEncoder().encode("DEFAULT linux\n")],
    ["ftp/readme.txt", new TextEncoder().encode("top\n")],
    ["ftp/fred/notes.txt", new TextEncoder().encode("fred's\n")],
    ["other/secret.txt", new TextEncoder().encode("not served\n")],
  ]);

  /** Checks every request was signed by the test's key and carried no secret. */
  const signedOnly = (requests: { headers: Record<string, unknown> }[]) => {
    assert.ok(requests.length > 0);
    for (const { headers } of requests) {
      assert.match(String(headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
      assert.ok(!JSON.stringify(headers).includes(SECRET));
    }
  };

  test("tftp serve s3://BUCKET/PREFIX: the keys under the prefix, by name", async () => {
    await using store = await fakeS3("netboot", objects);
    const running = ftkit(
      ["tftp", "serve", "s3://netboot/images", "--s3-endpoint", store.endpoint, "--port", "0"],
      KEYS,
    );
    try {
      const [, port] = await running.line(
        new RegExp(
          `^Serving s3://netboot/images at ${store.endpoint} over TFTP on 127\\.0\\.0\\.1:(\\d+) ` +
            "\\(read-only\\)$",
          "m",
        ),
      );
      const api = await tftpApi();
      const get = (remote: string) =>
        api.tftpGet({ host: "127.0.0.1", port: Number(port), remote });
      assert.deepEqual(await get("pxelinux.0"), boot);
      assert.equal(new TextDecoder().decode(await get("cfg/default")), "DEFAULT linux\n");
      await assert.rejects(get("../other/secret.txt"));
    } finally {
      running.stop();
    }
    const { code, stdout, stderr } = await running.exited;
    assert.equal(code, 0, stderr);
    assert.ok(!(stdout + stderr).includes(SECRET));
    signedOnly(store.requests);
    // The check at start: one key under the prefix; then only keys under it.
    assert.deepEqual(store.requests[0].query, {
      "list-type": "2",
      prefix: "images/",
      "max-keys": "1",
    });
    for (const { key } of store.requests.slice(1)) assert.match(key, /^images\//);
  });

  test("ftps serve --storage from a file: each user's root a prefix, anonymous read-only", async () => {
    await using store = await fakeS3("files", objects);
    const config = join(dir.path, "bucket.json");
    const caFile = join(dir.path, "bucket-ca.pem");
    await writeFile(
      config,
      JSON.stringify({
        storage: "s3://files/ftp",
        s3: { endpoint: store.endpoint, region: "eu-west-1" },
        users: { fred: { password: "fredpw", root: "fred" }, wilma: { password: "wilmapw" } },
        anonymous: true,
      }),
    );
    const running = ftkit(
      ["ftps", "serve", "--config", config, "--port", "0", "--ca-out", caFile],
      KEYS,
    );
    try {
      const [line, port] = await running.line(/^Serving .* on 127\.0\.0\.1:(\d+).*$/m);
      assert.match(line, new RegExp(`^Serving s3://files/ftp at ${store.endpoint} over FTPS `));
      assert.match(line, /\(read-only\)$/);
      const ca = await readFile(caFile, "utf8");
      const login = (user: string, password: string) =>
        connectFtps({ host: "127.0.0.1", port: Number(port), user, password, ca });
      const names = async (user: string, password: string) => {
        await using client = await login(user, password);
        return (await client.list("/")).map((entry) => entry.name).sort();
      };
      assert.deepEqual(await names("fred", "fredpw"), ["notes.txt"]);
      assert.deepEqual(await names("wilma", "wilmapw"), ["fred", "readme.txt"]);
      assert.deepEqual(await names("anonymous", "guest@"), ["fred", "readme.txt"]);
      await using fred = await login("fred", "fredpw");
      assert.equal(new TextDecoder().decode(await fred.get("notes.txt")), "fred's\n");
      await assert.rejects(fred.put("new.txt", new TextEncoder().encode("x")), /550/);
    } finally {
      running.stop();
    }
    const { code, stdout, stderr } = await running.exited;
    assert.equal(code, 0, stderr);
    assert.ok(!(stdout + stderr).includes(SECRET));
    signedOnly(store.requests);
    assert.ok(store.requests.some(({ query }) => query.prefix === "ftp/fred/"));
    for (const { key, query } of store.requests) {
      assert.match(key || query.prefix || "", /^ftp\//, JSON.stringify({ key, query }));
    }
  });

  test("serve s3://BUCKET/PREFIX: TFTP and FTPS on one bucket, asked once at start", async () => {
    await using store = await fakeS3("files", objects);
    const caFile = join(dir.path, "serve-ca.pem");
    const running = ftkit(
      [
        "serve",
        "s3://files/ftp",
        "--s3-endpoint",
        store.endpoint,
        "--tftp-port",
        "0",
        "--ftps-port",
        "0",
        "--user",
        "fred:fredpw",
        "--ca-out",
        caFile,
      ],
      KEYS,
    );
    try {
      const [, tftpPort] = await running.line(
        /^Serving s3:\/\/files\/ftp at \S+ over TFTP on 127\.0\.0\.1:(\d+) \(read-only\)$/m,
      );
      const [, ftpsPort] = await running.line(
        /^Serving s3:\/\/files\/ftp at \S+ over FTPS \(explicit TLS\) on 127\.0\.0\.1:(\d+)/m,
      );
      const api = await tftpApi();
      const readme = await api.tftpGet({
        host: "127.0.0.1",
        port: Number(tftpPort),
        remote: "readme.txt",
      });
      assert.equal(new TextDecoder().decode(readme), "top\n");
      const ca = await readFile(caFile, "utf8");
      await using client = await connectFtps({
        host: "127.0.0.1",
        port: Number(ftpsPort),
        user: "fred",
        password: "fredpw",
        ca,
      });
      assert.equal(new TextDecoder().decode(await client.get("fred/notes.txt")), "fred's\n");
    } finally {
      running.stop();
    }
    const { code, stdout, stderr } = await running.exited;
    assert.equal(code, 0, stderr);
    assert.ok(!(stdout + stderr).includes(SECRET));
    signedOnly(store.requests);
    const checks = store.requests.filter(({ query }) => query["max-keys"] === "1");
    assert.deepEqual(checks.map(({ query }) => query.prefix), ["ftp/"]);
  });
});
