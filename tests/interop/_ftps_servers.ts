// Real FTPS servers started on loopback for the interop tests: ProFTPD with mod_tls, Pure-FTPd and
// pyftpdlib's TLS_FTPHandler, each serving a temporary directory to the user "user" ("secret"),
// with the test CA's leaf certificate, TLS required on control and data connections.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { chmod, chown, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FtpReplyError, type FtpsClient } from "../ftps/_connect.ts";
import { bytesOf, onFreePort, PEER, proftpdModules, runPeer, startDaemon } from "./_peers.ts";
import { repoFile } from "../_runtime.ts";
import { until } from "../_wait.ts";

/** The test CA and the leaf it signed (localhost, 127.0.0.1, ::1). */
export const FIXTURES: string = repoFile("tests/fixtures/tls");

/** The modification time the served `pub/hello.txt` is given (whole seconds, as MDTM has them):
 * fixed, so that MDTM cannot be confused with the clock, and set long before it is read (a file
 * system that caches attributes may show another process the time of a write still going on). */
export const HELLO_MTIME: Date = new Date("2024-05-06T07:08:09Z");

/** The account every server here has. */
export const USER = "user";
/** Its password. */
export const PASSWORD = "secret";

/** A running server: where it listens, the directory its `/` is, and its logs. */
export interface FtpsServer {
  readonly port: number;
  readonly root: string;
  /** Where it logs each command it receives (vsftpd: with its TLS debug lines). */
  readonly log?: string;
  /** Where it logs its TLS handshakes, when not in `log`. */
  readonly tlsLog?: string;
  stop(): Promise<void>;
}

