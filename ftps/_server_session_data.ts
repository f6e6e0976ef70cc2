/**
 * The FTP/FTPS server's data connections (RFC 959 section 4.1.2, RFC 2428, RFC 4217 sections 7
 * and 10.2): their set-up (PASV, EPSV, EPSV ALL, PORT, EPRT) with the driver's answers to
 * `listen-data`, REST, a transfer's start on the connection set up and its end (the driver's
 * `dataResult`), and ABOR.
 *
 * @module
 */

import {
  canonicalFtpHost,
  decodeFtpEprt,
  decodeFtpPort,
  formatFtpEpsv,
  formatFtpPasv,
  type FtpHostPort,
  sameFtpHost,
} from "../codec/mod.ts";
import type { FtpDataResult, FtpTransferCommand } from "./_server_session_types.ts";
import type { FtpStorageEntry } from "./storage.ts";
import {
  hostFamily,
  isAnonymous,
  type ServerState,
  type ServerTransfer,
} from "./_server_session_state.ts";

/**
 * PASV (`extended` false) or EPSV: asks the driver for a passive listener; EPSV ALL instead
 * keeps PORT, EPRT and PASV out from then on (RFC 2428 section 4).
 *
 * @param s The session.
 * @param extended Whether it is EPSV.
 * @param argument EPSV's protocol or ALL.
 */
export function passive(s: ServerState, extended: boolean, argument: string): void {
  const addresses = s.addresses;
  if (!addresses) return s.reply(425, "No data connections on this session.");
  const family = hostFamily(addresses.local)!;
  if (extended) {
    const wanted = argument.trim().toUpperCase();
    if (wanted === "ALL") {
      s.epsvAll = true;
      return s.reply(200, "EPSV ALL ok.");
    }
    if (wanted !== "") {
      if (wanted !== "1" && wanted !== "2") return s.reply(501, "EPSV takes 1, 2 or ALL.");
      if ((wanted === "1") !== (family === 4)) {
        // RFC 2428 section 3: the protocols this connection can do.
        return s.reply(522, `Network protocol not supported, use (${family === 4 ? 1 : 2})`);
      }
    }
  } else {
    if (s.epsvAll) return s.reply(503, "EPSV ALL is in force: use EPSV.");
    if (family !== 4 && s.policy.passiveHost === undefined) {
      return s.reply(425, "PASV works over IPv4 only: use EPSV.");
    }
  }
  s.closeChannel();
  // A passive host name is resolved once a session, when a 227 first needs it.
  const name = extended || s.passiveAddress ? undefined : s.policy.passiveName;
  s.channel = name ? { kind: "passive", extended, resolve: true } : { kind: "passive", extended };
  s.ask({ type: "listen-data", family, ...(name ? { resolve: name } : {}) });
}

/**
 * PORT (`extended` false) or EPRT: where the server connects for the next transfer; only the
 * control connection's peer, on a port from 1024, unless the policy allows others (RFC 2577
 * sections 3 and 7).
 *
 * @param s The session.
 * @param extended Whether it is EPRT.
 * @param argument The address.
 */
export function active(s: ServerState, extended: boolean, argument: string): void {
  const addresses = s.addresses;
  if (!addresses) return s.reply(425, "No data connections on this session.");
  if (s.epsvAll) return s.reply(503, "EPSV ALL is in force: use EPSV.");
  const text = argument.trim();
  if (extended) {
    const protocol = text.split(text[0] ?? "|")[1];
    if (text.length > 0 && protocol !== "1" && protocol !== "2") {
      // RFC 2428 section 2: 522 names the protocols the server does.
      return s.reply(522, "Network protocol not supported, use (1,2)");
    }
  }
  let address: FtpHostPort;
  try {
    address = extended ? decodeFtpEprt(text) : decodeFtpPort(text);
  } catch {
    return s.reply(501, `Syntax error in ${extended ? "EPRT" : "PORT"}.`);
  }
  if (!s.policy.allowForeignDataHosts) {
    // RFC 2577 section 3: no data connection to a third host, nor to a well-known port.
    if (!sameFtpHost(address.host, addresses.remote)) {
      return s.reply(504, "Data connections go to the control connection's host only.");
    }
    if (address.port < 1024) return s.reply(504, "Data ports below 1024 are refused.");
  }
  s.closeChannel();
  s.channel = { kind: "active", address };
  s.reply(200, `${extended ? "EPRT" : "PORT"} command successful.`);
}

/**
 * The passive listener is open: 229 or 227 names it. A 227 names the passive host's address
 * (resolved by the driver when it is a name), or the control connection's local address; never
 * an IPv6 one (RFC 959's PASV carries four bytes).
 *
 * @param s The session.
 * @param port Its TCP port.
 * @param address The IPv4 address the passive host name resolved to, when it was asked for.
 * @throws {TypeError} When no listener was asked for, or `address` is missing, unasked for, or
 * not IPv4.
 * @throws {RangeError} When `port` is not a TCP port.
 */
