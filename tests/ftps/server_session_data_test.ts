import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type FtpServerEvent,
  FtpServerSession,
  type FtpServerSessionOptions,
  type FtpStorageRequest,
  type FtpStorageResult,
} from "../../ftps/mod.ts";
import { parseFtpFacts, parseFtpListLine } from "../../codec/mod.ts";
import { MemoryStorage } from "./_memory.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type TransferEvent = Extract<FtpServerEvent, { type: "transfer-data" }>;

/**
 * A server session with its storage answered from memory. `say` sends lines and returns the
 * replies; `events` holds every event other than `storage` (answered at once), in order.
 */
function server(
  options: FtpServerSessionOptions = {},
  files: Record<string, string | Uint8Array | null> = {},
  addresses = { local: "127.0.0.1", remote: "127.0.0.1" },
) {
  const storage = new MemoryStorage(files);
  const session = new FtpServerSession(options);
  const seen: FtpServerEvent[] = [];
  /** The command of each storage request, in order. */
  const storageCommands: string[] = [];
  let now = 0;
  const replies = () => {
    let out = "";
    for (let bytes = session.pollTransmit(); bytes; bytes = session.pollTransmit()) {
      out += decoder.decode(bytes);
    }
    return out;
  };
  const drainEvents = () => {
    for (let round = 0; round < 100; round++) {
      const event = session.pollEvent();
      if (!event) return;
      if (event.type === "storage") {
        storageCommands.push(event.command);
        session.storageResult(now, storage.answer(event.request));
      } else if (event.type === "authenticate") session.loginResult(now, event.user !== "mallory");
      else if (event.type !== "logged-in") seen.push(event);
    }
    throw new Error("Too many events");
  };
  const say = (...lines: string[]) => {
    session.receive(++now, encoder.encode(lines.map((line) => `${line}\r\n`).join("")));
    drainEvents();
    return replies();
  };
  /** Pops the events seen so far. */
  const events = () => seen.splice(0);
  /** Answers the pending `listen-data` with a port and returns the replies. */
  const listening = (port: number) => {
    const event = events().find((one) => one.type === "listen-data");
    assert.ok(event, "a listen-data event");
    session.dataListening(++now, port);
    drainEvents();
    return replies();
  };
  /** The one `transfer-data` event among the events seen. */
  const transfer = (): TransferEvent => {
    const found = events().filter((event) => event.type === "transfer-data");
    assert.equal(found.length, 1, "one transfer-data event");
    return found[0] as TransferEvent;
  };
  const result = (id: number, outcome: Parameters<FtpServerSession["dataResult"]>[2]) => {
    session.dataResult(++now, id, outcome);
    drainEvents();
    return replies();
  };
  session.start(now, addresses);
  assert.match(replies(), /^220 /);
  return {
    session,
    storage,
    storageCommands,
    say,
    events,
    listening,
    transfer,
    result,
    get now() {
      return now;
    },
  };
}

/** Logged in as fred: through AUTH TLS, PBSZ 0 and PROT P unless the server has no TLS. */
function loggedIn(
  options: FtpServerSessionOptions = {},
  files: Record<string, string | Uint8Array | null> = {},
  addresses?: { local: string; remote: string },
) {
  const s = server(options, files, addresses);
  if ((options.tls ?? "explicit") === "explicit") {
    assert.equal(s.say("AUTH TLS"), "234 Proceed with negotiation.\r\n");
    s.events();
    s.session.controlUpgraded(s.now);
  }
  if ((options.tls ?? "explicit") !== "none") {
    assert.equal(s.say("PBSZ 0", "PROT P"), "200 PBSZ=0\r\n200 Protection level set to P.\r\n");
  }
  s.say("USER fred", "PASS pass");
  s.events();
  s.say("TYPE I");
  return s;
}

const FILES = {
  "/pub": null,
  "/pub/boot.cfg": "kernel vmlinuz\n",
  "/pub/firmware.bin": "0123456789",
};

describe("FTPS server data connections: RFC 4217 section 12 timing diagrams, server side", () => {
  test("12.4: PORT, STOR without protection; the server connects to the client's port", () => {
    const s = loggedIn({ tls: "none", dataProtection: "optional" }, FILES);
    assert.equal(s.say("PORT 127,0,0,1,195,80"), "200 PORT command successful.\r\n");
    assert.equal(
      s.say("STOR /pub/new.cfg"),
      "150 Opening BINARY mode data connection for /pub/new.cfg.\r\n",
    );
    const transfer = s.transfer();
    assert.deepEqual(transfer, {
      type: "transfer-data",
      id: transfer.id,
      command: "STOR",
      path: "/pub/new.cfg",
      direction: "receive",
      connect: { host: "127.0.0.1", port: 50000 },
      tls: false,
      requireTlsResumption: false,
      representation: "I",
    });
    assert.deepEqual(s.storage.requests.at(-1), {
      op: "write",
      path: "/pub/new.cfg",
      offset: 0,
      append: false,
    });
    s.storage.commit(encoder.encode("new"));
    assert.equal(s.result(transfer.id, { ok: true }), "226 Transfer complete.\r\n");
    assert.equal(s.storage.text("/pub/new.cfg"), "new");
  });

  test("12.5: PASV, STOR without protection; the client's connection is awaited", () => {
    const s = loggedIn({ tls: "none", dataProtection: "optional" }, FILES);
    assert.equal(s.say("PASV"), "");
    assert.equal(s.listening(40000), "227 Entering Passive Mode (127,0,0,1,156,64).\r\n");
    assert.match(s.say("STOR /pub/new.cfg"), /^150 /);
    const transfer = s.transfer();
    assert.equal(transfer.connect, undefined);
    assert.equal(transfer.acceptFrom, "127.0.0.1", "only the control connection's host");
    assert.equal(transfer.tls, false);
    assert.equal(s.result(transfer.id, { ok: true }), "226 Transfer complete.\r\n");
  });

  test("12.6: PORT, STOR with protection: the data connection is TLS, the server its TLS server", () => {
    const s = loggedIn({}, FILES);
    assert.equal(s.say("PORT 127,0,0,1,195,80"), "200 PORT command successful.\r\n");
    assert.match(s.say("STOR /pub/new.cfg"), /^150 /);
    const transfer = s.transfer();
    assert.deepEqual(transfer.connect, { host: "127.0.0.1", port: 50000 });
    assert.equal(transfer.tls, true, "section 7: TLS under PROT P, also when the server connects");
    assert.equal(s.result(transfer.id, { ok: true }), "226 Transfer complete.\r\n");
  });

  test("12.7: PASV, STOR with protection", () => {
    const s = loggedIn({}, FILES);
    s.say("PASV");
    assert.equal(s.listening(40000), "227 Entering Passive Mode (127,0,0,1,156,64).\r\n");
    assert.match(s.say("STOR /pub/new.cfg"), /^150 /);
    const transfer = s.transfer();
    assert.equal(transfer.tls, true);
    assert.equal(transfer.acceptFrom, "127.0.0.1");
    assert.equal(s.result(transfer.id, { ok: true }), "226 Transfer complete.\r\n");
  });
});

