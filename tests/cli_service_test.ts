// `ftkit ftps serve` run as a service, the real command in a child process of the runtime running
// the tests: on a listening socket passed as file descriptor 3 (systemd socket activation, with
// python3 as the launcher that makes the socket and execs the runtime in the same process, so
// that LISTEN_PID is the runtime's pid), its certificate read again on SIGHUP, and its graceful
// stop on SIGTERM.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { Buffer } from "node:buffer";
import process from "node:process";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { createFtpsCertificate, verifyFtpsPassword } from "../ftps/mod.ts";
import { connectFtps } from "./ftps/_connect.ts";
import { RawFtp, readAll } from "./ftps/_raw_ftp.ts";
import { missing, PEER, tempDir } from "./interop/_peers.ts";
import { projectFile, repoFile, runtimeCommand } from "./_runtime.ts";
import { pattern } from "./tftp/_script.ts";
import { until, within } from "./_wait.ts";

const FIXTURES = repoFile("tests/fixtures/tls");
const ca = await readFile(join(FIXTURES, "ca.pem"), "utf8");

/** Makes a listening TCP socket on 127.0.0.1, prints its port, puts it on fd 3, sets LISTEN_FDS
 * and LISTEN_PID to this process (`FD3` names what else fd 3 may be), and execs the program. */
const LAUNCHER = `
import os, socket, sys
kind = os.environ.pop("FD3", "listening")
if kind == "file":
    fd = os.open("/dev/null", os.O_RDONLY)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print("PORT", s.getsockname()[1], flush=True)
    fd = s.fileno()
if fd != 3:
    os.dup2(fd, 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execve(sys.argv[1], sys.argv[1:], env)
`;

/** The command running in a child process. */
interface Running {
  readonly child: ChildProcess;
  /** Standard output and error so far. */
  readonly out: () => string;
  readonly err: () => string;
  /** Waits (bounded) for a line of standard output or error matching `pattern`. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Sends a signal (to the pid: the runtime itself under the launcher). */
  signal(name: "SIGHUP" | "SIGTERM"): void;
  /** The exit code. */
  readonly exited: Promise<number>;
}

/** Starts `ftkit ARGS`, through the python3 launcher with `systemd`. */
function ftkit(args: string[], options: { systemd?: boolean; env?: Record<string, string> } = {}) {
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  const [command, commandArgs] = options.systemd
    ? [PEER.python, ["-c", LAUNCHER, program, ...programArgs, ...args]]
    : [program, [...programArgs, ...args]];
  const child = spawn(command, commandArgs, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk) => (out += chunk));
  child.stderr!.on("data", (chunk) => (err += chunk));
  // Bounded: a command that never ends is killed (and the test fails on its code).
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const exited = new Promise<number>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
  });
  const running: Running = {
    child,
    out: () => out,
    err: () => err,
    async line(pattern: RegExp) {
      await until(
        () => pattern.test(out) || pattern.test(err) || child.exitCode !== null,
        `a line ${pattern}`,
      );
      const match = out.match(pattern) ?? err.match(pattern);
      assert.ok(match, `no line ${pattern}; the command printed:\n${out}${err}`);
      return match;
    },
    // process.kill, not child.kill: Deno's child_process reports a child it signalled as killed by
    // that signal, whatever exit code the child chose.
    signal: (name) => process.kill(child.pid!, name),
    exited,
  };
  return running;
}

/** The port the Serving line names. */
async function servingPort(running: Running): Promise<number> {
  const [, port] = await running.line(/^Serving .* on 127\.0\.0\.1:(\d+)/m);
  return Number(port);
}

