/**
 * The FTP/FTPS client's data channel, sans-I/O: one transfer at a time, from its data connection
 * (EPSV, else PASV; or EPRT, else PORT), through REST and the transfer command, to its 1yz, its
 * data and its final reply, and how ABOR stops it. The session (client_session.ts) runs it: it
 * sends the commands this part asks for and hands their replies back, in order.
 *
 * @module
 */

import {
  encodeFtpCommand,
  encodeFtpEprt,
  encodeFtpPort,
  type FtpCommand,
  type FtpHostPort,
  type FtpReply,
  isFtpIpv4,
  parseFtpEpsv,
  parseFtpPasv,
} from "../codec/mod.ts";
import { FtpReplyError } from "./reply_error.ts";
import type {
  FtpClientEvent,
  FtpDataConnectionMode,
  FtpTransferRequest,
} from "./_client_session_types.ts";

/** The transfer in progress. */
export interface Transfer {
  readonly id: number;
  readonly request: FtpTransferRequest;
  /** `negotiating`: EPSV, PASV, EPRT or PORT is out; `connecting`, `listening`: the driver makes
   * the data connection; `commanding`: REST or the transfer command is out; `transferring`: the
   * server took the command. */
  phase: "negotiating" | "connecting" | "listening" | "commanding" | "transferring";
  /** Whether the data is over: ended, failed, aborted, or void after a refusal. */
  dataEnded: boolean;
  /** The transfer command's final reply, once in. */
  finalReply: FtpReply | undefined;
  /** Why the data connection failed, when it did. */
  error?: Error;
  /** Whether the transfer command itself went out. */
  commandSent?: boolean;
  /** Whether `abort` was called. */
  aborted?: boolean;
}

/** One `awaits` value as a transfer command awaiting its reply. */
type Awaiting<K extends string> = K extends unknown
  ? { readonly kind: "data"; readonly awaits: K; readonly transfer: Transfer }
  : never;

/**
 * A reply the data channel awaits, named by what it answers: a negotiation command, REST, the
 * transfer command (its 1yz, or a final reply at once), or `final`: the transfer command's final
 * reply after its 1yz.
 */
export type TransferCommand =
  | Awaiting<"EPSV" | "PASV" | "PORT" | "REST" | "transfer" | "final">
  /** EPRT carries its address: PORT sends it when EPRT is refused. */
  | Awaiting<"EPRT"> & { readonly address: FtpHostPort };

/** What the data channel asks of the session that runs it. */
export interface DataChannelSession {
  /** Sends `command`; its reply comes back to `answer` with `awaiting`. */
  send(now: number, command: FtpCommand, awaiting: TransferCommand): void;
  /** Awaits the transfer command's final reply ahead of any later command's. */
  awaitFinal(now: number, awaiting: TransferCommand, shown: string): void;
  /** The data stopped moving: the final reply, awaited first and untimed while the data moved,
   * is timed from `now`. */
  dataStopped(now: number): void;
  /** Sends ABOR at once, ahead of anything queued (RFC 959 section 4.1.3); returns its
   * operation's id. */
  sendAbort(now: number): number;
  /** Tells the driver. */
  event(event: FtpClientEvent): void;
  /** The transfer completed with this final reply. */
  complete(now: number, id: number, reply: FtpReply): void;
  /** The transfer failed. */
  fail(now: number, id: number, error: Error): void;
  /** The data protection level in force. */
  protection(): "P" | "C" | undefined;
}

/** Throws unless `request` can be sent: a TypeError for CR or LF, a RangeError for an offset that
 * is not a whole number of bytes. */
export function checkTransfer(request: FtpTransferRequest): void {
  encodeFtpCommand({ verb: request.command, argument: request.path });
  const offset = request.offset;
  if (offset !== undefined && !(Number.isSafeInteger(offset) && offset >= 0)) {
    throw new RangeError(`Offset must be a whole number of bytes, got ${offset}`);
  }
}

/** A transfer command as errors show it. */
function describe(request: FtpTransferRequest): string {
  return request.path === undefined ? request.command : `${request.command} ${request.path}`;
}

/** The error of a transfer that `abort` stopped, or of an operation cancelled. */
export function abortError(): DOMException {
  return new DOMException("Transfer aborted", "AbortError");
}

