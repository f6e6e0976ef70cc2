// `ftkit tftp serve --log FILE`: each transfer the server ended or refused, one line of JSON
// each, appended to FILE without holding up a transfer, and flushed and closed when it stops.

import type { TftpTransferRecord } from "../tftp/mod.ts";
import { lineSink } from "../io/line_sink.ts";

/** A transfer log: lines written in order; `close()` waits for them, then closes the file. */
export interface TftpLog {
  /** Writes a transfer's line. */
  write(record: TftpTransferRecord): void;
  /** Waits for what is pending, then closes the file. */
  close(): Promise<void>;
}

/** One line of the log, as an object: when, who, which file, how, how much, and what came of it. */
export interface TftpLogEntry {
  /** When the line was written (ISO 8601, UTC). */
  time: string;
  /** The client's address. */
  client: string;
  /** The client's port. */
  port: number;
  /** `read` (RRQ) or `write` (WRQ). */
  direction: "read" | "write";
  /** The file name the client sent. */
  file: string;
  /** The file name after remapping (the client's when it was refused before). */
  resolvedFile: string;
  /** The transfer mode. */
  mode: string;
  /** The options the server acknowledged (OACK); absent when refused before negotiation. */
  options?: Record<string, number>;
  /** File bytes moved. */
  bytes: number;
  /** How long it took, in ms. */
  durationMs: number;
  /** Datagrams sent again. */
  retransmits: number;
  /** `complete`, `failed` or `refused`. */
  outcome: TftpTransferRecord["outcome"];
  /** Why it was refused (`denied`: by --allow and --deny). */
  reason?: string;
  /** The TFTP error sent or received, when there was one. */
  error?: { code: number; message: string };
}

/**
 * The log's entry for a record. Names go through JSON, whose escapes keep a control character in
 * a file name from starting a line of its own.
 *
 * @param record What the server reported.
 * @param time When.
 * @returns The entry.
 */
export function tftpLogEntry(record: TftpTransferRecord, time: Date): TftpLogEntry {
  const options = record.parameters?.options;
  return {
    time: time.toISOString(),
    client: record.peer.address,
    port: record.peer.port,
    direction: record.type === "rrq" ? "read" : "write",
    file: record.filename,
    resolvedFile: record.resolvedFilename,
    mode: record.mode,
    ...(options ? { options: { ...options } as Record<string, number> } : {}),
    bytes: record.bytes,
    durationMs: Math.round(record.durationMs),
    retransmits: record.retransmits,
    outcome: record.outcome,
    ...(record.reason ? { reason: record.reason } : {}),
    ...(record.error ? { error: { code: record.error.code, message: record.error.message } } : {}),
  };
}

/**
 * Opens a transfer log: FILE appended to (created with mode 0600), or lines to a function.
 *
 * @param sink The file's path, or a function that takes each line.
 * @param onError Where a failure to write goes (the first; later lines are still tried).
 * @param now The clock.
 * @returns The log.
 * @throws {Error} When the file cannot be opened for appending.
 */
export function tftpJsonLog(
  sink: string | ((line: string) => void),
  onError: (error: Error) => void,
  now: () => Date = () => new Date(),
): TftpLog {
  const lines = lineSink(sink, onError);
  return {
    write: (record) => lines.push(JSON.stringify(tftpLogEntry(record, now()))),
    close: () => lines.close(),
  };
}
