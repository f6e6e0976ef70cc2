// The command's help: one table of every command (its operands, options and examples), from which
// `--help`, `ftkit help TOPIC`, the lists of subcommands and the README's command reference are
// all made, so that they never disagree.

import { EXIT_CODES } from "./errors.ts";

/** The version of this build of ftkit. */
export const VERSION = "0.1.0";

/** One option of a command. */
export interface OptionDoc {
  /** The long name, without its dashes. */
  readonly name: string;
  /** The value's placeholder (`N`, `FILE`); absent for a flag. */
  readonly value?: string;
  /** Whether it may be given more than once. */
  readonly multiple?: boolean;
  /** A one-letter name, given with one dash (`-C`). */
  readonly short?: string;
  /** What it does, in one short line. */
  readonly help: string;
}

/** One command: `serve`, `tftp get`, ... */
export interface CommandDoc {
  /** Its words after `ftkit`. */
  readonly name: string;
  /** Its operands, as the synopsis shows them. */
  readonly operands: string;
  /** What it does, in one line (for the lists). */
  readonly summary: string;
  /** More about it, a few lines. */
  readonly description: readonly string[];
  /** Its options. */
  readonly options: readonly OptionDoc[];
  /** Examples, on loopback. */
  readonly examples: readonly string[];
}

/** A command that groups subcommands (`tftp`, `ftps`). */
export interface GroupDoc {
  /** Its word after `ftkit`. */
  readonly name: string;
  /** What its subcommands do, in one line. */
  readonly summary: string;
}

const quiet: OptionDoc = { name: "quiet", help: "print no progress and no summary, only errors" };
const quietServer: OptionDoc = { name: "quiet", help: "log no transfers, only errors" };

const tftpClient: readonly OptionDoc[] = [
  { name: "blksize", value: "N", help: "ask for N-byte blocks, 8-65464 (RFC 2348)" },
  { name: "windowsize", value: "N", help: "ask for N blocks per window, 1-65535 (RFC 7440)" },
  {
    name: "timeout",
    value: "S",
    help: "ask for a retransmission timeout of S s, 1-255 (RFC 2349)",
  },
  {
    name: "retries",
    value: "N",
    help: "retransmissions before giving up (default 3: no answer fails in about 7 s)",
  },
  { name: "netascii", help: "netascii mode (line ends converted), not octet" },
  quiet,
];

const ftpsClient: readonly OptionDoc[] = [
  { name: "tls", help: "explicit TLS (AUTH TLS) for an ftp:// URL; ftpes:// implies it" },
  { name: "user", value: "NAME[:PASS]", help: "log in as NAME (no PASS: see below)" },
  { name: "ca", value: "FILE", help: "trust the CA certificates in FILE (PEM)" },
  { name: "servername", value: "NAME", help: "the name the server's certificate must carry" },
  { name: "insecure", help: "skip certificate verification (test servers only)" },
  { name: "tls-max", value: "1.2|1.3", help: "the highest TLS version to offer" },
  { name: "active", help: "active mode: the server connects back (EPRT, PORT)" },
  { name: "timeout", value: "S", help: "the longest wait for a reply or data, in s (default 30)" },
  {
    name: "cert",
    value: "FILE",
    help: "a TLS client certificate (PEM) to log in with, with --key",
  },
  { name: "key", value: "FILE", help: "the client certificate's private key (PEM, unencrypted)" },
  {
    name: "proxy",
    value: "URL",
    help: "connect through socks5://, socks5h:// or http://[USER:PASS@]HOST[:PORT]",
  },
];

const verify: OptionDoc = {
  name: "verify",
  help: "compare the server's checksum (HASH, XSHA256...) with the bytes moved",
};

const ftpsRetry: OptionDoc = {
  name: "retry",
  value: "N",
  help: "N attempts in all (1-100): reconnect and go on after a lost connection",
};

const ftpsUrl = [
  "URL: ftps://[USER[:PASS]@]HOST[:PORT]/PATH is implicit TLS (port 990); ftpes://... and",
  "ftp://... --tls explicit TLS (AUTH TLS, port 21); ftp:// alone plain FTP. No user: the login",
  "~/.netrc ($NETRC) gives the host, else anonymous. No password: FTKIT_PASSWORD, ~/.netrc,",
  "then a prompt (none with --cert: the certificate may log in). --proxy carries the control",
  "and passive data connections (not --active); ALL_PROXY and ftp_proxy are not read.",
];

