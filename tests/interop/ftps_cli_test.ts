// `ftkit ftps ls|get|put` against real servers on loopback: pyftpdlib (explicit TLS, ftp:// with
// --tls) and ProFTPD (implicit TLS, ftps://), in-process through runCli and as a real command;
// and the real command interrupted mid-transfer, against ftkit's own server.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFile, spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Socket } from "node:net";
import process from "node:process";
import { runCli } from "../../cli.ts";
import { bytesOf, missing, PEER, runPeer, tempDir } from "./_peers.ts";
import {
  chownFtp,
  FIXTURES,
  type FtpsServer,
  PASSWORD,
  startProftpd,
  startPyftpdlib,
  startVsftpd,
  USER,
} from "./_ftps_servers.ts";
import { projectFile, runtime, runtimeCommand } from "../_runtime.ts";
import { serveCli } from "../_cli_serve.ts";
import { RawFtp } from "../ftps/_raw_ftp.ts";
import { type FtpsLogEntry, serveFtps } from "../ftps/_connect.ts";
import { ftpDirectoryStorage, type FtpStorage } from "../../ftps/mod.ts";

interface Outcome {
  code: number;
  out: string[];
  err: string[];
  progress: string[];
}

/** Runs the real command (killed after 120 s); its exit code and what it printed. */
function ftkit(
  args: string[],
  env?: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  return new Promise((resolve) => {
    execFile(
      program,
      [...programArgs, ...args],
      { timeout: 120_000, killSignal: "SIGKILL", ...(env ? { env } : {}) },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function cli(...args: string[]): Promise<Outcome> {
  const outcome: Outcome = { code: -1, out: [], err: [], progress: [] };
  outcome.code = await runCli(args, {
    out: (line) => outcome.out.push(line),
    err: (line) => outcome.err.push(line),
    progress: (line) => outcome.progress.push(line),
  });
  return outcome;
}

describe(
  "ftkit ftps ls, get and put",
  { skip: missing("python", "pyftpdlib", "proftpd", "openssl") },
  () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let root: string;
    let py: FtpsServer;
    let implicit: FtpsServer;
    let proftpd: FtpsServer;
    let vsftpd: FtpsServer | undefined;
    const ca = join(FIXTURES, "ca.pem");
    const payload = bytesOf(3 * 1024 * 1024 + 17, 9);
    const url = (path: string) => `ftp://${USER}:${PASSWORD}@localhost:${py.port}/${path}`;

    before(async () => {
      dir = await tempDir("ftkit-ftps-cli-");
      root = join(dir.path, "root");
      await mkdir(join(root, "pub"), { recursive: true });
      await writeFile(join(root, "pub", "hello.txt"), "hello\n");
      await chownFtp(dir.path, root, join(root, "pub"), join(root, "pub", "hello.txt"));
      await writeFile(join(dir.path, "payload.bin"), payload);
      py = await startPyftpdlib(root);
      implicit = await startProftpd(dir.path, root, { implicit: true });
      proftpd = await startProftpd(dir.path, root);
      if (!missing("vsftpd")) {
        // vsftpd's anonymous root must not be writable by the ftp user; its pub is.
        const top = join(dir.path, "top");
        await mkdir(join(top, "pub"), { recursive: true });
        await chownFtp(join(top, "pub"));
        vsftpd = await startVsftpd(dir.path, top);
      }
    });

    after(async () => {
      await py?.stop();
      await implicit?.stop();
      await proftpd?.stop();
      await vsftpd?.stop();
      await dir?.remove();
    });

    test("put, ls and get over explicit TLS (ftp:// --tls), byte for byte", async () => {
      const put = await cli(
        "ftps",
        "put",
        join(dir.path, "payload.bin"),
        url("pub/"),
        "--tls",
        "--ca",
        ca,
      );
      assert.equal(put.code, 0, put.err.join("\n"));
      assert.match(
        put.err.join("\n"),
        new RegExp(`^Sent ${payload.length} bytes in [0-9.]+ s \\(TLS`),
      );
      assert.match(
        put.progress.at(-2) ?? "",
        /\] 100% 3\.0 MiB of 3\.0 MiB {2}[0-9.]+ [KMG]iB\/s$/,
      );
      assert.ok(Buffer.compare(await readFile(join(root, "pub", "payload.bin")), payload) === 0);

      const ls = await cli("ftps", "ls", url("pub"), "--tls", "--ca", ca);
      assert.equal(ls.code, 0, ls.err.join("\n"));
      assert.deepEqual(ls.out, ["hello.txt", "payload.bin"]);
      const long = await cli("ftps", "ls", url("pub"), "--tls", "--ca", ca, "--long");
      assert.match(long.out[1], /^- +3145745 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +payload\.bin$/);

      const local = join(dir.path, "back.bin");
      const get = await cli("ftps", "get", url("pub/payload.bin"), local, "--tls", "--ca", ca);
      assert.equal(get.code, 0, get.err.join("\n"));
      assert.match(get.err[0], new RegExp(`^Received ${payload.length} bytes`));
      assert.ok(Buffer.compare(await readFile(local), payload) === 0);
    });

    test("vsftpd and ProFTPD at their defaults (data connections must resume the TLS session): put, ls and get with --ca", async () => {
      const servers = [
        { name: "ProFTPD", at: `${USER}:${PASSWORD}@localhost:${proftpd.port}` },
        ...(vsftpd ? [{ name: "vsftpd", at: `localhost:${vsftpd.port}` }] : []),
      ];
      for (const { name, at } of servers) {
        const remote = `ftp://${at}/pub/cli-${name}.bin`;
        const put = await cli(
          "ftps",
          "put",
          join(dir.path, "payload.bin"),
          remote,
          "--tls",
          "--ca",
          ca,
        );
        assert.equal(put.code, 0, `${name}: ${put.err.join("\n")}`);
        assert.match(
          put.err.join("\n"),
          /^Sent 3145745 bytes in [0-9.]+ s \(TLS, session resumed\)/,
        );
        const ls = await cli("ftps", "ls", `ftp://${at}/pub`, "--tls", "--ca", ca);
        assert.equal(ls.code, 0, `${name}: ${ls.err.join("\n")}`);
        assert.ok(ls.out.includes(`cli-${name}.bin`), `${name}: ${ls.out.join(",")}`);
        const local = join(dir.path, `back-${name}.bin`);
        const get = await cli("ftps", "get", remote, local, "--tls", "--ca", ca);
        assert.equal(get.code, 0, `${name}: ${get.err.join("\n")}`);
        assert.match(get.err[0], /^Received 3145745 bytes in [0-9.]+ s \(TLS, session resumed\)/);
        assert.ok(Buffer.compare(await readFile(local), payload) === 0, `${name}: byte for byte`);
      }
      if (!vsftpd) console.error("vsftpd is not installed: ftkit ftps against it not tried");
    });

    test("credentials from --user; TLS 1.2; active mode", async () => {
      const local = join(dir.path, "hello-active.txt");
      const got = await cli(
        "ftps",
        "get",
        `ftp://127.0.0.1:${py.port}/pub/hello.txt`,
        local,
        "--tls",
        "--ca",
        ca,
        "--servername",
        "localhost",
        "--user",
        `${USER}:${PASSWORD}`,
        "--tls-max",
        "1.2",
        "--active",
      );
      assert.equal(got.code, 0, got.err.join("\n"));
      assert.equal(await readFile(local, "utf8"), "hello\n");
    });

    test("ftps:// is implicit TLS", async () => {
      const ls = await cli(
        "ftps",
        "ls",
        `ftps://${USER}:${PASSWORD}@localhost:${implicit.port}/pub`,
        "--ca",
        ca,
      );
      assert.equal(ls.code, 0, ls.err.join("\n"));
      assert.ok(ls.out.includes("hello.txt"), ls.out.join(","));
    });

    test("failures are one line (and a hint), exit codes by class; a failed get leaves no file", async () => {
      const local = join(dir.path, "missing.txt");
      const missingFile = await cli(
        "ftps",
        "get",
        url("pub/missing.txt"),
        local,
        "--tls",
        "--ca",
        ca,
      );
      assert.equal(missingFile.code, 78, "remote file not found");
      assert.deepEqual(missingFile.err, [
        "ftkit: RETR pub/missing.txt: 550 No such file or directory.",
      ]);
      assert.equal(existsSync(local), false);

      const wrong = await cli(
        "ftps",
        "ls",
        `ftp://${USER}:wrong@localhost:${py.port}/`,
        "--tls",
        "--ca",
        ca,
      );
      assert.equal(wrong.code, 67, "login denied");
      assert.equal(wrong.err.length, 1);
      assert.match(wrong.err[0], /^ftkit: PASS \*\*\*\*: 530 /);
      assert.doesNotMatch(wrong.err[0], /wrong/, "the password is not shown");

      const untrusted = await cli("ftps", "ls", url(""), "--tls");
      assert.equal(untrusted.code, 60, "certificate not verified");
      assert.equal(untrusted.err.length, 2);
      assert.match(untrusted.err[0], /^ftkit: .*(certificate|issuer|verify)/i);
      assert.match(untrusted.err[1], /^hint: use --ca FILE with the server's CA/);

      const refused = await cli("ftps", "ls", `ftp://127.0.0.1:1/`, "--tls", "--ca", ca);
      assert.equal(refused.code, 7, "cannot connect");
      assert.equal(refused.err.length, 1);
      assert.match(refused.err[0], /^ftkit: .*(refused|ECONNREFUSED)/i);
    });

    test("usage errors exit 2", async () => {
      for (
        const [args, message] of [
          [["ftps", "ls", "http://localhost/"], /not an FTP URL/],
          [["ftps", "ls", "ftps://localhost/", "--tls"], /--tls is for ftp:\/\/ URLs/],
          [["ftps", "ls", "ftp://localhost/", "--tls", "--tls-max", "1.1"], /--tls-max takes/],
          [["ftps", "ls", "ftp://localhost/", "--ca", ca], /TLS options need/],
          [["ftps", "get", "ftp://localhost/dir/", "--tls"], /needs a file/],
          [["ftps", "put", "ftp://localhost/x"], /LOCAL file and a URL/],
          [["ftps", "sync", "ftp://localhost/"], /unknown command 'sync' for 'ftps'/],
          [["ftps", "mirror", "ftp://localhost/"], /takes a SOURCE and a DESTINATION/],
          [["ftps", "mirror", "./a", "./b"], /needs one URL/],
          [["ftps", "mirror", "ftp://localhost/a", "ftp://localhost/b"], /needs one URL/],
          [["ftps", "mirror", "ftp://localhost/", "./b", "--parallel", "17"], /--parallel/],
        ] as const
      ) {
        const outcome = await cli(...args);
        assert.equal(outcome.code, 2, args.join(" "));
        assert.match(outcome.err[0], message, args.join(" "));
      }
    });

    test(
      "Deno: the CA trusted through DENO_CERT instead of --ca (Deno's own verification), resumed",
      {
        skip: runtime === "deno" ? false : "DENO_CERT is Deno's",
      },
      async () => {
        const run = (env: Record<string, string>) =>
          ftkit([
            "ftps",
            "get",
            `ftp://${USER}:${PASSWORD}@localhost:${proftpd.port}/pub/hello.txt`,
            "-",
            "--tls",
          ], { ...withoutDenoCert(), ...env });
        const trusted = await run({ DENO_CERT: ca });
        assert.equal(trusted.code, 0, trusted.stderr);
        assert.equal(trusted.stdout, "hello\n");
        assert.match(trusted.stderr, /^Received 6 bytes in [0-9.]+ s \(TLS, session resumed\)/);
        // Without it, the test CA is no one's: refused.
        const untrusted = await run({});
        assert.equal(untrusted.code, 60, untrusted.stderr);
        assert.match(untrusted.stderr, /certificate/);
      },
    );

    test("the real command: get to standard output", async () => {
      const { code, stdout, stderr } = await ftkit([
        "ftps",
        "get",
        url("pub/hello.txt"),
        "-",
        "--tls",
        "--ca",
        ca,
      ]);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, "hello\n");
      assert.match(stderr, /^Received 6 bytes in [0-9.]+ s \(TLS/);
    });
  },
);

describe(
  "ftkit serve and ftkit ftps serve, fetched with curl",
  { skip: missing("curl") },
  () => {
    test("ftkit serve: one directory over TFTP and FTPS, with an ephemeral certificate", async () => {
      const dir = await tempDir("ftkit-serve-");
      try {
        const served = join(dir.path, "srv");
        await mkdir(served);
        await writeFile(join(served, "boot.img"), bytesOf(200_000, 9));
        const caFile = join(dir.path, "ca.pem");
        const server = await serveCli(["udp", "tcp"], ([tftpPort, ftpsPort]) => [
          "serve",
          served,
          "--tftp-port",
          String(tftpPort),
          "--ftps-port",
          String(ftpsPort),
          "--ca-out",
          caFile,
          "--quiet",
        ], /^Fetch a file with: curl --ssl-reqd /);
        const [tftpPort, ftpsPort] = server.ports;
        try {
          const text = server.lines.join("\n");
          assert.match(
            text,
            new RegExp(`over TFTP on 127\\.0\\.0\\.1:${tftpPort} \\(read-only\\)`),
          );
          assert.match(
            text,
            new RegExp(`over FTPS \\(explicit TLS\\) on 127\\.0\\.0\\.1:${ftpsPort}`),
          );
          assert.match(text, /SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
          const password = text.match(/User: ftkit, password: (\S+)/)?.[1];
          assert.ok(password, text);
          const expected = await readFile(join(served, "boot.img"));
          const tftp = await runPeer(PEER.curl, [
            "-sS",
            "-o",
            join(dir.path, "t.img"),
            `tftp://127.0.0.1:${tftpPort}/boot.img`,
          ]);
          assert.equal(tftp.code, 0, tftp.stderr);
          assert.deepEqual(await readFile(join(dir.path, "t.img")), expected);
          // The printed curl line, as printed (FILE filled in).
          const line = text.match(/^Fetch a file with: (curl --ssl-reqd .*)$/m)?.[1];
          assert.ok(line, text);
          const args = line.replace(/-o FILE/, `-o ${join(dir.path, "f.img")}`)
            .replace(/\/FILE$/, "/boot.img").split(" ").slice(1);
          const ftps = await runPeer(PEER.curl, ["-sS", ...args]);
          assert.equal(ftps.code, 0, ftps.stderr);
          assert.deepEqual(await readFile(join(dir.path, "f.img")), expected);
          // Read-only: an upload is refused.
          const upload = await runPeer(PEER.curl, [
            "-sS",
            "--ssl-reqd",
            "--cacert",
            caFile,
            "-u",
            `ftkit:${password}`,
            "-T",
            join(served, "boot.img"),
            `ftp://127.0.0.1:${ftpsPort}/copy.img`,
          ]);
          assert.notEqual(upload.code, 0);
          assert.match(upload.stderr, /550|denied/i);
        } finally {
          await server.stop();
        }
      } finally {
        await dir.remove();
      }
    });

    test("ftkit serve: FTPS session limits from the command line", async () => {
      const dir = await tempDir("ftkit-serve-limits-");
      const held: RawFtp[] = [];
      try {
        const server = await serveCli(["udp", "tcp"], ([tftpPort, ftpsPort]) => [
          "serve",
          dir.path,
          "--tftp-port",
          String(tftpPort),
          "--ftps-port",
          String(ftpsPort),
          "--max-sessions",
          "3",
          "--max-sessions-per-ip",
          "1",
          "--quiet",
        ], /^Fetch a file with: curl --ssl-reqd /);
        try {
          const ftpsPort = server.ports[1];
          for (let i = 0; i < 2; i++) held.push(await RawFtp.connect(ftpsPort));
          const greetings = await Promise.all(held.map((ftp) => ftp.reply()));
          assert.deepEqual(greetings.map((reply) => reply.code).sort(), [220, 421]);
        } finally {
          for (const ftp of held) ftp.close();
          await server.stop();
        }
      } finally {
        await dir.remove();
      }
    });

    test("ftkit ftps serve: implicit TLS, given users, certificate, writes and overwrites", async () => {
      const dir = await tempDir("ftkit-ftps-serve-");
      const serve = (...flags: string[]) =>
        serveCli(["tcp"], ([port]) => [
          "ftps",
          "serve",
          dir.path,
          "--port",
          String(port),
          "--implicit",
          "--user",
          "fred:secret",
          "--cert",
          join(FIXTURES, "leaf.pem"),
          "--key",
          join(FIXTURES, "leaf.key"),
          "--allow-write",
          ...flags,
          "--quiet",
        ], /^Fetch a file with: curl /);
      const upload = (port: number, local: string) =>
        runPeer(PEER.curl, [
          "-sS",
          "--cacert",
          join(FIXTURES, "ca.pem"),
          "-u",
          "fred:secret",
          "-T",
          join(dir.path, local),
          `ftps://localhost:${port}/sent.bin`,
        ]);
      try {
        await writeFile(join(dir.path, "local.bin"), bytesOf(50_000, 4));
        await writeFile(join(dir.path, "other.bin"), bytesOf(40_000, 5));
        const local = await readFile(join(dir.path, "local.bin"));
        const server = await serve();
        try {
          assert.match(server.lines[0], /over FTPS \(implicit TLS\) .* \(writes allowed\)$/);
          const up = await upload(server.ports[0], "local.bin");
          assert.equal(up.code, 0, up.stderr);
          assert.deepEqual(await readFile(join(dir.path, "sent.bin")), local);
          // Without --allow-overwrite, the file is not replaced.
          const again = await upload(server.ports[0], "other.bin");
          assert.equal(again.code, 25, again.stderr); // CURLE_UPLOAD_FAILED
          assert.match(again.stderr, /550/);
          assert.deepEqual(await readFile(join(dir.path, "sent.bin")), local);
        } finally {
          await server.stop();
        }
        const overwriting = await serve("--allow-overwrite");
        try {
          const replaced = await upload(overwriting.ports[0], "other.bin");
          assert.equal(replaced.code, 0, replaced.stderr);
          assert.deepEqual(
            await readFile(join(dir.path, "sent.bin")),
            await readFile(join(dir.path, "other.bin")),
          );
        } finally {
          await overwriting.stop();
        }
        assert.equal(
          (await cli("ftps", "serve", dir.path, "--cert", "x.pem")).code,
          2,
          "--cert without --key",
        );
      } finally {
        await dir.remove();
      }
    });

    test("ftkit ftps serve: session limits and timeouts from the command line", async () => {
      const dir = await tempDir("ftkit-ftps-limits-");
      const held: RawFtp[] = [];
      try {
        // Port 0: the system picks one, and the first line names it.
        const server = await serveCli([], () => [
          "ftps",
          "serve",
          dir.path,
          "--port",
          "0",
          "--max-sessions-per-ip",
          "2",
          "--login-timeout",
          "1",
          "--quiet",
        ], /^Fetch a file with: curl /);
        try {
          const port = Number(/ on 127\.0\.0\.1:(\d+)/.exec(server.lines[0])?.[1]);
          assert.ok(port > 0, server.lines.join("\n"));
          for (let i = 0; i < 3; i++) held.push(await RawFtp.connect(port));
          const greetings = await Promise.all(held.map((ftp) => ftp.reply()));
          assert.deepEqual(greetings.map((reply) => reply.code).sort(), [220, 220, 421]);
          // No login within a second: the server says so and closes.
          const open = held.filter((_, i) => greetings[i].code === 220);
          for (const ftp of open) {
            const late = await ftp.reply(20_000);
            assert.equal(late.code, 421);
            assert.match(late.text, /login/i);
          }
        } finally {
          for (const ftp of held) ftp.close();
          await server.stop();
        }
        for (const bad of ["--max-sessions-per-ip", "--idle-timeout", "--login-timeout"]) {
          const ran = await cli("ftps", "serve", dir.path, bad, "x");
          assert.equal(ran.code, 2, `${bad} x`);
        }
      } finally {
        await dir.remove();
      }
    });
  },
);

/**
 * ftkit's directory storage for `root`, writable (overwrites too: the interrupted upload below
 * goes to a file that exists, which must keep its content), whose transfers stop after their first chunk
 * until `release()`: a download or an upload is surely in the middle when the test interrupts it.
 * `uploading` resolves once an upload's second chunk is waiting.
 */
function heldStorage(root: string) {
  const inner = ftpDirectoryStorage(root, { allowWrite: true, allowOverwrite: true });
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let uploadHeld: () => void = () => {};
  const uploading = new Promise<void>((resolve) => (uploadHeld = resolve));
  const commits: string[] = [];
  const storage: FtpStorage = {
    ...inner,
    async read(path, offset) {
      const stream = await inner.read(path, offset);
      let first = true;
      return {
        ...(stream.size !== undefined ? { size: stream.size } : {}),
        async read() {
          if (!first) await released;
          first = false;
          return await stream.read();
        },
        close: () => stream.close(),
      };
    },
    async write(path, options) {
      const stream = await inner.write(path, options);
      let first = true;
      return {
        async write(bytes) {
          if (!first) {
            uploadHeld();
            await released;
          }
          first = false;
          await stream.write(bytes);
        },
        async commit() {
          commits.push(path);
          await stream.commit();
        },
        abort: () => stream.abort(),
      };
    },
  };
  return { storage, release, uploading, commits };
}

/** Resolves once `check` holds; checked every 20 ms, for at most `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("ftkit ftps get and put, interrupted (SIGINT, SIGTERM), against ftkit's server", () => {
  const ca = join(FIXTURES, "ca.pem");

  /** Runs the real command; `exited` gives its code (or signal) and its error output. */
  function command(args: string[]) {
    const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
    const child = spawn(program, [...programArgs, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdout.resume();
    const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>(
      (resolve) => child.once("exit", (code, signal) => resolve({ code, signal, stderr })),
    );
    /** The exit, or a failure (and the child killed) after `ms`. */
    const exit = async (ms = 20_000) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`ftkit did not exit within ${ms} ms:\n${stderr}`));
        }, ms);
      });
      try {
        return await Promise.race([exited, late]);
      } finally {
        clearTimeout(timer);
      }
    };
    /** Sends `signal` by pid: Deno's `child.kill` reports the child as killed by the signal
     * whatever its exit code. */
    const signal = (name: "SIGINT" | "SIGTERM") => process.kill(child.pid!, name);
    return { child, exit, signal };
  }

  async function serving(root: string) {
    const held = heldStorage(root);
    const log: FtpsLogEntry[] = [];
    const server = await serveFtps({
      storage: held.storage,
      users: { fred: "secret" },
      tls: {
        cert: await readFile(join(FIXTURES, "leaf.pem"), "utf8"),
        key: await readFile(join(FIXTURES, "leaf.key"), "utf8"),
      },
      host: "127.0.0.1",
      port: 0,
      onLog: (entry) => log.push(entry),
    });
    const url = (path: string) => `ftp://fred:secret@localhost:${server.address.port}/${path}`;
    return { ...held, server, log, url };
  }

  test("SIGINT mid-download: exit 130, no temporary file left, the existing file untouched", async () => {
    const dir = await tempDir("ftkit-ftps-sigint-");
    const ftp = await serving(join(dir.path));
    try {
      await writeFile(join(dir.path, "big.bin"), bytesOf(4 * 1024 * 1024, 3));
      const local = join(dir.path, "local");
      await mkdir(local);
      const target = join(local, "big.bin");
      await writeFile(target, "precious\n");
      const run = command(["ftps", "get", ftp.url("big.bin"), target, "--tls", "--ca", ca]);
      // Midway: the first chunk is in the temporary file, the rest held by the server.
      const part = async () => (await readdir(local)).find((name) => name.endsWith(".part"));
      await until("a partial download", async () => {
        const name = await part();
        return name !== undefined && (await stat(join(local, name))).size > 0;
      });
      run.signal("SIGINT");
      const { code, signal, stderr } = await run.exit();
      assert.equal(code, 130, `${signal} ${stderr}`);
      assert.match(stderr, /^ftkit: Interrupted by SIGINT: transfer aborted\n$/);
      assert.deepEqual(await readdir(local), ["big.bin"], "no temporary file left");
      assert.equal(await readFile(target, "utf8"), "precious\n", "the target as it was");
    } finally {
      ftp.release();
      await ftp.server.close();
      await dir.remove();
    }
  });

  test("SIGINT while the server has not even greeted: exit 130 at once, not after the timeout", async () => {
    // A server that accepts and says nothing: the command waits for its greeting.
    const silent = createServer((socket) => socket.on("error", () => {}));
    const connected = new Promise<void>((resolve) => silent.once("connection", () => resolve()));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const run = command([
        "ftps",
        "ls",
        `ftp://fred:secret@127.0.0.1:${port}/`,
        "--tls",
        "--timeout",
        "600",
      ]);
      await connected;
      run.signal("SIGINT");
      // Well within the command's own 600 s timeout.
      const { code, signal, stderr } = await run.exit(60_000);
      assert.equal(code, 130, `${signal} ${stderr}`);
      assert.match(stderr, /Interrupted by SIGINT/);
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("SIGTERM mid-upload: exit 143, and the server commits nothing (the remote file keeps its content)", async () => {
    const dir = await tempDir("ftkit-ftps-sigterm-");
    const remote = join(dir.path, "remote");
    await mkdir(remote);
    const ftp = await serving(remote);
    try {
      await writeFile(join(remote, "r1.cfg"), "hostname r1\n");
      // Far more than the socket buffers hold: the upload cannot be over when it is stopped.
      const local = join(dir.path, "r1.cfg");
      await writeFile(local, new Uint8Array(64 * 1024 * 1024).fill(0x23));
      const run = command(["ftps", "put", local, ftp.url("r1.cfg"), "--tls", "--ca", ca]);
      await ftp.uploading;
      run.signal("SIGTERM");
      const { code, signal, stderr } = await run.exit();
      assert.equal(code, 143, `${signal} ${stderr}`);
      assert.match(stderr, /^ftkit: Interrupted by SIGTERM: transfer aborted\n$/);
      // The server goes on with what it holds, and sees the upload end: cut short.
      ftp.release();
      await until(
        "the server's transfer record",
        () => Promise.resolve(ftp.log.some((entry) => entry.type === "transfer")),
      );
      const transfer = ftp.log.find((entry) => entry.type === "transfer");
      assert.ok(transfer?.type === "transfer" && transfer.outcome !== "ok", transfer?.type);
      assert.deepEqual(ftp.commits, [], "nothing committed");
      assert.equal(await readFile(join(remote, "r1.cfg"), "utf8"), "hostname r1\n");
      assert.deepEqual(await readdir(remote), ["r1.cfg"], "no temporary file left");
    } finally {
      ftp.release();
      await ftp.server.close();
      await dir.remove();
    }
  });
});