/** Whether a TCP connection to 127.0.0.1:`port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

const skipPython = missing("python");

describe("ftkit ftps serve as a service", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let served: string;
  const big = pattern(24 << 20, 9);
  before(async () => {
    dir = await tempDir("ftkit-service-");
    served = join(dir.path, "srv");
    await import("node:fs/promises").then((fs) => fs.mkdir(served));
    await writeFile(join(served, "hello.txt"), "hello\n");
    await writeFile(join(served, "big.bin"), big);
  });
  after(() => dir.remove());

  const login = (port: number, caPem = ca) =>
    connectFtps({
      host: "127.0.0.1",
      port,
      user: "fred",
      password: "secret",
      ca: caPem,
      servername: "localhost",
    });
  const tlsFlags =
    () => ["--cert", join(FIXTURES, "leaf.pem"), "--key", join(FIXTURES, "leaf.key")];

  test("--systemd serves the listening socket passed as fd 3 (LISTEN_PID, LISTEN_FDS)", {
    skip: skipPython,
  }, async () => {
    const running = ftkit(
      ["ftps", "serve", served, "--systemd", "--user", "fred:secret", ...tlsFlags()],
      { systemd: true },
    );
    const [, given] = await running.line(/^PORT (\d+)$/m);
    const [line, port] = await running.line(
      /^Serving .* on 127\.0\.0\.1:(\d+) \(socket from systemd\)/m,
    );
    assert.equal(port, given, line);
    {
      await using client = await login(Number(port));
      assert.equal(new TextDecoder().decode(await client.get("hello.txt")), "hello\n");
    }
    running.signal("SIGTERM");
    assert.equal(await running.exited, 0, running.err());
  });

  test("--systemd without a socket for this process, or with fd 3 no listening socket: exit 2", {
    skip: skipPython,
  }, async () => {
    const args = ["ftps", "serve", served, "--systemd", "--user", "fred:secret"];
    const alone = ftkit(args);
    assert.equal(await alone.exited, 2);
    assert.match(
      alone.err(),
      /--systemd: no socket from systemd for this process \(LISTEN_PID is not set\)/,
    );
    const other = ftkit(args, { env: { LISTEN_PID: "1", LISTEN_FDS: "1" } });
    assert.equal(await other.exited, 2);
    assert.match(other.err(), /LISTEN_PID is 1, this process is \d+/);
    const file = ftkit(args, { systemd: true, env: { FD3: "file" } });
    assert.equal(await file.exited, 2);
    assert.match(file.err(), /--systemd: file descriptor 3 is not a listening TCP socket/);
    const both = ftkit([...args, "--port", "21"], { systemd: true });
    assert.equal(await both.exited, 2);
    assert.match(both.err(), /give no --host or --port/);
  });

  test("SIGHUP reads the certificate again: sessions from before keep working, new ones see the new one; a bad file keeps the old", async () => {
    const certFile = join(dir.path, "cert.pem");
    const keyFile = join(dir.path, "key.pem");
    await copyFile(join(FIXTURES, "leaf.pem"), certFile);
    await copyFile(join(FIXTURES, "leaf.key"), keyFile);
    const running = ftkit([
      "ftps",
      "serve",
      served,
      "--port",
      "0",
      "--user",
      "fred:secret",
      "--cert",
      certFile,
      "--key",
      keyFile,
      "--require-resumption",
      "--quiet",
    ]);
    try {
      const port = await servingPort(running);
      await using before = await login(port);
      const renewed = await createFtpsCertificate();
      await writeFile(certFile, renewed.certPem);
      await writeFile(keyFile, renewed.keyPem);
      running.signal("SIGHUP");
      const [reloaded] = await running.line(/^Certificate reloaded from .*$/m);
      assert.ok(reloaded.includes(renewed.fingerprint), reloaded);
      // The session from before: its data connections still resume its TLS session.
      assert.deepEqual((await before.list()).map((entry) => entry.name).sort(), [
        "big.bin",
        "hello.txt",
      ]);
      assert.equal(new TextDecoder().decode(await before.get("hello.txt")), "hello\n");
      const fingerprint = async () => {
        const raw = await RawFtp.connect(port, { ca: renewed.caPem });
        await raw.reply();
        await raw.authTls();
        const seen = raw.peerFingerprint;
        raw.close();
        return seen;
      };
      assert.equal(await fingerprint(), renewed.fingerprint);
      {
        await using after = await login(port, renewed.caPem);
        assert.equal(new TextDecoder().decode(await after.get("hello.txt")), "hello\n");
      }
      // A certificate file that is no certificate: said on standard error, the old one stays.
      await writeFile(certFile, "not a certificate\n");
      running.signal("SIGHUP");
      await running.line(/^ftkit: certificate not reloaded, the old one stays: .*$/m);
      assert.equal(await fingerprint(), renewed.fingerprint);
    } finally {
      running.signal("SIGTERM");
      assert.equal(await running.exited, 0, running.err());
    }
  });

  test("SIGTERM: a download running completes byte for byte, idle sessions get 421, new connections are refused, exit 0", async () => {
    const running = ftkit([
      "ftps",
      "serve",
      served,
      "--port",
      "0",
      "--user",
      "fred:secret",
      ...tlsFlags(),
      "--shutdown-grace",
      "120",
      "--quiet",
    ]);
    let data: TLSSocket | undefined;
    try {
      const port = await servingPort(running);
      const downloader = await RawFtp.connect(port, { ca });
      await downloader.reply();
      await downloader.authTls();
      assert.equal((await downloader.login("fred", "secret")).code, 230);
      for (const line of ["PBSZ 0", "PROT P", "TYPE I"]) {
        assert.equal(Math.floor((await downloader.command(line)).code / 100), 2, line);
      }
      const idle = await RawFtp.connect(port, { ca });
      await idle.reply();
      await idle.authTls();
      assert.equal((await idle.login("fred", "secret")).code, 230);
      const dataPort = await downloader.epsv();
      downloader.send("RETR big.bin");
      const socket = tlsConnect({ host: "127.0.0.1", port: dataPort, ca, servername: "localhost" });
      data = socket;
      socket.on("error", () => {});
      await within(
        new Promise((resolve) => socket.once("secureConnect", resolve)),
        "the data connection's TLS",
      );
      assert.equal((await downloader.reply()).code, 150);
      // 24 MiB, unread: the server cannot have sent it all when SIGTERM comes.
      running.signal("SIGTERM");
      assert.equal((await idle.reply()).text, "421 Server shutting down: closing the connection.");
      await idle.closed();
      await until(() => refused(port), "new connections to be refused");
      assert.equal(running.child.exitCode, null, "still running: the download is not done");
      const bytes = await readAll(socket, 60_000);
      assert.equal(bytes.length, big.length);
      assert.equal(Buffer.compare(Buffer.from(bytes), Buffer.from(big)), 0);
      assert.equal((await downloader.reply()).code, 226);
      assert.equal(
        (await downloader.reply()).text,
        "421 Server shutting down: closing the connection.",
      );
      await downloader.closed();
      assert.equal(await running.exited, 0, running.err());
      assert.match(
        running.out(),
        /^Stopping: no new connections; idle sessions closed, transfers given up to 120 s$/m,
      );
    } finally {
      data?.destroy();
      if (running.child.exitCode === null) running.signal("SIGTERM");
      await running.exited;
    }
  });
});

/** Runs a command under a pseudo-terminal, answers each prompt in turn (once it shows), and
 * prints as JSON what the terminal showed and the exit code. */
