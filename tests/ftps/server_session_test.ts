import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type FtpClientEvent,
  FtpClientSession,
  type FtpServerEvent,
  FtpServerSession,
  type FtpServerSessionOptions,
  type FtpStorageRequest,
  type FtpStorageResult,
  resolveFtpPath,
} from "../../ftps/mod.ts";
import { FTP_COMMANDS } from "../../ftps/_server_session_commands.ts";
import { MemoryStorage } from "./_memory.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function replies(session: FtpServerSession): string {
  let out = "";
  for (let bytes = session.pollTransmit(); bytes; bytes = session.pollTransmit()) {
    out += decoder.decode(bytes);
  }
  return out;
}

function events(session: FtpServerSession): FtpServerEvent[] {
  const out: FtpServerEvent[] = [];
  for (let event = session.pollEvent(); event; event = session.pollEvent()) out.push(event);
  return out;
}

/** The client sends `lines`; returns the server's replies to them. */
function client(session: FtpServerSession, now: number, ...lines: string[]): string {
  session.receive(now, encoder.encode(lines.map((line) => `${line}\r\n`).join("")));
  return replies(session);
}

/** A started session, greeting read. */
function started(options: FtpServerSessionOptions = {}): FtpServerSession {
  const session = new FtpServerSession(options);
  session.start(0);
  assert.equal(replies(session), "220 ftkit FTP server ready\r\n");
  return session;
}

/** Through AUTH TLS, PBSZ 0, PROT P, USER, PASS (RFC 4217 section 12.1, server side). */
function loggedIn(options: FtpServerSessionOptions = {}): FtpServerSession {
  const session = started(options);
  assert.equal(client(session, 1, "AUTH TLS"), "234 Proceed with negotiation.\r\n");
  assert.deepEqual(events(session), [{ type: "upgrade-control" }]);
  session.controlUpgraded(2);
  assert.equal(
    client(session, 3, "PBSZ 0", "PROT P"),
    "200 PBSZ=0\r\n200 Protection level set to P.\r\n",
  );
  assert.equal(client(session, 4, "USER fred"), "331 Password required.\r\n");
  assert.equal(client(session, 5, "PASS pass"), "");
  assert.deepEqual(events(session), [{
    type: "authenticate",
    user: "fred",
    password: "pass",
    protected: true,
    anonymous: false,
  }]);
  session.loginResult(6, true);
  assert.equal(replies(session), "230 Login successful.\r\n");
  assert.deepEqual(events(session), [{ type: "logged-in", user: "fred" }]);
  return session;
}

describe("FTPS server session: a login refused by a limit", () => {
  test("530 with the driver's text, and no failed login counted", () => {
    const session = started({ tls: "none", maxLoginAttempts: 1 });
    for (let round = 0; round < 3; round++) {
      assert.equal(client(session, 1, "USER fred"), "331 Password required.\r\n");
      assert.equal(client(session, 2, "PASS pass"), "");
      events(session);
      session.loginResult(3, false, {}, "Too many sessions for this user.");
      assert.equal(replies(session), "530 Too many sessions for this user.\r\n");
      assert.equal(session.isClosed(), false, "maxLoginAttempts 1 is not reached");
      assert.equal(session.user, undefined);
    }
    // Bad credentials still count: one closes this session.
    client(session, 4, "USER fred", "PASS bad");
    session.loginResult(5, false);
    assert.equal(replies(session), "421 Too many failed logins.\r\n");
  });

  test("REIN before any login is no logout: nothing to let go", () => {
    const session = started({ tls: "none" });
    assert.equal(client(session, 1, "REIN"), "220 Service ready for new user.\r\n");
    assert.deepEqual(events(session), []);
  });
});

