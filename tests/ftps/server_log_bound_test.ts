// serveFtps with its log on a file that has stalled (a pipe nobody reads), in raw bytes: a
// client that makes log lines fast (a failed DELE is one each) must not grow the server's memory
// with lines the file has not taken. The lines past the writer's bound are dropped, counted and
// said to onError; the session is served throughout; the lines kept are whole and in order.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { serveFtps } from "./_connect.ts";
import { RawFtp } from "./_raw_ftp.ts";
import { ftpsJsonLogWriter, LogLinesDroppedError } from "../../ftps/mod.ts";
import { repoFile } from "../_runtime.ts";
import { tempDir } from "../interop/_peers.ts";
import { type StalledPipe, stalledPipe } from "../_fifo.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const tls = {
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
};

/** 2,000 failed DELEs of 200-byte names: some 0.8 MB of log lines. */
const BATCHES = 200;
// Ten at a time: the server takes at most 16 commands ahead of its replies.
const PER_BATCH = 10;
const BOUND = 65_536;

describe("serveFtps: a log file that stalls holds no more than its bound", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pipe: StalledPipe;
  let server: Awaited<ReturnType<typeof serveFtps>>;
  const errors: Error[] = [];

  before(async () => {
    dir = await tempDir("ftkit-log-bound-");
    pipe = stalledPipe(dir.path);
    server = await serveFtps({
      root: dir.path,
      allowWrite: true,
      users: { fred: "secret" },
      tls,
      host: "127.0.0.1",
      port: 0,
      loginFailureDelayMs: 0,
      logWriters: [
        ftpsJsonLogWriter(pipe.path, {
          maxPendingBytes: BOUND,
          onError: (error) => errors.push(error),
        }),
      ],
    });
  });
  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  test("failed DELEs, 2,000 of them, answered while the log stalls; the lines past the bound dropped and counted", async () => {
    const ftp = await RawFtp.connect(server.address.port, { ca });
    try {
      assert.equal((await ftp.reply()).code, 220);
      await ftp.authTls();
      assert.equal((await ftp.login("fred", "secret")).code, 230);
      for (let batch = 0; batch < BATCHES; batch++) {
        for (let i = 0; i < PER_BATCH; i++) {
          const n = String(batch * PER_BATCH + i).padStart(6, "0");
          ftp.send(`DELE /missing-${n}-${"x".repeat(200)}`);
        }
        for (let i = 0; i < PER_BATCH; i++) assert.equal((await ftp.reply()).code, 550);
      }
      assert.equal((await ftp.command("QUIT")).code, 221);
    } finally {
      ftp.close();
    }
    // Nothing has been read from the pipe yet: every line past its buffer waited or was dropped.
    const text = (await pipe.release(() => server.close())).toString("utf8");
    const lines = text.split("\n");
    assert.equal(lines.pop(), "", "whole lines");
    const entries = lines.map((line) => JSON.parse(line) as { type: string; path?: string });
    const deletes = entries.filter((entry) => entry.type === "delete").map((entry) =>
      Number(/missing-(\d{6})-/.exec(entry.path ?? "")?.[1])
    );
    for (let i = 1; i < deletes.length; i++) assert.ok(deletes[i] > deletes[i - 1], "in order");
    const dropped = errors.reduce(
      (sum, error) => sum + (error instanceof LogLinesDroppedError ? error.dropped : 0),
      0,
    );
    assert.ok(errors.every((error) => error instanceof LogLinesDroppedError), String(errors));
    assert.ok(dropped > 0, "lines dropped");
    assert.ok(deletes.length < BATCHES * PER_BATCH, `${deletes.length} DELE lines kept`);
    // Each DELE either reached the file or was counted (the session's other lines too).
    assert.ok(dropped >= BATCHES * PER_BATCH - deletes.length, `${dropped} dropped`);
    assert.ok(text.length <= (1 << 20) + BOUND, `${text.length} bytes reached the file`);
  });
});
