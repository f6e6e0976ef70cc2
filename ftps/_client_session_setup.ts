/**
 * How the FTP/FTPS client sets a session up, as a table: for each step the command it sends,
 * where each reply leads, and why the session ends on any other (RFC 4217 section 12.1 gives
 * the order: AUTH TLS, PBSZ, PROT, USER, PASS; then FEAT, OPTS UTF8 and TYPE I). The session
 * (client_session.ts) runs it after the greeting, and again after REIN.
 *
 * @module
 */

import { decodeFtpCommand, type FtpCommand, type FtpReply, parseFtpFeat } from "../codec/mod.ts";
import { FtpReplyError } from "./reply_error.ts";
import type { FtpClientSessionOptions } from "./_client_session_types.ts";

/** The session's options with their defaults in (the account stays optional). */
export type SetupOptions =
  & Required<Omit<FtpClientSessionOptions, "account" | "beforeAuth">>
  & { readonly account?: string };

/** `options` with their defaults in. */
export function setupOptions(options: FtpClientSessionOptions): SetupOptions {
  return {
    tls: options.tls ?? "explicit",
    user: options.user ?? "anonymous",
    password: options.password ?? "anonymous@",
    protection: options.protection ?? "P",
    protectAfterLogin: options.protectAfterLogin ?? false,
    utf8: options.utf8 ?? true,
    dataConnections: options.dataConnections ?? "passive",
    replyTimeoutMs: options.replyTimeoutMs ?? 30_000,
    ...(options.account !== undefined ? { account: options.account } : {}),
  };
}

/** What set-up learns and each step may read: the options, the features, the protection. */
export interface SetupFacts {
  readonly options: SetupOptions;
  /** The FEAT reply's features (empty until FEAT is answered, or when it is refused). */
  features: ReadonlyMap<string, string>;
  /** The data protection level in force (PROT accepted), `undefined` before. */
  protection: "P" | "C" | undefined;
}

/** Why the session ends when a step is refused (the `closed` event's reason). */
export type SetupRefusal = "tls-refused" | "login-failed" | "protocol-error";

/** Where a reply leads when it is not one the step accepts: on, or the session's end. */
export type SetupOtherwise = "next" | { readonly close: SetupRefusal };

/**
 * Where a reply leads: the next step of the plan, a login step of its own (the server asked for
 * a password or an account), TLS on the control connection (AUTH's 234), or the session's end.
 */
export type SetupNext = SetupOtherwise | "pass" | "acct" | "upgrade";

/** The class of a reply, from its first digit (RFC 959 section 4.2.1): `"1yz"` to `"6yz"`. */
export function replyClass(code: number): string {
  return `${Math.floor(code / 100)}yz`;
}

/** A set-up step's command awaiting its reply. */
export interface SetupCommand {
  readonly kind: "setup";
  readonly step: SetupStep;
}

/** One step of setting the session up: a row of {@linkcode SETUP_STEPS}. */
export interface SetupStep {
  /** The command it sends: verb and argument, from the options. */
  readonly send: (facts: SetupFacts) => FtpCommand;
  /** How errors show the command when its argument is a secret. */
  readonly shown?: string;
  /** Whether the step applies (default: always). A planned step that does not is passed over;
   * a reply that leads to one that does not is taken as a refusal. */
  readonly when?: (facts: SetupFacts) => boolean;
  /** Where the replies it accepts lead, by code (`234`) or class (`"2yz"`); the code wins. */
  readonly replies: { readonly [reply: string]: SetupNext };
  /** Where any other reply leads. */
  readonly otherwise: SetupOtherwise;
  /** What a reply that leads to the next step teaches the session. */
  readonly learn?: (facts: SetupFacts, reply: FtpReply) => void;
}

/** PASS and ACCT accepted (RFC 959 section 5.4): 230 logged in, 202 not needed here. */
const LOGGED_IN = { 230: "next", 202: "next" } as const;

/** The set-up steps, by name: a row each (the plan puts them in order). */
const SETUP_STEPS: {
  readonly [name in "auth" | "pbsz" | "prot" | "user" | "pass" | "acct" | "feat" | "utf8" | "type"]:
    SetupStep;
} = {
  // RFC 4217 section 4.1: TLS starts right after 234. Any other reply ends the session: never
  // fall back to plain text silently, the user asked for TLS.
  auth: {
    send: () => ({ verb: "AUTH", argument: "TLS" }),
    replies: { 234: "upgrade" },
    otherwise: { close: "tls-refused" },
  },
  // RFC 4217 section 9: PBSZ 0 must come before PROT. A refusal of either ends the session: the
  // data would not be protected as asked.
  pbsz: {
    send: () => ({ verb: "PBSZ", argument: "0" }),
    replies: { 200: "next" },
    otherwise: { close: "tls-refused" },
  },
  prot: {
    send: ({ options }) => ({ verb: "PROT", argument: options.protection }),
    replies: { 200: "next" },
    otherwise: { close: "tls-refused" },
    learn: (facts) => {
      facts.protection = facts.options.protection;
    },
  },
  // 230 logged in; 232 logged in on the strength of TLS (RFC 4217 section 12.2); 331 a password
  // next; 332 an account (RFC 959 section 4.1.1).
  user: {
    send: ({ options }) => ({ verb: "USER", argument: options.user }),
    replies: { 230: "next", 232: "next", 331: "pass", 332: "acct" },
    otherwise: { close: "login-failed" },
  },
  pass: {
    send: ({ options }) => ({ verb: "PASS", argument: options.password }),
    shown: "PASS ****",
    replies: { ...LOGGED_IN, 332: "acct" },
    otherwise: { close: "login-failed" },
  },
  // With no account to give, the 332 that asks for one is a refusal.
  acct: {
    when: ({ options }) => options.account !== undefined,
    send: ({ options }) => ({ verb: "ACCT", argument: options.account }),
    shown: "ACCT ****",
    replies: LOGGED_IN,
    otherwise: { close: "login-failed" },
  },
  // RFC 2389: a server without FEAT has no features; any reply goes on.
  feat: {
    send: () => ({ verb: "FEAT" }),
    replies: {},
    otherwise: "next",
    learn: (facts, reply) => {
      facts.features = parseFtpFeat(reply);
    },
  },
  // RFC 2640: sent only when FEAT lists UTF8. Servers that need no switch refuse it; either way
  // names go as UTF-8.
  utf8: {
    when: ({ options, features }) => options.utf8 && features.has("UTF8"),
    send: () => ({ verb: "OPTS", argument: "UTF8 ON" }),
    replies: {},
    otherwise: "next",
  },
  type: {
    send: () => ({ verb: "TYPE", argument: "I" }),
    replies: { 200: "next" },
    otherwise: { close: "protocol-error" },
  },
};

