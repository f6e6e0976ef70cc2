// The server machine's commands beyond RFC 959 and 3659's core: MFMT (draft-somers-ftp-mfxx-04),
// HASH, OPTS HASH and the X checksum commands (draft-bryan-ftpext-hash-02), SITE HELP and SITE
// CHMOD, and the MLST/MLSD perm and unique facts (RFC 3659 sections 7.5.5 and 7.5.2), with FEAT
// walked over configurations and checked against what each command does.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type FtpServerEvent,
  FtpServerSession,
  type FtpServerSessionOptions,
  type FtpStorageRequest,
  type FtpStorageResult,
  type FtpUserAccess,
} from "../../ftps/mod.ts";
import { parseFtpFacts, parseFtpFeat } from "../../codec/mod.ts";
import { ServerState } from "../../ftps/_server_session_state.ts";
import { FTP_COMMANDS } from "../../ftps/_server_session_commands.ts";
import { MemoryStorage } from "./_memory.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const TEN = "0123456789";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const digestOf = (algorithm: string, text: string) =>
  createHash(algorithm).update(text).digest("hex");
/** CRC-32 of "0123456789" (zlib.crc32). */
const CRC_TEN = "a684c7c6";

const WRITER: FtpUserAccess = { write: true, overwrite: true, setModified: true, chmod: true };
const ALL_HASHES = ["SHA-256", "SHA-1", "MD5", "CRC32"] as const;

/**
 * A plain session whose driver answers at once: storage from memory (`/f` holds "0123456789",
 * `/d` is a directory), every login good with `access`. `answer` may replace the storage's
 * answers; `say` sends lines and returns the replies.
 */
function serve(
  options: FtpServerSessionOptions = {},
  access: FtpUserAccess = {},
  files: Record<string, string | null> = { "/f": TEN, "/d": null },
) {
  const storage = new MemoryStorage(files);
  const session = new FtpServerSession({ tls: "none", ...options });
  const requests: FtpStorageRequest[] = [];
  const seen: FtpServerEvent[] = [];
  let answer = (request: FtpStorageRequest): FtpStorageResult => storage.answer(request);
  let now = 0;
  const replies = () => {
    let out = "";
    for (let bytes = session.pollTransmit(); bytes; bytes = session.pollTransmit()) {
      out += decoder.decode(bytes);
    }
    return out;
  };
  const pump = () => {
    for (let event = session.pollEvent(); event; event = session.pollEvent()) {
      if (event.type === "storage") {
        requests.push(event.request);
        session.storageResult(++now, answer(event.request));
      } else if (event.type === "authenticate") session.loginResult(++now, true, access);
      else if (event.type === "listen-data") session.dataListening(++now, 40000);
      else seen.push(event);
    }
  };
  const say = (...lines: string[]) => {
    session.receive(++now, encoder.encode(lines.map((line) => `${line}\r\n`).join("")));
    pump();
    return replies();
  };
  session.start(now, { local: "127.0.0.1", remote: "127.0.0.1" });
  replies();
  return {
    session,
    storage,
    requests,
    seen,
    say,
    /** Answers storage requests with `next` from now on. */
    answerWith(next: (request: FtpStorageRequest) => FtpStorageResult) {
      answer = next;
    },
    login() {
      say("USER fred");
      assert.equal(say("PASS x"), "230 Login successful.\r\n");
    },
    /** FEAT's features, by name. */
    feat: () => {
      const lines = say("FEAT").split("\r\n").slice(0, -1);
      return parseFtpFeat({ code: 211, lines: lines.map((line) => line.replace(/^211[- ]/, "")) });
    },
  };
}

