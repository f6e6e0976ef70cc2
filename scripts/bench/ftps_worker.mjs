// Times ftkit's FTPS client: `<runtime> ftps_worker.mjs MODULE TRANSPORT PORT CA RUNS [USER PASS]`.
// MODULE is the runtime's entry point (source for Deno and Bun, the npm build for Node);
// TRANSPORT is "default", "native" (the entry's `transport`) or "node:tls" (Deno's
// `nodeTlsTransport`). Prints one JSON line: seconds per RETR and STOR of pub/big.bin, or the error.
const [module, transport, port, ca, runs, user, password] = globalThis.Deno?.args ??
  process.argv.slice(2);
const entry = await import(module);
const { readFileSync } = await import("node:fs");
const result = { get: [], put: [] };
try {
  const options = {
    host: "127.0.0.1",
    port: Number(port),
    ca: readFileSync(ca, "utf8"),
    servername: "localhost",
    timeoutMs: 60_000,
    ...(user && user !== "anonymous" ? { user, password } : {}),
  };
  const client = transport === "default"
    ? await entry.connectFtps(options)
    : await entry.FtpsClient.connect({
      ...options,
      transport: transport === "node:tls" ? entry.nodeTlsTransport : entry.transport,
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
  result.error = String(error?.message ?? error).slice(0, 160);
}
console.log(JSON.stringify(result));
