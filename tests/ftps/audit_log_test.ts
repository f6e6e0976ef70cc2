// The FTPS server's audit log and events with real clients on loopback (curl, Python's ftplib):
// the JSON log and the xferlog written to files and read back field by field, the typed events
// in order (an upload's only once its file is in place, none for a failed one), a hook that
// throws, and `ftkit ftps serve --log`.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type FtpsEvent,
  ftpsJsonLogWriter,
  type FtpsLogEntry,
  ftpsXferLogWriter,
} from "../../ftps/mod.ts";
import { bytesOf, missing, tempDir } from "../interop/_peers.ts";
import { CA_FILE, curl, type LoggedServer, python, startFtkit } from "../interop/_ftps_clients.ts";
import { FIXTURES, PASSWORD, USER } from "../interop/_ftps_servers.ts";
import { serveCli } from "../_cli_serve.ts";
import { runCli } from "../../cli.ts";
import { until } from "../_wait.ts";

/**
 * One xferlog line (`man 5 xferlog`): current-time (asctime), transfer-time, remote-host,
 * file-size, filename, transfer-type, special-action-flag, direction, access-mode, username,
 * service-name, authentication-method, authenticated-user-id, completion-status.
 */
const XFERLOG = new RegExp(
  "^(?<time>(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat) " +
    "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}) " +
    "(?<seconds>\\d+) (?<host>\\S+) (?<size>\\d+) (?<file>\\S+) (?<type>[ab]) _ " +
    "(?<direction>[oid]) (?<access>[ar]) (?<user>\\S+) ftp 0 \\* (?<status>[ci])$",
);

/** The fields of an xferlog line, or a failed assertion naming the line. */
function xferFields(line: string): Record<string, string> {
  const match = XFERLOG.exec(line);
  assert.ok(match?.groups, `an xferlog line: ${JSON.stringify(line)}`);
  return match.groups;
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/** An asctime (`Wed Dec  2 05:40:47 2026`) read as UTC, in ms since the epoch. */
function asctimeUtc(text: string): number {
  const [, month, day, hours, minutes, seconds, year] =
    /^\w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})$/.exec(text)!;
  return Date.UTC(
    Number(year),
    MONTHS.indexOf(month) / 3,
    Number(day),
    Number(hours),
    Number(minutes),
    Number(seconds),
  );
}

/** The lines of a log file. */
async function fileLines(path: string): Promise<string[]> {
  return (await readFile(path, "utf8")).split("\n").filter((line) => line !== "");
}

/** A JSON log line: its `time` (checked to be ISO 8601) taken off, the entry. */
function jsonEntry(line: string): Record<string, unknown> {
  const { time, ...entry } = JSON.parse(line);
  assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  return entry;
}

/** An entry as it comes back from JSON (undefined fields gone). */
function asJson(entry: FtpsLogEntry): Record<string, unknown> {
  return JSON.parse(JSON.stringify(entry));
}

const sameBytes = (actual: Uint8Array, expected: Uint8Array) =>
  Buffer.compare(actual, expected) === 0;

/** A served tree (`incoming/`, `pub/hello.txt`) and a local directory, and a server on it whose
 * events and log files are kept. */
interface Audited {
  readonly root: string;
  readonly local: string;
  readonly server: LoggedServer;
  readonly events: FtpsEvent[];
  /** For each upload event: whether the file's whole bytes were there when it fired. */
  readonly readAtUpload: { path: string; bytes: Uint8Array }[];
  readonly jsonFile: string;
  readonly xferFile: string;
  remove(): Promise<void>;
}

