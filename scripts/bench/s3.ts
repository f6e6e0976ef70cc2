/**
 * S3 storage benchmark: ftkit's servers on a bucket of a real S3 store (a single-node OpenStack
 * Swift with s3api, tests/interop/_swift.ts) next to the same servers on a local directory, with
 * the store's own speed as the limit, in one run over loopback.
 *
 * - Store: curl (`--aws-sigv4`, one request, no ftkit) GETs the object of `--size` MB from the
 *   bucket and PUTs it back: what a plain S3 client gets from this store, and so the most a server
 *   in front of it can give.
 * - FTPS: curl (explicit TLS, `--ssl-reqd`, TLS 1.3, EPSV, PROT P) RETRs and STORs the file
 *   through `ftkit ftps serve --storage s3://...` and through `ftkit ftps serve DIR`, on Deno, Bun
 *   and Node; the ratios of the bucket to the directory and to the store. Every STOR is checked
 *   for its size, and its bytes compared once per server.
 * - TFTP: curl reads the file through `ftkit tftp serve s3://...` and `ftkit tftp serve DIR` at
 *   blksize 1468 and 65464 (lock-step, RFC 2348); the same ratios.
 * - Memory: each server's peak RSS (VmHWM) after its runs: a bucket's transfers are streamed,
 *   so the peak stays far below the file's size.
 *
 * Each figure is the median of `--runs` (default 3), after one untimed transfer per server (a
 * runtime's compiler warms up on its first megabytes); within each run the servers take turns,
 * so that load from elsewhere falls on all alike.
 *
 * Usage: deno run -A scripts/bench/s3.ts [--size MB] [--runs N] [--only store,ftps,tftp]
 *   Needs Swift, memcached and curl (scripts/peers.ts), and the npm build
 *   (scripts/build_npm.ts) for Node.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { S3Client } from "../../io/s3/client.ts";
import { FIXTURES } from "../../tests/interop/_ftps_servers.ts";
import { PEER } from "../../tests/interop/_peers.ts";
import { startSwift, swiftMissing, type SwiftStore } from "../../tests/interop/_swift.ts";
import {
  type Child,
  ftkitCommand,
  procStatus,
  run,
  running,
  type Runtime,
  startChild,
  version,
} from "./_processes.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: { size: { type: "string" }, runs: { type: "string" }, only: { type: "string" } },
});
const sizeMb = Number(values.size ?? 100);
const runs = Number(values.runs ?? 3);
for (const [name, value] of Object.entries({ size: sizeMb, runs })) {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`--${name}: ${value}`);
}
const PARTS = ["store", "ftps", "tftp"] as const;
const only = new Set((values.only ?? PARTS.join(",")).split(","));
for (const part of only) {
  if (!(PARTS as readonly string[]).includes(part)) {
    throw new RangeError(`--only: ${part} (${PARTS.join(", ")})`);
  }
}
const missingPeers = swiftMissing();
if (missingPeers) throw new Error(`${missingPeers} (install the peers: scripts/peers.ts)`);
if (!existsSync(join(root, "npm/cli.js"))) {
  throw new Error("No npm/cli.js: build it first (deno run -A scripts/build_npm.ts)");
}

const SIZE = sizeMb * 1024 * 1024;
const BUCKET = "ftkit-bench";
const PREFIX = "files";
const USER = "bench";
const PASSWORD = "bench-password";
const BLKSIZES = [1468, 65464] as const;
/** ftkit's part size for uploads (io/s3/upload.ts), which the store's multipart figure uses. */
const PART_SIZE = 8 * 1024 * 1024;
/** How long one transfer may take: 1 MB/s or less counts as stalled. */
const TRANSFER_TIMEOUT_MS = Math.max(120_000, SIZE / 1000);
const ca = join(FIXTURES, "ca.pem");
const bin = (name: string) => join(root, "node_modules/.bin", name);

const RUNTIMES: readonly Runtime[] = ["deno", "bun", "node"];

const median = (numbers: number[]) =>
  [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)];
const mbps = (seconds: number) => SIZE / 1e6 / seconds;
const message = (error: unknown) => String((error as Error)?.message ?? error).slice(0, 300);

/** A server under test: the port it printed, its process, and its results by measure. */
interface Server {
  name: string;
  runtime: Runtime;
  kind: "s3" | "dir";
  child?: Child;
  port: number;
  seconds: Map<string, number[]>;
  error?: string;
  /** Its VmHWM once its runs are done, MB. */
  peakMb?: number;
}

