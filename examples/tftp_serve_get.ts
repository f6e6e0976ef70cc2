/**
 * Serve a directory over TFTP on loopback, fetch a file from it into memory and into a local
 * file, and upload one. In your own code import from "ftkit" (npm) or "@ftkit/ftkit" (JSR)
 * instead of "../mod.ts".
 *
 *     deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env examples/tftp_serve_get.ts
 *     bun examples/tftp_serve_get.ts
 *     node npm/examples/tftp_serve_get.js        (after the npm build)
 *
 * @module
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { serveTftp, tftpGet, tftpGetFile, tftpPut } from "../mod.ts";

/** Runs the example, printing what it does line by line. */
export async function main(print: (line: string) => void = console.log): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "ftkit-example-"));
  try {
    await writeFile(join(dir, "pxelinux.cfg"), "DEFAULT linux\n");
    // Loopback is the default; netboot would pass host: "0.0.0.0" and port: 69.
    await using server = await serveTftp({ root: dir, port: 0, allowWrite: true });
    const at = { host: "127.0.0.1", port: server.address.port };
    print(`serving ${dir} on ${at.host}:${at.port}`);

    const config = await tftpGet({ ...at, remote: "pxelinux.cfg" });
    print(`got pxelinux.cfg: ${JSON.stringify(new TextDecoder().decode(config))}`);

    const local = join(dir, "copy.cfg");
    const result = await tftpGetFile({ ...at, remote: "pxelinux.cfg", blksize: 1468 }, local);
    print(`saved ${result.bytes} bytes to copy.cfg (blksize ${result.blksize})`);

    await tftpPut({ ...at, remote: "r1.cfg" }, new TextEncoder().encode("hostname r1\n"));
    print(`uploaded r1.cfg: ${JSON.stringify(await readFile(join(dir, "r1.cfg"), "utf8"))}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Run when started as a script (not when imported, as the tests do).
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