describe("FTPS server session: RFC 4217 negotiation", () => {
  test("12.1 from the server's side", () => {
    const session = loggedIn();
    assert.equal(session.user, "fred");
    assert.equal(session.protection, "P");
    assert.equal(session.controlProtected, true);
  });

  test("section 4/6: TLS-C is a synonym, case-insensitive; other mechanisms get 504", () => {
    const session = started();
    assert.equal(client(session, 1, "auth ssl"), "504 AUTH ssl not supported; use AUTH TLS.\r\n");
    assert.equal(client(session, 2, "auth tls-c"), "234 Proceed with negotiation.\r\n");
  });

  test("section 4: what follows AUTH in plain text is dropped; AUTH resets the session", () => {
    const session = started({ requireTlsForLogin: false, tls: "explicit" });
    assert.equal(client(session, 1, "USER fred"), "331 Password required.\r\n");
    // CVE-2011-0411: lines sent with AUTH, before the handshake, never run under TLS.
    assert.equal(client(session, 2, "AUTH TLS", "PBSZ 0"), "234 Proceed with negotiation.\r\n");
    session.receive(2, new TextEncoder().encode("PROT P\r\nNOOP"));
    session.controlUpgraded(3);
    assert.equal(replies(session), "", "the plain PBSZ and PROT are gone");
    // Nor does the start of a line: "NOOP" in plain text and its end inside TLS is no NOOP.
    session.receive(4, new TextEncoder().encode("\r\n"));
    assert.equal(replies(session), "500 Syntax error, command unrecognized.\r\n");
    assert.equal(client(session, 4, "PROT P"), "503 PROT needs PBSZ first.\r\n");
    assert.equal(client(session, 4, "PBSZ 0"), "200 PBSZ=0\r\n");
    assert.equal(
      client(session, 4, "PASS pass"),
      "503 Login with USER first.\r\n",
      "USER was reset",
    );
    assert.equal(
      client(session, 5, "AUTH TLS"),
      "503 Already protected or cleared; AUTH not allowed again.\r\n",
    );
  });

  test("section 10.1: a failed handshake drops the connection", () => {
    const session = started();
    client(session, 1, "AUTH TLS");
    events(session);
    session.controlUpgradeFailed(2);
    assert.equal(replies(session), "", "no reply: the connection is in an unknown state");
    assert.deepEqual(events(session), [{ type: "closed", reason: "tls-failed" }]);
  });

  test("section 10.1: no negotiation at all: an unprotected 421 ends the session", () => {
    const session = started();
    client(session, 1, "AUTH TLS");
    events(session);
    session.controlUpgradeFailed(2, "no-handshake");
    assert.equal(replies(session), "421 TLS negotiation failed; closing the connection.\r\n");
    assert.equal(session.controlProtected, false, "sent in plain text");
    assert.deepEqual(events(session), [{ type: "closed", reason: "tls-failed" }]);
  });

  test("section 10.1: a completed handshake the server refuses: a protected 421", () => {
    const session = started();
    client(session, 1, "AUTH TLS");
    events(session);
    session.controlUpgradeFailed(2, "rejected");
    assert.equal(
      replies(session),
      "421 TLS session not acceptable; closing the connection.\r\n",
    );
    assert.equal(session.controlProtected, true, "sent inside TLS");
    assert.deepEqual(events(session), [{ type: "closed", reason: "tls-failed" }]);
    // A driver's answer that comes after the end is ignored, whatever it is.
    session.controlUpgradeFailed(3);
    session.storageResult(3, { ok: true });
    session.loginResult(3, true);
    assert.equal(replies(session), "");
    assert.deepEqual(events(session), []);
  });

  test("section 9: PBSZ needs AUTH, PROT needs PBSZ; PBSZ n is answered PBSZ=0", () => {
    const session = started();
    assert.equal(client(session, 1, "PBSZ 0"), "503 PBSZ needs AUTH TLS first.\r\n");
    assert.equal(client(session, 2, "PROT P"), "503 PROT needs PBSZ first.\r\n");
    client(session, 3, "AUTH TLS");
    session.controlUpgraded(4);
    assert.equal(client(session, 5, "PROT P"), "503 PROT needs PBSZ first.\r\n");
    assert.equal(client(session, 6, "PBSZ x"), "501 PBSZ takes a number.\r\n");
    assert.equal(client(session, 7, "PBSZ 16384"), "200 PBSZ=0\r\n");
    assert.equal(
      client(session, 8, "PROT S", "PROT E"),
      "536 Requested PROT level not supported by mechanism.\r\n".repeat(2),
    );
    assert.equal(client(session, 9, "PROT X"), "504 PROT is C or P.\r\n");
    assert.equal(client(session, 10, "prot c"), "200 Protection level set to C.\r\n");
    assert.equal(session.protection, "C");
  });

  test("section 10.2 view 1: a server without data protection refuses PROT P with 534", () => {
    const session = started({ dataProtection: "none" });
    client(session, 1, "AUTH TLS");
    session.controlUpgraded(2);
    assert.equal(
      client(session, 3, "PBSZ 0", "PROT P"),
      "200 PBSZ=0\r\n534 Data protection is not offered here.\r\n",
    );
  });

  test("section 5: CCC is 500 when disabled, 533 unprotected, else 200 and no more PBSZ/PROT", () => {
    assert.equal(client(loggedIn(), 10, "CCC"), "500 CCC not accepted.\r\n");
    const plain = started({ allowCcc: true, requireTlsForLogin: false });
    assert.equal(client(plain, 1, "CCC"), "533 Control connection not protected.\r\n");
    const session = loggedIn({ allowCcc: true });
    assert.equal(client(session, 10, "CCC", "NOOP"), "200 Control connection cleared.\r\n");
    assert.deepEqual(events(session), [{ type: "clear-control" }]);
    session.controlCleared(11);
    assert.equal(
      replies(session),
      "200 NOOP ok.\r\n",
      "the NOOP came after the shutdown, in plain text",
    );
    assert.equal(session.controlProtected, false);
    assert.equal(
      client(session, 12, "PBSZ 0", "PROT C"),
      "503 No PBSZ after CCC.\r\n503 No PROT after CCC.\r\n",
    );
    assert.equal(session.protection, "P", "data stays protected");
    assert.equal(
      client(session, 13, "AUTH TLS"),
      "503 Already protected or cleared; AUTH not allowed again.\r\n",
    );
  });

  test("section 13: REIN answers protected, then clears TLS and resets everything", () => {
    const session = loggedIn();
    assert.equal(
      client(session, 10, "TYPE I", "REIN", "PWD"),
      "200 Switching to Binary mode.\r\n220 Service ready for new user.\r\n",
    );
    // The login is over: the driver lets go of what it held for it (the user's session slot).
    assert.deepEqual(events(session), [{ type: "logged-out" }, { type: "clear-control" }]);
    session.controlCleared(11);
    assert.equal(replies(session), "530 Please login with USER and PASS.\r\n");
    assert.equal(session.user, undefined);
    assert.equal(session.protection, "C");
    assert.equal(session.type, "A");
    assert.equal(
      client(session, 12, "AUTH TLS"),
      "234 Proceed with negotiation.\r\n",
      "AUTH again after REIN",
    );
  });

  test("section 13: REIN after CCC lets AUTH, PBSZ and PROT come again", () => {
    const session = loggedIn({ allowCcc: true });
    assert.equal(client(session, 10, "CCC"), "200 Control connection cleared.\r\n");
    assert.deepEqual(events(session), [{ type: "clear-control" }]);
    session.controlCleared(11);
    assert.equal(
      client(session, 12, "AUTH TLS"),
      "503 Already protected or cleared; AUTH not allowed again.\r\n",
    );
    assert.equal(client(session, 13, "REIN"), "220 Service ready for new user.\r\n");
    assert.deepEqual(
      events(session),
      [{ type: "logged-out" }],
      "nothing to clear: the connection is plain",
    );
    assert.equal(session.controlProtected, false);
    assert.equal(client(session, 14, "AUTH TLS"), "234 Proceed with negotiation.\r\n");
  });

  test("section 6: FEAT lists AUTH TLS, PBSZ and PROT (and RFC 2428/3659 features)", () => {
    const session = started({ allowCcc: true });
    const rest =
      " EPRT\r\n EPSV\r\n MDTM\r\n MLST type*;size*;modify*;perm*;unique*;\r\n PASV\r\n" +
      " RANG STREAM\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n";
    assert.equal(
      client(session, 1, "FEAT"),
      "211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n CCC\r\n" + rest,
    );
    const plain = started({ tls: "none" });
    assert.equal(client(plain, 1, "FEAT"), "211-Features:\r\n" + rest);
    assert.equal(client(plain, 2, "AUTH TLS"), "502 AUTH not available.\r\n");
  });
});