describe("MFMT (draft-somers-ftp-mfxx-04 section 3)", () => {
  test("sets the time and answers 213 Modify=time; path, as the path was sent", () => {
    const s = serve({ mfmt: true }, WRITER);
    assert.ok(s.feat().has("MFMT"), "listed before login: the policy serves it");
    s.login();
    assert.ok(s.feat().has("MFMT"), "listed for this user");
    assert.equal(s.say("MFMT 20200102030405 f"), "213 Modify=20200102030405; f\r\n");
    assert.deepEqual(s.requests.at(-1), {
      op: "set-modified",
      path: "/f",
      modified: new Date("2020-01-02T03:04:05Z"),
    });
    s.say("TYPE I");
    assert.equal(s.say("MDTM /f"), "213 20200102030405\r\n");
    // RFC 3659 section 2.3's fractions, and a directory, and a name with spaces.
    assert.equal(s.say("MFMT 20200102030405.25 /d"), "213 Modify=20200102030405.250; /d\r\n");
    assert.equal(
      s.say("CWD d", "MFMT 19991231235959 .."),
      "250 Directory changed.\r\n" +
        "213 Modify=19991231235959; ..\r\n",
    );
    assert.equal(s.storage.nodes.get("/")!.modified.toISOString(), "1999-12-31T23:59:59.000Z");
  });

  test("501 for a bad time or no path, 550 for a missing file; the storage's refusal passes", () => {
    const s = serve({ mfmt: true }, WRITER);
    s.login();
    for (const line of ["MFMT", "MFMT 20200102030405", "MFMT 20200102030405 "]) {
      assert.equal(s.say(line), "501 MFMT takes a time and a path.\r\n", line);
    }
    for (const time of ["", "2020", "20201302030405", "20200230030405", "2020010203040x", "-1"]) {
      assert.equal(
        s.say(`MFMT ${time} /f`),
        "501 The time must be YYYYMMDDHHMMSS, in UTC.\r\n",
        time,
      );
    }
    assert.equal(s.say("MFMT 20200102030405 /gone"), "550 Requested action not taken.\r\n");
    s.answerWith((request) =>
      request.op === "set-modified"
        ? { ok: false, code: 451, message: "Disk trouble." }
        : s.storage.answer(request)
    );
    assert.equal(s.say("MFMT 20200102030405 /f"), "451 Disk trouble.\r\n");
    assert.equal(s.requests.filter((request) => request.op === "set-modified").length, 1);
  });

  test("a user who may not write: 550, and FEAT leaves MFMT out after login", () => {
    const s = serve({ mfmt: true }, { setModified: true });
    assert.ok(s.feat().has("MFMT"));
    s.login();
    assert.equal(s.feat().has("MFMT"), false);
    assert.equal(s.say("MFMT 20200102030405 /f"), "550 Permission denied.\r\n");
    assert.equal(s.requests.some((request) => request.op === "set-modified"), false);
  });

  test("not served (policy off, or a storage that cannot): 502, and not in FEAT", () => {
    for (const [options, access] of [[{}, WRITER], [{ mfmt: true }, { write: true }]] as const) {
      const s = serve(options, access);
      s.login();
      assert.equal(s.feat().has("MFMT"), false);
      assert.equal(s.say("MFMT 20200102030405 /f"), "502 MFMT not implemented.\r\n");
      assert.equal(s.say("mfmt"), "502 MFMT not implemented.\r\n");
    }
    assert.equal(serve().say("MFMT 20200102030405 /f"), "530 Please login with USER and PASS.\r\n");
  });
});