describe("FTPS server data protection policies (RFC 4217 section 10.2)", () => {
  test("PROT required: 521 on each of STOR, RETR, NLST, LIST, STOU, APPE; PASV and PORT are not checked", () => {
    const s = server({}, FILES);
    s.say("AUTH TLS");
    s.session.controlUpgraded(s.now);
    s.say("PBSZ 0", "PROT C", "USER fred", "PASS pass");
    s.events();
    for (const command of ["STOR a", "RETR /pub/boot.cfg", "NLST", "LIST", "STOU", "APPE a"]) {
      assert.equal(s.say("PASV"), "", "PASV is accepted at PROT C");
      assert.match(s.listening(40000), /^227 /);
      assert.equal(
        s.say(command),
        "521 Data connection cannot be opened with this PROT setting.\r\n",
        command,
      );
      assert.deepEqual(s.events(), [], "the listener stays until the next command");
      assert.equal(s.say("NOOP"), "200 NOOP ok.\r\n");
      assert.deepEqual(s.events(), [{ type: "close-data" }], "then it is closed");
    }
    assert.equal(s.say("PORT 127,0,0,1,195,80"), "200 PORT command successful.\r\n");
    assert.match(s.say("RETR /pub/boot.cfg"), /^521 /);
    // The same transfer at PROT P is accepted later in the session (section 10.4).
    s.say("PROT P", "EPSV");
    s.listening(40001);
    assert.match(s.say("RETR /pub/boot.cfg"), /^150 /);
  });

  test("section 9: data starts Clear (MUST), then stays at the PROT level until PROT, REIN or AUTH", () => {
    const s = server({ dataProtection: "optional" }, FILES);
    s.say("AUTH TLS");
    s.session.controlUpgraded(s.now);
    s.say("PBSZ 0", "USER fred", "PASS pass");
    const tlsOf = () => {
      s.say("PORT 127,0,0,1,195,80");
      s.say("RETR /pub/boot.cfg");
      const transfer = s.transfer();
      s.result(transfer.id, { ok: true });
      return transfer.tls;
    };
    assert.equal(tlsOf(), false, "Clear before any PROT");
    s.say("PROT P");
    assert.deepEqual([tlsOf(), tlsOf()], [true, true], "every later transfer at P");
    s.say("PROT C");
    assert.equal(tlsOf(), false);
    s.say("PROT P", "REIN");
    s.session.controlCleared(s.now);
    s.say("USER fred");
    assert.equal(s.session.protection, "C", "REIN resets the level");
  });

  test("PROT optional: clear and protected transfers both go", () => {
    const s = loggedIn({ dataProtection: "optional" }, FILES);
    s.say("PROT C", "PORT 127,0,0,1,195,80");
    assert.match(s.say("RETR /pub/boot.cfg"), /^150 /);
    assert.equal(s.transfer().tls, false);
  });

  test("no protection offered: PROT P is 534, PROT C transfers go", () => {
    const s = server({ dataProtection: "none" }, FILES);
    s.say("AUTH TLS");
    s.session.controlUpgraded(s.now);
    assert.equal(
      s.say("PBSZ 0", "PROT P", "PROT C"),
      "200 PBSZ=0\r\n534 Data protection is not offered here.\r\n200 Protection level set to C.\r\n",
    );
  });

  test("an anonymous user let in without TLS transfers in the clear", () => {
    const s = server({ allowAnonymous: true, anonymousWithoutTls: true }, FILES);
    s.say("USER anonymous", "PASS guest@");
    s.events();
    s.say("PORT 127,0,0,1,195,80");
    assert.match(s.say("RETR /pub/boot.cfg"), /^150 /);
    assert.equal(s.transfer().tls, false);
  });

  test("a failed data TLS negotiation: 522 after the 150", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    assert.equal(
      s.say("RETR /pub/boot.cfg"),
      "150 Opening BINARY mode data connection for /pub/boot.cfg (15 bytes).\r\n",
    );
    const transfer = s.transfer();
    assert.equal(
      s.result(transfer.id, { ok: false, reason: "tls" }),
      "522 TLS negotiation on the data connection failed.\r\n",
    );
  });

  test("session reuse may be required; the 522 says so; REIN lifts the requirement (section 13)", () => {
    const s = loggedIn({ requireTlsResumption: true }, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/boot.cfg");
    const transfer = s.transfer();
    assert.equal(transfer.requireTlsResumption, true);
    assert.equal(
      s.result(transfer.id, { ok: false, reason: "tls-resumption" }),
      "522 The data connection must resume the control connection's TLS session.\r\n",
    );
    assert.equal(s.say("REIN"), "220 Service ready for new user.\r\n");
    s.session.controlCleared(s.now);
    s.say("AUTH TLS");
    s.session.controlUpgraded(s.now);
    s.say("PBSZ 0", "PROT P", "USER fred", "PASS pass");
    s.events();
    s.say("EPSV");
    s.listening(40001);
    s.say("RETR /pub/boot.cfg");
    assert.equal(s.transfer().requireTlsResumption, false);
  });

  test("other failures: no connection 425, a broken one 426, the storage's own code", () => {
    const s = loggedIn({}, FILES);
    const run = (outcome: Parameters<FtpServerSession["dataResult"]>[2]) => {
      s.say("EPSV");
      s.listening(40000);
      s.say("STOR /pub/x");
      return s.result(s.transfer().id, outcome);
    };
    assert.equal(run({ ok: false, reason: "connect" }), "425 Cannot open the data connection.\r\n");
    assert.equal(
      run({ ok: false, reason: "broken" }),
      "426 Connection closed; transfer aborted.\r\n",
    );
    assert.equal(run({ ok: false, reason: "storage" }), "451 Local error in processing.\r\n");
    assert.equal(
      run({ ok: false, reason: "storage", code: 552, message: "Quota exceeded." }),
      "552 Quota exceeded.\r\n",
    );
  });
});