describe("FTPS server session: login policies (RFC 4217 section 10.1)", () => {
  test("USER before TLS is refused when TLS is required", () => {
    assert.equal(client(started(), 1, "USER fred"), "530 TLS required: use AUTH TLS first.\r\n");
  });

  test("anonymous: refused by default; allowed, and without TLS only when asked", () => {
    assert.equal(client(started(), 1, "USER anonymous"), "530 Anonymous login not allowed.\r\n");
    const allowed = started({ allowAnonymous: true });
    assert.equal(client(allowed, 1, "USER anonymous"), "530 TLS required: use AUTH TLS first.\r\n");
    const open = started({ allowAnonymous: true, anonymousWithoutTls: true });
    assert.equal(
      client(open, 1, "USER ftp"),
      "331 Anonymous login ok, send your email as password.\r\n",
    );
    assert.equal(client(open, 2, "USER fred"), "530 TLS required: use AUTH TLS first.\r\n");
    // The machine tells the driver the user is anonymous (any case): it takes any password.
    assert.equal(
      client(open, 3, "USER FTP", "PASS me@example.org"),
      "331 Anonymous login ok, send your email as password.\r\n",
    );
    assert.deepEqual(events(open), [
      {
        type: "authenticate",
        user: "FTP",
        password: "me@example.org",
        protected: false,
        anonymous: true,
      },
    ]);
  });

  test("implicit TLS: protected from the start, AUTH not offered", () => {
    const session = started({ tls: "implicit" });
    assert.equal(session.controlProtected, true);
    assert.equal(client(session, 1, "AUTH TLS"), "502 AUTH not available.\r\n");
    assert.equal(
      client(session, 2, "PBSZ 0", "USER fred"),
      "200 PBSZ=0\r\n331 Password required.\r\n",
    );
  });

  test("section 12.2: a client certificate that identifies the user is answered 232", () => {
    const session = started({ certificateLogin: true });
    // Not before TLS: the plain USER is refused as always.
    assert.equal(client(session, 1, "USER fred"), "530 TLS required: use AUTH TLS first.\r\n");
    assert.deepEqual(events(session), []);
    client(session, 2, "AUTH TLS");
    events(session);
    session.controlUpgraded(3);
    // Commands wait while the driver checks the certificate.
    assert.equal(client(session, 4, "USER fred", "PWD"), "");
    assert.deepEqual(events(session), [{ type: "authenticate-certificate", user: "fred" }]);
    session.certificateResult(5, true);
    assert.equal(
      replies(session),
      '232 User logged in, authorized by security data exchange.\r\n257 "/" is the current directory.\r\n',
    );
    assert.deepEqual(events(session), [{ type: "logged-in", user: "fred" }]);
    assert.equal(session.user, "fred");
    assert.throws(() => session.certificateResult(6, true), TypeError);

    // A certificate that does not identify the user: the password is asked as usual.
    const other = started({ certificateLogin: true, allowAnonymous: true });
    client(other, 1, "AUTH TLS");
    events(other);
    other.controlUpgraded(2);
    client(other, 3, "USER mallory");
    assert.deepEqual(events(other), [{ type: "authenticate-certificate", user: "mallory" }]);
    other.certificateResult(4, false);
    assert.equal(replies(other), "331 Password required.\r\n");
    assert.equal(other.user, undefined);
    // Anonymous never goes through the certificate.
    assert.equal(
      client(other, 5, "USER anonymous"),
      "331 Anonymous login ok, send your email as password.\r\n",
    );
    assert.deepEqual(events(other), []);
  });

  test("failed logins: 530, and 421 after the limit", () => {
    const session = started({ tls: "none", maxLoginAttempts: 2 });
    client(session, 1, "USER fred", "PASS bad");
    events(session);
    session.loginResult(2, false);
    assert.equal(replies(session), "530 Login incorrect.\r\n");
    assert.equal(client(session, 3, "PASS again"), "503 Login with USER first.\r\n");
    assert.equal(client(session, 4, "USER fred", "PASS worse"), "331 Password required.\r\n");
    session.loginResult(5, false);
    assert.equal(replies(session), "421 Too many failed logins.\r\n");
    assert.deepEqual(events(session).at(-1), { type: "closed", reason: "too-many-logins" });
    assert.ok(session.isClosed());
    assert.equal(client(session, 6, "NOOP"), "", "nothing after the end");
  });

  test("commands that need a login get 530; after login the session parameters work", () => {
    const session = started({ tls: "none" });
    assert.equal(
      client(session, 1, "TYPE I", "CWD /"),
      "530 Please login with USER and PASS.\r\n".repeat(2),
    );
    client(session, 2, "USER fred", "PASS x");
    session.loginResult(3, true);
    replies(session);
    assert.equal(
      client(
        session,
        4,
        "TYPE I",
        "type a n",
        "TYPE E",
        "MODE S",
        "MODE B",
        "STRU F",
        "STRU R",
        "ACCT x",
      ),
      "200 Switching to Binary mode.\r\n200 Switching to ASCII mode.\r\n504 TYPE is A or I.\r\n" +
        "200 Mode set to S.\r\n504 Only stream mode.\r\n200 Structure set to F.\r\n504 Only file structure.\r\n" +
        "202 ACCT not needed.\r\n",
    );
    assert.equal(
      client(session, 5, "SYST", "NOOP", "OPTS UTF8 ON", "OPTS MODE Z"),
      "215 UNIX Type: L8\r\n200 NOOP ok.\r\n200 UTF8 mode on.\r\n501 Option not understood.\r\n",
    );
    assert.equal(session.utf8, true);
    assert.equal(
      client(session, 6, "XRETR x", "SMNT /"),
      "502 XRETR not implemented.\r\n502 SMNT not implemented.\r\n",
    );
    assert.match(client(session, 7, "HELP"), /^214 /);
    assert.equal(
      client(session, 8, "USER", "PASS x"),
      "501 USER needs a name.\r\n503 Login with USER first.\r\n",
    );
  });
});

