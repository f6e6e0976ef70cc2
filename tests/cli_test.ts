import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import process from "node:process";
import { readFileSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { runCli, VERSION } from "../cli.ts";
import { commandDoc, commandHelp, commandReference, COMMANDS, withReference } from "../cli/help.ts";
import type { TftpTransferRecord } from "../tftp/mod.ts";
import { tftpApi } from "./_tftp_api.ts";
import { freePort, tempDir } from "./interop/_peers.ts";
import { projectFile, repoFile, runtime, runtimeCommand } from "./_runtime.ts";
import { humanBytes, humanDuration, progressLine } from "../cli/output.ts";
import { serveCli, type ServingCli } from "./_cli_serve.ts";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `ftkit` command in a child process of the current runtime. */
function ftkit(...args: string[]): Promise<Outcome> {
  return run(runtimeCommand(projectFile("cli.ts")), args);
}

/** Runs `command` with `args` more, bounded by `timeout` ms (then killed: a non-zero code). */
function run(
  [program, programArgs]: [string, string[]],
  args: string[],
  env: Record<string, string> = {},
  timeout = 120_000,
): Promise<Outcome> {
  return new Promise((resolve) => {
    // Bounded generously: a loaded machine starts a runtime slowly.
    const options = { timeout, killSignal: "SIGKILL" as const, env: { ...process.env, ...env } };
    execFile(program, [...programArgs, ...args], options, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts the real `ftkit` command; `signal` sends it a signal while it runs. */
function ftkitRunning(...args: string[]): {
  signal(name: "SIGINT" | "SIGTERM"): void;
  done: Promise<Outcome & { signal: string | null }>;
} {
  return ftkitRunningWith({}, args);
}

/** {@linkcode ftkitRunning} with `env` added to the environment. */
function ftkitRunningWith(env: Record<string, string>, args: string[]): {
  signal(name: "SIGINT" | "SIGTERM"): void;
  done: Promise<Outcome & { signal: string | null }>;
} {
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  const child = spawn(program, [...programArgs, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  // Bounded: a command that never ends is killed after 60 s (and the test fails on its code).
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const done = new Promise<Outcome & { signal: string | null }>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
  });
  // process.kill, not child.kill: Deno's child_process reports a child it signalled as killed by
  // that signal, whatever exit code the child chose.
  return { signal: (name) => process.kill(child.pid!, name), done };
}

/** Waits until `ready()` holds, checking every 20 ms for at most 20 s. */
async function until(ready: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(await ready(), `waited 20 s for ${what}`);
}

describe("ftkit command", () => {
  test("tftp decode prints a request as JSON", async () => {
    const hex = "00016669726d776172652e62696e006f6374657400626c6b73697a65003134363800";
    const { code, stdout, stderr } = await ftkit("tftp", "decode", hex);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), {
      type: "rrq",
      filename: "firmware.bin",
      mode: "octet",
      options: { blksize: 1468 },
    });
  });

  test("tftp encode prints the datagram in hex", async () => {
    const { code, stdout } = await ftkit(
      "tftp",
      "encode",
      '{"type":"error","code":1,"message":"x"}',
    );
    assert.equal(code, 0);
    assert.equal(stdout, "0005000178" + "00\n");
  });

  test("a malformed datagram is one clear line and exit code 1", async () => {
    const { code, stdout, stderr } = await ftkit("tftp", "decode", "0004000100");
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.equal(stderr, "ftkit: 1 byte follows the ACK (ACK, byte 4)\n");
  });

  test("an unknown command is two lines, with what was meant, and exits 2", async () => {
    const { code, stdout, stderr } = await ftkit("tftp", "frobnicate", "s3cret-token");
    assert.equal(code, 2);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      "ftkit: unknown command 'frobnicate' for 'tftp'\nTry 'ftkit tftp --help'.\n",
    );
    const typo = await ftkit("tfpt", "get");
    assert.equal(typo.code, 2);
    assert.equal(
      typo.stderr,
      "ftkit: unknown command 'tfpt'; did you mean 'tftp'?\nTry 'ftkit --help'.\n",
    );
  });

  test("--help and -h: the command's own help on standard output, exit 0", async () => {
    const help = await ftkit("tftp", "get", "--help");
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stderr, "");
    assert.equal(help.stdout, commandHelp(commandDoc("tftp get")) + "\n");
    const short = await ftkit("ftps", "serve", "-h");
    assert.equal(short.code, 0, short.stderr);
    assert.equal(short.stdout, commandHelp(commandDoc("ftps serve")) + "\n");
  });

  test("--version matches deno.json", async () => {
    const lines: string[] = [];
    assert.equal(
      await runCli(["--version"], { out: (l) => lines.push(l), err: (l) => lines.push(l) }),
      0,
    );
    assert.deepEqual(lines, [VERSION]);
    const denoJson = JSON.parse(readFileSync(repoFile("deno.json"), "utf8"));
    assert.equal(VERSION, denoJson.version);
  });

  test("data payloads round-trip through encode and decode as hex", async () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => assert.fail(l) };
    assert.equal(
      await runCli(["tftp", "encode", '{"type":"data","block":2,"data":"0d0a"}'], io),
      0,
    );
    assert.equal(out[0], "000300020d0a");
    assert.equal(await runCli(["tftp", "decode", out[0]], io), 0);
    assert.deepEqual(JSON.parse(out[1]), { type: "data", block: 2, data: "0d0a" });
  });
});