describe("FTP server data connection set-up (RFC 959, RFC 2428, RFC 2577)", () => {
  test("a transfer command without PORT or PASV is 425; a set-up serves one transfer", () => {
    const s = loggedIn({}, FILES);
    assert.equal(s.say("RETR /pub/boot.cfg"), "425 Use PORT, PASV, EPRT or EPSV first.\r\n");
    s.say("EPSV");
    assert.equal(s.listening(40000), "229 Entering Extended Passive Mode (|||40000|)\r\n");
    s.say("RETR /pub/boot.cfg");
    s.result(s.transfer().id, { ok: true });
    assert.equal(s.say("RETR /pub/boot.cfg"), "425 Use PORT, PASV, EPRT or EPSV first.\r\n");
  });

  test("EPSV with a protocol: the control connection's, else 522 naming it (RFC 2428 section 3)", () => {
    const s = loggedIn({}, FILES);
    assert.equal(s.say("EPSV 2"), "522 Network protocol not supported, use (1)\r\n");
    assert.equal(s.say("EPSV 3"), "501 EPSV takes 1, 2 or ALL.\r\n");
    s.say("EPSV 1");
    assert.deepEqual(s.events(), [{ type: "listen-data", family: 4 }]);
    s.session.dataListening(s.now, 40000);
    const six = loggedIn({}, FILES, { local: "::1", remote: "::1" });
    six.say("EPSV");
    assert.deepEqual(six.events(), [{ type: "listen-data", family: 6 }]);
    assert.equal(six.say("EPSV 1"), "");
    six.session.dataListening(six.now, 40000);
  });

  test("EPSV ALL: PORT, EPRT and PASV refused from then on (RFC 2428 section 4)", () => {
    const s = loggedIn({}, FILES);
    assert.equal(s.say("EPSV ALL"), "200 EPSV ALL ok.\r\n");
    assert.equal(
      s.say("PORT 127,0,0,1,195,80", "EPRT |1|127.0.0.1|50000|", "PASV"),
      "503 EPSV ALL is in force: use EPSV.\r\n".repeat(3),
    );
    s.say("EPSV");
    assert.match(s.listening(40000), /^229 /);
  });

  test("EPRT: IPv4 and IPv6, other protocols 522 naming those served (RFC 2428 section 2)", () => {
    const s = loggedIn({}, FILES);
    assert.equal(s.say("EPRT |1|127.0.0.1|50000|"), "200 EPRT command successful.\r\n");
    assert.equal(s.say("EPRT |3|x|50000|"), "522 Network protocol not supported, use (1,2)\r\n");
    assert.equal(s.say("EPRT |1|nonsense|"), "501 Syntax error in EPRT.\r\n");
    assert.equal(s.say("PORT 1,2,3"), "501 Syntax error in PORT.\r\n");
    const six = loggedIn({}, FILES, { local: "::1", remote: "::1" });
    assert.equal(six.say("EPRT !2!0:0:0:0:0:0:0:1!50000!"), "200 EPRT command successful.\r\n");
    six.say("RETR /pub/boot.cfg");
    // Connected to as parsed, in canonical form, never as the text sent.
    assert.deepEqual(six.transfer().connect, { host: "::1", port: 50000 });
  });

  test("no bounce: PORT/EPRT to another host or below port 1024 is 504 (RFC 2577 section 3)", () => {
    const s = loggedIn({}, FILES);
    assert.equal(
      s.say("PORT 127,0,0,2,195,80", "EPRT |1|127.0.0.1|25|", "PORT 127,0,0,1,0,21"),
      "504 Data connections go to the control connection's host only.\r\n" +
        "504 Data ports below 1024 are refused.\r\n504 Data ports below 1024 are refused.\r\n",
    );
    assert.equal(s.say("RETR /pub/boot.cfg"), "425 Use PORT, PASV, EPRT or EPSV first.\r\n");
    // The same host written another way is the same host.
    const mapped = loggedIn({}, FILES, { local: "::ffff:127.0.0.1", remote: "::ffff:127.0.0.1" });
    assert.equal(mapped.say("PORT 127,0,0,1,195,80"), "200 PORT command successful.\r\n");
    const open = loggedIn({ allowForeignDataHosts: true }, FILES);
    assert.equal(open.say("PORT 127,0,0,2,0,25"), "200 PORT command successful.\r\n");
    open.say("EPSV");
    open.listening(40000);
    open.say("RETR /pub/boot.cfg");
    assert.equal(open.transfer().acceptFrom, undefined, "any host may connect");
  });

  test("no bounce through another spelling: an address with a leading zero is 501 (RFC 2577 section 3)", () => {
    // From 127.0.0.10, "127.0.0.010" passed a check that read it as 10 while connect read it as
    // octal 8: addresses have one spelling, and the event carries the parsed address.
    const s = loggedIn({}, FILES, { local: "127.0.0.1", remote: "127.0.0.10" });
    assert.equal(
      s.say("EPRT |1|127.0.0.010|50000|", "PORT 127,0,0,010,195,80", "EPRT |1|127.0.0.10|050000|"),
      "501 Syntax error in EPRT.\r\n501 Syntax error in PORT.\r\n501 Syntax error in EPRT.\r\n",
    );
    assert.equal(s.say("RETR /pub/boot.cfg"), "425 Use PORT, PASV, EPRT or EPSV first.\r\n");
    assert.equal(s.say("EPRT |1|127.0.0.10|50000|"), "200 EPRT command successful.\r\n");
    s.say("RETR /pub/boot.cfg");
    assert.deepEqual(s.transfer().connect, { host: "127.0.0.10", port: 50000 });
  });

  test("a cut protected upload and a contested data connection are 426", () => {
    const s = loggedIn({}, FILES);
    for (
      const [reason, text] of [
        ["truncated", "426 Data connection closed without TLS close_notify; transfer aborted.\r\n"],
        ["contested", "426 Another data connection came from your address; transfer aborted.\r\n"],
      ] as const
    ) {
      s.say("EPSV");
      s.listening(40000);
      s.say("STOR /pub/new.bin");
      assert.equal(s.result(s.transfer().id, { ok: false, reason }), text);
    }
  });

  test("PASV names the local address, or passiveHost; over IPv6 it is 425", () => {
    const s = loggedIn({ passiveHost: "192.0.2.7" }, FILES);
    s.say("PASV");
    assert.equal(s.listening(40000), "227 Entering Passive Mode (192,0,2,7,156,64).\r\n");
    const six = loggedIn({}, FILES, { local: "::1", remote: "::1" });
    assert.equal(six.say("PASV"), "425 PASV works over IPv4 only: use EPSV.\r\n");
    assert.throws(() => new FtpServerSession({ passiveHost: "::1" }), TypeError);
    assert.throws(() => new FtpServerSession({ passiveHost: "nat_example" }), TypeError);
  });

  test("passiveHost a host name: resolved by the driver at the session's first PASV, then kept", () => {
    const s = loggedIn(
      { tls: "none", dataProtection: "optional", passiveHost: "ftp.example" },
      FILES,
    );
    // EPSV names no address: nothing to resolve.
    s.say("EPSV");
    assert.deepEqual(s.events(), [{ type: "listen-data", family: 4 }]);
    s.session.dataListening(s.now, 40000);
    assert.equal(s.say(), "229 Entering Extended Passive Mode (|||40000|)\r\n");
    s.say("PASV");
    assert.deepEqual(s.events(), [
      { type: "close-data" },
      { type: "listen-data", family: 4, resolve: "ftp.example" },
    ]);
    assert.throws(() => s.session.dataListening(s.now, 40001), /address is missing/);
    assert.throws(
      () => s.session.dataListening(s.now, 40001, "2001:db8::1"),
      /Not an IPv4 address/,
    );
    s.session.dataListening(s.now, 40001, "::ffff:198.51.100.7");
    assert.equal(s.say(), "227 Entering Passive Mode (198,51,100,7,156,65).\r\n");
    // The next PASV, and those after REIN, name the same address without asking again.
    s.say("PASV");
    assert.deepEqual(s.events(), [{ type: "close-data" }, { type: "listen-data", family: 4 }]);
    assert.throws(() => s.session.dataListening(s.now, 40002, "192.0.2.1"), /No address was asked/);
    assert.throws(() => s.session.dataListenFailed(s.now, "unresolved"), /No passive host name/);
    s.session.dataListening(s.now, 40002);
    assert.equal(s.say(), "227 Entering Passive Mode (198,51,100,7,156,66).\r\n");
    s.say("REIN", "USER fred", "PASS pass", "PASV");
    assert.deepEqual(s.events().at(-1), { type: "listen-data", family: 4 });
  });

  test("passiveHost a host name that does not resolve: 425, and the next PASV asks again", () => {
    const s = loggedIn({ passiveHost: "ftp.example." }, FILES);
    s.say("PASV");
    assert.deepEqual(s.events(), [{ type: "listen-data", family: 4, resolve: "ftp.example." }]);
    s.session.dataListenFailed(s.now, "unresolved");
    assert.equal(s.say(), "425 Cannot resolve the passive address: use EPSV.\r\n");
    assert.equal(s.say("RETR /pub/boot.cfg"), "425 Use PORT, PASV, EPRT or EPSV first.\r\n");
    s.say("PASV");
    assert.deepEqual(s.events(), [{ type: "listen-data", family: 4, resolve: "ftp.example." }]);
    // Over IPv6, PASV works once a name gives it an IPv4 address to name.
    const six = loggedIn({ passiveHost: "ftp.example" }, FILES, { local: "::1", remote: "::1" });
    six.say("PASV");
    assert.deepEqual(six.events(), [{ type: "listen-data", family: 6, resolve: "ftp.example" }]);
    six.session.dataListening(six.now, 40000, "192.0.2.9");
    assert.equal(six.say(), "227 Entering Passive Mode (192,0,2,9,156,64).\r\n");
  });

  test("passiveHost is an IPv4 address or an RFC 1123 host name, nothing else", () => {
    for (const name of ["localhost", "ftp.example.com.", "a-b.c0", "x".repeat(63) + ".example"]) {
      assert.doesNotThrow(() => new FtpServerSession({ passiveHost: name }), name);
    }
    const long = Array(64).fill("abc").join(".");
    for (
      const name of [
        "",
        ".",
        "-ftp.example",
        "ftp-.example",
        "ftp..example",
        "ftp example",
        "192.0.2.300",
        "10.0.0",
        "x".repeat(64) + ".example",
        long,
        "2001:db8::1",
      ]
    ) {
      assert.throws(
        () => new FtpServerSession({ passiveHost: name }),
        /IPv4 address or a host name/,
        name,
      );
    }
  });

  test("a new PASV closes the previous listener; PORT too; a failed listener is 425", () => {
    const s = loggedIn({}, FILES);
    s.say("PASV");
    s.listening(40000);
    s.say("PASV");
    assert.deepEqual(s.events(), [{ type: "close-data" }, { type: "listen-data", family: 4 }]);
    s.session.dataListenFailed(s.now);
    assert.equal(s.say(), "425 Cannot open a passive connection.\r\n");
    s.say("PASV");
    s.listening(40001);
    s.say("PORT 127,0,0,1,195,80");
    assert.deepEqual(s.events(), [{ type: "close-data" }]);
  });

  test("without the control connection's addresses, data commands are refused", () => {
    const session = new FtpServerSession({ tls: "none" });
    session.start(0);
    session.receive(1, encoder.encode("USER fred\r\nPASS x\r\n"));
    session.loginResult(2, true);
    while (session.pollTransmit());
    session.receive(3, encoder.encode("PASV\r\nEPRT |1|127.0.0.1|50000|\r\n"));
    let out = "";
    for (let bytes = session.pollTransmit(); bytes; bytes = session.pollTransmit()) {
      out += decoder.decode(bytes);
    }
    assert.equal(out, "425 No data connections on this session.\r\n".repeat(2));
    assert.throws(
      () => new FtpServerSession().start(0, { local: "here", remote: "::1" }),
      TypeError,
    );
  });
});

