// The npm package's `repository` and `bugs` fields, from the repository's own remote: nothing is
// written when the project's remote is unknown (no invented address).

import process from "node:process";
import { run } from "./_run.ts";

/** The `repository` and `bugs` fields of a package.json. */
export interface RepositoryFields {
  /** Where the source lives. */
  repository: { type: "git"; url: string };
  /** Where to report a problem. */
  bugs: { url: string };
}

/**
 * The fields for a git remote on GitHub, GitLab, Codeberg or Bitbucket, in any of its usual
 * spellings (`https://host/owner/name(.git)`, `git@host:owner/name(.git)`,
 * `ssh://git@host/owner/name(.git)`); `undefined` for any other remote.
 *
 * @example
 * ```ts
 * repositoryFields("git@github.com:owner/name.git");
 * // { repository: { type: "git", url: "git+https://github.com/owner/name.git" },
 * //   bugs: { url: "https://github.com/owner/name/issues" } }
 * ```
 */
export function repositoryFields(remote: string): RepositoryFields | undefined {
  const match =
    /^(?:https:\/\/(?:[^@/]+@)?|ssh:\/\/git@|git@)([a-z0-9.-]+)[:/]([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/i
      .exec(remote.trim());
  if (!match) return undefined;
  const [, host, owner, name] = match;
  const known = ["github.com", "gitlab.com", "codeberg.org", "bitbucket.org"];
  if (!known.includes(host.toLowerCase())) return undefined;
  const web = `https://${host.toLowerCase()}/${owner}/${name}`;
  return {
    repository: { type: "git", url: `git+${web}.git` },
    bugs: { url: `${web}/issues` },
  };
}

/**
 * The fields for this repository: from `FTKIT_REPOSITORY` when set, else from the `origin`
 * remote; `undefined` when neither names a known host.
 */
export async function projectRepositoryFields(root: string): Promise<RepositoryFields | undefined> {
  const given = process.env.FTKIT_REPOSITORY;
  if (given) {
    const fields = repositoryFields(given);
    if (!fields) throw new Error(`FTKIT_REPOSITORY is not a repository address: ${given}`);
    return fields;
  }
  const origin = await run(
    ["git", "remote", "get-url", "origin"],
    { cwd: root, quiet: true, timeoutMs: 10_000 },
    false,
  ).catch(() => undefined);
  return origin && origin.code === 0 ? repositoryFields(origin.output) : undefined;
}