describe("HASH and OPTS HASH (draft-bryan-ftpext-hash-02), XCRC, XMD5, XSHA1, XSHA256", () => {
  test("off by default: 502, OPTS HASH not understood, nothing in FEAT", () => {
    const s = serve();
    s.login();
    for (const verb of ["HASH", "XCRC", "XMD5", "XSHA1", "XSHA256"]) {
      assert.equal(s.say(`${verb} /f`), `502 ${verb} not implemented.\r\n`);
    }
    assert.equal(s.say("OPTS HASH"), "501 Option not understood.\r\n");
    const feat = s.feat();
    for (const name of ["HASH", "XCRC", "XMD5", "XSHA1", "XSHA256"]) {
      assert.equal(feat.has(name), false);
    }
    assert.equal(s.requests.length, 0);
  });

  test("section 3: 213 <algorithm> 0-<size> <hex> <path as sent>; the X commands 250 <hex>", () => {
    const s = serve({ hashAlgorithms: ALL_HASHES });
    s.login();
    assert.equal(s.say("HASH f"), `213 SHA-256 0-10 ${sha256(TEN)} f\r\n`);
    assert.deepEqual(s.requests.at(-1), {
      op: "hash",
      path: "/f",
      algorithm: "SHA-256",
      length: 10,
    });
    assert.equal(s.say("XCRC /f"), `250 ${CRC_TEN}\r\n`);
    assert.equal(s.say("XMD5 /f"), `250 ${digestOf("md5", TEN)}\r\n`);
    assert.equal(s.say("XSHA1 /f"), `250 ${digestOf("sha1", TEN)}\r\n`);
    assert.equal(s.say("xsha256 /f"), `250 ${sha256(TEN)}\r\n`);
    // A file of 0 bytes: the range 0-0.
    s.storage.nodes.set("/empty", { type: "file", bytes: new Uint8Array(0), modified: new Date() });
    assert.equal(s.say("HASH /empty"), `213 SHA-256 0-0 ${sha256("")} /empty\r\n`);
  });

  test("sections 3.1 and 3.2: FEAT marks the selected algorithm; OPTS HASH shows and selects it", () => {
    const s = serve({ hashAlgorithms: ALL_HASHES });
    const feat = s.feat();
    assert.equal(feat.get("HASH"), "SHA-256*;SHA-1;MD5;CRC32");
    for (const verb of ["XCRC", "XMD5", "XSHA1", "XSHA256"]) assert.ok(feat.has(verb), verb);
    assert.equal(s.say("OPTS HASH"), "200 SHA-256\r\n", "before login too");
    s.login();
    assert.equal(s.say("OPTS HASH md5"), "200 MD5\r\n");
    assert.equal(s.feat().get("HASH"), "SHA-256;SHA-1;MD5*;CRC32");
    assert.equal(s.say("HASH /f"), `213 MD5 0-10 ${digestOf("md5", TEN)} /f\r\n`);
    for (const wanted of ["CRC-37", "SHA-512", "MD5 SHA-1", "SHA256"]) {
      assert.equal(
        s.say(`OPTS HASH ${wanted}`),
        "501 Unknown algorithm, current selection not changed.\r\n",
      );
    }
    assert.equal(s.say("OPTS HASH"), "200 MD5\r\n");
    assert.equal(
      s.say("OPTS HASH CRC32", "HASH /f"),
      `200 CRC32\r\n213 CRC32 0-10 ${CRC_TEN} /f\r\n`,
    );
    // Until the session is reinitialized (REIN).
    assert.equal(s.say("REIN"), "220 Service ready for new user.\r\n");
    assert.equal(s.say("OPTS HASH"), "200 SHA-256\r\n");
  });

  test("some algorithms only: SHA-256 selected where served, else the first; the others 502", () => {
    const s = serve({ hashAlgorithms: ["MD5", "SHA-1"] });
    s.login();
    const feat = s.feat();
    assert.equal(feat.get("HASH"), "MD5*;SHA-1");
    assert.deepEqual(["XCRC", "XMD5", "XSHA1", "XSHA256"].filter((verb) => feat.has(verb)), [
      "XMD5",
      "XSHA1",
    ]);
    assert.equal(s.say("XCRC /f"), "502 XCRC not implemented.\r\n");
    assert.equal(
      s.say("OPTS HASH SHA-256"),
      "501 Unknown algorithm, current selection not changed.\r\n",
    );
    assert.equal(
      serve({ hashAlgorithms: ["CRC32", "SHA-256"] }).say("OPTS HASH"),
      "200 SHA-256\r\n",
    );
  });

  test("section 3.5: 553 for a directory, 550 missing, 556 over the limit, 501 without a path", () => {
    const s = serve({ hashAlgorithms: ALL_HASHES, hashMaxBytes: 9 });
    s.login();
    assert.equal(s.say("HASH /d"), "553 Not a plain file.\r\n");
    assert.equal(s.say("XCRC /d"), "550 Not a plain file.\r\n");
    assert.equal(s.say("HASH /gone"), "550 Requested action not taken.\r\n");
    assert.equal(s.say("HASH /f"), "556 File larger than the hashing limit (9 bytes).\r\n");
    assert.equal(s.say("XSHA256 /f"), "550 File larger than the hashing limit (9 bytes).\r\n");
    assert.equal(s.say("HASH", "XMD5  "), "501 A path is needed.\r\n".repeat(2));
    assert.equal(s.requests.some((request) => request.op === "hash"), false, "nothing hashed");
    s.answerWith((request) => request.op === "stat" ? { ok: true } : s.storage.answer(request));
    assert.equal(s.say("HASH /f"), "550 No such file.\r\n");
  });

  test("the driver's answer: 450 when busy passes; a digest or size it could not give is 451", () => {
    const s = serve({ hashAlgorithms: ALL_HASHES });
    s.login();
    let result: FtpStorageResult = { ok: false, code: 450, message: "Busy hashing." };
    s.answerWith((request) => request.op === "hash" ? result : s.storage.answer(request));
    assert.equal(s.say("HASH /f"), "450 Busy hashing.\r\n");
    // The file shrank to 4 bytes while it was hashed: the range says so.
    result = { ok: true, hash: "ab12", size: 4 };
    assert.equal(s.say("HASH /f"), "213 SHA-256 0-4 ab12 /f\r\n");
    result = { ok: true, hash: "ab12" };
    assert.equal(s.say("XMD5 /f"), "250 ab12\r\n", "no size: the size seen");
    for (
      const bad of [
        { ok: true },
        { ok: true, hash: "AB12", size: 10 },
        { ok: true, hash: "ab 12", size: 10 },
        { ok: true, hash: "a".repeat(129), size: 10 },
        { ok: true, hash: "ab", size: 11 },
        { ok: true, hash: "ab", size: -1 },
        { ok: true, hash: "ab", size: 1.5 },
      ] as FtpStorageResult[]
    ) {
      result = bad;
      assert.equal(s.say("HASH /f"), "451 Local error in processing.\r\n", JSON.stringify(bad));
    }
  });

  test("one hash at a time per session: what follows waits, and is answered in order", () => {
    const s = serve({ hashAlgorithms: ALL_HASHES });
    s.login();
    const session = s.session;
    session.receive(100, encoder.encode("HASH /f\r\nNOOP\r\nXCRC /f\r\n"));
    const stat = session.pollEvent();
    assert.ok(stat?.type === "storage");
    session.storageResult(101, s.storage.answer(stat.request));
    const hashing = session.pollEvent();
    assert.ok(hashing?.type === "storage");
    assert.deepEqual(hashing.request, { op: "hash", path: "/f", algorithm: "SHA-256", length: 10 });
    assert.equal(session.pollEvent(), undefined, "nothing else asked meanwhile");
    assert.equal(session.pollTransmit(), undefined, "NOOP waits");
    assert.equal(session.pollTimeout(), undefined, "no idle timeout while the driver hashes");
    session.storageResult(102, s.storage.answer(hashing.request));
    assert.equal(
      s.say(),
      `213 SHA-256 0-10 ${sha256(TEN)} /f\r\n200 NOOP ok.\r\n` +
        `250 ${CRC_TEN}\r\n`,
    );
  });

  test("the policy is checked when the session is made", () => {
    assert.throws(() => new FtpServerSession({ hashAlgorithms: ["SHA-512" as "MD5"] }), TypeError);
    assert.throws(() => new FtpServerSession({ hashAlgorithms: ["MD5", "MD5"] }), TypeError);
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      assert.throws(() => new FtpServerSession({ hashMaxBytes: bad }), RangeError, String(bad));
    }
  });

  test("HASH asks the permissions: a file the user may not read is 550, nothing hashed", () => {
    // The shape a per-directory policy plugs into: (path, type) => operations.
    const s = new ServerState({ hashAlgorithms: ["MD5"] });
    s.phase = "running";
    s.loggedIn = true;
    s.permissions = (path) => new Set(path === "/f" ? [] : ["read"]);
    const rule = FTP_COMMANDS.get("HASH")!;
    s.command = "HASH";
    rule.run(s, "/f", 0);
    assert.deepEqual(s.events.splice(0), [{
      type: "storage",
      request: { op: "stat", path: "/f" },
      command: "HASH",
    }]);
    s.phase = "running";
    s.onStorage!({ ok: true, stat: { type: "file", size: 3, modified: new Date(0) } });
    assert.equal(decoder.decode(s.transmits.shift()), "550 Permission denied.\r\n");
    assert.deepEqual(s.events, []);
  });
});

