// Times ftkit's FTPS client:
// `<runtime> ftps_worker.mjs MODULE TRANSPORT PORT CA RUNS LOCAL OUT [USER PASS]`.
// MODULE is the runtime's entry point (source for Deno and Bun, the npm build for Node);
// TRANSPORT is "default" (connectFtps), "native" (the entry's `transport`) or "node:tls" (Deno's
// `nodeTlsTransport`). Each run is timed as curl's is: connect, log in, then RETR pub/big.bin to
// the file OUT (getFile), or STOR the file LOCAL to pub/up.bin (putFile), and close. Prints one
// JSON line: seconds per RETR and STOR, whether every data connection resumed, or the error.
const [module, transport, port, ca, runs, local, out, user, password] = globalThis.Deno?.args ??
  process.argv.slice(2);
const entry = await import(module);
const { readFileSync } = await import("node:fs");
const result = { get: [], put: [], resumed: true };
const options = {
  host: "127.0.0.1",
  port: Number(port),
  ca: readFileSync(ca, "utf8"),
  servername: "localhost",
  timeoutMs: 60_000,
  ...(user && user !== "anonymous" ? { user, password } : {}),
};
const connect = () =>
  transport === "default" ? entry.connectFtps(options) : entry.FtpsClient.connect({
    ...options,
    transport: transport === "node:tls" ? entry.nodeTlsTransport : entry.transport,
  });
/** Seconds to connect, log in, run `work`, and close. */
async function timed(work) {
  const start = performance.now();
  const client = await connect();
  try {
    await work(client);
    result.resumed &&= client.lastTransfer?.resumed === true;
  } finally {
    await client.close();
  }
  return (performance.now() - start) / 1000;
}
try {
  for (let i = 0; i < Number(runs); i++) {
    result.get.push(await timed((client) => client.getFile("pub/big.bin", out)));
    result.put.push(await timed((client) => client.putFile(local, "pub/up.bin")));
  }
} catch (error) {
  result.error = String(error?.message ?? error).slice(0, 160);
}
console.log(JSON.stringify(result));
