// The FTPS client's checksum and kept-time procedures without a network: FEAT's HASH read
// (draft-bryan-ftpext-hash-02 section 3.1), the replies to HASH, OPTS HASH, the X commands
// (appendix B) and MFMT (draft-somers-ftp-mfxx-04 section 3) read strictly, and the command
// sequences chosen from FEAT, against a scripted server.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { FtpReply } from "../../codec/mod.ts";
import {
  checkOptsHashReply,
  digestedSource,
  hashCommand,
  isHashAlgorithm,
  localDigest,
  parseHashFeature,
  parseHashReply,
  parseXHashReply,
  remoteHash,
  strongestHash,
  verifyAlgorithm,
} from "../../ftps/_client_hash.ts";
import {
  checkTime,
  mdtmWriteAccepted,
  mfmtReplyTime,
  setRemoteTime,
  wholeSecond,
} from "../../ftps/_client_times.ts";
import { uploadSource } from "../../ftps/_client_transfer.ts";
import { FtpChecksumError, FtpReplyError, FtpUnsupportedError } from "../../ftps/mod.ts";

const SHA1 = "22596363b3de40b06f981fb85d82312e8c0ed511";
const SHA256 = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

const reply = (code: number, ...lines: string[]): FtpReply => ({ code, lines });

/** A scripted server: each command line gets the next reply of its verb's list (an error reply,
 * 4yz or 5yz, or 350, rejects as FtpsClient.raw does). The lines sent are kept. */
function scripted(features: Record<string, string>, replies: Record<string, FtpReply[]>) {
  const sent: string[] = [];
  return {
    sent,
    selected: undefined as string | undefined,
    features: new Map(Object.entries(features)),
    raw(verb: string, argument?: string): Promise<FtpReply> {
      const line = argument === undefined ? verb : `${verb} ${argument}`;
      sent.push(line);
      const next = replies[verb]?.shift() ?? reply(500, "Unknown command.");
      if (next.code >= 300) return Promise.reject(new FtpReplyError(line, next));
      return Promise.resolve(next);
    },
  };
}