describe("SITE HELP and SITE CHMOD (RFC 959 section 4.1.3)", () => {
  test("off by default: HELP names none, CHMOD and unknown commands 504, no command 501", () => {
    const s = serve({}, WRITER);
    s.login();
    assert.equal(s.say("SITE HELP"), "214 No SITE commands here.\r\n");
    assert.equal(s.say("SITE CHMOD 600 /f"), "504 SITE command not supported.\r\n");
    assert.equal(s.say("SITE UTIME 20200102030405 /f"), "504 SITE command not supported.\r\n");
    assert.equal(s.say("SITE", "SITE  "), "501 SITE needs a command: see SITE HELP.\r\n".repeat(2));
    assert.equal(s.requests.length, 0);
  });

  test("served: 200, the mode octal 0 to 777; HELP lists it", () => {
    const s = serve({ siteChmod: true }, WRITER, { "/f": TEN, "/d": null, "/my file": "x" });
    s.login();
    assert.equal(
      s.say("SITE HELP"),
      "214-SITE commands:\r\n CHMOD <mode> <path>\r\n HELP\r\n214 End\r\n",
    );
    assert.equal(s.say("SITE CHMOD 600 f"), "200 SITE CHMOD command successful.\r\n");
    assert.equal(s.storage.nodes.get("/f")!.mode, 0o600);
    assert.deepEqual(s.requests.at(-1), { op: "chmod", path: "/f", mode: 0o600 });
    assert.equal(s.say("site chmod 0755 /d"), "200 SITE CHMOD command successful.\r\n");
    assert.equal(s.storage.nodes.get("/d")!.mode, 0o755);
    assert.equal(s.say("SITE CHMOD 0 /my file"), "200 SITE CHMOD command successful.\r\n");
    assert.equal(s.storage.nodes.get("/my file")!.mode, 0);
  });

  test("no setuid, setgid, sticky bit or symbolic mode (501); 550 for a missing file and /", () => {
    const s = serve({ siteChmod: true }, WRITER);
    s.login();
    const requests = s.requests.length;
    for (const mode of ["4755", "2755", "1777", "7777", "u+x", "a=r", "8", "778", "0x1ff", "-1"]) {
      assert.equal(
        s.say(`SITE CHMOD ${mode} /f`),
        "501 SITE CHMOD takes an octal mode from 0 to 777 and a path.\r\n",
        mode,
      );
    }
    assert.equal(
      s.say("SITE CHMOD 644"),
      "501 SITE CHMOD takes an octal mode from 0 to 777 and a path.\r\n",
    );
    assert.equal(
      s.say("SITE CHMOD"),
      "501 SITE CHMOD takes an octal mode from 0 to 777 and a path.\r\n",
    );
    assert.equal(s.requests.length, requests, "no storage request for any of those");
    assert.equal(s.say("SITE CHMOD 644 /gone"), "550 Requested action not taken.\r\n");
    // The top directory's bits stay: taking them away would lock every user out.
    assert.equal(
      s.say("SITE CHMOD 000 /", "SITE CHMOD 777 ../.."),
      "550 Permission denied.\r\n".repeat(2),
    );
    s.answerWith((request) => request.op === "stat" ? { ok: true } : s.storage.answer(request));
    assert.equal(s.say("SITE CHMOD 644 /f"), "550 No such file.\r\n");
    s.answerWith((request) =>
      request.op === "chmod" ? { ok: false, message: "Not here." } : s.storage.answer(request)
    );
    assert.equal(s.say("SITE CHMOD 644 /f"), "550 Not here.\r\n");
  });

  test("a user who may not write: 550, HELP lists none; a storage that cannot: 504", () => {
    const reader = serve({ siteChmod: true }, { chmod: true });
    reader.login();
    assert.equal(reader.say("SITE HELP"), "214 No SITE commands here.\r\n");
    assert.equal(reader.say("SITE CHMOD 644 /f"), "550 Permission denied.\r\n");
    assert.equal(reader.storage.nodes.get("/f")!.mode, undefined);
    const cannot = serve({ siteChmod: true }, { write: true });
    cannot.login();
    assert.equal(cannot.say("SITE HELP"), "214 No SITE commands here.\r\n");
    assert.equal(cannot.say("SITE CHMOD 644 /f"), "504 SITE command not supported.\r\n");
  });
});