describe("FTP server transfers over the storage (RFC 959 section 4.1.3, RFC 3659)", () => {
  test("REST then RETR reads from the offset; the offset is used once (RFC 3659 section 5)", () => {
    const s = loggedIn({}, FILES);
    assert.equal(s.say("REST 4"), "350 Restarting at 4. Send RETR or STOR.\r\n");
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/firmware.bin");
    assert.deepEqual(s.storage.requests.at(-1), {
      op: "read",
      path: "/pub/firmware.bin",
      offset: 4,
    });
    assert.equal(
      decoder.decode(s.storage.opened?.kind === "read" ? s.storage.opened.bytes : undefined),
      "456789",
    );
    s.result(s.transfer().id, { ok: true });
    s.say("EPSV");
    s.listening(40001);
    s.say("RETR /pub/firmware.bin");
    assert.deepEqual(s.storage.requests.at(-1), {
      op: "read",
      path: "/pub/firmware.bin",
      offset: 0,
    });
    s.result(s.transfer().id, { ok: true });
    assert.equal(s.say("REST x", "REST -1"), "501 REST takes a byte offset.\r\n".repeat(2));
  });

  test("STOR at an offset, APPE, and a storage refusal (the listener is closed)", () => {
    const s = loggedIn({}, FILES);
    s.say("REST 4", "EPSV");
    s.listening(40000);
    s.say("STOR /pub/firmware.bin");
    s.storage.commit(encoder.encode("abcd"));
    s.result(s.transfer().id, { ok: true });
    assert.equal(s.storage.text("/pub/firmware.bin"), "0123abcd");
    s.say("EPSV");
    s.listening(40001);
    s.say("APPE /pub/firmware.bin");
    assert.deepEqual(s.storage.requests.at(-1), {
      op: "write",
      path: "/pub/firmware.bin",
      offset: 0,
      append: true,
    });
    s.storage.commit(encoder.encode("!"));
    s.result(s.transfer().id, { ok: true });
    assert.equal(s.storage.text("/pub/firmware.bin"), "0123abcd!");
    s.say("EPSV");
    s.listening(40002);
    assert.equal(s.say("STOR /nowhere/x"), "553 Cannot create file.\r\n");
    // Kept until the client has the refusal (curl handshakes on the data connection at once).
    assert.deepEqual(s.events(), []);
    s.say("NOOP");
    assert.deepEqual(s.events(), [{ type: "close-data" }]);
    s.say("EPSV");
    s.listening(40003);
    assert.equal(s.say("RETR /pub/missing"), "550 Failed to open file.\r\n");
    assert.equal(s.say("RETR"), "425 Use PORT, PASV, EPRT or EPSV first.\r\n");
  });

  test("STOU: the storage names the file; 150 says FILE: name (RFC 1123 section 4.1.2.9)", () => {
    const s = loggedIn({}, FILES);
    s.say("CWD /pub", "EPSV");
    s.listening(40000);
    assert.equal(s.say("STOU"), "150 FILE: ftkit.1\r\n");
    assert.deepEqual(s.storage.requests.at(-1), { op: "write-unique", directory: "/pub" });
    s.storage.commit(encoder.encode("u"));
    assert.equal(
      s.result(s.transfer().id, { ok: true }),
      "226 Transfer complete (unique file name: ftkit.1).\r\n",
    );
    assert.equal(s.storage.text("/pub/ftkit.1"), "u");
  });

  test("LIST, NLST and MLSD send the listing as the data; clients read it back", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    assert.equal(s.say("LIST -la /pub"), "150 Here comes the directory listing.\r\n");
    const list = s.transfer();
    assert.equal(list.direction, "send");
    const lines = decoder.decode(list.listing).split("\r\n");
    assert.equal(lines.pop(), "", "every line ends in CRLF");
    assert.deepEqual(lines.map((line) => parseFtpListLine(line)?.name), [
      "boot.cfg",
      "firmware.bin",
    ]);
    assert.equal(lines[0], "-rw-r--r--    1 ftp      ftp            15 Nov 23 10:34 boot.cfg");
    s.result(list.id, { ok: true });

    s.say("CWD /pub", "EPSV");
    s.listening(40001);
    s.say("NLST");
    assert.equal(decoder.decode(s.transfer().listing), "boot.cfg\r\nfirmware.bin\r\n");
    s.session.dataResult(s.now, 2, { ok: true });

    s.say("EPSV");
    s.listening(40002);
    s.say("MLSD");
    const facts = decoder.decode(s.transfer().listing).split("\r\n").filter(Boolean).map(
      parseFtpFacts,
    );
    assert.deepEqual(facts[1], {
      name: "firmware.bin",
      facts: { type: "file", size: "10", modify: "20261123103400", perm: "r" },
    });
  });

  test("LIST of a file lists that file; MLSD of a file is 501 (RFC 3659 section 7.2)", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("LIST /pub/boot.cfg");
    assert.equal(parseFtpListLine(decoder.decode(s.transfer().listing).trim())?.name, "boot.cfg");
    s.session.dataResult(s.now, 1, { ok: true });
    s.say("EPSV");
    s.listening(40001);
    assert.equal(s.say("MLSD /pub/boot.cfg"), "501 Not a directory.\r\n");
    s.say("EPSV");
    s.listening(40002);
    assert.equal(s.say("LIST /nowhere"), "550 No such directory.\r\n");
  });

  test("names that cannot go on one line are left out of listings", () => {
    const s = loggedIn({}, { "/a\r\nb": "x", "/ok": "y" });
    s.say("EPSV");
    s.listening(40000);
    s.say("NLST");
    assert.equal(decoder.decode(s.transfer().listing), "ok\r\n");
  });

  test("MLST answers on the control connection; OPTS MLST picks the facts (RFC 3659 7.2, 7.9)", () => {
    const s = loggedIn({}, FILES);
    assert.equal(
      s.say("MLST /pub/boot.cfg"),
      "250-Listing /pub/boot.cfg\r\n" +
        " type=file;size=15;modify=20261123103400;perm=r; /pub/boot.cfg\r\n" +
        "250 End\r\n",
    );
    assert.equal(s.say("OPTS MLST size;Type;bogus;"), "200 MLST OPTS type;size;\r\n");
    assert.match(s.say("FEAT"), / MLST type\*;size\*;modify;perm;unique;\r\n/);
    assert.equal(
      s.say("MLST pub"),
      "250-Listing /pub\r\n type=dir;size=0; /pub\r\n250 End\r\n",
    );
    assert.equal(s.say("MLST /gone"), "550 Requested action not taken.\r\n");
  });

  test("STAT: the session's status, a path's listing on the control connection", () => {
    const s = loggedIn({}, FILES);
    assert.equal(
      s.say("STAT"),
      "211-ftkit FTP server status:\r\n Logged in as fred\r\n TYPE: BINARY\r\n" +
        " Control connection: TLS\r\n Data protection: private\r\n211 End of status\r\n",
    );
    assert.equal(
      s.say("STAT /pub"),
      "213-Status of /pub:\r\n" +
        "-rw-r--r--    1 ftp      ftp            15 Nov 23 10:34 boot.cfg\r\n" +
        "-rw-r--r--    1 ftp      ftp            10 Nov 23 10:34 firmware.bin\r\n" +
        "213 End of status\r\n",
    );
  });

  test("ALLO, SITE and SMNT", () => {
    const s = loggedIn({}, FILES);
    assert.equal(s.say("ALLO 1000"), "200 ALLO noted.\r\n");
    assert.equal(
      s.say("SITE HELP", "SITE CHMOD 777 x"),
      "214 No SITE commands here.\r\n504 SITE command not supported.\r\n",
    );
  });

  test("ALLO's size goes with the next STOR, APPE or STOU to the storage, once", () => {
    const s = loggedIn({ tls: "none", dataProtection: "optional" }, FILES);
    assert.equal(
      s.say("ALLO x", "ALLO -1", "ALLO 1 2"),
      "501 ALLO takes a size in bytes.\r\n".repeat(3),
    );
    s.say("ALLO 5000 R 100", "EPSV");
    s.listening(40000);
    s.say("STOR /pub/new.bin");
    assert.deepEqual(s.storage.requests.at(-1), {
      op: "write",
      path: "/pub/new.bin",
      offset: 0,
      append: false,
      size: 5000,
    });
    s.result(s.transfer().id, { ok: true });
    // Used once: the next STOR has none.
    s.say("EPSV");
    s.listening(40001);
    s.say("APPE /pub/new.bin");
    assert.equal("size" in s.storage.requests.at(-1)!, false);
    s.result(s.transfer().id, { ok: true });
    s.say("ALLO 7", "EPSV");
    s.listening(40002);
    s.say("STOU");
    assert.deepEqual(s.storage.requests.at(-1), { op: "write-unique", directory: "/", size: 7 });
    s.result(s.transfer().id, { ok: true });
    // A RETR takes it too (it serves one transfer command), and REIN forgets it.
    s.say("ALLO 9", "EPSV");
    s.listening(40003);
    s.say("RETR /pub/boot.cfg");
    s.result(s.transfer().id, { ok: true });
    s.say("EPSV");
    s.listening(40004);
    s.say("STOR /pub/b.bin");
    assert.equal("size" in s.storage.requests.at(-1)!, false);
    s.result(s.transfer().id, { ok: true });
    s.say("ALLO 9", "REIN", "USER fred", "PASS x", "EPSV");
    s.listening(40005);
    s.say("STOR /pub/c.bin");
    assert.equal("size" in s.storage.requests.at(-1)!, false);
  });
});