/** The uid and gid of the `ftp` user (vsftpd's package creates it); servers run sessions as it. */
export async function ftpUser(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const line = passwd.split("\n").find((entry) => entry.startsWith("ftp:"));
  if (!line) throw new Error("No ftp user: vsftpd's package makes it");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Gives `paths` to the ftp user. */
export async function chownFtp(...paths: string[]): Promise<void> {
  const { uid, gid } = await ftpUser();
  for (const path of paths) await chown(path, uid, gid);
}

/**
 * Starts a server on a free TCP port: `start(port)` writes its configuration and gives its
 * command line; it counts as started once it listens there itself. A port taken meanwhile by
 * someone else makes the server exit: then it is tried again on another.
 */
function serveOnFreePort(
  start: (port: number) => [string, string[]] | Promise<[string, string[]]>,
  root: string,
  logs: (port: number) => { log?: string; tlsLog?: string } = () => ({}),
): Promise<FtpsServer> {
  return onFreePort("tcp", async (port) => {
    const [program, args] = await start(port);
    const running = await startDaemon(program, args, { tcp: port });
    return { port, root, ...logs(port), stop: () => running.stop() };
  });
}

/**
 * vsftpd 3.0.3 with anonymous users forced onto TLS (PROT P, session reuse required: its
 * defaults), implicit TLS when asked. `top` is the anonymous root; it must not be writable by the
 * ftp user (vsftpd chroots there), while `top/pub` is, for uploads. `dir` holds the config.
 */
export async function startVsftpd(
  dir: string,
  top: string,
  options: { implicit?: boolean; extra?: readonly string[] } = {},
): Promise<FtpsServer> {
  return await serveOnFreePort(
    async (port) => {
      const config = join(dir, `vsftpd-${port}.conf`);
      await writeFile(
        config,
        [
          "listen=YES",
          "listen_address=127.0.0.1",
          `listen_port=${port}`,
          "background=NO",
          "seccomp_sandbox=NO",
          "anonymous_enable=YES",
          "local_enable=NO",
          "write_enable=YES",
          `anon_root=${top}`,
          "anon_upload_enable=YES",
          "anon_mkdir_write_enable=YES",
          "anon_other_write_enable=YES",
          "anon_umask=022",
          "no_anon_password=YES",
          "ssl_enable=YES",
          "allow_anon_ssl=YES",
          "force_anon_data_ssl=YES",
          "force_anon_logins_ssl=YES",
          "require_ssl_reuse=YES",
          `implicit_ssl=${options.implicit ? "YES" : "NO"}`,
          `rsa_cert_file=${join(FIXTURES, "leaf.pem")}`,
          `rsa_private_key_file=${join(FIXTURES, "leaf.key")}`,
          "secure_chroot_dir=/var/run/vsftpd/empty",
          // Every command and reply, and each TLS handshake ("reused" or "not reused"), logged.
          "xferlog_enable=YES",
          "xferlog_std_format=NO",
          "log_ftp_protocol=YES",
          "debug_ssl=YES",
          `vsftpd_log_file=${join(dir, `vsftpd-${port}.log`)}`,
          ...(options.extra ?? []),
          "",
        ].join("\n"),
      );
      return [PEER.vsftpd, [config]];
    },
    top,
    (port) => ({ log: join(dir, `vsftpd-${port}.log`) }),
  );
}

/**
 * ProFTPD 1.3.8 with mod_tls: TLSRequired on, session reuse required on data connections (its
 * default) unless `reuseRequired` is false, implicit TLS when asked, `extra` lines appended to the
 * config. `dir` holds the config; `root` (owned by the ftp user) is the user's chroot.
 */
export async function startProftpd(
  dir: string,
  root: string,
  options: { implicit?: boolean; reuseRequired?: boolean; extra?: readonly string[] } = {},
): Promise<FtpsServer> {
  const { uid, gid } = await ftpUser();
  const hash = (await runPeer(PEER.openssl, ["passwd", "-6", "-stdin"], {
    input: `${PASSWORD}\n`,
  })).stdout.trim();
  const tlsOptions = [
    ...(options.reuseRequired === false ? ["NoSessionReuseRequired"] : []),
    ...(options.implicit ? ["UseImplicitSSL"] : []),
  ];
  return await serveOnFreePort(
    async (port) => {
      const passwd = join(dir, `proftpd-${port}.passwd`);
      await writeFile(passwd, `${USER}:${hash}:${uid}:${gid}::${root}:/bin/false\n`);
      await chmod(passwd, 0o600);
      const config = join(dir, `proftpd-${port}.conf`);
      await writeFile(
        config,
        [
          "ServerType standalone",
          `Port ${port}`,
          "DefaultAddress 127.0.0.1",
          "SocketBindTight on",
          "UseIPv6 off",
          `ModulePath ${proftpdModules()}`,
          "LoadModule mod_tls.c",
          "User nobody",
          "Group nogroup",
          `PidFile ${join(dir, `proftpd-${port}.pid`)}`,
          `ScoreboardFile ${join(dir, `proftpd-${port}.scoreboard`)}`,
          "DelayTable none",
          "WtmpLog off",
          "UseReverseDNS off",
          "AuthOrder mod_auth_file.c",
          `AuthUserFile ${passwd}`,
          "RequireValidShell off",
          "DefaultRoot ~",
          "Umask 022",
          "AllowOverwrite on",
          "AllowStoreRestart on",
          "TransferLog none",
          `SystemLog ${join(dir, `proftpd-${port}.log`)}`,
          "TLSEngine on",
          `TLSLog ${join(dir, `proftpd-${port}.tls.log`)}`,
          `ExtendedLog ${join(dir, `proftpd-${port}.commands.log`)} ALL`,
          "TLSProtocol TLSv1.2 TLSv1.3",
          `TLSRSACertificateFile ${join(FIXTURES, "leaf.pem")}`,
          `TLSRSACertificateKeyFile ${join(FIXTURES, "leaf.key")}`,
          "TLSRequired on",
          ...(tlsOptions.length > 0 ? [`TLSOptions ${tlsOptions.join(" ")}`] : []),
          ...(options.extra ?? []),
          "",
        ].join("\n"),
      );
      return [PEER.proftpd, ["-n", "-q", "-c", config]];
    },
    root,
    (port) => ({
      log: join(dir, `proftpd-${port}.commands.log`),
      tlsLog: join(dir, `proftpd-${port}.tls.log`),
    }),
  );
}

/**
 * Pure-FTPd 1.0.50 with TLS required on control and data (`-Y 3`), the user in a PureDB of its
 * own, chrooted to `root` (owned by the ftp user).
 */
export async function startPureFtpd(dir: string, root: string): Promise<FtpsServer> {
  const { uid, gid } = await ftpUser();
  // pure-pw's own hash is argon2id at 255 passes (seconds per login here); a SHA-512 crypt hash
  // in the same passwd format keeps logins quick.
  const hash = (await runPeer(PEER.openssl, ["passwd", "-6", "-stdin"], {
    input: `${PASSWORD}\n`,
  })).stdout.trim();
  return await serveOnFreePort(async (port) => {
    const passwd = join(dir, `pure-${port}.passwd`);
    const pdb = join(dir, `pure-${port}.pdb`);
    await writeFile(passwd, `${USER}:${hash}:${uid}:${gid}::${root}/./::::::::::::\n`);
    const made = await runPeer(PEER.purePw, ["mkdb", pdb, "-f", passwd]);
    if (made.code !== 0) throw new Error(`pure-pw mkdb failed: ${made.stderr}`);
    return [PEER.pureFtpd, [
      "-S",
      `127.0.0.1,${port}`,
      "-l",
      `puredb:${pdb}`,
      "-Y",
      "3",
      "-2",
      `${join(FIXTURES, "leaf.pem")},${join(FIXTURES, "leaf.key")}`,
      "-E", // no anonymous logins
      "-H", // no reverse DNS
      "-A", // chroot everyone
    ]];
  }, root);
}

/**
 * A new CA and a leaf certificate for the name `localhost` only (no IP address), made with the
 * openssl command in `dir`: a server with it can be verified only by name.
 */
export async function nameOnlyCertificate(
  dir: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const at = (name: string) => join(dir, name);
  const steps: string[][] = [
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", at("name-ca.key"), "-out"],
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", at("name.key"), "-out", at("name.csr")],
    ["x509", "-req", "-in", at("name.csr"), "-CA", at("name-ca.pem"), "-CAkey"],
  ];
  steps[0].push(at("name-ca.pem"), "-days", "2", "-subj", "/CN=ftkit name test CA");
  steps[0].push("-addext", "basicConstraints=critical,CA:TRUE");
  steps[0].push("-addext", "keyUsage=critical,keyCertSign");
  steps[1].push("-subj", "/CN=localhost");
  await writeFile(
    at("name.ext"),
    "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  steps[2].push(at("name-ca.key"), "-CAcreateserial", "-out", at("name.pem"), "-days", "2");
  steps[2].push("-extfile", at("name.ext"));
  for (const args of steps) {
    const ran = await runPeer(PEER.openssl, args);
    if (ran.code !== 0) throw new Error(`openssl ${args[0]} failed: ${ran.stderr}`);
  }
  return { ca: at("name-ca.pem"), cert: at("name.pem"), key: at("name.key") };
}

/**
 * The pyftpdlib server: TLS_FTPHandler, TLS required on control and data. Arguments: port, root,
 * cert, key, user, password, "yes" for optional client certificates, and optionally the most
 * connections (pyftpdlib's `max_cons`: every socket counts, 512 by default) and "quiet" (warnings
 * only in its log).
 */
export const PYFTPDLIB_SCRIPT = `
import logging, sys
from OpenSSL import SSL
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer
port, root, cert, key, user, password, optional_certs = sys.argv[1:8]
max_cons, log = (sys.argv[8:10] + ["", ""])[:2]
if log == "quiet":
    logging.basicConfig(level=logging.WARNING)
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")
handler = TLS_FTPHandler
handler.certfile = cert
handler.keyfile = key
handler.authorizer = authorizer
handler.tls_control_required = True
handler.tls_data_required = True
if optional_certs == "yes":
    # Client certificates asked for but optional, and no session id context: OpenSSL then
    # aborts any handshake that tries to resume a session (SSL_R_SESSION_ID_CONTEXT_UNINITIALIZED).
    handler.get_ssl_context().set_verify(SSL.VERIFY_PEER, lambda *args: True)
server = FTPServer(("127.0.0.1", int(port)), handler)
if max_cons:
    server.max_cons = int(max_cons)
server.serve_forever()
`;

/**
 * pyftpdlib 1.5.7 (`python3-pyftpdlib`, pyOpenSSL). With `optionalClientCerts`, its TLS context
 * asks for client certificates without requiring one, a real misconfiguration under which every
 * handshake that offers a session to resume is broken off with an internal_error alert.
 */
export async function startPyftpdlib(
  root: string,
  options: { optionalClientCerts?: boolean; cert?: string; key?: string } = {},
): Promise<FtpsServer> {
  return await serveOnFreePort((port) => [PEER.python, [
    "-c",
    PYFTPDLIB_SCRIPT,
    String(port),
    root,
    options.cert ?? join(FIXTURES, "leaf.pem"),
    options.key ?? join(FIXTURES, "leaf.key"),
    USER,
    PASSWORD,
    options.optionalClientCerts ? "yes" : "no",
  ]], root);
}

/**
 * Every operation of the client API against a server whose `/pub` holds `hello.txt` (`hello`),
 * writable: uploads (bytes, text, a stream, an async iterable), append, REST, size, mtime,
 * recursive mkdir, rename, cd and pwd, a parsed listing, removals, a refusal, a raw command.
 * `resumed` is what every protected data connection must report. Leaves `/pub` as it found it.
 */
export async function everyOperation(
  client: FtpsClient,
  options: { root: string; tag: string; hello: string; resumed: boolean },
): Promise<void> {
  const { root, tag, hello } = options;
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(await client.pwd(), "/");
  assert.equal(decode(await client.get("pub/hello.txt")), hello);
  assert.deepEqual(client.lastTransfer, {
    bytes: new TextEncoder().encode(hello).length,
    tls: true,
    resumed: options.resumed,
  });
  const payload = bytesOf(300_000, 11);
  const seen: number[] = [];
  await client.put(`pub/up-${tag}.bin`, payload, { onProgress: (bytes) => seen.push(bytes) });
  assert.equal(seen.at(-1), payload.length);
  assert.equal(client.lastTransfer?.resumed, options.resumed);
  assert.ok(Buffer.compare(await readFile(join(root, "pub", `up-${tag}.bin`)), payload) === 0);
  await client.append(`pub/up-${tag}.bin`, "tail");
  assert.equal(await client.size(`pub/up-${tag}.bin`), payload.length + 4);
  const back = await client.get(`pub/up-${tag}.bin`, { offset: 299_990 });
  assert.equal(decode(back.subarray(10)), "tail");
  assert.deepEqual(back.subarray(0, 10), payload.subarray(299_990));
  await client.put(
    `pub/stream-${tag}.txt`,
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("from a "));
        controller.enqueue(new TextEncoder().encode("stream\n"));
        controller.close();
      },
    }),
  );
  async function* lines(): AsyncGenerator<Uint8Array> {
    for (const line of ["one\n", "two\n"]) yield new TextEncoder().encode(line);
  }
  await client.append(`pub/stream-${tag}.txt`, lines());
  assert.equal(
    await readFile(join(root, "pub", `stream-${tag}.txt`), "utf8"),
    "from a stream\none\ntwo\n",
  );
  const chunks: Uint8Array[] = [];
  await client.getTo(
    `pub/stream-${tag}.txt`,
    new WritableStream({ write: (chunk) => void chunks.push(chunk) }),
  );
  assert.equal(decode(Buffer.concat(chunks)), "from a stream\none\ntwo\n");
  // Local files both ways; a failed download leaves no local file.
  const local = await mkdtemp(join(tmpdir(), "ftkit-local-"));
  try {
    await writeFile(join(local, "out.bin"), payload);
    await client.putFile(join(local, "out.bin"), `pub/file-${tag}.bin`);
    await client.getFile(`pub/file-${tag}.bin`, join(local, "in.bin"));
    assert.ok(Buffer.compare(await readFile(join(local, "in.bin")), payload) === 0);
    await client.remove(`pub/file-${tag}.bin`);
    await assert.rejects(client.getFile("pub/missing", join(local, "missing.bin")), /550/);
    assert.deepEqual((await readdir(local)).sort(), ["in.bin", "out.bin"]);
  } finally {
    await rm(local, { recursive: true, force: true });
  }
  // The file's own modification time (set when the tree was made), not the clock.
  const modified = await client.lastModified("pub/hello.txt");
  assert.equal(modified.toISOString(), HELLO_MTIME.toISOString());
  await client.mkdir(`pub/${tag}/a/b`, { recursive: true });
  await client.mkdir(`pub/${tag}/a/b`, { recursive: true });
  await client.rename(`pub/up-${tag}.bin`, `pub/${tag}/a/b/moved.bin`);
  await client.cd(`pub/${tag}/a`);
  assert.equal(await client.pwd(), `/pub/${tag}/a`);
  const entries = await client.list("b");
  assert.deepEqual(entries.map((entry) => [entry.name, entry.type, entry.size]), [
    ["moved.bin", "file", payload.length + 4],
  ]);
  const upper = await client.list();
  assert.deepEqual(upper.map((entry) => [entry.name, entry.type]), [["b", "dir"]]);
  await client.remove("b/moved.bin");
  await client.removeDir("b");
  await client.cd("/");
  await client.removeDir(`pub/${tag}/a`);
  await client.removeDir(`pub/${tag}`);
  await client.remove(`pub/stream-${tag}.txt`);
  const names = (await client.list("pub")).map((entry) => entry.name);
  assert.ok(names.includes("hello.txt") && !names.includes(`stream-${tag}.txt`), `${names}`);
  await assert.rejects(client.get("pub/missing"), (error: unknown) => {
    assert.ok(error instanceof FtpReplyError && error.code === 550, String(error));
    return true;
  });
  assert.equal((await client.raw("NOOP")).code, 200);
}