export function dataListening(s: ServerState, port: number, address?: string): void {
  const channel = s.channel;
  if (channel?.kind !== "passive" || channel.port !== undefined) {
    throw new TypeError("Not waiting for a passive listener");
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`A port is 1-65535, got ${port}`);
  }
  if ((address !== undefined) !== (channel.resolve === true)) {
    throw new TypeError(
      channel.resolve ? "The passive host name's address is missing" : "No address was asked for",
    );
  }
  if (address !== undefined) {
    if (hostFamily(address) !== 4) throw new TypeError(`Not an IPv4 address: "${address}"`);
    s.passiveAddress = canonicalFtpHost(address);
  }
  channel.port = port;
  if (channel.extended) {
    s.reply(229, formatFtpEpsv(port));
  } else {
    const host = canonicalFtpHost(
      s.passiveAddress ?? s.policy.passiveHost ?? s.addresses!.local,
    )!;
    s.reply(227, formatFtpPasv({ host, port }));
  }
}

/**
 * The passive listener could not be opened, or the passive host name not resolved: 425.
 *
 * @param s The session.
 * @param reason `unresolved` when the passive host name had no IPv4 address in time.
 * @throws {TypeError} When no listener was asked for, or no name to resolve.
 */
export function dataListenFailed(s: ServerState, reason: "listen" | "unresolved"): void {
  const channel = s.channel;
  if (channel?.kind !== "passive" || channel.port !== undefined) {
    throw new TypeError("Not waiting for a passive listener");
  }
  if (reason === "unresolved" && !channel.resolve) {
    throw new TypeError("No passive host name was to be resolved");
  }
  s.channel = undefined;
  if (reason === "unresolved") s.reply(425, "Cannot resolve the passive address: use EPSV.");
  else s.reply(425, "Cannot open a passive connection.");
}

/**
 * REST: the byte offset of the next transfer (RFC 3659 section 5).
 *
 * @param s The session.
 * @param argument The offset.
 */
export function rest(s: ServerState, argument: string): void {
  if (!/^\d{1,15}$/.test(argument.trim())) return s.reply(501, "REST takes a byte offset.");
  s.restart = Number(argument.trim());
  // REST and RANG exclude each other (draft-bryan-ftp-range-08 section 3.3).
  s.range = undefined;
  s.reply(350, `Restarting at ${s.restart}. Send RETR or STOR.`);
}

/**
 * RANG: the first and last byte of the next RETR or HASH (draft-bryan-ftp-range-08 section 3);
 * `RANG 1 0` forgets a range. STOR, APPE and STOU after a range are refused (504): this server
 * writes no ranges.
 *
 * @param s The session.
 * @param argument The first and last byte.
 */
export function rang(s: ServerState, argument: string): void {
  const match = /^(\d{1,15}) (\d{1,15})$/.exec(argument.trim());
  if (!match) return s.reply(501, "RANG takes the first and the last byte of the range.");
  const [first, last] = [Number(match[1]), Number(match[2])];
  if (first === 1 && last === 0) {
    s.range = undefined;
    return s.reply(350, "Restarting at 1. End byte range at 0.");
  }
  if (first > last) return s.reply(501, "The range ends before it starts.");
  s.range = [first, last];
  s.restart = 0;
  s.reply(350, `Restarting at ${first}. End byte range at ${last}.`);
}

/**
 * ABOR: drops the transfer in progress (426 for it, then 226; RFC 959 section 4.1.3), or the
 * data connection set-up (225).
 *
 * @param s The session.
 */
export function abor(s: ServerState): void {
  s.restart = 0;
  const transfer = s.transfer;
  if (transfer) {
    s.transfer = undefined;
    s.emit({ type: "abort-data", id: transfer.id });
    s.reply(426, "Transfer aborted.");
    s.reply(226, "ABOR successful.");
    return;
  }
  s.closeChannel();
  s.reply(225, "No transfer to abort.");
}

/** The data of a listing: the bytes to send, and the formatter of the pages the driver reads
 * after them, when the storage gives the listing a page at a time. */
export interface ListingData {
  /** The listing, or its first page, formatted. */
  readonly bytes: Uint8Array;
  /** Formats each further page as `bytes` was formatted. */
  readonly format?: (entries: readonly FtpStorageEntry[]) => Uint8Array;
}

