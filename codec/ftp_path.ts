import { FtpCodecError } from "./ftp_error.ts";

/**
 * Reads the path from a 257 reply's text (RFC 959 appendix II): it is quoted, and a quote inside
 * it is doubled.
 *
 * @example
 * ```ts
 * import { parseFtpPath } from "@ftkit/ftkit/codec";
 *
 * console.log(parseFtpPath('"/usr/dm/"" odd" is current directory.')); // '/usr/dm/" odd'
 * ```
 *
 * @param text The reply text.
 * @returns The path.
 * @throws {FtpCodecError} `malformed-path` when no quoted path is there.
 */
export function parseFtpPath(text: string): string {
  const start = text.indexOf('"');
  if (start === -1) throw new FtpCodecError("malformed-path", 0, "No quoted path in the reply");
  let path = "";
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] !== '"') {
      path += text[i];
    } else if (text[i + 1] === '"') {
      path += '"';
      i++;
    } else {
      return path;
    }
  }
  throw new FtpCodecError("malformed-path", text.length, "The quoted path is not closed");
}

/**
 * The text of a 257 reply: the path quoted, quotes inside it doubled, then a comment.
 *
 * @example
 * ```ts
 * import { formatFtpPath } from "@ftkit/ftkit/codec";
 *
 * console.log(formatFtpPath('/a "b"', "created")); // '"/a ""b""" created'
 * ```
 *
 * @param path The path.
 * @param comment What follows it.
 * @returns The reply text.
 */
export function formatFtpPath(path: string, comment: string): string {
  return `"${path.replaceAll('"', '""')}" ${comment}`;
}
