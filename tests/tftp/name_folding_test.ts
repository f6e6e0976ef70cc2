// Names from Windows clients, read before the path jail: backslashes as separators, letters in
// any case; and the directory name of a client's unique root. Pure: no file is touched.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { foldAsciiCase, foldedIndex, slashBackslashes } from "../../tftp/_name_folding.ts";
import { tftpPathComponents, TftpRequestError } from "../../tftp/mod.ts";
import { ipAddressText, parseIpAddress } from "../../io/cidr.ts";

describe("backslashes read as slashes", () => {
  test("a WDS name is a name in the root", () => {
    assert.equal(slashBackslashes("\\boot\\x86\\wdsnbp.com"), "boot/x86/wdsnbp.com");
    assert.equal(slashBackslashes("\\\\boot\\pxeboot.n12"), "boot/pxeboot.n12");
    assert.equal(slashBackslashes("pxelinux.cfg\\default"), "pxelinux.cfg/default");
    assert.equal(slashBackslashes("mixed/path\\name"), "mixed/path/name");
  });

  test("a leading slash stays: the rule for absolute names still applies", () => {
    assert.equal(slashBackslashes("/etc\\passwd"), "/etc/passwd");
    assert.equal(slashBackslashes("\\/etc/passwd"), "/etc/passwd");
    assert.throws(() => tftpPathComponents(slashBackslashes("\\/etc/passwd"), false), {
      code: 2,
    });
  });

  for (
    const name of [
      "..\\..\\etc\\passwd",
      "\\..\\x",
      "boot\\..\\..\\x",
      "boot\\.\\x",
      "boot\\\\x", // an empty component
      "\\C:\\x",
      "\\NUL",
    ]
  ) {
    test(`${JSON.stringify(name)} is still refused once converted`, () => {
      assert.throws(
        () => tftpPathComponents(slashBackslashes(name), false),
        (error: unknown) => error instanceof TftpRequestError && error.code === 2,
      );
    });
  }
});

describe("names whatever their ASCII case", () => {
  test("only ASCII capitals are folded", () => {
    assert.equal(foldAsciiCase("BootMGR.EXE"), "bootmgr.exe");
    // The Kelvin sign and the dotted capital I are not ASCII: they stay, and match nothing else.
    assert.equal(foldAsciiCase("\u212A\u0130"), "\u212A\u0130");
  });

  test("of entries equal but for case, the first in code-unit order, whatever the listing's", () => {
    for (
      const entries of [
        ["boot.ini", "Boot.ini", "BOOT.INI"],
        ["BOOT.INI", "boot.ini", "Boot.ini"],
        ["Boot.ini", "BOOT.INI", "boot.ini"],
      ]
    ) {
      assert.equal(foldedIndex(entries).get(foldAsciiCase("bOOT.iNI")), "BOOT.INI");
      const two = entries.filter((entry) => entry !== "BOOT.INI");
      assert.equal(foldedIndex(two).get(foldAsciiCase("bOOT.iNI")), "Boot.ini");
    }
  });

  test("nothing else matches", () => {
    const index = foldedIndex(["boot.ini", "boot.in", "boot.inix", "k"]);
    assert.deepEqual([...index.keys()].sort(), ["boot.in", "boot.ini", "boot.inix", "k"]);
    assert.equal(index.get(foldAsciiCase("BOOT.IN_")), undefined);
    assert.equal(index.get(foldAsciiCase("\u212A")), undefined);
    assert.equal(foldedIndex([]).size, 0);
  });
});

describe("the directory name of a client's unique root", () => {
  for (
    const [address, name] of [
      ["10.0.0.7", "10.0.0.7"],
      ["::ffff:10.0.0.7", "10.0.0.7"],
      ["::1", "::1"],
      ["::", "::"],
      ["FD00:0:0:0:0:0:0:7", "fd00::7"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["fe80::1%eth0", "fe80::1"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
      ["0:0:1:2:3:4:5:6", "::1:2:3:4:5:6"],
      ["1:2:3:4:5:6:0:0", "1:2:3:4:5:6::"],
    ]
  ) {
    test(`${address} is ${name} (RFC 5952 section 4)`, () => {
      assert.equal(ipAddressText(parseIpAddress(address)), name);
    });
  }
});