describe("FTPS server session: limits", () => {
  test("garbage lines get 500; an overlong line closes the session", () => {
    const session = started();
    assert.equal(
      client(session, 1, "123 go", "RETR a\0b"),
      "500 Syntax error, command unrecognized.\r\n".repeat(2),
    );
    const long = started({ maxLineLength: 20 });
    assert.equal(client(long, 1, `NOOP ${"x".repeat(30)}`), "500 Command line too long.\r\n");
    assert.deepEqual(events(long), [{ type: "closed", reason: "protocol-error" }]);
  });

  test("idle sessions are closed with 421; activity moves the deadline", () => {
    const session = started({ idleTimeoutMs: 1000 });
    assert.equal(session.pollTimeout(), 1000);
    client(session, 500, "NOOP");
    assert.equal(session.pollTimeout(), 1500);
    session.handleTimeout(1499);
    assert.equal(replies(session), "");
    session.handleTimeout(1500);
    assert.equal(replies(session), "421 Idle timeout: closing the connection.\r\n");
    assert.deepEqual(events(session), [{ type: "closed", reason: "idle" }]);
  });

  test("a client that never logs in is closed with 421, whatever else it sends", () => {
    const session = started({ loginTimeoutMs: 1000, idleTimeoutMs: 5000, tls: "none" });
    assert.equal(session.pollTimeout(), 1000);
    client(session, 600, "NOOP");
    client(session, 900, "USER fred");
    assert.equal(session.pollTimeout(), 1000, "commands do not move the login deadline");
    session.handleTimeout(999);
    assert.equal(replies(session), "");
    session.handleTimeout(1000);
    assert.equal(replies(session), "421 Login timeout: closing the connection.\r\n");
    assert.deepEqual(events(session), [{ type: "closed", reason: "login-timeout" }]);
    // Logged in: no login deadline; REIN starts a new one.
    const other = started({ loginTimeoutMs: 1000, idleTimeoutMs: 5000, tls: "none" });
    client(other, 100, "USER fred", "PASS x");
    events(other);
    other.loginResult(200, true);
    replies(other);
    assert.equal(other.pollTimeout(), 5200, "only the idle deadline");
    client(other, 3000, "REIN");
    assert.equal(other.pollTimeout(), 4000);
    // REIN before any login moves nothing: the deadline stays where the connection put it.
    const stalling = started({ loginTimeoutMs: 1000, idleTimeoutMs: 5000, tls: "none" });
    for (const now of [400, 800, 999]) {
      assert.equal(client(stalling, now, "REIN"), "220 Service ready for new user.\r\n");
      assert.equal(stalling.pollTimeout(), 1000);
    }
    stalling.handleTimeout(1000);
    assert.equal(replies(stalling), "421 Login timeout: closing the connection.\r\n");
  });

  test("a command line that trickles in is closed with 421; partial bytes are no activity", () => {
    const session = started({ lineTimeoutMs: 1000, idleTimeoutMs: 3000, tls: "none" });
    const send = (now: number, text: string) => {
      session.receive(now, encoder.encode(text));
      return replies(session);
    };
    assert.equal(send(100, "NO"), "");
    assert.equal(session.pollTimeout(), 1100, "the line must be whole by then");
    assert.equal(send(600, "O"), "");
    assert.equal(session.pollTimeout(), 1100, "more bytes of the same line do not move it");
    assert.equal(send(700, "P\r\n"), "200 NOOP ok.\r\n");
    assert.equal(session.pollTimeout(), 3700, "a whole line is activity");
    // One byte a second keeps nothing alive: the line deadline comes.
    for (let now = 1000; now < 1700; now += 100) send(now, "x");
    session.handleTimeout(1999);
    assert.equal(replies(session), "");
    session.handleTimeout(2000);
    assert.equal(replies(session), "421 Command line timeout: closing the connection.\r\n");
    assert.deepEqual(events(session), [{ type: "closed", reason: "line-timeout" }]);
    // A line that ends and the start of the next in one read: the next one's clock starts then.
    const next = started({ lineTimeoutMs: 1000, tls: "none" });
    next.receive(100, encoder.encode("NO"));
    next.receive(500, encoder.encode("OP\r\nSY"));
    assert.equal(next.pollTimeout(), 1500);
  });

  test("USER takes the name exactly as sent", () => {
    const session = started({ tls: "none" });
    client(session, 1, "USER fred ", "PASS x");
    assert.deepEqual(events(session), [
      { type: "authenticate", user: "fred ", password: "x", protected: false, anonymous: false },
    ]);
  });

  test("a client that floods commands while the server waits is cut off", () => {
    const session = started({ maxPendingCommands: 2, tls: "none" });
    client(session, 1, "USER fred", "PASS x");
    assert.equal(
      client(session, 2, "NOOP", "NOOP", "NOOP"),
      "421 Too many commands without waiting for replies.\r\n",
    );
    const waiting = started({ idleTimeoutMs: 10, tls: "none" });
    client(waiting, 1, "USER fred", "PASS x");
    waiting.handleTimeout(100);
    assert.equal(replies(waiting), "", "no idle close while the driver owes a login answer");
  });

  test("misuse throws", () => {
    const session = started();
    assert.throws(() => session.start(1), TypeError);
    assert.throws(() => session.controlUpgraded(1), TypeError);
    assert.throws(() => session.loginResult(1, true), TypeError);
    assert.throws(() => new FtpServerSession().receive(0, new Uint8Array(0)), TypeError);
    // Waiting for the storage, not for a certificate check.
    const busy = loggedIn();
    assert.equal(client(busy, 7, "CWD /"), "");
    assert.throws(() => busy.certificateResult(8, true), TypeError);
  });

  test("the driver's answers after the session closed are ignored", () => {
    const session = started();
    client(session, 1, "QUIT");
    events(session);
    session.controlUpgraded(2);
    session.controlUpgradeFailed(2);
    session.controlCleared(2);
    session.loginResult(2, true);
    session.certificateResult(2, true);
    session.storageResult(2, { ok: true });
    session.dataListening(2, 40000);
    session.dataListenFailed(2);
    session.handleTimeout(1e9);
    assert.equal(replies(session), "");
    assert.deepEqual(events(session), []);
  });
});