describe("FTP server during a transfer: ABOR, STAT, QUIT and held commands (RFC 959 4.1.3, RFC 4217 section 14)", () => {
  test("ABOR during a transfer: abort-data, then 426 for the transfer and 226 for ABOR", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/boot.cfg");
    const transfer = s.transfer();
    assert.equal(s.session.transferring, true);
    assert.equal(s.say("ABOR"), "426 Transfer aborted.\r\n226 ABOR successful.\r\n");
    assert.deepEqual(s.events(), [{ type: "abort-data", id: transfer.id }]);
    assert.equal(s.session.transferring, false);
    assert.equal(s.result(transfer.id, { ok: true }), "", "a late result is ignored");
    assert.throws(() => s.session.dataResult(s.now, 99, { ok: true }), TypeError);
    assert.equal(s.say("NOOP"), "200 NOOP ok.\r\n");
  });

  test("ABOR inside TLS with Telnet IP and Synch before it; ABOR with nothing running is 225", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/boot.cfg");
    s.transfer();
    // RFC 959 section 4.1.3's IAC IP, IAC DM; RFC 4217 section 14: sent in the TLS stream.
    s.session.receive(
      s.now + 1,
      new Uint8Array([0xff, 0xf4, 0xff, 0xf2, ...encoder.encode("ABOR\r\n")]),
    );
    let out = "";
    for (let bytes = s.session.pollTransmit(); bytes; bytes = s.session.pollTransmit()) {
      out += decoder.decode(bytes);
    }
    assert.equal(out, "426 Transfer aborted.\r\n226 ABOR successful.\r\n");
    s.say("EPSV");
    s.listening(40001);
    assert.equal(s.say("ABOR"), "225 No transfer to abort.\r\n");
    assert.deepEqual(s.events(), [{ type: "close-data" }], "the unused listener is closed");
  });

  test("commands during a transfer wait for its end; STAT is answered at once", () => {
    const s = loggedIn({ idleTimeoutMs: 1000 }, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/boot.cfg");
    const transfer = s.transfer();
    assert.equal(s.say("STAT"), "213 Transfer in progress (RETR).\r\n");
    assert.equal(s.say("PWD", "QUIT"), "", "held until the transfer ends");
    assert.equal(s.session.pollTimeout(), undefined, "a transfer is not idleness");
    s.session.handleTimeout(s.now + 10_000);
    assert.equal(s.session.isClosed(), false);
    assert.equal(
      s.result(transfer.id, { ok: true }),
      '226 Transfer complete.\r\n257 "/" is the current directory.\r\n221 Goodbye.\r\n',
    );
    assert.equal(s.session.isClosed(), true);
  });

  test("REIN during a transfer lets it finish first (RFC 959 REIN)", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/boot.cfg");
    const transfer = s.transfer();
    assert.equal(s.say("REIN"), "");
    assert.equal(
      s.result(transfer.id, { ok: true }),
      "226 Transfer complete.\r\n220 Service ready for new user.\r\n",
    );
    assert.deepEqual(s.events(), [{ type: "logged-out" }, { type: "clear-control" }]);
  });

  test("REIN and AUTH reset the data set-up and REST", () => {
    const s = loggedIn({ tls: "none", dataProtection: "optional" }, FILES);
    s.say("REST 5", "PASV");
    s.listening(40000);
    s.say("REIN");
    assert.deepEqual(s.events(), [{ type: "logged-out" }, { type: "close-data" }]);
    s.say("USER fred", "PASS x");
    assert.equal(s.say("RETR /pub/boot.cfg"), "425 Use PORT, PASV, EPRT or EPSV first.\r\n");
    s.say("EPSV");
    s.listening(40001);
    s.say("RETR /pub/boot.cfg");
    assert.deepEqual(s.storage.requests.at(-1), { op: "read", path: "/pub/boot.cfg", offset: 0 });
  });

  test("data commands need a login", () => {
    const s = server({}, FILES);
    assert.equal(
      s.say("PASV", "PORT 127,0,0,1,195,80", "REST 1", "RETR x", "LIST", "MLST", "ABOR"),
      "530 Please login with USER and PASS.\r\n".repeat(7),
    );
  });
});

