// Per-directory permissions (ftps/permissions.ts): the rules, their inheritance, and the storage
// that enforces them, over a storage that records what reaches it.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  checkFtpsPermissions,
  ftpPermissionStorage,
  type FtpsDirectoryPermissions,
  ftpsPermissionsAt,
  type FtpStorage,
  FtpStorageError,
} from "../../ftps/mod.ts";

/** A storage that does nothing but note each call that reaches it. */
function recording(): { storage: FtpStorage; calls: string[] } {
  const calls: string[] = [];
  const stream = { write: async () => {}, commit: async () => {}, abort: async () => {} };
  const note = (call: string) => {
    calls.push(call);
    return Promise.resolve();
  };
  const storage: FtpStorage = {
    stat: (path) =>
      note(`stat ${path}`).then(() => ({ type: "file", size: 0, modified: new Date(0) })),
    list: (path) => note(`list ${path}`).then(() => []),
    read: (path) =>
      note(`read ${path}`).then(() => ({
        read: () => Promise.resolve(null),
        close: async () => {},
      })),
    write: (path, options) =>
      note(`write ${path} ${options.offset} ${options.append}`).then(() => stream),
    writeUnique: (directory) =>
      note(`writeUnique ${directory}`).then(() => ({ path: `${directory}/u`, stream })),
    mkdir: (path) => note(`mkdir ${path}`),
    rmdir: (path) => note(`rmdir ${path}`),
    delete: (path) => note(`delete ${path}`),
    rename: (from, to) => note(`rename ${from} ${to}`),
    setModified: (path) => note(`setModified ${path}`),
    chmod: (path) => note(`chmod ${path}`),
  };
  return { storage, calls };
}

const RULES: FtpsDirectoryPermissions = {
  "/": ["list", "read"],
  "/incoming": ["write"],
  "/incoming/team": "*",
  "/archive": [],
};

describe("per-directory permissions", () => {
  test("a directory has its own rule, or its nearest ancestor's; none at all allows everything", () => {
    assert.deepEqual([...ftpsPermissionsAt(RULES, "/")], ["list", "read"]);
    assert.deepEqual([...ftpsPermissionsAt(RULES, "/pub/linux")], ["list", "read"]);
    assert.deepEqual([...ftpsPermissionsAt(RULES, "/incoming/2026/12")], ["write"]);
    assert.equal(ftpsPermissionsAt(RULES, "/incoming/team/x").size, 8);
    assert.equal(ftpsPermissionsAt(RULES, "/archive/old").size, 0);
    // A prefix that is not a whole component is another directory.
    assert.deepEqual([...ftpsPermissionsAt(RULES, "/incomingx")], ["list", "read"]);
    assert.equal(ftpsPermissionsAt({}, "/any").size, 8);
  });

  test("rules are checked: absolute, normalized directories and known permissions", () => {
    checkFtpsPermissions(RULES);
    for (const bad of ["incoming", "/incoming/", "/a//b", "/a/../b", "/./a", ""]) {
      assert.throws(() => checkFtpsPermissions({ [bad]: ["list"] }), TypeError, bad);
    }
    assert.throws(
      () => checkFtpsPermissions({ "/": ["list", "upload" as "write"] }),
      /unknown permission 'upload'/,
    );
    assert.throws(() => checkFtpsPermissions({ "/": "all" as "*" }), TypeError);
  });

  test("the storage refuses with 550 what the rules do not allow, and passes the rest on", async () => {
    const { storage, calls } = recording();
    const ruled = ftpPermissionStorage(storage, RULES);
    const refused = async (what: Promise<unknown>, name: string) => {
      await assert.rejects(what, (error) => {
        assert.ok(error instanceof FtpStorageError, name);
        assert.equal(error.code, 550, name);
        assert.equal(error.message, "Permission denied.", name);
        return true;
      });
    };
    // The top: list and read only.
    await ruled.list("/");
    await ruled.read("/f", 0);
    await refused(ruled.write("/f", { offset: 0, append: false }), "STOR at the top");
    await refused(ruled.mkdir("/d"), "MKD at the top");
    await refused(ruled.delete("/f"), "DELE at the top");
    // A drop box: uploads, nothing else (no APPE nor REST+STOR, no listing, no reading back).
    await ruled.write("/incoming/a", { offset: 0, append: false });
    await ruled.writeUnique("/incoming");
    await refused(ruled.write("/incoming/a", { offset: 0, append: true }), "APPE");
    await refused(ruled.write("/incoming/a", { offset: 5, append: false }), "REST+STOR");
    await refused(ruled.list("/incoming"), "LIST");
    await refused(ruled.read("/incoming/a", 0), "RETR");
    await refused(ruled.rename("/incoming/a", "/incoming/b"), "RNTO");
    await ruled.setModified!("/incoming/a", new Date(0));
    // Everything below /incoming/team; a rename needs both ends.
    await ruled.rmdir("/incoming/team/old");
    await ruled.rename("/incoming/team/a", "/incoming/team/b");
    await refused(ruled.rename("/incoming/team/a", "/incoming/a"), "a rename out of team");
    // Nothing at all in /archive, but SIZE, MDTM and MLST of a path stay allowed.
    await refused(ruled.list("/archive"), "LIST /archive");
    await refused(ruled.chmod!("/archive/x", 0o600), "SITE CHMOD");
    await ruled.stat("/archive/x");
    assert.deepEqual(calls, [
      "list /",
      "read /f",
      "write /incoming/a 0 false",
      "writeUnique /incoming",
      "setModified /incoming/a",
      "rmdir /incoming/team/old",
      "rename /incoming/team/a /incoming/team/b",
      "stat /archive/x",
    ]);
  });

  test("a storage without MFMT or SITE CHMOD gets none through the rules either", () => {
    const { storage } = recording();
    delete storage.setModified;
    delete storage.chmod;
    const ruled = ftpPermissionStorage(storage, RULES);
    assert.equal(ruled.setModified, undefined);
    assert.equal(ruled.chmod, undefined);
  });
});