async function audited(prefix: string): Promise<Audited> {
  const dir = await tempDir(prefix);
  const root = join(dir.path, "root");
  const local = join(dir.path, "local");
  await mkdir(join(root, "incoming"), { recursive: true });
  await mkdir(join(root, "pub"));
  await mkdir(local);
  await writeFile(join(root, "pub", "hello.txt"), "hello\n");
  const jsonFile = join(dir.path, "ftps.jsonl");
  const xferFile = join(dir.path, "xferlog");
  const events: FtpsEvent[] = [];
  const readAtUpload: { path: string; bytes: Uint8Array }[] = [];
  const server = await startFtkit(root, {
    logWriters: [ftpsJsonLogWriter(jsonFile), ftpsXferLogWriter(xferFile)],
    onEvent: (event) => {
      events.push(event);
      // What an application that processes uploads does: read the file the event names.
      if (event.type === "upload") {
        readAtUpload.push({ path: event.path, bytes: readFileSync(join(root, event.path)) });
      }
    },
  });
  return {
    root,
    local,
    server,
    events,
    readAtUpload,
    jsonFile,
    xferFile,
    async remove() {
      await server.close();
      await dir.remove();
    },
  };
}

/** Waits (bounded) until `count` sessions have ended. */
function sessionsEnded(events: FtpsEvent[], count: number): Promise<void> {
  return until(
    () => events.filter((event) => event.type === "session-end").length >= count,
    `${count} session-end events`,
  );
}

/** Drops the fields of an event or entry that vary (ids, times), keeping the rest. */
function stable<T extends { sessionId: string }>(item: T): Omit<T, "sessionId" | "durationMs"> {
  const { sessionId: _id, durationMs: _ms, ...rest } = item as T & { durationMs?: number };
  return rest;
}