const serverTls: readonly OptionDoc[] = [
  { name: "cert", value: "FILE", help: "the server's certificate chain (PEM), with --key" },
  { name: "key", value: "FILE", help: "the certificate's private key (PEM)" },
  {
    name: "ca-out",
    value: "FILE",
    help: "write the ephemeral CA to FILE (default: a temporary file)",
  },
];

/** The FTPS server's session limits, of both commands that run one. */
const sessionLimits: readonly OptionDoc[] = [
  { name: "max-sessions", value: "N", help: "FTPS sessions at once (default 256)" },
  { name: "max-sessions-per-ip", value: "N", help: "per client address (default 10)" },
];

const serverLog: readonly OptionDoc[] = [
  {
    name: "log",
    value: "FILE",
    help: "append the FTPS server's log to FILE (-: standard output)",
  },
  {
    name: "log-format",
    value: "json|xferlog",
    help: "JSON lines, every entry (default); or xferlog(5), transfers",
  },
];

/** Where a server's bucket is, for an s3:// source. */
const s3Options: readonly OptionDoc[] = [
  {
    name: "s3-endpoint",
    value: "URL",
    help: "the S3 store (default: AWS_ENDPOINT_URL_S3, ~/.aws/config, AWS)",
  },
  {
    name: "s3-region",
    value: "R",
    help: "its region (default: AWS_REGION, ~/.aws/config, us-east-1)",
  },
  {
    name: "s3-profile",
    value: "P",
    help: "the profile of ~/.aws/credentials (default: AWS_PROFILE)",
  },
];

