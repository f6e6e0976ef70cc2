import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type FtpClientEvent,
  FtpClientSession,
  type FtpClientSessionOptions,
  FtpReplyError,
} from "../../ftps/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Everything the session wrote on the control connection since the last call. */
function sent(session: FtpClientSession): string {
  let out = "";
  for (let bytes = session.pollTransmit(); bytes; bytes = session.pollTransmit()) {
    out += decoder.decode(bytes);
  }
  return out;
}

/** Every event since the last call. */
function events(session: FtpClientSession): FtpClientEvent[] {
  const out: FtpClientEvent[] = [];
  for (let event = session.pollEvent(); event; event = session.pollEvent()) out.push(event);
  return out;
}

/** The server says `text` (lines joined with CR LF). */
function server(session: FtpClientSession, now: number, ...lines: string[]): void {
  session.receive(now, encoder.encode(lines.map((line) => `${line}\r\n`).join("")));
}

const FEAT = ["211-Features:", " AUTH TLS", " PBSZ", " PROT", " EPSV", " UTF8", "211 End"];

/** A session taken through RFC 4217 section 12.1 to `ready`. */
function ready(options: FtpClientSessionOptions = {}): FtpClientSession {
  const session = new FtpClientSession({ user: "fred", password: "pass", ...options });
  session.start(0);
  server(session, 1, "220 Service ready");
  if ((options.tls ?? "explicit") === "explicit") {
    assert.equal(sent(session), "AUTH TLS\r\n");
    server(session, 2, "234 Proceed with negotiation.");
    session.controlUpgraded(3);
  }
  if ((options.tls ?? "explicit") !== "none") {
    assert.equal(sent(session), "PBSZ 0\r\n");
    server(session, 4, "200 PBSZ=0");
    assert.equal(sent(session), "PROT P\r\n");
    server(session, 5, "200 Protection level set to P");
  }
  assert.equal(sent(session), "USER fred\r\n");
  server(session, 6, "331 Please specify the password.");
  assert.equal(sent(session), "PASS pass\r\n");
  server(session, 7, "230 Login successful.");
  assert.equal(sent(session), "FEAT\r\n");
  server(session, 8, ...FEAT);
  assert.equal(sent(session), "OPTS UTF8 ON\r\n");
  server(session, 9, "200 Always in UTF8 mode.");
  assert.equal(sent(session), "TYPE I\r\n");
  server(session, 10, "200 Switching to Binary mode.");
  const [last] = events(session).filter((event) => event.type === "ready");
  assert.ok(last, "ready");
  return session;
}

describe("FTPS client session: establishing (RFC 4217 section 12)", () => {
  test("12.1: AUTH TLS, TLS, PBSZ 0, PROT P, USER, PASS, then FEAT, UTF8, TYPE I", () => {
    const session = new FtpClientSession({ user: "fred", password: "pass" });
    session.start(0);
    assert.equal(session.pollTimeout(), 30_000, "waiting for the greeting");
    server(session, 1, "220 Service ready");
    assert.equal(sent(session), "AUTH TLS\r\n");
    server(session, 2, "234 Proceed with negotiation.");
    assert.deepEqual(events(session), [{ type: "upgrade-control" }]);
    assert.equal(sent(session), "", "nothing is sent before the TLS handshake");
    assert.equal(session.controlProtected, false);
    session.controlUpgraded(3);
    assert.equal(session.controlProtected, true);
    assert.equal(sent(session), "PBSZ 0\r\n");
    server(session, 4, "200 PBSZ=0");
    assert.equal(sent(session), "PROT P\r\n");
    server(session, 5, "200 Protection level set to P");
    assert.equal(sent(session), "USER fred\r\n");
    server(session, 6, "331 Please specify the password.");
    assert.equal(sent(session), "PASS pass\r\n");
    server(session, 7, "230 Login successful.");
    assert.equal(sent(session), "FEAT\r\n");
    server(session, 8, ...FEAT);
    assert.equal(sent(session), "OPTS UTF8 ON\r\n");
    server(session, 9, "200 Always in UTF8 mode.");
    assert.equal(sent(session), "TYPE I\r\n");
    server(session, 10, "200 Switching to Binary mode.");
    const [event] = events(session);
    assert.equal(event.type, "ready");
    if (event.type === "ready") {
      assert.equal(event.protection, "P");
      assert.equal(event.features.get("AUTH"), "TLS");
    }
  });

  test("12.2: 232 after USER: no password asked", () => {
    const session = new FtpClientSession({ user: "fred", password: "pass", utf8: false });
    session.start(0);
    server(session, 1, "220 Service ready");
    sent(session);
    server(session, 2, "234 Go");
    session.controlUpgraded(3);
    server(session, 4, "200 PBSZ=0");
    server(session, 5, "200 PROT P");
    assert.equal(sent(session), "PBSZ 0\r\nPROT P\r\nUSER fred\r\n");
    server(session, 6, "232 User logged in, authorized by security data exchange.");
    assert.equal(sent(session), "FEAT\r\n", "no PASS");
  });

  test("10.3: PBSZ and PROT after login when asked", () => {
    const session = new FtpClientSession({ user: "u", password: "p", protectAfterLogin: true });
    session.start(0);
    server(session, 1, "220 Ready");
    server(session, 2, "234 Go");
    session.controlUpgraded(3);
    assert.equal(sent(session), "AUTH TLS\r\nUSER u\r\n");
    server(session, 4, "331 Password");
    server(session, 5, "230 In");
    assert.equal(sent(session), "PASS p\r\nPBSZ 0\r\n");
    server(session, 6, "200 PBSZ=0");
    assert.equal(sent(session), "PROT P\r\n");
  });

  test("10.3: the user can send commands before AUTH (a client MUST allow the timing overridden)", () => {
    const session = new FtpClientSession({
      user: "u",
      password: "p",
      beforeAuth: ["SITE HELLO", "CLNT ftkit"],
    });
    session.start(0);
    server(session, 1, "220 Ready");
    assert.equal(sent(session), "SITE HELLO\r\n", "not AUTH first");
    server(session, 2, "200 Hello.");
    assert.equal(sent(session), "CLNT ftkit\r\n");
    server(session, 3, "200 Noted.");
    assert.equal(sent(session), "AUTH TLS\r\n");
    const refused = new FtpClientSession({ beforeAuth: ["SITE HELLO"] });
    refused.start(0);
    server(refused, 1, "220 Ready", "500 No.");
    assert.equal(sent(refused), "SITE HELLO\r\n", "no AUTH after a refusal");
    const [closed] = events(refused);
    assert.ok(closed.type === "closed" && closed.reason === "protocol-error");
    assert.throws(() => new FtpClientSession({ beforeAuth: ["SITE a\r\nUSER x"] }));
  });

  test("10.3: a TLS handshake that fails: drop; no negotiation: plain QUIT; wrong server: protected QUIT", () => {
    const upgrading = () => {
      const session = new FtpClientSession();
      session.start(0);
      server(session, 1, "220 Ready", "234 Go");
      sent(session);
      events(session);
      return session;
    };
    const dropped = upgrading();
    dropped.controlUpgradeFailed(2);
    assert.equal(sent(dropped), "", "nothing is sent on a connection in an unknown state");
    assert.deepEqual(events(dropped).map((event) => event.type === "closed" && event.reason), [
      "tls-failed",
    ]);
    const plain = upgrading();
    plain.controlUpgradeFailed(2, "no-handshake");
    assert.equal(sent(plain), "QUIT\r\n");
    assert.equal(plain.controlProtected, false, "QUIT goes in plain text");
    server(plain, 3, "221 Bye.");
    const [closed] = events(plain);
    assert.ok(closed.type === "closed" && closed.reason === "tls-failed");
    const wrong = upgrading();
    wrong.controlUpgradeFailed(2, "rejected", new Error("certificate names another host"));
    assert.equal(sent(wrong), "QUIT\r\n");
    assert.equal(wrong.controlProtected, true, "QUIT goes inside TLS");
    wrong.receiveEnd(3);
    const [ended] = events(wrong);
    assert.ok(ended.type === "closed" && ended.reason === "tls-failed");
    assert.equal(ended.error?.message, "certificate names another host");
    assert.throws(() => wrong.controlUpgradeFailed(4), TypeError);
  });

  test("section 4: plain replies after AUTH's 234 are dropped, never taken as answers", () => {
    // Whatever follows the 234 before TLS is up could be anyone's: a smuggled 230 must never
    // answer USER or PASS, nor a partial line run into the first protected reply.
    const session = new FtpClientSession({ user: "fred", password: "pass" });
    session.start(0);
    server(session, 1, "220 Ready");
    assert.equal(sent(session), "AUTH TLS\r\n");
    session.receive(2, encoder.encode("234 Proceed\r\n230 Logged in\r\n200 OK\r\n331 Pass"));
    assert.deepEqual(events(session), [{ type: "upgrade-control" }]);
    session.receive(3, encoder.encode("word\r\n230 Logged in\r\n")); // Before TLS is up.
    assert.deepEqual(events(session), []);
    session.controlUpgraded(4);
    assert.equal(sent(session), "PBSZ 0\r\n");
    server(session, 5, "200 PBSZ=0");
    assert.equal(sent(session), "PROT P\r\n");
    server(session, 6, "200 PROT P");
    assert.equal(sent(session), "USER fred\r\n");
    server(session, 7, "331 Password please");
    assert.equal(sent(session), "PASS pass\r\n");
    server(session, 8, "530 Login incorrect");
    const [closed] = events(session);
    assert.ok(closed.type === "closed" && closed.reason === "login-failed", "not logged in");
  });

  test("section 4: a line begun in plain text after AUTH's 234 does not end inside TLS", () => {
    const half = new FtpClientSession({ user: "fred", password: "pass" });
    half.start(0);
    server(half, 1, "220 Ready");
    half.receive(2, encoder.encode("234 Proceed\r\n230 Logged in"));
    half.controlUpgraded(3);
    assert.equal(sent(half), "AUTH TLS\r\nPBSZ 0\r\n");
    server(half, 4, "200 PBSZ=0");
    assert.equal(sent(half), "PROT P\r\n", "the 200 answered PBSZ, not a 230 made of two halves");
    assert.deepEqual(events(half), [{ type: "upgrade-control" }]);
  });

  test("implicit TLS: the session starts protected, no AUTH", () => {
    const session = ready({ tls: "implicit" });
    assert.equal(session.controlProtected, true);
  });

  test("plain FTP: no AUTH, no PBSZ/PROT, and data without TLS", () => {
    const session = ready({ tls: "none" });
    assert.equal(session.controlProtected, false);
    session.transfer(20, { command: "LIST" });
    assert.equal(sent(session), "EPSV\r\n");
    server(session, 21, "229 Entering Extended Passive Mode (|||5001|)");
    events(session);
    session.dataConnected(22, 1);
    server(session, 23, "150 Here comes the listing.");
    assert.deepEqual(events(session), [{
      type: "transfer-data",
      id: 1,
      tls: false,
      direction: "download",
    }]);
  });

  test("ACCT when the server asks for an account (332)", () => {
    const session = new FtpClientSession({ tls: "none", user: "u", password: "p", account: "acc" });
    session.start(0);
    server(session, 1, "220 Ready");
    server(session, 2, "331 Password");
    server(session, 3, "332 Need account");
    assert.equal(sent(session), "USER u\r\nPASS p\r\nACCT acc\r\n");
    server(session, 4, "230 In");
    assert.equal(sent(session), "FEAT\r\n");
  });

  test("a greeting in two parts (120, then 220); multi-line greetings", () => {
    const session = new FtpClientSession({ tls: "none" });
    session.start(0);
    server(session, 1, "120 Ready in 5 minutes");
    assert.equal(sent(session), "");
    server(session, 2, "220-Welcome", " to the archive", "220 Ready");
    assert.equal(sent(session), "USER anonymous\r\n");
  });
});