describe("FTPS server audit log and events with curl", { skip: missing("curl") }, () => {
  let audit: Audited;
  const url = (path: string) => `ftp://${USER}:${PASSWORD}@127.0.0.1:${audit.server.port}/${path}`;
  const upload = bytesOf(100_003, 19);
  const spaced = bytesOf(4_097, 23);
  let started: number;

  before(async () => {
    audit = await audited("ftkit-audit-curl-");
    await writeFile(join(audit.local, "a.bin"), upload);
    await writeFile(join(audit.local, "spaced.bin"), spaced);
    started = Date.now();
  });
  after(async () => {
    await audit?.remove();
  });

  test("uploads, a download, a rename and a delete: events, JSON log and xferlog", async () => {
    const { server, events, root, local } = audit;
    const runs = [
      ["--ssl-reqd", "-T", join(local, "a.bin"), url("incoming/a.bin")],
      ["--ssl-reqd", "-T", join(local, "spaced.bin"), url("incoming/my%20file.bin")],
      ["--ssl-reqd", "-o", join(local, "back.bin"), url("incoming/a.bin")],
      ["--ssl-reqd", "-Q", "-RNFR a.bin", "-Q", "-RNTO b.bin", url("incoming/")],
      ["--ssl-reqd", "-Q", "-DELE b.bin", url("incoming/")],
    ];
    for (const [index, args] of runs.entries()) {
      const ran = await curl(args, 60_000);
      assert.equal(ran.code, 0, ran.stderr);
      // One session after another: each one's events all come before the next one's.
      await sessionsEnded(events, index + 1);
    }
    assert.ok(sameBytes(await readFile(join(local, "back.bin")), upload));
    assert.equal(existsSync(join(root, "incoming", "b.bin")), false);

    // The events, once each, in order, with their data.
    const common = { remoteAddress: "127.0.0.1", user: USER };
    const login = { type: "login", ...common, ok: true, method: "password" };
    const end = { type: "session-end", ...common, reason: "quit" };
    assert.deepEqual(events.map(stable), [
      login,
      { type: "upload", ...common, command: "STOR", path: "/incoming/a.bin", size: 100_003 },
      end,
      login,
      { type: "upload", ...common, command: "STOR", path: "/incoming/my file.bin", size: 4_097 },
      end,
      login,
      { type: "download", ...common, path: "/incoming/a.bin", size: 100_003 },
      end,
      login,
      { type: "rename", ...common, from: "/incoming/a.bin", to: "/incoming/b.bin" },
      end,
      login,
      { type: "delete", ...common, path: "/incoming/b.bin" },
      end,
    ]);
    // One id per session, on each of its events; five sessions, five ids.
    const ids = events.map((event) => event.sessionId);
    for (let i = 0; i < ids.length; i += 3) {
      assert.equal(ids[i + 1], ids[i]);
      assert.equal(ids[i + 2], ids[i]);
    }
    assert.equal(new Set(ids).size, 5, ids.join(" "));

    // The upload handler read each file whole: it was in place when the event fired.
    assert.deepEqual(audit.readAtUpload.map((read) => read.path), [
      "/incoming/a.bin",
      "/incoming/my file.bin",
    ]);
    assert.ok(sameBytes(audit.readAtUpload[0].bytes, upload), "a.bin whole at its event");
    assert.ok(sameBytes(audit.readAtUpload[1].bytes, spaced), "my file.bin whole at its event");

    // The log, entry by entry.
    const log = server.log;
    const bySession = new Map<string, FtpsLogEntry[]>();
    for (const entry of log) {
      bySession.set(entry.sessionId, [...bySession.get(entry.sessionId) ?? [], entry]);
    }
    assert.deepEqual([...bySession.keys()], [...new Set(ids)], "the events' sessions");
    const transfers = log.filter((entry) => entry.type === "transfer");
    assert.deepEqual(
      transfers.map((entry) => [entry.command, entry.path, entry.direction, entry.bytes]),
      [
        ["STOR", "/incoming/a.bin", "receive", 100_003],
        ["STOR", "/incoming/my file.bin", "receive", 4_097],
        ["RETR", "/incoming/a.bin", "send", 100_003],
        ["LIST", "/incoming", "send", transfers[3].bytes],
        ["LIST", "/incoming", "send", transfers[4].bytes],
      ],
    );
    for (const entry of transfers) {
      assert.equal(entry.user, USER);
      assert.equal(entry.anonymous, false);
      assert.equal(entry.representation, entry.command === "LIST" ? "A" : "I");
      assert.equal(entry.outcome, "ok");
      assert.ok(entry.tls, "protected");
      assert.ok(entry.durationMs >= 0);
      assert.equal(bySession.get(entry.sessionId)?.includes(entry), true);
    }
    const files = log.filter((entry) => entry.type === "rename" || entry.type === "delete");
    assert.deepEqual(files.map(stable), [
      {
        type: "rename",
        ...common,
        from: "/incoming/a.bin",
        to: "/incoming/b.bin",
        command: "RNTO",
        outcome: "ok",
      },
      { type: "delete", ...common, path: "/incoming/b.bin", command: "DELE", outcome: "ok" },
    ]);
    // Each session: login first, closed last, every entry with the session's client.
    for (const entries of bySession.values()) {
      assert.equal(entries[0].type, "login");
      assert.equal(entries.at(-1)?.type, "closed");
      assert.ok(entries.every((entry) => entry.remoteAddress === "127.0.0.1"));
    }
    // No entry names a path of the server's file system.
    assert.ok(!JSON.stringify(log).includes(root), "virtual paths only");

    // The files: written in order, flushed and closed when the server closes.
    await server.close();
    const json = await fileLines(audit.jsonFile);
    assert.deepEqual(json.map(jsonEntry), log.map(asJson));
    const xfer = (await fileLines(audit.xferFile)).map(xferFields);
    const ended = Date.now();
    assert.deepEqual(
      xfer.map((line) => [
        line.host,
        line.size,
        line.file,
        line.type,
        line.direction,
        line.access,
        line.user,
        line.status,
      ]),
      [
        ["127.0.0.1", "100003", "/incoming/a.bin", "b", "i", "r", USER, "c"],
        ["127.0.0.1", "4097", "/incoming/my_file.bin", "b", "i", "r", USER, "c"],
        ["127.0.0.1", "100003", "/incoming/a.bin", "b", "o", "r", USER, "c"],
      ],
    );
    for (const line of xfer) {
      assert.ok(Number(line.seconds) >= 1, "at least a second, as vsftpd writes");
      // asctime in UTC: the time the transfer ended, within the test's run.
      const at = asctimeUtc(line.time);
      assert.ok(at >= started - 2000 && at <= ended + 2000, line.time);
    }
  });
});