/** Every command, in the order the lists show them. */
export const COMMANDS: readonly CommandDoc[] = [
  {
    name: "serve",
    operands: "[DIR | s3://BUCKET/PREFIX]",
    summary: "serve a directory over TFTP and FTPS at once, read-only, on loopback",
    description: [
      "Serves DIR (default: the current directory) over TFTP (port 6969) and FTPS (explicit TLS,",
      "port 2121) on ADDR (default 127.0.0.1), with an ephemeral certificate unless --cert is",
      "given. Prints how to fetch a file with curl. Stops on Ctrl-C. Read-only unless",
      "--allow-write; uploads never replace files unless --allow-overwrite.",
      "s3://: the keys under PREFIX, signed with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      "(AWS_SESSION_TOKEN), else the profile's keys in ~/.aws/credentials, as the AWS CLI finds them.",
    ],
    options: [
      { name: "host", value: "ADDR", help: "listen on ADDR (default 127.0.0.1; 0.0.0.0: all)" },
      { name: "tftp-port", value: "N", help: "the TFTP port (default 6969)" },
      { name: "ftps-port", value: "N", help: "the FTPS port (default 2121)" },
      {
        name: "user",
        value: "NAME:PASS",
        multiple: true,
        help: "an FTPS user (default: ftkit, random password)",
      },
      ...serverTls,
      { name: "allow-write", help: "accept uploads of new files" },
      { name: "allow-overwrite", help: "let uploads replace existing files" },
      ...s3Options,
      ...sessionLimits,
      ...serverLog,
      quietServer,
    ],
    examples: [
      "ftkit serve .",
      "ftkit serve ./srv --tftp-port 6969 --ftps-port 2121",
      "ftkit serve s3://files/pub --s3-endpoint http://127.0.0.1:8080",
    ],
  },
  {
    name: "tftp serve",
    operands: "[DIR | s3://BUCKET/PREFIX]",
    summary: "serve a directory or an S3 bucket over TFTP",
    description: [
      "Serves DIR (default: .) or the keys under s3://BUCKET/PREFIX on ADDR:N (default 127.0.0.1:6969),",
      'read-only by default. Limits guard against forged requests ("unlimited" lifts one). s3:// signs',
      "with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else the keys in ~/.aws (as the AWS CLI).",
    ],
    options: [
      {
        name: "host",
        value: "ADDR",
        help: "listen on ADDR (default 127.0.0.1; all: 0.0.0.0, or :: for IPv6 too)",
      },
      { name: "port", value: "N", help: "listen on port N (default 6969; netboot: 69)" },
      { name: "allow-write", help: "accept uploads (WRQ) of new files" },
      { name: "allow-overwrite", help: "let uploads replace existing files" },
      { name: "single-port", help: "answer every transfer from the listening port (1 thread)" },
      {
        name: "workers",
        value: "N",
        help: "transfer threads (default: the core count; 1: none; s3://: 1 only)",
      },
      {
        name: "map-file",
        value: "FILE",
        help: "rewrite or refuse requested names by tftp-hpa's -m rules",
      },
      {
        name: "client-root",
        value: "CIDR=DIR",
        multiple: true,
        help: "serve clients in CIDR from DIR (the first match wins)",
      },
      { name: "client-roots-only", help: "refuse clients no --client-root matches" },
      { name: "unique-root", help: "serve from <root>/<client IP>/ when it exists (dnsmasq)" },
      { name: "case-insensitive", help: "find names whatever their ASCII case (Windows)" },
      { name: "backslashes", help: "read \\ in names as / (Windows, WDS)" },
      {
        name: "allow",
        value: "[read:|write:]CIDR",
        multiple: true,
        help: "serve only these networks (repeat)",
      },
      {
        name: "deny",
        value: "[read:|write:]CIDR",
        multiple: true,
        help: "refuse networks (repeat); denied both ways: no answer, else ERROR 2",
      },
      { name: "port-range", value: "LOW-HIGH", help: "the ports transfers are sent from" },
      {
        name: "max-blksize",
        value: "N",
        help: "the largest blksize granted, 8-65464 (--single-port: 512)",
      },
      {
        name: "max-windowsize",
        value: "N",
        help: "the largest windowsize granted, 1-65535 (--single-port: 1)",
      },
      { name: "max-transfers", value: "N", help: "transfers at once (default 256)" },
      { name: "max-transfers-per-client", value: "N", help: "per client address (default 16)" },
      {
        name: "request-rate",
        value: "N",
        help: "unanswered requests per second per address (default 10)",
      },
      { name: "request-burst", value: "N", help: "requests allowed at once (default 20)" },
      {
        name: "first-reply-retransmits",
        value: "N",
        help: "repeats of a first reply not yet answered (default 0)",
      },
      {
        name: "max-write-size",
        value: "BYTES",
        help: "the largest upload (default 1073741824)",
      },
      { name: "log", value: "FILE", help: "append each transfer to FILE as JSON (-: stdout)" },
      ...s3Options,
      quietServer,
    ],
    examples: [
      "ftkit tftp serve ./tftpboot --allow-write --allow write:127.0.0.1 --log tftp.log",
      "ftkit tftp serve s3://netboot/images --s3-endpoint http://127.0.0.1:8080",
    ],
  },
  {
    name: "tftp get",
    operands: "HOST[:PORT] REMOTE [LOCAL]",
    summary: "download a file from a TFTP server",
    description: [
      'Downloads REMOTE to LOCAL (default: its base name; "-" writes to standard output). The',
      "file is written aside and takes LOCAL's name only when whole. PORT defaults to 69; an",
      "IPv6 address takes brackets before one ([::1]:6969).",
    ],
    options: tftpClient,
    examples: [
      "ftkit tftp get 127.0.0.1:6969 boot.img",
      "ftkit tftp get 127.0.0.1:6969 pxelinux.0 - --blksize 1468 --windowsize 16 > pxelinux.0",
    ],
  },
  {
    name: "tftp put",
    operands: "HOST[:PORT] LOCAL [REMOTE]",
    summary: "upload a file to a TFTP server",
    description: [
      "Uploads LOCAL as REMOTE (default: its base name). PORT defaults to 69; an IPv6 address",
      "takes brackets before one ([::1]:6969).",
    ],
    options: tftpClient,
    examples: ["ftkit tftp put 127.0.0.1:6969 ./r1.cfg configs/r1.cfg"],
  },
  {
    name: "tftp decode",
    operands: "HEX",
    summary: "decode one TFTP datagram given in hex, print it as JSON",
    description: ["Spaces and colons may separate the hex digits."],
    options: [],
    examples: ["ftkit tftp decode 00040001"],
  },
  {
    name: "tftp encode",
    operands: "JSON",
    summary: "encode a TFTP packet given as JSON, print the datagram in hex",
    description: ["A DATA packet's bytes are given in hex."],
    options: [],
    examples: [`ftkit tftp encode '{"type":"ack","block":1}'`],
  },
  {
    name: "ftps serve",
    operands: "[DIR]",
    summary: "serve a directory or an S3 bucket over FTPS",
    description: [
      "Serves DIR over FTPS on ADDR:N (default 127.0.0.1:2121, or 9990 with --implicit). TLS is",
      "required before login and on data. Read-only unless --allow-write; uploads and renames never",
      "replace files unless --allow-overwrite; MFMT sets times where writes are allowed. --hash and",
      '--site-chmod are off by default. Without --user, the user "ftkit" gets a random password',
      "(printed). Without --cert, an ephemeral CA and certificate are made; clients trust the CA",
      "(--ca-out), whose fingerprint is printed. A protected upload is kept only when the client ends",
      "it with TLS close_notify. SIGHUP reloads --cert/--key; SIGTERM lets transfers finish, exits 0.",
      "--log appends an audit log: each session, login, transfer (its path as the client sees it, its",
      "bytes and outcome), delete, rename, mkdir and rmdir, tagged with a session id.",
      "Behind NAT or a load balancer: --passive-host (CIDR= alone keeps the server's own address for",
      "CIDR) and --proxy-protocol (HAProxy's send-proxy or send-proxy-v2 in front).",
      "--storage s3://BUCKET/PREFIX serves a bucket instead of DIR (users' roots: prefixes under it),",
      "keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else ~/.aws (as the AWS CLI).",
    ],
    options: [
      {
        name: "config",
        value: "FILE",
        help: "read settings from FILE (JSON, see README); flags override it",
      },
      {
        name: "storage",
        value: "s3://BUCKET/PREFIX",
        help: "serve a bucket's keys under PREFIX instead of DIR",
      },
      ...s3Options,
      { name: "host", value: "ADDR", help: "listen on ADDR (default 127.0.0.1; 0.0.0.0: all)" },
      { name: "port", value: "N", help: "listen on port N (default 2121, 9990 with --implicit)" },
      {
        name: "user",
        value: "NAME:PASS",
        multiple: true,
        help: "a user (repeat for more); PASS may be a hash (ftps passwd)",
      },
      { name: "implicit", help: "implicit TLS (TLS from the first byte, ftps://)" },
      ...serverTls,
      { name: "allow-write", help: "accept uploads and other changes" },
      { name: "allow-overwrite", help: "let uploads and renames replace existing files" },
      { name: "anonymous", help: "accept anonymous logins (read-only)" },
      { name: "allow-ccc", help: "accept CCC (clear the control connection after login)" },
      { name: "hash", help: "serve HASH, XCRC, XMD5, XSHA1, XSHA256 (files up to 1 GiB)" },
      { name: "site-chmod", help: "serve SITE CHMOD (octal 0-777) to users who may write" },
      { name: "passive-ports", value: "LOW-HIGH", help: "the ports passive mode listens on" },
      {
        name: "passive-host",
        value: "[CIDR=]HOST",
        multiple: true,
        help: "IPv4 address or name PASV gives (to CIDR; first match wins)",
      },
      {
        name: "proxy-protocol",
        value: "CIDR",
        multiple: true,
        help: "proxies whose PROXY protocol header gives the client's address",
      },
      {
        name: "data-through-proxy",
        help: "take passive data connections from those proxies too",
      },
      {
        name: "require-resumption",
        help: "refuse data connections that do not resume the TLS session (522)",
      },
      ...sessionLimits,
      { name: "max-sessions-per-user", value: "N", help: "per user (default: no limit)" },
      { name: "allow", value: "CIDR", multiple: true, help: "serve only these networks (repeat)" },
      { name: "deny", value: "CIDR", multiple: true, help: "refuse these networks (repeat)" },
      { name: "upload-rate", value: "RATE", help: "all uploads together, bytes/s (K, M, G)" },
      { name: "download-rate", value: "RATE", help: "all downloads together, bytes/s" },
      { name: "user-upload-rate", value: "RATE", help: "each user's uploads, bytes/s" },
      { name: "user-download-rate", value: "RATE", help: "each user's downloads, bytes/s" },
      { name: "quota-bytes", value: "SIZE", help: "each user's storage quota, bytes (K, M, G, T)" },
      { name: "quota-files", value: "N", help: "each user's storage quota, files" },
      { name: "idle-timeout", value: "S", help: "close idle sessions after S s (default 300)" },
      { name: "login-timeout", value: "S", help: "time to log in, in s (default 60)" },
      {
        name: "allow-missing-close-notify",
        help: "keep protected uploads ended without close_notify",
      },
      ...serverLog,
      { name: "systemd", help: "serve the socket systemd passes (socket activation, fd 3)" },
      {
        name: "shutdown-grace",
        value: "S",
        help: "on SIGTERM, let transfers finish for up to S s (default 30)",
      },
      quietServer,
    ],
    examples: [
      "ftkit ftps serve ./srv --allow-write --log /var/log/ftkit.xferlog --log-format xferlog",
      "ftkit ftps serve --storage s3://files/ftp --s3-endpoint http://127.0.0.1:8080 --allow-write",
      "ftkit ftps serve --config /etc/ftkit/ftps.json --systemd",
    ],
  },
  {
    name: "ftps passwd",
    operands: "",
    summary: "print a password hash for a user of ftps serve",
    description: [
      "Reads a password (FTKIT_PASSWORD; else asked twice on a terminal, not echoed; else",
      "standard input, one line) and prints its hash, for passwordHash in a --config file or",
      "--user NAME:HASH. scrypt (N=16384, r=8, p=1) unless --algorithm pbkdf2-sha256.",
    ],
    options: [
      {
        name: "algorithm",
        value: "NAME",
        help: "scrypt (default) or pbkdf2-sha256 (600000 iterations)",
      },
    ],
    examples: ["ftkit ftps passwd", "ftkit ftps passwd --algorithm pbkdf2-sha256 < password.txt"],
  },
  {
    name: "ftps ls",
    operands: "URL",
    summary: "list a directory on an FTP(S) server",
    description: ['Prints one name a line, directories with a trailing "/".', ...ftpsUrl],
    options: [...ftpsClient, { name: "long", help: "type, size and time of each entry" }],
    examples: ["ftkit ftps ls ftp://fred:secret@127.0.0.1:2121/ --tls --ca ca.pem"],
  },
  {
    name: "ftps get",
    operands: "URL [LOCAL]",
    summary: "download a file from an FTP(S) server",
    description: [
      'Downloads to LOCAL (default: its base name; "-" writes to standard output), written',
      "aside and renamed into place when whole.",
      ...ftpsUrl,
    ],
    options: [
      ...ftpsClient,
      { name: "preserve", help: "give LOCAL the remote file's modification time (MDTM)" },
      verify,
      ftpsRetry,
      {
        name: "continue",
        short: "C",
        help: "continue LOCAL.ftkit-part (kept by a failed -C get) from its size",
      },
      quiet,
    ],
    examples: [
      "ftkit ftps get ftp://fred:secret@127.0.0.1:2121/boot.img --tls --ca ca.pem",
      "ftkit ftps get ftpes://127.0.0.1:2121/boot.img - --user fred --ca ca.pem",
      "ftkit ftps get ftpes://127.0.0.1:2121/big.iso --retry 5 -C --ca ca.pem",
    ],
  },
  {
    name: "ftps put",
    operands: "LOCAL URL",
    summary: "upload a file to an FTP(S) server",
    description: [
      "Uploads LOCAL to the URL's path (a path ending in \"/\" keeps LOCAL's name).",
      ...ftpsUrl,
    ],
    options: [
      ...ftpsClient,
      { name: "preserve", help: "give the remote file LOCAL's modification time (MFMT...)" },
      verify,
      ftpsRetry,
      {
        name: "continue",
        short: "C",
        help: "continue the remote file from its size (REST), like curl -C -",
      },
      quiet,
    ],
    examples: [
      "ftkit ftps put ./r1.cfg ftp://fred:secret@127.0.0.1:2121/configs/ --tls --ca ca.pem",
      "ftkit ftps put ./big.iso ftpes://127.0.0.1:2121/pub/ --retry 5 --continue --ca ca.pem",
    ],
  },
  {
    name: "ftps hash",
    operands: "URL",
    summary: "print a file's checksum, computed by an FTP(S) server",
    description: [
      "Prints the digest and the path, as sha256sum does. The server computes it: HASH",
      "(draft-bryan-ftpext-hash), else XSHA256, XSHA1, XMD5 or XCRC; none is exit code 1.",
      ...ftpsUrl,
    ],
    options: [
      ...ftpsClient,
      { name: "algorithm", value: "ALG", help: "sha256 (default), sha1, md5 or crc32" },
    ],
    examples: ["ftkit ftps hash ftpes://127.0.0.1:2121/boot.img --user fred --ca ca.pem"],
  },
  {
    name: "ftps mirror",
    operands: "SOURCE DESTINATION",
    summary: "mirror a directory tree between an FTP(S) server and a local directory",
    description: [
      "SOURCE or DESTINATION is a URL (the server's directory), the other a local directory: URL",
      "first downloads, URL last uploads. A file is copied when missing, of another size, or newer",
      "at the source (MLSD times, else MDTM); downloads are renamed into place when whole and get",
      'the server\'s time. Links are skipped; names with "/", "\\", control bytes, "." or ".." are',
      "refused. Each step is printed, then a summary; exit 1 when a file failed. GLOB: *, ?, **,",
      '[a-z]; without "/" it matches a name at any depth, with "/" the path from the top.',
      ...ftpsUrl,
    ],
    options: [
      ...ftpsClient,
      { name: "delete", help: "remove what the source does not have (excluded entries stay)" },
      { name: "dry-run", help: "only print what would be done" },
      { name: "only-newer", help: "copy only files missing or newer at the source" },
      { name: "include", value: "GLOB", multiple: true, help: "take only matching files" },
      { name: "exclude", value: "GLOB", multiple: true, help: "leave matching files and dirs out" },
      { name: "parallel", value: "N", help: "move N files at once, 1-16 connections (default 1)" },
      verify,
      ftpsRetry,
      quiet,
    ],
    examples: [
      "ftkit ftps mirror ftpes://127.0.0.1:2121/boot ./boot --user fred --ca ca.pem --parallel 4",
      "ftkit ftps mirror ./site ftpes://127.0.0.1:2121/www --user fred --ca ca.pem --delete",
    ],
  },
];

