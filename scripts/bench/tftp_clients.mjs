// ftkit's own TFTP client reading one file N times at once from one process: the client half of
// the benchmark's concurrent reads (curl runs a process per read; a service that fetches many
// files runs one process). Prints one JSON line: seconds, how many reads came back whole, and the
// failures' messages (the first few).
//
// Usage: node|bun|deno run -A scripts/bench/tftp_clients.mjs MODULE PORT FILE SIZE COUNT BLKSIZE
//   MODULE: the ftkit module to load (mod.ts on Deno and Bun, npm/mod.js on Node).

import process from "node:process";
import { pathToFileURL } from "node:url";

const [module, port, remote, size, count, blksize] = process.argv.slice(2);
const { tftpGet } = await import(pathToFileURL(module).href);
const start = performance.now();
const failures = [];
let ok = 0;
await Promise.all(Array.from({ length: Number(count) }, async () => {
  try {
    const bytes = await tftpGet({
      host: "127.0.0.1",
      port: Number(port),
      remote,
      blksize: Number(blksize),
    });
    if (bytes.length === Number(size)) ok++;
    else failures.push(`${bytes.length} bytes`);
  } catch (error) {
    failures.push(String(error?.message ?? error));
  }
}));
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ seconds, ok, failures: failures.slice(0, 5) }));
