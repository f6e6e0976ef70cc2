// The server machine's listings from a storage that lists a page at a time: LIST, NLST and MLSD
// ask for a `paged` list, a first page answered with `more` goes out with the formatter of the
// pages after it, and STAT (on the control connection) still asks for and shows the whole list.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type FtpServerEvent,
  FtpServerSession,
  type FtpStorageEntry,
  type FtpStorageRequest,
  type FtpStorageResult,
} from "../../ftps/mod.ts";
import { MemoryStorage, MODIFIED, WALL_CLOCK } from "./_memory.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type TransferEvent = Extract<FtpServerEvent, { type: "transfer-data" }>;

/** A file entry of a page. */
const file = (name: string, size = 3): FtpStorageEntry => ({
  name,
  type: "file",
  size,
  modified: MODIFIED,
});

/**
 * A logged-in plain session (`/f` a file, `/d` a directory) whose storage requests are answered
 * from memory, or by `answerWith`'s function; `say` sends lines and returns the replies.
 */
function session() {
  const storage = new MemoryStorage({ "/f": "0123456789", "/d": null, "/d/a": "abc" });
  const machine = new FtpServerSession({ tls: "none", dataProtection: "optional" });
  const requests: FtpStorageRequest[] = [];
  const transfers: TransferEvent[] = [];
  let answer = (request: FtpStorageRequest): FtpStorageResult => storage.answer(request);
  let now = 0;
  const replies = () => {
    let out = "";
    for (let bytes = machine.pollTransmit(); bytes; bytes = machine.pollTransmit()) {
      out += decoder.decode(bytes);
    }
    return out;
  };
  const say = (...lines: string[]) => {
    machine.receive(++now, encoder.encode(lines.map((line) => `${line}\r\n`).join("")));
    for (let event = machine.pollEvent(); event; event = machine.pollEvent()) {
      if (event.type === "storage") {
        requests.push(event.request);
        machine.storageResult(++now, answer(event.request));
      } else if (event.type === "authenticate") machine.loginResult(++now, true, {});
      else if (event.type === "transfer-data") transfers.push(event);
    }
    return replies();
  };
  machine.start(now, { local: "127.0.0.1", remote: "127.0.0.1" });
  replies();
  say("USER fred");
  assert.equal(say("PASS x"), "230 Login successful.\r\n");
  return {
    machine,
    requests,
    transfers,
    say,
    /** The transfer started last. */
    last: () => transfers.at(-1)!,
    /** Ends the transfer started last; returns the replies. */
    done: () => {
      machine.dataResult(++now, transfers.at(-1)!.id, { ok: true });
      return replies();
    },
    /** Answers paged lists with `first` and `more`, anything else from memory. */
    pagedWith(first: readonly FtpStorageEntry[]) {
      answer = (request) =>
        request.op === "list" && request.paged
          ? { ok: true, entries: first, now: WALL_CLOCK, more: true }
          : storage.answer(request);
    },
    answerWith(next: (request: FtpStorageRequest) => FtpStorageResult) {
      answer = next;
    },
  };
}

