// The npm package's repository fields, read from a git remote's address (scripts/_repository.ts).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { repositoryFields } from "../../scripts/_repository.ts";

describe("repositoryFields", () => {
  const expected = {
    repository: { type: "git", url: "git+https://github.com/owner/name.git" },
    bugs: { url: "https://github.com/owner/name/issues" },
  };

  for (
    const remote of [
      "https://github.com/owner/name.git",
      "https://github.com/owner/name",
      "https://token@github.com/owner/name.git",
      "git@github.com:owner/name.git",
      "ssh://git@github.com/owner/name.git",
      "https://GitHub.com/owner/name/\n",
    ]
  ) {
    test(`reads ${JSON.stringify(remote)}`, () => {
      assert.deepEqual(repositoryFields(remote), expected);
    });
  }

  test("other forges keep their host", () => {
    assert.equal(
      repositoryFields("git@codeberg.org:o/n.git")?.bugs.url,
      "https://codeberg.org/o/n/issues",
    );
  });

  test("a local path, an unknown host or a bare name gives nothing", () => {
    for (const remote of ["/work/main", "../ftkit", "https://example.com/o/n.git", "origin", ""]) {
      assert.equal(repositoryFields(remote), undefined, remote);
    }
  });
});