describe("FTPS client session: refusals end the session, typed", () => {
  test("AUTH TLS refused: no plain-text fallback, no USER sent", () => {
    const session = new FtpClientSession({ user: "fred", password: "secret" });
    session.start(0);
    server(session, 1, "220 Ready");
    sent(session);
    const queued = session.command(2, "PWD");
    server(session, 3, "500 AUTH not understood");
    assert.equal(sent(session), "");
    const out = events(session);
    assert.deepEqual(out.map((event) => event.type), ["failed", "closed"]);
    const closed = out[1];
    assert.ok(closed.type === "closed" && closed.reason === "tls-refused");
    assert.ok(closed.error instanceof FtpReplyError && closed.error.code === 500);
    assert.ok(out[0].type === "failed" && out[0].id === queued, "the queued PWD fails too");
    assert.ok(session.isClosed());
    assert.throws(() => session.command(4, "NOOP"), TypeError);
  });

  test("a refused login (530) closes with login-failed and never shows the password", () => {
    const session = new FtpClientSession({ tls: "none", user: "fred", password: "hunter2" });
    session.start(0);
    server(session, 1, "220 Ready");
    server(session, 2, "331 Password");
    server(session, 3, "530 Login incorrect.");
    const closed = events(session).at(-1)!;
    assert.ok(closed.type === "closed" && closed.reason === "login-failed");
    assert.ok(closed.error instanceof FtpReplyError);
    assert.equal(closed.error.command, "PASS ****");
    assert.ok(!closed.error.message.includes("hunter2"));
    assert.equal(closed.error.transient, false);
  });

  test("PROT P refused (536) ends the session: the data would not be protected", () => {
    const session = new FtpClientSession();
    session.start(0);
    server(session, 1, "220 Ready");
    server(session, 2, "234 Go");
    session.controlUpgraded(3);
    server(session, 4, "200 PBSZ=0");
    server(session, 5, "536 Requested PROT level not supported by mechanism.");
    const closed = events(session).at(-1)!;
    assert.ok(closed.type === "closed" && closed.reason === "tls-refused");
  });

  test("421 at any time closes the session; so does the end of the stream", () => {
    const session = ready();
    session.command(20, "NOOP");
    server(session, 21, "421 Timeout.");
    const closed = events(session).at(-1)!;
    assert.ok(closed.type === "closed" && closed.reason === "server-closed");
    const other = ready();
    other.receiveEnd(30);
    assert.ok(
      events(other).some((event) => event.type === "closed" && event.reason === "server-closed"),
    );
  });

  test("a reply that never comes ends the session at the timeout", () => {
    const session = ready({ replyTimeoutMs: 5000 });
    session.command(100, "NOOP");
    assert.equal(session.pollTimeout(), 5100);
    session.handleTimeout(5099);
    assert.equal(events(session).length, 0);
    session.handleTimeout(5100);
    const out = events(session);
    assert.deepEqual(out.map((event) => event.type), ["failed", "closed"], "the NOOP fails too");
    assert.ok(out[1].type === "closed" && out[1].reason === "timeout");
  });

  test("garbage from the server is a protocol error", () => {
    const session = new FtpClientSession({ tls: "none" });
    session.start(0);
    server(session, 1, "HTTP/1.1 400 Bad Request");
    const closed = events(session).at(-1)!;
    assert.ok(closed.type === "closed" && closed.reason === "protocol-error");
  });
});