describe("FTPS client checksums: FEAT and replies", () => {
  test("FEAT's HASH: the algorithms and the one selected (*)", () => {
    assert.deepEqual(parseHashFeature("CRC32;MD5;SHA-1*;SHA-256;SHA-512;"), {
      algorithms: ["CRC32", "MD5", "SHA-1", "SHA-256", "SHA-512"],
      selected: "SHA-1",
    });
    assert.deepEqual(parseHashFeature("sha-256; ;*;bad name;md5"), {
      algorithms: ["SHA-256", "MD5"],
    });
  });

  test("which command hashes with an algorithm, and the strongest offered", () => {
    const proftpd = new Map([["HASH", "CRC32;MD5;SHA-1*;SHA-256;"], ["XCRC", ""]]);
    assert.equal(hashCommand(proftpd, "SHA-256"), "HASH");
    const xOnly = new Map([["XMD5", ""], ["XCRC", ""]]);
    assert.equal(hashCommand(xOnly, "MD5"), "XMD5");
    assert.equal(hashCommand(xOnly, "SHA-1"), undefined);
    assert.equal(strongestHash(proftpd), "SHA-256");
    assert.equal(strongestHash(xOnly), "MD5");
    assert.equal(strongestHash(new Map([["HASH", "CRC32*"]])), "CRC32");
    assert.equal(strongestHash(new Map([["HASH", "SHA-512*"]])), undefined);
    assert.equal(verifyAlgorithm(xOnly, "f"), "MD5");
    assert.throws(
      () => verifyAlgorithm(new Map([["MDTM", ""]]), "f"),
      (error: unknown) => error instanceof FtpUnsupportedError && error.feature === "hash",
    );
    assert.equal(isHashAlgorithm("SHA-256"), true);
    assert.equal(isHashAlgorithm("toString"), false);
  });

  test("HASH's reply: ProFTPD's two lines and ftkit's one, lower-cased", () => {
    const proftpd = reply(213, "Computing SHA-1 digest", `SHA-1 0-12 ${SHA1} pub/a.txt`);
    assert.equal(parseHashReply("HASH pub/a.txt", proftpd, "SHA-1"), SHA1);
    const upper = reply(213, `SHA-256 0-12 ${SHA256.toUpperCase()} a file with spaces.txt`);
    assert.equal(parseHashReply("HASH x", upper, "SHA-256"), SHA256);
    assert.equal(
      parseHashReply("HASH x", reply(213, `CRC32 100-1099 af083b2d x`), "CRC32", 100),
      "af083b2d",
    );
  });

  test("HASH's reply: anything but the digest asked for is refused", () => {
    const bad: [FtpReply, number?][] = [
      [reply(213, `SHA-1 0-12 ${SHA1} x`)], // another algorithm
      [reply(213, `SHA-256 0-12 ${SHA256.slice(1)} x`)], // too short
      [reply(213, `SHA-256 0-12 ${SHA256}0 x`)], // too long
      [reply(213, `SHA-256 0-12 ${SHA256.slice(1)}g x`)], // not hex
      [reply(213, `SHA-256 ${SHA256} x`)], // no range
      [reply(250, `SHA-256 0-12 ${SHA256} x`)], // not 213
      [reply(213, `SHA-256 0-12 ${SHA256}\u0000 x`)],
      [reply(213)],
    ];
    for (const [answer, start] of bad) {
      assert.throws(
        () => parseHashReply("HASH x", answer, "SHA-256", start),
        (error: unknown) =>
          error instanceof FtpReplyError && /Not a SHA-256 digest/.test(error.message),
        JSON.stringify(answer),
      );
    }
  });

  test("HASH's reply for another range than asked is refused", () => {
    for (
      const [answer, start] of [[`SHA-256 5-12 ${SHA256} x`, 0], [
        `SHA-256 0-12 ${SHA256} x`,
        5,
      ]] as const
    ) {
      assert.throws(
        () => parseHashReply("HASH x", reply(213, answer), "SHA-256", start),
        (error: unknown) =>
          error instanceof FtpReplyError && /hashed from byte/.test(error.message),
      );
    }
  });

  test("the X commands' replies: the digest, maybe the path after it", () => {
    assert.equal(
      parseXHashReply("XCRC a", reply(250, "Computing CRC32 digest", "AF083B2D"), "CRC32"),
      "af083b2d",
    );
    assert.equal(parseXHashReply("XSHA1 a", reply(213, `${SHA1} a`), "SHA-1"), SHA1);
    for (
      const answer of [
        reply(250, "AF083B2"),
        reply(250, "AF083B2D0"),
        reply(250, "not a digest"),
        reply(150, "AF083B2D"),
        reply(250, " "),
      ]
    ) {
      assert.throws(() => parseXHashReply("XCRC a", answer, "CRC32"), FtpReplyError);
    }
  });

  test("OPTS HASH: the algorithm selected must be the one asked for", () => {
    checkOptsHashReply(reply(200, "SHA-256"), "SHA-256");
    assert.throws(() => checkOptsHashReply(reply(200, "SHA-1"), "SHA-256"), FtpReplyError);
    assert.throws(() => checkOptsHashReply(reply(250, "SHA-256"), "SHA-256"), FtpReplyError);
  });

  test("local digests as the server computes them; an upload's restart a new digest", async () => {
    const data = new TextEncoder().encode("hello world\n");
    const digest = localDigest("SHA-1");
    digest.update(data);
    assert.equal(digest.hex(), createHash("sha1").update(data).digest("hex"));
    const crc = localDigest("CRC32");
    crc.update(data);
    assert.equal(crc.hex(), "af083b2d");
    const { source, digest: last } = digestedSource(uploadSource(data), "MD5");
    for (let attempt = 0; attempt < 2; attempt++) {
      for await (const _ of source.chunks()) { /* sent */ }
    }
    assert.equal(last().hex(), createHash("md5").update(data).digest("hex"));
  });
});

