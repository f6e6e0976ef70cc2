// The glob patterns of recursive transfers and mirrors (ftps/_glob.ts): wildcards, classes,
// escapes, `**`, names at any depth against paths from the top, directory-only patterns, and the
// include/exclude filter.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compileGlob, pathFilter } from "../../ftps/_glob.ts";

/** Whether `pattern` matches `path` (a file unless `dir`). */
const matches = (pattern: string, path: string, dir = false) =>
  compileGlob(pattern).matches(path, dir);

describe("Glob patterns for tree transfers", () => {
  test("* and ? stay within one component", () => {
    assert.equal(matches("*.txt", "a.txt"), true);
    assert.equal(matches("a?c", "abc"), true);
    assert.equal(matches("a?c", "a/c"), false);
    assert.equal(matches("docs/*.md", "docs/x.md"), true);
    assert.equal(matches("docs/*.md", "docs/sub/x.md"), false);
    assert.equal(matches("*", ""), true);
  });

  test("a pattern without / matches a name at any depth; with / the path from the top", () => {
    assert.equal(matches("*.txt", "Grüße/ä b.txt"), true);
    assert.equal(matches("b.txt", "a/b.txt"), true);
    assert.equal(matches("a/b.txt", "x/a/b.txt"), false);
    assert.equal(matches("/a/b.txt", "a/b.txt"), true);
    assert.equal(matches("Grüße", "x/Grüße", true), true);
  });

  test("** crosses directories; dir/** takes the directory itself too", () => {
    assert.equal(matches("**", "a/b/c"), true);
    assert.equal(matches("d/**/*.txt", "d/a.txt"), true);
    assert.equal(matches("d/**/*.txt", "d/e/f/a.txt"), true);
    assert.equal(matches("d/**/*.txt", "x/d/a.txt"), false);
    assert.equal(matches("**/x", "x"), true);
    assert.equal(matches("build/**", "build", true), true);
    assert.equal(matches("build/**", "build/x/y"), true);
    assert.equal(matches("build/**", "builds"), false);
    assert.equal(matches("a**b", "a/x/b"), true);
  });

  test("character classes: ranges, negation, ] first, never /", () => {
    assert.equal(matches("[a-c]1", "b1"), true);
    assert.equal(matches("[a-c]1", "d1"), false);
    assert.equal(matches("[!a-c]1", "d1"), true);
    assert.equal(matches("[^a-c]1", "a1"), false);
    assert.equal(matches("[]]", "]"), true);
    assert.equal(matches("[a-]", "-"), true);
    assert.equal(matches("x[/]y", "x/y"), false);
    assert.equal(matches("x[!a]y", "x/y"), false);
    assert.equal(matches("[\\]]", "]"), true);
  });

  test("escapes, literal regex characters, an unclosed [", () => {
    assert.equal(matches("\\*", "*"), true);
    assert.equal(matches("\\*", "a"), false);
    assert.equal(matches("a.b", "axb"), false);
    assert.equal(matches("(a)+{1}|$^", "(a)+{1}|$^"), true);
    assert.equal(matches("a[", "a["), true);
    assert.equal(matches("a-b", "a-b"), true);
  });

  test("a trailing / matches directories only; an empty pattern is refused", () => {
    assert.equal(matches("tmp/", "tmp", true), true);
    assert.equal(matches("tmp/", "tmp", false), false);
    assert.equal(matches("tmp/", "a/tmp", true), true);
    assert.throws(() => compileGlob(""), TypeError);
    assert.throws(() => compileGlob("/"), TypeError);
  });

  test("the filter: excludes win, includes choose files, directories are entered", () => {
    const filter = pathFilter(["*.txt", "docs/**"], ["secret*", "tmp/"]);
    assert.equal(filter.file("a.txt"), true);
    assert.equal(filter.file("x/a.txt"), true);
    assert.equal(filter.file("a.bin"), false);
    assert.equal(filter.file("docs/a.bin"), true);
    assert.equal(filter.file("secret.txt"), false);
    assert.equal(filter.dir("x"), true);
    assert.equal(filter.dir("tmp"), false);
    assert.equal(filter.dir("secrets"), false);
    const all = pathFilter();
    assert.equal(all.file("anything/at/all"), true);
    assert.equal(all.dir("tmp"), true);
  });
});
