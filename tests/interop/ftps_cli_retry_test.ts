// `ftkit ftps get|put --retry N` and `--continue` (-C) against ftkit's own server behind a proxy
// that cuts sessions mid-transfer (_cutting_proxy.ts): the real command reconnects and finishes a
// cut download; -C continues a partial local file (get) or remote file (put) from its size.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../../cli.ts";
import { bytesOf, tempDir } from "./_peers.ts";
import { FIXTURES } from "./_ftps_servers.ts";
import { projectFile, runtimeCommand } from "../_runtime.ts";
import { serveFtps } from "../ftps/_connect.ts";
import { type CuttingProxy, PROXY_HOST, startCuttingProxy } from "./_cutting_proxy.ts";

const PAYLOAD = bytesOf(2 * 1024 * 1024 + 999, 21);

/** The real command's exit code and standard error (killed after 120 s). */
function command(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const [program, programArgs] = runtimeCommand(projectFile("cli.ts"));
  const child = spawn(program, [...programArgs, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    })
  );
}

/** In-process `ftkit ...`: the exit code and what went to standard error. */
async function cli(...args: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const code = await runCli(args, { out: () => {}, err: (line) => err.push(line) });
  return { code, err };
}

describe("ftkit ftps get|put --retry and --continue, through a cutting proxy", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let proxy: CuttingProxy;
  let server: Awaited<ReturnType<typeof serveFtps>>;
  let root: string;
  const tls = () => ["--tls", "--ca", join(FIXTURES, "ca.pem"), "--servername", "localhost"];
  const url = (path: string) => `ftp://fred:secret@${PROXY_HOST}:${proxy.port}/${path}`;

  before(async () => {
    dir = await tempDir("ftkit-cli-retry-");
    root = join(dir.path, "root");
    await mkdir(root);
    await writeFile(join(root, "payload.bin"), PAYLOAD);
    proxy = await startCuttingProxy();
    server = await serveFtps({
      root,
      allowWrite: true,
      // REST then STOR writes into the file there.
      allowOverwrite: true,
      users: { fred: "secret" },
      tls: {
        cert: await readFile(join(FIXTURES, "leaf.pem"), "utf8"),
        key: await readFile(join(FIXTURES, "leaf.key"), "utf8"),
      },
      host: "127.0.0.1",
      port: 0,
      passivePorts: proxy.passivePorts,
    });
    proxy.serverPort = server.address.port;
  });

  after(async () => {
    await proxy?.close();
    await server?.close();
    await dir?.remove();
  });

  test("the real command with --retry 3 reconnects after the session is cut, and finishes", async () => {
    const local = join(dir.path, "retried.bin");
    const sessions = proxy.sessions;
    proxy.cutAfter(700_000, "session");
    const got = await command(["ftps", "get", url("payload.bin"), local, ...tls(), "--retry", "3"]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(proxy.sessions, sessions + 2, "logged in again once");
    assert.ok(Buffer.compare(await readFile(local), PAYLOAD) === 0, "byte for byte");
    // What the command reports is the whole file, over both connections.
    assert.match(got.stderr, new RegExp(`Received ${PAYLOAD.length} bytes`));
  });

  test("without --retry the same cut fails the command, and leaves no file", async () => {
    const local = join(dir.path, "not-retried.bin");
    proxy.cutAfter(700_000, "session");
    const got = await command(["ftps", "get", url("payload.bin"), local, ...tls()]);
    assert.notEqual(got.code, 0);
    await assert.rejects(stat(local));
  });

  test("get -C continues LOCAL.ftkit-part from its size, then renames it", async () => {
    const local = join(dir.path, "continued.bin");
    const kept = 1_000_000;
    await writeFile(`${local}.ftkit-part`, PAYLOAD.subarray(0, kept));
    const before = proxy.dataBytes;
    const got = await cli("ftps", "get", url("payload.bin"), local, ...tls(), "-C", "--retry", "2");
    assert.equal(got.code, 0, got.err.join("\n"));
    assert.match(got.err.join("\n"), new RegExp(`^Received ${PAYLOAD.length - kept} bytes`));
    // Only the rest moved (and TLS's handshake and records).
    assert.ok(proxy.dataBytes - before <= PAYLOAD.length - kept + 65536, "only the rest");
    assert.ok(Buffer.compare(await readFile(local), PAYLOAD) === 0, "byte for byte");
    await assert.rejects(stat(`${local}.ftkit-part`));
  });

  test("put --continue sends the rest of LOCAL after the remote file's size", async () => {
    const local = join(dir.path, "upload.bin");
    await writeFile(local, PAYLOAD);
    const kept = 1_234_567;
    await writeFile(join(root, "upload.bin"), PAYLOAD.subarray(0, kept));
    const got = await cli("ftps", "put", local, url("upload.bin"), ...tls(), "--continue");
    assert.equal(got.code, 0, got.err.join("\n"));
    assert.match(got.err.join("\n"), new RegExp(`^Sent ${PAYLOAD.length - kept} bytes`));
    assert.ok(Buffer.compare(await readFile(join(root, "upload.bin")), PAYLOAD) === 0);
  });

  test("usage: -C to standard output, and --retry out of range, are refused (exit 2)", async () => {
    const stdout = await cli("ftps", "get", url("payload.bin"), "-", ...tls(), "-C");
    assert.equal(stdout.code, 2);
    assert.match(stdout.err.join("\n"), /--continue needs a LOCAL file/);
    const zero = await cli("ftps", "get", url("payload.bin"), "x", ...tls(), "--retry", "0");
    assert.equal(zero.code, 2);
    assert.match(zero.err.join("\n"), /--retry/);
  });
});
