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

/** The commands a session sends itself (login, security, QUIT, REIN), or for transfers. */
const OWN_COMMANDS = new Set("AUTH PBSZ PROT CCC USER PASS ACCT QUIT REIN".split(" "));
const DATA_COMMANDS = new Set("RETR STOR APPE STOU LIST NLST MLSD PASV EPSV PORT EPRT".split(" "));

/** `verb` and `argument` as a command without data (the verb upper case); throws a TypeError
 * for a command the session sends itself or one that needs a data connection, or a CR or LF. */
export function plainCommand(verb: string, argument: string | undefined): FtpCommand {
  const upper = verb.toUpperCase();
  if (upper === "ABOR") throw new TypeError("ABOR is sent by abort()");
  if (OWN_COMMANDS.has(upper)) throw new TypeError(`${upper} is handled by the session itself`);
  if (DATA_COMMANDS.has(upper)) {
    throw new TypeError(`${upper} needs a data connection: use transfer()`);
  }
  const command = { verb: upper, argument };
  encodeFtpCommand(command); // Checked now, so a bad argument throws at the caller.
  return command;
}

/** The control connection of one client session; `A` is what a reply awaited answers. */
export class ControlChannel<A> {
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

  /**
   * Reads `bytes` a line at a time, handing each reply to `handle` while it returns `true`:
   * nothing after the reply that starts TLS is read. Returns the error of a line that is no
   * reply, if one came.
   */
  read(bytes: Uint8Array, handle: (reply: FtpReply) => boolean): Error | undefined {
    for (let rest = bytes; rest.length > 0;) {
      const end = rest.indexOf(0x0a) + 1 || rest.length;
      let replies: FtpReply[];
      try {
        replies = this.#parser.push(rest.subarray(0, end));
      } catch (error) {
        return error as Error;
      }
      rest = rest.subarray(end);
      for (const reply of replies) if (!handle(reply)) return;
    }
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
