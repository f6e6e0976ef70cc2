/**
 * The state of one FTP/FTPS server session, shared by the server machine and its command
 * handlers: the policies (the options with their defaults), the control connection's protection,
 * the login, the transfer parameters, the data connection set-up, and the replies and events
 * queued for the driver. Handlers change it directly and through the few primitives here
 * (`reply`, `emit`, `ask`, `storage`, `close`, `reset`).
 *
 * @module
 */

import { isHostName } from "../io/host_name.ts";
import { canonicalFtpHost, encodeFtpReply, type FtpHostPort, FtpLineReader } from "../codec/mod.ts";
import type {
  FtpHashAlgorithm,
  FtpServerAddresses,
  FtpServerEvent,
  FtpServerSessionOptions,
  FtpStorageRequest,
  FtpStorageResult,
  FtpTransferCommand,
} from "./_server_session_types.ts";
import {
  type AccessFlags,
  type FtpPermissions,
  ftpUserPermissions,
  NO_ACCESS,
} from "./_server_session_permissions.ts";

/** The session options with their defaults in place. */
export type ServerPolicy =
  & Readonly<Required<Omit<FtpServerSessionOptions, "passiveHost">>>
  & {
    /** What a 227 reply names instead of the control connection's local address: an IPv4
     * address, or a host name the driver resolves (`passiveName`). */
    readonly passiveHost: string | undefined;
    /** `passiveHost` when it is a host name. */
    readonly passiveName: string | undefined;
  };

/** The algorithms HASH may compute (draft-bryan-ftpext-hash-02 section 3.1's IANA names). */
export const HASH_ALGORITHMS: readonly FtpHashAlgorithm[] = ["SHA-256", "SHA-1", "MD5", "CRC32"];

/** HASH's largest file by default: 1 GiB. */
const HASH_MAX_BYTES = 1 << 30;

/**
 * Fills in the defaults of the session options.
 *
 * @param options The options as given.
 * @returns The policies in force.
 * @throws {TypeError} When `passiveHost` is neither an IPv4 address nor a host name, or
 * `hashAlgorithms` names an unknown algorithm or one twice.
 * @throws {RangeError} When `hashMaxBytes` is not a positive integer.
 */
export function serverPolicy(options: FtpServerSessionOptions): ServerPolicy {
  const tls = options.tls ?? "explicit";
  const passiveHost = options.passiveHost;
  const isAddress = passiveHost !== undefined && hostFamily(passiveHost) === 4;
  if (passiveHost !== undefined && !isAddress && !isHostName(passiveHost)) {
    throw new TypeError(
      `passiveHost must be an IPv4 address or a host name, got "${passiveHost.slice(0, 80)}"`,
    );
  }
  const hashAlgorithms = [...(options.hashAlgorithms ?? [])];
  for (const [i, algorithm] of hashAlgorithms.entries()) {
    if (!HASH_ALGORITHMS.includes(algorithm) || hashAlgorithms.indexOf(algorithm) !== i) {
      throw new TypeError(`Not a hash algorithm, or given twice: "${algorithm}"`);
    }
  }
  const hashMaxBytes = options.hashMaxBytes ?? HASH_MAX_BYTES;
  if (!Number.isSafeInteger(hashMaxBytes) || hashMaxBytes <= 0) {
    throw new RangeError(`hashMaxBytes must be a positive integer, got ${hashMaxBytes}`);
  }
  return {
    tls,
    requireTlsForLogin: options.requireTlsForLogin ?? tls !== "none",
    allowAnonymous: options.allowAnonymous ?? false,
    anonymousWithoutTls: options.anonymousWithoutTls ?? false,
    dataProtection: options.dataProtection ?? "required",
    allowCcc: options.allowCcc ?? false,
    greeting: options.greeting ?? "ftkit FTP server ready",
    maxLoginAttempts: options.maxLoginAttempts ?? 3,
    maxLineLength: options.maxLineLength ?? 4096,
    maxPendingCommands: options.maxPendingCommands ?? 16,
    idleTimeoutMs: options.idleTimeoutMs ?? 300_000,
    loginTimeoutMs: options.loginTimeoutMs ?? 60_000,
    lineTimeoutMs: options.lineTimeoutMs ?? 30_000,
    passiveHost,
    passiveName: isAddress ? undefined : passiveHost,
    allowForeignDataHosts: options.allowForeignDataHosts ?? false,
    requireTlsResumption: options.requireTlsResumption ?? false,
    certificateLogin: options.certificateLogin ?? false,
    mfmt: options.mfmt ?? false,
    siteChmod: options.siteChmod ?? false,
    hashAlgorithms,
    hashMaxBytes,
  };
}

/**
 * The algorithm HASH uses until OPTS HASH changes it: SHA-256 where offered (the draft's section
 * 5: nothing weaker than SHA-1 as the default), else the first one offered.
 *
 * @param policy The policies in force.
 * @returns The algorithm, or SHA-256 when HASH is off.
 */