/** A command line of `beforeAuth` (RFC 4217 section 10.3): a negative reply ends the session. */
function beforeAuth(line: FtpCommand): SetupStep {
  return {
    send: () => line,
    replies: { "2yz": "next", "3yz": "next" },
    otherwise: { close: "protocol-error" },
  };
}

/**
 * The steps in order for these options (RFC 4217 section 12.1; PBSZ and PROT after the login
 * when asked, section 10.3). The session is ready after the last one.
 */
function setupPlan(options: SetupOptions, lines: readonly FtpCommand[]): SetupStep[] {
  const tls = options.tls !== "none";
  const protect = [SETUP_STEPS.pbsz, SETUP_STEPS.prot];
  return [
    ...lines.map(beforeAuth),
    ...(options.tls === "explicit" ? [SETUP_STEPS.auth] : []),
    ...(tls && !options.protectAfterLogin ? protect : []),
    SETUP_STEPS.user,
    ...(tls && options.protectAfterLogin ? protect : []),
    SETUP_STEPS.feat,
    SETUP_STEPS.utf8,
    SETUP_STEPS.type,
  ];
}

/**
 * Where `reply` to `step` leads: the row of its code, else of its class, else `otherwise`. A
 * login step the server asked for comes as its row; one that does not apply (ACCT without an
 * account) makes the reply a refusal.
 */
function setupNext(
  step: SetupStep,
  reply: FtpReply,
  facts: SetupFacts,
): SetupStep | Exclude<SetupNext, "pass" | "acct"> {
  const next = step.replies[reply.code] ?? step.replies[replyClass(reply.code)] ?? step.otherwise;
  if (next !== "pass" && next !== "acct") return next;
  const login = SETUP_STEPS[next];
  return login.when === undefined || login.when(facts) ? login : step.otherwise;
}

/** What set-up does next: send a step's command, start TLS, end ready, or end refused. */
export type SetupOutcome =
  | { readonly next: "send"; readonly step: SetupStep; readonly command: FtpCommand }
  | { readonly next: "upgrade" }
  | { readonly next: "ready" }
  | { readonly next: "close"; readonly reason: SetupRefusal; readonly error: FtpReplyError };

/** The set-up of one client session: the plan, and what it learnt. The session carries out
 * what each call returns. */
export class ClientSetup {
  /** The options, and what set-up learnt so far. */
  readonly facts: SetupFacts;
  readonly #lines: readonly FtpCommand[];
  /** The steps still to run. */
  #plan: SetupStep[] = [];

  /**
   * @param options The session's options.
   * @param beforeAuth The command lines to send before AUTH (checked now: a bad one throws).
   */
  constructor(options: SetupOptions, beforeAuth: readonly string[]) {
    this.facts = { options, features: new Map(), protection: undefined };
    this.#lines = beforeAuth.map((line) => decodeFtpCommand(line));
  }

  /** From the first step, forgetting what was learnt (after REIN). */
  begin(): SetupOutcome {
    this.facts.features = new Map();
    this.facts.protection = undefined;
    this.#plan = setupPlan(this.facts.options, this.#lines);
    return this.resume();
  }

  /** `step` (by default the next planned), passing over those that do not apply; `ready` after
   * the last. */
  resume(step: SetupStep | undefined = this.#plan.shift()): SetupOutcome {
    while (step?.when && !step.when(this.facts)) step = this.#plan.shift();
    if (step === undefined) return { next: "ready" };
    return { next: "send", step, command: step.send(this.facts) };
  }

  /** What the reply to `step`'s command leads to. */
  answer({ step }: SetupCommand, reply: FtpReply, shown: string): SetupOutcome {
    const next = setupNext(step, reply, this.facts);
    if (next === "upgrade") return { next };
    if (next === "next") {
      step.learn?.(this.facts, reply);
      return this.resume();
    }
    if ("close" in next) {
      return { next: "close", reason: next.close, error: new FtpReplyError(shown, reply) };
    }
    return this.resume(next); // A login step the server asked for.
  }
}
