// The FTPS client's resumable transfers (ftps/_client_resume.ts) against a scripted server that
// holds one file in memory: a download continues with REST (RFC 3659 section 5) from the bytes
// delivered, or skips them where REST is refused; an upload continues from the size the server
// kept, starts again when it kept nothing, starts over from 0 when the remote file holds bytes it
// did not send or REST is refused, and uses APPE without REST STREAM; what cannot be sent again
// is not retried; waits are bounded and the AbortSignal cuts them short.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  pause,
  resumableDownload,
  resumableUpload,
  type RetryHost,
  retrying,
  type UploadFrom,
} from "../../ftps/_client_resume.ts";
import {
  type TransferIo,
  type TransferReport,
  type Transfers,
  uploadSource,
} from "../../ftps/_client_transfer.ts";
import type { FtpTransferRequest } from "../../ftps/client_session.ts";
import { FtpReplyError } from "../../ftps/reply_error.ts";

const FILE = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 31 + 7) & 0xff);
const POLICY = { attempts: 4, baseDelayMs: 0, maxDelayMs: 0 };
const reset = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });

/** A server with one file: each attempt's transfer is scripted by `cut` (bytes before it breaks,
 * per attempt: undefined runs whole). */
class FakeServer {
  remote: Uint8Array | undefined;
  readonly requests: FtpTransferRequest[] = [];
  /** Bytes after which each attempt breaks (undefined: it completes). */
  cuts: (number | undefined)[] = [];
  /** The server keeps what an upload cut short wrote. */
  keeps = true;
  /** REST is refused with 502 (RFC 959 "not implemented"). */
  refusesRest = false;
  /** Bytes someone else appends to the file when an upload breaks. */
  intruder = 0;
  last: TransferReport | undefined;

  constructor(remote?: Uint8Array) {
    this.remote = remote;
  }

  host(policy = POLICY, features = true): RetryHost & { restStream: () => boolean } {
    const transfers = {
      run: (request: FtpTransferRequest, controls: object, io: TransferIo) =>
        this.#run(request, controls, io),
    };
    Object.defineProperty(transfers, "last", { get: () => this.last });
    return {
      retry: policy,
      live: () => Promise.resolve(transfers as unknown as Transfers),
      remoteSize: (_path) => Promise.resolve(this.remote?.length),
      restStream: () => features,
    };
  }

  async #run(
    request: FtpTransferRequest,
    controls: { onProgress?: (bytes: number) => void },
    io: TransferIo,
  ) {
    this.requests.push(request);
    const cut = this.cuts[this.requests.length - 1];
    const offset = request.offset ?? 0;
    if (request.offset !== undefined && this.refusesRest) {
      throw new FtpReplyError(`REST ${offset}`, { code: 502, lines: ["No REST"] });
    }
    let bytes = 0;
    if (request.command === "RETR") {
      for (let at = offset; at < this.remote!.length; at += 1000) {
        if (cut !== undefined && bytes >= cut) throw reset();
        const chunk = this.remote!.subarray(at, at + 1000);
        bytes += chunk.length;
        await io.sink!(chunk);
      }
    } else {
      const base = request.command === "APPE"
        ? this.remote ?? new Uint8Array()
        : (this.remote ?? new Uint8Array()).subarray(0, offset);
      const got: Uint8Array[] = [base];
      for await (const chunk of io.source!.chunks()) {
        if (cut !== undefined && bytes + chunk.length > cut) {
          const part = chunk.subarray(0, cut - bytes);
          if (this.keeps) {
            this.remote = Buffer.concat([...got, part, new Uint8Array(this.intruder)]);
          }
          controls.onProgress?.(bytes + part.length);
          throw reset();
        }
        got.push(chunk);
        bytes += chunk.length;
        controls.onProgress?.(bytes);
      }
      this.remote = Buffer.concat(got);
    }
    this.last = { bytes, tls: true, resumed: true };
    return { code: 226, lines: ["OK"] };
  }
}