export function defaultHashAlgorithm(policy: ServerPolicy): FtpHashAlgorithm {
  return policy.hashAlgorithms.includes("SHA-256")
    ? "SHA-256"
    : policy.hashAlgorithms[0] ?? "SHA-256";
}

/**
 * 4 for an IPv4 address (or an IPv4-mapped one), 6 for IPv6, `undefined` for anything else.
 *
 * @param text An address.
 * @returns Its family.
 */
export function hostFamily(text: string): 4 | 6 | undefined {
  const host = canonicalFtpHost(text);
  return host === undefined ? undefined : host.includes(":") ? 6 : 4;
}

const ANONYMOUS: ReadonlySet<string | undefined> = new Set(["anonymous", "ftp"]);

/**
 * Whether a user name is the anonymous user's (`anonymous` or `ftp`, in any case).
 *
 * @param user The name as sent, if any.
 * @returns Whether it is anonymous.
 */
export function isAnonymous(user: string | undefined): boolean {
  return ANONYMOUS.has(user?.toLowerCase());
}

/** A reply code and its text, for a command refused before its handler runs. */
export type Refusal = readonly [code: number, text: string];

/**
 * The reply to a storage refusal: the storage's code and text, or 550 and `fallback`.
 *
 * @param result The refusal.
 * @param fallback The text when the storage gave none.
 * @returns The reply.
 */
export function storageRefusal(
  result: Extract<FtpStorageResult, { ok: false }>,
  fallback: string,
): Refusal {
  return [result.code ?? 550, result.message ?? fallback];
}

/** The MLST/MLSD facts served (RFC 3659 section 7.5), each on until OPTS MLST says otherwise. */
export const MLST_FACTS: readonly string[] = ["type", "size", "modify", "perm", "unique"];

/**
 * The control connection's protection (RFC 4217): `plain` (no AUTH TLS yet, or none offered),
 * `upgrading` (AUTH TLS accepted and the handshake under way: plain input is dropped),
 * `protected` (TLS, by AUTH or implicit), `clearing` (CCC accepted and TLS being shut down), and
 * `cleared` (plain again after CCC, until REIN).
 */
export type ControlState = "plain" | "upgrading" | "protected" | "clearing" | "cleared";

/** A transfer in progress: its `transfer-data` event is out, its result not in. */
export interface ServerTransfer {
  /** The id the driver reports the result under. */
  readonly id: number;
  /** The command that started it (STAT names it). */
  readonly verb: FtpTransferCommand;
  /** What the 226 adds after "Transfer complete". */
  readonly note: string;
}

/** The data connection set up by PASV/EPSV (port undefined while the driver opens it) or
 * PORT/EPRT, until a transfer command uses it; `resolve`: the driver was asked for the passive
 * host name's address too. */
export type ServerChannel =
  | { readonly kind: "passive"; readonly extended: boolean; port?: number; resolve?: boolean }
  | { readonly kind: "active"; readonly address: FtpHostPort };

/** One server session's state, with the primitives that queue its outputs. */
export class ServerState {
  /** The policies in force. */
  readonly policy: ServerPolicy;
  /** Splits the control connection's bytes into command lines. */
  lines: FtpLineReader;
  /** The control connection's ends, when the driver gave them. */
  addresses: FtpServerAddresses | undefined;
  /** The IPv4 address `policy.passiveName` resolved to for this session (REIN keeps it). */
  passiveAddress: string | undefined;

  /** Reply bytes for `pollTransmit`, oldest first. */
  readonly transmits: Uint8Array[] = [];
  /** Events for `pollEvent`, oldest first. */
  readonly events: FtpServerEvent[] = [];
  /** `waiting` while the driver owes an answer to an event. */
  phase: "idle" | "running" | "waiting" | "closed" = "idle";
  /** Whole command lines not run yet. */
  pending: string[] = [];
  /** The verb of the command running (or that ran last), for the storage requests it makes. */
  command = "";
  /** When the session counts as idle: the last whole command line, or answer, plus the idle
   * timeout. */
  idleDeadline: number | undefined;
  /** Until a login completes: the greeting (or REIN) plus the login timeout. */
  loginDeadline: number | undefined;
  /** While part of a command line is held: its first byte plus the line timeout. */
  lineDeadline: number | undefined;

