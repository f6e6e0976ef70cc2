/**
 * Installs the real peers the interop tests talk to, from Debian's packages: tftpd-hpa, tftp-hpa,
 * atftp, atftpd, curl, busybox, vsftpd, ProFTPD (with mod_tls), Pure-FTPd, Python's ftplib and
 * pyftpdlib, openssl, lftp, HAProxy, the proxies Dante (SOCKS5) and tinyproxy (HTTP CONNECT), and
 * OpenStack Swift (with its S3 front end) and memcached.
 *
 * A peer counts as installed when it says so itself (its version output, as the tests ask it:
 * `tests/interop/_peers.ts`), not when a file exists: `/usr/sbin/in.tftpd` is atftpd's when
 * atftpd was installed after tftpd-hpa. Packages that conflict with installed ones (tftpd-hpa and
 * atftpd; vsftpd, proftpd-core and pure-ftpd) are unpacked under /opt/NAME instead, where they
 * cannot collide, with the libraries they link against installed. Needs root and apt-get; without
 * them it says what is missing and why, and the tests that need it are skipped. The services
 * Swift's and memcached's packages enable are stopped and disabled where systemd runs them: the
 * tests start their own (`tests/interop/_swift.ts`), with their own configuration and ports.
 *
 * Usage: deno run -A scripts/peers.ts
 *
 * @module
 */

import { existsSync, readdirSync } from "node:fs";
import {
  findPeer,
  forgetPeers,
  PEER_NAMES,
  type PeerName,
  whyMissing,
} from "../tests/interop/_peers.ts";
import { run } from "./_run.ts";

/** Where a peer comes from. */
interface Source {
  /** The Debian packages that bring it. */
  packages: string[];
  /** Where it is unpacked (`dpkg -x`) when installing its packages would replace something. */
  unpackDir?: string;
  /** Always unpacked: its packages conflict with another peer's, installed normally. */
  alwaysUnpack?: boolean;
  /** Programs of conflicting packages: when one is there, the peer is unpacked instead. */
  collides?: string[];
  /** The prefix of the systemd units its packages enable, which the tests do not use. */
  services?: string;
}

const SOURCES: Record<PeerName, Source> = {
  tftpdHpa: {
    packages: ["tftpd-hpa"],
    unpackDir: "/opt/tftpd-hpa",
    collides: ["/usr/sbin/in.tftpd", "/usr/sbin/atftpd"],
  },
  tftpHpa: { packages: ["tftp-hpa"], unpackDir: "/opt/tftp-hpa", collides: ["/usr/bin/tftp"] },
  atftp: { packages: ["atftp"] },
  atftpd: { packages: ["atftpd"], unpackDir: "/opt/atftpd", alwaysUnpack: true },
  curl: { packages: ["curl"] },
  busybox: { packages: ["busybox"] },
  vsftpd: {
    packages: ["vsftpd"],
    unpackDir: "/opt/vsftpd",
    collides: ["/usr/sbin/vsftpd", "/usr/sbin/proftpd", "/usr/sbin/pure-ftpd"],
  },
  proftpd: {
    packages: ["proftpd-core", "proftpd-mod-crypto"],
    unpackDir: "/opt/proftpd",
    alwaysUnpack: true,
  },
  pureFtpd: { packages: ["pure-ftpd"], unpackDir: "/opt/pure-ftpd", alwaysUnpack: true },
  purePw: { packages: ["pure-ftpd"], unpackDir: "/opt/pure-ftpd", alwaysUnpack: true },
  python: { packages: ["python3"] },
  pyftpdlib: { packages: ["python3-pyftpdlib", "python3-openssl"] },
  openssl: { packages: ["openssl"] },
  lftp: { packages: ["lftp"] },
  haproxy: { packages: ["haproxy"] },
  danted: { packages: ["dante-server"] },
  tinyproxy: { packages: ["tinyproxy"] },
  swift: {
    packages: ["swift-proxy", "swift-account", "swift-container", "swift-object", "python3-swift"],
    services: "swift",
  },
  memcached: { packages: ["memcached"], services: "memcached" },
};

const env = { DEBIAN_FRONTEND: "noninteractive" };

function unpacks(name: PeerName): boolean {
  const source = SOURCES[name];
  if (!source.unpackDir) return false;
  return source.alwaysUnpack === true || (source.collides ?? []).some((file) => existsSync(file));
}

/** The library packages `names` depend on (what an unpacked package needs to run). */
async function libraries(names: string[]): Promise<string[]> {
  const { output } = await run(
    ["apt-cache", "depends", "--no-recommends", "--no-suggests", ...names],
    { capture: true, env },
    false,
  );
  const found = [...output.matchAll(/^\s*\|?Depends: (lib[^\s<>]+)$/gm)].map((match) => match[1]);
  return [...new Set(found)];
}