describe("ftkit tftp serve, get and put", () => {
  test("serves a directory; get and put through the real command", async () => {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "ftkit-cli-"));
    let server: ServingCli | undefined;
    try {
      await writeFile(join(dir, "boot.img"), new Uint8Array(100_000).fill(7));
      server = await serveCli(
        ["udp"],
        ([free]) => [
          "tftp",
          "serve",
          dir,
          "--host",
          "127.0.0.1",
          "--port",
          String(free),
          "--allow-write",
        ],
        /^Fetch a file with: /,
      );
      const { lines, ports: [port] } = server;
      assert.match(
        lines[0],
        new RegExp(`^Serving .* over TFTP on 127\\.0\\.0\\.1:${port} \\(writes allowed\\)$`),
      );
      const local = join(dir, "copy.img");
      const got = await ftkit(
        "tftp",
        "get",
        `127.0.0.1:${port}`,
        "boot.img",
        local,
        "--blksize",
        "1468",
      );
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stderr, /^Received 100000 bytes in/m);
      assert.deepEqual(await readFile(local), await readFile(join(dir, "boot.img")));
      const put = await ftkit(
        "tftp",
        "put",
        `127.0.0.1:${port}`,
        local,
        "uploaded.img",
        "--windowsize",
        "4",
      );
      assert.equal(put.code, 0, put.stderr);
      assert.deepEqual(await readFile(join(dir, "uploaded.img")), await readFile(local));
      const again = await ftkit("tftp", "put", `127.0.0.1:${port}`, local, "uploaded.img");
      assert.equal(again.code, 1);
      assert.equal(again.stderr, "ftkit: File already exists\n", "one clear line");
      const missing = await ftkit(
        "tftp",
        "get",
        `127.0.0.1:${port}`,
        "missing.img",
        join(dir, "m"),
      );
      assert.equal(missing.stderr, "ftkit: File not found\n");
      assert.deepEqual(
        (await readdir(dir)).filter((name) => name === "m" || name.endsWith(".part")),
        [],
        "a failed get leaves no file",
      );
      // The server logs a read once the client's last ACK is in, which may come after the
      // client has exited: wait for the line (bounded) before stopping the server.
      await server.line(/read boot\.img: 100000 bytes/).catch(() => {});
      const stopping = server;
      server = undefined;
      await stopping.stop();
      assert.ok(lines.some((l) => /read boot\.img: 100000 bytes/.test(l)), lines.join("\n"));
    } finally {
      await server?.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("usage errors exit 2", async () => {
    const bad = await ftkit("tftp", "get", "127.0.0.1");
    assert.equal(bad.code, 2);
    const option = await ftkit("tftp", "get", "127.0.0.1", "x", "--blksize", "big");
    assert.equal(option.code, 2);
    assert.equal(
      option.stderr,
      "ftkit: --blksize takes an integer from 8 to 65464, not 'big'\n" +
        "Try 'ftkit tftp get --help'.\n",
    );
  });
});

