// Runs ftkit's FTPS server for the server benchmark (ftps_server.ts), with session limits the
// command line has no flags for: `<runtime> ftps_server_runner.mjs MODULE ROOT CERT KEY SESSIONS`.
// MODULE is the runtime's entry point (source for Deno and Bun, the npm build for Node). Serves
// ROOT, writable, to "user" ("secret") on 127.0.0.1 (a free port) with up to SESSIONS sessions,
// all from one address if need be; prints one JSON line with the port; stops on SIGTERM, SIGINT
// or the end of its standard input (the benchmark is gone).
import process from "node:process";
import { readFileSync } from "node:fs";

const [module, root, cert, key, sessions] = process.argv.slice(2);
const { serveFtps } = await import(module);
const server = await serveFtps({
  root,
  users: { user: "secret" },
  tls: { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") },
  host: "127.0.0.1",
  port: 0,
  allowWrite: true,
  maxSessions: Number(sessions),
  maxSessionsPerIp: Number(sessions),
  onError: (error) => console.error(`ftkit: ${error.message}`),
});
console.log(JSON.stringify({ port: server.address.port }));
await new Promise((resolve) => {
  process.once("SIGTERM", resolve);
  process.once("SIGINT", resolve);
  process.stdin.on("data", () => {});
  process.stdin.once("end", resolve);
});
await server.close();
process.exit(0);