/** This process's environment without DENO_CERT. */
function withoutDenoCert(): Record<string, string | undefined> {
  const { DENO_CERT: _, ...env } = process.env;
  return env;
}

describe("ftkit ftps ls, get and put: exit codes by failure class, and hints", () => {
  const ca = join(FIXTURES, "ca.pem");
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let explicit: Awaited<ReturnType<typeof serveFtps>>;
  let implicit: Awaited<ReturnType<typeof serveFtps>>;
  let silent: ReturnType<typeof createServer>;
  const silentSockets = new Set<Socket>();

  before(async () => {
    dir = await tempDir("ftkit-ftps-codes-");
    await mkdir(join(dir.path, "srv"));
    await writeFile(join(dir.path, "srv", "hello.txt"), "hello\n");
    const tls = {
      cert: await readFile(join(FIXTURES, "leaf.pem"), "utf8"),
      key: await readFile(join(FIXTURES, "leaf.key"), "utf8"),
    };
    const common = {
      root: join(dir.path, "srv"),
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
    };
    explicit = await serveFtps({ ...common, port: 0 });
    implicit = await serveFtps({ ...common, port: 0, secure: "implicit" });
    // Accepts and says nothing (its connections are destroyed at the end: a server's close
    // waits for them).
    silent = createServer((socket) => {
      silentSockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => silentSockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  });

  after(async () => {
    await explicit?.close();
    await implicit?.close();
    for (const socket of silentSockets) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
    await dir?.remove();
  });

  const at = () => `localhost:${explicit.address.port}`;

  test("TLS: certificate not verified (60), wrong name (60), implicit/explicit mixed (35), TLS required (67), each with its hint", async () => {
    const untrusted = await cli("ftps", "ls", `ftp://fred:secret@${at()}/`, "--tls");
    assert.equal(untrusted.code, 60, untrusted.err.join("\n"));
    assert.match(untrusted.err[0], /^ftkit: .*(certificate|UNABLE_TO_VERIFY)/);
    assert.deepEqual(untrusted.err.slice(1), [
      "hint: use --ca FILE with the server's CA (ftkit ftps serve prints it), or --insecure to skip verification",
    ]);
    const insecure = await cli("ftps", "ls", `ftp://fred:secret@${at()}/`, "--tls", "--insecure");
    assert.equal(insecure.code, 0, insecure.err.join("\n"));
    assert.deepEqual(insecure.out, ["hello.txt"]);

    const name = await cli(
      "ftps",
      "ls",
      `ftp://fred:secret@${at()}/`,
      "--tls",
      "--ca",
      ca,
      "--servername",
      "example.com",
    );
    assert.equal(name.code, 60, name.err.join("\n"));
    assert.deepEqual(name.err.slice(1), [
      "hint: the certificate does not name that host: connect by a name it carries, or give one with --servername NAME",
    ]);

    const implicitToExplicit = await cli("ftps", "ls", `ftps://fred:secret@${at()}/`, "--ca", ca);
    assert.equal(implicitToExplicit.code, 35, implicitToExplicit.err.join("\n"));
    assert.equal(implicitToExplicit.err.length, 2, implicitToExplicit.err.join("\n"));
    assert.equal(
      implicitToExplicit.err[1],
      `hint: this server uses explicit TLS: use ftp://${at()} with --tls (or ftpes://${at()})`,
    );
    const ftpes = await cli("ftps", "ls", `ftpes://fred:secret@${at()}/`, "--ca", ca);
    assert.equal(ftpes.code, 0, ftpes.err.join("\n"));

    const plain = await cli("ftps", "ls", `ftp://fred:secret@${at()}/`);
    assert.equal(plain.code, 67, plain.err.join("\n"));
    assert.deepEqual(plain.err, [
      "ftkit: USER fred: 530 TLS required: use AUTH TLS first.",
      "hint: the server requires TLS: add --tls",
    ]);

    // Explicit TLS against an implicit server: both sides wait, the client for a greeting, the
    // server for a handshake. Told apart long before the 120 s timeout: the code is 35, not 28.
    const other = `localhost:${implicit.address.port}`;
    const explicitToImplicit = await cli(
      "ftps",
      "ls",
      `ftp://fred:secret@${other}/`,
      "--tls",
      "--ca",
      ca,
      "--timeout",
      "120",
    );
    assert.equal(explicitToImplicit.code, 35, explicitToImplicit.err.join("\n"));
    assert.deepEqual(explicitToImplicit.err, [
      `ftkit: no FTP greeting from ${other}: the server waits for a TLS handshake`,
      `hint: the server may use implicit TLS: use ftps://${other}`,
    ]);
  });

  test("network: cannot resolve (6), refused (7), timeout (28)", async () => {
    const unknown = await cli("ftps", "ls", "ftp://fred:secret@host.invalid/", "--tls", "--ca", ca);
    assert.equal(unknown.code, 6, unknown.err.join("\n"));
    assert.equal(unknown.err.length, 1);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await cli(
      "ftps",
      "ls",
      `ftp://fred:secret@127.0.0.1:${port}/`,
      "--tls",
      "--ca",
      ca,
    );
    assert.equal(refused.code, 7, refused.err.join("\n"));
    assert.match(refused.err[0], /ECONNREFUSED/);
    const quiet = (silent.address() as { port: number }).port;
    const timeout = await cli(
      "ftps",
      "ls",
      `ftp://fred:secret@127.0.0.1:${quiet}/`,
      "--tls",
      "--ca",
      ca,
      "--timeout",
      "1",
    );
    assert.equal(timeout.code, 28, timeout.err.join("\n"));
    assert.deepEqual(timeout.err, ["ftkit: No reply within 1000 ms"]);
  });

  test("login denied (67), remote file not found (78), a refused upload (1)", async () => {
    const wrong = await cli("ftps", "ls", `ftp://fred:wrong@${at()}/`, "--tls", "--ca", ca);
    assert.equal(wrong.code, 67, wrong.err.join("\n"));
    assert.deepEqual(wrong.err, ["ftkit: PASS ****: 530 Login incorrect."]);
    const local = join(dir.path, "missing.txt");
    const missingFile = await cli(
      "ftps",
      "get",
      `ftp://fred:secret@${at()}/missing.txt`,
      local,
      "--tls",
      "--ca",
      ca,
    );
    assert.equal(missingFile.code, 78, missingFile.err.join("\n"));
    assert.match(missingFile.err[0], /^ftkit: RETR missing\.txt: 550 /);
    assert.equal(existsSync(local), false);
    const missingDir = await cli(
      "ftps",
      "ls",
      `ftp://fred:secret@${at()}/nowhere`,
      "--tls",
      "--ca",
      ca,
    );
    assert.equal(missingDir.code, 78, missingDir.err.join("\n"));
    const readOnly = await cli(
      "ftps",
      "put",
      join(dir.path, "srv", "hello.txt"),
      `ftp://fred:secret@${at()}/copy.txt`,
      "--tls",
      "--ca",
      ca,
    );
    assert.equal(readOnly.code, 1, readOnly.err.join("\n"));
    assert.match(readOnly.err[0], /^ftkit: STOR copy\.txt: 550 /);
  });

  test("local files: cannot write (23), cannot read (26)", async () => {
    const nowhere = join(dir.path, "no-such-dir", "hello.txt");
    const write = await cli(
      "ftps",
      "get",
      `ftp://fred:secret@${at()}/hello.txt`,
      nowhere,
      "--tls",
      "--ca",
      ca,
    );
    assert.equal(write.code, 23, write.err.join("\n"));
    assert.deepEqual(write.err, [
      `ftkit: cannot write '${nowhere}': no such file or directory (ENOENT)`,
    ]);
    const absent = join(dir.path, "absent.bin");
    const read = await cli(
      "ftps",
      "put",
      absent,
      `ftp://fred:secret@${at()}/x`,
      "--tls",
      "--ca",
      ca,
    );
    assert.equal(read.code, 26, read.err.join("\n"));
    assert.deepEqual(read.err, [
      `ftkit: cannot read '${absent}': no such file or directory (ENOENT)`,
    ]);
    const noCa = join(dir.path, "ca-absent.pem");
    const caMissing = await cli("ftps", "ls", `ftp://fred:secret@${at()}/`, "--tls", "--ca", noCa);
    assert.equal(caMissing.code, 26, caMissing.err.join("\n"));
    assert.deepEqual(caMissing.err, [
      `ftkit: --ca: cannot read '${noCa}': no such file or directory (ENOENT)`,
    ]);
  });

  test("the real command exits with the code, and prints the hint", async () => {
    const { code, stderr } = await ftkit(["ftps", "ls", `ftps://fred:secret@${at()}/`, "--ca", ca]);
    assert.equal(code, 35, stderr);
    assert.match(
      stderr,
      /\nhint: this server uses explicit TLS: use ftp:\/\/localhost:\d+ with --tls/,
    );
  });
});

/** A Python program that runs a command under a pseudo-terminal, answers its password prompt
 * with `answer`, and prints as JSON what the terminal showed, the exit code, and whether the
 * terminal echoed while the prompt waited and after the command ended. */
const PTY_RUN = `
import json, os, pty, select, sys, termios, time
argv, answer, env = json.loads(sys.argv[1]), sys.argv[2].encode(), json.loads(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execve(argv[0], argv, env)
out = b""
def pump(until, seconds):
    global out
    deadline = time.time() + seconds
    while time.time() < deadline and not until(out):
        if select.select([fd], [], [], 0.2)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            out += data
pump(lambda o: b": " in o, 120)
echo_while = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
os.write(fd, answer)
pump(lambda o: False, 120)
_, status = os.waitpid(pid, 0)
echo_after = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
print(json.dumps({"output": out.decode(errors="replace"), "code": os.waitstatus_to_exitcode(status),
                  "echoWhilePrompting": echo_while, "echoAfter": echo_after}))
`;

describe("ftkit ftps --user NAME without a password: FTKIT_PASSWORD, ~/.netrc, a prompt", () => {
  const ca = join(FIXTURES, "ca.pem");
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: Awaited<ReturnType<typeof serveFtps>>;

  before(async () => {
    dir = await tempDir("ftkit-ftps-password-");
    await mkdir(join(dir.path, "srv"));
    await mkdir(join(dir.path, "home"));
    await writeFile(join(dir.path, "srv", "hello.txt"), "hello\n");
    server = await serveFtps({
      root: join(dir.path, "srv"),
      users: { fred: "secret" },
      tls: {
        cert: await readFile(join(FIXTURES, "leaf.pem"), "utf8"),
        key: await readFile(join(FIXTURES, "leaf.key"), "utf8"),
      },
      host: "127.0.0.1",
      port: 0,
    });
  });

  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  /** This process's environment without a password source of its own, HOME the empty one. */
  function environment(extra: Record<string, string> = {}): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && name !== "FTKIT_PASSWORD" && name !== "NETRC") env[name] = value;
    }
    return { ...env, HOME: join(dir.path, "home"), ...extra };
  }

  /** `ftkit ftps ls` as fred on `host`, standard input not a terminal. */
  function list(host: string, env: Record<string, string>) {
    return ftkit([
      "ftps",
      "ls",
      `ftp://${host}:${server.address.port}/`,
      "--tls",
      "--ca",
      ca,
      "--servername",
      "localhost",
      "--user",
      "fred",
    ], env);
  }

  test("FTKIT_PASSWORD, then ~/.netrc (machine and login, or default); none is a usage error", async () => {
    const fromEnv = await list("localhost", environment({ FTKIT_PASSWORD: "secret" }));
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal(fromEnv.stdout, "hello.txt\n");

    const none = await list("localhost", environment());
    assert.equal(none.code, 2, none.stderr);
    assert.equal(
      none.stderr,
      "ftkit: no password for fred@localhost: give --user fred:PASS, set FTKIT_PASSWORD, " +
        "add it to ~/.netrc, or run in a terminal to be asked\nTry 'ftkit ftps ls --help'.\n",
    );

    const netrc = join(dir.path, "home", ".netrc");
    // Removed whatever happens: the tests after this one must find no .netrc.
    try {
      await writeFile(
        netrc,
        [
          "# another machine, and another login on this one, come first",
          "machine example.com login fred password nope",
          "machine localhost login alice password nope",
          "macdef init",
          "machine localhost login fred password nope",
          "",
          'machine localhost login fred password "sec ret"',
          "machine localhost login fred password secret",
          "default login fred password secret",
        ].join("\n"),
      );
      // The first entry for the machine and login wins: "sec ret" is wrong.
      const first = await list("localhost", environment());
      assert.equal(first.code, 67, first.stderr);
      assert.ok(!first.stderr.includes("sec ret"), "the password is never printed");
      await writeFile(netrc, "machine localhost\n  login fred\n  password secret\n");
      const machine = await list("localhost", environment());
      assert.equal(machine.code, 0, machine.stderr);
      assert.equal(machine.stdout, "hello.txt\n");
      // 127.0.0.1 is no machine named there: the default entry answers.
      await writeFile(
        netrc,
        "machine localhost login fred password nope\ndefault login fred password secret\n",
      );
      const fallback = await list("127.0.0.1", environment());
      assert.equal(fallback.code, 0, fallback.stderr);
      // FTKIT_PASSWORD comes first.
      const both = await list("127.0.0.1", environment({ FTKIT_PASSWORD: "wrong" }));
      assert.equal(both.code, 67, both.stderr);
    } finally {
      await rm(netrc, { force: true });
    }
  });

  test(
    "on a terminal: a prompt that does not echo; the terminal restored after Enter and after Ctrl-C",
    { skip: missing("python") },
    async () => {
      const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
      const argv = [
        program,
        ...programArgs,
        "ftps",
        "ls",
        `ftp://localhost:${server.address.port}/`,
        "--tls",
        "--ca",
        ca,
        "--user",
        "fred",
      ];
      const underPty = (answer: string) =>
        new Promise<
          { output: string; code: number; echoWhilePrompting: boolean; echoAfter: boolean }
        >(
          (resolve, reject) => {
            execFile(
              PEER.python,
              ["-c", PTY_RUN, JSON.stringify(argv), answer, JSON.stringify(environment())],
              { timeout: 240_000, killSignal: "SIGKILL" },
              (error, stdout, stderr) => {
                if (error) reject(new Error(`${error.message}\n${stderr}`));
                else resolve(JSON.parse(stdout));
              },
            );
          },
        );
      const typed = await underPty("secret\r");
      assert.equal(typed.code, 0, typed.output);
      assert.match(typed.output, /^Password for fred@localhost: \r?\n/);
      assert.match(typed.output, /hello\.txt/);
      assert.ok(!typed.output.includes("secret"), "not echoed");
      assert.equal(typed.echoWhilePrompting, false);
      assert.equal(typed.echoAfter, true);

      const interrupted = await underPty("sec\x03");
      assert.equal(interrupted.code, 130, interrupted.output);
      assert.match(interrupted.output, /ftkit: Interrupted by SIGINT/);
      assert.ok(!interrupted.output.includes("\x1b"), "no progress line to clear");
      assert.ok(!interrupted.output.includes("sec\r"), "not echoed");
      assert.equal(interrupted.echoWhilePrompting, false);
      assert.equal(interrupted.echoAfter, true);
    },
  );
});
