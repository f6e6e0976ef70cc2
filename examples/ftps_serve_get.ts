/**
 * Serve a directory over FTPS (explicit TLS) on loopback with a certificate made for the run,
 * then connect with the server's CA, list, download and upload. In your own code import from
 * "ftkit" (npm) or "@ftkit/ftkit" (JSR) instead of "../mod.ts".
 *
 *     deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env examples/ftps_serve_get.ts
 *     bun examples/ftps_serve_get.ts
 *     node npm/examples/ftps_serve_get.js        (after the npm build)
 *
 * @module
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connectFtps, createFtpsCertificate, serveFtps } from "../mod.ts";

/** Runs the example, printing what it does line by line. */
export async function main(print: (line: string) => void = console.log): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "ftkit-example-"));
  try {
    await writeFile(join(dir, "firmware.bin"), new Uint8Array(100_000).fill(7));
    // A CA and a server certificate for localhost/127.0.0.1; clients trust the CA (caPem).
    const certificate = await createFtpsCertificate();
    await using server = await serveFtps({
      root: dir,
      allowWrite: true,
      users: { fred: "secret" },
      tls: { cert: certificate.certPem, key: certificate.keyPem },
      port: 0, // loopback unless a host is given
    });
    print(`serving ${dir} on 127.0.0.1:${server.address.port}`);

    await using client = await connectFtps({
      host: "127.0.0.1",
      port: server.address.port,
      user: "fred",
      password: "secret",
      ca: certificate.caPem, // what a client needs to verify the server
    });
    const names = (await client.list()).map((entry) => entry.name);
    print(`listed: ${names.join(", ")}`);
    const firmware = await client.get("firmware.bin");
    print(`got firmware.bin: ${firmware.length} bytes, TLS ${client.lastTransfer?.tls}`);
    await client.put("r1.cfg", "hostname r1\n");
    print(`uploaded r1.cfg: ${JSON.stringify(await readFile(join(dir, "r1.cfg"), "utf8"))}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Run when started as a script (not when imported, as the tests do).
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