/** The commands that group subcommands. */
export const GROUPS: readonly GroupDoc[] = [
  { name: "tftp", summary: "serve, get and put files over TFTP; decode and encode datagrams" },
  {
    name: "ftps",
    summary: "serve, list, get, put, mirror and checksum files over FTPS; hash passwords",
  },
];

/** The help topics that are not commands. */
export const TOPICS: readonly string[] = ["exit-codes"];

/** The command named `name` (`"tftp get"`). */
export function commandDoc(name: string): CommandDoc {
  const doc = COMMANDS.find((command) => command.name === name);
  if (!doc) throw new Error(`No command ${name}`);
  return doc;
}

/** The subcommands of `group` (`"tftp"`), by their last word. */
export function subcommands(group: string): CommandDoc[] {
  return COMMANDS.filter((command) => command.name.startsWith(`${group} `));
}

const helpOption: OptionDoc = { name: "help", help: "show this help" };

/** `ftkit NAME OPERANDS` (without a space when it takes none). */
function synopsis(doc: CommandDoc): string {
  return `ftkit ${doc.name}${doc.operands ? ` ${doc.operands}` : ""}`;
}

/** `--name VALUE`, or `-h, --help`. */
function optionLabel(option: OptionDoc): string {
  const long = `--${option.name}${option.value ? ` ${option.value}` : ""}`;
  if (option === helpOption) return `-h, ${long}`;
  return option.short ? `-${option.short}, ${long}` : long;
}