/** Starts `ftkit ARGS` on `runtime`; the port in its first line (" on 127.0.0.1:PORT"). */
async function startServer(
  runtime: Runtime,
  kind: "s3" | "dir",
  label: string,
  args: string[],
): Promise<Server> {
  const server: Server = { name: `${label} ${kind}`, runtime, kind, port: 0, seconds: new Map() };
  const [program, full] = ftkitCommand(runtime, args);
  const child = startChild(program, full);
  try {
    const line = await child.line(60_000);
    const port = Number(/ on 127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
    if (!port) throw new Error(`Unexpected first line: ${line} ${child.stderr()}`);
    server.child = child;
    server.port = port;
  } catch (error) {
    await child.stop();
    server.error = message(error);
  }
  return server;
}

/** One curl run: curl's own seconds (time_total) and the bytes it moved. */
async function curl(args: string[]): Promise<{ seconds: number; bytes: number }> {
  const out = await run(PEER.curl, [
    "-sS",
    "--max-time",
    String(TRANSFER_TIMEOUT_MS / 1000),
    "-w",
    "%{time_total} %{size_download} %{size_upload}",
    ...args,
  ], TRANSFER_TIMEOUT_MS + 10_000);
  const [seconds, down, up] = out.trim().split(" ").map(Number);
  if (!(seconds > 0)) throw new Error(`curl printed "${out.trim()}"`);
  return { seconds, bytes: Math.max(down, up) };
}

/** Records `seconds` under `measure`, once the bytes moved are checked. */
function note(server: Server, measure: string, moved: { seconds: number; bytes: number }) {
  if (moved.bytes !== SIZE) throw new Error(`${measure} moved ${moved.bytes} bytes, not ${SIZE}`);
  const list = server.seconds.get(measure) ?? [];
  list.push(moved.seconds);
  server.seconds.set(measure, list);
}

// --- the run ---

const versions = [
  (await version(bin("deno"), ["--version"])).replace(/ \(.*/, ""),
  `bun ${await version(bin("bun"), ["--version"])}`,
  `node ${await version("node", ["--version"])}`,
  `swift ${await version("dpkg-query", ["-W", "-f", "${Version}", "swift"])}`,
  (await version(PEER.curl, ["--version"])).split(" ").slice(0, 2).join(" "),
];
const cpu = cpus();
const dir = await mkdtemp(join(tmpdir(), "ftkit-bench-s3-"));
const servers: Server[] = [];
let store: SwiftStore | undefined;
const stopAll = async () => {
  for (const server of servers) await server.child?.stop();
  await store?.stop();
  await rm(dir, { recursive: true, force: true });
};
const interrupt = async () => {
  for (const child of running) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  await stopAll();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", interrupt);
Deno.addSignalListener("SIGTERM", interrupt);

try {
  const top = join(dir, "top");
  await mkdir(top, { recursive: true });
  const big = new Uint8Array(SIZE);
  for (let at = 0; at < big.length; at += 65536) {
    crypto.getRandomValues(big.subarray(at, at + 65536));
  }
  const bigPath = join(top, "big.bin");
  await writeFile(bigPath, big);
  const bigHash = createHash("sha256").update(big).digest("hex");

  store = await startSwift();
  await store.createBucket(BUCKET);
  const bucket = new S3Client({
    endpoint: store.endpoint,
    region: store.region,
    bucket: BUCKET,
    credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
  });
  const key = `${PREFIX}/big.bin`;
  // The servers' children read these (the command's credentials come from the environment).
  Deno.env.set("AWS_ACCESS_KEY_ID", store.accessKeyId);
  Deno.env.set("AWS_SECRET_ACCESS_KEY", store.secretAccessKey);
  Deno.env.set("AWS_REGION", store.region);

  console.log(`Runtimes and peers: ${versions.join(", ")}`);
  console.log(
    `Machine: ${cpu.length} x ${cpu[0]?.model ?? "?"}, Linux ${Deno.osRelease()}; load average ` +
      `at start ${loadavg().map((value) => value.toFixed(2)).join(" ")}`,
  );
  console.log(
    `Parameters: --size ${sizeMb} (MiB; MB/s below are 10^6 bytes) --runs ${runs}; loopback; ` +
      `median of the runs after one untimed transfer per server; the store is a single-node ` +
      `Swift with s3api on this machine's disk, as the directory is`,
  );
  console.log();

  /** curl's plain S3 request on the object: signed with curl's --aws-sigv4. */
  const s3Url = (objectKey: string) => {
    const url = new URL(`/${BUCKET}/${objectKey}`, store!.endpoint);
    url.username = encodeURIComponent(store!.accessKeyId);
    url.password = encodeURIComponent(store!.secretAccessKey);
    return url.href;
  };
  const signed = (hash: string) => [
    "--aws-sigv4",
    `aws:amz:${store!.region}:s3`,
    "-H",
    `x-amz-content-sha256: ${hash}`,
    "--fail",
  ];
  const storePut = async (objectKey: string) =>
    await curl([...signed(bigHash), "-T", bigPath, s3Url(objectKey)]);
  const storeGet = async () =>
    await curl([
      ...signed(createHash("sha256").update("").digest("hex")),
      "-o",
      "/dev/null",
      s3Url(key),
    ]);
  await storePut(key);
  if ((await bucket.head(key))?.size !== SIZE) throw new Error("The store did not keep the file");

  // The same file as a multipart upload by curl, parts of ftkit's size sent one at a time as
  // ftkit sends them: what the store gives an upload of unknown size. The parts are cut and
  // hashed before the clock starts.
  const parts: { path: string; hash: string }[] = [];
  for (let at = 0, n = 1; at < SIZE; at += PART_SIZE, n++) {
    const bytes = big.subarray(at, Math.min(SIZE, at + PART_SIZE));
    const path = join(dir, `part-${n}`);
    await writeFile(path, bytes);
    parts.push({ path, hash: createHash("sha256").update(bytes).digest("hex") });
  }
  const emptyHash = createHash("sha256").update("").digest("hex");
  const storeMultipartPut = async (objectKey: string): Promise<number> => {
    const started = performance.now();
    const url = s3Url(objectKey);
    // curl 7.88 signs a bare `?uploads` wrongly; `uploads=` is the same canonical query.
    const created = await run(PEER.curl, [
      "-sS",
      ...signed(emptyHash),
      "-X",
      "POST",
      `${url}?uploads=`,
    ], TRANSFER_TIMEOUT_MS);
    const id = /<UploadId>([^<]+)<\/UploadId>/.exec(created)?.[1];
    if (!id) throw new Error(`No upload id: ${created.slice(0, 200)}`);
    const etags: string[] = [];
    for (const [index, part] of parts.entries()) {
      const headers = await run(PEER.curl, [
        "-sS",
        ...signed(part.hash),
        "-T",
        part.path,
        "-D",
        "-",
        "-o",
        "/dev/null",
        `${url}?partNumber=${index + 1}&uploadId=${encodeURIComponent(id)}`,
      ], TRANSFER_TIMEOUT_MS);
      const etag = /^etag: *(.+?)\r?$/im.exec(headers)?.[1];
      if (!etag) throw new Error(`Part ${index + 1}: no ETag`);
      etags.push(etag);
    }
    const xml = `<CompleteMultipartUpload>${
      etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`)
        .join("")
    }</CompleteMultipartUpload>`;
    const completed = await run(PEER.curl, [
      "-sS",
      ...signed(createHash("sha256").update(xml).digest("hex")),
      "-X",
      "POST",
      "--data-binary",
      xml,
      `${url}?uploadId=${encodeURIComponent(id)}`,
    ], TRANSFER_TIMEOUT_MS);
    if (!completed.includes("<CompleteMultipartUploadResult")) {
      throw new Error(`Complete: ${completed.slice(0, 200)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    if ((await bucket.head(objectKey))?.size !== SIZE) throw new Error("Multipart: another size");
    return seconds;
  };

  const limit = { get: NaN, put: NaN, multipart: NaN };
  if (only.has("store")) {
    await storeGet();
    const got: number[] = [];
    const put: number[] = [];
    const multipart: number[] = [];
    await storeMultipartPut(`${PREFIX}/store-multipart.bin`);
    for (let round = 0; round < runs; round++) {
      const down = await storeGet();
      if (down.bytes !== SIZE) throw new Error(`The store's GET gave ${down.bytes} bytes`);
      got.push(down.seconds);
      const up = await storePut(`${PREFIX}/store-put.bin`);
      if (up.bytes !== SIZE) throw new Error(`The store's PUT sent ${up.bytes} bytes`);
      put.push(up.seconds);
      multipart.push(await storeMultipartPut(`${PREFIX}/store-multipart.bin`));
    }
    await bucket.delete(`${PREFIX}/store-put.bin`);
    await bucket.delete(`${PREFIX}/store-multipart.bin`);
    limit.get = mbps(median(got));
    limit.put = mbps(median(put));
    limit.multipart = mbps(median(multipart));
    console.log(
      `Store (curl --aws-sigv4): GET ${limit.get.toFixed(1)} MB/s, PUT (one request) ` +
        `${limit.put.toFixed(1)} MB/s, multipart PUT (${PART_SIZE >> 20} MiB parts one at a ` +
        `time, a curl per request) ${limit.multipart.toFixed(1)} MB/s`,
    );
    console.log();
  }

  const ratio = (value: number, base: number) =>
    Number.isFinite(value) && Number.isFinite(base) ? `${(value / base).toFixed(2)}x` : "-";
  const rate = (server: Server, measure: string) => {
    const seconds = server.seconds.get(measure);
    return seconds && seconds.length === runs && !server.error ? mbps(median(seconds)) : NaN;
  };
  const fmt = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : "failed");
  /** Stops the servers of a part, noting each one's peak memory first. */
  const finish = async (part: Server[]) => {
    for (const server of part) {
      const peak = server.child && procStatus(server.child.child.pid!)?.VmHWM;
      if (peak) server.peakMb = peak / 1024;
      await server.child?.stop();
    }
  };
  /** Each server measured once per round, in turn; a failure stops that server's runs. */
  const rounds = async (
    part: Server[],
    measure: (server: Server, round: number) => Promise<void>,
  ) => {
    for (let round = -1; round < runs; round++) {
      for (const server of part) {
        if (server.error) continue;
        try {
          await measure(server, round);
        } catch (error) {
          server.error = message(error);
        }
      }
    }
  };

  /** `ftkit COMMAND` on each runtime twice, on the bucket (`bucket` names it) and on the
   * directory, with `common` flags: `[s3, dir]` per runtime. */
  const startPairs = async (command: string[], bucket: string[], common: string[]) => {
    const part: Server[] = [];
    for (const runtime of RUNTIMES) {
      const label = `ftkit/${runtime}`;
      part.push(
        await startServer(runtime, "s3", label, [...command, ...bucket, ...common]),
        await startServer(runtime, "dir", label, [...command, top, ...common]),
      );
    }
    servers.push(...part);
    return part;
  };

  if (only.has("ftps")) {
    const certArgs = ["--cert", join(FIXTURES, "leaf.pem"), "--key", join(FIXTURES, "leaf.key")];
    const common = [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--user",
      `${USER}:${PASSWORD}`,
      ...certArgs,
      "--allow-write",
      "--quiet",
    ];
    const part = await startPairs(["ftps", "serve"], [
      "--storage",
      `s3://${BUCKET}/${PREFIX}`,
      "--s3-endpoint",
      store.endpoint,
    ], common);
    const ftp = [
      "--ssl-reqd",
      "--tlsv1.3",
      "--cacert",
      ca,
      "--ftp-pasv",
      "--user",
      `${USER}:${PASSWORD}`,
    ];
    const stored = async (server: Server, compare: boolean): Promise<void> => {
      if (server.kind === "dir") {
        const path = join(top, "up.bin");
        if ((await stat(path)).size !== SIZE) throw new Error("STOR stored another size");
        if (
          compare && createHash("sha256").update(await readFile(path)).digest("hex") !== bigHash
        ) {
          throw new Error("STOR stored other bytes than were sent");
        }
        return await rm(path);
      }
      const upKey = `${PREFIX}/up.bin`;
      if ((await bucket.head(upKey))?.size !== SIZE) throw new Error("STOR stored another size");
      if (compare) {
        const response = await bucket.get(upKey);
        const hash = createHash("sha256").update(new Uint8Array(await response!.arrayBuffer()));
        if (hash.digest("hex") !== bigHash) {
          throw new Error("STOR stored other bytes than were sent");
        }
      }
      await bucket.delete(upKey);
    };
    await rounds(part, async (server, round) => {
      const url = `ftp://127.0.0.1:${server.port}`;
      const retr = await curl([...ftp, `${url}/big.bin`, "-o", "/dev/null"]);
      if (round >= 0) note(server, "RETR", retr);
      const stor = await curl([...ftp, "-T", bigPath, `${url}/up.bin`]);
      await stored(server, round === -1);
      if (round >= 0) note(server, "STOR", stor);
    });
    await finish(part);
    console.log(
      `FTPS: ${sizeMb} MiB by curl (explicit TLS 1.3, PROT P, EPSV), MB/s; "s3/dir": the bucket ` +
        `to the local directory, "s3/store": to the store's own GET, or multipart PUT (a STOR ` +
        `has no size ahead); peak RSS: the server's VmHWM after its runs`,
    );
    const header = ["server", "RETR s3", "RETR dir", "s3/dir", "s3/store", "STOR s3", "STOR dir"];
    console.log(
      `| ${[...header, "s3/dir", "s3/store", "peak RSS MB s3", "peak RSS MB dir"].join(" | ")} |`,
    );
    console.log(`|${" --- |".repeat(header.length + 4)}`);
    for (const runtime of RUNTIMES) {
      const [s3, local] = part.filter((server) => server.runtime === runtime);
      const cells = [`ftkit/${runtime}`];
      for (const [measure, base] of [["RETR", limit.get], ["STOR", limit.multipart]] as const) {
        const bucketRate = rate(s3, measure);
        const dirRate = rate(local, measure);
        cells.push(
          fmt(bucketRate),
          fmt(dirRate),
          ratio(bucketRate, dirRate),
          ratio(bucketRate, base),
        );
      }
      cells.push(s3.peakMb?.toFixed(1) ?? "-", local.peakMb?.toFixed(1) ?? "-");
      console.log(`| ${cells.join(" | ")} |`);
      for (const server of [s3, local]) {
        if (server.error) console.log(`  ${server.name}: ${server.error}`);
      }
    }
    console.log();
  }

  if (only.has("tftp")) {
    const common = ["--host", "127.0.0.1", "--port", "0", "--quiet"];
    const part = await startPairs(["tftp", "serve"], [
      `s3://${BUCKET}/${PREFIX}`,
      "--s3-endpoint",
      store.endpoint,
    ], common);
    const out = join(dir, "tftp.out");
    await rounds(part, async (server, round) => {
      for (const blksize of BLKSIZES) {
        // TFTP has no size to report back: the file written is checked.
        await rm(out, { force: true });
        const read = await curl([
          "--tftp-blksize",
          String(blksize),
          "-o",
          out,
          `tftp://127.0.0.1:${server.port}/big.bin`,
        ]);
        const bytes = existsSync(out) ? (await stat(out)).size : -1;
        if (
          round === -1 && createHash("sha256").update(await readFile(out)).digest("hex") !== bigHash
        ) {
          throw new Error(`blksize ${blksize}: other bytes than the file's`);
        }
        if (round >= 0) note(server, `blksize ${blksize}`, { seconds: read.seconds, bytes });
      }
    });
    await rm(out, { force: true });
    await finish(part);
    console.log(
      `TFTP: ${sizeMb} MiB read by curl (lock-step), MB/s; ratios as above, to the store's GET; ` +
        "the bucket is served by one thread, the directory by a worker per core (the defaults)",
    );
    console.log(
      "| server | blksize | s3 | dir | s3/dir | s3/store | peak RSS MB s3 | peak RSS MB dir |",
    );
    console.log(`|${" --- |".repeat(8)}`);
    for (const runtime of RUNTIMES) {
      const [s3, local] = part.filter((server) => server.runtime === runtime);
      for (const blksize of BLKSIZES) {
        const bucketRate = rate(s3, `blksize ${blksize}`);
        const dirRate = rate(local, `blksize ${blksize}`);
        const cells = [
          `ftkit/${runtime}`,
          String(blksize),
          fmt(bucketRate),
          fmt(dirRate),
          ratio(bucketRate, dirRate),
          ratio(bucketRate, limit.get),
          s3.peakMb?.toFixed(1) ?? "-",
          local.peakMb?.toFixed(1) ?? "-",
        ];
        console.log(`| ${cells.join(" | ")} |`);
      }
      for (const server of [s3, local]) {
        if (server.error) console.log(`  ${server.name}: ${server.error}`);
      }
    }
    console.log();
  }
} finally {
  await stopAll();
}
