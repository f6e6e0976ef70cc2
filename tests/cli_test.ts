import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { runCli, VERSION } from "../cli.ts";
import { projectFile, repoFile, runtimeCommand } from "./_runtime.ts";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `ftkit` command in a child process of the current runtime. */
function ftkit(...args: string[]): Promise<Outcome> {
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  return new Promise((resolve) => {
    execFile(program, [...programArgs, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
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

  test("--version matches deno.json", () => {
    const lines: string[] = [];
    assert.equal(
      runCli(["--version"], { out: (l) => lines.push(l), err: (l) => lines.push(l) }),
      0,
    );
    assert.deepEqual(lines, [VERSION]);
    const denoJson = JSON.parse(readFileSync(repoFile("deno.json"), "utf8"));
    assert.equal(VERSION, denoJson.version);
  });

  test("data payloads round-trip through encode and decode as hex", () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => assert.fail(l) };
    assert.equal(runCli(["tftp", "encode", '{"type":"data","block":2,"data":"0d0a"}'], io), 0);
    assert.equal(out[0], "000300020d0a");
    assert.equal(runCli(["tftp", "decode", out[0]], io), 0);
    assert.deepEqual(JSON.parse(out[1]), { type: "data", block: 2, data: "0d0a" });
  });
});
