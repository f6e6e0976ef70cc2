/**
 * Ephemeral TLS material for an FTPS server that was given none: a CA certificate and a leaf
 * (server) certificate signed by it, both ECDSA P-256 with SHA-256, built in-process with WebCrypto
 * and a small DER encoder (X.509 v3, RFC 5280). The server presents the leaf; clients trust the CA.
 * A CA plus a leaf rather than one self-signed certificate, because some TLS stacks (Deno's native
 * TLS among them) refuse a self-signed certificate used as its own trust anchor.
 *
 * @module
 */

/**
 * Options of {@linkcode createFtpsCertificate}.
 *
 * @example
 * ```ts
 * import { createFtpsCertificate, type FtpsCertificateOptions } from "@ftkit/ftkit/ftps";
 *
 * const options: FtpsCertificateOptions = {
 *   names: ["ftp.example.test", "192.0.2.10", "2001:db8::10"],
 *   days: 1,
 *   caName: "Lab CA",
 * };
 * const { certPem } = await createFtpsCertificate(options);
 * ```
 */
export interface FtpsCertificateOptions {
  /**
   * DNS names and IP addresses the leaf is valid for (default `["localhost", "127.0.0.1", "::1"]`).
   * The first one is also the leaf's subject common name.
   */
  names?: readonly string[];
  /**
   * Validity in days (default 30): both certificates expire this many days after `notBefore` when
   * it is given, else this many days from now.
   */
  days?: number;
  /** The start of validity (default: now - 1 hour, for clock skew). */
  notBefore?: Date;
  /** Common name of the CA (default `"ftkit ephemeral CA"`, at most 64 characters). */
  caName?: string;
}

/**
 * A CA certificate, a leaf certificate it signed, and the leaf's private key, all PEM.
 *
 * @example
 * ```ts ignore
 * import { createServer } from "node:tls";
 * import { createFtpsCertificate, type FtpsCertificate } from "@ftkit/ftkit/ftps";
 *
 * const generated: FtpsCertificate = await createFtpsCertificate();
 * createServer({ cert: generated.certPem, key: generated.keyPem }).listen(990, "127.0.0.1");
 * console.log(`Trust this CA:\n${generated.caPem}`);
 * console.log(`Server certificate SHA-256 ${generated.fingerprint}`);
 * ```
 */
export interface FtpsCertificate {
  /** The CA certificate, PEM: what clients trust (`curl --cacert`, a `ca` option). */
  readonly caPem: string;
  /** The leaf certificate, PEM (the chain is the leaf only; clients need the CA). */
  readonly certPem: string;
  /** The leaf's private key, PKCS#8 PEM. */
  readonly keyPem: string;
  /**
   * SHA-256 fingerprint of the leaf certificate's DER, as colon-separated uppercase hex
   * (`AA:BB:...`), the way `openssl x509 -fingerprint -sha256` prints it.
   */
  readonly fingerprint: string;
  /** SHA-256 fingerprint of the CA certificate's DER, in the same form as `fingerprint`. */
  readonly caFingerprint: string;
}

type Bytes = Uint8Array<ArrayBuffer>;
/** WebCrypto's CryptoKey, named through `crypto.subtle` so that no DOM typings are needed. */
type SigningKey = Parameters<typeof crypto.subtle.sign>[1];

const DEFAULT_NAMES: readonly string[] = ["localhost", "127.0.0.1", "::1"];
const DEFAULT_DAYS = 30;
const DEFAULT_CA_NAME = "ftkit ephemeral CA";
const CLOCK_SKEW_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** ub-common-name (RFC 5280 appendix A.1). */
const MAX_COMMON_NAME = 64;

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// DER (X.690), only what the certificates below need.

/** One TLV; the length in short form up to 127, else long form (X.690 section 8.1.3). */
function tlv(tag: number, ...contents: readonly Uint8Array[]): Bytes {
  let length = 0;
  for (const part of contents) length += part.length;
  const lengthBytes: number[] = [];
  if (length < 0x80) {
    lengthBytes.push(length);
  } else {
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) {
      lengthBytes.unshift(rest & 0xff);
    }
    lengthBytes.unshift(0x80 | lengthBytes.length);
  }
  const out = new Uint8Array(1 + lengthBytes.length + length);
  out[0] = tag;
  out.set(lengthBytes, 1);
  let offset = 1 + lengthBytes.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function sequence(...items: readonly Uint8Array[]): Bytes {
  return tlv(0x30, ...items);
}

