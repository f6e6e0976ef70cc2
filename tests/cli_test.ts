import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { runCli, VERSION } from "../cli.ts";
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
    const { mkdtemp, readFile, rm, writeFile } = await import("node:fs/promises");
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