describe("FTPS client checksums: the commands sent", () => {
  test("HASH after OPTS HASH when another algorithm is selected; once selected, HASH alone", async () => {
    const peer = scripted({ HASH: "CRC32;SHA-1*;SHA-256" }, {
      OPTS: [reply(200, "SHA-256")],
      HASH: [reply(213, `SHA-256 0-12 ${SHA256} a`), reply(213, `SHA-256 0-12 ${SHA256} a`)],
    });
    assert.equal(await remoteHash(peer, "a", "SHA-256"), SHA256);
    assert.equal(await remoteHash(peer, "a", "SHA-256"), SHA256);
    assert.deepEqual(peer.sent, ["OPTS HASH SHA-256", "HASH a", "HASH a"]);
  });

  test("the algorithm FEAT stars is used without OPTS HASH", async () => {
    const peer = scripted({ HASH: "SHA-1*;SHA-256" }, {
      HASH: [reply(213, `SHA-1 0-12 ${SHA1} a`)],
    });
    assert.equal(await remoteHash(peer, "a", "SHA-1"), SHA1);
    assert.deepEqual(peer.sent, ["HASH a"]);
  });

  test("a range: RANG (first and last byte) before HASH; RANG 1 0 forgets it on failure", async () => {
    const peer = scripted({ HASH: "SHA-256*", RANG: "STREAM" }, {
      RANG: [reply(350, "ok"), reply(350, "ok"), reply(350, "ok"), reply(350, "reset")],
      SIZE: [reply(213, "12")],
      HASH: [
        reply(213, `SHA-256 100-1099 ${SHA256} a`),
        reply(213, `SHA-256 4-11 ${SHA256} a`),
        reply(213, `SHA-256 0-11 ${SHA256} a`), // not from 5
      ],
    });
    assert.equal(await remoteHash(peer, "a", "SHA-256", { start: 100, end: 1100 }), SHA256);
    assert.equal(await remoteHash(peer, "a", "SHA-256", { start: 4 }), SHA256);
    await assert.rejects(remoteHash(peer, "a", "SHA-256", { start: 5, end: 10 }), FtpReplyError);
    assert.deepEqual(peer.sent, [
      "RANG 100 1099",
      "HASH a",
      "SIZE a",
      "RANG 4 11",
      "HASH a",
      "RANG 5 9",
      "HASH a",
      "RANG 1 0",
    ]);
    await assert.rejects(remoteHash(peer, "a", "SHA-256", { start: 5, end: 5 }), RangeError);
    await assert.rejects(remoteHash(peer, "a", "SHA-256", { start: -1 }), RangeError);
  });

  test("a range without RANG, or by an X command, is unsupported", async () => {
    const hashOnly = scripted({ HASH: "SHA-256*" }, {});
    await assert.rejects(remoteHash(hashOnly, "a", "SHA-256", { end: 4 }), FtpUnsupportedError);
    const xOnly = scripted({ XSHA256: "" }, {});
    await assert.rejects(remoteHash(xOnly, "a", "SHA-256", { start: 1 }), FtpUnsupportedError);
    assert.deepEqual([...hashOnly.sent, ...xOnly.sent], []);
  });

  test("an X command FEAT leaves out is tried; 500 or 502 means none", async () => {
    const quiet = scripted({}, { XMD5: [reply(250, "0123456789ABCDEF0123456789abcdef")] });
    assert.equal(await remoteHash(quiet, "a", "MD5"), "0123456789abcdef0123456789abcdef");
    const none = scripted({}, { XSHA256: [reply(502, "XSHA256 not implemented.")] });
    await assert.rejects(remoteHash(none, "a", "SHA-256"), FtpUnsupportedError);
    // A refusal of the file is the server's, not a missing command.
    const missing = scripted({ XSHA1: "" }, { XSHA1: [reply(550, "No such file.")] });
    await assert.rejects(
      remoteHash(missing, "a", "SHA-1"),
      (error: unknown) => error instanceof FtpReplyError && error.code === 550,
    );
  });

  test("a mismatch's error says both digests", () => {
    const error = new FtpChecksumError("f", "MD5", "aa", "bb");
    assert.equal(error.message, "f: the server's MD5 is bb, the bytes transferred have aa");
  });
});