/** Unpacks `packages` under `dir` (their files only, no maintainer scripts). */
async function unpack(packages: string[], dir: string): Promise<void> {
  const work = "/tmp/ftkit-peers";
  await run(["mkdir", "-p", work, dir]);
  for (const name of packages) {
    await run(["apt-get", "download", name], { cwd: work, env, timeoutMs: 300_000 }, false);
    const deb = readdirSync(work).find((file) =>
      file.startsWith(`${name}_`) && file.endsWith(".deb")
    );
    if (deb) await run(["dpkg", "-x", `${work}/${deb}`, dir], {}, false);
  }
}

/** What vsftpd needs at run time that its package's scripts would have made. */
async function vsftpdRuntime(unpackedAt?: string): Promise<void> {
  // The configuration the tests write names it as secure_chroot_dir.
  await run(["mkdir", "-p", "/var/run/vsftpd/empty"], {}, false);
  if (!unpackedAt) return;
  if (!existsSync("/etc/pam.d/vsftpd")) {
    await run(["cp", `${unpackedAt}/etc/pam.d/vsftpd`, "/etc/pam.d/vsftpd"], {}, false);
  }
  const { code } = await run(["id", "-u", "ftp"], { capture: true }, false);
  if (code !== 0) {
    await run(
      ["useradd", "--system", "--home-dir", "/srv/ftp", "--shell", "/usr/sbin/nologin", "ftp"],
      {},
      false,
    );
  }
}

/**
 * Stops and disables the systemd units whose names start with `prefix` (what a package started
 * when it was installed), when systemd runs here.
 */
async function stopServices(prefix: string): Promise<void> {
  if (!existsSync("/run/systemd/system")) return;
  const { output } = await run(
    ["systemctl", "list-unit-files", "--no-legend", "--type=service", `${prefix}*`],
    { capture: true },
    false,
  );
  const units = [...output.matchAll(/^(\S+\.service)\s+enabled/gm)].map((match) => match[1]);
  if (units.length > 0) await run(["systemctl", "disable", "--now", ...units], {}, false);
}

/** One line per peer: what it reported, or why it is missing. */
function report(): string[] {
  return PEER_NAMES.map((name) => {
    const peer = findPeer(name);
    return peer
      ? `ok       ${peer.title} ${peer.version} (${peer.program})`
      : `MISSING  ${whyMissing(name)}`;
  });
}

/**
 * Installs (or unpacks) the peers that do not report themselves. Returns the peers still missing
 * afterwards, each with the reason.
 */
export async function installPeers(): Promise<string[]> {
  forgetPeers();
  const root = process.getuid?.() === 0;
  const absent = PEER_NAMES.filter((name) => !findPeer(name));
  if (absent.length === 0) {
    if (root) await vsftpdRuntime();
    return [];
  }
  const apt = existsSync("/usr/bin/apt-get");
  if (!root || !apt) {
    const reasons = absent.map((name) => whyMissing(name)!);
    console.warn(
      `!!! Cannot install interop peers (${root ? "no apt-get" : "not root"}):\n  ${
        reasons.join("\n  ")
      }`,
    );
    return reasons;
  }
  console.log(
    `Installing interop peers:\n  ${absent.map((name) => whyMissing(name)).join("\n  ")}`,
  );
  await run(["apt-get", "update", "-qq"], { env, timeoutMs: 300_000 }, false);
  const installed = [
    ...new Set(absent.filter((name) => !unpacks(name)).flatMap((name) => SOURCES[name].packages)),
  ];
  if (installed.length > 0) {
    await run(
      ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...installed],
      { env, timeoutMs: 600_000 },
      false,
    );
  }
  const unpacked = new Map<string, string[]>();
  for (const name of absent.filter(unpacks)) {
    unpacked.set(SOURCES[name].unpackDir!, SOURCES[name].packages);
  }
  for (const [dir, packages] of unpacked) {
    await unpack(packages, dir);
    // Their libraries never conflict: those are installed normally.
    const needed = (await libraries(packages)).filter((name) => !packages.includes(name));
    if (needed.length > 0) {
      await run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...needed],
        { env, timeoutMs: 600_000 },
        false,
      );
    }
  }
  await vsftpdRuntime(unpacked.has("/opt/vsftpd") ? "/opt/vsftpd" : undefined);
  for (const name of absent) {
    const prefix = SOURCES[name].services;
    if (prefix !== undefined) await stopServices(prefix);
  }
  forgetPeers();
  const still = PEER_NAMES.filter((name) => !findPeer(name)).map((name) => whyMissing(name)!);
  if (still.length > 0) {
    console.warn(`!!! Interop peers could not be installed:\n  ${still.join("\n  ")}`);
  }
  return still;
}

if (import.meta.main) {
  const missing = await installPeers();
  console.log(report().join("\n"));
  console.log(missing.length === 0 ? "All interop peers are installed." : "Some are missing.");
  Deno.exit(missing.length === 0 ? 0 : 1);
}
