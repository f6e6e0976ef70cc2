import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import process from "node:process";
import { readFileSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, VERSION } from "../cli.ts";
import type { TftpTransferRecord } from "../tftp/mod.ts";
import { tftpApi } from "./_tftp_api.ts";
import { freePort, tempDir } from "./interop/_peers.ts";
import { projectFile, repoFile, runtimeCommand } from "./_runtime.ts";
import { serveCli, type ServingCli } from "./_cli_serve.ts";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `ftkit` command in a child process of the current runtime. */
function ftkit(...args: string[]): Promise<Outcome> {
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  return new Promise((resolve) => {
    // Bounded generously: a loaded machine starts a runtime slowly.
    const options = { timeout: 120_000, killSignal: "SIGKILL" as const };
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
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  const child = spawn(program, [...programArgs, ...args], { stdio: ["ignore", "pipe", "pipe"] });
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

  test("an unknown command prints usage and exits 2", async () => {
    const { code, stderr } = await ftkit("tftp", "frobnicate");
    assert.equal(code, 2);
    assert.match(stderr, /unknown command "tftp frobnicate"/);
    assert.match(stderr, /Usage:/);
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
    assert.match(option.stderr, /--blksize must be a whole number/);
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
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr, "ftkit: File not found\n");
      assert.equal(await readFile(local, "utf8"), precious);
      // Nothing listens on a port just found free: no reply ever comes.
      const unreachable = await ftkit(
        "tftp",
        "get",
        `127.0.0.1:${await freePort()}`,
        "x.bin",
        local,
        "--retries",
        "0",
      );
      assert.equal(unreachable.code, 1);
      assert.equal(unreachable.stderr, "ftkit: No reply from the server after 1 tries\n");
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