/** An ftplib session over explicit TLS with PROT P: argv is host, port, CA, user, password. */
const PY_PRELUDE = String.raw`
import io, json, ssl, sys
from ftplib import FTP_TLS, error_perm, error_temp

host, port, ca, user, password = sys.argv[1:6]
ftp = FTP_TLS(context=ssl.create_default_context(cafile=ca), timeout=20)
ftp.connect(host, int(port))
ftp.login(user, password)
ftp.prot_p()
out = {}


def refused(call, *args):
    try:
        call(*args)
    except (error_perm, error_temp) as error:
        return str(error)
    return None
`;

describe("FTPS server audit log: the anonymous user", { skip: missing("curl") }, () => {
  test("an anonymous download is logged as such; xferlog's access mode is a", async () => {
    const dir = await tempDir("ftkit-audit-anonymous-");
    const lines: string[] = [];
    try {
      await writeFile(join(dir.path, "hello.txt"), "hello\n");
      const server = await startFtkit(dir.path, {
        anonymous: true,
        logWriters: [ftpsXferLogWriter((line) => lines.push(line))],
      });
      try {
        // curl logs in as anonymous when the URL names no user.
        const ran = await curl(["--ssl-reqd", `ftp://127.0.0.1:${server.port}/hello.txt`], 60_000);
        assert.equal(ran.code, 0, ran.stderr);
        await until(() => server.log.some((entry) => entry.type === "closed"), "the session's end");
      } finally {
        await server.close();
      }
      const transfer = server.transfers()[0];
      assert.equal(transfer.user, "anonymous");
      assert.equal(transfer.anonymous, true);
      assert.equal(lines.length, 1);
      const fields = xferFields(lines[0]);
      assert.deepEqual([fields.access, fields.user, fields.file, fields.size, fields.direction], [
        "a",
        "anonymous",
        "/hello.txt",
        "6",
        "o",
      ]);
    } finally {
      await dir.remove();
    }
  });
});

