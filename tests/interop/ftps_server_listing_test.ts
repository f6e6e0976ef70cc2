// curl against ftkit's FTPS server serving a storage that lists a page at a time (`listPages`):
// LIST, NLST and MLSD of 50 pages of 1000 entries over explicit TLS arrive whole and in order,
// while the server formats each page before it asks for the next.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { missing, tempDir } from "./_peers.ts";
import { PASSWORD, USER } from "./_ftps_servers.ts";
import { curl, logged, type LoggedServer, startFtkit } from "./_ftps_clients.ts";
import { PagedDirectory, pagedNames, type PagedOptions } from "../ftps/_paged.ts";
import { parseFtpFacts, parseFtpListLine } from "../../codec/mod.ts";

const LARGE: PagedOptions = { pages: 50, perPage: 1000 };

describe(
  "curl against ftkit's server: listings a page at a time",
  { skip: missing("curl") },
  () => {
    let directory: PagedDirectory;
    let server: LoggedServer;
    let dir: Awaited<ReturnType<typeof tempDir>>;
    const url = `ftp://${USER}:${PASSWORD}@127.0.0.1`;

    before(async () => {
      directory = new PagedDirectory(LARGE);
      // The storage is what is served; the root is only there to be given.
      dir = await tempDir("ftkit-paged-");
      server = await startFtkit(dir.path, { storage: directory.storage });
    });

    after(async () => {
      await server?.close();
      await dir?.remove();
    });

    for (
      const [verb, args, nameOf] of [
        ["LIST", [], (line: string) => parseFtpListLine(line)?.name],
        ["NLST", ["--list-only"], (line: string) => line],
        ["MLSD", ["-X", "MLSD"], (line: string) => parseFtpFacts(line).name],
      ] as const
    ) {
      test(`${verb}: every entry, in order`, async () => {
        const mark = server.log.length;
        const pulled = directory.pulled;
        const ran = await curl(["--ssl-reqd", "-v", ...args, `${url}:${server.port}/big/`]);
        assert.equal(ran.code, 0, ran.stderr);
        assert.match(ran.stderr, new RegExp(`^> ${verb}\\b`, "m"), "the command curl sent");
        const lines = ran.stdout.split("\n").map((line) => line.replace(/\r$/, ""));
        assert.equal(lines.pop(), "");
        assert.deepEqual(lines.map(nameOf), pagedNames(LARGE));
        assert.equal(directory.pulled - pulled, LARGE.pages);
        assert.equal(directory.maxAhead, 1, "each page formatted before the next was asked for");
        assert.equal(directory.listCalls, 0, "never the whole list");
        const [transfer] = await logged(server.log, mark, (entry) => entry.type === "transfer");
        assert.ok(transfer?.type === "transfer");
        assert.equal(transfer.outcome, "ok");
        assert.equal(transfer.command, verb);
        assert.ok(transfer.tls, "a protected data connection");
      });
    }
  },
);