describe("FTPS client kept times", () => {
  const when = new Date("2026-01-02T03:04:05.678Z");

  test("MFMT's reply, read strictly", () => {
    assert.equal(
      mfmtReplyTime("MFMT", reply(213, "Modify=20260102030405; pub/a.txt"))?.toISOString(),
      "2026-01-02T03:04:05.000Z",
    );
    // Pure-FTPd's: no time said.
    assert.equal(mfmtReplyTime("MFMT", reply(213, "UTIME OK.")), undefined);
    for (
      const answer of [
        reply(213, "Modify=2026010203040; a"),
        reply(250, "Modify=20260102030405; a"),
        reply(213, "Modify=20261302030405; a"),
        reply(250, "ok"),
      ]
    ) {
      assert.throws(() => mfmtReplyTime("MFMT", answer), FtpReplyError);
    }
    assert.equal(wholeSecond(when).toISOString(), "2026-01-02T03:04:05.000Z");
    assert.throws(() => checkTime(new Date(NaN)), RangeError);
    assert.throws(() => checkTime(new Date("+010000-01-01T00:00:00Z")), RangeError);
    checkTime(when);
  });

  test("MFMT when FEAT lists it, to the whole second", async () => {
    const peer = scripted({ MFMT: "" }, { MFMT: [reply(213, "Modify=20260102030405; a b")] });
    assert.equal(await setRemoteTime(peer, "a b", when), "MFMT");
    assert.deepEqual(peer.sent, ["MFMT 20260102030405 a b"]);
    const liar = scripted({ MFMT: "" }, { MFMT: [reply(213, "Modify=20000102030405; a")] });
    await assert.rejects(setRemoteTime(liar, "a", when), FtpUnsupportedError);
    const pure = scripted({ MFMT: "" }, {
      MFMT: [reply(213, "UTIME OK."), reply(213, "UTIME OK.")],
      MDTM: [reply(213, "20260102030405"), reply(213, "20000102030405")],
    });
    assert.equal(await setRemoteTime(pure, "a", when), "MFMT");
    await assert.rejects(setRemoteTime(pure, "a", when), /set 2000-01-02T03:04:05.000Z/);
    assert.deepEqual(pure.sent, [
      "MFMT 20260102030405 a",
      "MDTM a",
      "MFMT 20260102030405 a",
      "MDTM a",
    ]);
  });

  test("SITE UTIME when FEAT's SITE lists it, read back with MDTM", async () => {
    const peer = scripted({ SITE: "MKDIR RMDIR SYMLINK UTIME" }, {
      SITE: [reply(200, "SITE UTIME command successful")],
      MDTM: [reply(213, "20260102030405")],
    });
    assert.equal(await setRemoteTime(peer, "a", when), "SITE UTIME");
    assert.deepEqual(peer.sent, [
      "SITE UTIME a 20260102030405 20260102030405 20260102030405 UTC",
      "MDTM a",
    ]);
  });

  test("MDTM with a time (vsftpd), read back; a time in reply is a question answered", async () => {
    assert.equal(mdtmWriteAccepted(reply(213, "File modification time set.")), true);
    assert.equal(mdtmWriteAccepted(reply(213, "20260102030405")), false);
    const vsftpd = scripted({ MDTM: "" }, {
      MDTM: [reply(213, "File modification time set."), reply(213, "20260102030405")],
    });
    assert.equal(await setRemoteTime(vsftpd, "a", when), "MDTM");
    assert.deepEqual(vsftpd.sent, ["MDTM 20260102030405 a", "MDTM a"]);
    const asked = scripted({}, { MDTM: [reply(213, "19990101000000")] });
    await assert.rejects(
      setRemoteTime(asked, "a", when),
      (error: unknown) =>
        error instanceof FtpUnsupportedError && error.feature === "set-time" &&
        /a time, not a change/.test(error.message),
    );
    const ignored = scripted({}, { MDTM: [reply(213, "Done."), reply(213, "19990101000000")] });
    await assert.rejects(setRemoteTime(ignored, "a", when), /MDTM then says 19990101000000/);
    const refused = scripted({}, { MDTM: [reply(550, "No such file.")] });
    await assert.rejects(setRemoteTime(refused, "a", when), /no MFMT in FEAT.*550 No such file/);
  });
});
