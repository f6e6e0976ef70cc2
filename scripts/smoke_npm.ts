/**
 * The npm tarball smoke test: packs `npm/`, installs the tarball into an empty project, checks that
 * every source map and every map reference in it resolves to a file of the tarball, imports it
 * with Node and with Bun (the root module's functions serve and fetch over TFTP and FTPS on
 * loopback, each on the runtime's own adapter), runs its `ftkit` bin, and type-checks a consumer
 * file with `tsc`.
 *
 * Usage: deno run -A scripts/smoke_npm.ts (after scripts/build_npm.ts)
 *
 * @module
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./_run.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

const consumerJs = `
import assert from "node:assert/strict";
import {
  connectFtps, createFtpsCertificate, decodeTftpPacket, encodeTftpPacket, serveFtps, serveTftp, tftpGet,
} from "ftkit";
import * as codec from "ftkit/codec";
import * as tftpModule from "ftkit/tftp";
import * as ftpsModule from "ftkit/ftps";
import * as tftpOnNode from "ftkit/tftp/node";
import * as ftpsOnNode from "ftkit/ftps/node";
const { TftpClientTransfer } = tftpModule;

const bytes = encodeTftpPacket({ type: "rrq", filename: "pxelinux.0", mode: "octet", options: { blksize: 1468 } });
assert.deepEqual(codec.decodeTftpPacket(bytes), {
  type: "rrq", filename: "pxelinux.0", mode: "octet", options: { blksize: 1468 },
});
assert.throws(() => decodeTftpPacket(new Uint8Array([0, 9])), codec.TftpDecodeError);
const client = new TftpClientTransfer({ type: "rrq", filename: "a", server: { address: "127.0.0.1", port: 69 } });
client.start(0);
assert.equal(client.pollTransmit().to.port, 69);

// The root module's functions pick the runtime's adapter: a TFTP get and an FTPS get on loopback.
const hello = new TextEncoder().encode("hello\\n");
const tftpServer = await serveTftp({ host: "127.0.0.1", port: 0, handler: { read: async () => hello } });
try {
  const bytes = await tftpGet({ host: "127.0.0.1", port: tftpServer.address.port, remote: "hello" });
  assert.equal(new TextDecoder().decode(bytes), "hello\\n");
} finally {
  await tftpServer.close();
}
const certificate = await createFtpsCertificate();
const ftpsServer = await serveFtps({
  root: ".",
  users: { fred: "secret" },
  tls: { cert: certificate.certPem, key: certificate.keyPem },
  host: "127.0.0.1",
  port: 0,
});
try {
  const client = await connectFtps({
    host: "127.0.0.1", port: ftpsServer.address.port, user: "fred", password: "secret", ca: certificate.caPem,
  });
  try {
    const manifest = JSON.parse(new TextDecoder().decode(await client.get("package.json")));
    assert.equal(manifest.name, "consumer");
  } finally {
    await client.close();
  }
} finally {
  await ftpsServer.close();
}
// The protocol modules export the same functions; the per-runtime subpaths stay.
assert.equal(tftpModule.tftpGet, tftpGet);
assert.equal(ftpsModule.connectFtps, connectFtps);
assert.equal(typeof tftpOnNode.tftpGet, "function");
assert.equal(typeof ftpsOnNode.connectFtps, "function");
console.log(\`import ok (\${"Bun" in globalThis ? "bun" : "node"})\`);
`;

const consumerTs = `
import { decodeTftpPacket, encodeTftpPacket, type TftpPacket } from "ftkit";
import { NetasciiEncoder, TftpErrorCode, type TftpOptions } from "ftkit/codec";
import {
  connectFtps,
  type FtpsClient,
  type FtpsServer,
  serveTftp,
  tftpGet,
  type TftpClientResult,
  type TftpServer,
} from "ftkit";
import { TftpServerEndpoint, tftpGetFile, type TftpTransferEvent } from "ftkit/tftp";
import { serveFtps } from "ftkit/ftps";
import { tftpGet as tftpGetOnNode } from "ftkit/tftp/node";

const packet: TftpPacket = decodeTftpPacket(new Uint8Array([0, 4, 0, 1]));
if (packet.type === "ack") {
  const block: number = packet.block;
  void block;
}
const options: TftpOptions = { blksize: 1468, windowsize: 4 };
const wire: Uint8Array = encodeTftpPacket({ type: "oack", options });
const code: 8 = TftpErrorCode.OptionNegotiation;
const encoded: Uint8Array = new NetasciiEncoder().encode(wire);
void code;
void encoded;
const endpoint = new TftpServerEndpoint({ maxBlksize: 1468 });
const event: TftpTransferEvent | undefined = endpoint.accept(0, endpoint.handleDatagram(0, wire, { address: "::1", port: 1 })!)?.pollEvent();
void event;

// The root module's server and client functions, typed as the protocol modules and the
// per-runtime subpaths type them.
export async function fetchBoth(ca: string): Promise<[Uint8Array, Uint8Array]> {
  const server: TftpServer = await serveTftp({ root: ".", host: "127.0.0.1", port: 0 });
  const at = { host: "127.0.0.1", port: server.address.port };
  const result: TftpClientResult = await tftpGetFile({ ...at, remote: "a" }, "a.copy");
  void result;
  const bytes: Uint8Array = await tftpGet({ ...at, remote: "a" });
  const viaNode: Uint8Array = await tftpGetOnNode({ ...at, remote: "a" });
  await server.close();
  const ftps: FtpsServer = await serveFtps({ root: ".", host: "127.0.0.1", port: 0 });
  const client: FtpsClient = await connectFtps({ host: "127.0.0.1", port: ftps.address.port, ca });
  const fetched: Uint8Array = await client.get("a");
  await client.close();
  await ftps.close();
  // @ts-expect-error connectFtps picks the transport itself
  await connectFtps({ host: "127.0.0.1", transport: undefined });
  void viaNode;
  return [bytes, fetched];
}

// The types are real: these must not compile.
// @ts-expect-error an ACK needs a block number
encodeTftpPacket({ type: "ack" });
// @ts-expect-error rollover is 0 or 1
const badOptions: TftpOptions = { rollover: 2 };
void badOptions;
`;

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    // What a TypeScript project on Node, Deno or Bun has: web streams (DOM or the runtime's types)
    // and explicit resource management.
    lib: ["ES2022", "DOM", "ESNext.Disposable"],
    types: [],
    strict: true,
    noEmit: true,
  },
  files: ["consumer.ts"],
};

/** Runs the smoke test against the built package in `packageDir`. Throws on any failure. */
export async function smokeNpm(packageDir = join(root, "npm")): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "ftkit-smoke-"));
  try {
    const { output } = await run(
      ["npm", "pack", "--json", "--pack-destination", work],
      { cwd: packageDir, capture: true, timeoutMs: 120_000 },
    );
    const [packed] = JSON.parse(output.slice(output.indexOf("[")));
    const paths: string[] = packed.files.map((file: { path: string }) => file.path);
    for (
      const required of [
        "package.json",
        "mod.js",
        "mod.d.ts",
        "codec/mod.js",
        "tftp/mod.js",
        "tftp/adapters/auto.js",
        "ftps/adapters/auto.js",
        "cli.js",
        "cli/main.js",
        "README.md",
        "CHANGELOG.md",
        "SECURITY.md",
        "LICENSE",
        "src/mod.ts",
      ]
    ) {
      if (!paths.includes(required)) throw new Error(`Tarball lacks ${required}`);
    }
    // TypeScript sources only under src/ (beside a .d.ts, TypeScript would compile them).
    const stray = paths.filter((path) =>
      path.startsWith("tests/") ||
      path.endsWith(".ts") && !path.endsWith(".d.ts") && !path.startsWith("src/") ||
      path.startsWith("src/") && !path.endsWith(".ts")
    );
    if (stray.length > 0) throw new Error(`Tarball holds files it should not: ${stray.join(", ")}`);
    console.log(`packed ${packed.filename}: ${paths.length} files, ${packed.size} bytes`);

    const project = join(work, "consumer");
    await run(["mkdir", "-p", project]);
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    await run(
      ["npm", "install", "--no-audit", "--no-fund", "--offline", join(work, packed.filename)],
      { cwd: project, timeoutMs: 120_000 },
    );
    await checkSourceMaps(join(project, "node_modules", "ftkit"), paths);
    await writeFile(join(project, "consumer.mjs"), consumerJs);
    await run(["node", "consumer.mjs"], { cwd: project, timeoutMs: 60_000 });
    await run([join(root, "node_modules/.bin/bun"), "consumer.mjs"], {
      cwd: project,
      timeoutMs: 60_000,
    });

    const bin = await run(
      [join(project, "node_modules/.bin/ftkit"), "tftp", "decode", "000400ff"],
      { cwd: project, capture: true, timeoutMs: 60_000 },
    );
    if (JSON.parse(bin.output).block !== 255) throw new Error(`ftkit bin printed ${bin.output}`);
    console.log("bin ok");

    await writeFile(join(project, "consumer.ts"), consumerTs);
    await writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    await run([join(root, "node_modules/.bin/tsc"), "-p", "tsconfig.json"], {
      cwd: project,
      timeoutMs: 120_000,
    });
    console.log("types ok");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Checks, in the installed package at `dir` whose files are `paths`, that each `.js` and `.d.ts`
 * that names a source map names one of the package, and that every `sources` entry of every map
 * is a file of the package. Throws with the broken references.
 */
async function checkSourceMaps(dir: string, paths: readonly string[]): Promise<void> {
  const shipped = new Set(paths);
  const broken: string[] = [];
  let maps = 0;
  let sources = 0;
  for (const path of paths) {
    const at = posix.dirname(path);
    if (path.endsWith(".map")) {
      maps++;
      const map = JSON.parse(await readFile(join(dir, path), "utf8"));
      for (const source of map.sources as string[]) {
        sources++;
        const target = posix.normalize(posix.join(at, map.sourceRoot ?? "", source));
        if (!shipped.has(target)) broken.push(`${path}: ${source}`);
      }
    } else if (path.endsWith(".js") || path.endsWith(".d.ts")) {
      const text = await readFile(join(dir, path), "utf8");
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1];
      if (url !== undefined && !shipped.has(posix.normalize(posix.join(at, url)))) {
        broken.push(`${path}: ${url}`);
      }
    }
  }
  if (broken.length > 0) {
    throw new Error(`Source maps name files the tarball lacks:\n${broken.join("\n")}`);
  }
  if (maps === 0) throw new Error("No source map in the tarball: drop this check with the maps");
  console.log(`source maps ok: ${maps} maps, ${sources} sources, all in the tarball`);
}

if (import.meta.main) {
  await smokeNpm();
}