describe("FTPS client session: commands", () => {
  test("a positive reply completes; a negative one fails with an FtpReplyError and goes on", () => {
    const session = ready();
    const pwd = session.command(20, "PWD");
    const dele = session.command(20, "DELE", "missing.txt");
    assert.equal(sent(session), "PWD\r\n", "one command at a time");
    server(session, 21, '257 "/home/fred" is the current directory');
    assert.equal(sent(session), "DELE missing.txt\r\n");
    server(session, 22, "550 Delete operation failed.");
    const [done, failed] = events(session);
    assert.ok(done.type === "complete" && done.id === pwd && done.reply.code === 257);
    assert.ok(failed.type === "failed" && failed.id === dele);
    assert.ok(failed.error instanceof FtpReplyError);
    assert.equal(failed.error.code, 550);
    assert.equal(failed.error.command, "DELE missing.txt");
    assert.equal(session.isClosed(), false);
  });

  test("operations queued before login run once the session is ready", () => {
    const session = new FtpClientSession({ tls: "none", utf8: false });
    session.start(0);
    session.command(0, "CWD", "pub");
    server(session, 1, "220 Ready");
    server(session, 2, "230 In");
    server(session, 3, "500 FEAT?");
    server(session, 4, "200 Binary");
    assert.equal(sent(session), "USER anonymous\r\nFEAT\r\nTYPE I\r\nCWD pub\r\n");
  });

  test("rename: RNFR, 350, RNTO", () => {
    const session = ready();
    const id = session.rename(20, "a.txt", "b.txt");
    assert.equal(sent(session), "RNFR a.txt\r\n");
    server(session, 21, "350 Ready for RNTO.");
    assert.equal(sent(session), "RNTO b.txt\r\n");
    server(session, 22, "250 Rename successful.");
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === id));
    const refused = session.rename(23, "x", "y");
    server(session, 24, "550 RNFR command failed.");
    assert.equal(sent(session), "RNFR x\r\n", "no RNTO after a refused RNFR");
    assert.ok(events(session).some((event) => event.type === "failed" && event.id === refused));
  });

  test("the session refuses misuse: its own commands, data commands, CR LF in arguments", () => {
    const session = ready();
    assert.throws(() => session.command(20, "USER", "x"), TypeError);
    assert.throws(() => session.command(20, "PROT", "C"), TypeError);
    assert.throws(() => session.command(20, "RETR", "x"), TypeError);
    assert.throws(() => session.command(20, "CWD", "a\r\nDELE b"), /CR inside a command/);
    assert.throws(
      () => session.transfer(20, { command: "RETR", path: "x", offset: -1 }),
      RangeError,
    );
    assert.throws(() => session.dataConnected(20, 99), TypeError);
    assert.throws(() => session.controlUpgraded(20), TypeError);
    assert.throws(() => session.start(20), TypeError);
    assert.throws(() => new FtpClientSession().receive(0, new Uint8Array(0)), TypeError);
  });

  test("12.3: CCC, then the control connection in plain text; data stays protected", () => {
    const session = ready();
    const id = session.clearControl(20);
    const after = session.command(20, "NOOP");
    assert.equal(sent(session), "CCC\r\n");
    server(session, 21, "200 Control connection cleared.");
    assert.deepEqual(events(session), [{ type: "clear-control" }, {
      type: "complete",
      id,
      reply: { code: 200, lines: ["Control connection cleared."] },
    }]);
    assert.equal(sent(session), "", "nothing until the TLS shutdown is done");
    session.controlCleared(22);
    assert.equal(session.controlProtected, false);
    assert.equal(sent(session), "NOOP\r\n");
    server(session, 23, "200 NOOP ok.");
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === after));
  });

  test("QUIT: 221, then the session closes with reason quit", () => {
    const session = ready();
    session.quit(20);
    assert.equal(sent(session), "QUIT\r\n");
    server(session, 21, "221 Goodbye.");
    const out = events(session);
    assert.equal(out[0].type, "complete");
    assert.ok(out[1].type === "closed" && out[1].reason === "quit");
  });
});

