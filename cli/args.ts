// The command line's words: the version, the usage text, usage errors, and reading options and
// numbers out of the arguments.

import { parseArgs } from "node:util";

/** The version of this build of ftkit. */
export const VERSION = "0.1.0";

/** The usage text `--help` prints, and a usage error after its one line. */
export const USAGE: string = `ftkit ${VERSION}: TFTP and FTPS toolkit

Usage:
  ftkit serve [DIR] [--host ADDR] [--tftp-port N] [--ftps-port N] [--user NAME:PASS]
              [--cert FILE --key FILE] [--allow-write] [--allow-overwrite] [--quiet]
      Serve DIR (default: the current directory) over TFTP (default port 6969) and FTPS
      (explicit TLS, default port 2121) at once, on ADDR (default 127.0.0.1).
      Read-only unless --allow-write; uploads never replace files unless --allow-overwrite.
  ftkit tftp serve [DIR] [--host ADDR] [--port N] [--allow-write] [--allow-overwrite]
                   [--single-port] [--max-blksize N] [--max-windowsize N] [--quiet]
                   [--max-transfers N] [--max-transfers-per-client N] [--request-rate N]
                   [--request-burst N] [--first-reply-retransmits N] [--max-write-size BYTES]
      Serve DIR (default: the current directory) on ADDR:N (default 127.0.0.1:6969).
      Read-only unless --allow-write; uploads never replace files unless --allow-overwrite.
      Limits against forged requests (defaults): 256 transfers at once, 16 per client
      address, 10 unanswered requests per second per address after a burst of 20, the first
      reply sent once until the client answers, uploads up to 1073741824 bytes; "unlimited"
      lifts a limit. --single-port holds reads to blksize 512 and windowsize 1 unless
      --max-blksize or --max-windowsize are given.
  ftkit tftp get HOST[:PORT] REMOTE [LOCAL] [--blksize N] [--windowsize N] [--timeout S]
                 [--retries N] [--netascii]
      Download REMOTE to LOCAL (default: its base name; "-" writes to standard output). The
      file is written aside and takes LOCAL's name only when whole.
  ftkit tftp put HOST[:PORT] LOCAL [REMOTE] [--blksize N] [--windowsize N] [--timeout S]
                 [--retries N] [--netascii]
      Upload LOCAL as REMOTE (default: its base name). --retries: retransmissions before
      giving up (default 6).
  ftkit tftp decode HEX     Decode one TFTP datagram given in hex and print it as JSON
  ftkit tftp encode JSON    Encode a TFTP packet given as JSON and print the datagram in hex
  ftkit ftps serve [DIR] [--host ADDR] [--port N] [--user NAME:PASS]... [--implicit]
                   [--cert FILE --key FILE] [--allow-write] [--allow-overwrite] [--anonymous]
                   [--allow-ccc] [--passive-ports LOW-HIGH] [--passive-host ADDR]
                   [--require-resumption] [--max-sessions N] [--max-sessions-per-ip N]
                   [--idle-timeout S] [--login-timeout S] [--allow-missing-close-notify]
                   [--ca-out FILE] [--quiet]
      Serve DIR over FTPS on ADDR:N (default 127.0.0.1:2121, or :9990 with --implicit). TLS is
      required before login and on data (PROT P). Read-only unless --allow-write; uploads
      (STOR, APPE, resuming) and renames never change existing files unless --allow-overwrite.
      Without --user, the user "ftkit" gets a random password (printed). Without --cert, an
      ephemeral CA and certificate are made for this run: the CA goes to --ca-out (default: a
      file in the temporary directory), for clients to trust, and its fingerprint is printed.
      Limits: 256 sessions, 10 per address (--max-sessions, --max-sessions-per-ip); a login
      within 60 s (--login-timeout), 300 s of idleness (--idle-timeout). A protected upload is
      kept only when the client ends it with TLS close_notify (--allow-missing-close-notify
      for clients that do not); --require-resumption refuses data connections that do not
      resume the control connection's TLS session (522; Python's ftplib cannot).
  ftkit ftps ls URL [--long]
      List a directory.
  ftkit ftps get URL [LOCAL]
      Download a file to LOCAL (default: its base name; "-" writes to standard output).
  ftkit ftps put LOCAL URL
      Upload LOCAL to the URL's path (a path ending in "/" keeps LOCAL's name).
    URL: ftps://[USER[:PASS]@]HOST[:PORT]/PATH is implicit TLS (port 990);
         ftp://[USER[:PASS]@]HOST[:PORT]/PATH is explicit TLS (AUTH TLS, port 21) with --tls,
         plain FTP without it. Without a user, the login is anonymous.
    FTPS options: [--tls] [--user NAME[:PASS]] [--ca FILE] [--servername NAME] [--insecure]
                  [--tls-max 1.2|1.3] [--active] [--timeout S]
      --insecure skips certificate verification (test servers only).
  ftkit --help | --version

Examples:
  ftkit serve ./srv
  ftkit tftp serve ./tftpboot --host 0.0.0.0 --port 69
  ftkit ftps serve ./srv --user fred:secret --cert server.pem --key server.key --allow-write
  ftkit tftp get 127.0.0.1:6969 pxelinux.0 --blksize 1468 --windowsize 16
  ftkit ftps get ftp://fred:secret@127.0.0.1/pub/firmware.bin --tls --ca ca.pem
  ftkit ftps put ./r1.cfg ftps://fred@127.0.0.1/configs/ --user fred:secret
`;

/** A command line the command does not take: reported with the usage text, exit code 2. */
export class UsageError extends Error {}

/** Options of one command, for `node:util`'s `parseArgs`. */
export type OptionSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/** What {@linkcode parse} read: the options by name, and the other arguments in order. */
export interface ParsedArgs {
  /** Each option given, by its long name. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** The arguments that are not options. */
  positionals: string[];
}

/** Reads `args` against `options` (strictly); an unknown or malformed option is a usage error. */
export function parse(args: string[], options: OptionSpec): ParsedArgs {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The whole number an option gives (undefined when not given); anything else is a usage error. */
export function integer(name: string, value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  if (!/^[0-9]+$/.test(value)) {
    throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  }
  return Number(value);
}

/** A limit: a whole number, or "unlimited" (Infinity). */
export function limit(name: string, value: unknown): number | undefined {
  if (value === "unlimited") return Infinity;
  if (typeof value === "string" && !/^[0-9]+$/.test(value)) {
    throw new UsageError(`--${name} must be a whole number or "unlimited", got "${value}"`);
  }
  return integer(name, value);
}