describe("ftkit tftp get keeps the user's file", () => {
  const precious = "precious\n";

  test("a missing remote file and a server that never answers leave LOCAL as it was", async () => {
    const api = await tftpApi();
    const dir = await tempDir("ftkit-cli-keep-");
    try {
      const local = join(dir.path, "keep.txt");
      await writeFile(local, precious);
      await using server = await api.serveTftp({ root: dir.path, host: "127.0.0.1", port: 0 });
      const missing = await ftkit(
        "tftp",
        "get",
        `127.0.0.1:${server.address.port}`,
        "nope.bin",
        local,
      );
      assert.equal(missing.code, 78, "remote file not found");
      assert.equal(missing.stderr, "ftkit: File not found\n");
      assert.equal(await readFile(local, "utf8"), precious);
      // Nothing listens on a port just found free: no reply ever comes.
      const silent = await freePort();
      const unreachable = await ftkit(
        "tftp",
        "get",
        `127.0.0.1:${silent}`,
        "x.bin",
        local,
        "--retries",
        "0",
      );
      assert.equal(unreachable.code, 28, "timeout");
      assert.equal(
        unreachable.stderr,
        "ftkit: No reply from the server after 1 tries\n" +
          `hint: no TFTP server answered at 127.0.0.1:${silent}: check the host and port, ` +
          "and that no firewall drops UDP\n",
      );
      assert.equal(await readFile(local, "utf8"), precious);
      assert.deepEqual(await readdir(dir.path), ["keep.txt"], "no temporary file left");
    } finally {
      await dir.remove();
    }
  });

  for (const [name, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    test(`${name} mid-transfer: ERROR 0 to the server, LOCAL as it was, exit ${code}`, async () => {
      const api = await tftpApi();
      const dir = await tempDir("ftkit-cli-signal-");
      const records: TftpTransferRecord[] = [];
      let blocks = 0;
      try {
        const local = join(dir.path, "keep.bin");
        await writeFile(local, precious);
        await using server = await api.serveTftp({
          host: "127.0.0.1",
          port: 0,
          onTransfer: (record) => records.push(record),
          // A file that never ends, served a block at a time.
          handler: {
            read: () =>
              Promise.resolve({
                read: () => {
                  blocks++;
                  return new Promise<Uint8Array>((resolve) =>
                    setTimeout(() => resolve(new Uint8Array(512).fill(7)), 1)
                  );
                },
                close: () => Promise.resolve(),
              }),
          },
        });
        const command = ftkitRunning("tftp", "get", `127.0.0.1:${server.address.port}`, "x", local);
        // Mid-transfer: blocks are flowing and the command writes them aside.
        await until(async () => {
          const names = await readdir(dir.path);
          return blocks > 20 && names.some((n) => n.endsWith(".part"));
        }, "the download to be under way");
        command.signal(name);
        const outcome = await command.done;
        assert.equal(outcome.code, code, `${outcome.signal} ${outcome.stderr}`);
        assert.equal(outcome.stderr, `ftkit: Interrupted by ${name}: transfer cancelled\n`);
        assert.equal(await readFile(local, "utf8"), precious);
        assert.deepEqual(await readdir(dir.path), ["keep.bin"], "no temporary file left");
        await until(() => records.length === 1, "the server's record");
        assert.deepEqual(records[0].error, { code: 0, message: "Transfer cancelled" });
      } finally {
        await dir.remove();
      }
    });
  }
});

/** Runs the command in-process; what it wrote to standard output and error, and its code. */
async function inProcess(
  ...args: string[]
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

describe("ftkit help", () => {
  test("every command and group: --help, -h and ftkit help TOPIC print the same text, exit 0", async () => {
    for (const doc of COMMANDS) {
      const words = doc.name.split(" ");
      const expected = commandHelp(doc);
      for (const args of [[...words, "--help"], [...words, "-h"], ["help", ...words]]) {
        const { code, out, err } = await inProcess(...args);
        assert.equal(code, 0, args.join(" "));
        assert.deepEqual(err, [], args.join(" "));
        assert.deepEqual(out, [expected], args.join(" "));
      }
      // Help wins over anything else on the line, even a bad value.
      assert.equal((await inProcess(...words, "--port", "x", "--help")).code, 0);
      assert.match(expected, new RegExp(`^Usage: ftkit ${doc.name} `, "m"));
      for (const option of doc.options) assert.ok(expected.includes(`--${option.name}`));
      // Short: its own options and 1-3 examples, on loopback.
      assert.ok(doc.examples.length >= 1 && doc.examples.length <= 3, doc.name);
      for (const example of doc.examples) {
        assert.match(example, new RegExp(`^ftkit ${doc.name}\\b`));
        assert.doesNotMatch(example, /\b(?!127\.0\.0\.1)\d+\.\d+\.\d+\.\d+\b/, example);
      }
      // A server's help lists every flag of a service's settings (the FTPS server's are many,
      // as vsftpd's and ProFTPD's directives are): a line each, and still one screen.
      const lines = doc.name === "ftps serve" ? 70 : 45;
      assert.ok(expected.split("\n").length < lines, `${doc.name}: short`);
    }
    for (const group of ["tftp", "ftps"]) {
      for (const args of [[group, "--help"], [group, "-h"], ["help", group]]) {
        const { code, out } = await inProcess(...args);
        assert.equal(code, 0, args.join(" "));
        assert.match(out[0], new RegExp(`^ftkit ${group}: `));
        assert.match(out[0], /\n {2}get +download a file/);
      }
    }
    const top = await inProcess("--help");
    assert.equal(top.code, 0);
    assert.deepEqual((await inProcess("help")).out, top.out);
    assert.deepEqual((await inProcess("-h")).out, top.out);
    for (const doc of COMMANDS) assert.ok(top.out[0].includes(`  ${doc.name} `), doc.name);
    const codes = await inProcess("help", "exit-codes");
    assert.equal(codes.code, 0);
    for (const code of [0, 1, 2, 6, 7, 23, 26, 28, 35, 60, 67, 78, 130, 143]) {
      assert.match(codes.out[0], new RegExp(`^ {2}${code} +\\S`, "m"), String(code));
    }
  });

  test("help lines fit 100 columns", () => {
    const texts = [...COMMANDS.map(commandHelp), commandReference()];
    for (const line of texts.join("\n").split("\n")) assert.ok(line.length <= 100, line);
  });

  test("ftkit, ftkit tftp and ftkit ftps alone: their commands listed, a pointer, exit 2", async () => {
    const none = await inProcess();
    assert.equal(none.code, 2);
    assert.deepEqual(none.out, []);
    assert.equal(none.err[0], "ftkit: missing command; the commands are:");
    assert.equal(none.err.at(-1), "Try 'ftkit --help'.");
    assert.ok(none.err.some((line) => /^ {2}ftps get +download/.test(line)));
    for (const group of ["tftp", "ftps"]) {
      const { code, err } = await inProcess(group);
      assert.equal(code, 2);
      assert.equal(err[0], `ftkit: '${group}' needs a command:`);
      assert.ok(err.some((line) => /^ {2}serve +serve a directory/.test(line)), err.join("\n"));
      assert.equal(err.at(-1), `Try 'ftkit ${group} --help'.`);
    }
  });

  test("usage errors: one line and a pointer to the command's help; what was meant", async () => {
    for (
      const [args, line, pointer] of [
        [["tftp", "gett", "x"], "unknown command 'gett' for 'tftp'; did you mean 'get'?", "tftp"],
        [["get", "x"], "unknown command 'get'; did you mean 'tftp get' or 'ftps get'?", ""],
        [
          ["ftps", "serve", "--prot", "21"],
          "unknown option '--prot' for 'ftps serve'; did you mean '--port'?",
          "ftps serve",
        ],
        [
          ["ftps", "ls", "ftp://127.0.0.1/", "--lnog"],
          "unknown option '--lnog' for 'ftps ls'; did you mean '--long'?",
          "ftps ls",
        ],
        [
          ["tftp", "serve", "--max-w"],
          "unknown option '--max-w' for 'tftp serve'; did you mean '--max-windowsize' or '--max-write-size'?",
          "tftp serve",
        ],
        [["tftp", "decode", "00", "-x"], "unknown option '-x' for 'tftp decode'", "tftp decode"],
        [["--verison"], "unknown option '--verison'; did you mean '--version'?", ""],
        [["help", "tftp", "gett"], "no help on 'tftp gett'; did you mean 'tftp get'?", ""],
        [["tftp", "serve", "--port"], "option '--port' needs a value (N)", "tftp serve"],
        [["tftp", "serve", "--quiet=yes"], "option '--quiet' takes no value", "tftp serve"],
        [
          ["tftp", "serve", "--port", "1", "--port", "2"],
          "option '--port' given twice",
          "tftp serve",
        ],
      ] as const
    ) {
      const { code, out, err } = await inProcess(...args);
      assert.equal(code, 2, args.join(" "));
      assert.deepEqual(out, []);
      assert.deepEqual(err, [
        `ftkit: ${line}`,
        `Try 'ftkit ${pointer ? `${pointer} ` : ""}--help'.`,
      ]);
    }
    // The line names the word at fault, never the whole command line.
    const { err } = await inProcess("ftps", "get", "ftp://fred:s3cret@127.0.0.1/x", "--bogus");
    assert.ok(!err.join("\n").includes("s3cret"), err.join("\n"));
  });

  test("the README's command reference is the help table's", async () => {
    const readme = await readFile(repoFile("README.md"), "utf8");
    assert.ok(readme.includes(commandReference()), "run: deno run -A scripts/cli_reference.ts");
    assert.equal(withReference(readme), readme, "run: deno run -A scripts/cli_reference.ts");
  });
});

describe("ftkit checks ports, counts, sizes and directories (exit 2)", () => {
  test("ports are integers from 0 to 65535, named in the message", async () => {
    for (
      const [args, line] of [
        [
          ["tftp", "serve", "--port", "70000"],
          "--port takes an integer from 0 to 65535, not '70000'",
        ],
        [["tftp", "serve", "--port", "-1"], "--port takes an integer from 0 to 65535, not '-1'"],
        [["tftp", "serve", "--port", "x"], "--port takes an integer from 0 to 65535, not 'x'"],
        [["tftp", "serve", "--port=1.5"], "--port takes an integer from 0 to 65535, not '1.5'"],
        [
          ["ftps", "serve", "--port", "70000"],
          "--port takes an integer from 0 to 65535, not '70000'",
        ],
        [
          ["serve", "--tftp-port", "65536"],
          "--tftp-port takes an integer from 0 to 65535, not '65536'",
        ],
        [["serve", "--ftps-port", "-5"], "--ftps-port takes an integer from 0 to 65535, not '-5'"],
        [
          ["tftp", "get", "127.0.0.1:70000", "x"],
          "the port in '127.0.0.1:70000' takes an integer from 1 to 65535, not '70000'",
        ],
        [
          ["tftp", "put", "[::1]:0", "x"],
          "the port in '[::1]:0' takes an integer from 1 to 65535, not '0'",
        ],
        [
          ["ftps", "serve", "--passive-ports", "5000-4000"],
          "--passive-ports takes LOW-HIGH, two ports from 1 to 65535 with LOW <= HIGH, not '5000-4000'",
        ],
        [
          ["ftps", "serve", "--passive-ports", "1-70000"],
          "--passive-ports takes LOW-HIGH, two ports from 1 to 65535 with LOW <= HIGH, not '1-70000'",
        ],
        [
          ["ftps", "serve", "--passive-ports", "50000"],
          "--passive-ports takes LOW-HIGH, two ports from 1 to 65535 with LOW <= HIGH, not '50000'",
        ],
      ] as const
    ) {
      const { code, err } = await inProcess(...args);
      assert.equal(code, 2, args.join(" "));
      assert.equal(err[0], `ftkit: ${line}`);
      assert.equal(err.length, 2);
    }
  });

  test("sizes and counts are positive integers within their range", async () => {
    for (
      const [args, line] of [
        [
          ["tftp", "get", "127.0.0.1", "x", "--blksize", "4"],
          "--blksize takes an integer from 8 to 65464, not '4'",
        ],
        [
          ["tftp", "get", "127.0.0.1", "x", "--windowsize", "0"],
          "--windowsize takes an integer from 1 to 65535, not '0'",
        ],
        [
          ["tftp", "put", "127.0.0.1", "x", "--timeout", "256"],
          "--timeout takes an integer from 1 to 255, not '256'",
        ],
        [
          ["tftp", "put", "127.0.0.1", "x", "--retries", "-1"],
          "--retries takes a whole number (0 or more), not '-1'",
        ],
        [
          ["tftp", "serve", "--max-transfers", "0"],
          "--max-transfers takes a positive integer or \"unlimited\", not '0'",
        ],
        [
          ["tftp", "serve", "--request-burst", "many"],
          "--request-burst takes a positive integer, not 'many'",
        ],
        [
          ["tftp", "serve", "--max-blksize", "70000"],
          "--max-blksize takes an integer from 8 to 65464, not '70000'",
        ],
        [
          ["ftps", "serve", "--max-sessions", "0"],
          "--max-sessions takes a positive integer, not '0'",
        ],
        [
          ["ftps", "serve", "--idle-timeout", "1e3"],
          "--idle-timeout takes a positive integer, not '1e3'",
        ],
        [
          ["ftps", "ls", "ftp://127.0.0.1/", "--timeout", "0"],
          "--timeout takes a positive integer, not '0'",
        ],
        [["ftps", "serve", "--user", "fred"], "--user takes NAME:PASS, not 'fred'"],
        [
          ["serve", "--max-sessions-per-ip", "0"],
          "--max-sessions-per-ip takes a positive integer, not '0'",
        ],
        [
          ["ftps", "serve", "--max-sessions-per-user", "0"],
          "--max-sessions-per-user takes a positive integer, not '0'",
        ],
        [
          ["ftps", "serve", "--upload-rate", "512"],
          "--upload-rate takes bytes per second, at least 1024 (K, M, G: 1024-based), not '512'",
        ],
        [
          ["ftps", "serve", "--allow", "10.0.0.0/33"],
          '--allow takes IP networks (such as 10.0.0.0/8): Not an IP network: "10.0.0.0/33" (the prefix length is 0-32 for IPv4)',
        ],
        [
          ["ftps", "serve", "--quota-bytes", "10X"],
          "--quota-bytes takes a size in bytes (K, M, G, T: 1024-based), not '10X'",
        ],
        [
          ["ftps", "serve", "--quota-files", "-1"],
          "--quota-files takes a whole number (0 or more), not '-1'",
        ],
        [
          ["ftps", "serve", "--user-download-rate", "1X"],
          "--user-download-rate takes bytes per second, at least 1024 (K, M, G: 1024-based), not '1X'",
        ],
      ] as const
    ) {
      const { code, err } = await inProcess(...args);
      assert.equal(code, 2, args.join(" "));
      assert.equal(err[0], `ftkit: ${line}`);
    }
  });

  test("ftps serve: passive hosts and trusted proxies are checked, named in the message", async () => {
    for (
      const [args, line] of [
        [
          ["--passive-host", "bad_name"],
          "--passive-host takes HOST or CIDR=HOST (HOST an IPv4 address or a host name), not 'bad_name'",
        ],
        [
          ["--passive-host", "2001:db8::1"],
          "--passive-host takes HOST or CIDR=HOST (HOST an IPv4 address or a host name), not '2001:db8::1'",
        ],
        [
          ["--passive-host", "="],
          `--passive-host '=': Not an IP network: "" (give ADDRESS/PREFIX or ADDRESS)`,
        ],
        [
          ["--passive-host", "10.0.0.1/8=192.0.2.1"],
          "--passive-host '10.0.0.1/8=192.0.2.1': Not an IP network: \"10.0.0.1/8\" has bits set past its /8 prefix (the network is 10.0.0.0/8)",
        ],
        [
          ["--proxy-protocol", "127.0.0.1", "--proxy-protocol", "haproxy"],
          '--proxy-protocol takes IP networks (such as 10.0.0.0/8): Not an IP network: "haproxy" (give ADDRESS/PREFIX or ADDRESS)',
        ],
        [["--data-through-proxy"], "--data-through-proxy goes with --proxy-protocol"],
      ] as const
    ) {
      const { code, err } = await inProcess("ftps", "serve", ...args);
      assert.equal(code, 2, args.join(" "));
      assert.equal(err[0], `ftkit: ${line}`);
    }
  });

  test("a server's directory must exist and be a directory", async () => {
    const dir = await tempDir("ftkit-cli-dir-");
    try {
      const file = join(dir.path, "file.txt");
      await writeFile(file, "x");
      const missing = join(dir.path, "missing");
      for (const command of [["tftp", "serve"], ["ftps", "serve"], ["serve"]]) {
        const absent = await inProcess(...command, missing);
        assert.equal(absent.code, 2, command.join(" "));
        assert.equal(absent.err[0], `ftkit: no such directory: '${missing}'`);
        const notDir = await inProcess(...command, file);
        assert.equal(notDir.code, 2, command.join(" "));
        assert.equal(notDir.err[0], `ftkit: not a directory: '${file}'`);
      }
    } finally {
      await dir.remove();
    }
  });
});

describe("ftkit tftp: exit codes by failure class", () => {
  test("cannot resolve (6), cannot write LOCAL (23), cannot read LOCAL (26), port in use (1, a hint)", async () => {
    const api = await tftpApi();
    const dir = await tempDir("ftkit-cli-codes-");
    try {
      await writeFile(join(dir.path, "boot.img"), "boot");
      await using server = await api.serveTftp({ root: dir.path, host: "127.0.0.1", port: 0 });
      const at = `127.0.0.1:${server.address.port}`;
      const unknown = await inProcess("tftp", "get", "host.invalid", "x", join(dir.path, "x"));
      assert.equal(unknown.code, 6, unknown.err.join("\n"));
      assert.equal(unknown.err.length, 1);
      const nowhere = join(dir.path, "no-such-dir", "boot.img");
      const write = await inProcess("tftp", "get", at, "boot.img", nowhere);
      assert.equal(write.code, 23, write.err.join("\n"));
      assert.deepEqual(write.err, [
        `ftkit: cannot write '${nowhere}': no such file or directory (ENOENT)`,
      ]);
      const absent = join(dir.path, "absent.img");
      const read = await inProcess("tftp", "put", at, absent);
      assert.equal(read.code, 26, read.err.join("\n"));
      assert.deepEqual(read.err, [
        `ftkit: cannot read '${absent}': no such file or directory (ENOENT)`,
      ]);
      const taken = await inProcess(
        "tftp",
        "serve",
        dir.path,
        "--port",
        String(server.address.port),
      );
      assert.equal(taken.code, 1, taken.err.join("\n"));
      assert.equal(taken.err.length, 2, taken.err.join("\n"));
      assert.match(taken.err[0], /EADDRINUSE|in use/i);
      assert.equal(
        taken.err[1],
        "hint: another program listens on that port: choose another with --port",
      );
    } finally {
      await dir.remove();
    }
  });
});

describe("ftkit: progress, temporary files, and ending when the work is done", () => {
  test("progress in human units, with rate and ETA when the size is known", () => {
    assert.equal(humanBytes(0), "0 B");
    assert.equal(humanBytes(1023), "1023 B");
    assert.equal(humanBytes(1536), "1.5 KiB");
    assert.equal(humanBytes(3 * 1024 * 1024 + 17), "3.0 MiB");
    assert.equal(humanBytes(5 * 1024 ** 3), "5.00 GiB");
    assert.equal(humanDuration(7), "0:07");
    assert.equal(humanDuration(754), "12:34");
    assert.equal(humanDuration(3723), "1:02:03");
    assert.equal(
      progressLine({ bytes: 1024 * 1024, total: 4 * 1024 * 1024 }, 2),
      `[${"#".repeat(6)}${" ".repeat(18)}]  25% 1.0 MiB of 4.0 MiB  512.0 KiB/s  ETA 0:06`,
    );
    assert.equal(
      progressLine({ bytes: 4096, total: 4096 }, 1),
      `[${"#".repeat(24)}] 100% 4.0 KiB of 4.0 KiB  4.0 KiB/s`,
    );
    assert.equal(progressLine({ bytes: 3 * 1024 * 1024 }, 2), "3.0 MiB  1.5 MiB/s");
  });

  test("tftp get and put draw progress where there is a terminal; --quiet silences it", async () => {
    const api = await tftpApi();
    const dir = await tempDir("ftkit-cli-progress-");
    try {
      await writeFile(join(dir.path, "boot.img"), new Uint8Array(300_000).fill(3));
      await using server = await api.serveTftp({ root: dir.path, host: "127.0.0.1", port: 0 });
      const at = `127.0.0.1:${server.address.port}`;
      const drawn: string[] = [];
      const err: string[] = [];
      const io = {
        out: () => {},
        err: (l: string) => err.push(l),
        progress: (l: string) => drawn.push(l),
      };
      const local = join(dir.path, "copy.img");
      assert.equal(await runCli(["tftp", "get", at, "boot.img", local], io), 0, err.join("\n"));
      assert.match(
        drawn.at(-2) ?? "",
        /^\[#{24}\] 100% 293\.0 KiB of 293\.0 KiB {2}\S+ [KMG]?i?B\/s$/,
      );
      assert.equal(drawn.at(-1), "", "cleared at the end");
      assert.match(err[0], /^Received 300000 bytes in [0-9.]+ s \(\S+ [KMG]?i?B\/s\)$/);
      drawn.length = 0;
      err.length = 0;
      assert.equal(await runCli(["tftp", "get", at, "boot.img", local, "--quiet"], io), 0);
      assert.deepEqual(drawn, []);
      assert.deepEqual(err, []);
      // The real command's standard error is a pipe here, not a terminal: no progress line.
      const piped = await ftkit("tftp", "get", at, "boot.img", local);
      assert.equal(piped.code, 0, piped.stderr);
      assert.ok(!piped.stderr.includes("\r") && !piped.stderr.includes("\x1b"), piped.stderr);
    } finally {
      await dir.remove();
    }
  });

  test("a TFTP get from a port nobody serves fails after the command's few retries, exit 28", async () => {
    const silent = await freePort();
    const outcome = await ftkit("tftp", "get", `127.0.0.1:${silent}`, "x.bin", "-");
    assert.equal(outcome.code, 28, outcome.stderr);
    // The command's default: 3 retries, the wait doubling from 1 s to at most 2 s (about 7 s).
    assert.match(outcome.stderr, /^ftkit: No reply from the server after 4 tries\nhint: /);
  });

  // Deno runs the client on its own UDP with --unstable-net, else on node:dgram, whose socket it
  // cannot unref: there the dally is cut short.
  for (const unstableNet of runtime === "deno" ? [true, false] : [false]) {
    const on = runtime === "deno" ? (unstableNet ? " (Deno.listenDatagram)" : " (node:dgram)") : "";
    test(`tftpGet resolves and the process exits: the client's dally keeps nothing alive${on}`, async () => {
      const api = await tftpApi();
      const dir = await tempDir("ftkit-cli-dally-");
      try {
        await writeFile(join(dir.path, "boot.img"), new Uint8Array(5000).fill(1));
        const outcomes: string[] = [];
        await using server = await api.serveTftp({
          root: dir.path,
          host: "127.0.0.1",
          port: 0,
          onTransfer: (record) => outcomes.push(record.outcome),
        });
        // The child dallies 10 minutes after its last block; it must exit long before (60 s is
        // far above the second or two it takes).
        const [program, programArgs] = runtimeCommand(projectFile("tests/_tftp_get_child.ts"));
        // (--no-config: the project's deno.json turns --unstable-net on.)
        const args = runtime !== "deno"
          ? programArgs
          : ["run", "-A", unstableNet ? "--unstable-net" : "--no-config", ...programArgs.slice(2)];
        const outcome = await run(
          [program, args],
          [String(server.address.port), "boot.img"],
          {},
          60_000,
        );
        assert.equal(outcome.code, 0, `exit code ${outcome.code}: ${outcome.stderr}`);
        assert.equal(outcome.stdout, "5000\n");
        // The server saw the final ACK: the transfer is complete on its side too.
        await until(() => outcomes.length > 0, "the server's transfer record");
        assert.deepEqual(outcomes, ["complete"]);
      } finally {
        await dir.remove();
      }
    });
  }

  for (const command of [["ftps", "serve"], ["serve"]]) {
    test(`ftkit ${command.join(" ")} removes its ephemeral CA file when it stops, or fails to start`, async () => {
      const dir = await tempDir("ftkit-cli-tmp-");
      try {
        const tmp = join(dir.path, "tmp");
        await mkdir(tmp);
        const ports = command[0] === "serve"
          ? ["--tftp-port", "0", "--ftps-port", "0"]
          : ["--port", "0"];
        const server = ftkitRunningWith({ TMPDIR: tmp }, [...command, dir.path, ...ports]);
        await until(async () => {
          const [made] = await readdir(tmp);
          return made !== undefined && (await readdir(join(tmp, made))).includes("ca.pem");
        }, "the CA file");
        const [made] = await readdir(tmp);
        assert.match(made, /^ftkit-ca-/);
        server.signal("SIGINT");
        const outcome = await server.done;
        assert.equal(outcome.code, 0, outcome.stderr);
        assert.match(
          outcome.stdout,
          new RegExp(`CA certificate \\(trust it in clients\\): ${join(tmp, made, "ca.pem")}`),
        );
        assert.deepEqual(await readdir(tmp), [], "nothing left in the temporary directory");
        // A server that cannot start leaves nothing either.
        const blocker = createServer();
        await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
        const taken = String((blocker.address() as { port: number }).port);
        try {
          const failed = await run(runtimeCommand(projectFile("cli.ts")), [
            ...command,
            dir.path,
            command[0] === "serve" ? "--ftps-port" : "--port",
            taken,
          ], { TMPDIR: tmp });
          assert.equal(failed.code, 1, failed.stderr);
          assert.match(failed.stderr, /EADDRINUSE|in use/i);
          assert.deepEqual(await readdir(tmp), [], "nothing left after a failed start");
        } finally {
          await new Promise((resolve) => blocker.close(resolve));
        }
      } finally {
        await dir.remove();
      }
    });
  }
});

describe(
  "ftkit on Deno: the permissions it needs",
  { skip: runtime === "deno" ? false : "Deno's" },
  () => {
    // Through the npm bin's path: Deno's child_process runs its own executable with every
    // permission of the parent, whatever the flags.
    const deno = (flags: string[], args: string[]) =>
      run([repoFile("node_modules/.bin/deno"), ["run", ...flags, repoFile("cli.ts")]], args);

    test("decode and encode need none", async () => {
      const decoded = await deno([], ["tftp", "decode", "00040001"]);
      assert.equal(decoded.code, 0, decoded.stderr);
      assert.deepEqual(JSON.parse(decoded.stdout), { type: "ack", block: 1 });
      const help = await deno([], ["tftp", "get", "--help"]);
      assert.equal(help.code, 0, help.stderr);
    });

    test("the cli export runs the command as jsr:@ftkit/ftkit/cli would: no config, no flags but -A", async () => {
      const denoJson = JSON.parse(readFileSync(repoFile("deno.json"), "utf8"));
      assert.equal(denoJson.exports["./cli"], "./cli.ts");
      const decoded = await deno(["-A", "--no-config"], ["tftp", "decode", "00040001"]);
      assert.equal(decoded.code, 0, decoded.stderr);
      assert.deepEqual(JSON.parse(decoded.stdout), { type: "ack", block: 1 });
    });

    test("a missing permission is one line naming the flag to add, and a non-zero exit", async () => {
      const get = await deno([], ["tftp", "get", "127.0.0.1:6969", "x.bin", "-"]);
      assert.equal(get.code, 1, get.stderr);
      assert.match(
        get.stderr,
        /^ftkit: Deno requires net access to "[^"]+": add --allow-net \(deno run --allow-net \.\.\.\), or -A for every permission\n$/,
      );
      const serve = await deno([], ["tftp", "serve"]);
      assert.equal(serve.code, 1, serve.stderr);
      assert.match(serve.stderr, /^ftkit: Deno requires read access to "\.": add --allow-read /);
      const ls = await deno(["--allow-read"], ["ftps", "ls", "ftp://127.0.0.1:2121/", "--tls"]);
      assert.equal(ls.code, 1, ls.stderr);
      assert.match(ls.stderr, /^ftkit: Deno requires net access .* add --allow-net /);
    });
  },
);