describe(
  "FTPS server audit log and events with Python's ftplib",
  { skip: missing("python") },
  () => {
    let audit: Audited;
    before(async () => {
      audit = await audited("ftkit-audit-ftplib-");
    });
    after(async () => {
      await audit?.remove();
    });

    test("mkdir, upload, rename, refused rmdir, delete, rmdir; aborted and truncated uploads give no event", async () => {
      const { server, events, root } = audit;
      const out = await python<Record<string, unknown>>(
        `${PY_PRELUDE}
ftp.mkd("/incoming/sub")
ftp.cwd("/incoming/sub")
ftp.storbinary("STOR up.bin", io.BytesIO(b"x" * 70000))
ftp.rename("up.bin", "../done.bin")
ftp.storbinary("STOR keep.bin", io.BytesIO(b"k"))
out["rmd_full"] = refused(ftp.rmd, "/incoming/sub")
ftp.delete("keep.bin")
ftp.rmd("/incoming/sub")
# ABOR in the middle of an upload: dropped, nothing kept.
conn = ftp.transfercmd("STOR /incoming/aborted.bin")
conn.sendall(b"a" * 50000)
out["abort"] = ftp.abort()
out["after_abort"] = ftp.getresp()
conn.close()
# An upload whose data connection ends without TLS close_notify: not kept (426).
conn = ftp.transfercmd("STOR /incoming/cut.bin")
conn.sendall(b"c" * 30000)
conn.close()
out["cut"] = refused(ftp.voidresp)
ftp.quit()
print(json.dumps(out))
`,
        ["127.0.0.1", server.port, CA_FILE, USER, PASSWORD],
        120_000,
      );
      assert.match(String(out.rmd_full), /^550 /);
      assert.match(String(out.abort), /^426 /);
      assert.match(String(out.after_abort), /^226 /);
      assert.match(String(out.cut), /^426 .*close_notify/);
      await sessionsEnded(events, 1);
      assert.equal(existsSync(join(root, "incoming", "aborted.bin")), false);
      assert.equal(existsSync(join(root, "incoming", "cut.bin")), false);
      assert.equal(readFileSync(join(root, "incoming", "done.bin")).length, 70_000);

      const common = { remoteAddress: "127.0.0.1", user: USER };
      assert.deepEqual(events.map(stable), [
        { type: "login", ...common, ok: true, method: "password" },
        { type: "mkdir", ...common, path: "/incoming/sub" },
        { type: "upload", ...common, command: "STOR", path: "/incoming/sub/up.bin", size: 70_000 },
        { type: "rename", ...common, from: "/incoming/sub/up.bin", to: "/incoming/done.bin" },
        { type: "upload", ...common, command: "STOR", path: "/incoming/sub/keep.bin", size: 1 },
        { type: "delete", ...common, path: "/incoming/sub/keep.bin" },
        { type: "rmdir", ...common, path: "/incoming/sub" },
        { type: "session-end", ...common, reason: "quit" },
      ]);
      assert.equal(new Set(events.map((event) => event.sessionId)).size, 1);
      assert.ok(sameBytes(audit.readAtUpload[0].bytes, new Uint8Array(70_000).fill(0x78)));

      const log = server.log;
      assert.equal(new Set(log.map((entry) => entry.sessionId)).size, 1);
      const operations = log.filter((entry) =>
        entry.type === "mkdir" || entry.type === "rmdir" || entry.type === "delete" ||
        entry.type === "rename"
      );
      assert.deepEqual(operations.map(stable), [
        { type: "mkdir", ...common, path: "/incoming/sub", command: "MKD", outcome: "ok" },
        {
          type: "rename",
          ...common,
          from: "/incoming/sub/up.bin",
          to: "/incoming/done.bin",
          command: "RNTO",
          outcome: "ok",
        },
        {
          type: "rmdir",
          ...common,
          path: "/incoming/sub",
          command: "RMD",
          outcome: "failed",
          code: 550,
        },
        {
          type: "delete",
          ...common,
          path: "/incoming/sub/keep.bin",
          command: "DELE",
          outcome: "ok",
        },
        { type: "rmdir", ...common, path: "/incoming/sub", command: "RMD", outcome: "ok" },
      ]);
      // The dropped upload's entry comes once its file is let go: maybe after the next one's.
      const uploads = log.filter((entry) => entry.type === "transfer")
        .sort((a, b) => a.path.localeCompare(b.path));
      assert.deepEqual(uploads.map((entry) => [entry.command, entry.path, entry.outcome]), [
        ["STOR", "/incoming/aborted.bin", "aborted"],
        ["STOR", "/incoming/cut.bin", "truncated"],
        ["STOR", "/incoming/sub/keep.bin", "ok"],
        ["STOR", "/incoming/sub/up.bin", "ok"],
      ]);
      assert.equal(uploads[1].bytes, 30_000);
      assert.equal(uploads[1].closeNotified, false);

      await server.close();
      const xfer = (await fileLines(audit.xferFile)).map(xferFields)
        .sort((a, b) => a.file.localeCompare(b.file));
      assert.deepEqual(xfer.map((line) => [line.file, line.size, line.direction, line.status]), [
        ["/incoming/aborted.bin", String(uploads[0].bytes), "i", "i"],
        ["/incoming/cut.bin", "30000", "i", "i"],
        ["/incoming/sub/keep.bin", "1", "i", "c"],
        ["/incoming/sub/up.bin", "70000", "i", "c"],
      ]);
      const json = (await fileLines(audit.jsonFile)).map(jsonEntry);
      assert.deepEqual(json, log.map(asJson));
    });
  },
);

