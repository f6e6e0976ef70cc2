// tftp-hpa remap rule files: the POSIX ERE translator, the parser, and each flag and
// substitution of the engine (tftpd.8, tftpd/remap.c of tftp-hpa 5.2).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  applyTftpMapRules,
  parseTftpMapFile,
  posixExec,
  PosixRegexError,
  posixRegExp,
  TFTP_MAP_MAX_STEPS,
  TftpMapFileError,
  type TftpMapRequest,
} from "../../tftp/mod.ts";

const GET4: TftpMapRequest = { type: "rrq", address: "192.168.1.10" };
const PUT4: TftpMapRequest = { type: "wrq", address: "192.168.1.10" };
const GET6: TftpMapRequest = { type: "rrq", address: "2001:db8::1" };

/** The name the rules make of `name`, or `deny: MESSAGE`. */
function run(file: string, name: string, request: TftpMapRequest = GET4): string {
  const result = applyTftpMapRules(parseTftpMapFile(file), name, request);
  return result.type === "name" ? result.filename : `deny: ${result.message}`;
}

describe("posixRegExp", () => {
  const cases: [string, string, string | null][] = [
    ["^[[:digit:]]+$", "0123", "0123"],
    ["^[[:digit:]]+$", "01a", null],
    ["[[:upper:][:digit:]]+", "abC9d", "C9"],
    ["[[:alpha:]_-]+", "1ab_-c2", "ab_-c"],
    ["[]a]+", "x]a]y", "]a]"],
    ["[^]a]+", "]]bc", "bc"],
    ["[a\\]+", "x\\a", "\\a"],
    ["a.c", "a/c", "a/c"],
    ["a\\.c", "abc", null],
    ["(ab|cd)+$", "xabcd", "abcd"],
    ["^x{2,3}", "xxxx", "xxx"],
    ["a{2}b", "aab", "aab"],
    ["\\d", "d", "d"],
    ["(a)\\1", "aa", "aa"],
    ["\\w+", "--ab_1--", "ab_1"],
    ["a}b", "a}b", "a}b"],
    ["[[:xdigit:]]{2}(-[[:xdigit:]]{2}){5}", "01-00-1A-2b-3c-4d-5e", "01-00-1A-2b-3c-4d"],
    ["/$", "a/", "/"],
  ];
  for (const [source, input, expected] of cases) {
    test(`${source} on ${input}`, () => {
      assert.equal(posixRegExp(source, false).exec(input)?.[0] ?? null, expected);
    });
  }

  test("posixExec: the longest of the leftmost matches, as POSIX regexec", () => {
    const cases: [string, string, string | null][] = [
      ["a|ab", "xab", "ab"],
      ["(ab)?(abcd)?", "abcd", "abcd"],
      ["v(1|1\\.2)", "v1.2.bin", "v1.2"],
      ["(a|ab)(c|bcd)", "abcd", "abcd"],
      ["b|ab", "xab", "ab"],
      ["^(a|ab)$", "ab", "ab"],
      ["z|y", "ab", null],
    ];
    for (const [source, input, expected] of cases) {
      assert.equal(posixExec(posixRegExp(source, false), input)?.[0] ?? null, expected, source);
    }
    assert.deepEqual([...posixExec(posixRegExp("v(1|1\\.2)", false), "v1.2")!], ["v1.2", "1.2"]);
  });

  test("ignoring case", () => {
    assert.equal(posixRegExp("^PXE[[:lower:]]", true).test("pxeA"), true);
  });

  test("what cannot be translated is refused with where it is", () => {
    for (
      const source of [
        "[[=a=]]",
        "[[.a.]]",
        "*a",
        "a**",
        "a+?",
        "(a",
        "a)",
        "a{",
        "[a",
        "\\2(a)",
        "[[:foo:]]",
        "a\\",
        "[z-a]",
      ]
    ) {
      assert.throws(() => posixRegExp(source, false), PosixRegexError, source);
    }
  });
});