function set(...items: readonly Uint8Array[]): Bytes {
  return tlv(0x31, ...items);
}

function boolean(value: boolean): Bytes {
  return tlv(0x01, Uint8Array.of(value ? 0xff : 0x00));
}

/** A non-negative INTEGER from its big-endian magnitude, in the minimal two's-complement form. */
function integer(magnitude: Uint8Array): Bytes {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.length === 0 ? Uint8Array.of(0) : magnitude.subarray(start);
  return (trimmed[0] & 0x80) !== 0 ? tlv(0x02, Uint8Array.of(0), trimmed) : tlv(0x02, trimmed);
}

function objectIdentifier(dotted: string): Bytes {
  const arcs = dotted.split(".").map(Number);
  const body: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const groups = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) {
      groups.unshift(0x80 | (rest & 0x7f));
    }
    body.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(body));
}

function utf8String(text: string): Bytes {
  return tlv(0x0c, encoder.encode(text));
}

function octetString(bytes: Uint8Array): Bytes {
  return tlv(0x04, bytes);
}

/** A BIT STRING of whole bytes (no unused bits). */
function bitString(bytes: Uint8Array): Bytes {
  return tlv(0x03, Uint8Array.of(0), bytes);
}

/** RFC 5280 section 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; UTC, to seconds. */
function time(date: Date): Bytes {
  const year = date.getUTCFullYear();
  const two = (value: number) => String(value).padStart(2, "0");
  const rest = two(date.getUTCMonth() + 1) + two(date.getUTCDate()) + two(date.getUTCHours()) +
    two(date.getUTCMinutes()) + two(date.getUTCSeconds()) + "Z";
  return year < 2050
    ? tlv(0x17, encoder.encode(two(year % 100) + rest))
    : tlv(0x18, encoder.encode(String(year).padStart(4, "0") + rest));
}

/** The contents of a TLV with `tag` at `offset`, as `[start, end)` offsets into `bytes`. */
function readTlv(bytes: Uint8Array, offset: number, tag: number): { start: number; end: number } {
  if (bytes[offset] !== tag) {
    throw new Error(`Unexpected DER tag ${bytes[offset]} at offset ${offset}, wanted ${tag}`);
  }
  let length = bytes[offset + 1];
  let start = offset + 2;
  if ((length & 0x80) !== 0) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start++];
  }
  const end = start + length;
  if (end > bytes.length) throw new Error(`DER length at offset ${offset} runs past the end`);
  return { start, end };
}

// ---------------------------------------------------------------------------------------------
// X.509 pieces (RFC 5280).

const OID_COMMON_NAME = objectIdentifier("2.5.4.3");
const OID_BASIC_CONSTRAINTS = objectIdentifier("2.5.29.19");
const OID_KEY_USAGE = objectIdentifier("2.5.29.15");
const OID_EXT_KEY_USAGE = objectIdentifier("2.5.29.37");
const OID_SUBJECT_ALT_NAME = objectIdentifier("2.5.29.17");
const OID_SUBJECT_KEY_IDENTIFIER = objectIdentifier("2.5.29.14");
const OID_AUTHORITY_KEY_IDENTIFIER = objectIdentifier("2.5.29.35");
const OID_SERVER_AUTH = objectIdentifier("1.3.6.1.5.5.7.3.1");
/** ecdsa-with-SHA256, parameters absent (RFC 5758 section 3.2). */
const ECDSA_WITH_SHA256 = sequence(objectIdentifier("1.2.840.10045.4.3.2"));
/** [0] EXPLICIT Version v3 (RFC 5280 section 4.1.2.1). */
const VERSION_3 = tlv(0xa0, integer(Uint8Array.of(2)));