  // Session state (RFC 4217 section 4: AUTH resets all but itself; REIN resets all).
  /** The control connection's protection. */
  control: ControlState = "plain";
  /** PBSZ was accepted (RFC 4217 section 9: PROT needs it). */
  pbsz = false;
  /** The data protection level (PROT). */
  prot: "C" | "P" = "C";
  /** The name USER gave. */
  user: string | undefined;
  /** Whether `user` is logged in. */
  loggedIn = false;
  /** Failed logins in a row. */
  failedLogins = 0;
  /** The representation type (TYPE). */
  type: "A" | "I" = "A";
  /** Whether the client switched UTF-8 on (OPTS UTF8 ON). */
  utf8 = false;
  /** The current directory in the virtual tree. */
  cwd = "/";
  /** The path RNFR named, until the next command. */
  renameFrom: string | undefined;
  /** What to do with the storage's answer, while one is awaited. */
  onStorage: ((result: FtpStorageResult) => void) | undefined;
  /** The byte offset REST gave, for the next transfer. */
  restart = 0;
  /** ALLO's size, for the next transfer command (used once). */
  allocate: number | undefined = undefined;
  /** RANG's byte range, first and last byte (draft-bryan-ftp-range-08), for the next RETR or
   * HASH (used once). */
  range: readonly [number, number] | undefined = undefined;
  /** EPSV ALL is in force (RFC 2428 section 4). */
  epsvAll = false;
  /** The facts MLST and MLSD give (OPTS MLST). */
  mlstFacts: readonly string[] = MLST_FACTS;
  /** The data connection set up for the next transfer. */
  channel: ServerChannel | undefined;
  /** The transfer in progress. */
  transfer: ServerTransfer | undefined;
  /** The id of the last transfer started. */
  lastTransferId = 0;
  /** The passive listener of a refused transfer command, kept until the next command. */
  refusedListener = false;
  /** After REIN, resumption of TLS sessions may not be mandated (RFC 4217 section 13). */
  resumptionWaived = false;
  /** The server is going down (`shutdown`): the session ends with 421 once no transfer runs and
   * no answer is owed. */
  shuttingDown = false;
  /** What the logged-in user may do (nothing until a login). */
  access: AccessFlags = NO_ACCESS;
  /** What the logged-in user may do on each path. */
  permissions: FtpPermissions = ftpUserPermissions(NO_ACCESS);
  /** The algorithm HASH uses (OPTS HASH; draft-bryan-ftpext-hash-02 section 3.2). */
  hashAlgorithm: FtpHashAlgorithm;

  /**
   * Makes the state of a session not started yet.
   *
   * @param options The session options.
   */
  constructor(options: FtpServerSessionOptions) {
    this.policy = serverPolicy(options);
    this.lines = new FtpLineReader({ maxLineLength: this.policy.maxLineLength });
    this.hashAlgorithm = defaultHashAlgorithm(this.policy);
  }

  /** Whether the control connection is protected (TLS is up, and not shut down yet). */
  get protected(): boolean {
    return this.control === "protected" || this.control === "clearing";
  }

  /** Whether AUTH TLS was accepted and its handshake has not finished: plain input is dropped. */
  get upgrading(): boolean {
    return this.control === "upgrading";
  }

  /**
   * Queues a reply.
   *
   * @param code The reply code.
   * @param text Its text, or its lines.
   */
  reply(code: number, text: string | readonly string[]): void {
    this.transmits.push(encodeFtpReply(code, text));
  }

  /**
   * Queues an event the driver acts on without answering.
   *
   * @param event The event.
   */
  emit(event: FtpServerEvent): void {
    this.events.push(event);
  }

  /**
   * Queues an event the driver must answer; the session waits (runs no command) until it does.
   *
   * @param event The event.
   */
  ask(event: FtpServerEvent): void {
    this.events.push(event);
    this.phase = "waiting";
  }

  /**
   * Asks the storage, and waits for its answer.
   *
   * @param request The request.
   * @param handle What to do with the answer.
   */
  storage(request: FtpStorageRequest, handle: (result: FtpStorageResult) => void): void {
    this.ask({ type: "storage", request, command: this.command });
    this.onStorage = handle;
  }

  /**
   * Replies with a storage refusal's code and text, or their defaults.
   *
   * @param result The refusal.
   */
  refused(result: Extract<FtpStorageResult, { ok: false }>): void {
    this.reply(...storageRefusal(result, "Requested action not taken."));
  }

  /**
   * Ends the session: nothing is run or timed any more.
   *
   * @param reason Why, for the `closed` event.
   */
  close(reason: Extract<FtpServerEvent, { type: "closed" }>["reason"]): void {
    this.phase = "closed";
    this.pending = [];
    this.idleDeadline = this.loginDeadline = this.lineDeadline = undefined;
    this.events.push({ type: "closed", reason });
  }

  /** Resets the user and every transfer parameter (AUTH, REIN). */
  reset(): void {
    if (this.loggedIn) this.events.push({ type: "logged-out" });
    this.cwd = "/";
    this.renameFrom = undefined;
    this.user = undefined;
    this.loggedIn = false;
    this.pbsz = false;
    this.prot = "C";
    this.type = "A";
    this.restart = 0;
    this.allocate = undefined;
    this.range = undefined;
    this.epsvAll = false;
    this.mlstFacts = MLST_FACTS;
    this.access = NO_ACCESS;
    this.permissions = ftpUserPermissions(NO_ACCESS);
    // The draft's section 3.2: the selection holds until the session is reinitialized.
    this.hashAlgorithm = defaultHashAlgorithm(this.policy);
    this.closeChannel();
  }

  /** Forgets the data connection set-up, closing its passive listener (or a refused one). */
  closeChannel(): void {
    if (this.channel?.kind === "passive" || this.refusedListener) {
      this.events.push({ type: "close-data" });
    }
    this.channel = undefined;
    this.refusedListener = false;
  }
}
