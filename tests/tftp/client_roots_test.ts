// Per-client roots, unique roots, case-insensitive names and backslashes, over real loopback
// sockets on the runtime running the tests: two clients (127.0.0.1 and 127.0.0.2, ftkit's own
// client bound to each) asking one server, and the jail around each root.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  makeTftpApi,
  type ServeTftpOptions,
  TftpTransferError,
  type TftpUdpBind,
} from "../../tftp/mod.ts";
import { runtime } from "../_runtime.ts";
import { tempDir } from "../interop/_peers.ts";

/** The UDP binding of the runtime running the tests. */
async function runtimeBind(): Promise<TftpUdpBind> {
  if (runtime === "deno") return (await import("../../tftp/adapters/deno.ts")).bindUdp;
  if (runtime === "bun") return (await import("../../tftp/adapters/bun.ts")).bindUdp;
  return (await import("../../tftp/adapters/node.ts")).bindUdp;
}

/** Files laid out under the test's directory, by path: content says which one was served. */
const FILES: Record<string, string> = {
  "main/who.txt": "main",
  "main/shared.txt": "shared",
  "main/Boot/X86/WdsNbp.com": "wds",
  "main/BOOT.INI": "BOOT.INI",
  "main/Boot.ini": "Boot.ini",
  "main/boot.ini": "boot.ini",
  "main/127.0.0.1/who.txt": "unique 127.0.0.1",
  "main/::1/who.txt": "unique ::1",
  "main/new/.keep": "",
  "a/who.txt": "a",
  "a/127.0.0.2/who.txt": "unique a 127.0.0.2",
  "b/who.txt": "b",
  "outside/secret.txt": "secret",
  "outside/dir/secret.txt": "secret in dir",
};

/** Links laid out under the test's directory: where each points. */
const LINKS: Record<string, string> = {
  "a/escape.txt": "../outside/secret.txt", // out of every root
  "a/to-main.txt": "../main/who.txt", // into another client's root
  "main/Link": "../outside/dir", // a case match must not lead out
  "main/common": "shared.txt", // inside the root: fine
  "c/127.0.0.1": "../outside/dir", // a unique root that leads out
  "c/127.0.0.2": "../outside/dir/secret.txt", // not a directory: the root is used
  "c/who.txt": "../main/who.txt",
};

