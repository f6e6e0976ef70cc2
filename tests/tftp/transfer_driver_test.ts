// The transfer driver between a machine and its socket and file: a window goes out through
// `sendMany` as one run, and a source that reads into lent payloads sends its bytes uncopied.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TftpClientTransfer, TftpTransferDriver, type TftpTransferIo } from "../../tftp/mod.ts";
import { pattern, SERVER, SERVER_TID, wire } from "./_script.ts";
import { until, within } from "../_wait.ts";

const ack = (block: number) => wire({ type: "ack", block });
const data = (block: number, bytes: Uint8Array) => wire({ type: "data", block, data: bytes });
const oack = (options: Record<string, number>) => wire({ type: "oack", options });

/** A WRQ of `file` in windows of 4 blocks of 8 bytes, driven with recording senders. */
function upload(io: TftpTransferIo, withSendMany = true) {
  const client = new TftpClientTransfer({
    type: "wrq",
    filename: "f",
    server: SERVER,
    options: { blksize: 8, windowsize: 4 },
    readAhead: 0,
  });
  client.start(performance.now());
  const singles: Uint8Array[] = [];
  const runs: Uint8Array[][] = [];
  const driver = new TftpTransferDriver(
    client,
    (bytes) => singles.push(bytes),
    io,
    withSendMany ? (datagrams) => runs.push([...datagrams]) : undefined,
  );
  return { driver, singles, runs };
}

describe("TFTP transfer driver", () => {
  test("a window goes out as one run through sendMany; a lone datagram through send", async () => {
    const file = pattern(40);
    let given = false;
    const { driver, singles, runs } = upload({
      read: () => Promise.resolve(given ? null : (given = true, file)),
    });
    assert.equal(singles.length, 1, "the WRQ");
    driver.handleDatagram(oack({ blksize: 8, windowsize: 4 }), SERVER_TID);
    await until(() => runs.length === 1, "the first window");
    assert.deepEqual(runs[0], [1, 2, 3, 4].map((b) => data(b, file.subarray(b * 8 - 8, b * 8))));
    driver.handleDatagram(ack(4), SERVER_TID);
    // 40 bytes are 5 whole blocks: an empty sixth ends the file.
    await until(() => runs.length === 2, "the second window");
    assert.deepEqual(runs[1], [data(5, file.subarray(32)), data(6, new Uint8Array(0))]);
    driver.handleDatagram(ack(6), SERVER_TID);
    const result = await within(driver.result, "the result");
    assert.equal(result.ok, true);
    assert.equal(singles.length, 1, "nothing else went one by one");
  });

  test("without sendMany every datagram goes through send", async () => {
    const file = pattern(20);
    let given = false;
    const { driver, singles } = upload({
      read: () => Promise.resolve(given ? null : (given = true, file)),
    }, false);
    driver.handleDatagram(oack({ blksize: 8, windowsize: 4 }), SERVER_TID);
    await until(() => singles.length === 4, "the WRQ and three blocks");
    assert.deepEqual(singles.slice(1), [
      data(1, file.subarray(0, 8)),
      data(2, file.subarray(8, 16)),
      data(3, file.subarray(16)),
    ]);
    driver.stop();
  });

  test("a source that reads into lent payloads: its buffers are the packets sent", async () => {
    const file = pattern(44);
    let at = 0;
    const filled: Uint8Array[] = [];
    // Before the OACK settles the block size nothing is lent: the first bytes are read as
    // chunks (12 bytes: not whole blocks, so 4 are carried into the first lent payload).
    const { driver, runs } = upload({
      read: () => {
        const chunk = file.subarray(at, at + 12);
        at += chunk.length;
        return Promise.resolve(chunk.length > 0 ? chunk : null);
      },
      readInto: (buffers) => {
        let bytes = 0;
        for (const buffer of buffers) {
          const take = Math.min(buffer.length, file.length - at);
          buffer.set(file.subarray(at, at + take));
          if (take > 0) filled.push(buffer);
          at += take;
          bytes += take;
        }
        return Promise.resolve(bytes);
      },
    });
    await until(() => at === 36, "the chunks read ahead of the OACK");
    driver.handleDatagram(oack({ blksize: 8, windowsize: 4 }), SERVER_TID);
    await until(() => runs.length === 1, "the first window");
    assert.deepEqual(runs[0], [1, 2, 3, 4].map((b) => data(b, file.subarray(b * 8 - 8, b * 8))));
    driver.handleDatagram(ack(4), SERVER_TID);
    await until(() => runs.length === 2, "the second window");
    assert.deepEqual(runs[1], [data(5, file.subarray(32, 40)), data(6, file.subarray(40))]);
    assert.equal(runs[1][0].buffer, filled[0].buffer, "DATA 5 is the buffer read into");
    assert.equal(runs[1][0].byteOffset + 8, filled[0].byteOffset, "after the 4 carried bytes");
    driver.handleDatagram(ack(6), SERVER_TID);
    assert.equal((await within(driver.result, "the result")).ok, true);
  });
});