describe("FTPS client and server machines hold a session together, in memory", () => {
  test("explicit TLS, login, FEAT, commands, CCC and QUIT: both sides agree", () => {
    const server = new FtpServerSession({ allowCcc: true });
    const session = new FtpClientSession({ user: "fred", password: "pass" });
    const clientEvents: FtpClientEvent[] = [];
    let now = 0;
    const pump = () => {
      // Move bytes and handle TLS events (simulated) until both sides are quiet (bounded).
      for (let round = 0; round < 100; round++) {
        let moved = false;
        for (let bytes = session.pollTransmit(); bytes; bytes = session.pollTransmit()) {
          server.receive(now, bytes);
          moved = true;
        }
        for (let bytes = server.pollTransmit(); bytes; bytes = server.pollTransmit()) {
          session.receive(now, bytes);
          moved = true;
        }
        for (let event = server.pollEvent(); event; event = server.pollEvent()) {
          moved = true;
          if (event.type === "upgrade-control") server.controlUpgraded(now);
          if (event.type === "clear-control") server.controlCleared(now);
          if (event.type === "authenticate") {
            server.loginResult(now, event.user === "fred" && event.password === "pass");
          }
        }
        for (let event = session.pollEvent(); event; event = session.pollEvent()) {
          moved = true;
          clientEvents.push(event);
          if (event.type === "upgrade-control") session.controlUpgraded(now);
          if (event.type === "clear-control") session.controlCleared(now);
        }
        now++;
        if (!moved) return;
      }
      throw new Error("The machines kept talking");
    };
    server.start(now);
    session.start(now);
    pump();
    const ready = clientEvents.find((event) => event.type === "ready");
    assert.ok(ready?.type === "ready");
    assert.equal(ready.protection, "P");
    assert.equal(ready.features.get("AUTH"), "TLS");
    assert.ok(ready.features.has("CCC"));
    assert.equal(server.user, "fred");
    assert.equal(server.protection, "P");
    assert.equal(server.type, "I");
    assert.equal(server.utf8, true);
    assert.ok(session.controlProtected && server.controlProtected);

    const noop = session.command(now, "NOOP");
    const mode = session.command(now, "MODE", "B");
    const ccc = session.clearControl(now);
    const after = session.command(now, "SYST");
    pump();
    const byId = (id: number) => clientEvents.find((event) => "id" in event && event.id === id);
    assert.equal(byId(noop)?.type, "complete");
    assert.equal(byId(mode)?.type, "failed");
    assert.equal(byId(ccc)?.type, "complete");
    assert.equal(byId(after)?.type, "complete");
    assert.ok(!session.controlProtected && !server.controlProtected, "both cleared");

    session.quit(now);
    pump();
    assert.ok(clientEvents.some((event) => event.type === "closed" && event.reason === "quit"));
    assert.ok(server.isClosed());
  });
});