describe("MLST and MLSD: the perm and unique facts (RFC 3659 sections 7.5.5, 7.5.2)", () => {
  const files = { "/f": TEN, "/d": null, "/d/g": "x" };

  /** The facts of each entry of MLSD `path`, by name, through a whole transfer. */
  function mlsd(s: ReturnType<typeof serve>, path: string): Record<string, Record<string, string>> {
    assert.match(s.say("EPSV"), /^229 /);
    assert.match(s.say("MLSD " + path), /^150 /);
    const out: Record<string, Record<string, string>> = {};
    for (const event of s.seen.splice(0)) {
      if (event.type !== "transfer-data") continue;
      for (const line of decoder.decode(event.listing).split("\r\n").filter(Boolean)) {
        const entry = parseFtpFacts(line);
        out[entry.name] = { ...entry.facts };
      }
      s.session.dataResult(1001, event.id, { ok: true });
    }
    assert.match(s.say(), /^226 /);
    return out;
  }

  /** The facts of MLST `path`. */
  function mlst(s: ReturnType<typeof serve>, path: string): Record<string, string> {
    const reply = s.say(`MLST ${path}`).split("\r\n");
    return { ...parseFtpFacts(reply[1]).facts };
  }

  test("a reader: perm=r on files, perm=el on directories", () => {
    const s = serve({ dataProtection: "optional" }, {}, files);
    s.login();
    const facts = mlsd(s, "/");
    assert.equal(facts.f.perm, "r");
    assert.equal(facts.d.perm, "el");
    assert.equal(mlst(s, "/").perm, "el");
    // A file's listing on the control connection, from the top directory.
    assert.match(s.say("STAT /f"), /^213-Status of \/f:\r\n-rw-r--r-- .* f\r\n213 End/);
  });

  test("a writer: d and f on what is not the top, c, m and p in directories; a and w with overwrite", () => {
    const creator = serve({ dataProtection: "optional" }, { write: true }, files);
    creator.login();
    assert.deepEqual(
      Object.fromEntries(Object.entries(mlsd(creator, "/")).map(([name, f]) => [name, f.perm])),
      { f: "dfr", d: "cdeflmp" },
    );
    assert.equal(mlst(creator, "/").perm, "celmp", "the top is neither deleted nor renamed");
    assert.equal(mlsd(creator, "/d").g.perm, "dfr");
    const writer = serve({ dataProtection: "optional" }, { write: true, overwrite: true }, files);
    writer.login();
    assert.equal(mlst(writer, "/f").perm, "adfrw");
    assert.equal(mlst(writer, "d/g").perm, "adfrw");
    assert.equal(mlst(writer, "/d").perm, "cdeflmp");
    // REIN: no user, no permissions; a new login gets its own.
    writer.say("REIN");
    writer.login();
    assert.equal(mlst(writer, "/f").perm, "adfrw");
  });

  test("per-directory permissions narrow the perm fact: a file by its directory, a directory by itself and its parent", () => {
    const directories = {
      "/": ["list", "read"],
      "/d": ["write", "mkdir", "delete", "rename", "rmdir"],
    } as const;
    const s = serve(
      { dataProtection: "optional" },
      { write: true, overwrite: true, directories },
      files,
    );
    s.login();
    // At the top: read and list only; the directory /d is not removable or renamable from /.
    assert.equal(mlst(s, "/f").perm, "r");
    assert.equal(mlst(s, "/").perm, "el");
    assert.equal(mlst(s, "/d").perm, "cemp", "d (RMD) and f need rmdir and rename in /");
    // In /d: write (over files too), delete, rename; not read, not list.
    assert.equal(mlst(s, "/d/g").perm, "dfw");
    // The rules narrow what the access gives, never widen it: a reader stays a reader.
    const reader = serve({ dataProtection: "optional" }, { directories }, files);
    reader.login();
    assert.equal(mlst(reader, "/d/g").perm, "");
    assert.equal(mlst(reader, "/f").perm, "r");
  });

  test("unique: the storage's token when it gives a valid one, else no fact", () => {
    const s = serve({ dataProtection: "optional" }, {}, files);
    s.login();
    s.storage.nodes.get("/f")!.unique = "803g1a2b";
    s.storage.nodes.get("/d")!.unique = "a;b";
    s.storage.nodes.get("/d/g")!.unique = "a b";
    assert.equal(mlst(s, "/f").unique, "803g1a2b");
    assert.equal(mlst(s, "/d").unique, undefined);
    assert.equal(mlst(s, "/d/g").unique, undefined);
    s.storage.nodes.get("/d/g")!.unique = "x".repeat(65);
    assert.equal(mlst(s, "/d/g").unique, undefined);
    s.storage.nodes.get("/d/g")!.unique = `A-z_0.9,:!@#$%^&()+?/\\'"`;
    assert.equal(mlst(s, "/d/g").unique, `A-z_0.9,:!@#$%^&()+?/\\'"`);
    assert.equal(mlsd(s, "/").f.unique, "803g1a2b");
  });

  test("section 7.9: OPTS MLST picks perm and unique like the others; FEAT shows the choice", () => {
    const s = serve({}, {}, files);
    assert.equal(s.feat().get("MLST"), "type*;size*;modify*;perm*;unique*;");
    s.login();
    assert.equal(s.say("OPTS MLST Perm;unique;"), "200 MLST OPTS perm;unique;\r\n");
    assert.equal(s.feat().get("MLST"), "type;size;modify;perm*;unique*;");
    s.storage.nodes.get("/f")!.unique = "u1";
    assert.equal(s.say("MLST /f"), "250-Listing /f\r\n perm=r;unique=u1; /f\r\n250 End\r\n");
    assert.equal(s.say("OPTS MLST type;"), "200 MLST OPTS type;\r\n");
    assert.equal(s.say("MLST /f"), "250-Listing /f\r\n type=file; /f\r\n250 End\r\n");
  });
});

