/**
 * Installs the real peers the interop tests talk to, from Debian's packages: tftpd-hpa, tftp-hpa,
 * atftp, curl, busybox and vsftpd, and atftpd unpacked under /opt (it conflicts with tftpd-hpa). Needs
 * root and apt-get; without them it says what is missing and the tests that need it are skipped.
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
];

/** Where atftpd is unpacked. */
export const ATFTPD = "/opt/atftpd/usr/sbin/atftpd";

/** Installs what is missing. Returns the list of peers still missing afterwards. */
export async function installPeers(): Promise<string[]> {
  const missing = PEERS.filter((peer) => !existsSync(peer.file));
  const needAtftpd = !existsSync(ATFTPD);
  if (missing.length === 0 && !needAtftpd) return [];
  const root = process.getuid?.() === 0;
  const apt = existsSync("/usr/bin/apt-get");
  if (!root || !apt) {
    const names = [...missing.map((peer) => peer.package), ...(needAtftpd ? ["atftpd"] : [])];
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
  if (needAtftpd) {
    const work = "/tmp/ftkit-peers";
    await run(["mkdir", "-p", work, "/opt/atftpd"]);
    await run(["apt-get", "download", "atftpd"], { cwd: work, env, timeoutMs: 300_000 }, false);
    const deb = readdirSync(work).find((name) =>
      name.startsWith("atftpd_") && name.endsWith(".deb")
    );
    if (deb) await run(["dpkg", "-x", `${work}/${deb}`, "/opt/atftpd"], {}, false);
  }
  const still = [
    ...PEERS.filter((peer) => !existsSync(peer.file)).map((peer) => peer.package),
    ...(existsSync(ATFTPD) ? [] : ["atftpd"]),
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