describe("FTPS client session: data transfers (RFC 4217 sections 7, 12.4-12.7)", () => {
  test("12.7: EPSV, connect, RETR, 150, TLS on data, then data end and 226 in either order", () => {
    for (const order of ["data first", "reply first"]) {
      const session = ready();
      const id = session.transfer(20, { command: "RETR", path: "boot.img" });
      assert.equal(sent(session), "EPSV\r\n");
      server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
      assert.deepEqual(events(session), [{ type: "connect-data", id, port: 50000 }]);
      assert.equal(sent(session), "", "the command waits for the data connection");
      session.dataConnected(22, id);
      assert.equal(sent(session), "RETR boot.img\r\n");
      server(session, 23, "150 Opening BINARY mode data connection for boot.img (5 bytes).");
      assert.deepEqual(events(session), [{
        type: "transfer-data",
        id,
        tls: true,
        direction: "download",
      }]);
      if (order === "data first") {
        session.dataEnded(24, id);
        assert.deepEqual(events(session), [], "not complete without the final reply");
        server(session, 25, "226 Transfer complete.");
      } else {
        server(session, 24, "226 Transfer complete.");
        assert.deepEqual(events(session), [], "not complete without the end of the data");
        session.dataEnded(25, id);
      }
      const [done] = events(session);
      assert.ok(done.type === "complete" && done.id === id && done.reply.code === 226, order);
    }
  });

  test("EPSV refused: PASV, remembered for the session; a 227 host is reported, not used", () => {
    const session = ready();
    const first = session.transfer(20, { command: "LIST" });
    assert.equal(sent(session), "EPSV\r\n");
    server(session, 21, "502 EPSV not implemented");
    assert.equal(sent(session), "PASV\r\n");
    server(session, 22, "227 Entering Passive Mode (10,9,8,7,195,80).");
    assert.deepEqual(events(session), [{
      type: "connect-data",
      id: first,
      port: 50000,
      announcedHost: "10.9.8.7",
    }]);
    session.dataConnected(23, first);
    assert.equal(sent(session), "LIST\r\n");
    server(session, 24, "150 Here comes the directory listing.");
    session.dataEnded(25, first);
    server(session, 26, "226 Directory send OK.");
    events(session);
    session.transfer(27, { command: "NLST", path: "pub" });
    assert.equal(sent(session), "PASV\r\n", "no second EPSV");
  });

  test("resuming: REST, 350, then RETR", () => {
    const session = ready();
    const id = session.transfer(20, { command: "RETR", path: "big.iso", offset: 5368709120 });
    server(session, 21, "229 Entering Extended Passive Mode (|||50001|)");
    session.dataConnected(22, id);
    assert.equal(sent(session), "EPSV\r\nREST 5368709120\r\n");
    server(session, 23, "350 Restart position accepted (5368709120).");
    assert.equal(sent(session), "RETR big.iso\r\n");
  });

  test("a refused transfer fails with the reply, and the next operation runs", () => {
    const session = ready();
    const id = session.transfer(20, { command: "RETR", path: "missing" });
    const next = session.command(20, "NOOP");
    server(session, 21, "229 Entering Extended Passive Mode (|||50002|)");
    events(session);
    session.dataConnected(22, id);
    server(session, 23, "550 Failed to open file.");
    const [failed] = events(session);
    assert.ok(failed.type === "failed" && failed.id === id);
    assert.ok(failed.error instanceof FtpReplyError && failed.error.code === 550);
    assert.equal(sent(session), "EPSV\r\nRETR missing\r\nNOOP\r\n");
    server(session, 24, "200 NOOP ok.");
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === next));
  });

  test("a broken data connection fails the transfer even when the server says 226", () => {
    const session = ready();
    const id = session.transfer(20, { command: "RETR", path: "x" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50003|)");
    session.dataConnected(22, id);
    server(session, 23, "150 Opening");
    events(session);
    session.dataFailed(24, id, new Error("TLS handshake failed"));
    server(session, 25, "226 Transfer complete.");
    const [failed] = events(session);
    assert.ok(failed.type === "failed" && failed.error.message === "TLS handshake failed");
    const other = ready();
    const lost = other.transfer(30, { command: "RETR", path: "y" });
    server(other, 31, "229 Entering Extended Passive Mode (|||50004|)");
    events(other);
    other.dataFailed(32, lost, new Error("connection refused"));
    assert.ok(events(other).some((event) => event.type === "failed" && event.id === lost));
  });

  test("226 then 421 or the end of the stream (a server shutting down): the transfer completes once its data ends", () => {
    for (const gone of ["421", "end", "421 then end"]) {
      const session = ready();
      const id = session.transfer(20, { command: "RETR", path: "boot.img" });
      const next = session.command(20, "NOOP");
      server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
      session.dataConnected(22, id);
      server(session, 23, "150 Opening BINARY mode data connection.");
      events(session);
      if (gone === "end") {
        server(session, 24, "226 Transfer complete.");
        session.receiveEnd(24);
      } else {
        server(session, 24, "226 Transfer complete.", "421 Server shutting down.");
        if (gone === "421 then end") session.receiveEnd(24);
      }
      server(session, 24, "200 Late.");
      assert.deepEqual(events(session), [], `${gone}: the data is still coming`);
      session.dataEnded(25, id);
      const out = events(session);
      assert.ok(out[0].type === "complete" && out[0].id === id, gone);
      assert.ok(out[1].type === "failed" && out[1].id === next, "the next operation never ran");
      assert.ok(out[2].type === "closed" && out[2].reason === "server-closed");
      assert.equal(session.isClosed(), true);
    }
    // Its data connection breaking instead: the transfer fails, and the session closes.
    const session = ready();
    const id = session.transfer(30, { command: "RETR", path: "x" });
    server(session, 31, "229 Entering Extended Passive Mode (|||50001|)");
    session.dataConnected(32, id);
    server(session, 33, "150 Opening", "226 Transfer complete.", "421 Bye.");
    events(session);
    session.dataFailed(34, id, new Error("reset"));
    const out = events(session);
    assert.ok(out[0].type === "failed" && out[0].error.message === "reset");
    assert.ok(out[1].type === "closed" && out[1].reason === "server-closed");
  });

  test("12.6: active mode: listen, EPRT, 200, STOR, 150, TLS as client, upload, 226", () => {
    const session = ready({ dataConnections: "active" });
    const id = session.transfer(20, { command: "STOR", path: "up.bin" });
    assert.deepEqual(events(session), [{ type: "listen-data", id }]);
    session.dataListening(21, id, { host: "127.0.0.1", port: 40000 });
    assert.equal(sent(session), "EPRT |1|127.0.0.1|40000|\r\n");
    server(session, 22, "200 EPRT command successful.");
    assert.equal(sent(session), "STOR up.bin\r\n");
    server(session, 23, "150 Ok to send data.");
    assert.deepEqual(events(session), [{
      type: "transfer-data",
      id,
      tls: true,
      direction: "upload",
    }]);
    session.dataEnded(24, id);
    server(session, 25, "226 Transfer complete.");
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === id));
  });

  test("12.4: active mode falls back from EPRT to PORT for IPv4", () => {
    const session = ready({ dataConnections: "active" });
    const id = session.transfer(20, { command: "STOR", path: "up.bin" });
    events(session);
    session.dataListening(21, id, { host: "127.0.0.1", port: 40000 });
    server(session, 22, "500 EPRT not understood");
    assert.equal(sent(session), "EPRT |1|127.0.0.1|40000|\r\nPORT 127,0,0,1,156,64\r\n");
    server(session, 23, "200 PORT command successful.");
    assert.equal(sent(session), "STOR up.bin\r\n");
  });
});