/** Rows of two columns, the first padded to the widest. */
function table(rows: readonly (readonly [string, string])[], indent = "  "): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`.trimEnd());
}

/** What `ftkit COMMAND --help` prints. */
export function commandHelp(doc: CommandDoc): string {
  const options = [...doc.options, helpOption];
  return [
    `ftkit ${doc.name}: ${doc.summary}`,
    "",
    `Usage: ${synopsis(doc)}${doc.options.length > 0 ? " [OPTIONS]" : ""}`,
    "",
    ...doc.description,
    "",
    "Options:",
    ...table(options.map((option) => [optionLabel(option), option.help])),
    "",
    doc.examples.length > 1 ? "Examples:" : "Example:",
    ...doc.examples.map((example) => `  ${example}`),
    "",
    "Exit codes: ftkit help exit-codes",
  ].join("\n");
}

/** The lines listing `commands` with their summaries, each name without `prefix`, and `more`. */
export function commandList(
  commands: readonly CommandDoc[],
  prefix: string,
  more: readonly (readonly [string, string])[] = [],
): string[] {
  return table([
    ...commands.map((doc) => [doc.name.slice(prefix.length), doc.summary] as const),
    ...more,
  ]);
}

/** What `ftkit tftp --help` (or `ftps`) prints. */
export function groupHelp(group: GroupDoc): string {
  return [
    `ftkit ${group.name}: ${group.summary}`,
    "",
    `Usage: ftkit ${group.name} COMMAND [ARGS]`,
    "",
    "Commands:",
    ...commandList(subcommands(group.name), `${group.name} `),
    "",
    `Run 'ftkit ${group.name} COMMAND --help' for a command's options.`,
  ].join("\n");
}