describe("FEAT lists exactly what the session does, whatever the configuration", () => {
  const CHECKSUMS: Record<string, (typeof ALL_HASHES)[number]> = {
    XCRC: "CRC32",
    XMD5: "MD5",
    XSHA1: "SHA-1",
    XSHA256: "SHA-256",
  };

  test("MFMT, HASH and its algorithms, the X commands, SITE CHMOD, MLST facts, RANG", () => {
    const choices = [false, true];
    const hashChoices: (readonly (typeof ALL_HASHES)[number][])[] = [
      [],
      ALL_HASHES,
      ["MD5"],
      ["CRC32", "SHA-1"],
    ];
    let walked = 0;
    for (const mfmt of choices) {
      for (const siteChmod of choices) {
        for (const hashAlgorithms of hashChoices) {
          for (const write of choices) {
            for (const overwrite of choices) {
              for (const setModified of choices) {
                for (const chmod of choices) {
                  const options = { mfmt, siteChmod, hashAlgorithms };
                  const access = { write, overwrite, setModified, chmod };
                  const what = JSON.stringify({ options, access });
                  const s = serve(options, access);
                  // Before login: what the policy serves to anyone.
                  const before = s.feat();
                  assert.equal(before.has("MFMT"), mfmt, what);
                  s.login();
                  const feat = s.feat();
                  assert.deepEqual(
                    [...before.keys()].filter((name) => name !== "MFMT"),
                    [...feat.keys()].filter((name) => name !== "MFMT"),
                    what,
                  );
                  const works = (line: string, code: string) => s.say(line).startsWith(code);
                  assert.equal(feat.has("MFMT"), works("MFMT 20200102030405 /f", "213"), what);
                  assert.equal(feat.has("HASH"), works("HASH /f", "213"), what);
                  const listed = (feat.get("HASH") ?? "").split(";").filter(Boolean);
                  for (const algorithm of ALL_HASHES) {
                    const offered = listed.some((name) => name.replace("*", "") === algorithm);
                    assert.equal(offered, works(`OPTS HASH ${algorithm}`, "200"), what);
                  }
                  assert.equal(
                    listed.filter((name) => name.endsWith("*")).length,
                    feat.has("HASH") ? 1 : 0,
                    what,
                  );
                  for (const [verb, algorithm] of Object.entries(CHECKSUMS)) {
                    assert.equal(feat.has(verb), works(`${verb} /f`, "250"), `${verb} ${what}`);
                    assert.equal(feat.has(verb), listed.some((n) => n.startsWith(algorithm)));
                  }
                  const help = s.say("SITE HELP");
                  assert.equal(/ CHMOD /.test(help), works("SITE CHMOD 640 /f", "200"), what);
                  for (const fact of feat.get("MLST")!.split(";").filter(Boolean)) {
                    const name = fact.replace("*", "");
                    assert.equal(s.say(`OPTS MLST ${name};`), `200 MLST OPTS ${name};\r\n`);
                  }
                  assert.equal(feat.get("RANG"), "STREAM");
                  assert.equal(
                    s.say("RANG 0 4", "RANG 1 0"),
                    "350 Restarting at 0. End byte range at 4.\r\n" +
                      "350 Restarting at 1. End byte range at 0.\r\n",
                  );
                  walked++;
                }
              }
            }
          }
        }
      }
    }
    assert.equal(walked, 256);
  });
});