describe("FTPS server events: a hook that fails", { skip: missing("curl") }, () => {
  test("what onEvent throws or rejects with goes to onError; the session goes on", async () => {
    const dir = await tempDir("ftkit-audit-hook-");
    const events: string[] = [];
    try {
      await writeFile(join(dir.path, "hello.txt"), "hello\n");
      const server = await startFtkit(dir.path, {
        onEvent: (event) => {
          events.push(event.type);
          if (event.type === "login") throw new Error("the login hook broke");
          if (event.type === "download") {
            return Promise.reject(new Error("the download hook broke"));
          }
        },
      });
      try {
        const ran = await curl([
          "--ssl-reqd",
          `ftp://${USER}:${PASSWORD}@127.0.0.1:${server.port}/hello.txt`,
        ], 60_000);
        assert.equal(ran.code, 0, ran.stderr);
        assert.equal(ran.stdout, "hello\n");
        await until(() => events.includes("session-end"), "the session's end");
        await until(() => server.errors.length >= 2, "both failures reported");
        assert.deepEqual(events, ["login", "download", "session-end"]);
        assert.deepEqual(server.errors.map((error) => error.message).sort(), [
          "the download hook broke",
          "the login hook broke",
        ]);
      } finally {
        await server.close();
      }
    } finally {
      await dir.remove();
    }
  });
});