/** What `ftkit --help` prints. */
export function mainHelp(): string {
  return [
    `ftkit ${VERSION}: TFTP and FTPS toolkit`,
    "",
    "Usage: ftkit COMMAND [ARGS]",
    "",
    "Commands:",
    ...commandList(COMMANDS, "", [
      ["help [TOPIC]", "help on a command (ftkit help tftp get), or on exit-codes"],
    ]),
    "",
    "Options: -h, --help (also after any command), --version",
    "",
    "Examples:",
    "  ftkit serve .",
    "  ftkit tftp get 127.0.0.1:6969 boot.img",
    "  ftkit ftps get ftp://ftkit:PASS@127.0.0.1:2121/boot.img --tls --ca ca.pem",
    "",
    "Run 'ftkit COMMAND --help' for a command's options, 'ftkit help exit-codes' for exit codes.",
  ].join("\n");
}

/** What `ftkit help exit-codes` prints. */
export function exitCodesHelp(): string {
  return [
    "ftkit exit codes (curl's numbers where curl has the class):",
    "",
    ...table(EXIT_CODES.map(({ code, meaning }) => [String(code), meaning])),
  ].join("\n");
}

/**
 * The README's command reference, a Markdown code block: every command's synopsis, options and
 * examples, then the exit codes. The README holds it between its two markers, and a test checks that it is
 * this text.
 */
