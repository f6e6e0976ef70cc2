// Times ftkit's FTPS client: `<runtime> ftps_worker.mjs MODULE PORT CA RUNS`. MODULE is the
// runtime's entry point (source for Deno and Bun, the npm build for Node). Prints one JSON line:
// seconds per RETR and STOR of pub/big.bin, or the error.
const [module, port, ca, runs] = globalThis.Deno?.args ?? process.argv.slice(2);
const { connectFtps } = await import(module);
const { readFileSync } = await import("node:fs");
const result = { get: [], put: [] };
try {
  const client = await connectFtps({
    host: "127.0.0.1",
    port: Number(port),
    ca: readFileSync(ca, "utf8"),
    servername: "localhost",
    timeoutMs: 60_000,
  });
  for (let i = 0; i < Number(runs); i++) {
    let start = performance.now();
    const bytes = await client.get("pub/big.bin");
    result.get.push((performance.now() - start) / 1000);
    start = performance.now();
    await client.put("pub/up.bin", bytes);
    result.put.push((performance.now() - start) / 1000);
  }
  await client.close();
} catch (error) {
  result.error = String(error?.message ?? error).slice(0, 120);
}
console.log(JSON.stringify(result));
