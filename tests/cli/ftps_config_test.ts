// The configuration file of `ftkit ftps serve`, checked without reading a file: what each key
// gives, every mistake at once with its JSON path, unknown keys, and flags over the file.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CONFIG_KEYS,
  ConfigError,
  parseFtpsConfig,
  settingsFromFlags,
  usersFromFlags,
} from "../../cli/ftps_config.ts";
import { commandDoc } from "../../cli/help.ts";
import { parse } from "../../cli/args.ts";
import { repoFile } from "../_runtime.ts";

const HASH = "$scrypt$N=1024,r=8,p=1$c2FsdHNhbHQ$" + "A".repeat(43);
// The repository's own files, also when Node runs the compiled tests from npm/.
const read = (path: string) => readFileSync(repoFile(path), "utf8");

/** The mistakes `text` is refused with. */
function mistakes(text: string): readonly string[] {
  try {
    parseFtpsConfig(text, "ftps.json", "/etc/ftkit");
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.message, error.problems.join("\n"));
    return error.problems;
  }
  assert.fail("accepted");
}

describe("ftkit ftps serve --config: the file", () => {
  test("every key gives its setting; relative paths are the file's directory's", () => {
    const settings = parseFtpsConfig(
      JSON.stringify({
        root: "srv",
        listen: { host: "::", port: 990, implicit: true, systemd: false },
        tls: { cert: "/tls/cert.pem", key: "key.pem" },
        users: {
          fred: { passwordHash: HASH, root: "/srv/fred", allowWrite: true, allowOverwrite: false },
          wilma: { password: "pw" },
        },
        anonymous: { root: "pub" },
        rules: {
          allowWrite: false,
          allowOverwrite: true,
          allowCcc: true,
          requireTlsResumption: true,
          requireCloseNotify: false,
        },
        passive: { ports: [50000, 50010], host: "192.0.2.7" },
        limits: {
          maxSessions: 7,
          maxSessionsPerIp: 2,
          maxLoginAttempts: 5,
          maxLineLength: 1024,
          idleTimeoutMs: 1000,
          loginTimeoutMs: 2000,
          lineTimeoutMs: 3000,
          dataTimeoutMs: 4000,
          tlsHandshakeTimeoutMs: 5000,
          loginFailureDelayMs: 0,
          lockout: { attempts: 3, windowMs: 60000, durationMs: 120000 },
          shutdownGraceMs: 0,
        },
        logs: { quiet: true },
      }),
      "ftps.json",
      "/etc/ftkit",
    );
    assert.deepEqual(settings, {
      root: "/etc/ftkit/srv",
      host: "::",
      port: 990,
      implicit: true,
      systemd: false,
      cert: "/tls/cert.pem",
      key: "/etc/ftkit/key.pem",
      users: {
        fred: { passwordHash: HASH, root: "/srv/fred", allowWrite: true, allowOverwrite: false },
        wilma: { password: "pw" },
      },
      anonymous: { root: "/etc/ftkit/pub" },
      allowWrite: false,
      allowOverwrite: true,
      allowCcc: true,
      requireTlsResumption: true,
      requireCloseNotify: false,
      passivePorts: [50000, 50010],
      passiveHost: "192.0.2.7",
      maxSessions: 7,
      maxSessionsPerIp: 2,
      maxLoginAttempts: 5,
      maxLineLength: 1024,
      idleTimeoutMs: 1000,
      loginTimeoutMs: 2000,
      lineTimeoutMs: 3000,
      dataTimeoutMs: 4000,
      tlsHandshakeTimeoutMs: 5000,
      loginFailureDelayMs: 0,
      lockout: { attempts: 3, windowMs: 60000, durationMs: 120000 },
      shutdownGraceMs: 0,
      quiet: true,
      rootsAsWritten: { users: { fred: "/srv/fred" }, anonymous: "pub" },
    });
    assert.deepEqual(parseFtpsConfig("{}", "x", "/"), {});
    assert.deepEqual(
      parseFtpsConfig(
        '{"passive": {"ports": "6000-6009"}, "limits": {"lockout": false}}',
        "x",
        "/",
      ),
      { passivePorts: [6000, 6009], lockout: false },
    );
  });

  test("every mistake at once, each with its JSON path and what was expected", () => {
    assert.deepEqual(
      mistakes(JSON.stringify({
        root: 42,
        listen: { host: "example.com", port: 70000, prot: 21 },
        users: {
          fred: { root: 42, passwordHash: "$scrypt$N=3,r=8,p=1$c2FsdHNhbHQ$" + "A".repeat(43) },
          wilma: { password: HASH },
          barney: {},
          betty: { password: "a", passwordHash: HASH },
          "dino the dog": { password: "x" },
          pebbles: "secret",
        },
        anonymous: "yes",
        rules: { allowWrite: "true" },
        passive: { ports: "6000-5000", host: "::1" },
        limits: {
          maxSesions: 5,
          idleTimeoutMs: "300",
          maxSessions: 0,
          lockout: { attempts: 3 },
        },
        logging: true,
      })),
      [
        "ftps.json: root: expected a string (a directory), got 42",
        'ftps.json: listen.host: expected an IP address, got "example.com"',
        "ftps.json: listen.port: expected a whole number from 0 to 65535, got 70000",
        "ftps.json: listen.prot: unknown key; did you mean 'port'?",
        "ftps.json: users.fred.root: expected a string (a directory), got 42",
        "ftps.json: users.fred.passwordHash: not a usable password hash: scrypt's N must be a power of two, not 3",
        "ftps.json: users.wilma.password: a password hash: give it as passwordHash",
        "ftps.json: users.barney: expected passwordHash (or password): how the user logs in",
        "ftps.json: users.betty: give password or passwordHash, not both",
        "ftps.json: users.dino the dog: a user name is 1 to 64 characters, without spaces or control characters",
        'ftps.json: users.pebbles: expected an object, got "secret"',
        'ftps.json: anonymous: expected true, false or { "root": DIR }, got "yes"',
        'ftps.json: rules.allowWrite: expected true or false, got "true"',
        'ftps.json: passive.ports: expected [LOW, HIGH] or "LOW-HIGH", ports from 1 to 65535, got "6000-5000"',
        'ftps.json: passive.host: expected an IPv4 address or a host name, got "::1"',
        "ftps.json: limits.maxSesions: unknown key; did you mean 'maxSessions'?",
        'ftps.json: limits.idleTimeoutMs: expected a whole number of ms from 1 to 2147483647, got "300"',
        "ftps.json: limits.maxSessions: expected a whole number of at least 1, got 0",
        "ftps.json: limits.lockout.windowMs: missing",
        "ftps.json: limits.lockout.durationMs: missing",
        "ftps.json: logging: unknown key (the keys here: root, storage, s3, listen, access, tls, users, anonymous, rules, commands, passive, proxy, limits, logs)",
      ],
    );
  });

  test("a bucket: storage and the s3 section; users' roots kept as written, for prefixes", () => {
    const settings = parseFtpsConfig(
      JSON.stringify({
        storage: "s3://files/ftp",
        s3: {
          endpoint: "http://127.0.0.1:8080",
          region: "eu-west-1",
          profile: "ftp",
          partSize: 16777216,
          pathStyle: false,
        },
        users: { fred: { password: "pw", root: "fred" }, wilma: { password: "pw" } },
        anonymous: { root: "/pub/" },
      }),
      "ftps.json",
      "/etc/ftkit",
    );
    assert.equal(settings.storage, "s3://files/ftp");
    assert.equal(settings.s3Endpoint, "http://127.0.0.1:8080");
    assert.equal(settings.s3Region, "eu-west-1");
    assert.equal(settings.s3Profile, "ftp");
    assert.equal(settings.s3PartSize, 16777216);
    assert.equal(settings.s3PathStyle, false);
    // As a directory the root is the file's directory's; as a prefix, what the file wrote.
    assert.equal(settings.users?.fred.root, "/etc/ftkit/fred");
    assert.deepEqual(settings.rootsAsWritten, { users: { fred: "fred" }, anonymous: "/pub/" });
    assert.deepEqual(
      mistakes(JSON.stringify({
        root: "srv",
        storage: "s3://x",
        s3: {
          endpoint: "ftp://127.0.0.1",
          regoin: "us-east-1",
          region: "us east",
          partSize: 1024,
          pathStyle: "yes",
        },
      })),
      [
        "ftps.json: storage: 'x' is not a bucket name (3 to 255 letters, digits, '.', '-' or '_', " +
        "beginning with a letter or digit)",
        "ftps.json: s3.endpoint: expected an http:// or https:// URL (no user, password, query or " +
        "fragment), got 'ftp://127.0.0.1'",
        "ftps.json: s3.regoin: unknown key; did you mean 'region'?",
        "ftps.json: s3.region: expected a region name, such as us-east-1, got 'us east'",
        "ftps.json: s3.partSize: expected a whole number of bytes from 5242880 to 5368709120, got 1024",
        'ftps.json: s3.pathStyle: expected true or false, got "yes"',
      ],
    );
    assert.deepEqual(mistakes('{"root": "srv", "storage": "s3://files"}'), [
      "ftps.json: storage: give root or storage, not both",
    ]);
    assert.deepEqual(mistakes('{"storage": "/srv/ftp"}'), [
      "ftps.json: storage: '/srv/ftp' is not an s3:// URL (s3://BUCKET[/PREFIX])",
    ]);
    // A key and secret written into the URL are never repeated.
    const [leak] = mistakes('{"s3": {"endpoint": "http://AKID:s3cret@127.0.0.1"}}');
    assert.ok(!leak.includes("s3cret"), leak);
    const [inUrl] = mistakes('{"storage": "s3://AKID:s3cret@files/ftp"}');
    assert.ok(!inUrl.includes("s3cret") && /holds no credentials/.test(inUrl), inUrl);
  });

  test("not JSON, or not an object, is one mistake; a section that is not an object too", () => {
    assert.match(mistakes("{ root: }")[0], /^ftps\.json: not JSON: /);
    assert.deepEqual(mistakes("[]"), ["ftps.json: (the top): expected an object, got a list"]);
    assert.deepEqual(mistakes('{"limits": 5, "users": []}'), [
      "ftps.json: limits: expected an object, got 5",
      "ftps.json: users: expected an object of users by name, got a list",
    ]);
    assert.deepEqual(mistakes('{"users": {"fred": {"passwordHash": 7, "certificates": []}}}'), [
      "ftps.json: users.fred.passwordHash: expected a string (a hash from 'ftkit ftps passwd'), got 7",
      "ftps.json: users.fred.certificates: unknown key (the keys here: password, passwordHash, root, allowWrite, allowOverwrite, maxSessions, bandwidth, quota, permissions, allow, deny)",
    ]);
  });

  test("the example configuration is valid", () => {
    const settings = parseFtpsConfig(read("examples/ftkit-ftps.json"), "example", "/etc/ftkit");
    assert.equal(settings.systemd, true);
    assert.ok(settings.users?.fred.passwordHash);
    // Every section, the limits, proxy and logs ones included.
    assert.deepEqual(settings.users?.fred.quota, { bytes: 10737418240, files: 100000 });
    assert.equal(settings.users?.wilma.maxSessions, 2);
    assert.deepEqual(settings.passiveHost, [
      { network: ["10.0.0.0/8"] },
      { host: "ftp.example.com" },
    ]);
    assert.deepEqual(settings.proxyProtocol, ["127.0.0.1"]);
    assert.deepEqual(settings.bandwidth, { download: 104857600 });
    assert.deepEqual(settings.userQuota, { bytes: 1073741824 });
    assert.equal(settings.maxSessionsPerUser, 4);
    assert.equal(settings.log, "/var/log/ftkit/xferlog");
    assert.equal(settings.logFormat, "xferlog");
    assert.deepEqual(settings.users?.wilma.permissions, {
      "/": ["list", "read"],
      "/incoming": ["write"],
    });
    assert.deepEqual(settings.permissions, { "/": "*", "/archive": ["list", "read"] });
    assert.deepEqual(
      mistakes('{"rules": {"permissions": {"incoming": ["upload"]}}}'),
      [
        "ftps.json: rules.permissions: 'incoming' is not an absolute directory path " +
        '(such as "/" or "/incoming")',
      ],
    );
  });

  test("the README lists every key", () => {
    const readme = read("README.md");
    for (const { key } of CONFIG_KEYS) assert.ok(readme.includes(`\`${key}\``), key);
  });
});

