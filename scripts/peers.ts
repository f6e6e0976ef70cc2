/**
 * Installs the real peers the interop tests talk to, from Debian's packages: tftpd-hpa, tftp-hpa,
 * atftp, curl, busybox, vsftpd, pyftpdlib and lftp; atftpd, ProFTPD (with mod_tls) and Pure-FTPd are
 * unpacked under /opt (they conflict with tftpd-hpa and vsftpd). Needs root and apt-get; without
 * them it says what is missing and the tests that need it are skipped.
 *
 * Usage: deno run -A scripts/peers.ts
 *
 * @module
 */

import { existsSync, readdirSync } from "node:fs";
import { run } from "./_run.ts";

/** Each peer: the file that proves it is installed, and the Debian package that brings it. */
const PEERS: { file: string; package: string }[] = [
  { file: "/usr/sbin/in.tftpd", package: "tftpd-hpa" },
  { file: "/usr/bin/tftp", package: "tftp-hpa" },
  { file: "/usr/bin/atftp", package: "atftp" },
  { file: "/usr/bin/curl", package: "curl" },
  { file: "/usr/bin/busybox", package: "busybox" },
  { file: "/usr/sbin/vsftpd", package: "vsftpd" },
  { file: "/usr/bin/openssl", package: "openssl" },
  { file: "/usr/bin/lftp", package: "lftp" },
  { file: "/usr/lib/python3/dist-packages/pyftpdlib/__init__.py", package: "python3-pyftpdlib" },
  { file: "/usr/lib/python3/dist-packages/OpenSSL/__init__.py", package: "python3-openssl" },
  // What the unpacked ProFTPD and Pure-FTPd link against (their packages' Depends).
  { file: "/usr/lib/x86_64-linux-gnu/libsodium.so.23", package: "libsodium23" },
  { file: "/usr/lib/x86_64-linux-gnu/libhiredis.so.0.14", package: "libhiredis0.14" },
  { file: "/usr/lib/x86_64-linux-gnu/libmemcached.so.11", package: "libmemcached11" },
  { file: "/usr/lib/x86_64-linux-gnu/libmemcachedutil.so.2", package: "libmemcachedutil2" },
  { file: "/usr/lib/x86_64-linux-gnu/libpcre2-posix.so.3", package: "libpcre2-posix3" },
];

/**
 * Peers that conflict with installed ones as packages (atftpd with tftpd-hpa; proftpd-core and
 * pure-ftpd with vsftpd): unpacked under /opt instead, where they cannot collide.
 */
const UNPACKED: { name: string; files: string[]; packages: string[]; dir: string }[] = [
  {
    name: "atftpd",
    files: ["/opt/atftpd/usr/sbin/atftpd"],
    packages: ["atftpd"],
    dir: "/opt/atftpd",
  },
  {
    name: "proftpd",
    files: ["/opt/proftpd/usr/sbin/proftpd", "/opt/proftpd/usr/lib/proftpd/mod_tls.so"],
    packages: ["proftpd-core", "proftpd-mod-crypto"],
    dir: "/opt/proftpd",
  },
  {
    name: "pure-ftpd",
    files: ["/opt/pure-ftpd/usr/sbin/pure-ftpd", "/opt/pure-ftpd/usr/bin/pure-pw"],
    packages: ["pure-ftpd"],
    dir: "/opt/pure-ftpd",
  },
];

/** Where atftpd is unpacked. */
export const ATFTPD = "/opt/atftpd/usr/sbin/atftpd";

const unpacked = (peer: (typeof UNPACKED)[number]) => peer.files.every((file) => existsSync(file));

/** Installs what is missing. Returns the list of peers still missing afterwards. */
export async function installPeers(): Promise<string[]> {
  const missing = PEERS.filter((peer) => !existsSync(peer.file));
  const toUnpack = UNPACKED.filter((peer) => !unpacked(peer));
  if (missing.length === 0 && toUnpack.length === 0) return [];
  const root = process.getuid?.() === 0;
  const apt = existsSync("/usr/bin/apt-get");
  if (!root || !apt) {
    const names = [...missing.map((peer) => peer.package), ...toUnpack.map((peer) => peer.name)];
    console.warn(
      `!!! Cannot install interop peers (${root ? "no apt-get" : "not root"}): ${names.join(", ")}`,
    );
    return names;
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run(["apt-get", "update", "-qq"], { env, timeoutMs: 300_000 }, false);
  if (missing.length > 0) {
    await run(
      [
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        ...missing.map((peer) => peer.package),
      ],
      { env, timeoutMs: 600_000 },
      false,
    );
  }
  const work = "/tmp/ftkit-peers";
  for (const peer of toUnpack) {
    await run(["mkdir", "-p", work, peer.dir]);
    for (const name of peer.packages) {
      await run(["apt-get", "download", name], { cwd: work, env, timeoutMs: 300_000 }, false);
      const deb = readdirSync(work).find((file) =>
        file.startsWith(`${name}_`) && file.endsWith(".deb")
      );
      if (deb) await run(["dpkg", "-x", `${work}/${deb}`, peer.dir], {}, false);
    }
  }
  const still = [
    ...PEERS.filter((peer) => !existsSync(peer.file)).map((peer) => peer.package),
    ...UNPACKED.filter((peer) => !unpacked(peer)).map((peer) => peer.name),
  ];
  if (still.length > 0) {
    console.warn(`!!! Interop peers could not be installed: ${still.join(", ")}`);
  }
  return still;
}

if (import.meta.main) {
  const missing = await installPeers();
  console.log(
    missing.length === 0 ? "All interop peers are installed." : `Missing: ${missing.join(", ")}`,
  );
}