async function download(server: FakeServer, already = 0) {
  const got: Uint8Array[] = [];
  const report = await resumableDownload(
    server.host(),
    { command: "RETR", path: "f" },
    {},
    (chunk) => void got.push(chunk.slice()),
    already,
  );
  return { bytes: Buffer.concat(got), report };
}

const bytesFrom = (data: Uint8Array, start = 0): UploadFrom => (position) =>
  position >= start ? uploadSource(data.subarray(position - start)) : undefined;

function upload(server: FakeServer, from: UploadFrom, request = {}, features = true) {
  const host = server.host(POLICY, features);
  return resumableUpload(
    host,
    { command: "STOR", path: "f", ...request },
    {},
    from,
    host.restStream,
  );
}

describe("resumableDownload", () => {
  test("a cut download continues with REST from the bytes delivered, none twice", async () => {
    const server = new FakeServer(FILE);
    server.cuts = [42_000];
    const { bytes, report } = await download(server);
    assert.ok(Buffer.compare(bytes, FILE) === 0);
    assert.deepEqual(server.requests.map((r) => r.offset), [undefined, 42_000]);
    assert.equal(report.bytes, FILE.length);
  });

  test("a server that refuses REST sends the file again; what was delivered is skipped", async () => {
    const server = new FakeServer(FILE);
    server.cuts = [42_000];
    server.refusesRest = true;
    const { bytes } = await download(server);
    assert.ok(Buffer.compare(bytes, FILE) === 0);
    // The refused REST is tried once and costs no attempt.
    assert.deepEqual(server.requests.map((r) => r.offset), [undefined, 42_000, undefined]);
  });

  test("bytes held already (a partial file) are asked for with REST from the first attempt", async () => {
    const server = new FakeServer(FILE);
    const { bytes, report } = await download(server, 30_000);
    assert.ok(Buffer.compare(bytes, FILE.subarray(30_000)) === 0);
    assert.equal(report.bytes, FILE.length - 30_000);
  });

  test("a refusal is not retried, and the attempts are bounded", async () => {
    const missing = new FakeServer(undefined);
    await assert.rejects(download(missing));
    assert.equal(missing.requests.length, 1);
    const flaky = new FakeServer(FILE);
    flaky.cuts = [1000, 1000, 1000, 1000, 1000];
    await assert.rejects(download(flaky), /ECONNRESET/);
    assert.equal(flaky.requests.length, POLICY.attempts);
  });
});

