/**
 * The FTP/FTPS client's control connection, sans-I/O: the command lines to write, the replies
 * read from it, the commands awaiting their replies (oldest first: RFC 959 section 4.2 has the
 * server answer in order) and the deadline of the reply awaited first. The session
 * (client_session.ts) says what each reply means.
 *
 * @module
 */

import { encodeFtpCommand, type FtpCommand, type FtpReply, FtpReplyParser } from "../codec/mod.ts";

/** A command as errors show it. */
export function commandText({ verb, argument }: FtpCommand): string {
  return argument === undefined ? verb : `${verb} ${argument}`;
}

/** The control connection of one client session; `A` is what a reply awaited answers. */
export class ControlChannel<A extends { readonly shown: string }> {
  readonly #timeoutMs: number;
  readonly #untimed: (first: A) => boolean;
  /** Replaced by `restart`: a line begun in plain text must not end under TLS. */
  #parser = new FtpReplyParser();
  #transmits: Uint8Array[] = [];
  #awaiting: A[] = [];
  #deadline: number | undefined;

  /**
   * @param timeoutMs The longest wait for a reply.
   * @param untimed Whether a reply awaited first is not timed for now (a transfer's final reply
   * while its data still moves: the driver bounds that).
   */
  constructor(timeoutMs: number, untimed: (first: A) => boolean) {
    this.#timeoutMs = timeoutMs;
    this.#untimed = untimed;
  }

  /** The commands awaiting their replies, oldest first. */
  get awaiting(): readonly A[] {
    return this.#awaiting;
  }

  /** When the reply awaited first is late, or `undefined`. */
  get deadline(): number | undefined {
    return this.#deadline;
  }

  /** The next bytes to write, or `undefined`. */
  pollTransmit(): Uint8Array | undefined {
    return this.#transmits.shift();
  }

  /** The replies that `line` (one line, or the start of one) completes; throws on garbage. */
  read(line: Uint8Array): FtpReply[] {
    return this.#parser.push(line);
  }

  /** Forgets any partial line: what follows is read from a fresh start (AUTH's 234). */
  restart(): void {
    this.#parser = new FtpReplyParser();
  }

  /** A reply is due before any command: the greeting, timed from `now`. */
  greet(now: number): void {
    this.#deadline = now + this.#timeoutMs;
  }

  /** Writes `command` and awaits its reply after those awaited already. */
  send(now: number, command: FtpCommand, awaiting: A): void {
    this.#transmits.push(encodeFtpCommand(command));
    this.await(now, awaiting);
  }

  /**
   * Awaits a reply: after those awaited already, or `first` (a transfer's final reply comes
   * before any later command's). Awaited first, it is timed from `now`, the time of the input
   * that sent its command; behind others, from the reply before it (`take`).
   */
  await(now: number, awaiting: A, first = false): void {
    if (first) this.#awaiting.unshift(awaiting);
    else this.#awaiting.push(awaiting);
    if (this.#awaiting[0] === awaiting) this.#rearm(now);
  }

  /** The reply awaited first came (at `now`): the one behind it is timed from then. */
  take(now: number): void {
    this.#awaiting.shift();
    this.#rearm(now);
  }

  /** The reply awaited first, untimed so far, is timed from `now` (a transfer's data ended). */
  time(now: number): void {
    if (this.#deadline === undefined) this.#rearm(now);
  }

  /** Awaits nothing more (the session closed). */
  close(): void {
    this.#awaiting = [];
    this.#deadline = undefined;
  }

  #rearm(now: number): void {
    const first = this.#awaiting[0];
    this.#deadline = first && !this.#untimed(first) ? now + this.#timeoutMs : undefined;
  }
}
