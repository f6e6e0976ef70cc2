// TFTP daemons on a chosen address (127.0.0.1 or ::1), and whether a daemon really listens on
// IPv6 when asked to: read from /proc/net/udp6, not from what it logs.

import { readFile } from "node:fs/promises";
import {
  type Daemon,
  missing,
  onFreePort,
  PEER,
  startDaemon,
  tempDir,
  TFTPD_ARGS,
} from "./_peers.ts";

/** A TFTP daemon that was started, and its port. */
export interface RunningTftpd {
  daemon: Daemon;
  port: number;
}

/**
 * Starts tftpd-hpa or atftpd serving `dir` on `host` and a free port, with `extra` arguments
 * (another port is tried when the one picked was taken meanwhile).
 */
export function startTftpd(
  name: "tftpdHpa" | "atftpd",
  dir: string,
  host: string,
  extra: readonly string[] = [],
): Promise<RunningTftpd> {
  return onFreePort("udp", async (port) => ({
    daemon: await startDaemon(PEER[name], [...TFTPD_ARGS[name](dir, port, host), ...extra], {
      udp: port,
    }),
    port,
  }));
}

/** Whether an IPv6 UDP socket is bound to `port` (Linux's /proc/net/udp6). */
export async function udp6Bound(port: number): Promise<boolean> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const table = await readFile("/proc/net/udp6", "utf8").catch(() => "");
  // sl local_address rem_address ...: the local address ends in :PORT (hex).
  return table.split("\n").slice(1).some((line) =>
    line.trim().split(/\s+/)[1]?.endsWith(`:${hexPort}`)
  );
}

/**
 * Why `name` cannot serve on ::1 (a loud message, after starting it there and looking at the
 * socket it bound), or `false` when it can.
 */
export async function cannotServeIpv6(name: "tftpdHpa" | "atftpd"): Promise<string | false> {
  const absent = missing(name);
  if (absent) return absent;
  const dir = await tempDir("ftkit-v6-probe-");
  let running: RunningTftpd | undefined;
  try {
    running = await startTftpd(name, dir.path, "::1");
    if (await udp6Bound(running.port)) return false;
    const message = `!!! ${PEER[name]} was given ::1 as its address but bound port ` +
      `${running.port} on IPv4 only (no entry in /proc/net/udp6): it cannot serve over IPv6`;
    console.warn(message);
    return message;
  } catch (error) {
    const message = `!!! ${name} cannot serve on ::1: ${(error as Error).message}`;
    console.warn(message);
    return message;
  } finally {
    await running?.daemon.stop();
    await dir.remove();
  }
}