export function commandReference(): string {
  const lines = ["```"];
  for (const doc of COMMANDS) {
    lines.push(synopsis(doc));
    lines.push(...doc.description.map((line) => `    ${line}`));
    if (doc.options.length > 0) {
      lines.push(...table(doc.options.map((option) => [optionLabel(option), option.help]), "  "));
    }
    lines.push(...doc.examples.map((example) => `  $ ${example}`), "");
  }
  lines.push("ftkit help [TOPIC]      ftkit COMMAND --help      ftkit --version", "");
  lines.push(exitCodesHelp(), "```");
  return lines.join("\n");
}

/** The README line before the generated reference. */
export const REFERENCE_BEGIN =
  "<!-- The command reference: generated from cli/help.ts by scripts/cli_reference.ts -->";
/** The README line after it. */
export const REFERENCE_END = "<!-- End of the generated command reference -->";

/** `readme` with the text between its reference markers replaced by {@linkcode commandReference}. */
export function withReference(readme: string): string {
  const begin = readme.indexOf(REFERENCE_BEGIN);
  const end = readme.indexOf(REFERENCE_END);
  if (begin === -1 || end < begin) throw new Error("README.md lacks the reference's markers");
  return `${readme.slice(0, begin + REFERENCE_BEGIN.length)}\n\n${commandReference()}\n\n${
    readme.slice(end)
  }`;
}
