/**
 * Verifies a TLS server's certificate chain against given CA certificates, with `node:crypto`'s
 * `X509Certificate`. Internal: Deno's FTPS client connects through `node:tls` without `ca` (Deno
 * resumes TLS sessions only then) and checks the server itself with this, before anything is sent
 * on the connection.
 *
 * What it checks, as OpenSSL does for a server: each certificate of the path from the leaf to a
 * given CA is signed by the next and within its validity dates; every issuer is a CA (basic
 * constraints) and, where it says so, may sign certificates (key usage); the leaf may serve TLS
 * (extended key usage serverAuth, where present); the leaf carries the name the client asked for
 * (RFC 6125: DNS names, or an IP address in an IP subjectAltName).
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";

/** A server certificate that does not verify: `code` is OpenSSL's name for the reason, as Node
 * reports it (`CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, ...). */
export class CertificateVerifyError extends Error {
  /** OpenSSL's (or Node's) name for the reason. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "CertificateVerifyError";
    this.code = code;
  }
}

/** The longest path accepted, the leaf included (OpenSSL's default depth is 100; real ones are
 * three or four). */
const MAX_DEPTH = 10;

const OID_EXT_KEY_USAGE = "2.5.29.37";
const OID_KEY_USAGE = "2.5.29.15";
const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const OID_ANY_EXT_KEY_USAGE = "2.5.29.37.0";
/** keyCertSign, bit 5 of KeyUsage (RFC 5280 section 4.2.1.3). */
const KEY_CERT_SIGN = 5;

/** One DER element: its tag, and where its contents are. */
interface Der {
  tag: number;
  start: number;
  end: number;
}

/** The DER element at `at` in `bytes`, within `limit`; throws on anything malformed. */
function der(bytes: Uint8Array, at: number, limit: number): Der {
  if (at + 2 > limit) throw new RangeError("truncated DER");
  const tag = bytes[at];
  let length = bytes[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > limit) throw new RangeError("bad DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i];
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new RangeError("truncated DER");
  return { tag, start, end };
}

/** The children of a constructed element. */
function children(bytes: Uint8Array, parent: Der): Der[] {
  const out: Der[] = [];
  for (let at = parent.start; at < parent.end;) {
    const child = der(bytes, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** An OBJECT IDENTIFIER's dotted text. */
function oid(bytes: Uint8Array, element: Der): string {
  const parts: number[] = [];
  let value = 0;
  for (let at = element.start; at < element.end; at++) {
    value = value * 128 + (bytes[at] & 0x7f);
    if (!(bytes[at] & 0x80)) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}

/** A certificate's extensions, by OID: the DER inside each extnValue. */
function extensions(raw: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const certificate = der(raw, 0, raw.length);
  const tbs = children(raw, certificate)[0];
  // Extensions are the [3] element of TBSCertificate (RFC 5280 section 4.1).
  const wrapper = children(raw, tbs).find((element) => element.tag === 0xa3);
  if (!wrapper) return out;
  for (const extension of children(raw, children(raw, wrapper)[0])) {
    const parts = children(raw, extension);
    const value = parts[parts.length - 1];
    out.set(oid(raw, parts[0]), raw.subarray(value.start, value.end));
  }
  return out;
}

/** The extended key usages a certificate names, or `undefined` without the extension. */
function extendedKeyUsage(ext: Map<string, Uint8Array>): string[] | undefined {
  const value = ext.get(OID_EXT_KEY_USAGE);
  if (!value) return undefined;
  const sequence = der(value, 0, value.length);
  return children(value, sequence).map((element) => oid(value, element));
}

/** Whether a certificate's key usage allows `bit`; `true` without the extension. */
function keyUsageAllows(ext: Map<string, Uint8Array>, bit: number): boolean {
  const value = ext.get(OID_KEY_USAGE);
  if (!value) return true;
  const bits = der(value, 0, value.length);
  // A BIT STRING: the count of unused bits, then the bits, the first one highest.
  const byte = bits.start + 1 + (bit >> 3);
  return byte < bits.end && (value[byte] & (0x80 >> (bit & 7))) !== 0;
}

function checkDates(certificate: X509Certificate, now: number): void {
  if (now < Date.parse(certificate.validFrom)) {
    throw new CertificateVerifyError("CERT_NOT_YET_VALID", "certificate is not yet valid");
  }
  if (now > Date.parse(certificate.validTo)) {
    throw new CertificateVerifyError("CERT_HAS_EXPIRED", "certificate has expired");
  }
}

/** Whether `issuer` signed `child`. */
function signed(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** An issuer's own checks: a CA that may sign certificates. */
function checkIssuer(issuer: X509Certificate): void {
  if (!issuer.ca || !keyUsageAllows(extensions(new Uint8Array(issuer.raw)), KEY_CERT_SIGN)) {
    throw new CertificateVerifyError("INVALID_CA", "invalid CA certificate");
  }
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The certificates of a PEM text (one, or a bundle); a TypeError when it holds none. */
function certificatesIn(pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new TypeError("The CA given (ca) holds no PEM certificate");
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TypeError(
        `A CA certificate given (ca) does not parse: ${(error as Error).message}`,
      );
    }
  });
}

/**
 * Throws a {@linkcode CertificateVerifyError} unless `presented` (the server's chain, the leaf
 * first, as the TLS handshake gave it, DER) leads to one of `trusted` (PEM, each one certificate
 * or a bundle of them) and its leaf names
 * `name` (a DNS name or an IP address).
 *
 * @example
 * ```ts ignore
 * verifyServerChain([leafDer, intermediateDer], [caPem], "ftp.example.com", Date.now());
 * ```
 */
export function verifyServerChain(
  presented: readonly Uint8Array[],
  trusted: readonly string[],
  name: string,
  now: number,
): void {
  if (presented.length === 0) {
    throw new CertificateVerifyError("UNABLE_TO_GET_ISSUER_CERT", "the server sent no certificate");
  }
  const chain = presented.map((raw) => new X509Certificate(raw));
  const anchors = trusted.flatMap(certificatesIn);
  const leaf = chain[0];

  // The name first: a certificate for another host is refused whoever signed it.
  // Host names compare without case (RFC 6125 section 6.4.1); Deno's checkHost does not fold it.
  const matched = isIP(name) ? leaf.checkIP(name) : leaf.checkHost(name.toLowerCase());
  if (matched === undefined) {
    throw new CertificateVerifyError(
      "ERR_TLS_CERT_ALTNAME_INVALID",
      `Hostname/IP does not match certificate's altnames: ${isIP(name) ? "IP" : "Host"}: ${name}` +
        ` is not in the cert's altnames: ${leaf.subjectAltName ?? "(none)"}`,
    );
  }
  const usages = extendedKeyUsage(extensions(new Uint8Array(leaf.raw)));
  if (usages && !usages.includes(OID_SERVER_AUTH) && !usages.includes(OID_ANY_EXT_KEY_USAGE)) {
    throw new CertificateVerifyError("INVALID_PURPOSE", "unsupported certificate purpose");
  }

  let current = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    checkDates(current, now);
    // A trusted certificate ends the path: the CA that signed this one, or this one itself.
    if (anchors.some((anchor) => anchor.fingerprint256 === current.fingerprint256)) return;
    const anchor = anchors.find((candidate) => signed(current, candidate));
    if (anchor) {
      checkDates(anchor, now);
      checkIssuer(anchor);
      return;
    }
    const issuer = chain.find((candidate) => candidate !== current && signed(current, candidate));
    if (!issuer) {
      if (signed(current, current)) {
        throw new CertificateVerifyError(
          depth === 0 ? "DEPTH_ZERO_SELF_SIGNED_CERT" : "SELF_SIGNED_CERT_IN_CHAIN",
          depth === 0 ? "self-signed certificate" : "self-signed certificate in certificate chain",
        );
      }
      throw new CertificateVerifyError(
        depth === 0 ? "UNABLE_TO_VERIFY_LEAF_SIGNATURE" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
        depth === 0
          ? "unable to verify the first certificate"
          : "unable to get local issuer certificate",
      );
    }
    checkIssuer(issuer);
    current = issuer;
  }
  throw new CertificateVerifyError("CERT_CHAIN_TOO_LONG", "certificate chain too long");
}