describe("FTP server session: file commands over an abstract storage (RFC 959 section 4.1.3)", () => {
  type Node = { type: "file" | "dir"; size: number };
  const MODIFIED = new Date("2026-11-23T10:34:00Z");

  /** A logged-in plain session whose storage requests are answered from `tree`. */
  function withStorage(tree: Map<string, Node>) {
    const session = started({ tls: "none" });
    client(session, 1, "USER fred", "PASS x");
    events(session);
    session.loginResult(2, true);
    replies(session);
    events(session);
    const seen: FtpStorageRequest[] = [];
    const answer = (request: FtpStorageRequest): FtpStorageResult => {
      seen.push(request);
      switch (request.op) {
        case "stat": {
          const node = tree.get(request.path);
          return node ? { ok: true, stat: { ...node, modified: MODIFIED } } : { ok: false };
        }
        case "mkdir":
          if (tree.has(request.path)) return { ok: false, message: "Exists." };
          tree.set(request.path, { type: "dir", size: 0 });
          return { ok: true };
        case "rmdir":
        case "delete":
          return tree.delete(request.path) ? { ok: true } : { ok: false };
        case "rename": {
          const node = tree.get(request.from);
          if (!node || request.to.includes("*")) {
            return { ok: false, code: 553, message: "Name not allowed." };
          }
          tree.delete(request.from);
          tree.set(request.to, node);
          return { ok: true };
        }
        default:
          return { ok: false };
      }
    };
    /** Sends lines, answering every storage request at once; returns the replies. */
    const say = (...lines: string[]) => {
      session.receive(10, encoder.encode(lines.map((line) => `${line}\r\n`).join("")));
      for (let round = 0; round < 50; round++) {
        const event = session.pollEvent();
        if (!event) break;
        if (event.type === "storage") session.storageResult(11, answer(event.request));
      }
      return replies(session);
    };
    return { session, say, seen };
  }

  const tree = () =>
    new Map<string, Node>([
      ["/", { type: "dir", size: 0 }],
      ["/pub", { type: "dir", size: 0 }],
      ["/pub/boot.cfg", { type: "file", size: 1234 }],
    ]);

  test("PWD, CWD, CDUP: paths resolve in the virtual tree and never climb above /", () => {
    const { session, say, seen } = withStorage(tree());
    assert.equal(say("PWD"), '257 "/" is the current directory.\r\n');
    assert.equal(
      say("CWD pub", "PWD"),
      '250 Directory changed.\r\n257 "/pub" is the current directory.\r\n',
    );
    assert.equal(say("CWD boot.cfg"), "550 Not a directory.\r\n");
    assert.equal(say("CWD nowhere"), "550 Requested action not taken.\r\n");
    assert.equal(
      say("CDUP", "XPWD"),
      '250 Directory changed.\r\n257 "/" is the current directory.\r\n',
    );
    assert.equal(say("CWD ../../../pub"), "250 Directory changed.\r\n");
    assert.equal(session.cwd, "/pub");
    assert.deepEqual(seen.map((request) => request.op === "stat" && request.path), [
      "/pub",
      "/pub/boot.cfg",
      "/pub/nowhere",
      "/",
      "/pub",
    ]);
  });

  test("MKD, RMD, DELE, SIZE, MDTM", () => {
    const { say, seen } = withStorage(tree());
    // RFC 3659 section 4: SIZE counts what a transfer in the current TYPE sends; in TYPE A (the
    // default) that is not the size on disk, and it is refused without asking the storage.
    assert.equal(
      say("SIZE /pub/boot.cfg"),
      "550 SIZE is not available in ASCII mode; use TYPE I.\r\n",
    );
    assert.deepEqual(seen, []);
    assert.equal(say("TYPE I"), "200 Switching to Binary mode.\r\n");
    assert.equal(say("MKD pub/new"), '257 "/pub/new" created.\r\n');
    assert.equal(say("XMKD /pub/new"), "550 Exists.\r\n");
    assert.equal(
      say("RMD /pub/new", "RMD /pub/new"),
      "250 Directory removed.\r\n550 Requested action not taken.\r\n",
    );
    assert.equal(say("SIZE /pub/boot.cfg", "SIZE pub"), "213 1234\r\n550 Not a plain file.\r\n");
    assert.equal(say("MDTM /pub/boot.cfg"), "213 20261123103400\r\n");
    assert.equal(
      say("DELE /pub/boot.cfg", "SIZE /pub/boot.cfg"),
      "250 File deleted.\r\n550 Requested action not taken.\r\n",
    );
    assert.equal(say("MKD", "SIZE", "DELE "), "501 A path is needed.\r\n".repeat(3));
  });

  test("RNFR then RNTO; RNTO alone is 503; the storage's refusal code is passed on", () => {
    const { say } = withStorage(tree());
    say("TYPE I");
    assert.equal(
      say("RNFR /pub/boot.cfg", "RNTO /pub/menu.cfg"),
      "350 Ready for RNTO.\r\n250 Rename successful.\r\n",
    );
    assert.equal(say("SIZE /pub/menu.cfg"), "213 1234\r\n");
    assert.equal(say("RNTO /pub/x"), "503 RNFR first.\r\n");
    assert.equal(say("RNFR /pub/missing"), "550 Requested action not taken.\r\n");
    assert.equal(
      say("RNFR /pub/menu.cfg", "RNTO bad*name"),
      "350 Ready for RNTO.\r\n553 Name not allowed.\r\n",
    );
    assert.equal(
      say("RNFR /pub/menu.cfg", "PWD", "RNTO /pub/z"),
      '350 Ready for RNTO.\r\n257 "/" is the current directory.\r\n503 RNFR first.\r\n',
    );
  });

  test("commands sent while storage works are answered in order", () => {
    const { session } = withStorage(tree());
    session.receive(20, encoder.encode("CWD pub\r\nPWD\r\n"));
    assert.equal(replies(session), "");
    const [event] = events(session);
    assert.ok(event.type === "storage");
    session.storageResult(21, { ok: true, stat: { type: "dir", size: 0, modified: MODIFIED } });
    assert.equal(
      replies(session),
      '250 Directory changed.\r\n257 "/pub" is the current directory.\r\n',
    );
    assert.throws(() => session.storageResult(22, { ok: true }), TypeError);
  });

  test("resolveFtpPath", () => {
    assert.equal(resolveFtpPath("/", "pub"), "/pub");
    assert.equal(resolveFtpPath("/pub/linux", "../bsd/./iso"), "/pub/bsd/iso");
    assert.equal(resolveFtpPath("/pub", "/etc//passwd"), "/etc/passwd");
    assert.equal(resolveFtpPath("/pub", "../../.."), "/");
    assert.equal(resolveFtpPath("/pub", ""), "/pub");
    assert.equal(resolveFtpPath("/a", "b\\..\\c"), "/a/b\\..\\c", "a backslash is a character");
  });
});