describe("FTP server listings a page at a time: the machine", () => {
  test("LIST, NLST and MLSD ask for a paged list; STAT does not, and a file's listing asks none", () => {
    const s = session();
    for (const verb of ["LIST -la", "NLST", "MLSD"]) {
      s.requests.length = 0;
      assert.equal(s.say("PORT 127,0,0,1,195,80"), "200 PORT command successful.\r\n");
      assert.equal(s.say(`${verb} /d`), "150 Here comes the directory listing.\r\n", verb);
      assert.deepEqual(s.requests, [
        { op: "stat", path: "/d" },
        { op: "list", path: "/d", paged: true },
      ], verb);
      assert.equal(s.done(), "226 Transfer complete.\r\n");
    }
    s.requests.length = 0;
    assert.match(s.say("STAT /d"), /^213-Status of \/d:\r\n-rw-r--r-- .* a\r\n213 End/);
    assert.deepEqual(s.requests, [{ op: "stat", path: "/d" }, { op: "list", path: "/d" }]);
    s.requests.length = 0;
    s.say("PORT 127,0,0,1,195,80");
    assert.equal(s.say("LIST /f"), "150 Here comes the directory listing.\r\n");
    assert.deepEqual(s.requests, [{ op: "stat", path: "/f" }]);
    assert.equal(s.last().listingFormat, undefined, "a file's listing is whole");
  });

  test("a first page with `more`: the 150, its bytes, and the formatter of the pages after it", () => {
    const s = session();
    s.pagedWith([file("one"), file("two", 1234)]);
    const later: FtpStorageEntry[] = [
      file("three"),
      file("bad\r\nname"),
      file(""),
      { ...file("sub"), type: "dir" },
    ];
    const expected = {
      LIST: [
        "-rw-r--r--    1 ftp      ftp             3 Nov 23 10:34 one\r\n" +
        "-rw-r--r--    1 ftp      ftp          1234 Nov 23 10:34 two\r\n",
        "-rw-r--r--    1 ftp      ftp             3 Nov 23 10:34 three\r\n" +
        "drwxr-xr-x    2 ftp      ftp             3 Nov 23 10:34 sub\r\n",
      ],
      NLST: ["one\r\ntwo\r\n", "three\r\nsub\r\n"],
      MLSD: [
        "type=file;size=3;modify=20261123103400;perm=r; one\r\n" +
        "type=file;size=1234;modify=20261123103400;perm=r; two\r\n",
        "type=file;size=3;modify=20261123103400;perm=r; three\r\n" +
        "type=dir;size=3;modify=20261123103400;perm=el; sub\r\n",
      ],
    } as const;
    for (const verb of ["LIST", "NLST", "MLSD"] as const) {
      s.say("PORT 127,0,0,1,195,80");
      assert.equal(s.say(`${verb} /d`), "150 Here comes the directory listing.\r\n", verb);
      const event = s.last();
      assert.equal(event.command, verb);
      assert.equal(event.direction, "send");
      assert.equal(decoder.decode(event.listing), expected[verb][0], verb);
      const format = event.listingFormat;
      assert.ok(format, `${verb}: a formatter`);
      // Names that cannot go on one line are left out of later pages too.
      assert.equal(decoder.decode(format(later)), expected[verb][1], verb);
      assert.equal(format([]).length, 0, `${verb}: an empty page is no bytes`);
      assert.equal(s.done(), "226 Transfer complete.\r\n");
    }
  });

  test("the formatter keeps the session's facts of its start: OPTS MLST and REIN later change nothing", () => {
    const s = session();
    s.pagedWith([file("one")]);
    assert.equal(s.say("OPTS MLST type;size;"), "200 MLST OPTS type;size;\r\n");
    s.say("PORT 127,0,0,1,195,80");
    s.say("MLSD /d");
    const format = s.last().listingFormat!;
    assert.equal(decoder.decode(s.last().listing), "type=file;size=3; one\r\n");
    s.done();
    assert.equal(s.say("OPTS MLST modify;perm;"), "200 MLST OPTS modify;perm;\r\n");
    s.say("REIN");
    const page = [file("two", 7)];
    assert.equal(decoder.decode(format(page)), "type=file;size=7; two\r\n");
    assert.deepEqual(format(page), format(page), "the same page, the same bytes");
  });

  test("without `more` no formatter; STAT shows a whole list whatever the answer says", () => {
    const s = session();
    s.answerWith((request) =>
      request.op === "list"
        ? { ok: true, entries: [file("one"), file("two")], now: WALL_CLOCK }
        : { ok: true, stat: { type: "dir", size: 0, modified: MODIFIED } }
    );
    s.say("PORT 127,0,0,1,195,80");
    assert.equal(s.say("NLST /d"), "150 Here comes the directory listing.\r\n");
    assert.equal(decoder.decode(s.last().listing), "one\r\ntwo\r\n");
    assert.equal("listingFormat" in s.last(), false);
    s.done();
    // A driver that answered STAT's list with `more` gets no transfer: STAT lists what it has.
    s.answerWith((request) =>
      request.op === "list"
        ? { ok: true, entries: [file("one")], now: WALL_CLOCK, more: true }
        : { ok: true, stat: { type: "dir", size: 0, modified: MODIFIED } }
    );
    const count = s.transfers.length;
    assert.equal(
      s.say("STAT /d"),
      "213-Status of /d:\r\n" +
        "-rw-r--r--    1 ftp      ftp             3 Nov 23 10:34 one\r\n" +
        "213 End of status\r\n",
    );
    assert.equal(s.transfers.length, count);
  });

  test("a refused first page is answered in place of the 150, and no transfer starts", () => {
    const s = session();
    s.answerWith((request) =>
      request.op === "list"
        ? { ok: false, code: 550, message: "Permission denied." }
        : { ok: true, stat: { type: "dir", size: 0, modified: MODIFIED } }
    );
    for (const verb of ["LIST", "NLST", "MLSD"]) {
      s.say("PORT 127,0,0,1,195,80");
      assert.equal(s.say(`${verb} /d`), "550 Permission denied.\r\n", verb);
    }
    assert.equal(s.transfers.length, 0);
    assert.equal(s.say("NOOP"), "200 NOOP ok.\r\n");
  });
});