/** A Name holding one RDN, the common name (RFC 5280 section 4.1.2.4). */
function commonName(cn: string): Bytes {
  return sequence(set(sequence(OID_COMMON_NAME, utf8String(cn))));
}

/**
 * A random positive 16-byte serial number (RFC 5280 section 4.1.2.2: positive, at most 20
 * octets): high bit cleared, first byte non-zero so the INTEGER keeps all 16 bytes.
 */
function serialNumber(): Bytes {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) || 0x01;
  return integer(bytes);
}

/** An Extension; `critical` DEFAULT FALSE is left out when false, as DER requires. */
function extension(id: Uint8Array, critical: boolean, value: Uint8Array): Bytes {
  return critical
    ? sequence(id, boolean(true), octetString(value))
    : sequence(id, octetString(value));
}

/**
 * The subjectPublicKey BIT STRING's contents without the unused-bits byte, from a DER
 * SubjectPublicKeyInfo.
 */
function subjectPublicKey(spki: Uint8Array): Uint8Array {
  const info = readTlv(spki, 0, 0x30);
  const algorithm = readTlv(spki, info.start, 0x30);
  const key = readTlv(spki, algorithm.end, 0x03);
  return spki.subarray(key.start + 1, key.end);
}

/** RFC 5280 section 4.2.1.2, method (1): SHA-1 of the subjectPublicKey bits. */
async function keyIdentifier(spki: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-1", subjectPublicKey(spki).slice()));
}

/** Signs `tbs` with ECDSA P-256/SHA-256 and wraps it as a Certificate (RFC 5280 section 4.1). */
async function signCertificate(tbs: Bytes, key: SigningKey): Promise<Bytes> {
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, tbs),
  );
  // WebCrypto gives r || s; X.509 wants Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
  // (RFC 5758 section 3.2).
  const half = raw.length / 2;
  const signature = sequence(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
  return sequence(tbs, ECDSA_WITH_SHA256, bitString(signature));
}

