// The examples in examples/, run as they are on the runtime running the tests (on loopback).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { main as tftpExample } from "../examples/tftp_serve_get.ts";
import { main as ftpsExample } from "../examples/ftps_serve_get.ts";

async function run(example: (print: (line: string) => void) => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  await example((line) => lines.push(line));
  return lines;
}

describe("examples", () => {
  test("tftp_serve_get: serves, gets into memory and a file, uploads", async () => {
    const lines = await run(tftpExample);
    assert.match(lines[0], /^serving .* on 127\.0\.0\.1:\d+$/);
    assert.deepEqual(lines.slice(1), [
      'got pxelinux.cfg: "DEFAULT linux\\n"',
      "saved 14 bytes to copy.cfg (blksize 1468)",
      'uploaded r1.cfg: "hostname r1\\n"',
    ]);
  });

  test("ftps_serve_get: serves with a certificate for the run; the client trusts its CA", async () => {
    const lines = await run(ftpsExample);
    assert.match(lines[0], /^serving .* on 127\.0\.0\.1:\d+$/);
    assert.deepEqual(lines.slice(1), [
      "listed: firmware.bin",
      "got firmware.bin: 100000 bytes, TLS true",
      'uploaded r1.cfg: "hostname r1\\n"',
    ]);
  });
});
