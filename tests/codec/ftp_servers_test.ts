// The FTP codecs on what real servers sent: sessions captured from vsftpd 3.0.3, ProFTPD 1.3.8 and
// pyftpdlib 1.5.7 on loopback (scripts/capture_ftp_fixtures.py), kept as fixtures.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import {
  type FtpReply,
  FtpReplyParser,
  parseFtpEpsv,
  parseFtpFacts,
  parseFtpFeat,
  parseFtpListLine,
  parseFtpNumber,
  parseFtpPasv,
  parseFtpPath,
  parseFtpTime,
} from "../../codec/mod.ts";
import { repoFile } from "../_runtime.ts";

interface Capture {
  server: string;
  greeting: string;
  replies: Record<string, string>;
  data: Record<string, { reply: string; final?: string; body?: string }>;
}

const SERVERS = ["vsftpd", "proftpd", "pyftpdlib"] as const;

async function capture(name: string): Promise<Capture> {
  return JSON.parse(await readFile(repoFile(`tests/codec/fixtures/ftp_${name}.json`), "utf8"));
}

/** Parses one captured reply: it must be exactly one reply. */
function one(raw: string): FtpReply {
  const replies = new FtpReplyParser().push(new TextEncoder().encode(raw));
  assert.equal(replies.length, 1, raw);
  return replies[0];
}

const lines = (body: string) => body.split("\r\n").filter((line) => line !== "");

describe("FTP codecs on replies captured from real servers", () => {
  for (const name of SERVERS) {
    test(`${name}: every reply parses, byte stream split anywhere`, async () => {
      const session = await capture(name);
      const raw = [
        session.greeting,
        ...Object.values(session.replies),
        ...Object.values(session.data).flatMap((entry) => [entry.reply, entry.final ?? ""]),
      ].join("");
      const whole = new FtpReplyParser().push(new TextEncoder().encode(raw));
      const bytes = new TextEncoder().encode(raw);
      const parser = new FtpReplyParser();
      const split: FtpReply[] = [];
      for (let i = 0; i < bytes.length; i += 7) {
        split.push(...parser.push(bytes.subarray(i, i + 7)));
      }
      assert.deepEqual(split, whole);
      const expected = 1 + Object.keys(session.replies).length +
        Object.values(session.data).reduce((n, entry) => n + (entry.final ? 2 : 1), 0);
      assert.equal(whole.length, expected);
      assert.equal(whole[0].code, 220);
    });

    test(`${name}: FEAT, PWD, SIZE, MDTM, EPSV and PASV`, async () => {
      const { replies } = await capture(name);
      const features = parseFtpFeat(one(replies.FEAT));
      for (const feature of ["EPRT", "EPSV", "MDTM", "SIZE", "REST", "TVFS"]) {
        assert.ok(features.has(feature), `${name} lists ${feature}`);
      }
      assert.equal(features.get("REST"), "STREAM");
      if (name !== "vsftpd") assert.match(features.get("MLST")!, /size\*;/);
      assert.equal(parseFtpPath(one(replies.PWD).lines[0]), "/");
      const size = one(replies["SIZE boot.cfg"]);
      assert.equal(size.code, 213);
      assert.equal(parseFtpNumber(size.lines[0]), 1234);
      const mdtm = one(replies["MDTM pub/small.bin"]);
      assert.equal(parseFtpTime(mdtm.lines[0]).toISOString(), "2025-01-01T12:00:00.000Z");
      const epsv = one(replies.EPSV);
      assert.equal(epsv.code, 229);
      assert.ok(parseFtpEpsv(epsv.lines[0]) > 1023);
      const pasv = parseFtpPasv(one(replies.PASV).lines[0]);
      assert.equal(pasv.host, "127.0.0.1");
      assert.ok(pasv.port > 1023);
      assert.equal(one(replies["CWD nowhere"]).code, 550);
      assert.ok(one(replies.HELP).lines.length > 2, "a long multi-line HELP");
      assert.equal(one(replies.STAT).code, 211);
    });

    test(`${name}: LIST lines (ls -l), NLST names`, async () => {
      const { data } = await capture(name);
      const entries = lines(data.LIST.body!).map((line) => parseFtpListLine(line)!);
      const byName = new Map(entries.map((entry) => [entry.name, entry]));
      assert.deepEqual(
        [...byName.keys()].sort(),
        ["a name with spaces.txt", "boot.cfg", "incoming", "lib", "pub"],
      );
      assert.equal(byName.get("boot.cfg")!.size, 1234);
      assert.equal(byName.get("boot.cfg")!.type, "file");
      assert.equal(byName.get("pub")!.type, "dir");
      assert.equal(byName.get("lib")!.type, "link");
      assert.equal(byName.get("lib")!.target, "pub");
      assert.equal(byName.get("a name with spaces.txt")!.size, 3);
      const [old] = lines(data["LIST pub"].body!).map((line) => parseFtpListLine(line)!);
      assert.deepEqual(old.modified, { year: 2025, month: 1, day: 1 });
      assert.equal(old.size, 5);
      assert.deepEqual(
        lines(data.NLST.body!).sort(),
        ["a name with spaces.txt", "boot.cfg", "incoming", "lib", "pub"],
      );
      for (const line of lines(data["LIST -a"].body!)) {
        assert.ok(parseFtpListLine(line), line);
      }
    });
  }

  for (const name of ["proftpd", "pyftpdlib"] as const) {
    test(`${name}: MLSD lines and the MLST reply (RFC 3659)`, async () => {
      const { data, replies } = await capture(name);
      const entries = lines(data.MLSD.body!).map(parseFtpFacts);
      const boot = entries.find((entry) => entry.name === "boot.cfg")!;
      assert.equal(boot.facts.type, "file");
      assert.equal(boot.facts.size, "1234");
      assert.ok(parseFtpTime(boot.facts.modify).getTime() > 0);
      assert.ok(entries.some((entry) => entry.name === "pub" && entry.facts.type === "dir"));
      const mlst = one(replies["MLST boot.cfg"]);
      assert.equal(mlst.code, 250);
      const entry = parseFtpFacts(mlst.lines[1]);
      assert.match(entry.name, /boot\.cfg$/);
      assert.equal(entry.facts.size, "1234");
    });
  }

  test("vsftpd has no MLSD: 500", async () => {
    const { data } = await capture("vsftpd");
    assert.equal(one(data.MLSD.reply).code, 500);
  });
});