/**
 * A session whose driver answers every event at once: storage from memory (a file `/f`, a
 * directory `/d`), TLS up and down, every login good, listeners on port 40000. Transfers stay in
 * progress. `say` sends one line and returns the replies.
 */
function driven(options: FtpServerSessionOptions = {}) {
  const session = new FtpServerSession({ dataProtection: "optional", allowCcc: true, ...options });
  const storage = new MemoryStorage({ "/f": "0123456789", "/d": null });
  let now = 0;
  const answer = () => {
    for (let event = session.pollEvent(); event; event = session.pollEvent()) {
      if (event.type === "storage") session.storageResult(++now, storage.answer(event.request));
      else if (event.type === "upgrade-control") session.controlUpgraded(++now);
      else if (event.type === "clear-control") session.controlCleared(++now);
      else if (event.type === "authenticate") session.loginResult(++now, true);
      else if (event.type === "listen-data") session.dataListening(++now, 40000);
    }
  };
  session.start(now, { local: "127.0.0.1", remote: "127.0.0.1" });
  replies(session);
  const say = (line: string) => {
    session.receive(++now, encoder.encode(`${line}\r\n`));
    answer();
    return replies(session);
  };
  return { session, say };
}

/** An argument each verb of the table can take, for the walks over it. */
const SAMPLES: Readonly<Record<string, string>> = {
  AUTH: "TLS",
  PBSZ: "0",
  PROT: "C",
  USER: "fred",
  PASS: "pass",
  OPTS: "UTF8 ON",
  TYPE: "I",
  MODE: "S",
  STRU: "F",
  PORT: "127,0,0,1,195,80",
  EPRT: "|1|127.0.0.1|50000|",
  REST: "5",
  RETR: "/f",
  STOR: "/g",
  APPE: "/f",
  LIST: "/",
  NLST: "/",
  MLSD: "/",
  MLST: "/f",
  SITE: "HELP",
  CWD: "/d",
  XCWD: "/d",
  MKD: "/n",
  XMKD: "/n",
  RMD: "/d",
  XRMD: "/d",
  DELE: "/f",
  SIZE: "/f",
  MDTM: "/f",
  RNFR: "/f",
  RNTO: "/h",
};

const sample = (verb: string) => SAMPLES[verb] === undefined ? verb : `${verb} ${SAMPLES[verb]}`;

/** A logged-in session in a control connection state: plain (no AUTH), protected, cleared. */
function inState(state: "plain" | "protected" | "cleared", options: FtpServerSessionOptions) {
  const d = driven(options);
  if (state !== "plain") assert.equal(d.say("AUTH TLS"), "234 Proceed with negotiation.\r\n");
  if (state !== "plain") d.say("PBSZ 0");
  if (options.requireTlsForLogin === false) {
    d.say("USER fred");
    assert.equal(d.say("PASS pass"), "230 Login successful.\r\n");
  }
  if (state === "cleared") assert.equal(d.say("CCC"), "200 Control connection cleared.\r\n");
  return d;
}