describe("TFTP per-client files and Windows names", () => {
  let dir: { path: string; remove(): Promise<void> };
  let bind: TftpUdpBind;
  const at = (path: string) => join(dir.path, path);

  before(async () => {
    dir = await tempDir("ftkit-clients-");
    for (const [path, content] of Object.entries(FILES)) {
      await mkdir(dirname(at(path)), { recursive: true });
      await writeFile(at(path), content);
    }
    for (const [path, target] of Object.entries(LINKS)) {
      await mkdir(dirname(at(path)), { recursive: true });
      await symlink(target, at(path));
    }
    bind = await runtimeBind();
  });

  after(async () => {
    await dir?.remove();
  });

  /** ftkit's client, its socket bound to `local` (127.0.0.1 or 127.0.0.2, or ::1). */
  const client = (local: string) => makeTftpApi((options) => bind({ ...options, host: local }));

  /** Starts a server on the root `main` with `options`, runs `body` with its port, stops it. */
  async function serving(
    options: Partial<ServeTftpOptions>,
    body: (port: number) => Promise<void>,
    host = "127.0.0.1",
  ): Promise<void> {
    const server = await makeTftpApi(bind).serveTftp({
      root: at("main"),
      host,
      port: 0,
      ...options,
    });
    try {
      await body(server.address.port);
    } finally {
      await server.close();
    }
  }

  /** What `local` got for `name`: the content, or the TFTP error code. */
  async function get(port: number, name: string, local = "127.0.0.1"): Promise<string> {
    const server = local.includes(":") ? "::1" : "127.0.0.1";
    try {
      const bytes = await client(local).tftpGet({ host: server, port, remote: name });
      return new TextDecoder().decode(bytes);
    } catch (error) {
      if (!(error instanceof TftpTransferError)) throw error;
      return `error ${error.code}`;
    }
  }

  /** What `local`'s upload of `content` as `name` ended with: "ok" or the TFTP error code. */
  async function put(port: number, name: string, content: string, local = "127.0.0.1") {
    try {
      await client(local).tftpPut(
        { host: "127.0.0.1", port, remote: name },
        new TextEncoder().encode(content),
      );
      return "ok";
    } catch (error) {
      if (!(error instanceof TftpTransferError)) throw error;
      return `error ${error.code}`;
    }
  }

  test("a client root by address: each client gets its own root's file", async () => {
    await serving({ clientRoots: [{ network: "127.0.0.2", root: at("a") }] }, async (port) => {
      assert.equal(await get(port, "who.txt", "127.0.0.1"), "main");
      assert.equal(await get(port, "who.txt", "127.0.0.2"), "a");
      // Only its own root: the main root's files are not there for it.
      assert.equal(await get(port, "shared.txt", "127.0.0.2"), "error 1");
    });
  });

  test("client roots by CIDR: the first network that holds the address wins", async () => {
    const clientRoots = [
      { network: "127.0.0.2/31", root: at("a") },
      { network: "127.0.0.0/8", root: at("b") },
    ];
    await serving({ clientRoots }, async (port) => {
      assert.equal(await get(port, "who.txt", "127.0.0.2"), "a");
      assert.equal(await get(port, "who.txt", "127.0.0.1"), "b");
    });
  });

  test('unmatchedClients "refuse": a client no network holds gets ERROR 2', async () => {
    const options = {
      clientRoots: [{ network: "127.0.0.2/32", root: at("a") }],
      unmatchedClients: "refuse" as const,
    };
    await serving(options, async (port) => {
      assert.equal(await get(port, "who.txt", "127.0.0.1"), "error 2");
      assert.equal(await get(port, "who.txt", "127.0.0.2"), "a");
    });
  });

  test("each client root is a jail of its own: no link or .. leaves it", async () => {
    await serving({ clientRoots: [{ network: "127.0.0.2", root: at("a") }] }, async (port) => {
      for (
        const name of ["escape.txt", "to-main.txt", "../main/who.txt", "../outside/secret.txt"]
      ) {
        assert.equal(await get(port, name, "127.0.0.2"), "error 2", name);
      }
    });
  });

  test("uploads land in the client's root", async () => {
    const options = {
      clientRoots: [{ network: "127.0.0.2", root: at("a") }],
      allowWrite: true,
    };
    await serving(options, async (port) => {
      assert.equal(await put(port, "up-2.txt", "from .2", "127.0.0.2"), "ok");
      assert.equal(await put(port, "up-1.txt", "from .1", "127.0.0.1"), "ok");
      assert.equal(await put(port, "../main/up-x.txt", "x", "127.0.0.2"), "error 2");
    });
    assert.equal(await readFile(at("a/up-2.txt"), "utf8"), "from .2");
    assert.equal(await readFile(at("main/up-1.txt"), "utf8"), "from .1");
    assert.ok(!(await readdir(at("main"))).includes("up-2.txt"));
  });

  test("uniqueRoot: the subdirectory named after the client, when it exists (dnsmasq)", async () => {
    await serving({ uniqueRoot: true }, async (port) => {
      assert.equal(await get(port, "who.txt", "127.0.0.1"), "unique 127.0.0.1");
      // No 127.0.0.2 subdirectory: the root.
      assert.equal(await get(port, "who.txt", "127.0.0.2"), "main");
      // The subdirectory decides, not the file: nothing falls through to the root.
      assert.equal(await get(port, "shared.txt", "127.0.0.1"), "error 1");
      assert.equal(await get(port, "shared.txt", "127.0.0.2"), "shared");
    });
  });

  test("uniqueRoot within client roots, and uploads go to the subdirectory", async () => {
    const options = {
      uniqueRoot: "ip" as const,
      clientRoots: [{ network: "127.0.0.2", root: at("a") }],
      allowWrite: true,
    };
    await serving(options, async (port) => {
      assert.equal(await get(port, "who.txt", "127.0.0.2"), "unique a 127.0.0.2");
      assert.equal(await put(port, "up-unique.txt", "unique", "127.0.0.1"), "ok");
    });
    assert.equal(await readFile(at("main/127.0.0.1/up-unique.txt"), "utf8"), "unique");
  });

  test("uniqueRoot: a subdirectory that is a link out of the root is refused", async () => {
    await serving({ root: at("c"), uniqueRoot: true }, async (port) => {
      assert.equal(await get(port, "secret.txt", "127.0.0.1"), "error 2");
      // A link to a file is not a directory: the root, whose link leads into main (out: refused).
      assert.equal(await get(port, "who.txt", "127.0.0.2"), "error 2");
    });
  });

  test("uniqueRoot over IPv6: the subdirectory ::1", async () => {
    await serving({ uniqueRoot: true }, async (port) => {
      assert.equal(await get(port, "who.txt", "::1"), "unique ::1");
    }, "::1");
  });

  test("caseInsensitive: each component matches whatever its case", async () => {
    await serving({ caseInsensitive: true }, async (port) => {
      assert.equal(await get(port, "boot/x86/wdsnbp.com"), "wds");
      assert.equal(await get(port, "BOOT/X86/WDSNBP.COM"), "wds");
      assert.equal(await get(port, "WHO.TXT"), "main");
      // Spelled as stored: that one; else the first in code-unit order.
      assert.equal(await get(port, "boot.ini"), "boot.ini");
      assert.equal(await get(port, "Boot.ini"), "Boot.ini");
      assert.equal(await get(port, "bOOt.InI"), "BOOT.INI");
      assert.equal(await get(port, "COMMON"), "shared");
      assert.equal(await get(port, "missing.TXT"), "error 1");
    });
    await serving({}, async (port) => {
      assert.equal(await get(port, "boot/x86/wdsnbp.com"), "error 1", "exact by default");
    });
  });

  test("caseInsensitive: a kept listing gives way once its directory changes", async () => {
    await mkdir(at("main/cache"));
    await writeFile(at("main/cache/Listed.TXT"), "listed");
    // Changed long ago: its listing is kept between requests.
    const old = new Date(Date.now() - 60_000);
    await utimes(at("main/cache"), old, old);
    await serving({ caseInsensitive: true }, async (port) => {
      assert.equal(await get(port, "cache/LISTED.txt"), "listed");
      assert.equal(await get(port, "cache/LATER.txt"), "error 1");
      await writeFile(at("main/cache/later.TXT"), "later");
      assert.equal(await get(port, "cache/LATER.txt"), "later");
      await rm(at("main/cache/Listed.TXT"));
      await writeFile(at("main/cache/listed.txt"), "listed again");
      assert.equal(await get(port, "cache/LISTED.TXT"), "listed again");
    });
  });

  test("caseInsensitive: a match that is a link out of the root is refused", async () => {
    await serving({ caseInsensitive: true }, async (port) => {
      assert.equal(await get(port, "link/secret.txt"), "error 2");
      assert.equal(await get(port, "LINK/SECRET.TXT"), "error 2");
    });
  });

  test("caseInsensitive uploads: an existing match is that file; else the name as sent", async () => {
    await serving({ caseInsensitive: true, allowWrite: true }, async (port) => {
      assert.equal(await put(port, "WHO.TXT", "replaced?"), "error 6");
      assert.equal(await put(port, "NEW/Thing.TXT", "thing"), "ok");
    });
    assert.equal(await readFile(at("main/who.txt"), "utf8"), "main");
    assert.deepEqual((await readdir(at("main/new"))).sort(), [".keep", "Thing.TXT"]);
    await serving(
      { caseInsensitive: true, allowWrite: true, allowOverwrite: true },
      async (port) => {
        assert.equal(await put(port, "new/THING.txt", "thing 2"), "ok");
      },
    );
    assert.deepEqual((await readdir(at("main/new"))).sort(), [".keep", "Thing.TXT"]);
    assert.equal(await readFile(at("main/new/Thing.TXT"), "utf8"), "thing 2");
  });

  test('backslashes "slash": Windows names are read with / and still jailed', async () => {
    await serving({ backslashes: "slash" }, async (port) => {
      assert.equal(await get(port, "\\Boot\\X86\\WdsNbp.com"), "wds");
      assert.equal(await get(port, "Boot\\X86/WdsNbp.com"), "wds");
      for (
        const name of [
          "..\\..\\outside\\secret.txt",
          "\\..\\outside\\secret.txt",
          "Boot\\..\\..\\outside\\secret.txt",
          "\\/etc/passwd",
        ]
      ) {
        assert.equal(await get(port, name), "error 2", name);
      }
    });
    await serving({}, async (port) => {
      assert.equal(await get(port, "\\Boot\\X86\\WdsNbp.com"), "error 2", "refused by default");
    });
    await serving({ backslashes: "slash", caseInsensitive: true }, async (port) => {
      assert.equal(await get(port, "\\boot\\x86\\wdsnbp.com"), "wds");
    });
  });

  test("options that are not valid are refused before the server listens", async () => {
    const api = makeTftpApi(bind);
    const base = { root: at("main"), port: 0 };
    await assert.rejects(
      () => api.serveTftp({ ...base, clientRoots: [{ network: "10.0.0.1/8", root: at("a") }] }),
      SyntaxError,
    );
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => api.serveTftp({ ...base, uniqueRoot: "mac" as any }),
      TypeError,
    );
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => api.serveTftp({ ...base, backslashes: "yes" as any }),
      TypeError,
    );
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => api.serveTftp({ ...base, unmatchedClients: "deny" as any }),
      TypeError,
    );
  });
});
