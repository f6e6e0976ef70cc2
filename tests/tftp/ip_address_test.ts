// IPv6 addresses in the machines. IPv4-mapped addresses (RFC 4291 section 2.5.5.2) at the server
// endpoint: a client is keyed by its IPv4 form, so ::ffff:127.0.0.1 and 127.0.0.1 share their
// limits and tokens. Zone indices (RFC 4007 section 11) at the client: a server asked at
// fe80::1%eth0 may answer from fe80::1.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type TftpAddress, TftpClientTransfer, TftpServerEndpoint } from "../../tftp/mod.ts";
import { isIP } from "node:net";
import { ipFamily, ipv4Form, sameHost } from "../../tftp/_ip_family.ts";
import { events, transmits, wire } from "./_script.ts";

const rrq = () => wire({ type: "rrq", filename: "boot.img", mode: "octet", options: {} });
const v4 = (port: number): TftpAddress => ({ address: "127.0.0.1", port });
const mapped = (port: number): TftpAddress => ({ address: "::ffff:127.0.0.1", port });

describe("ipFamily", () => {
  test("answers as node:net isIP does, zones included", () => {
    const cases = [
      "127.0.0.1",
      "0.0.0.0",
      "255.255.255.255",
      "256.0.0.1",
      "1.2.3",
      "01.2.3.4",
      "::1",
      "::",
      "fe80::1%eth0",
      "fe80::1%2",
      "fe80::1%",
      "::ffff:127.0.0.1",
      "2001:db8::1",
      "2001:db8:0:0:0:0:0:1:2",
      "1::2::3",
      "[::1]",
      "localhost",
      "tftp.example",
      "",
      "12345::1",
    ];
    for (const text of cases) assert.equal(ipFamily(text), isIP(text), text);
  });
});

describe("TFTP server: IPv4-mapped client addresses", () => {
  test("ipv4Form reads the dotted and the hex forms, and leaves other addresses alone", () => {
    assert.equal(ipv4Form("::ffff:127.0.0.1"), "127.0.0.1");
    assert.equal(ipv4Form("::FFFF:192.0.2.7"), "192.0.2.7");
    assert.equal(ipv4Form("::ffff:7f00:1"), "127.0.0.1");
    assert.equal(ipv4Form("0:0:0:0:0:ffff:c000:207"), "192.0.2.7");
    for (
      const address of ["::1", "127.0.0.1", "::", "fe80::ffff:1:2", "::ffff:1:2:3", "2001:db8::1"]
    ) {
      assert.equal(ipv4Form(address), address);
    }
  });

  test("maxTransfersPerClient counts both forms of one address as one client", () => {
    const server = new TftpServerEndpoint({ maxTransfersPerClient: 1 });
    const transfer = server.accept(0, server.handleDatagram(0, rrq(), v4(40000))!, { size: 10 })!;
    // The same client, seen through a socket on "::": its own unanswered transfer makes room.
    assert.ok(server.handleDatagram(1, rrq(), mapped(40001)));
    assert.deepEqual(events(server), [{ type: "evicted", transfer }]);
    assert.deepEqual(transmits(server), []);
  });

  test("a request waiting in one form blocks its repeat in the other", () => {
    const server = new TftpServerEndpoint();
    assert.ok(server.handleDatagram(0, rrq(), mapped(40000)));
    assert.equal(server.handleDatagram(1, rrq(), v4(40000)), undefined);
    assert.equal(server.ignored, 1);
  });

  test("requestBurst: both forms take tokens from one bucket", () => {
    const server = new TftpServerEndpoint({ requestBurst: 2, requestRate: 1 });
    assert.ok(server.handleDatagram(0, rrq(), v4(40000)));
    assert.ok(server.handleDatagram(0, rrq(), mapped(40001)));
    assert.equal(server.handleDatagram(0, rrq(), v4(40002)), undefined);
    assert.equal(server.handleDatagram(0, rrq(), mapped(40003)), undefined);
    assert.equal(server.limited, 2);
    // Another address has its own tokens.
    assert.ok(server.handleDatagram(0, rrq(), { address: "::1", port: 40004 }));
  });
});

describe("TFTP client: zone indices", () => {
  test("sameHost compares without the zone, and a mapped address as IPv4", () => {
    assert.ok(sameHost("fe80::1%eth0", "fe80::1"));
    assert.ok(sameHost("fe80::1%2", "fe80::1%eth0"));
    assert.ok(sameHost("::ffff:127.0.0.1", "127.0.0.1"));
    assert.ok(!sameHost("fe80::1%eth0", "fe80::2%eth0"));
    assert.ok(!sameHost("::1", "127.0.0.1"));
  });

  test("the first reply from the server's address, zone or not, chooses its TID", () => {
    const server = { address: "fe80::1%eth0", port: 69 };
    const client = new TftpClientTransfer({ type: "rrq", filename: "boot.img", server });
    client.start(0);
    assert.deepEqual(transmits(client).map((t) => t.to), [server]);
    const tid = { address: "fe80::1", port: 50000 };
    // A stranger is refused with ERROR 5 (RFC 1350 section 4), the server's reply is taken.
    const stranger = { address: "fe80::2", port: 50000 };
    client.handleDatagram(1, wire({ type: "data", block: 1, data: new Uint8Array(3) }), stranger);
    client.handleDatagram(2, wire({ type: "data", block: 1, data: new Uint8Array(3) }), tid);
    assert.deepEqual(transmits(client), [
      { to: stranger, bytes: wire({ type: "error", code: 5, message: "Unknown transfer ID" }) },
      { to: tid, bytes: wire({ type: "ack", block: 1 }) },
    ]);
    assert.deepEqual(client.peer, tid);
  });
});