describe("FTP server session: the command table is what the session does", () => {
  const STATES = ["plain", "protected", "cleared"] as const;

  test("every row names its RFC (or the draft servers follow); XPWD to XRMD are RFC 959's", () => {
    for (const [verb, rule] of FTP_COMMANDS) {
      assert.match(rule.rfc, /^(RFC \d+|draft-[a-z0-9-]+-\d\d) /, verb);
      // RFC 959 section 5.3.1's 3 or 4 letters; the checksum commands end in digits.
      assert.match(verb, /^([A-Z]{3,4}|XMD5|XSHA(1|256))$/);
    }
    assert.equal(FTP_COMMANDS.get("XPWD"), FTP_COMMANDS.get("PWD"));
    assert.equal(FTP_COMMANDS.get("XCUP"), FTP_COMMANDS.get("CDUP"));
  });

  test("the columns: which verbs run before login, during a transfer, keep RNFR, have gates", () => {
    const verbs = (keep: (rule: NonNullable<ReturnType<typeof FTP_COMMANDS.get>>) => boolean) =>
      [...FTP_COMMANDS].filter(([, rule]) => keep(rule)).map(([verb]) => verb).sort();
    const session = ["ACCT", "AUTH", "CCC", "FEAT", "HELP", "NOOP", "OPTS", "PASS", "PBSZ"];
    session.push("PROT", "QUIT", "REIN", "SYST", "USER");
    assert.deepEqual(verbs((rule) => rule.beforeLogin), session);
    // RFC 959 section 4.1.3: ABOR, and STAT for the transfer's status; QUIT waits for the end.
    assert.deepEqual(verbs((rule) => rule.duringTransfer), ["ABOR", "STAT"]);
    assert.deepEqual(
      verbs((rule) => !rule.resetsRnfr),
      [...session.filter((verb) => verb !== "REIN"), "MODE", "RNTO", "STRU", "TYPE"].sort(),
    );
    assert.deepEqual(verbs((rule) => rule.control !== undefined), [
      "AUTH",
      "CCC",
      "PBSZ",
      "PROT",
      "USER",
    ]);
    // RFC 4217 section 12.3: after CCC, no AUTH, PBSZ or PROT (nor CCC, nor USER where TLS is
    // required for it), until REIN.
    assert.deepEqual(verbs((rule) => rule.control?.cleared !== undefined), [
      "AUTH",
      "CCC",
      "PBSZ",
      "PROT",
      "USER",
    ]);
    assert.deepEqual(verbs((rule) => rule.control?.plain !== undefined), [
      "CCC",
      "PBSZ",
      "PROT",
      "USER",
    ]);
    assert.deepEqual(verbs((rule) => rule.control?.protected !== undefined), ["AUTH"]);
  });

  test("beforeLogin: the others are 530 until a login; a verb not in the table too", () => {
    for (const [verb, rule] of FTP_COMMANDS) {
      const reply = driven({ tls: "none" }).say(sample(verb));
      assert.equal(reply === "530 Please login with USER and PASS.\r\n", !rule.beforeLogin, verb);
    }
    assert.equal(driven({ tls: "none" }).say("SMNT /"), "530 Please login with USER and PASS.\r\n");
  });

  test("duringTransfer: those run at once, when alone on their line; the others wait", () => {
    for (const [verb, rule] of FTP_COMMANDS) {
      const d = driven({ tls: "none", requireTlsForLogin: false });
      d.say("USER fred");
      d.say("PASS pass");
      d.say("EPSV");
      assert.match(d.say("RETR /f"), /^150 /);
      assert.equal(d.session.transferring, true);
      assert.equal(d.say(verb) !== "", rule.duringTransfer, verb);
      assert.equal(d.say(` ${verb.toLowerCase()}\t`) !== "", rule.duringTransfer, verb);
      if (rule.duringTransfer && d.session.transferring) {
        assert.equal(d.say(`${verb} /`), "", `${verb} with an argument waits`);
      }
    }
  });

  test("resetsRnfr: RNTO after those is 503; after the others it renames", () => {
    for (const [verb, rule] of FTP_COMMANDS) {
      if (verb === "RNFR" || verb === "RNTO") continue; // they set and read the RNFR themselves
      const d = driven({ tls: "none", requireTlsForLogin: false });
      d.say("USER fred");
      d.say("PASS pass");
      assert.equal(d.say("RNFR /f"), "350 Ready for RNTO.\r\n");
      d.say(sample(verb));
      if (d.session.isClosed() || d.session.user === undefined) {
        assert.ok(["QUIT", "REIN", "USER"].includes(verb), `${verb} ends the login`);
        continue;
      }
      const renamed = d.say("RNTO /h");
      assert.equal(
        renamed,
        rule.resetsRnfr ? "503 RNFR first.\r\n" : "250 Rename successful.\r\n",
        verb,
      );
    }
  });

  test("control: refused with the row's reply in the states it names, the same elsewhere", () => {
    for (const [verb, rule] of FTP_COMMANDS) {
      if (rule.control?.unless) continue; // USER: below, where TLS is required for login
      const codes = new Set<string>();
      for (const state of STATES) {
        const reply = inState(state, { requireTlsForLogin: false }).say(sample(verb));
        const refusal = rule.control?.[state];
        if (refusal) assert.equal(reply, `${refusal[0]} ${refusal[1]}\r\n`, `${verb} ${state}`);
        else codes.add(reply.slice(0, 3));
      }
      if (!rule.control) assert.equal(codes.size, 1, `${verb}: ${[...codes]}`);
    }
  });

  test("control, where TLS is required for login: USER is refused plain and cleared", () => {
    const options = { requireTlsForLogin: true, allowAnonymous: true, anonymousWithoutTls: true };
    for (const [verb, rule] of FTP_COMMANDS) {
      if (!rule.beforeLogin || !rule.control) continue;
      for (const state of STATES) {
        const reply = inState(state, options).say(sample(verb));
        const refusal: readonly [number, string] | undefined = rule.control[state];
        if (refusal) assert.equal(reply, `${refusal[0]} ${refusal[1]}\r\n`, `${verb} ${state}`);
        else assert.doesNotMatch(reply, /^5/, `${verb} ${state}`);
      }
    }
    // RFC 4217 section 10.1's exception: an anonymous user let in without TLS.
    for (const state of STATES) {
      assert.match(inState(state, options).say("USER anonymous"), /^331 /, state);
    }
  });
});