/** What each reply does, by what it answers; `now` is the reply's time. */
type ReplyRow<K extends TransferCommand["awaits"]> = (
  channel: ClientDataChannel,
  now: number,
  reply: FtpReply,
  awaiting: Extract<TransferCommand, { awaits: K }>,
  shown: string,
) => void;

/** The data channel of one client session (RFC 959 section 5.2; RFC 4217 sections 7, 12.4-12.7). */
export class ClientDataChannel {
  readonly #session: DataChannelSession;
  readonly #mode: FtpDataConnectionMode;
  #transfer: Transfer | undefined;
  /** The server refused EPSV: PASV for the rest of the session (RFC 2428). */
  #epsvRefused = false;
  /** The server refused EPRT: PORT for IPv4 for the rest of the session (RFC 2428). */
  #eprtRefused = false;
  /** The last transfer aborted, or ended by a negative reply before its data: the driver's late
   * reports on it are ignored. */
  #dropped: number | undefined;

  /**
   * @param session The session that runs it.
   * @param mode How data connections are made.
   */
  constructor(session: DataChannelSession, mode: FtpDataConnectionMode) {
    this.#session = session;
    this.#mode = mode;
  }

  /** Starts transfer `id`: a listener in active mode, EPSV (or PASV) in passive mode. */
  begin(now: number, id: number, request: FtpTransferRequest): void {
    const transfer: Transfer = {
      id,
      request,
      phase: "negotiating",
      dataEnded: false,
      finalReply: undefined,
    };
    this.#transfer = transfer;
    if (this.#mode === "active") {
      transfer.phase = "listening";
      this.#session.event({ type: "listen-data", id });
    } else {
      this.#passive(now, transfer);
    }
  }

