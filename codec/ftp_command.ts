import { FtpCodecError } from "./ftp_error.ts";

/** One FTP command (RFC 959 section 5.3): a verb and, for most verbs, an argument. */
export interface FtpCommand {
  /** The command code, upper case (`"RETR"`, `"AUTH"`, ...). */
  readonly verb: string;
  /** Everything after the space that follows the verb, as sent; absent when nothing follows. */
  readonly argument?: string;
}

/** The longest command line ftkit sends or accepts by default, without its CR LF. */
export const FTP_MAX_COMMAND_LENGTH = 4096;

const encoder = new TextEncoder();

/** Throws when `text` holds CR, LF or NUL: in a command they would end it or smuggle another. */
function checkCharacters(text: string, offset: number): void {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit === 13 || unit === 10 || unit === 0) {
      throw new FtpCodecError(
        "forbidden-character",
        offset + i,
        `${unit === 0 ? "NUL" : unit === 13 ? "CR" : "LF"} inside a command`,
      );
    }
  }
}

/**
 * Encodes a command line: `VERB SP argument CR LF` (RFC 959 section 4.1.3).
 *
 * @example
 * ```ts
 * import { encodeFtpCommand } from "@ftkit/ftkit/codec";
 *
 * const line = encodeFtpCommand({ verb: "retr", argument: "boot/kernel.img" });
 * console.log(new TextDecoder().decode(line)); // "RETR boot/kernel.img\r\n"
 * ```
 *
 * @param command The verb (3 or 4 letters, RFC 959 section 5.3.1, and up to three digits after them
 * for the checksum commands servers answer: `XSHA1`, `XSHA256`) and argument.
 * @param maxLength The longest line allowed, without CR LF (default 4096).
 * @returns The line's UTF-8 bytes.
 * @throws {FtpCodecError} For a bad verb, CR/LF/NUL in the argument, or a line too long.
 */
export function encodeFtpCommand(
  command: FtpCommand,
  maxLength: number = FTP_MAX_COMMAND_LENGTH,
): Uint8Array {
  if (!/^[A-Za-z]{3,4}[0-9]{0,3}$/.test(command.verb)) {
    throw new FtpCodecError(
      "invalid-verb",
      0,
      `Verb must be 3 or 4 letters (and up to 3 digits): "${command.verb}"`,
    );
  }
  const verb = command.verb.toUpperCase();
  const argument = command.argument;
  if (argument !== undefined) checkCharacters(argument, verb.length + 1);
  const line = argument === undefined ? verb : `${verb} ${argument}`;
  const bytes = encoder.encode(`${line}\r\n`);
  if (bytes.length - 2 > maxLength) {
    throw new FtpCodecError("line-too-long", maxLength, `Command longer than ${maxLength} bytes`);
  }
  return bytes;
}

/**
 * Decodes one command line (its CR LF already removed, as {@linkcode FtpLineReader} gives it).
 * The verb is made upper case (RFC 959: commands are case-insensitive); the argument is kept as
 * sent, spaces included. A verb is letters, and may end in up to three digits: RFC 959's codes are
 * letters only, but the checksum commands servers answer are not (`XSHA1`, `XSHA256`).
 *
 * @example
 * ```ts
 * import { decodeFtpCommand } from "@ftkit/ftkit/codec";
 *
 * console.log(decodeFtpCommand("stor my file.txt")); // { verb: "STOR", argument: "my file.txt" }
 * console.log(decodeFtpCommand("PASV")); // { verb: "PASV" }
 * ```
 *
 * @param line The line.
 * @param maxLength The longest line accepted (default 4096).
 * @returns The command.
 * @throws {FtpCodecError} For an empty verb, or one that is not letters and then at most three
 * digits, CR/LF/NUL, or a line too long.
 */
export function decodeFtpCommand(
  line: string,
  maxLength: number = FTP_MAX_COMMAND_LENGTH,
): FtpCommand {
  if (line.length > maxLength) {
    throw new FtpCodecError("line-too-long", maxLength, `Command longer than ${maxLength} bytes`);
  }
  checkCharacters(line, 0);
  const space = line.indexOf(" ");
  const verb = space === -1 ? line : line.slice(0, space);
  if (!/^[A-Za-z]{1,16}[0-9]{0,3}$/.test(verb)) {
    throw new FtpCodecError("invalid-verb", 0, `Not a command verb: "${verb.slice(0, 20)}"`);
  }
  if (space === -1) return { verb: verb.toUpperCase() };
  return { verb: verb.toUpperCase(), argument: line.slice(space + 1) };
}
