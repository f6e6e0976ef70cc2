import { FtpCodecError } from "./ftp_error.ts";

/** One MLSD line or MLST entry (RFC 3659 section 7): facts about a file, and its name. */
export interface FtpFactsEntry {
  /** The pathname, as sent (it may hold spaces and semicolons). */
  readonly name: string;
  /** Fact name (lower case: RFC 3659 says they are case-insensitive) to value. */
  readonly facts: Readonly<Record<string, string>>;
}

/**
 * Reads one MLSD line or MLST entry: `fact=value;fact=value; pathname` (RFC 3659 section 7.2).
 * An MLST entry's leading space is allowed.
 *
 * @example
 * ```ts
 * import { parseFtpFacts } from "@ftkit/ftkit/codec";
 *
 * const entry = parseFtpFacts("Type=file;Size=1024;Modify=20261123103000; boot menu.cfg");
 * console.log(entry.name, entry.facts.type, entry.facts.size); // "boot menu.cfg" "file" "1024"
 * ```
 *
 * @param line The line.
 * @returns The facts and the name.
 * @throws {FtpCodecError} `malformed-facts` when there is no space before the name, or a fact
 * has no `=`.
 */
export function parseFtpFacts(line: string): FtpFactsEntry {
  // An MLST entry comes after one space; an MLSD line without facts starts with one. Tell them
  // apart by whether facts (a `=`) follow the space.
  const next = line.indexOf(" ", 1);
  const text = line.startsWith(" ") && next !== -1 && line.slice(1, next).includes("=")
    ? line.slice(1)
    : line;
  const shift = line.length - text.length;
  const space = text.indexOf(" ");
  if (space === -1) {
    throw new FtpCodecError("malformed-facts", shift, "No space between the facts and the name");
  }
  const facts: Record<string, string> = {};
  let offset = 0;
  for (const fact of text.slice(0, space).split(";")) {
    if (fact !== "") {
      const equals = fact.indexOf("=");
      if (equals <= 0) {
        throw new FtpCodecError("malformed-facts", shift + offset, `Not a fact: "${fact}"`);
      }
      facts[fact.slice(0, equals).toLowerCase()] = fact.slice(equals + 1);
    }
    offset += fact.length + 1;
  }
  return { name: text.slice(space + 1), facts };
}

/**
 * Writes one MLSD line (without CR LF): each fact as `name=value;`, a space, the name.
 *
 * @example
 * ```ts
 * import { formatFtpFacts } from "@ftkit/ftkit/codec";
 *
 * console.log(formatFtpFacts({ name: "a.txt", facts: { type: "file", size: "3" } }));
 * // "type=file;size=3; a.txt"
 * ```
 *
 * @param entry The facts and the name.
 * @returns The line.
 * @throws {FtpCodecError} When a fact value holds `;`, or anything holds CR, LF or NUL.
 */
export function formatFtpFacts(entry: FtpFactsEntry): string {
  let line = "";
  for (const [name, value] of Object.entries(entry.facts)) {
    if (/[;=\s]/.test(name) || /[;\r\n\0]/.test(value)) {
      throw new FtpCodecError("malformed-facts", line.length, `Fact ${name} cannot be written`);
    }
    line += `${name}=${value};`;
  }
  if (/[\r\n\0]/.test(entry.name)) {
    throw new FtpCodecError("forbidden-character", line.length + 1, "CR, LF or NUL in a name");
  }
  return `${line} ${entry.name}`;
}

/**
 * Reads a time value (RFC 3659 section 2.3): `YYYYMMDDHHMMSS` with optional `.sss` fractions,
 * always UTC. MDTM replies and the `modify`/`create` facts use it.
 *
 * @example
 * ```ts
 * import { parseFtpTime } from "@ftkit/ftkit/codec";
 *
 * console.log(parseFtpTime("20261123103000.5").toISOString()); // "2026-11-23T10:30:00.500Z"
 * ```
 *
 * @param value The value.
 * @returns The time.
 * @throws {FtpCodecError} `malformed-time` when it is not such a value or not a real date.
 */
export function parseFtpTime(value: string): Date {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/.exec(value.trim());
  if (!match) throw new FtpCodecError("malformed-time", 0, `Not YYYYMMDDHHMMSS: "${value}"`);
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const milliseconds = match[7] ? Math.floor(Number(`0.${match[7]}`) * 1000) : 0;
  const time = new Date(Date.UTC(year, month - 1, day, hour, minute, second, milliseconds));
  // Date.UTC rolls 31 February over into March: refuse what is not a real time. A leap second
  // (60) is allowed by RFC 3659; it is folded into the next minute.
  if (
    time.getUTCFullYear() !== year || time.getUTCMonth() !== month - 1 ||
    time.getUTCDate() !== day && second !== 60 || hour > 23 || minute > 59 || second > 60
  ) {
    throw new FtpCodecError("malformed-time", 0, `Not a real time: "${value}"`);
  }
  return time;
}

/**
 * Writes a time value (RFC 3659 section 2.3), UTC, with milliseconds when there are any.
 *
 * @example
 * ```ts
 * import { formatFtpTime } from "@ftkit/ftkit/codec";
 *
 * console.log(formatFtpTime(new Date("2026-11-23T10:30:00Z"))); // "20261123103000"
 * ```
 *
 * @param time The time.
 * @returns The value.
 */
export function formatFtpTime(time: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const base = `${pad(time.getUTCFullYear(), 4)}${pad(time.getUTCMonth() + 1)}${
    pad(time.getUTCDate())
  }${pad(time.getUTCHours())}${pad(time.getUTCMinutes())}${pad(time.getUTCSeconds())}`;
  const ms = time.getUTCMilliseconds();
  return ms === 0 ? base : `${base}.${pad(ms, 3)}`;
}

/**
 * Reads a decimal count of bytes: a SIZE reply (RFC 3659 section 4), a REST argument, a `size`
 * fact. Up to 2^53-1; never truncated.
 *
 * @example
 * ```ts
 * import { parseFtpNumber } from "@ftkit/ftkit/codec";
 *
 * console.log(parseFtpNumber("5368709120")); // 5368709120
 * ```
 *
 * @param text The digits.
 * @returns The number.
 * @throws {FtpCodecError} `malformed-number` for anything but 1-16 digits within range.
 */
export function parseFtpNumber(text: string): number {
  const digits = text.trim();
  if (!/^\d{1,16}$/.test(digits) || Number(digits) > Number.MAX_SAFE_INTEGER) {
    throw new FtpCodecError("malformed-number", 0, `Not a byte count: "${text.slice(0, 30)}"`);
  }
  return Number(digits);
}
