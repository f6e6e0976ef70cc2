// The TFTP server's allow and deny lists, per direction, and the budget for records of dropped
// requests (pure: time comes in as `now`).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeTftpPacket } from "../../codec/mod.ts";
import { TftpAccess } from "../../tftp/_server_access.ts";

const rrq = encodeTftpPacket({ type: "rrq", filename: "a.bin", mode: "octet", options: {} });

describe("TFTP server access lists", () => {
  test("no lists: no rules at all", () => {
    assert.equal(TftpAccess.from(undefined, undefined), undefined);
  });

  test("deny wins over allow; with an allow list only its networks are served", () => {
    const access = TftpAccess.from(["127.0.0.0/8", "::1"], ["127.0.0.2"])!;
    assert.equal(access.serves("127.0.0.1"), true);
    assert.equal(access.serves("::1"), true);
    assert.equal(access.serves("127.0.0.2"), false, "denied though allowed");
    assert.equal(access.serves("10.0.0.1"), false, "not in the allow list");
    assert.equal(access.permits("127.0.0.1", "wrq"), true);
  });

  test("IPv4-mapped IPv6 sources match IPv4 rules (RFC 4291 section 2.5.5.2)", () => {
    const access = TftpAccess.from(["127.0.0.0/8"], ["127.0.0.2/32"])!;
    assert.equal(access.serves("::ffff:127.0.0.1"), true);
    assert.equal(access.serves("::ffff:127.0.0.2"), false);
    assert.equal(access.serves("::ffff:10.0.0.1"), false);
  });

  test("per direction: a list for one direction leaves the other alone", () => {
    const access = TftpAccess.from(undefined, { write: ["127.0.0.2"] })!;
    assert.equal(access.serves("127.0.0.2"), true, "it may still read");
    assert.equal(access.permits("127.0.0.2", "rrq"), true);
    assert.equal(access.permits("127.0.0.2", "wrq"), false);
    assert.equal(access.permits("127.0.0.1", "wrq"), true);
    const writers = TftpAccess.from({ write: ["10.1.0.0/16"] }, undefined)!;
    assert.equal(writers.permits("192.0.2.1", "rrq"), true);
    assert.equal(writers.permits("192.0.2.1", "wrq"), false);
    assert.equal(writers.permits("10.1.2.3", "wrq"), true);
    const both = TftpAccess.from({ read: ["10.0.0.0/8"], write: [] }, undefined)!;
    assert.equal(both.serves("10.0.0.1"), true);
    assert.equal(both.permits("10.0.0.1", "wrq"), false, "an empty allow list serves nobody");
    assert.equal(both.serves("192.0.2.1"), false, "served in no direction");
  });

  test("an address that cannot be read is not served when there are rules", () => {
    assert.equal(TftpAccess.from([], undefined)!.serves("not an address"), false);
    assert.equal(TftpAccess.from(undefined, ["10.0.0.0/8"])!.serves("not an address"), false);
  });

  test("verdicts stay right past the bounded cache of addresses seen", () => {
    const access = TftpAccess.from(["10.0.0.0/8"], ["10.0.0.0/24"])!;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        const address = `10.0.${i >> 8}.${i & 255}`;
        assert.equal(access.serves(address), i >= 256, address);
      }
    }
    assert.equal(access.serves("192.0.2.1"), false);
  });

  test("a list with something that is not a network is refused, named", () => {
    assert.throws(
      () => TftpAccess.from(["10.0.0.1/8"], undefined),
      (error: Error) =>
        error instanceof TypeError && /^serveTftp allow: .*bits set past/.test(error.message),
    );
    assert.throws(
      () => TftpAccess.from(undefined, { write: ["nonsense"] }),
      /^TypeError: serveTftp deny: Not an IP network: "nonsense"/,
    );
  });

  test("dropped requests are recorded 20 at once, then 10 a second; non-requests never", () => {
    const access = TftpAccess.from(undefined, ["127.0.0.2"])!;
    assert.equal(access.recordable(0, new Uint8Array([0, 4, 0, 1])), undefined, "an ACK");
    assert.equal(access.recordable(0, new Uint8Array([0, 1, 0])), undefined, "malformed");
    assert.equal(access.recordable(0, new Uint8Array([1])), undefined);
    let recorded = 0;
    for (let i = 0; i < 100; i++) if (access.recordable(0, rrq)) recorded++;
    assert.equal(recorded, 20);
    assert.equal(access.recordable(50, rrq), undefined, "half a token refilled");
    assert.deepEqual(access.recordable(100, rrq), {
      type: "rrq",
      filename: "a.bin",
      mode: "octet",
      options: {},
    });
    assert.equal(access.recordable(100, rrq), undefined);
    recorded = 0;
    for (let i = 0; i < 100; i++) if (access.recordable(10_000, rrq)) recorded++;
    assert.equal(recorded, 20, "refilled up to the burst, no more");
    assert.equal(access.recordable(9_000, rrq), undefined, "a clock going back refills nothing");
  });
});