describe("ftkit ftps serve --log", { skip: missing("curl") }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir("ftkit-audit-cli-");
    await mkdir(join(dir.path, "srv"));
    await writeFile(join(dir.path, "up.bin"), bytesOf(12_345, 3));
  });
  after(async () => {
    await dir?.remove();
  });

  /** Runs `ftkit ftps serve` with `flags`, uploads up.bin as `name` with curl, and stops it. */
  async function serveAndUpload(name: string, flags: string[]): Promise<string[]> {
    const server = await serveCli(["tcp"], ([port]) => [
      "ftps",
      "serve",
      join(dir.path, "srv"),
      "--port",
      String(port),
      "--user",
      "fred:secret",
      "--cert",
      join(FIXTURES, "leaf.pem"),
      "--key",
      join(FIXTURES, "leaf.key"),
      "--allow-write",
      ...flags,
    ], /^Fetch a file with: curl /);
    try {
      const ran = await curl([
        "--ssl-reqd",
        "-u",
        "fred:secret",
        "-T",
        join(dir.path, "up.bin"),
        `ftp://127.0.0.1:${server.ports[0]}/${name}`,
      ], 60_000);
      assert.equal(ran.code, 0, ran.stderr);
    } finally {
      await server.stop();
    }
    return server.lines;
  }

  test("JSON lines by default, xferlog on request, appended; - is standard output", async () => {
    const jsonFile = join(dir.path, "ftps.jsonl");
    await serveAndUpload("one.bin", ["--log", jsonFile, "--quiet"]);
    await serveAndUpload("two.bin", ["--log", jsonFile, "--quiet"]);
    const entries = (await fileLines(jsonFile)).map(jsonEntry);
    const transfers = entries.filter((entry) => entry.type === "transfer");
    assert.deepEqual(transfers.map((entry) => [entry.command, entry.path, entry.bytes]), [
      ["STOR", "/one.bin", 12_345],
      ["STOR", "/two.bin", 12_345],
    ]);
    assert.ok(transfers.every((entry) => entry.user === "fred" && entry.outcome === "ok"));
    assert.deepEqual(entries.map((entry) => entry.type), [
      "login",
      "transfer",
      "closed",
      "login",
      "transfer",
      "closed",
    ]);
    assert.notEqual(entries[0].sessionId, entries[3].sessionId, "two runs, two sessions");

    const xferFile = join(dir.path, "xferlog");
    await serveAndUpload("three%20bin", ["--log", xferFile, "--log-format", "xferlog"]);
    const [line, ...more] = await fileLines(xferFile);
    assert.deepEqual(more, []);
    const fields = xferFields(line);
    assert.deepEqual(
      [fields.host, fields.size, fields.file, fields.type, fields.direction, fields.user],
      ["127.0.0.1", "12345", "/three_bin", "b", "i", "fred"],
    );
    assert.equal(fields.status, "c");

    const printed = await serveAndUpload("four.bin", ["--log", "-"]);
    const logged = printed.filter((text) => text.startsWith("{")).map(jsonEntry);
    assert.deepEqual(
      logged.filter((entry) => entry.type === "transfer").map((entry) => entry.path),
      ["/four.bin"],
    );
    // The JSON log takes the place of the described lines.
    assert.ok(!printed.some((text) => /STOR \/four\.bin: /.test(text)), printed.join("\n"));
  });

  test("a bad --log-format, --log-format alone, and a log file that cannot be written", async () => {
    const run = async (...args: string[]) => {
      const err: string[] = [];
      const code = await runCli(args, { out: () => {}, err: (line) => err.push(line) });
      return { code, err: err.join("\n") };
    };
    const srv = join(dir.path, "srv");
    const format = await run("ftps", "serve", srv, "--log", "x", "--log-format", "csv");
    assert.equal(format.code, 2, format.err);
    assert.match(format.err, /--log-format takes json or xferlog, not 'csv'/);
    const alone = await run("ftps", "serve", srv, "--log-format", "xferlog");
    assert.equal(alone.code, 2, alone.err);
    assert.match(alone.err, /--log-format needs --log FILE/);
    const nowhere = join(dir.path, "missing", "ftps.log");
    const unwritable = await run("ftps", "serve", srv, "--port", "0", "--log", nowhere);
    assert.equal(unwritable.code, 23, unwritable.err);
    assert.match(unwritable.err, /--log: cannot write '.*ftps\.log'/);
  });
});

/** A transfer entry, with `fields` changed. */
function transferEntry(
  fields: Partial<Extract<FtpsLogEntry, { type: "transfer" }>> = {},
): FtpsLogEntry {
  return {
    type: "transfer",
    sessionId: "5eed0001-1",
    remoteAddress: "::1",
    user: "fred",
    anonymous: false,
    command: "RETR",
    path: "/pub/a.bin",
    direction: "send",
    representation: "I",
    bytes: 10,
    durationMs: 10,
    tls: undefined,
    outcome: "ok",
    ...fields,
  };
}