describe("RANG (draft-bryan-ftp-range-08) for RETR and HASH", () => {
  test("the range is checked, reset by RANG 1 0, and excludes REST", () => {
    const s = serve({ hashAlgorithms: ["SHA-256"], dataProtection: "optional" });
    s.login();
    assert.equal(
      s.say("RANG", "RANG 5", "RANG a b", "RANG 5 4", "RANG -1 4"),
      "501 RANG takes the first and the last byte of the range.\r\n".repeat(3) +
        "501 The range ends before it starts.\r\n" +
        "501 RANG takes the first and the last byte of the range.\r\n",
    );
    // REST after RANG forgets the range: a RETR then starts at REST's offset, to the end.
    s.say("RANG 2 4", "REST 3", "EPSV");
    s.say("RETR /f");
    assert.deepEqual(s.requests.at(-1), { op: "read", path: "/f", offset: 3 });
  });

  test("RETR sends the range: from its first byte, so many bytes; once", () => {
    const s = serve({ dataProtection: "optional" });
    s.login();
    s.say("REST 7", "RANG 2 5", "EPSV");
    s.say("RETR /f");
    assert.deepEqual(s.requests.at(-1), { op: "read", path: "/f", offset: 2, length: 4 });
  });

  test("STOR, APPE and STOU after a range are refused (504): no ranged writes", () => {
    const s = serve({ dataProtection: "optional" }, WRITER);
    s.login();
    for (const line of ["STOR /g", "APPE /f", "STOU"]) {
      s.say("RANG 0 1", "EPSV");
      assert.equal(s.say(line), "504 RANG is for RETR and HASH only.\r\n", line);
    }
  });

  test("HASH of a range: its bytes hashed, the range in the reply, cut at the file's end", () => {
    const s = serve({ hashAlgorithms: ["SHA-256"] });
    s.login();
    assert.equal(
      s.say("RANG 2 5", "HASH /f"),
      "350 Restarting at 2. End byte range at 5.\r\n" +
        `213 SHA-256 2-5 ${sha256(TEN.slice(2, 6))} /f\r\n`,
    );
    assert.deepEqual(s.requests.at(-1), {
      op: "hash",
      path: "/f",
      algorithm: "SHA-256",
      length: 4,
      offset: 2,
    });
    // Used once: the next HASH is of the whole file.
    assert.match(s.say("HASH /f"), new RegExp(`^213 SHA-256 0-10 ${sha256(TEN)} /f`));
    // Past the end: cut at the file's last byte; starting past it: 556.
    assert.equal(
      s.say("RANG 8 100", "HASH /f").split("\r\n")[1],
      `213 SHA-256 8-9 ${sha256(TEN.slice(8))} /f`,
    );
    assert.equal(
      s.say("RANG 10 12", "HASH /f").split("\r\n")[1],
      "556 The range starts past the file's end.",
    );
  });
});
