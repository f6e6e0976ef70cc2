// The login a .netrc file gives a host when no user is named, as curl and lftp read it: the first
// `machine` entry for the host that names a login, else the `default` entry's, with its password.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { netrcLogin, netrcPassword } from "../../cli/password.ts";

describe("netrc login lookup", () => {
  const netrc = [
    "# comments and macros are skipped",
    "machine example.com login alice password a1",
    "macdef init",
    "machine ftp.test login mallory password m1",
    "",
    "machine FTP.test password no-login-here",
    'machine ftp.test login fred password "f r e d" account acct',
    "machine ftp.test login george password g1",
    "machine nopass.test login nina",
    "default login anonymous password guest@",
  ].join("\n");

  test("the first entry for the host with a login, names matched without case", () => {
    assert.deepEqual(netrcLogin(netrc, "ftp.TEST"), { login: "fred", password: "f r e d" });
    assert.deepEqual(netrcLogin(netrc, "example.com"), { login: "alice", password: "a1" });
  });

  test("a login without a password, then the default entry, then nothing", () => {
    assert.deepEqual(netrcLogin(netrc, "nopass.test"), { login: "nina" });
    assert.deepEqual(netrcLogin(netrc, "other.test"), { login: "anonymous", password: "guest@" });
    assert.equal(netrcLogin("machine a login b password c", "other.test"), undefined);
    assert.equal(netrcLogin("default password only", "other.test"), undefined);
    assert.equal(netrcLogin("", "ftp.test"), undefined);
  });

  test("the password lookup for a named user is unchanged", () => {
    // The entry that names no login comes first: it fits every user.
    assert.equal(netrcPassword(netrc, "ftp.test", "george"), "no-login-here");
    assert.equal(netrcPassword(netrc, "example.com", "alice"), "a1");
    assert.equal(netrcPassword(netrc, "example.com", "zoe"), undefined);
    assert.equal(netrcPassword(netrc, "other.test", "anonymous"), "guest@");
  });
});