describe("parseTftpMapFile", () => {
  test("rules, comments and blank lines", () => {
    const rules = parseTftpMapFile(
      "# a comment\n\n  rg \\\\ /   # backslashes to slashes\nr ^[^/] /\\0\n\ta \\.\\.\n",
    );
    assert.deepEqual(
      rules.map(({ line, flags, source, pattern }) => ({ line, flags, source, pattern })),
      [
        { line: 3, flags: "rg", source: "\\\\", pattern: "/" },
        { line: 4, flags: "r", source: "^[^/]", pattern: "/\\0" },
        { line: 5, flags: "a", source: "\\.\\.", pattern: "" },
      ],
    );
  });

  test("an escaped space or # belongs to the token", () => {
    const [rule] = parseTftpMapFile("r a\\ b\\#c x\\ y # comment");
    assert.equal(rule.source, "a\\ b\\#c");
    assert.equal(rule.pattern, "x\\ y");
    assert.equal(run("r a\\ b\\#c x\\ y", "1a b#c2"), "1x y2");
  });

  test("CRLF line ends", () => {
    assert.equal(run("r ^a b\r\nr ^b c\r\n", "a"), "c");
  });

  test("errors carry the line", () => {
    const bad: [string, number, RegExp][] = [
      ["r a b\nrx a b", 2, /invalid flag "x"/],
      ["\n\nr~ a b", 3, /cannot be inverted/],
      ["r", 1, /no regex/],
      ["r # only a comment", 1, /no regex/],
      ["r a b\na [[=e=]]", 2, /equivalence classes/],
      ["r (a b", 1, /unmatched \(/],
    ];
    for (const [file, line, message] of bad) {
      assert.throws(() => parseTftpMapFile(file), (error: unknown) => {
        assert.ok(error instanceof TftpMapFileError);
        assert.equal(error.line, line);
        assert.match(error.message, message);
        return true;
      });
    }
  });
});

describe("applyTftpMapRules", () => {
  test("tftpd.8's examples", () => {
    const file = [
      "rg \\\\ /            # Convert backslashes to slashes",
      "rg ([A-Z]) \\L\\1     # Convert uppercase to lowercase",
      "rg \\# @             # Convert hash marks to @ signs",
      "rg /../ /..no../    # Convert /../ to /..no../",
      "e ^ok/              # These are always ok",
      "r ^[^/] /\\0         # Add a leading slash",
    ].join("\n");
    assert.equal(run(file, "BOOT\\PXE#1.0"), "/boot/pxe@1.0");
    assert.equal(run(file, "a/../../b"), "/a/..no../..no../b");
    assert.equal(run(file, "OK/x"), "ok/x");
  });

  test("r rewrites the first match only; the text around it stays", () => {
    assert.equal(run("r o 0", "foo.bin"), "f0o.bin");
  });

  test("g repeats the rule until it no longer matches", () => {
    assert.equal(run("rg o 0", "foo.bin"), "f00.bin");
    // Without r, g means nothing: the rule matches and moves on.
    assert.equal(run("g o 0", "foo.bin"), "foo.bin");
  });

  test("i matches regardless of case", () => {
    assert.equal(run("r ^pxe x", "PXE.0"), "PXE.0");
    assert.equal(run("ri ^pxe x", "PXE.0"), "x.0");
  });

  test("e ends the run when it matched", () => {
    assert.equal(run("re ^a b\nr ^b c", "a"), "b");
    assert.equal(run("re ^z b\nr ^a c", "a"), "c");
  });

  test("s starts over at the second rule, as tftp-hpa's loop does", () => {
    // Rule 1 would turn x into y; after the restart it is skipped, rule 2 runs again.
    assert.equal(run("r ^x y\nr ^a x\nrs ^b a", "b"), "x");
    assert.equal(run("r ^c d\nrs ^a b\nr ^b c", "a"), "c");
  });

  test("a refuses, with its message expanded in the name", () => {
    assert.equal(run("a \\.\\.", "a/../b"), "deny: undefined");
    assert.equal(run("a \\.\\. no\\ (\\0)", "a/../b"), "deny: a/no (..)/b");
    assert.equal(run("a \\.\\.", "a/b"), "a/b");
  });

  test("~ applies a rule when its regex does not match", () => {
    assert.equal(run("a~ ^pxe/", "etc/passwd"), "deny: undefined");
    assert.equal(run("a~ ^pxe/", "pxe/x"), "pxe/x");
    assert.equal(run("e~ ^pxe/\nr ^ root/", "etc"), "etc");
  });

  test("G and P select reads or writes", () => {
    const file = "rG ^ get/\nrP ^ put/";
    assert.equal(run(file, "f", GET4), "get/f");
    assert.equal(run(file, "f", PUT4), "put/f");
  });

  test("4 and 6 select the client's address family", () => {
    const file = "r4 ^ v4/\nr6 ^ v6/";
    assert.equal(run(file, "f", GET4), "v4/f");
    assert.equal(run(file, "f", GET6), "v6/f");
  });

  test("\\i and \\x: the client's address, as text and in hex", () => {
    assert.equal(run("r ^ \\i/", "f"), "192.168.1.10/f");
    assert.equal(run("r ^ \\x/", "f"), "C0A8010A/f");
    assert.equal(run("r ^ \\x/", "f", GET6), "20010DB8000000000000000000000001/f");
    assert.equal(
      run("r ^ \\x", "", { type: "rrq", address: "::ffff:10.0.0.1" }),
      "00000000000000000000FFFF0A000001",
    );
  });

  test("a rewrite replaces the longest match, as POSIX does", () => {
    assert.equal(run("r ^v(1|1\\.2) \\1/v", "v1.2.bin"), "1.2/v.bin");
  });

  test("\\0-\\9 insert the match and its groups; an unmatched group is empty", () => {
    assert.equal(run("r ^(a)(b)?(c) [\\3\\2\\1\\0]", "ac.bin"), "[caac].bin");
  });

  test("\\U, \\L and \\E change the case of what follows, \\ before anything else is literal", () => {
    assert.equal(
      run("r ^([a-z]+)-([a-z]+) \\U\\1\\E-\\2\\L-X\\i", "pxe-cfg"),
      "PXE-cfg-x192.168.1.10",
    );
    assert.equal(run("r ^a \\\\\\q\\", "a"), "\\q\\");
  });

  test("a table that never settles is refused after the step bound", () => {
    assert.equal(run("rs ^ x\nrs ^ y", "f"), "deny: Remap table failure");
    assert.equal(run("rg a aa", "a"), "deny: Remap table failure");
    assert.equal(TFTP_MAP_MAX_STEPS, 1024);
  });
});
