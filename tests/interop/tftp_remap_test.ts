// One tftp-hpa remap rule file served by tftpd-hpa (`in.tftpd -m FILE`) and by `ftkit tftp serve
// --map-file FILE`: the same names asked of each must be served from the same file, or refused
// with the same TFTP error.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { runCli } from "../../cli.ts";
import { TftpTransferError } from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { serveCli, type ServingCli } from "../_cli_serve.ts";
import { until } from "../_wait.ts";
import {
  type Daemon,
  missing,
  onFreePort,
  PEER,
  startDaemon,
  tempDir,
  TFTPD_ARGS,
} from "./_peers.ts";

/** The rule file both servers read (tftp-hpa 5.2 syntax, as in tftpd.8). */
const RULES = String.raw`# Rules for a netboot fleet
r ^again$ skipped               # a restart resumes at the second rule, never here
rg \\ /                         # Windows-style separators
ri ^tftpboot/                   # drop a leading tftpboot/, in any case
a \.\.                          # nothing with ..
a ^secret/ go\ away             # refused, with a message
e ^ok/                          # served as asked
r ^pxelinux\.cfg/01-([[:xdigit:]]{2})-([[:xdigit:]]{2})$ pxelinux.cfg/host-\U\1\2
rG ^upper/(.*)$ \U\1            # reads only
rP ^upload$ wrong               # writes only
rP ^incoming/(.*)$ uploads/\i-\1  # writes land per client
r ^ip$ by-ip/\i
r ^hex$ by-hex/\x
r6 ^family$ right-v6
r4 ^family$ right-v4
rs ^loop-(.*)$ \1               # start over with the rest
r ^again$ second
r ^v(1|1\.2) \1/v               # POSIX: the longest alternative
a~ ^[[:alnum:]./_-]+$           # refuse any other character
`;

/** The files under the root, by name: their content says which one was served. */
const FILES: Record<string, string> = {
  "boot/pxe.0": "pxe",
  "pxelinux.cfg/host-0A1B": "host 0a1b",
  "ok/Mixed.TXT": "ok mixed",
  "FILE.BIN": "upper",
  "by-ip/127.0.0.1": "by ip",
  "by-hex/7F000001": "by hex",
  "right-v4": "v4",
  "right-v6": "v6",
  "by-hex/00000000000000000000000000000001": "by hex v6",
  "wrong": "wrong",
  "second": "second",
  "upload": "upload",
  "secret/key": "secret",
  "1.2/v.bin": "longest",
  "1/v.2.bin": "first alternative",
};

/** The names asked of both servers. */
const NAMES = [
  "TFTPBOOT\\boot\\pxe.0",
  "tftpboot/boot/pxe.0",
  "boot/../boot/pxe.0",
  "secret/key",
  "ok/Mixed.TXT",
  "pxelinux.cfg/01-0a-1b",
  "upper/file.bin",
  "upload",
  "ip",
  "hex",
  "family",
  "loop-again",
  "again",
  "weird name",
  "missing.bin",
  "v1.2.bin",
];

/** Writes {@linkcode FILES} under `dir`/root and {@linkcode RULES} to `dir`/rules.map. */
async function layOut(dir: string): Promise<{ served: string; rules: string }> {
  const served = join(dir, "root");
  for (const [name, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(served, name)), { recursive: true });
    await writeFile(join(served, name), content);
  }
  const rules = join(dir, "rules.map");
  await writeFile(rules, RULES);
  return { served, rules };
}

/** What a server did with `name`: the content served, or the error code. */
async function outcome(port: number, name: string, host = "127.0.0.1"): Promise<string> {
  const api = await tftpApi();
  try {
    return new TextDecoder().decode(await api.tftpGet({ host, port, remote: name }));
  } catch (error) {
    if (!(error instanceof TftpTransferError)) throw error;
    return `error ${error.code}`;
  }
}

/** The message of the ERROR a server refused `name` with. */
async function refusal(port: number, name: string): Promise<string> {
  const api = await tftpApi();
  const error = await api.tftpGet({ host: "127.0.0.1", port, remote: name }).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(error instanceof TftpTransferError, `${name} was served`);
  return error.message;
}