  /** Passive mode: the data connection is open. */
  connected(now: number, id: number): void {
    if (this.#stale(id)) return;
    const transfer = this.#expect(id, "connecting");
    if (this.#cancelled(now, transfer)) return;
    this.#commanding(now, transfer);
  }

  /** Active mode: the listener is up at `address`; EPRT, or PORT once EPRT was refused. */
  listening(now: number, id: number, address: FtpHostPort): void {
    if (this.#stale(id)) return;
    const transfer = this.#expect(id, "listening");
    if (this.#cancelled(now, transfer)) return;
    transfer.phase = "negotiating";
    if (!this.#eprtRefused || !isFtpIpv4(address.host)) {
      const awaiting = { kind: "data", awaits: "EPRT", transfer, address } as const;
      this.#session.send(now, { verb: "EPRT", argument: encodeFtpEprt(address) }, awaiting);
    } else {
      const awaiting = { kind: "data", awaits: "PORT", transfer } as const;
      this.#session.send(now, { verb: "PORT", argument: encodeFtpPort(address) }, awaiting);
    }
  }

  /** The data connection ended: a download reached its end, or an upload was sent. */
  ended(now: number, id: number): void {
    if (this.#stale(id) || (this.#transfer?.id === id && this.#transfer.aborted)) return;
    const transfer = this.#expect(id, "transferring");
    transfer.dataEnded = true;
    this.#session.dataStopped(now);
    this.#finishIfDone(now, transfer);
  }

  /** The data connection could not be made, or broke. */
  failed(now: number, id: number, error: Error): void {
    if (this.#stale(id)) return;
    const transfer = this.#transfer;
    if (!transfer || transfer.id !== id) {
      throw new TypeError(`No data connection for operation ${id}`);
    }
    if (transfer.aborted) {
      this.#cancelled(now, transfer); // Or the transfer command's reply ends it.
      return;
    }
    if (transfer.phase === "connecting" || transfer.phase === "listening") {
      this.#fail(now, transfer, error);
      return;
    }
    // The server still answers the transfer command (426 or so): the transfer fails then.
    transfer.dataEnded = true;
    transfer.error = error;
    this.#session.dataStopped(now);
    this.#finishIfDone(now, transfer);
  }

  /**
   * Stops the transfer in progress: the driver drops its data connection. When its command went
   * out, ABOR goes at once and its id is returned; otherwise the transfer ends at its next step
   * and ABOR waits its turn (`undefined`).
   */
  abort(now: number): number | undefined {
    const transfer = this.#transfer;
    if (!transfer || transfer.aborted) return undefined;
    transfer.aborted = true;
    this.#dropped = transfer.id;
    this.#session.event({ type: "abort-data", id: transfer.id });
    if (!transfer.commandSent) return undefined;
    transfer.dataEnded = true;
    this.#session.dataStopped(now);
    const id = this.#session.sendAbort(now);
    // Over now if its final reply was in already; else that reply ends it.
    this.#finishIfDone(now, transfer);
    return id;
  }

  /** Whether the transfer in progress has its positive final reply (226) and waits only for the
   * end of its data: the server is done with it, and its bytes are still coming. */
  get awaitsOnlyData(): boolean {
    const transfer = this.#transfer;
    return transfer !== undefined && !transfer.aborted && !transfer.dataEnded &&
      transfer.finalReply !== undefined && transfer.finalReply.code < 300;
  }

  /** The session closed: forgets the transfer; returns why its data connection failed, if it
   * did, for the transfer's `failed` event. */
  close(): Error | undefined {
    const error = this.#transfer?.error;
    this.#transfer = undefined;
    return error;
  }

  /** Handles the reply to `awaiting`; `now` is the reply's time. */
  answer(now: number, awaiting: TransferCommand, reply: FtpReply, shown: string): void {
    // A transfer that `abort` stopped before its command went out ends at its next step.
    if (this.#cancelled(now, awaiting.transfer)) return;
    const row = ClientDataChannel.#REPLIES[awaiting.awaits] as ReplyRow<TransferCommand["awaits"]>;
    row(this, now, reply, awaiting, shown);
  }

  /** What each reply does. */
  static readonly #REPLIES: { readonly [K in TransferCommand["awaits"]]: ReplyRow<K> } = {
    EPSV: (channel, now, reply, { transfer }) => {
      if (reply.code === 229) {
        return channel.#connect(
          now,
          transfer,
          () => ({ port: parseFtpEpsv(reply.lines.join(" ")) }),
        );
      }
      if (![500, 501, 502].includes(reply.code)) {
        return channel.#fail(now, transfer, new FtpReplyError("EPSV", reply));
      }
      // RFC 2428: a server that does not know EPSV; PASV from now on.
      channel.#epsvRefused = true;
      channel.#passive(now, transfer);
    },
    PASV: (channel, now, reply, { transfer }) => {
      if (reply.code !== 227) return channel.#fail(now, transfer, new FtpReplyError("PASV", reply));
      channel.#connect(now, transfer, () => {
        const { host, port } = parseFtpPasv(reply.lines.join(" "));
        return { port, announcedHost: host };
      });
    },
    EPRT: (channel, now, reply, { transfer, address }, shown) => {
      if (reply.code === 200) return channel.#commanding(now, transfer);
      if (isFtpIpv4(address.host) && [500, 501, 502, 522].includes(reply.code)) {
        // RFC 2428 section 2: a server without EPRT; PORT does IPv4.
        channel.#eprtRefused = true;
        transfer.phase = "listening";
        return channel.listening(now, transfer.id, address);
      }
      channel.#fail(now, transfer, new FtpReplyError(shown, reply));
    },
    PORT: (channel, now, reply, { transfer }, shown) => {
      if (reply.code !== 200) return channel.#fail(now, transfer, new FtpReplyError(shown, reply));
      channel.#commanding(now, transfer);
    },
    REST: (channel, now, reply, { transfer }, shown) => {
      if (reply.code !== 350) return channel.#fail(now, transfer, new FtpReplyError(shown, reply));
      channel.#sendCommand(now, transfer);
    },
    transfer: (channel, now, reply, { transfer }, shown) => {
      const final = { kind: "data", awaits: "final", transfer } as const;
      // ABOR is on its way: no data connection now; the final reply follows.
      if (reply.code < 200 && transfer.aborted) {
        return channel.#session.awaitFinal(now, final, shown);
      }
      if (reply.code === 125 || reply.code === 150) {
        transfer.phase = "transferring";
        const upload = transfer.request.command === "STOR" || transfer.request.command === "APPE";
        channel.#session.event({
          type: "transfer-data",
          id: transfer.id,
          tls: channel.#session.protection() === "P",
          direction: upload ? "upload" : "download",
        });
        // The final reply follows on the same command: keep waiting for it.
        return channel.#session.awaitFinal(now, final, shown);
      }
      // A final reply without a preliminary one: a refusal (or a server that skipped 150).
      if (reply.code < 200 || reply.code >= 300) {
        return channel.#fail(now, transfer, new FtpReplyError(shown, reply));
      }
      transfer.phase = "transferring";
      transfer.finalReply = reply;
      transfer.dataEnded = true;
      channel.#finishIfDone(now, transfer);
    },
    final: (channel, now, reply, { transfer }) => {
      transfer.finalReply = reply;
      if (reply.code >= 300 && !transfer.dataEnded) {
        // A refusal after 150 (425: the server could not connect; 426; 451): no data will come,
        // or what came is void. The transfer fails now; its connection is dropped.
        transfer.dataEnded = true;
        channel.#dropped = transfer.id;
      }
      channel.#finishIfDone(now, transfer);
    },
  };

  /** EPSV, or PASV once the server refused EPSV. */
  #passive(now: number, transfer: Transfer): void {
    const verb = this.#epsvRefused ? "PASV" : "EPSV";
    this.#session.send(now, { verb }, { kind: "data", awaits: verb, transfer });
  }