describe("ftkit ftps serve: flags over the file", () => {
  const flags = (...args: string[]) =>
    settingsFromFlags(parse(commandDoc("ftps serve"), args).values);

  test("each flag gives the setting of its key; flags not given give nothing", () => {
    assert.deepEqual(flags(), {});
    assert.deepEqual(
      flags(
        "--host=0.0.0.0",
        "--port=21",
        "--implicit",
        "--systemd",
        "--cert=c.pem",
        "--key=k.pem",
        "--user=fred:pw",
        "--user",
        `wilma:${HASH}`,
        "--anonymous",
        "--allow-write",
        "--allow-overwrite",
        "--allow-ccc",
        "--require-resumption",
        "--allow-missing-close-notify",
        "--passive-ports=50000-50001",
        "--passive-host=192.0.2.1",
        "--max-sessions=9",
        "--max-sessions-per-ip=3",
        "--idle-timeout=5",
        "--login-timeout=6",
        "--shutdown-grace=0",
        "--quiet",
        "--proxy-protocol=127.0.0.1",
        "--data-through-proxy",
        "--max-sessions-per-user=2",
        "--upload-rate=2K",
        "--download-rate=3K",
        "--user-upload-rate=4K",
        "--user-download-rate=5K",
        "--quota-bytes=1M",
        "--quota-files=7",
        "--log=-",
        "--log-format=xferlog",
        "--hash",
        "--site-chmod",
        "--storage=s3://files/ftp",
        "--s3-endpoint=https://s3.example.net",
        "--s3-region=eu-west-1",
        "--s3-profile=ftp",
      ),
      {
        host: "0.0.0.0",
        port: 21,
        implicit: true,
        systemd: true,
        cert: "c.pem",
        key: "k.pem",
        users: { fred: { password: "pw" }, wilma: { passwordHash: HASH } },
        anonymous: true,
        allowWrite: true,
        allowOverwrite: true,
        allowCcc: true,
        requireTlsResumption: true,
        requireCloseNotify: false,
        passivePorts: [50000, 50001],
        passiveHost: [{ host: "192.0.2.1" }],
        proxyProtocol: ["127.0.0.1"],
        dataThroughProxy: true,
        maxSessionsPerUser: 2,
        bandwidth: { upload: 2048, download: 3072 },
        userBandwidth: { upload: 4096, download: 5120 },
        userQuota: { bytes: 1048576, files: 7 },
        log: "-",
        logFormat: "xferlog",
        hash: true,
        siteChmod: true,
        maxSessions: 9,
        maxSessionsPerIp: 3,
        idleTimeoutMs: 5000,
        loginTimeoutMs: 6000,
        shutdownGraceMs: 0,
        quiet: true,
        storage: "s3://files/ftp",
        s3Endpoint: "https://s3.example.net",
        s3Region: "eu-west-1",
        s3Profile: "ftp",
      },
    );
    assert.throws(() => flags("--storage", "files/ftp"), /--storage: 'files\/ftp' is not an s3/);
    assert.throws(() => flags("--s3-region", "a b"), /--s3-region takes a region name/);
  });

  test("every flag a key names is an option of ftps serve", () => {
    const options = commandDoc("ftps serve").options.map((option) => option.name);
    for (const { key, flag } of CONFIG_KEYS) {
      if (flag !== undefined) assert.ok(options.includes(flag), `${key}: --${flag}`);
    }
  });

  test("--user: NAME:PASS, a hash taken as one, a bad hash refused", () => {
    assert.equal(usersFromFlags(undefined), undefined);
    assert.deepEqual(usersFromFlags(["a:b:c"]), { a: { password: "b:c" } });
    assert.throws(() => usersFromFlags(["nopass"]), /--user takes NAME:PASS/);
    assert.throws(() => usersFromFlags(["fred:$scrypt$N=1"]), /--user fred: not a usable hash/);
  });

  test("the file's directory resolves its paths", () => {
    const settings = parseFtpsConfig('{"tls": {"cert": "a/c.pem", "key": "k.pem"}}', "f", "/d");
    assert.equal(settings.cert, join("/d", "a/c.pem"));
  });
});