const PTY_PROMPTS = `
import json, os, pty, select, sys
argv, answers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen = bytearray()
def more():
    if not select.select([fd], [], [], 120)[0]:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:  # EIO: the command ended
        return False
    seen.extend(chunk)
    return len(chunk) > 0
for prompt, answer in answers:
    while prompt.encode() not in seen and more():
        pass
    os.write(fd, answer.encode())
while more():
    pass
status = os.waitpid(pid, 0)[1]
print(json.dumps({"output": seen.decode(errors="replace"), "code": os.waitstatus_to_exitcode(status)}))
`;

describe("ftkit ftps passwd", () => {
  /** Runs `ftkit ftps passwd ARGS` with standard input `input` and the environment `env`. */
  async function passwd(args: string[], input: string | undefined, env: Record<string, string>) {
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && name !== "FTKIT_PASSWORD") environment[name] = value;
    }
    const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
    const child = spawn(program, [...programArgs, "ftps", "passwd", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...environment, ...env },
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (chunk) => (out += chunk));
    child.stderr!.on("data", (chunk) => (err += chunk));
    child.stdin!.end(input ?? "");
    const code = await within(
      new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1))),
      "ftkit ftps passwd",
      120_000,
    );
    return { code, out, err };
  }

  test("a hash of the password on standard input, FTKIT_PASSWORD, or --algorithm's", async () => {
    const piped = await passwd([], "secret\n", {});
    assert.equal(piped.code, 0, piped.err);
    const [hash] = piped.out.split("\n");
    assert.match(hash, /^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.equal(await verifyFtpsPassword("secret", hash), true, "the line end is no part of it");
    const fromEnv = await passwd(["--algorithm", "pbkdf2-sha256"], undefined, {
      FTKIT_PASSWORD: "other",
    });
    assert.equal(fromEnv.code, 0, fromEnv.err);
    assert.match(fromEnv.out, /^\$pbkdf2-sha256\$i=600000\$/);
    assert.equal(await verifyFtpsPassword("other", fromEnv.out.trim()), true);
    assert.equal(await verifyFtpsPassword("secret", fromEnv.out.trim()), false);
  });

  test("two lines, none, or an unknown algorithm: exit 2", async () => {
    for (
      const [args, input, message] of [
        [[], "a\nb\n", /one line on standard input: the password/],
        [[], "", /no password given/],
        [["--algorithm", "md5"], "x\n", /--algorithm takes scrypt or pbkdf2-sha256, not 'md5'/],
      ] as const
    ) {
      const result = await passwd([...args], input, {});
      assert.equal(result.code, 2, result.err);
      assert.match(result.err, message);
      assert.equal(result.out, "");
    }
  });

  test("on a terminal: asked twice, nothing echoed; two that differ are refused", {
    skip: skipPython,
  }, async () => {
    const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
    const argv = [program, ...programArgs, "ftps", "passwd"];
    const withoutPassword = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => name !== "FTKIT_PASSWORD"),
    );
    const run = async (second: string) => {
      const child = spawn(PEER.python, [
        "-c",
        PTY_PROMPTS,
        JSON.stringify(argv),
        JSON.stringify([["Password: ", "s3cret\r"], ["Again: ", second]]),
      ], { stdio: ["ignore", "pipe", "inherit"], env: withoutPassword });
      let out = "";
      child.stdout!.on("data", (chunk) => (out += chunk));
      await within(
        new Promise((resolve) => child.on("close", resolve)),
        "the terminal run",
        120_000,
      );
      return JSON.parse(out) as { output: string; code: number };
    };
    const same = await run("s3cret\r");
    assert.equal(same.code, 0, same.output);
    assert.doesNotMatch(same.output, /s3cret/, "not echoed");
    const hash = same.output.match(/\$scrypt\$\S+/)?.[0];
    assert.ok(hash, same.output);
    assert.equal(await verifyFtpsPassword("s3cret", hash), true);
    const other = await run("secret\r");
    assert.equal(other.code, 2, other.output);
    assert.match(other.output, /the passwords do not match/);
  });
});