describe("FTPS log writers", () => {
  const at = new Date(Date.UTC(2026, 11, 2, 5, 40, 47));

  test("xferlog: each field of man 5 xferlog; names kept to one field; transfers only", async () => {
    const lines: string[] = [];
    const xferlog = ftpsXferLogWriter((line) => lines.push(line), { now: () => at });
    xferlog.write(transferEntry({ durationMs: 2_600 }));
    xferlog.write(transferEntry({
      command: "STOU",
      path: "/in/two words\tand\x1b[31mred\x7f.txt",
      direction: "receive",
      representation: "A",
      user: "john doe",
      outcome: "truncated",
    }));
    xferlog.write(transferEntry({ command: "APPE", anonymous: true, user: "ftp", bytes: 0 }));
    xferlog.write(transferEntry({ command: "STOR", user: undefined, outcome: "aborted" }));
    // Listings and anything but transfers have no place in the format.
    xferlog.write(transferEntry({ command: "LIST", path: "/pub" }));
    xferlog.write(transferEntry({ command: "MLSD", path: "/pub" }));
    xferlog.write({
      type: "delete",
      sessionId: "5eed0001-1",
      remoteAddress: "::1",
      user: "fred",
      command: "DELE",
      path: "/x",
      durationMs: 1,
      outcome: "ok",
    });
    await xferlog.close();
    assert.deepEqual(lines, [
      "Wed Dec  2 05:40:47 2026 3 ::1 10 /pub/a.bin b _ o r fred ftp 0 * c",
      "Wed Dec  2 05:40:47 2026 1 ::1 10 /in/two_words?and?[31mred?.txt a _ i r john_doe ftp 0 * i",
      "Wed Dec  2 05:40:47 2026 1 ::1 0 /pub/a.bin b _ o a ftp ftp 0 * c",
      "Wed Dec  2 05:40:47 2026 1 ::1 10 /pub/a.bin b _ o r - ftp 0 * i",
    ]);
    for (const line of lines) xferFields(line);

    const local: string[] = [];
    const localLog = ftpsXferLogWriter((line) => local.push(line), {
      now: () => at,
      localTime: true,
    });
    localLog.write(transferEntry());
    const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const expected = `${days[at.getDay()]} ${
      MONTHS.slice(at.getMonth() * 3, at.getMonth() * 3 + 3)
    } ${String(at.getDate()).padStart(2, " ")} ${String(at.getHours()).padStart(2, "0")}:${
      String(at.getMinutes()).padStart(2, "0")
    }:47 ${at.getFullYear()}`;
    assert.equal(local[0].slice(0, 24), expected);
  });

  test("JSON lines: a time, then the entry; control characters escaped", async () => {
    const lines: string[] = [];
    const log = ftpsJsonLogWriter((line) => lines.push(line), { now: () => at });
    const entry = transferEntry({ path: '/evil\n{"type":"login"}' });
    log.write(entry);
    await log.close();
    assert.equal(lines.length, 1);
    assert.ok(!lines[0].includes("\n"), "one line");
    assert.ok(lines[0].startsWith('{"time":"2026-12-02T05:40:47.000Z","type":"transfer",'));
    assert.deepEqual(jsonEntry(lines[0]), asJson(entry));
  });

  test("a file: appended to, in order, closed once the pending lines are written", async () => {
    const dir = await tempDir("ftkit-audit-file-");
    try {
      const path = join(dir.path, "ftps.jsonl");
      await writeFile(path, "an earlier line\n");
      const log = ftpsJsonLogWriter(path, { now: () => at });
      for (let i = 0; i < 2_000; i++) log.write(transferEntry({ bytes: i }));
      await log.close();
      log.write(transferEntry({ bytes: -1 })); // After close: dropped.
      await log.close();
      const lines = await fileLines(path);
      assert.equal(lines[0], "an earlier line");
      assert.equal(lines.length, 2_001);
      assert.ok(lines.slice(1).every((line, i) => jsonEntry(line).bytes === i), "in order");
      assert.throws(() => ftpsXferLogWriter(join(dir.path, "missing", "xferlog")), /ENOENT/);
    } finally {
      await dir.remove();
    }
  });

  test("a file that takes no more bytes: the first failure goes to onError, or close rejects", {
    skip: existsSync("/dev/full") ? false : "no /dev/full here",
  }, async () => {
    const errors: Error[] = [];
    const reported = ftpsJsonLogWriter("/dev/full", { onError: (error) => errors.push(error) });
    reported.write(transferEntry());
    await until(() => errors.length > 0, "the write failure");
    reported.write(transferEntry());
    await reported.close();
    assert.equal(errors.length, 1);
    assert.match(String((errors[0] as { code?: string }).code), /ENOSPC/);
    const unreported = ftpsXferLogWriter("/dev/full");
    unreported.write(transferEntry());
    await assert.rejects(unreported.close(), /ENOSPC|no space/i);
  });
});
