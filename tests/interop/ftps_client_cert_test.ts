// The FTPS client's TLS client certificate (`cert`, `key`) on the control and data connections:
// ftkit's server logging its user in by the certificate alone (232 after USER, RFC 4217 section
// 12.2), and vsftpd with require_cert=YES. Deno's node:tls resumes no TLS session for a
// connection with a client certificate, so with vsftpd's default require_ssl_reuse its data
// connections are refused there, and the error says why; Node and Bun resume. Deno's native TLS
// cannot send a client certificate at all (Deno.startTls takes none) and refuses it up front.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createFtpsCertificate, FtpsClient } from "../../ftps/mod.ts";
import { transport as denoNative } from "../../ftps/adapters/deno.ts";
import { connectFtps } from "../ftps/_connect.ts";
import { missing, PEER, runPeer, tempDir } from "./_peers.ts";
import { CA_PEM, LEAF_KEY, LEAF_PEM, type LoggedServer, startFtkit } from "./_ftps_clients.ts";
import { chownFtp, type FtpsServer, startVsftpd } from "./_ftps_servers.ts";
import { runtime } from "../_runtime.ts";

const TEXT = "signed, sealed\n";

/**
 * A CA and a client certificate it signed for TLS client authentication (extendedKeyUsage
 * clientAuth, which OpenSSL's servers check), made with openssl in `dir`.
 */
async function clientIdentity(
  dir: string,
): Promise<{ caFile: string; certPem: string; keyPem: string }> {
  const file = (name: string) => join(dir, name);
  const openssl = async (...args: string[]) => {
    const ran = await runPeer(PEER.openssl, args);
    assert.equal(ran.code, 0, ran.stderr);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=ftkit test client CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  );
  await openssl(
    "req",
    ...ec,
    "-keyout",
    file("client.key"),
    "-out",
    file("client.csr"),
    "-subj",
    "/CN=fred",
  );
  await writeFile(file("client.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n");
  await openssl(
    "x509",
    "-req",
    "-in",
    file("client.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-out",
    file("client.pem"),
    "-days",
    "2",
    "-extfile",
    file("client.ext"),
  );
  return {
    caFile: file("ca.pem"),
    certPem: await readFile(file("client.pem"), "utf8"),
    keyPem: await readFile(file("client.key"), "utf8"),
  };
}

describe("FTPS client with a TLS client certificate", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let identity: Awaited<ReturnType<typeof createFtpsCertificate>>;
  let stranger: Awaited<ReturnType<typeof createFtpsCertificate>>;

  before(async () => {
    dir = await tempDir("ftkit-client-cert-");
    identity = await createFtpsCertificate({ names: ["fred.client.test"] });
    stranger = await createFtpsCertificate({ names: ["mallory.client.test"] });
  });

  after(async () => await dir?.remove());

  describe("ftkit's server, a user known by the certificate's fingerprint", () => {
    let server: LoggedServer;
    before(async () => {
      await mkdir(join(dir.path, "ftkit"));
      server = await startFtkit(join(dir.path, "ftkit"), {
        users: { fred: { certificates: [identity.fingerprint] } },
        tls: {
          cert: LEAF_PEM,
          key: LEAF_KEY,
          requestClientCertificate: true,
        },
      });
    });
    after(async () => await server?.close());

    const options = (certificate?: { certPem: string; keyPem: string }) => ({
      host: "127.0.0.1",
      port: server.port,
      user: "fred",
      ca: CA_PEM,
      servername: "localhost",
      timeoutMs: 20_000,
      ...(certificate ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
    });

    test("the certificate logs in with 232 (no PASS), and data connections carry it", async () => {
      const mark = server.log.length;
      {
        await using client = await connectFtps(options(identity));
        await client.put("cert.txt", TEXT);
        assert.equal(new TextDecoder().decode(await client.get("cert.txt")), TEXT);
        assert.ok((await client.list()).some((entry) => entry.name === "cert.txt"));
      }
      const logins = server.log.slice(mark).filter((entry) => entry.type === "login");
      assert.deepEqual(
        logins.map((entry) => entry.type === "login" && [entry.user, entry.ok, entry.method]),
        [["fred", true, "certificate"]],
      );
    });

    test("without it, or with another, the login is refused", async () => {
      await assert.rejects(connectFtps(options()), /530|331|password/i);
      await assert.rejects(connectFtps(options(stranger)), /530|331|password/i);
    });

    test("a certificate without its key, or a key alone, is refused before connecting", async () => {
      await assert.rejects(
        connectFtps({ ...options(), cert: identity.certPem }),
        /needs its key/,
      );
      await assert.rejects(connectFtps({ ...options(), key: identity.keyPem }), /needs its key/);
    });

    test("Deno's native TLS refuses a client certificate up front", {
      skip: runtime !== "deno" && "Deno only",
    }, async () => {
      await assert.rejects(
        FtpsClient.connect({ ...options(identity), transport: denoNative }),
        /Deno's native TLS cannot send a client certificate/,
      );
    });
  });

  describe("vsftpd with require_cert=YES", { skip: missing("vsftpd", "openssl") }, () => {
    let reuse: FtpsServer;
    let noReuse: FtpsServer;
    let signed: { caFile: string; certPem: string; keyPem: string };
    before(async () => {
      await mkdir(join(dir.path, "pki"));
      signed = await clientIdentity(join(dir.path, "pki"));
      const top = join(dir.path, "top");
      await mkdir(join(top, "pub"), { recursive: true });
      await writeFile(join(top, "pub", "hello.txt"), TEXT);
      await chownFtp(join(top, "pub"));
      const extra = ["require_cert=YES", "validate_cert=YES", `ca_certs_file=${signed.caFile}`];
      reuse = await startVsftpd(dir.path, top, { extra });
      noReuse = await startVsftpd(dir.path, top, { extra: [...extra, "require_ssl_reuse=NO"] });
    });
    after(async () => {
      await reuse?.stop();
      await noReuse?.stop();
    });

    const options = (server: FtpsServer, certificate?: { certPem: string; keyPem: string }) => ({
      host: "127.0.0.1",
      port: server.port,
      ca: CA_PEM,
      servername: "localhost",
      timeoutMs: 20_000,
      ...(certificate ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
    });

    test("without a certificate, or with one of another CA, the TLS handshake is refused", async () => {
      await assert.rejects(connectFtps(options(reuse)));
      await assert.rejects(connectFtps(options(reuse, identity)));
    });

    test("with one: logged in; transfers where the runtime resumes the session", async () => {
      await using client = await connectFtps(options(reuse, signed));
      if (runtime === "deno") {
        // Deno's node:tls resumes nothing with a client certificate: vsftpd refuses (522).
        await assert.rejects(
          client.get("pub/hello.txt"),
          /resume the control connection's TLS session.*Deno's node:tls resumes no TLS session of a connection with a client certificate/,
        );
      } else {
        assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), TEXT);
        assert.equal(client.lastTransfer?.resumed, true);
      }
    });

    test("with one and require_ssl_reuse=NO: transfers on every runtime", async () => {
      await using client = await connectFtps(options(noReuse, signed));
      assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), TEXT);
      await client.put("pub/up.txt", TEXT);
      assert.ok((await client.list("pub")).some((entry) => entry.name === "up.txt"));
    });
  });
});
