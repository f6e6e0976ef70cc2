// The server-chain check ftkit's FTPS client runs itself on Deno (where node:tls is given no CA,
// so that it resumes TLS sessions): a root, an intermediate and leaves made with the openssl
// command, and each reason to refuse, with the code and message node:tls gives for it. It runs on
// every runtime: each has its own X509Certificate.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CertificateVerifyError, verifyServerChain } from "../../ftps/adapters/_verify_chain.ts";
import { missing, PEER, runPeer, tempDir } from "../interop/_peers.ts";

const DAY = 86_400_000;

describe("verifyServerChain", { skip: missing("openssl") }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const pem: Record<string, string> = {};
  const der = (name: string) => new Uint8Array(new X509Certificate(pem[name]).raw);

  /** Runs openssl in `dir`. */
  async function openssl(...args: string[]): Promise<void> {
    const ran = await runPeer(PEER.openssl, args, { cwd: dir.path });
    if (ran.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${ran.stderr}`);
  }

  /** A certificate `name` for `subject`, signed by `issuer` (self-signed when absent), with
   * the extensions `ext` (openssl's extfile lines). */
  async function make(name: string, subject: string, ext: string[], issuer?: string) {
    await writeFile(join(dir.path, `${name}.ext`), ext.join("\n") + "\n");
    await openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${subject}`,
    );
    await openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      ...(issuer
        ? ["-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`]
        : ["-signkey", `${name}.key`]),
      "-set_serial",
      String(Object.keys(pem).length + 1),
      "-days",
      "30",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    );
    pem[name] = await readFile(join(dir.path, `${name}.pem`), "utf8");
  }

  before(async () => {
    dir = await tempDir("ftkit-verify-");
    const ca = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];
    await make("root", "ftkit test root", ca);
    await make("int", "ftkit test intermediate", ca, "root");
    await make("other", "another root", ca);
    const server = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"];
    await make("leaf", "localhost", [
      ...server,
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
      "extendedKeyUsage=serverAuth",
    ], "int");
    await make("client", "localhost", [
      ...server,
      "subjectAltName=DNS:localhost",
      "extendedKeyUsage=clientAuth",
    ], "int");
    await make("noEku", "localhost", [...server, "subjectAltName=DNS:localhost"], "int");
    // An end-entity certificate (CA:FALSE) that signs another: not a CA.
    await make("notCa", "not a CA", ["basicConstraints=CA:FALSE"], "root");
    await make("underNotCa", "localhost", [...server, "subjectAltName=DNS:localhost"], "notCa");
  });

  after(async () => await dir?.remove());

  const refuses = (run: () => void, code: string, message: RegExp) =>
    assert.throws(run, (error: unknown) => {
      assert.ok(error instanceof CertificateVerifyError, String(error));
      assert.equal(error.code, code);
      assert.match(error.message, message);
      return true;
    });

  test("a chain to a given CA, by name and by IP address (v4 and v6)", () => {
    const now = Date.now();
    for (const name of ["localhost", "LOCALHOST", "127.0.0.1", "::1"]) {
      verifyServerChain([der("leaf"), der("int")], [pem.root], name, now);
    }
    // The intermediate given as the CA; a bundle of several CAs in one PEM text.
    verifyServerChain([der("leaf")], [pem.int], "localhost", now);
    verifyServerChain([der("leaf"), der("int")], [pem.other + pem.root], "localhost", now);
    // No extended key usage at all: any purpose.
    verifyServerChain([der("noEku"), der("int")], [pem.root], "localhost", now);
  });

  test("another name or address: ERR_TLS_CERT_ALTNAME_INVALID, naming what the certificate has", () => {
    for (const name of ["ftp.example.com", "127.0.0.2", "::2"]) {
      refuses(
        () => verifyServerChain([der("leaf"), der("int")], [pem.root], name, Date.now()),
        "ERR_TLS_CERT_ALTNAME_INVALID",
        /Hostname\/IP does not match certificate's altnames: .*DNS:localhost/,
      );
    }
  });

  test("a CA that did not sign it, or an intermediate missing", () => {
    refuses(
      () => verifyServerChain([der("leaf"), der("int")], [pem.other], "localhost", Date.now()),
      "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
      /unable to get local issuer certificate/,
    );
    refuses(
      () => verifyServerChain([der("leaf")], [pem.root], "localhost", Date.now()),
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      /unable to verify the first certificate/,
    );
    refuses(
      () => verifyServerChain([der("other")], [pem.root], "another root", Date.now()),
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      /self-signed certificate/,
    );
  });

  test("outside its validity dates: expired, not yet valid", () => {
    refuses(
      () =>
        verifyServerChain(
          [der("leaf"), der("int")],
          [pem.root],
          "localhost",
          Date.now() + 60 * DAY,
        ),
      "CERT_HAS_EXPIRED",
      /certificate has expired/,
    );
    refuses(
      () =>
        verifyServerChain([der("leaf"), der("int")], [pem.root], "localhost", Date.now() - 2 * DAY),
      "CERT_NOT_YET_VALID",
      /not yet valid/,
    );
  });

  test("a certificate for clients only, and one signed by a certificate that is not a CA", () => {
    refuses(
      () => verifyServerChain([der("client"), der("int")], [pem.root], "localhost", Date.now()),
      "INVALID_PURPOSE",
      /unsupported certificate purpose/,
    );
    refuses(
      () =>
        verifyServerChain([der("underNotCa"), der("notCa")], [pem.root], "localhost", Date.now()),
      "INVALID_CA",
      /invalid CA certificate/,
    );
  });

  test("no certificate, or a CA text with none in it", () => {
    refuses(
      () => verifyServerChain([], [pem.root], "localhost", Date.now()),
      "UNABLE_TO_GET_ISSUER_CERT",
      /no certificate/,
    );
    assert.throws(
      () => verifyServerChain([der("leaf")], ["not a certificate"], "localhost", Date.now()),
      TypeError,
    );
  });
});
