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
