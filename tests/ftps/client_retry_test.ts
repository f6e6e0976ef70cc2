// The FTPS client's retry decisions (ftps/client_retry.ts), pure: which failures are retried
// (RFC 959 section 4.2's 421, 425 and 426, connections lost, timeouts; never 530, 550, another
// 5yz, nor a certificate), and the backoff's bounds with an injected random source.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { checkRetryOptions, isRetryableFtpsError, retryDelayMs } from "../../ftps/client_retry.ts";
import { FtpReplyError, FtpSessionReuseError } from "../../ftps/reply_error.ts";
import { FtpTruncationError } from "../../ftps/truncation_error.ts";
import { TimeoutError } from "../../io/timeout.ts";

const reply = (code: number, command = "RETR a") =>
  new FtpReplyError(command, { code, lines: ["x"] });
const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });
const named = (name: string, message = "x") => Object.assign(new Error(message), { name });

describe("isRetryableFtpsError", () => {
  test("the replies of a failed connection are retried (RFC 959 4.2: 421, 425, 426)", () => {
    for (const code of [421, 425, 426]) assert.equal(isRetryableFtpsError(reply(code)), true);
  });

  test("a refused login, a missing file and other refusals are not", () => {
    for (const code of [530, 550, 551, 552, 553, 500, 501, 502, 504, 522, 532, 450, 451, 452]) {
      assert.equal(isRetryableFtpsError(reply(code)), false, String(code));
    }
    assert.equal(isRetryableFtpsError(reply(530, "PASS ****")), false);
  });

  test("a data connection refused for want of TLS session resumption, with tickets this side had, is", () => {
    // vsftpd's 522 (it ends the session) and ProFTPD's 425: a new session brings new tickets.
    for (const code of [522, 425]) {
      const refused = new FtpSessionReuseError("STOR a", { code, lines: ["reuse required"] });
      assert.ok(refused instanceof FtpReplyError);
      assert.equal(refused.name, "FtpSessionReuseError");
      assert.equal(isRetryableFtpsError(refused), true, String(code));
      assert.equal(isRetryableFtpsError(new Error("failed", { cause: refused })), true);
    }
    // A plain 522 (a client that cannot resume at all) is not.
    assert.equal(isRetryableFtpsError(reply(522, "STOR a")), false);
  });

  test("connections lost, reset, refused or stalled are retried, on every runtime's errors", () => {
    for (const code of ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ECONNABORTED"]) {
      assert.equal(isRetryableFtpsError(withCode(code)), true, code);
    }
    for (const name of ["ConnectionReset", "BrokenPipe", "UnexpectedEof", "TimedOut"]) {
      assert.equal(isRetryableFtpsError(named(name)), true, name);
    }
    assert.equal(isRetryableFtpsError(new TimeoutError("Data: nothing moved for 5 ms")), true);
    assert.equal(isRetryableFtpsError(new Error("The server closed the control connection")), true);
    assert.equal(isRetryableFtpsError(new Error("FTP session closed (server-closed)")), true);
    assert.equal(isRetryableFtpsError(new Error("Session closed (ended) before this ran")), true);
    // Through a cause.
    assert.equal(isRetryableFtpsError(new Error("failed", { cause: withCode("EPIPE") })), true);
  });

  test("a certificate that fails verification never is, even under a network error", () => {
    for (
      const code of [
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        "CERT_HAS_EXPIRED",
        "ERR_TLS_CERT_ALTNAME_INVALID",
        "DEPTH_ZERO_SELF_SIGNED_CERT",
        "SELF_SIGNED_CERT_IN_CHAIN",
      ]
    ) assert.equal(isRetryableFtpsError(withCode(code)), false, code);
    assert.equal(
      isRetryableFtpsError(named("InvalidData", "invalid peer certificate: UnknownIssuer")),
      false,
    );
    const wrapped = Object.assign(new Error("reset", { cause: withCode("CERT_HAS_EXPIRED") }), {
      code: "ECONNRESET",
    });
    assert.equal(isRetryableFtpsError(wrapped), false);
  });

  test("a protected download ended without close_notify is (RFC 4217 12.7: maybe truncated)", () => {
    assert.equal(isRetryableFtpsError(new FtpTruncationError("RETR a", 98304, 3150049)), true);
    assert.equal(isRetryableFtpsError(new FtpTruncationError("MLSD", 10)), true);
    const wrapped = new Error("getFile failed", { cause: new FtpTruncationError("RETR a", 1) });
    assert.equal(isRetryableFtpsError(wrapped), true);
  });

  test("an abort, an unknown error and what is no error are not", () => {
    assert.equal(isRetryableFtpsError(named("AbortError")), false);
    assert.equal(isRetryableFtpsError(new Error("ENOENT: no such file")), false);
    assert.equal(isRetryableFtpsError(withCode("ENOENT")), false);
    assert.equal(isRetryableFtpsError("ECONNRESET"), false);
    assert.equal(isRetryableFtpsError(undefined), false);
  });
});

describe("retryDelayMs", () => {
  test("doubles from baseDelayMs, capped at maxDelayMs, half of it jittered", () => {
    const policy = (random: number) => ({
      attempts: 10,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => random,
    });
    assert.deepEqual([2, 3, 4, 5, 6, 7].map((k) => retryDelayMs(policy(0), k)), [
      50,
      100,
      200,
      400,
      500,
      500,
    ]);
    assert.deepEqual([2, 3, 4, 5, 6].map((k) => retryDelayMs(policy(0.999999), k)), [
      100,
      200,
      400,
      800,
      1000,
    ]);
    assert.equal(retryDelayMs(policy(0.5), 3), 150);
  });

  test("defaults 1 s and 30 s; a wild random source or attempt stays in bounds", () => {
    assert.equal(retryDelayMs({ attempts: 3, random: () => 0 }, 2), 500);
    assert.equal(retryDelayMs({ attempts: 3, random: () => 1 }, 2), 1000);
    assert.equal(retryDelayMs({ attempts: 3, random: () => 7 }, 1000), 30_000);
    assert.equal(retryDelayMs({ attempts: 3, random: () => -1 }, 1000), 15_000);
    assert.equal(retryDelayMs({ attempts: 3, random: () => NaN }, 2) >= 0, true);
    assert.equal(retryDelayMs({ attempts: 3, baseDelayMs: 0, random: () => 0.5 }, 9), 0);
    const delay = retryDelayMs({ attempts: 3 }, 4);
    assert.ok(delay >= 2000 && delay <= 4000, String(delay));
  });
});

describe("checkRetryOptions", () => {
  test("takes 1-100 whole attempts and finite delays; refuses others by name", () => {
    const fine = { attempts: 1, baseDelayMs: 0, maxDelayMs: 5 };
    assert.equal(checkRetryOptions(fine), fine);
    for (const attempts of [0, 101, 1.5, NaN]) {
      assert.throws(() => checkRetryOptions({ attempts }), /retry\.attempts/);
    }
    assert.throws(() => checkRetryOptions({ attempts: 2, baseDelayMs: -1 }), /baseDelayMs/);
    assert.throws(() => checkRetryOptions({ attempts: 2, maxDelayMs: Infinity }), /maxDelayMs/);
  });
});