describe("FTPS client session: every other branch", () => {
  const closedWith = (session: FtpClientSession) => {
    const closed = events(session).at(-1);
    return closed?.type === "closed" ? closed.reason : undefined;
  };
  const login = (options: FtpClientSessionOptions, ...replies: string[]) => {
    const session = new FtpClientSession({ tls: "none", user: "u", password: "p", ...options });
    session.start(0);
    server(session, 1, "220 Ready");
    for (const reply of replies) server(session, 2, reply);
    return session;
  };

  test("login refusals: USER refused, 332 without an account, ACCT refused", () => {
    assert.equal(closedWith(login({}, "530 Not allowed")), "login-failed");
    assert.equal(closedWith(login({}, "332 Need account")), "login-failed");
    assert.equal(closedWith(login({}, "331 Password", "332 Need account")), "login-failed");
    const refused = login({ account: "a" }, "332 Need account", "530 No");
    assert.equal(closedWith(refused), "login-failed");
  });

  test("set-up refusals: PBSZ refused, TYPE I refused", () => {
    const session = new FtpClientSession();
    session.start(0);
    server(session, 1, "220 Ready");
    server(session, 2, "234 Go");
    session.controlUpgraded(3);
    server(session, 4, "503 PBSZ first?");
    assert.equal(closedWith(session), "tls-refused");
    const binary = login({ utf8: false }, "331 Password", "230 In", "211-F:", "211 End", "504 No");
    assert.equal(closedWith(binary), "protocol-error");
  });

  test("after the end: input is ignored; QUIT's end of stream is a quit", () => {
    const session = login({}, "530 No");
    events(session);
    server(session, 3, "200 Late");
    session.receiveEnd(4);
    session.handleTimeout(1e9);
    assert.deepEqual(events(session), []);
    const quitting = ready();
    quitting.quit(20);
    quitting.receiveEnd(21);
    assert.equal(closedWith(quitting), "quit");
    assert.throws(() => ready().controlCleared(0), TypeError);
  });

  test("greeting refused, a reply nobody asked for, a preliminary reply to a plain command", () => {
    const busy = new FtpClientSession({ tls: "none" });
    busy.start(0);
    server(busy, 1, "530 Too many connections");
    assert.equal(closedWith(busy), "server-closed");
    const session = ready();
    server(session, 20, "200 Unasked");
    assert.equal(closedWith(session), "protocol-error");
    const stat = ready();
    const id = stat.command(20, "STAT");
    server(stat, 21, "150 Working on it");
    assert.deepEqual(events(stat), [], "a 1yz to STAT is not its answer");
    server(stat, 22, "211 All fine");
    assert.ok(events(stat).some((event) => event.type === "complete" && event.id === id));
  });

  test("CCC refused (533, RFC 4217 section 5) fails the operation only", () => {
    const session = ready();
    const id = session.clearControl(20);
    server(session, 21, "533 Command protection level denied for paranoid reasons.");
    const [failed] = events(session);
    assert.ok(failed.type === "failed" && failed.id === id);
    assert.equal(session.controlProtected, true);
  });

  test("data negotiation refusals: EPSV 425 or garbage, PASV refused or garbage, REST refused", () => {
    const cases: [string[], number][] = [
      [["425 Can't open data connection."], 425],
      [["229 Entering Extended Passive Mode (no port)"], 0],
      [["500 EPSV?", "425 No PASV either"], 425],
      [["500 EPSV?", "227 Entering Passive Mode (garbage)"], 0],
    ];
    for (const [replies, code] of cases) {
      const session = ready();
      const id = session.transfer(20, { command: "RETR", path: "x" });
      for (const reply of replies) server(session, 21, reply);
      const failed = events(session).find((event) => event.type === "failed");
      assert.ok(failed?.type === "failed" && failed.id === id, replies.join(" / "));
      if (code) assert.equal((failed.error as FtpReplyError).code, code);
    }
    const rest = ready();
    const id = rest.transfer(20, { command: "RETR", path: "x", offset: 10 });
    server(rest, 21, "229 Entering Extended Passive Mode (|||50000|)");
    rest.dataConnected(22, id);
    server(rest, 23, "502 REST not implemented");
    assert.ok(events(rest).some((event) => event.type === "failed" && event.id === id));
    assert.equal(sent(rest), "EPSV\r\nREST 10\r\n", "no RETR after a refused REST");
  });

  test("active mode: a refused EPRT for IPv6, and PORT refused", () => {
    const session = ready({ dataConnections: "active" });
    const id = session.transfer(20, { command: "LIST" });
    session.dataListening(21, id, { host: "::1", port: 40000 });
    server(session, 22, "522 Network protocol not supported, use (1)");
    assert.ok(events(session).some((event) => event.type === "failed" && event.id === id));
    const port = ready({ dataConnections: "active" });
    const second = port.transfer(20, { command: "LIST" });
    port.dataListening(21, second, { host: "127.0.0.1", port: 40000 });
    server(port, 22, "500 EPRT?");
    server(port, 23, "500 PORT?");
    assert.ok(events(port).some((event) => event.type === "failed" && event.id === second));
    assert.throws(() => port.dataFailed(24, 99, new Error("x")), TypeError);
  });

  test("final replies: 2yz without 150 completes (empty listing), 451 after 150 fails", () => {
    const session = ready();
    const id = session.transfer(20, { command: "NLST", path: "empty" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
    session.dataConnected(22, id);
    server(session, 23, "226 No files found.");
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === id));
    const broken = ready();
    const other = broken.transfer(20, { command: "STOR", path: "up" });
    server(broken, 21, "229 Entering Extended Passive Mode (|||50000|)");
    broken.dataConnected(22, other);
    server(broken, 23, "150 Ok to send data.");
    broken.dataEnded(24, other);
    server(broken, 25, "451 Failure writing to local file.");
    const failed = events(broken).find((event) => event.type === "failed");
    assert.ok(failed?.type === "failed" && (failed.error as FtpReplyError).transient);
  });

  test("each deadline counts from the input that sent the command: a slow but healthy server is served to the end", () => {
    // Every reply comes 1 ms before its deadline, and the data connection and TLS take a while
    // too: nothing here is late, so the login and a transfer complete.
    const timeout = 30_000;
    const session = new FtpClientSession({
      user: "fred",
      password: "pass",
      replyTimeoutMs: timeout,
    });
    let clock = 0;
    session.start(clock);
    /** The server answers the command sent at `clock`, just inside the timeout; any timer due
     * by then fires first, as a driver would fire it. */
    const slowly = (...lines: string[]) => {
      assert.equal(session.pollTimeout(), clock + timeout, "timed from when it was sent");
      clock += timeout - 1;
      session.handleTimeout(clock);
      server(session, clock, ...lines);
    };
    const steps: [string, string[]][] = [
      ["", ["220 Service ready"]],
      ["AUTH TLS\r\n", ["234 Proceed with negotiation."]],
    ];
    for (const [command, reply] of steps) {
      assert.equal(sent(session), command);
      slowly(...reply);
    }
    clock += 20_000; // A slow handshake.
    session.controlUpgraded(clock);
    const setup: [string, string[]][] = [
      ["PBSZ 0\r\n", ["200 PBSZ=0"]],
      ["PROT P\r\n", ["200 Protection level set to P"]],
      ["USER fred\r\n", ["331 Please specify the password."]],
      ["PASS pass\r\n", ["230 Login successful."]],
      ["FEAT\r\n", FEAT],
      ["OPTS UTF8 ON\r\n", ["200 Always in UTF8 mode."]],
      ["TYPE I\r\n", ["200 Switching to Binary mode."]],
    ];
    for (const [command, reply] of setup) {
      assert.equal(sent(session), command);
      slowly(...reply);
    }
    assert.deepEqual(events(session).map((event) => event.type), ["upgrade-control", "ready"]);
    clock += 45_000; // Idle: nothing awaited, nothing timed.
    assert.equal(session.pollTimeout(), undefined);
    const id = session.transfer(clock, { command: "RETR", path: "big.iso", offset: 7 });
    assert.equal(sent(session), "EPSV\r\n");
    slowly("229 Entering Extended Passive Mode (|||50000|)");
    clock += 25_000; // A slow connect: the driver bounds it, not a reply deadline.
    session.dataConnected(clock, id);
    assert.equal(sent(session), "REST 7\r\n");
    slowly("350 Restarting at 7.");
    assert.equal(sent(session), "RETR big.iso\r\n");
    slowly("150 Opening BINARY mode data connection.");
    clock += 3_600_000; // An hour of data.
    session.dataEnded(clock, id);
    slowly("226 Transfer complete.");
    const out = events(session);
    assert.deepEqual(out.map((event) => event.type), ["connect-data", "transfer-data", "complete"]);
    assert.equal(session.isClosed(), false);
    // The same for commands that follow a reply: RNFR's 350 sends RNTO, timed from then.
    session.rename(clock, "a", "b");
    slowly("350 Ready for RNTO.");
    assert.equal(sent(session), "RNFR a\r\nRNTO b\r\n");
    slowly("250 Rename successful.");
    assert.deepEqual(events(session).map((event) => event.type), ["complete"]);
  });

  test("a transfer's final reply is timed from the end of its data, not from its 150", () => {
    const session = ready({ replyTimeoutMs: 1000 });
    const id = session.transfer(20, { command: "RETR", path: "huge.iso" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
    session.dataConnected(22, id);
    server(session, 23, "150 Opening BINARY mode data connection.");
    assert.equal(session.pollTimeout(), undefined, "a long transfer is not a silent server");
    session.handleTimeout(3_600_000);
    assert.equal(session.isClosed(), false);
    session.dataEnded(3_600_001, id);
    assert.equal(session.pollTimeout(), 3_601_001, "now the 226 is awaited");
    // A data connection that failed first is named in the error with the server's code.
    const other = ready();
    const second = other.transfer(20, { command: "RETR", path: "x" });
    server(other, 21, "229 Entering Extended Passive Mode (|||50000|)");
    other.dataConnected(22, second);
    server(other, 23, "150 Go.");
    other.dataFailed(24, second, new Error("stalled"));
    server(other, 25, "426 Connection closed.");
    const failed = events(other).find((event) => event.type === "failed");
    assert.ok(failed?.type === "failed" && failed.error instanceof FtpReplyError);
    assert.equal(failed.error.code, 426);
    assert.match(failed.error.message, /failed first: stalled/);
  });

  test("a refusal after 150 ends the transfer without waiting for data that will not come", () => {
    // Active mode, and the server could not connect: 425 follows the 150 (RFC 959 section 5.4).
    const session = ready({ dataConnections: "active" });
    const id = session.transfer(20, { command: "RETR", path: "x" });
    session.dataListening(21, id, { host: "127.0.0.1", port: 50000 });
    server(session, 22, "200 EPRT command successful.");
    const next = session.command(23, "NOOP");
    server(session, 24, "150 Opening BINARY mode data connection.");
    server(session, 25, "425 Cannot open the data connection.");
    const failed = events(session).find((event) => event.type === "failed");
    assert.ok(failed?.type === "failed" && failed.id === id);
    assert.equal((failed.error as FtpReplyError).code, 425);
    assert.equal(sent(session).split("\r\n").at(-2), "NOOP", "the queue moves on");
    session.dataFailed(26, id, new Error("listener closed")); // Late: ignored.
    session.dataEnded(26, id);
    server(session, 27, "200 NOOP ok.");
    assert.deepEqual(events(session).map((event) => event.type === "complete" && event.id), [next]);
  });
});

describe("FTPS client session: ABOR and REIN (RFC 959 section 4.1.3, RFC 4217 sections 13-14)", () => {
  /** A RETR taken to its 150 over EPSV; returns the session and the transfer's id. */
  function downloading(): { session: FtpClientSession; id: number } {
    const session = ready();
    const id = session.transfer(20, { command: "RETR", path: "big.iso" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
    session.dataConnected(22, id);
    server(session, 23, "150 Opening BINARY mode data connection.");
    sent(session);
    events(session);
    return { session, id };
  }

  test("section 14: ABOR goes out at once, ahead of queued work; 426 fails the transfer, 226 completes ABOR", () => {
    const { session, id } = downloading();
    const queued = session.command(24, "NOOP");
    assert.equal(sent(session), "", "NOOP waits for the transfer");
    const abort = session.abort(25);
    assert.equal(sent(session), "ABOR\r\n", "ABOR overtakes the queue, inside the TLS stream");
    assert.deepEqual(events(session), [{ type: "abort-data", id }]);
    session.dataEnded(26, id); // A report the driver sent before it saw abort-data: ignored.
    server(session, 27, "426 Connection closed; transfer aborted.");
    const [failed] = events(session);
    assert.ok(failed.type === "failed" && failed.id === id);
    assert.equal((failed.error as Error).name, "AbortError");
    assert.equal(sent(session), "", "NOOP still waits: ABOR's reply is due");
    server(session, 28, "226 Abort successful");
    const [done] = events(session);
    assert.ok(done.type === "complete" && done.id === abort && done.reply.code === 226);
    assert.equal(sent(session), "NOOP\r\n");
    server(session, 29, "200 NOOP ok.");
    assert.deepEqual(events(session).map((event) => event.type === "complete" && event.id), [
      queued,
    ]);
    session.dataFailed(30, id, new Error("late")); // Still ignored.
    assert.deepEqual(events(session), []);
  });

  test("ABOR after the transfer's 226 came: 225 for ABOR, the transfer still fails as aborted", () => {
    const { session, id } = downloading();
    server(session, 24, "226 Transfer complete.");
    const abort = session.abort(25);
    assert.equal(sent(session), "ABOR\r\n");
    const [dropped, failed] = events(session);
    assert.deepEqual(dropped, { type: "abort-data", id });
    assert.ok(failed.type === "failed" && (failed.error as Error).name === "AbortError");
    server(session, 26, "225 No transfer to ABOR.");
    const [done] = events(session);
    assert.ok(done.type === "complete" && done.id === abort && done.reply.code === 225);
  });

  test("cancel drops a queued transfer where it waits; the transfer in progress goes on", () => {
    const { session, id } = downloading();
    const queued = session.transfer(24, { command: "RETR", path: "next.iso" });
    assert.equal(session.cancel(25, queued), true);
    assert.equal(sent(session), "", "no ABOR: the running transfer is not the one stopped");
    const [failed] = events(session);
    assert.ok(failed.type === "failed" && failed.id === queued);
    assert.equal((failed.error as Error).name, "AbortError");
    assert.equal(session.cancel(26, id), false, "a transfer in progress is abort's");
    session.dataEnded(27, id);
    server(session, 28, "226 Transfer complete.");
    assert.deepEqual(events(session).map((event) => event.type === "complete" && event.id), [id]);
    assert.equal(sent(session), "", "nothing of the cancelled transfer goes out");
  });

  test("ABOR sent while the transfer command awaits its 150: the 150 opens no data transfer", () => {
    const session = ready();
    const id = session.transfer(20, { command: "RETR", path: "big.iso" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
    session.dataConnected(22, id);
    assert.equal(sent(session), "EPSV\r\nRETR big.iso\r\n");
    events(session);
    session.abort(23);
    assert.equal(sent(session), "ABOR\r\n");
    server(session, 24, "150 Opening BINARY mode data connection.", "426 Aborted.", "226 ABOR ok");
    assert.deepEqual(events(session).map((event) => event.type), [
      "abort-data",
      "failed",
      "complete",
    ]);
  });

  test("abort before the transfer command went out: no ABOR on the wire mid-negotiation", () => {
    const session = ready();
    const id = session.transfer(20, { command: "STOR", path: "x", offset: 5 });
    assert.equal(sent(session), "EPSV\r\n");
    const abort = session.abort(21);
    assert.equal(sent(session), "", "EPSV's reply is awaited first");
    assert.deepEqual(events(session), [{ type: "abort-data", id }]);
    server(session, 22, "229 Entering Extended Passive Mode (|||50000|)");
    const [failed] = events(session);
    assert.ok(failed.type === "failed" && failed.id === id);
    assert.equal((failed.error as Error).name, "AbortError");
    assert.equal(sent(session), "ABOR\r\n", "then ABOR, first in line");
    server(session, 23, "225 No transfer to ABOR.");
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === abort));
    session.dataConnected(24, id); // The driver raced the abort: ignored.
    assert.equal(sent(session), "");
    // The same at the other steps: after connect-data, at REST, in active mode.
    const at = ready();
    const second = at.transfer(20, { command: "RETR", path: "x", offset: 1 });
    server(at, 21, "229 Entering Extended Passive Mode (|||50000|)");
    at.dataConnected(22, second);
    assert.equal(sent(at), "EPSV\r\nREST 1\r\n");
    at.abort(23);
    server(at, 24, "350 Restarting.");
    assert.equal(sent(at), "ABOR\r\n", "RETR never went out");
    const active = ready({ dataConnections: "active" });
    const third = active.transfer(20, { command: "LIST" });
    active.abort(21);
    active.dataListening(22, third, { host: "127.0.0.1", port: 50000 });
    assert.equal(sent(active), "ABOR\r\n", "no EPRT for an aborted transfer");
    const connecting = ready();
    const fourth = connecting.transfer(20, { command: "RETR", path: "x" });
    server(connecting, 21, "229 Entering Extended Passive Mode (|||50000|)");
    connecting.abort(22);
    connecting.dataFailed(23, fourth, new Error("refused"));
    assert.ok(events(connecting).some((event) => event.type === "failed" && event.id === fourth));
  });

  test("QUIT does not wait for ABOR's reply: one reply for an aborted transfer and its ABOR", () => {
    // Pure-FTPd answers ABOR during a download with a single 226.
    const { session, id } = downloading();
    session.abort(24);
    assert.equal(sent(session), "ABOR\r\n");
    server(session, 25, "226 Since you see this ABOR must've succeeded");
    assert.ok(events(session).some((event) => event.type === "failed" && event.id === id));
    const noop = session.command(26, "NOOP");
    assert.equal(sent(session), "", "other commands wait: their replies must not be mistaken");
    session.quit(27);
    assert.equal(session.pollTimeout(), 25 + 30_000, "ABOR's reply is still timed");
    assert.equal(sent(session), "", "QUIT keeps its place in the queue");
    session.cancel(28, noop);
    assert.equal(sent(session), "QUIT\r\n", "then goes without waiting for ABOR's reply");
    server(session, 29, "221 Goodbye.");
    session.receiveEnd(30);
    const closed = events(session).at(-1);
    assert.ok(closed?.type === "closed" && closed.reason === "quit", JSON.stringify(closed));
  });

  test("abort with no transfer: ABOR as the next command; a refused ABOR fails only itself", () => {
    const session = ready();
    const abort = session.abort(20);
    assert.equal(sent(session), "ABOR\r\n");
    server(session, 21, "225 No transfer to ABOR.");
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === abort));
    assert.throws(() => session.command(22, "abor"), TypeError);
    const { session: other } = downloading();
    const refused = other.abort(24);
    server(other, 25, "426 Aborted.", "500 What?");
    const last = events(other).at(-1);
    assert.ok(last?.type === "failed" && last.id === refused);
    assert.ok(last.error instanceof FtpReplyError && last.error.code === 500);
  });

  test("section 13: REIN, its 220 protected, TLS cleared, then the session set up again", () => {
    const session = ready();
    const rein = session.reinitialize(20);
    const after = session.command(20, "PWD");
    assert.equal(sent(session), "REIN\r\n");
    server(session, 21, "220 Service ready for new user.");
    assert.deepEqual(events(session), [
      { type: "clear-control" },
      { type: "complete", id: rein, reply: { code: 220, lines: ["Service ready for new user."] } },
    ]);
    assert.equal(sent(session), "", "nothing until TLS is shut down");
    session.controlCleared(22);
    assert.equal(session.controlProtected, false);
    assert.equal(sent(session), "AUTH TLS\r\n");
    server(session, 23, "234 Proceed.");
    session.controlUpgraded(24);
    assert.equal(sent(session), "PBSZ 0\r\n");
    server(session, 25, "200 PBSZ=0");
    server(session, 26, "200 PROT P");
    server(session, 27, "331 Password.");
    server(session, 28, "230 Logged in.");
    server(session, 29, ...FEAT);
    server(session, 30, "200 UTF8");
    assert.equal(
      sent(session),
      "PROT P\r\nUSER fred\r\nPASS pass\r\nFEAT\r\nOPTS UTF8 ON\r\nTYPE I\r\n",
    );
    server(session, 31, "200 Binary.");
    assert.deepEqual(events(session).map((event) => event.type), ["upgrade-control", "ready"]);
    assert.equal(sent(session), "PWD\r\n", "queued work runs once the session is ready again");
    server(session, 32, '257 "/"');
    assert.ok(events(session).some((event) => event.type === "complete" && event.id === after));
  });

  test("REIN on plain and implicit sessions: no TLS change, login again; a refused REIN fails it", () => {
    const plain = ready({ tls: "none" });
    plain.reinitialize(20);
    server(plain, 21, "120 In a moment.", "220 Ready.");
    assert.equal(sent(plain), "REIN\r\nUSER fred\r\n");
    const implicit = ready({ tls: "implicit" });
    implicit.reinitialize(20);
    server(implicit, 21, "220 Ready.");
    assert.equal(sent(implicit), "REIN\r\nPBSZ 0\r\n");
    assert.equal(implicit.controlProtected, true);
    const refused = ready();
    const id = refused.reinitialize(20);
    server(refused, 21, "502 No REIN here.");
    const [failed] = events(refused);
    assert.ok(failed.type === "failed" && failed.id === id);
  });
});

describe("FTPS client session: states and deadlines", () => {
  /**
   * A server that answers 20 s after each command, against a 30 s reply timeout: each deadline
   * must count from the input that sent the command (30 s after it); one counted from an earlier
   * command would fall 10 s after this input, and the session would time out.
   */
  function slowServer(session: FtpClientSession, start: number) {
    const timeout = 30_000;
    const clock = {
      now: start,
      /** Twenty seconds pass; any timer due fires first, as a driver would fire it. */
      later(): void {
        clock.now += 20_000;
        session.handleTimeout(clock.now);
        assert.equal(session.isClosed(), false, `closed at ${clock.now}`);
      },
      /** `command` went out now and is timed from now; 20 s later the server answers. */
      step(command: string, ...reply: string[]): void {
        assert.equal(sent(session), command);
        const at = clock.now;
        assert.equal(session.pollTimeout(), at + timeout, `${command.trim()} timed from ${at}`);
        clock.later();
        server(session, clock.now, ...reply);
      },
    };
    return clock;
  }

  test("replies 20 s apart with a 30 s timeout never time out: set-up, transfers, and commands sent by replies", () => {
    const session = new FtpClientSession({
      user: "fred",
      password: "pass",
      account: "acct",
      replyTimeoutMs: 30_000,
      beforeAuth: ["SITE HELLO"],
    });
    const clock = slowServer(session, 0);
    const { later, step } = clock;
    session.start(clock.now);
    assert.equal(session.pollTimeout(), 30_000, "the greeting is timed from start");
    later();
    server(session, clock.now, "220 Ready");
    step("SITE HELLO\r\n", "200 Hello.");
    step("AUTH TLS\r\n", "234 Proceed.");
    assert.equal(session.pollTimeout(), undefined, "the handshake is the driver's to bound");
    later();
    session.controlUpgraded(clock.now);
    step("PBSZ 0\r\n", "200 PBSZ=0");
    step("PROT P\r\n", "200 PROT P");
    step("USER fred\r\n", "331 Password.");
    step("PASS pass\r\n", "332 Account.");
    step("ACCT acct\r\n", "230 Logged in.");
    step("FEAT\r\n", ...FEAT);
    step("OPTS UTF8 ON\r\n", "200 UTF8.");
    step("TYPE I\r\n", "200 Binary.");
    assert.deepEqual(events(session).map((event) => event.type), ["upgrade-control", "ready"]);
    assert.equal(session.pollTimeout(), undefined, "idle: nothing awaited");
    later();
    // A passive download that resumes, over PASV once EPSV is refused.
    const download = session.transfer(clock.now, { command: "RETR", path: "big.iso", offset: 7 });
    step("EPSV\r\n", "500 EPSV?");
    step("PASV\r\n", "227 Entering Passive Mode (127,0,0,1,195,80).");
    assert.equal(session.pollTimeout(), undefined, "connecting is the driver's to bound");
    later();
    session.dataConnected(clock.now, download);
    step("REST 7\r\n", "350 Restarting at 7.");
    step("RETR big.iso\r\n", "150 Opening.");
    assert.equal(session.pollTimeout(), undefined, "the data moves");
    later();
    session.dataEnded(clock.now, download);
    assert.equal(session.pollTimeout(), clock.now + 30_000, "the 226 is timed from the data's end");
    later();
    server(session, clock.now, "226 Done.");
    // A rename: RNTO goes out when RNFR's 350 comes, timed from that reply.
    session.rename(clock.now, "a", "b");
    step("RNFR a\r\n", "350 Ready.");
    step("RNTO b\r\n", "250 Renamed.");
    // CCC, then REIN: the set-up runs again, every step timed from the reply before it.
    session.clearControl(clock.now);
    step("CCC\r\n", "200 Cleared.");
    later();
    session.controlCleared(clock.now);
    session.reinitialize(clock.now);
    step("REIN\r\n", "220 Ready.");
    step("SITE HELLO\r\n", "200 Hello.");
    step("AUTH TLS\r\n", "234 Proceed.");
    later();
    session.controlUpgraded(clock.now);
    step("PBSZ 0\r\n", "200 PBSZ=0");
    step("PROT P\r\n", "200 PROT P");
    step("USER fred\r\n", "230 Logged in.");
    step("FEAT\r\n", "500 FEAT?");
    step("TYPE I\r\n", "200 Binary.");
    const out = events(session);
    assert.deepEqual(out.filter((event) => event.type === "failed"), []);
    assert.equal(
      out.filter((event) => event.type === "complete").length,
      4,
      "RETR, RNFR, CCC, REIN",
    );
    assert.equal(out.at(-1)?.type, "ready");
    // A quit, 20 s on.
    later();
    session.quit(clock.now);
    step("QUIT\r\n", "221 Bye.");
    const closed = events(session).at(-1);
    assert.ok(closed?.type === "closed" && closed.reason === "quit", JSON.stringify(closed));
  });

  test("active mode, 20 s apart: the listener, EPRT refused, PORT, the upload and its 226", () => {
    const session = ready({ tls: "none", dataConnections: "active" });
    const clock = slowServer(session, 10);
    const id = session.transfer(clock.now, { command: "STOR", path: "up.bin" });
    assert.equal(session.pollTimeout(), undefined, "listening is the driver's to bound");
    clock.later();
    session.dataListening(clock.now, id, { host: "127.0.0.1", port: 40000 });
    clock.step("EPRT |1|127.0.0.1|40000|\r\n", "502 EPRT?");
    clock.step("PORT 127,0,0,1,156,64\r\n", "200 PORT ok.");
    clock.step("STOR up.bin\r\n", "150 Send.");
    clock.later();
    session.dataEnded(clock.now, id);
    assert.equal(session.pollTimeout(), clock.now + 30_000, "the 226 is timed from the data's end");
    clock.later();
    server(session, clock.now, "226 Stored.");
    const types = events(session).map((event) => event.type);
    assert.deepEqual(types, ["listen-data", "transfer-data", "complete"]);
  });

  test("a QUIT sent while an ABOR's reply is due does not move that reply's deadline", () => {
    const session = ready();
    const id = session.transfer(20, { command: "RETR", path: "big.iso" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
    session.dataConnected(22, id);
    server(session, 23, "150 Opening.");
    session.abort(24);
    assert.equal(session.pollTimeout(), 24 + 30_000, "the transfer's final reply, from the abort");
    server(session, 25, "426 Aborted.");
    assert.equal(session.pollTimeout(), 25 + 30_000, "ABOR's reply, from the reply before it");
    session.quit(40);
    assert.equal(sent(session), "EPSV\r\nRETR big.iso\r\nABOR\r\nQUIT\r\n");
    assert.equal(session.pollTimeout(), 25 + 30_000, "not from QUIT's time");
    server(session, 50, "226 ABOR done.");
    assert.equal(session.pollTimeout(), 50 + 30_000, "QUIT's reply, from ABOR's");
    session.handleTimeout(25 + 30_000 + 1);
    assert.equal(session.isClosed(), false);
    server(session, 51, "221 Bye.");
    const types = events(session).map((event) =>
      event.type === "closed" ? event.reason : event.type
    );
    assert.deepEqual(types, [
      "connect-data",
      "transfer-data",
      "abort-data",
      "failed",
      "complete",
      "complete",
      "quit",
    ]);
  });

  test("replies where none is expected: while idle, while TLS is cleared, while a transfer connects", () => {
    const idle = ready();
    server(idle, 20, "200 Unasked");
    assert.ok(
      events(idle).some((event) => event.type === "closed" && event.reason === "protocol-error"),
    );
    const clearing = ready();
    clearing.clearControl(20);
    server(clearing, 21, "200 Cleared.", "200 Unasked");
    const closed = events(clearing).at(-1);
    assert.ok(closed?.type === "closed" && closed.reason === "protocol-error");
    const connecting = ready();
    const id = connecting.transfer(20, { command: "LIST" });
    server(connecting, 21, "229 Entering Extended Passive Mode (|||50000|)", "226 Unasked");
    const out = events(connecting);
    assert.ok(out.some((event) => event.type === "failed" && event.id === id));
    assert.ok(out.some((event) => event.type === "closed" && event.reason === "protocol-error"));
  });

  test("a reply split across reads is read whole; a 421 with no command out names none", () => {
    const session = new FtpClientSession({ tls: "none" });
    session.start(0);
    session.receive(1, encoder.encode("22"));
    assert.equal(sent(session), "");
    session.receive(2, encoder.encode("0 Ready\r"));
    session.receive(3, encoder.encode("\n"));
    assert.equal(sent(session), "USER anonymous\r\n");
    const busy = new FtpClientSession({ tls: "none" });
    busy.start(0);
    server(busy, 1, "421 Too many users.");
    const closed = events(busy).at(-1);
    assert.ok(closed?.type === "closed" && closed.reason === "server-closed");
    assert.ok(closed.error instanceof FtpReplyError);
    assert.equal(closed.error.command, "(no command)");
  });

  test("a listing refused after its 150 names the command alone", () => {
    const session = ready();
    const id = session.transfer(20, { command: "LIST" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
    session.dataConnected(22, id);
    server(session, 23, "150 Here it comes.", "451 Local error.");
    const failed = events(session).find((event) => event.type === "failed");
    assert.ok(failed?.type === "failed" && failed.error instanceof FtpReplyError);
    assert.equal(failed.error.command, "LIST");
  });

  test("abort while the data connection is being made: its report ends the transfer; a late one is ignored", () => {
    const passive = ready();
    const id = passive.transfer(20, { command: "RETR", path: "x" });
    server(passive, 21, "229 Entering Extended Passive Mode (|||50000|)");
    passive.abort(22);
    assert.equal(sent(passive), "EPSV\r\n", "ABOR waits for the transfer to stop");
    passive.dataConnected(23, id);
    assert.equal(sent(passive), "ABOR\r\n", "no RETR: ABOR goes instead");
    const failed = events(passive).find((event) => event.type === "failed");
    assert.ok(failed?.type === "failed" && failed.id === id);
    assert.equal((failed.error as Error).name, "AbortError");
    const active = ready({ dataConnections: "active" });
    const second = active.transfer(20, { command: "LIST" });
    active.abort(21);
    active.dataListening(22, second, { host: "127.0.0.1", port: 50000 });
    active.dataListening(23, second, { host: "127.0.0.1", port: 50000 }); // Late: ignored.
    assert.equal(sent(active), "ABOR\r\n");
  });

  test("a session that ends mid-transfer fails the transfer with its data connection's error", () => {
    const session = ready();
    const id = session.transfer(20, { command: "RETR", path: "x" });
    server(session, 21, "229 Entering Extended Passive Mode (|||50000|)");
    session.dataConnected(22, id);
    server(session, 23, "150 Opening.");
    session.dataFailed(24, id, new Error("connection reset"));
    server(session, 25, "421 Shutting down.");
    const out = events(session);
    const failed = out.find((event) => event.type === "failed");
    assert.ok(failed?.type === "failed" && failed.id === id);
    assert.equal(failed.error.message, "connection reset");
    assert.ok(out.at(-1)?.type === "closed");
  });
});
