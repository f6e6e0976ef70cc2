// ftkit's FTPS server with per-directory permissions, driven by Python's ftplib: each command
// allowed or refused (550) as its directory's rule says, and the MLSD `perm` facts showing the
// same (RFC 3659 section 7.5.5).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { missing, tempDir } from "./_peers.ts";
import { CA_FILE, python, startFtkit } from "./_ftps_clients.ts";

const SCRIPT = String.raw`
import io, json, ssl, sys
from ftplib import FTP_TLS, error_perm

host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ftp = FTP_TLS(context=ssl.create_default_context(cafile=ca), timeout=20)
ftp.connect(host, port)
ftp.login("fred", "secret")
ftp.prot_p()
out = {}

def code(name, run):
    try:
        run()
        out[name] = "ok"
    except error_perm as error:
        out[name] = str(error)

body = lambda: io.BytesIO(b"data\n")
code("RETR /pub/readme.txt", lambda: ftp.retrbinary("RETR /pub/readme.txt", lambda b: None))
code("LIST /pub", lambda: ftp.retrlines("LIST /pub", lambda l: None))
code("STOR /pub/new.txt", lambda: ftp.storbinary("STOR /pub/new.txt", body()))
code("MKD /pub/d", lambda: ftp.mkd("/pub/d"))
code("DELE /pub/readme.txt", lambda: ftp.delete("/pub/readme.txt"))
code("STOR /incoming/up.txt", lambda: ftp.storbinary("STOR /incoming/up.txt", body()))
code("APPE /incoming/up.txt", lambda: ftp.storbinary("APPE /incoming/up.txt", body()))
code("LIST /incoming", lambda: ftp.retrlines("LIST /incoming", lambda l: None))
code("RETR /incoming/up.txt", lambda: ftp.retrbinary("RETR /incoming/up.txt", lambda b: None))
code("DELE /incoming/up.txt", lambda: ftp.delete("/incoming/up.txt"))
code("RNFR /incoming/up.txt", lambda: ftp.rename("/incoming/up.txt", "/incoming/moved.txt"))
code("MKD /team/sub", lambda: ftp.mkd("/team/sub"))
code("STOR /team/sub/a.txt", lambda: ftp.storbinary("STOR /team/sub/a.txt", body()))
code("RNFR /team/sub/a.txt", lambda: ftp.rename("/team/sub/a.txt", "/team/sub/b.txt"))
code("DELE /team/sub/b.txt", lambda: ftp.delete("/team/sub/b.txt"))
code("RMD /team/sub", lambda: ftp.rmd("/team/sub"))
out["perm /"] = {name: facts["perm"] for name, facts in ftp.mlsd("/", facts=["perm"]) if name not in (".", "..")}
out["perm /pub"] = {name: facts["perm"] for name, facts in ftp.mlsd("/pub", facts=["perm"]) if name not in (".", "..")}
ftp.quit()
print(json.dumps(out))
`;

describe("ftkit FTPS server: per-directory permissions (Python's ftplib)", () => {
  const skip = missing("python");

  test("each command allowed or refused as its directory's rule says; perm facts agree", {
    skip,
  }, async () => {
    const dir = await tempDir("ftkit-permissions-");
    try {
      for (const sub of ["pub", "incoming", "team"]) await mkdir(join(dir.path, sub));
      await writeFile(join(dir.path, "pub", "readme.txt"), "hello\n");
      const ftkit = await startFtkit(dir.path, {
        allowOverwrite: true,
        users: {
          fred: {
            password: "secret",
            permissions: {
              "/": ["list", "read"],
              "/incoming": ["write"],
              "/team": "*",
            },
          },
        },
      });
      try {
        const out = await python<Record<string, unknown>>(SCRIPT, [
          "127.0.0.1",
          ftkit.port,
          CA_FILE,
        ]);
        const denied = "550 Permission denied.";
        assert.deepEqual(out, {
          "RETR /pub/readme.txt": "ok",
          "LIST /pub": "ok",
          "STOR /pub/new.txt": denied,
          "MKD /pub/d": denied,
          "DELE /pub/readme.txt": denied,
          "STOR /incoming/up.txt": "ok",
          "APPE /incoming/up.txt": denied,
          "LIST /incoming": denied,
          "RETR /incoming/up.txt": denied,
          "DELE /incoming/up.txt": denied,
          "RNFR /incoming/up.txt": denied,
          "MKD /team/sub": "ok",
          "STOR /team/sub/a.txt": "ok",
          "RNFR /team/sub/a.txt": "ok",
          "DELE /team/sub/b.txt": "ok",
          "RMD /team/sub": "ok",
          // At the top: list and read. incoming: create only (c), entered (e); team: everything
          // inside (c, l, m, p), but not removed or renamed from the top (no d, f).
          "perm /": { pub: "el", incoming: "ce", team: "celmp" },
          "perm /pub": { "readme.txt": "r" },
        });
        assert.deepEqual((await readdir(join(dir.path, "pub"))).sort(), ["readme.txt"]);
        assert.equal(await readFile(join(dir.path, "incoming", "up.txt"), "utf8"), "data\n");
        assert.deepEqual(await readdir(join(dir.path, "team")), []);
      } finally {
        await ftkit.close();
      }
    } finally {
      await dir.remove();
    }
  });
});