function pem(label: string, der: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < der.length; i += 0x8000) {
    binary += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  const base64 = btoa(binary);
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

async function sha256Fingerprint(der: Bytes): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

// ---------------------------------------------------------------------------------------------
// Names.

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    // No leading zeros: "010" reads as octal in some resolvers.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

/** The 16-bit groups of one side of `::`; a dotted IPv4 tail is allowed only when `last`. */
function ipv6Groups(text: string, last: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (last && i === parts.length - 1 && part.includes(".")) {
      const ipv4 = parseIpv4(part);
      if (ipv4 === undefined) return undefined;
      groups.push((ipv4[0] << 8) | ipv4[1], (ipv4[2] << 8) | ipv4[3]);
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/** RFC 4291 section 2.2 text forms: full, `::`-compressed, with a dotted IPv4 tail. */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = ipv6Groups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? ipv6Groups(halves[1], true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const zeros = 8 - head.length - tail.length;
  if (halves.length === 1 ? zeros !== 0 : zeros < 1) return undefined;
  const bytes: number[] = [];
  for (const group of [...head, ...new Array<number>(zeros).fill(0), ...tail]) {
    bytes.push(group >> 8, group & 0xff);
  }
  return bytes;
}

/** A DNS name in preferred name syntax (RFC 1034 section 3.5, RFC 1123 section 2.1), ASCII. */
function isDnsName(text: string): boolean {
  if (text.length > 253) return false;
  const labels = text.split(".");
  // A wildcard is allowed as the whole leftmost label (RFC 6125 section 6.4.3).
  const first = labels[0] === "*" && labels.length > 1 ? 1 : 0;
  for (let i = first; i < labels.length; i++) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(labels[i])) return false;
  }
  // An all-numeric last label would read as an IPv4 address (RFC 3696 section 2).
  return !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** One GeneralName of the subjectAltName (RFC 5280 section 4.2.1.6). */
function generalName(name: string): Bytes {
  const ip = parseIpv4(name) ?? (name.includes(":") ? parseIpv6(name) : undefined);
  if (ip !== undefined) return tlv(0x87, Uint8Array.from(ip)); // [7] IMPLICIT iPAddress
  if (isDnsName(name)) return tlv(0x82, encoder.encode(name)); // [2] IMPLICIT dNSName (IA5String)
  throw new RangeError(`Cannot use certificate name "${name}": not an IP address or a DNS name`);
}

// ---------------------------------------------------------------------------------------------

interface Settings {
  names: readonly string[];
  notBefore: Date;
  notAfter: Date;
  caName: string;
}

function settings(options: FtpsCertificateOptions): Settings {
  const names = options.names ?? DEFAULT_NAMES;
  if (!Array.isArray(names)) throw new TypeError("Cannot use names: not an array");
  if (names.length === 0) throw new RangeError("Cannot use names: the list is empty");
  for (const name of names) {
    if (typeof name !== "string") {
      throw new TypeError(`Cannot use name ${String(name)}: not a string`);
    }
  }

  const days = options.days ?? DEFAULT_DAYS;
  if (typeof days !== "number") {
    throw new TypeError(`Cannot use days ${String(days)}: not a number`);
  }
  if (!Number.isSafeInteger(days) || days <= 0) {
    throw new RangeError(`Cannot use days ${days}: not a positive integer`);
  }

  const now = Date.now();
  let start: number;
  if (options.notBefore === undefined) {
    start = now - CLOCK_SKEW_MS;
  } else {
    if (!(options.notBefore instanceof Date)) {
      throw new TypeError("Cannot use notBefore: not a Date");
    }
    start = options.notBefore.getTime();
    if (Number.isNaN(start)) throw new RangeError("Cannot use notBefore: invalid Date");
  }
  const notBefore = new Date(start);
  const notAfter = new Date((options.notBefore === undefined ? now : start) + days * DAY_MS);
  // UTCTime starts at 1950; GeneralizedTime here has four year digits.
  if (notBefore.getUTCFullYear() < 1950) {
    throw new RangeError(`Cannot use notBefore "${notBefore.toISOString()}": before 1950`);
  }
  if (Number.isNaN(notAfter.getTime()) || notAfter.getUTCFullYear() > 9999) {
    throw new RangeError(`Cannot use days ${days}: validity would end after the year 9999`);
  }

  const caName = options.caName ?? DEFAULT_CA_NAME;
  if (typeof caName !== "string") throw new TypeError("Cannot use caName: not a string");
  if (caName.length === 0 || caName.length > MAX_COMMON_NAME) {
    throw new RangeError(`Cannot use caName "${caName}": must be 1 to 64 characters long`);
  }
  return { names, notBefore, notAfter, caName };
}

function generateKeyPair() {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
}

/**
 * Creates an ephemeral CA certificate and a leaf (server) certificate signed by it, with the
 * leaf's private key: ECDSA P-256 with SHA-256, X.509 v3. The leaf is valid for `names` (DNS names
 * and IP addresses in its subjectAltName) and for TLS server authentication only; the CA may sign
 * end-entity certificates only (path length 0) and its private key is discarded. Serial numbers
 * and keys are fresh on every call. Uses only WebCrypto (`globalThis.crypto.subtle`).
 *
 * Give the server `certPem` and `keyPem`; give clients `caPem` (or check `fingerprint`).
 *
 * @example
 * ```ts
 * import { createFtpsCertificate } from "@ftkit/ftkit/ftps";
 *
 * const { caPem, certPem, keyPem, fingerprint } = await createFtpsCertificate({
 *   names: ["localhost", "127.0.0.1"],
 *   days: 7,
 * });
 * console.log(certPem.startsWith("-----BEGIN CERTIFICATE-----")); // true
 * console.log(keyPem.startsWith("-----BEGIN PRIVATE KEY-----")); // true
 * console.log(caPem !== certPem, fingerprint.length); // true 95
 * ```
 *
 * @param options The names, validity and CA name; every field has a default.
 * @returns The CA and leaf certificates, the leaf's key, and both SHA-256 fingerprints.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When `names` is empty or holds something that is neither an IP address nor
 * a DNS name, when `days` is not a positive integer, or when `caName` is empty or too long.
 */
export async function createFtpsCertificate(
  options: FtpsCertificateOptions = {},
): Promise<FtpsCertificate> {
  const { names, notBefore, notAfter, caName } = settings(options);
  const subjectAltName = sequence(...names.map(generalName));

  const subtle = crypto.subtle;
  const [caKeys, leafKeys] = await Promise.all([generateKeyPair(), generateKeyPair()]);
  const [caSpki, leafSpki, leafPkcs8] = (await Promise.all([
    subtle.exportKey("spki", caKeys.publicKey),
    subtle.exportKey("spki", leafKeys.publicKey),
    subtle.exportKey("pkcs8", leafKeys.privateKey),
  ])).map((buffer) => new Uint8Array(buffer));
  const [caKeyId, leafKeyId] = await Promise.all([keyIdentifier(caSpki), keyIdentifier(leafSpki)]);

  const validity = sequence(time(notBefore), time(notAfter));
  const caSubject = commonName(caName);
  const caTbs = sequence(
    VERSION_3,
    serialNumber(),
    ECDSA_WITH_SHA256,
    caSubject,
    validity,
    caSubject,
    caSpki,
    tlv(
      0xa3, // [3] EXPLICIT Extensions
      sequence(
        // RFC 5280 section 4.2.1.9: cA TRUE, pathLenConstraint 0.
        extension(OID_BASIC_CONSTRAINTS, true, sequence(boolean(true), integer(Uint8Array.of(0)))),
        // RFC 5280 section 4.2.1.3: keyCertSign (bit 5) and cRLSign (bit 6); bit 7 unused.
        extension(OID_KEY_USAGE, true, tlv(0x03, Uint8Array.of(1, 0x06))),
        extension(OID_SUBJECT_KEY_IDENTIFIER, false, octetString(caKeyId)),
      ),
    ),
  );

  // The leaf's subject is its first name, unless that exceeds ub-common-name; then the subject is
  // empty and the subjectAltName critical (RFC 5280 section 4.2.1.6).
  const leafCommonName = names[0].length <= MAX_COMMON_NAME ? names[0] : undefined;
  const leafTbs = sequence(
    VERSION_3,
    serialNumber(),
    ECDSA_WITH_SHA256,
    caSubject,
    validity,
    leafCommonName === undefined ? sequence() : commonName(leafCommonName),
    leafSpki,
    tlv(
      0xa3, // [3] EXPLICIT Extensions
      sequence(
        // RFC 5280 section 4.2.1.9: cA DEFAULT FALSE, so an empty SEQUENCE.
        extension(OID_BASIC_CONSTRAINTS, true, sequence()),
        // RFC 5280 section 4.2.1.3: digitalSignature (bit 0); bits 1 to 7 unused.
        extension(OID_KEY_USAGE, true, tlv(0x03, Uint8Array.of(7, 0x80))),
        // RFC 5280 section 4.2.1.12: id-kp-serverAuth.
        extension(OID_EXT_KEY_USAGE, false, sequence(OID_SERVER_AUTH)),
        extension(OID_SUBJECT_ALT_NAME, leafCommonName === undefined, subjectAltName),
        // RFC 5280 section 4.2.1.1: keyIdentifier [0] IMPLICIT, the CA's subjectKeyIdentifier.
        extension(OID_AUTHORITY_KEY_IDENTIFIER, false, sequence(tlv(0x80, caKeyId))),
        extension(OID_SUBJECT_KEY_IDENTIFIER, false, octetString(leafKeyId)),
      ),
    ),
  );

  const [caDer, leafDer] = await Promise.all([
    signCertificate(caTbs, caKeys.privateKey),
    signCertificate(leafTbs, caKeys.privateKey),
  ]);
  const [caFingerprint, fingerprint] = await Promise.all([
    sha256Fingerprint(caDer),
    sha256Fingerprint(leafDer),
  ]);
  return {
    caPem: pem("CERTIFICATE", caDer),
    certPem: pem("CERTIFICATE", leafDer),
    keyPem: pem("PRIVATE KEY", leafPkcs8),
    fingerprint,
    caFingerprint,
  };
}