describe("resumableUpload", () => {
  test("continues from the size the server kept (SIZE, REST, STOR)", async () => {
    const server = new FakeServer(undefined);
    server.cuts = [37_000];
    const progress: number[] = [];
    const host = server.host();
    const report = await resumableUpload(
      host,
      { command: "STOR", path: "f" },
      { onProgress: (b) => progress.push(b) },
      bytesFrom(FILE),
      host.restStream,
    );
    assert.ok(Buffer.compare(server.remote!, FILE) === 0);
    assert.deepEqual(server.requests.map((r) => [r.command, r.offset]), [
      ["STOR", undefined],
      ["STOR", 37_000],
    ]);
    assert.equal(report.bytes, FILE.length);
    assert.equal(progress.at(-1), FILE.length);
  });

  test("APPE from the kept size where FEAT has no REST STREAM", async () => {
    const server = new FakeServer(undefined);
    server.cuts = [37_000];
    await upload(server, bytesFrom(FILE), {}, false);
    assert.ok(Buffer.compare(server.remote!, FILE) === 0);
    assert.deepEqual(server.requests.map((r) => [r.command, r.offset]), [
      ["STOR", undefined],
      ["APPE", undefined],
    ]);
  });

  test("a server that kept nothing (the old file unchanged) gets the upload again whole", async () => {
    const old = new Uint8Array(5000).fill(9);
    const server = new FakeServer(old);
    server.keeps = false;
    server.cuts = [37_000];
    await upload(server, bytesFrom(FILE));
    assert.ok(Buffer.compare(server.remote!, FILE) === 0);
    assert.deepEqual(server.requests.map((r) => r.offset), [undefined, undefined]);
  });

  test("bytes it did not send in the remote file, or a refused REST: over from byte 0", async () => {
    const grown = new FakeServer(undefined);
    grown.cuts = [37_000];
    grown.intruder = 10_000;
    await upload(grown, bytesFrom(FILE));
    assert.ok(Buffer.compare(grown.remote!, FILE) === 0);
    assert.deepEqual(grown.requests.map((r) => r.offset), [undefined, undefined]);

    const norest = new FakeServer(undefined);
    norest.cuts = [37_000];
    norest.refusesRest = true;
    await upload(norest, bytesFrom(FILE));
    assert.ok(Buffer.compare(norest.remote!, FILE) === 0);
    assert.deepEqual(norest.requests.map((r) => r.offset), [undefined, 37_000, undefined]);
  });

  test("the caller's own REST refused fails as without retries (no silent start over)", async () => {
    const server = new FakeServer(FILE.subarray(0, 20_000));
    server.refusesRest = true;
    const whole: UploadFrom = (p) => uploadSource(FILE.subarray(p));
    await assert.rejects(upload(server, whole, { offset: 20_000 }), /REST 20000: 502/);
    assert.equal(server.requests.length, 1);
  });

  test("an upload from an offset whose bytes before it are not held fails rather than guess", async () => {
    const server = new FakeServer(FILE.subarray(0, 20_000));
    server.cuts = [10_000];
    server.intruder = 50_000;
    await assert.rejects(
      upload(server, bytesFrom(FILE.subarray(20_000), 20_000), { offset: 20_000 }),
      /ECONNRESET/,
    );
    assert.equal(server.requests.length, 1);
  });

  test("a stream already read from is not sent again", async () => {
    const read = new FakeServer(undefined);
    read.cuts = [5000];
    let given = false;
    const stream = uploadSource((async function* () {
      yield FILE.subarray(0, 10_000);
      yield FILE.subarray(10_000);
    })());
    const once: UploadFrom = (p) => (p !== 0 || given ? undefined : ((given = true), stream));
    let attempts = 0;
    const counted: UploadFrom = (p) => (attempts++, once(p));
    await assert.rejects(upload(read, counted), /ECONNRESET/);
    assert.equal(read.requests.length, 1);
    // Given up at once, not asked again for each attempt left.
    assert.equal(attempts, 2);
  });

  test("an APPE that sent bytes is not sent again", async () => {
    const server = new FakeServer(new Uint8Array(10));
    server.cuts = [5000];
    await assert.rejects(upload(server, bytesFrom(FILE), { command: "APPE" }), /ECONNRESET/);
    assert.equal(server.requests.length, 1);
  });
});

describe("retrying and pause", () => {
  test("retries what the policy retries, up to its attempts; the hook decides", async () => {
    let runs = 0;
    await assert.rejects(
      retrying({ attempts: 3, baseDelayMs: 0 }, undefined, () => {
        runs++;
        return Promise.reject(reset());
      }),
    );
    assert.equal(runs, 3);
    runs = 0;
    const result = await retrying(
      { attempts: 5, baseDelayMs: 0, retryable: (e) => (e as Error).message === "again" },
      undefined,
      (attempt) => (++runs, attempt < 3 ? Promise.reject(new Error("again")) : Promise.resolve(7)),
    );
    assert.deepEqual([result, runs], [7, 3]);
    runs = 0;
    await assert.rejects(retrying(undefined, undefined, () => (runs++, Promise.reject(reset()))));
    assert.equal(runs, 1);
  });

  test("an abort during the wait rejects at once with the signal's reason", async () => {
    const controller = new AbortController();
    const started = performance.now();
    const run = retrying({ attempts: 3, baseDelayMs: 60_000 }, controller.signal, () => {
      setTimeout(() => controller.abort(new Error("stop")), 5);
      return Promise.reject(reset());
    });
    await assert.rejects(run, /stop/);
    assert.ok(performance.now() - started < 30_000);
    await assert.rejects(pause(10, AbortSignal.abort(new Error("already"))), /already/);
  });
});
