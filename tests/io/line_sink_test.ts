// The log's line sink (io/line_sink.ts) on a real file and a stalled pipe: what waits for the
// file is bounded. A flood of lines faster than the file takes them, or a file that stops
// taking them, keeps at most `maxPendingBytes` in memory; the lines past it are dropped whole,
// counted, and said to onError (or close() rejects); the lines kept come in order.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { lineSink, LogLinesDroppedError } from "../../io/line_sink.ts";
import { tempDir } from "../interop/_peers.ts";
import { stalledPipe } from "../_fifo.ts";

/** Line `i`: its number, then padding to 100 bytes with its line end. */
const line = (i: number) => `${String(i).padStart(6, "0")} ${"x".repeat(92)}`;

/** The numbers of the lines written, each checked to be whole. */
function numbers(text: string): number[] {
  const lines = text.split("\n");
  assert.equal(lines.pop(), "", "ends with a line end");
  return lines.map((written) => {
    assert.match(written, /^\d{6} x{92}$/);
    return Number(written.slice(0, 6));
  });
}

const dropped = (errors: Error[]) =>
  errors.reduce(
    (sum, error) => sum + (error instanceof LogLinesDroppedError ? error.dropped : 0),
    0,
  );

describe("line sink: what waits for the file is bounded", () => {
  test("a burst past the bound: the first lines kept in order, the rest dropped and counted", async () => {
    const dir = await tempDir("ftkit-sink-");
    try {
      const path = join(dir.path, "burst.log");
      const errors: Error[] = [];
      const sink = lineSink(path, (error) => errors.push(error), 10_000);
      for (let i = 0; i < 1_000; i++) sink.push(line(i));
      await sink.close();
      const kept = numbers(await readFile(path, "utf8"));
      // 100 lines of 100 bytes fit the bound; the first is written at once, so 100 or 101.
      assert.ok(kept.length >= 100 && kept.length <= 101, `${kept.length} kept`);
      assert.deepEqual(kept, kept.map((_, i) => i), "the first ones, in order");
      assert.ok(errors.every((error) => error instanceof LogLinesDroppedError), String(errors));
      assert.equal(dropped(errors), 1_000 - kept.length);
      assert.match(String(errors[0]), /log lines? dropped: the log file fell behind/);
    } finally {
      await dir.remove();
    }
  });

  test("a stalled pipe: lines pushed over many turns wait up to the bound, then go once it reads", async () => {
    const dir = await tempDir("ftkit-sink-");
    try {
      const pipe = stalledPipe(dir.path);
      const errors: Error[] = [];
      const bound = 32_768;
      const sink = lineSink(pipe.path, (error) => errors.push(error), bound);
      // 20,000 lines (2 MB) in 200 turns of the event loop, the pipe read by nobody: its buffer
      // (64 KiB on Linux) fills, and the sink holds 32 KiB at most.
      for (let turn = 0; turn < 200; turn++) {
        for (let i = 0; i < 100; i++) sink.push(line(turn * 100 + i));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const text = (await pipe.release(() => sink.close())).toString("utf8");
      const kept = numbers(text);
      assert.ok(kept.length < 20_000, `${kept.length} of 20000 kept`);
      for (let i = 1; i < kept.length; i++) assert.ok(kept[i] > kept[i - 1], "in order");
      // Every line is written or counted as dropped.
      assert.equal(dropped(errors), 20_000 - kept.length);
      // What the pipe held, and what waited for it: no more than its buffer and the bound.
      assert.ok(text.length <= (1 << 20) + bound, `${text.length} bytes`);
    } finally {
      await dir.remove();
    }
  });

  test("without onError, close() rejects with the lines dropped", async () => {
    const dir = await tempDir("ftkit-sink-");
    try {
      const sink = lineSink(join(dir.path, "quiet.log"), undefined, 1_000);
      for (let i = 0; i < 100; i++) sink.push(line(i));
      await assert.rejects(sink.close(), (error: unknown) => {
        assert.ok(error instanceof LogLinesDroppedError);
        assert.ok(error.dropped >= 89 && error.dropped <= 90, String(error.dropped));
        return true;
      });
      assert.throws(() => lineSink(join(dir.path, "bad.log"), undefined, 0), RangeError);
    } finally {
      await dir.remove();
    }
  });
});
