// Telling an implicit-TLS FTP server from a slow one: a client that expects a plain greeting
// (ftp://, --tls, ftpes://) and gets none after a moment asks, on a second connection, whether the
// server answers a TLS handshake at once. A plain FTP server cannot, so the answer is never wrong;
// it is only asked when the greeting is late, so a server that greets costs nothing more.

import { isIP } from "node:net";
import { connect } from "node:tls";
import { CliError, Exit } from "./errors.ts";

/** How long a greeting may take before the server is asked whether it speaks TLS at once. */
export const PROBE_AFTER_MS = 1500;

/**
 * Whether the server at `host`:`port` completes a TLS handshake as soon as it is connected to
 * (implicit FTPS). Its certificate is not checked (nothing is sent over the connection); no
 * answer within `ms` counts as no.
 */
export function answersTls(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
    });
    const done = (result: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), ms);
    socket.once("secureConnect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

/**
 * `connecting` (a plain or explicit-TLS FTP connection), or, when no greeting came within
 * {@linkcode PROBE_AFTER_MS} and the server turns out to wait for a TLS handshake, a
 * {@linkcode CliError} (exit code 35) that says to use `ftps://`. A client that connects later
 * goes to `late`.
 */
export function unlessImplicit<T>(
  connecting: Promise<T>,
  server: { host: string; port: number; authority: string; timeoutMs: number },
  late: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
    };
    connecting.then(
      (value) => {
        if (settled) return late(value);
        settle();
        resolve(value);
      },
      (error) => {
        if (settled) return;
        settle();
        reject(error);
      },
    );
    const timer = setTimeout(async () => {
      const limit = Math.max(1000, Math.min(server.timeoutMs - PROBE_AFTER_MS, 10_000));
      if (settled || !(await answersTls(server.host, server.port, limit)) || settled) return;
      settle();
      reject(
        new CliError(
          `no FTP greeting from ${server.authority}: the server waits for a TLS handshake`,
          Exit.tlsHandshake,
          `the server may use implicit TLS: use ftps://${server.authority}`,
        ),
      );
    }, PROBE_AFTER_MS);
  });
}