  /** A 229 or 227 came: the driver connects to the port it names. */
  #connect(
    now: number,
    transfer: Transfer,
    parse: () => { port: number; announcedHost?: string },
  ): void {
    let address: { port: number; announcedHost?: string };
    try {
      address = parse();
    } catch (error) {
      return this.#fail(now, transfer, error as Error);
    }
    transfer.phase = "connecting";
    this.#session.event({ type: "connect-data", id: transfer.id, ...address });
  }

  /** The data connection is ready: REST first when resuming (RFC 3659 section 5), then the
   * transfer command. */
  #commanding(now: number, transfer: Transfer): void {
    transfer.phase = "commanding";
    const offset = transfer.request.offset;
    if (offset === undefined) return this.#sendCommand(now, transfer);
    const awaiting = { kind: "data", awaits: "REST", transfer } as const;
    this.#session.send(now, { verb: "REST", argument: String(offset) }, awaiting);
  }

  #sendCommand(now: number, transfer: Transfer): void {
    transfer.commandSent = true;
    const { command: verb, path: argument } = transfer.request;
    this.#session.send(now, { verb, argument }, { kind: "data", awaits: "transfer", transfer });
  }

  /** RFC 959: a transfer is over only when both its data and its final reply are in. */
  #finishIfDone(now: number, transfer: Transfer): void {
    const reply = transfer.finalReply;
    if (!reply || !transfer.dataEnded) return;
    this.#transfer = undefined;
    if (transfer.aborted) {
      this.#session.fail(now, transfer.id, abortError());
    } else if (reply.code === 226 || reply.code === 250) {
      if (transfer.error) this.#session.fail(now, transfer.id, transfer.error);
      else this.#session.complete(now, transfer.id, reply);
    } else {
      // The server's word, and the local cause when the data connection failed first.
      const cause = transfer.error && `The data connection failed first: ${transfer.error.message}`;
      const error = new FtpReplyError(describe(transfer.request), reply, cause);
      this.#session.fail(now, transfer.id, error);
    }
  }

  /** Whether `id` is a transfer aborted or refused and over: the driver's late reports on it are
   * dropped. */
  #stale(id: number): boolean {
    return id === this.#dropped && this.#transfer?.id !== id;
  }

  /** Ends a transfer that `abort` stopped before its command went out. */
  #cancelled(now: number, transfer: Transfer): boolean {
    if (!transfer.aborted || transfer.commandSent) return false;
    this.#fail(now, transfer, abortError());
    return true;
  }

  #fail(now: number, transfer: Transfer, error: Error): void {
    this.#transfer = undefined;
    this.#session.fail(now, transfer.id, error);
  }

  #expect(id: number, phase: Transfer["phase"]): Transfer {
    const transfer = this.#transfer;
    if (!transfer || transfer.id !== id || transfer.phase !== phase) {
      throw new TypeError(`Operation ${id} is not waiting for that (${phase})`);
    }
    return transfer;
  }
}
