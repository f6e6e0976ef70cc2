import type { FtpReply } from "../codec/mod.ts";

/**
 * A negative or unexpected FTP reply, as an error: the command that got it, the code, the text.
 *
 * @example
 * ```ts
 * import { FtpReplyError } from "@ftkit/ftkit/ftps";
 *
 * const error = new FtpReplyError("RETR missing.bin", { code: 550, lines: ["No such file."] });
 * console.log(error.code, error.message); // 550 "RETR missing.bin: 550 No such file."
 * ```
 */
export class FtpReplyError extends Error {
  /** The reply code. */
  readonly code: number;
  /** The reply's lines. */
  readonly lines: readonly string[];
  /** The command line that was answered (a password is never shown). */
  readonly command: string;
  /** What to do about it, when ftkit knows more than the reply says. */
  readonly hint?: string;

  /**
   * Makes the error.
   *
   * @param command The command that was answered.
   * @param reply The reply.
   * @param hint What to do about it, appended to the message.
   */
  constructor(command: string, reply: FtpReply, hint?: string) {
    const text = `${command}: ${reply.code} ${reply.lines.join(" ").trim()}`;
    super(hint === undefined ? text : `${text}. ${hint}`);
    this.name = "FtpReplyError";
    this.code = reply.code;
    this.lines = reply.lines;
    this.command = command;
    if (hint !== undefined) this.hint = hint;
  }

  /** Whether the failure is transient (4yz: try again later) rather than permanent (5yz). */
  get transient(): boolean {
    return this.code >= 400 && this.code < 500;
  }
}

/**
 * A server's refusal of a protected data connection whose TLS handshake did not resume the
 * control connection's session, while this client had one to offer or had offered one (vsftpd
 * answers 522 and ends the session, ProFTPD 425; RFC 4217 section 10.2 lets a server insist). The
 * client's tickets were used up or not the server's any more (Deno's TLS offers each ticket once,
 * from one store per server name): a new session brings new ones, so a retry policy retries it
 * ({@linkcode isRetryableFtpsError}). A client that cannot resume at all gets a plain
 * {@linkcode FtpReplyError}.
 *
 * @example
 * ```ts
 * import { FtpSessionReuseError } from "@ftkit/ftkit/ftps";
 *
 * const error = new FtpSessionReuseError("STOR a.bin", {
 *   code: 522,
 *   lines: ["SSL connection failed: session reuse required"],
 * });
 * console.log(error.code, error.name); // 522 "FtpSessionReuseError"
 * ```
 */
export class FtpSessionReuseError extends FtpReplyError {
  /**
   * Makes the error.
   *
   * @param command The command that was answered.
   * @param reply The reply.
   * @param hint What to do about it, appended to the message.
   */
  constructor(command: string, reply: FtpReply, hint?: string) {
    super(command, reply, hint);
    this.name = "FtpSessionReuseError";
  }
}