/** The part of a log written since `from` bytes (`logSize` gives the mark). */
async function logSince(path: string, from: number): Promise<string> {
  return (await readFile(path)).subarray(from).toString("utf8");
}

/** How many bytes a log holds now: a mark for {@linkcode logSince}. */
export async function logSize(path: string | undefined): Promise<number> {
  if (path === undefined) throw new Error("This server keeps no log");
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

/**
 * 21 protected transfers in one session, LIST, RETR and STOR in turn, each data connection
 * resuming the control connection's TLS session: as the client reports it, and as the server
 * logged it (vsftpd's debug_ssl "reused", ProFTPD's TLSLog "client reused TLS session").
 * `/pub` must hold `hello.txt` (`hello`) and be writable; it is left as it was.
 */
export async function resumedTransfers(
  client: FtpsClient,
  server: FtpsServer,
  options: { tag: string; hello: string },
): Promise<void> {
  const handshakes = server.tlsLog ?? server.log!;
  const from = await logSize(handshakes);
  const rounds = 7;
  for (let i = 0; i < rounds; i++) {
    assert.ok((await client.list("pub")).some((entry) => entry.name === "hello.txt"));
    assert.equal(client.lastTransfer?.resumed, true, `LIST ${i}`);
    assert.equal(new TextDecoder().decode(await client.get("pub/hello.txt")), options.hello);
    assert.equal(client.lastTransfer?.resumed, true, `RETR ${i}`);
    const name = `pub/resumed-${options.tag}-${i}.txt`;
    await client.put(name, `upload ${i}\n`);
    assert.deepEqual(client.lastTransfer, {
      bytes: `upload ${i}\n`.length,
      tls: true,
      resumed: true,
    });
    assert.equal(await readFile(join(server.root, name), "utf8"), `upload ${i}\n`);
  }
  for (let i = 0; i < rounds; i++) await client.remove(`pub/resumed-${options.tag}-${i}.txt`);
  const logged = await logSince(handshakes, from);
  const reused = logged.split("\n").filter((line) =>
    server.tlsLog
      ? line.includes("client reused TLS session for data connection")
      : /SSL version: [^"]*, reused,/.test(line)
  );
  assert.equal(reused.length, 3 * rounds, logged);
}

/**
 * A client given a CA that did not sign the server's certificate, or a name the certificate does
 * not carry, refuses it (with the code Node gives) before it sends a command: after each refusal a
 * good client logs in, and once its USER is in the server's log of commands, that is the only USER
 * there since the refused one started (a USER sent before the refusal would be logged first).
 * `dir` is where another CA is made; `connect` opens a client to `server`.
 */
export async function refusedBeforeUser(
  server: FtpsServer,
  dir: string,
  connect: (options: { ca: string; servername: string }) => Promise<FtpsClient>,
): Promise<void> {
  const ca = await readFile(join(FIXTURES, "ca.pem"), "utf8");
  const other = await readFile((await nameOnlyCertificate(dir)).ca, "utf8");
  const cases = [
    { ca: other, servername: "localhost", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
    { ca, servername: "ftp.example.com", code: "ERR_TLS_CERT_ALTNAME_INVALID" },
  ];
  for (const { code, ...options } of cases) {
    const from = await logSize(server.log);
    await assert.rejects(connect(options), (error: unknown) => {
      assert.equal((error as { code?: string }).code, code, String(error));
      return true;
    });
    await (await connect({ ca, servername: "localhost" })).close();
    const users = async () => (await logSince(server.log!, from)).match(/"USER\b/g)?.length ?? 0;
    await until(async () => (await users()) > 0, "the good session's USER in the log");
    assert.equal(await users(), 1, await logSince(server.log!, from));
  }
}