/** A transfer command's hold on the data connection set up for it. */
export interface DataTransfer {
  /** Where the transfer starts, in bytes (REST's offset, used once). */
  readonly offset: number;
  /** The size ALLO announced, if one came before (used once). */
  readonly allocate: number | undefined;
  /** RANG's first and last byte, if one came before (used once). */
  readonly range: readonly [number, number] | undefined;
  /** Refuses the transfer with a reply. A passive listener, and a data connection the client
   * made already, stay until the next command: a client that runs TLS on the data connection at
   * once (curl) would otherwise see it fail before it reads this reply, and report that. */
  readonly refuse: (code: number, text: string) => void;
  /** Accepts the transfer: its 150 (`opening`), and a `transfer-data` event for `path` (in the
   * virtual tree); `note` goes in its 226; `listing` is the data of a listing: its bytes, and
   * when the storage gives more pages, their formatter. */
  readonly start: (
    direction: "send" | "receive",
    path: string,
    opening: string,
    note: string,
    listing?: ListingData,
  ) => void;
}

/**
 * Takes the data connection set-up for a transfer command (it serves one transfer, whatever
 * becomes of it), with REST's offset. Refuses the command when there is no set-up (425) or the
 * data protection the policy requires is missing (521, RFC 4217 section 10.2: checked on the
 * transfer command, before any 1xx reply).
 *
 * @param s The session.
 * @param verb The transfer command.
 * @returns The transfer to refuse or start, or `undefined` when it is refused already.
 */
export function takeDataConnection(
  s: ServerState,
  verb: FtpTransferCommand,
): DataTransfer | undefined {
  const channel = s.channel;
  if (!channel || (channel.kind === "passive" && channel.port === undefined)) {
    s.reply(425, "Use PORT, PASV, EPRT or EPSV first.");
    return undefined;
  }
  s.channel = undefined;
  const offset = s.restart;
  s.restart = 0;
  const allocate = s.allocate;
  s.allocate = undefined;
  const range = s.range;
  s.range = undefined;
  const refuse = (code: number, text: string) => {
    if (channel.kind === "passive") s.refusedListener = true;
    s.reply(code, text);
  };
  if (protectionLacking(s)) {
    refuse(521, "Data connection cannot be opened with this PROT setting.");
    return undefined;
  }
  const start: DataTransfer["start"] = (direction, path, opening, note, listing) => {
    const id = ++s.lastTransferId;
    s.transfer = { id, verb, note };
    s.reply(150, opening);
    const protect = s.prot === "P";
    s.emit({
      type: "transfer-data",
      id,
      command: verb,
      path,
      direction,
      ...(channel.kind === "active"
        ? { connect: channel.address }
        : s.policy.allowForeignDataHosts
        ? {}
        : { acceptFrom: s.addresses!.remote }),
      tls: protect,
      requireTlsResumption: protect && s.policy.requireTlsResumption && !s.resumptionWaived,
      representation: s.type,
      ...(listing ? { listing: listing.bytes } : {}),
      ...(listing?.format ? { listingFormat: listing.format } : {}),
    });
  };
  return { offset: range ? range[0] : offset, allocate, range, refuse, start };
}

/** Whether this session's transfers must be protected and are not (RFC 4217 section 10.2). */
function protectionLacking(s: ServerState): boolean {
  if (s.policy.dataProtection !== "required" || s.prot === "P") return false;
  // An anonymous user let in without TLS cannot have PROT P: its data goes in the clear.
  return !(isAnonymous(s.user) && s.policy.anonymousWithoutTls && !s.protected);
}

/**
 * A transfer's data connection ended: its final reply (226, or 425, 426, 451, 452, 522, 552).
 *
 * @param s The session.
 * @param transfer The transfer.
 * @param result How its data connection ended.
 */
export function transferEnded(
  s: ServerState,
  transfer: ServerTransfer,
  result: FtpDataResult,
): void {
  s.transfer = undefined;
  if (result.ok) return s.reply(226, `Transfer complete${transfer.note}.`);
  switch (result.reason) {
    case "connect":
      return s.reply(425, "Cannot open the data connection.");
    case "tls":
      // RFC 4217 section 10.2: the data port is closed and 522 follows the 150.
      return s.reply(522, "TLS negotiation on the data connection failed.");
    case "tls-resumption":
      return s.reply(522, "The data connection must resume the control connection's TLS session.");
    case "broken":
      return s.reply(426, "Connection closed; transfer aborted.");
    case "truncated":
      // RFC 4217 sections 12.6 and 12.7: a protected transfer ends with a TLS shutdown.
      return s.reply(426, "Data connection closed without TLS close_notify; transfer aborted.");
    case "contested":
      return s.reply(426, "Another data connection came from your address; transfer aborted.");
    case "storage":
      return s.reply(result.code ?? 451, result.message ?? "Local error in processing.");
  }
}