describe("one remap file: tftpd-hpa and ftkit", { skip: missing("tftpdHpa") }, () => {
  let root: { path: string; remove(): Promise<void> };
  let daemon: Daemon | undefined;
  let hpaPort: number;
  let ftkit: ServingCli | undefined;
  let ftkitPort: number;

  before(async () => {
    root = await tempDir("ftkit-remap-");
    const { served, rules } = await layOut(root.path);
    await mkdir(join(served, "uploads"));
    [daemon, hpaPort] = await onFreePort("udp", async (free) => [
      await startDaemon(
        PEER.tftpdHpa,
        // -c: uploads may create files, as --allow-write lets ftkit.
        [...TFTPD_ARGS.tftpdHpa(served, free), "-c", "-m", rules],
        { udp: free },
      ),
      free,
    ]);
    ftkit = await serveCli(
      ["udp"],
      ([free]) => [
        "tftp",
        "serve",
        served,
        "--host",
        "127.0.0.1",
        "--port",
        String(free),
        "--map-file",
        rules,
        "--allow-write",
      ],
      /^Fetch a file with: /,
    );
    ftkitPort = ftkit.ports[0];
  });

  after(async () => {
    await ftkit?.stop();
    await daemon?.stop();
    await root?.remove();
  });

  for (const name of NAMES) {
    test(`${JSON.stringify(name)}: the same file or the same refusal`, async () => {
      const hpa = await outcome(hpaPort, name);
      assert.equal(await outcome(ftkitPort, name), hpa);
    });
  }

  test("the outcomes are the ones the rules promise", async () => {
    const got: Record<string, string> = {};
    for (const name of NAMES) got[name] = await outcome(ftkitPort, name);
    assert.deepEqual(got, {
      "TFTPBOOT\\boot\\pxe.0": "pxe",
      "tftpboot/boot/pxe.0": "pxe",
      "boot/../boot/pxe.0": "error 2",
      "secret/key": "error 2",
      "ok/Mixed.TXT": "ok mixed",
      "pxelinux.cfg/01-0a-1b": "host 0a1b",
      "upper/file.bin": "upper",
      "upload": "upload",
      "ip": "by ip",
      "hex": "by hex",
      "family": "v4",
      "loop-again": "second",
      "again": "error 1",
      "weird name": "error 2",
      "missing.bin": "error 1",
      "v1.2.bin": "longest",
    });
  });

  test("P rules rewrite uploads: each server stores where the rule says", async () => {
    const api = await tftpApi();
    for (const [port, name] of [[hpaPort, "hpa"], [ftkitPort, "ftkit"]] as const) {
      const content = new TextEncoder().encode(`uploaded to ${name}`);
      await api.tftpPut({ host: "127.0.0.1", port, remote: `incoming/${name}.txt` }, content);
      const stored = join(root.path, "root", "uploads", `127.0.0.1-${name}.txt`);
      // The file is whole once the final ACK came (bounded wait, as for any peer's disk).
      await until(
        async () => (await readFile(stored, "utf8").catch(() => "")) === `uploaded to ${name}`,
        `${stored} to hold the upload`,
      ).catch(() => {});
      assert.equal(await readFile(stored, "utf8"), `uploaded to ${name}`);
    }
  });

  test("an a rule's message, or tftpd-hpa's text without one", async () => {
    for (const [name, message] of [["secret/key", "go away"], ["weird name", "Access denied"]]) {
      assert.match(await refusal(hpaPort, name), new RegExp(message));
      assert.match(await refusal(ftkitPort, name), new RegExp(message));
    }
  });
});

describe(
  "one remap file over IPv6 (::1): 4 and 6 rules, \\x",
  { skip: missing("tftpdHpa") },
  () => {
    let root: { path: string; remove(): Promise<void> };
    let daemon: Daemon | undefined;
    let hpaPort: number;
    let ftkit: ServingCli | undefined;

    before(async () => {
      root = await tempDir("ftkit-remap6-");
      const { served, rules } = await layOut(root.path);
      [daemon, hpaPort] = await onFreePort("udp", async (free) => [
        await startDaemon(
          PEER.tftpdHpa,
          [...TFTPD_ARGS.tftpdHpa(served, free, "::1"), "-m", rules],
          { udp: free },
        ),
        free,
      ]);
      ftkit = await serveCli(
        ["udp"],
        (
          [free],
        ) => [
          "tftp",
          "serve",
          served,
          "--host",
          "::1",
          "--port",
          String(free),
          "--map-file",
          rules,
        ],
        /^Fetch a file with: /,
      );
    });

    after(async () => {
      await ftkit?.stop();
      await daemon?.stop();
      await root?.remove();
    });

    for (
      const [name, expected] of [["family", "v6"], ["hex", "by hex v6"], ["loop-again", "second"]]
    ) {
      test(`${name}: ${expected} from both`, async () => {
        assert.equal(await outcome(hpaPort, name, "::1"), expected);
        assert.equal(await outcome(ftkit!.ports[0], name, "::1"), expected);
      });
    }
  },
);

describe("ftkit tftp serve --map-file", () => {
  test("a rewritten name is still jailed to the root", async () => {
    const dir = await tempDir("ftkit-remap-jail-");
    let server: ServingCli | undefined;
    try {
      await mkdir(join(dir.path, "root"));
      await writeFile(join(dir.path, "outside.txt"), "outside");
      await writeFile(join(dir.path, "rules.map"), "r ^escape$ ../outside.txt\n");
      server = await serveCli(
        ["udp"],
        ([free]) => [
          "tftp",
          "serve",
          join(dir.path, "root"),
          "--port",
          String(free),
          "--map-file",
          join(dir.path, "rules.map"),
        ],
        /^Fetch a file with: /,
      );
      assert.equal(await outcome(server.ports[0], "escape"), "error 2");
      await server.line(/escape \(as \.\.\/outside\.txt\): failed, error 2/);
    } finally {
      await server?.stop();
      await dir.remove();
    }
  });

  test("a rule file tftp-hpa would refuse is a usage error naming the line", async () => {
    const dir = await tempDir("ftkit-remap-bad-");
    try {
      const file = join(dir.path, "rules.map");
      await writeFile(file, "# fine\nr ^a b\nrq ^c d\n");
      const err: string[] = [];
      const code = await runCli(["tftp", "serve", dir.path, "--map-file", file], {
        out: () => {},
        err: (line) => err.push(line),
      });
      assert.equal(code, 2);
      assert.equal(err[0], `ftkit: --map-file ${file}: line 3: invalid flag "q"`);
    } finally {
      await dir.remove();
    }
  });
});
