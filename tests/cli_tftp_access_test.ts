// `ftkit tftp serve` with --allow, --deny, --port-range and --log, run in-process: the transfer
// log parsed back line by line after complete, failed and refused transfers.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../cli.ts";
import { encodeTftpPacket } from "../codec/mod.ts";
import type { TftpAddress } from "../tftp/mod.ts";
import { TftpTransferError } from "../tftp/transfer_error.ts";
import { serveCli, type ServingCli } from "./_cli_serve.ts";
import { tftpAccessList } from "../cli/_tftp_access.ts";
import { tftpApi, tftpUdpBind } from "./_tftp_api.ts";
import { freePort } from "./interop/_peers.ts";
import { until } from "./_wait.ts";

/** Runs the command in-process: its code and what it wrote. */
async function inProcess(...args: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const code = await runCli(args, { out: () => {}, err: (line) => err.push(line) });
  return { code, err };
}

describe("ftkit tftp serve access lists, port range and transfer log", () => {
  test("--log appends one JSON line per transfer: complete, failed, refused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ftkit-cli-access-"));
    const log = join(dir, "transfers.log");
    let server: ServingCli | undefined;
    const bind = await tftpUdpBind();
    const sockets: { close(): Promise<void> }[] = [];
    try {
      await writeFile(join(dir, "boot.img"), new Uint8Array(5000).fill(3));
      await writeFile(log, '{"earlier":"line"}\n');
      const low = Math.min(await freePort(), 65000);
      const range = [low, low + 7] as const;
      server = await serveCli(
        ["udp"],
        ([free]) => [
          "tftp",
          "serve",
          dir,
          "--port",
          String(free),
          "--allow-write",
          "--allow",
          "127.0.0.0/8",
          "--deny",
          "127.0.0.2",
          "--deny",
          "write:127.0.0.1",
          "--port-range",
          `${range[0]}-${range[1]}`,
          "--log",
          log,
        ],
        /^Fetch a file with: /,
      );
      const to = { address: "127.0.0.1", port: server.ports[0] };
      const api = await tftpApi();
      const got = await api.tftpGet({ host: to.address, port: to.port, remote: "boot.img" });
      assert.equal(got.length, 5000);
      await assert.rejects(
        api.tftpGet({ host: to.address, port: to.port, remote: "missing.img" }),
        (error: Error) => error instanceof TftpTransferError && error.code === 1,
      );
      await assert.rejects(
        api.tftpPut({ host: to.address, port: to.port, remote: "up.img" }, got),
        (error: Error) => error instanceof TftpTransferError && error.code === 2,
      );
      // From 127.0.0.2: dropped unanswered, and logged.
      const denied: Uint8Array[] = [];
      const deniedSocket = await bind({
        host: "127.0.0.2",
        port: 0,
        onMessage: (bytes) => denied.push(bytes),
      });
      sockets.push(deniedSocket);
      const rrq = encodeTftpPacket({
        type: "rrq",
        filename: "boot.img",
        mode: "octet",
        options: {},
      });
      deniedSocket.send(rrq, to);
      await server.line(/^127\.0\.0\.2:\d+ read boot\.img: refused \(denied\), dropped$/);
      // A raw client sees the transfer's port, within the range; its ERROR ends the transfer.
      const replies: { from: TftpAddress }[] = [];
      const raw = await bind({
        host: "127.0.0.1",
        port: 0,
        onMessage: (_, from) => replies.push({ from }),
      });
      sockets.push(raw);
      raw.send(rrq, to);
      await until(() => replies.length > 0, "DATA 1 from the transfer's port");
      const { from } = replies[0];
      assert.ok(from.port >= range[0] && from.port <= range[1], `${from.port} in ${range}`);
      raw.send(encodeTftpPacket({ type: "error", code: 0, message: "enough" }), from);
      await server.line(/ read boot\.img: failed, error 0: enough$/);
      await server.line(/ write up\.img: refused \(denied\), error 2: Access denied$/);
      await server.stop();
      server = undefined;
      assert.deepEqual(denied, [], "nothing to the denied address");

      const lines = (await readFile(log, "utf8")).split("\n");
      assert.equal(lines.pop(), "", "every line ends");
      assert.equal(lines.shift(), '{"earlier":"line"}', "appended to what was there");
      const entries = lines.map((line) => JSON.parse(line));
      for (const entry of entries) {
        assert.ok(!Number.isNaN(Date.parse(entry.time)), entry.time);
        assert.equal(typeof entry.durationMs, "number");
        assert.equal(typeof entry.port, "number");
        assert.equal(entry.mode, "octet");
      }
      const strip = (
        { time: _t, durationMs: _d, port: _p, retransmits: _r, ...rest }: Record<string, unknown>,
      ) => rest;
      const byFile = (file: string, outcome: string) =>
        entries.filter((entry) => entry.file === file && entry.outcome === outcome).map(strip);
      assert.deepEqual(byFile("boot.img", "complete"), [{
        client: "127.0.0.1",
        direction: "read",
        file: "boot.img",
        resolvedFile: "boot.img",
        mode: "octet",
        options: { tsize: 5000 },
        bytes: 5000,
        outcome: "complete",
      }]);
      assert.deepEqual(byFile("missing.img", "failed"), [{
        client: "127.0.0.1",
        direction: "read",
        file: "missing.img",
        resolvedFile: "missing.img",
        mode: "octet",
        bytes: 0,
        outcome: "failed",
        error: { code: 1, message: "File not found" },
      }]);
      assert.deepEqual(byFile("up.img", "refused"), [{
        client: "127.0.0.1",
        direction: "write",
        file: "up.img",
        resolvedFile: "up.img",
        mode: "octet",
        bytes: 0,
        outcome: "refused",
        reason: "denied",
        error: { code: 2, message: "Access denied" },
      }]);
      assert.deepEqual(byFile("boot.img", "refused"), [{
        client: "127.0.0.2",
        direction: "read",
        file: "boot.img",
        resolvedFile: "boot.img",
        mode: "octet",
        bytes: 0,
        outcome: "refused",
        reason: "denied",
      }]);
      const stopped = byFile("boot.img", "failed");
      assert.equal(stopped.length, 1);
      assert.deepEqual(stopped[0].error, { code: 0, message: "enough" });
      assert.equal(entries.length, 5);
    } finally {
      for (const socket of sockets) await socket.close();
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("--allow and --deny: a plain list, or a list per direction holding the plain values", () => {
    assert.equal(tftpAccessList({}, "allow"), undefined);
    assert.deepEqual(tftpAccessList({ allow: "10.0.0.0/8" }, "allow"), ["10.0.0.0/8"]);
    assert.deepEqual(tftpAccessList({ deny: ["write:10.1.0.0/16"] }, "deny"), {
      write: ["10.1.0.0/16"],
    });
    assert.deepEqual(
      tftpAccessList({ allow: ["fd00::/8", "read:::1", "write:192.0.2.0/24"] }, "allow"),
      { read: ["fd00::/8", "::1"], write: ["fd00::/8", "192.0.2.0/24"] },
    );
  });

  test("bad values are usage errors; a log that cannot be opened stops the command", async () => {
    for (
      const [args, line] of [
        [["--allow", "10.0.0.1/8"], /^ftkit: --allow takes CIDR, read:CIDR or write:CIDR/],
        [["--deny", "both:10.0.0.0/8"], /^ftkit: --deny takes CIDR, read:CIDR or write:CIDR/],
        [["--port-range", "7000-6000"], /^ftkit: --port-range takes LOW-HIGH/],
        [
          ["--port-range", "7000-7010", "--single-port"],
          /^ftkit: --port-range and --single-port do not go together$/,
        ],
        [["--log", join(tmpdir(), "ftkit-no-such-dir", "x.log")], /^ftkit: --log: cannot write/],
      ] as const
    ) {
      const { code, err } = await inProcess("tftp", "serve", ".", "--port", "0", ...args);
      assert.equal(code, line.source.includes("--log") ? 23 : 2, err.join("\n"));
      assert.match(err[0], line);
    }
  });
});