describe("FTP server data commands: every other branch", () => {
  test("misuse of the data inputs throws", () => {
    const s = loggedIn({}, FILES);
    assert.throws(() => s.session.dataListening(s.now, 40000), TypeError, "no PASV pending");
    assert.throws(() => s.session.dataListenFailed(s.now), TypeError);
    s.say("EPSV");
    assert.throws(() => s.session.dataListening(s.now, 0), RangeError);
    assert.throws(() => s.session.storageResult(s.now, { ok: true }), TypeError);
    s.listening(40000);
    const waiting = server({ tls: "none" }, FILES);
    waiting.session.receive(1, encoder.encode("USER fred\r\nPASS x\r\n")); // login left pending
    assert.throws(() => waiting.session.dataListening(2, 40000), TypeError);
    assert.throws(() => waiting.session.dataListenFailed(2), TypeError);
    assert.throws(() => waiting.session.storageResult(2, { ok: true }), TypeError);
  });

  test("a session closed during a transfer ignores the transfer's result", () => {
    const s = loggedIn({ maxPendingCommands: 2 }, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/boot.cfg");
    const transfer = s.transfer();
    assert.equal(
      s.say("NOOP", "NOOP", "NOOP"),
      "421 Too many commands without waiting for replies.\r\n",
    );
    assert.equal(s.result(transfer.id, { ok: true }), "");
  });

  test("refusals on the way to a transfer; ASCII status; links and specials in MLSD", () => {
    const s = loggedIn({}, FILES);
    const epsv = () => {
      s.say("EPSV");
      s.listening(40000);
    };
    epsv();
    assert.equal(s.say("RETR  "), "501 A path is needed.\r\n");
    epsv();
    assert.equal(s.say("EPRT"), "501 Syntax error in EPRT.\r\n");
    s.say("TYPE A");
    assert.match(s.say("STAT"), / TYPE: ASCII\r\n/);
    // A storage that answers oddly: no stat, a refused list, a bad unique name, links.
    const odd = loggedIn({}, FILES);
    const answer = odd.storage.answer.bind(odd.storage);
    odd.storage.answer = (request) => {
      if (request.op === "stat" && request.path === "/bare") return { ok: true };
      if (request.op === "list" && request.path === "/pub") return { ok: false, code: 450 };
      if (request.op === "write-unique") return { ok: true, path: "a\r\nb" };
      if (request.op === "list") {
        return {
          ok: true,
          entries: [
            { name: "l", type: "link", size: 1, modified: new Date(0) },
            { name: "s", type: "other", size: 0, modified: new Date(0) },
          ],
        };
      }
      return answer(request);
    };
    const go = (...lines: string[]) => {
      odd.say("EPSV");
      odd.listening(40000);
      return odd.say(...lines);
    };
    assert.equal(go("LIST /bare"), "550 No such directory.\r\n");
    assert.equal(odd.say("MLST /bare"), "550 No such file.\r\n");
    assert.equal(go("LIST /pub"), "450 Cannot list.\r\n");
    assert.equal(go("STOU"), "451 Local error in processing.\r\n");
    go("MLSD /");
    assert.equal(
      decoder.decode(odd.transfer().listing),
      "type=OS.unix=symlink;size=1;modify=19700101000000;perm=; l\r\n" +
        "type=OS.unix=special;size=0;modify=19700101000000;perm=; s\r\n",
    );
    odd.session.dataResult(odd.now, 1, { ok: true });
    go("LIST /");
    assert.equal(
      decoder.decode(odd.transfer().listing),
      "lrw-r--r--    1 ftp      ftp             1 Jan  1  1970 l\r\n" +
        "-rw-r--r--    1 ftp      ftp             0 Jan  1  1970 s\r\n",
      "without the storage's clock every entry shows its year",
    );
    const refusing = loggedIn({}, FILES);
    refusing.storage.answer = () => ({ ok: false });
    refusing.say("EPSV");
    refusing.listening(40000);
    assert.equal(refusing.say("STOU"), "550 Cannot create a file.\r\n");
  });

  test("storage answers without their optional parts get the default replies", () => {
    const s = loggedIn({}, FILES);
    const answer = s.storage.answer.bind(s.storage);
    const odd: Partial<Record<FtpStorageRequest["op"], FtpStorageResult>> = {};
    s.storage.answer = (request) => odd[request.op] ?? answer(request);
    const go = (line: string) => {
      s.say("EPSV");
      s.listening(40000);
      return s.say(line);
    };
    const done = () => s.result(s.transfer().id, { ok: true });
    odd.read = { ok: false };
    assert.equal(go("RETR /pub/boot.cfg"), "550 Failed to open file.\r\n");
    odd.read = { ok: false, code: 450, message: "Busy." };
    assert.equal(go("RETR /pub/boot.cfg"), "450 Busy.\r\n");
    odd.read = { ok: true };
    assert.equal(
      go("RETR /pub/boot.cfg"),
      "150 Opening BINARY mode data connection for /pub/boot.cfg.\r\n",
      "no size, none in the 150",
    );
    assert.equal(done(), "226 Transfer complete.\r\n");
    odd.write = { ok: false };
    assert.equal(go("STOR /pub/new"), "550 Cannot create file.\r\n");
    odd.write = { ok: false, code: 552, message: "Full." };
    assert.equal(go("APPE /pub/new"), "552 Full.\r\n");
    odd["write-unique"] = { ok: false, code: 452, message: "Full." };
    assert.equal(go("STOU"), "452 Full.\r\n");
    odd["write-unique"] = { ok: true };
    assert.equal(go("STOU"), "150 FILE: \r\n");
    assert.equal(done(), "226 Transfer complete (unique file name: ).\r\n");
    odd.list = { ok: false };
    assert.equal(go("LIST /pub"), "550 Cannot list.\r\n");
    odd.list = { ok: true };
    assert.equal(go("NLST /pub"), "150 Here comes the directory listing.\r\n");
    const listing = s.transfer();
    assert.equal(listing.listing?.length, 0, "no entries, an empty listing");
    s.result(listing.id, { ok: true });
    odd.stat = { ok: false };
    assert.equal(go("LIST /pub"), "550 No such directory.\r\n");
    odd.stat = { ok: false, code: 450, message: "Busy." };
    assert.equal(go("MLSD /pub"), "450 Busy.\r\n");
    odd.stat = { ok: true };
    assert.equal(s.say("SIZE /pub/boot.cfg"), "550 No such file.\r\n");
    assert.equal(s.say("MDTM /pub/boot.cfg"), "550 No such file.\r\n");
    delete odd.stat;
    assert.equal(
      s.say("RNFR /pub/boot.cfg", "RNTO  "),
      "350 Ready for RNTO.\r\n501 A path is needed.\r\n",
    );
  });

  test("STAT of a plain session with clear data", () => {
    const s = loggedIn({ tls: "none", dataProtection: "optional" }, FILES);
    const status = s.say("STAT");
    assert.match(status, /\r\n Control connection: plain\r\n Data protection: clear\r\n/);
  });
});

describe("FTP server data commands: what the driver's log needs", () => {
  test("transfer-data names its command and the virtual path; storage events their command", () => {
    const s = loggedIn({ tls: "none", dataProtection: "optional" }, FILES);
    s.say("CWD /pub", "MKD sub", "XMKD /sub2", "XRMD /sub2");
    assert.deepEqual(s.storageCommands.splice(0), ["CWD", "MKD", "XMKD", "XRMD"]);
    const cases: [string, string, string][] = [
      ["RETR boot.cfg", "RETR", "/pub/boot.cfg"],
      ["STOR ../up.bin", "STOR", "/up.bin"],
      ["APPE sub/../new bin", "APPE", "/pub/new bin"],
      ["STOU", "STOU", "/pub/ftkit.1"],
      ["LIST -la", "LIST", "/pub"],
      ["NLST /", "NLST", "/"],
      ["MLSD sub", "MLSD", "/pub/sub"],
    ];
    for (const [line, command, path] of cases) {
      assert.equal(s.say("PORT 127,0,0,1,195,80"), "200 PORT command successful.\r\n");
      assert.match(s.say(line), /^150 /, line);
      const transfer = s.transfer();
      assert.equal(transfer.command, command, line);
      assert.equal(transfer.path, path, line);
      assert.match(s.result(transfer.id, { ok: true }), /^226 /, line);
    }
    // Every storage request a transfer or listing made is tagged with its command.
    assert.deepEqual(s.storageCommands.splice(0), [
      "RETR",
      "STOR",
      "APPE",
      "STOU",
      "LIST",
      "LIST",
      "NLST",
      "NLST",
      "MLSD",
      "MLSD",
    ]);
    s.say("RNFR /pub/boot.cfg", "RNTO /pub/b.cfg", "DELE b.cfg", "RMD sub");
    assert.deepEqual(s.storageCommands, ["RNFR", "RNTO", "DELE", "RMD"]);
  });
});

describe("FTP server shutdown: 421 once nothing runs (RFC 959 section 4.2)", () => {
  const BYE = "421 Server shutting down: closing the connection.\r\n";
  const closedFor = (s: ReturnType<typeof loggedIn>) =>
    s.events().filter((event) => event.type === "closed");

  test("an idle session is answered 421 and closed at once; what comes later is ignored", () => {
    const s = loggedIn({}, FILES);
    s.session.shutdown(s.now);
    let out = "";
    for (let bytes = s.session.pollTransmit(); bytes; bytes = s.session.pollTransmit()) {
      out += decoder.decode(bytes);
    }
    assert.equal(out, BYE);
    assert.deepEqual(s.session.pollEvent(), { type: "closed", reason: "shutdown" });
    assert.equal(s.session.isClosed(), true);
    assert.equal(s.say("PWD"), "", "nothing runs after the 421");
    s.session.shutdown(s.now);
    assert.equal(s.session.pollTransmit(), undefined, "a second shutdown changes nothing");
  });

  test("a running transfer finishes and gets its 226 first; ABOR and STAT still run, others are dropped", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("RETR /pub/boot.cfg");
    const transfer = s.transfer();
    s.session.shutdown(s.now);
    assert.equal(s.session.isClosed(), false, "the transfer runs on");
    assert.equal(s.say("STAT"), "213 Transfer in progress (RETR).\r\n");
    assert.equal(s.say("PWD"), "", "held, then dropped");
    assert.equal(s.result(transfer.id, { ok: true }), `226 Transfer complete.\r\n${BYE}`);
    assert.deepEqual(closedFor(s), [{ type: "closed", reason: "shutdown" }]);
  });

  test("a transfer aborted during the shutdown: 426 and 226 for ABOR, then 421", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.say("STOR /pub/new.bin");
    const transfer = s.transfer();
    s.session.shutdown(s.now);
    assert.equal(s.say("ABOR"), `426 Transfer aborted.\r\n226 ABOR successful.\r\n${BYE}`);
    assert.deepEqual(s.events(), [
      { type: "abort-data", id: transfer.id },
      { type: "closed", reason: "shutdown" },
    ]);
  });

  test("a command being answered is answered, and one it starts runs to its end; the next is dropped", () => {
    const session = new FtpServerSession({ tls: "none", dataProtection: "optional" });
    session.start(0, { local: "127.0.0.1", remote: "127.0.0.1" });
    const drain = () => {
      let out = "";
      for (let bytes = session.pollTransmit(); bytes; bytes = session.pollTransmit()) {
        out += decoder.decode(bytes);
      }
      return out;
    };
    drain();
    session.receive(1, encoder.encode("USER fred\r\nPASS pass\r\nPWD\r\n"));
    assert.equal(drain(), "331 Password required.\r\n");
    assert.equal(session.pollEvent()?.type, "authenticate");
    session.shutdown(2);
    assert.equal(drain(), "", "the login check is owed");
    session.loginResult(3, true);
    assert.equal(drain(), `230 Login successful.\r\n${BYE}`, "PWD dropped");
    assert.throws(() => new FtpServerSession().shutdown(0), TypeError, "not started");
  });

  test("a RETR whose file is being opened still gets its transfer, then 421", () => {
    const s = loggedIn({}, FILES);
    s.say("EPSV");
    s.listening(40000);
    s.session.receive(s.now + 1, encoder.encode("RETR /pub/boot.cfg\r\n"));
    const opening = s.session.pollEvent();
    assert.equal(opening?.type, "storage");
    s.session.shutdown(s.now + 2);
    assert.equal(s.session.pollTransmit(), undefined, "the storage's answer is owed");
    s.session.storageResult(
      s.now + 3,
      s.storage.answer((opening as { request: FtpStorageRequest }).request),
    );
    assert.match(decoder.decode(s.session.pollTransmit()), /^150 /);
    const transfer = s.session.pollEvent() as TransferEvent;
    assert.equal(transfer.type, "transfer-data");
    assert.equal(s.result(transfer.id, { ok: true }), `226 Transfer complete.\r\n${BYE}`);
  });
});
