/**
 * The FTPS client through a proxy: a transport that opens each connection to the proxy with the
 * transport under it, asks the proxy for a tunnel to the real target (SOCKS5, RFC 1928 and RFC
 * 1929; or HTTP CONNECT, RFC 9110 section 9.3.6), and hands the tunnel on, TLS run over it as over
 * a direct connection. The control connection and passive data connections go through it; active
 * mode cannot (the server would connect to this host directly) and is refused.
 *
 * A tunnel's `remoteAddress` is the target asked for (the name for `socks5h://` and `http://`, the
 * address resolved here for `socks5://`), so that data connections go to the control connection's
 * server (RFC 2577 section 3), through the proxy too.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { encodeHttpConnect, parseHttpConnectResponse } from "../codec/_http_connect.ts";
import {
  encodeSocks5Auth,
  encodeSocks5Connect,
  encodeSocks5Greeting,
  parseSocks5AuthReply,
  parseSocks5Method,
  parseSocks5Reply,
  SOCKS5_USER_PASS,
} from "../codec/_socks5.ts";
import { canonicalFtpHost } from "../codec/ftp_address.ts";
import { within } from "../io/timeout.ts";
import type { FtpSocket, FtpTransport } from "./transport.ts";

/** A proxy the FTPS client connects through, in full. */
export interface FtpsProxyOptions {
  /**
   * `socks5://[user:pass@]host[:port]` (SOCKS5; a target name is resolved here),
   * `socks5h://...` (SOCKS5, the proxy resolves the name) or `http://[user:pass@]host[:port]`
   * (HTTP CONNECT, Basic proxy authentication). The port defaults to 1080, as curl's does.
   */
  url: string;
  /** The proxy's username, instead of one in the URL. */
  user?: string;
  /** The proxy's password, instead of one in the URL. */
  password?: string;
}

/** A proxy, read from its URL: how to reach it and how to talk to it. */
export interface FtpsProxySpec {
  /** The protocol: SOCKS5 (`socks5h`: the proxy resolves names) or HTTP CONNECT. */
  readonly kind: "socks5" | "socks5h" | "http";
  /** The proxy's host (an IPv6 literal without brackets). */
  readonly host: string;
  /** The proxy's port. */
  readonly port: number;
  /** Credentials for the proxy, when given. */
  readonly auth?: { readonly user: string; readonly password: string };
}

const PROXY_URL =
  /^(socks5h?|http):\/\/(?:([^@/]*)@)?(\[[0-9a-fA-F:.]+\]|[^:/@[\]]+)(?::(\d{1,5}))?\/?$/i;

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new TypeError(`the proxy URL's ${what} is not valid percent-encoding`);
  }
}

/**
 * Reads a proxy's URL (with the options' credentials, which win over the URL's). Refuses a scheme
 * other than `socks5`, `socks5h` and `http` (`https://` proxies are not supported), and a URL with
 * a path, query or bad port.
 */
export function parseProxy(proxy: string | FtpsProxyOptions): FtpsProxySpec {
  const options = typeof proxy === "string" ? { url: proxy } : proxy;
  const match = PROXY_URL.exec(options.url.trim());
  if (!match) {
    const scheme = /^([a-z0-9+.-]+):\/\//i.exec(options.url)?.[1];
    throw new TypeError(
      scheme && !/^(socks5h?|http)$/i.test(scheme)
        ? `proxy scheme ${scheme}:// is not supported: use socks5://, socks5h:// or http://`
        : "not a proxy URL: socks5://[user:pass@]host[:port], socks5h://... or http://...",
    );
  }
  const [, scheme, userinfo, rawHost, rawPort] = match;
  const port = rawPort === undefined ? 1080 : Number(rawPort);
  if (port < 1 || port > 65535) throw new TypeError(`the proxy's port ${rawPort} is not 1-65535`);
  const colon = userinfo?.indexOf(":") ?? -1;
  const user = options.user ??
    (userinfo === undefined || userinfo === ""
      ? undefined
      : decode(colon === -1 ? userinfo : userinfo.slice(0, colon), "username"));
  const password = options.password ??
    (colon === -1 ? undefined : decode(userinfo!.slice(colon + 1), "password"));
  if (password !== undefined && user === undefined) {
    throw new TypeError("a proxy password needs a username");
  }
  return {
    kind: scheme.toLowerCase() as FtpsProxySpec["kind"],
    host: rawHost.replace(/^\[(.*)\]$/, "$1"),
    port,
    ...(user !== undefined ? { auth: { user, password: password ?? "" } } : {}),
  };
}

/** What connections through `proxy` are called in messages. */
function proxyName(proxy: FtpsProxySpec): string {
  const host = proxy.host.includes(":") ? `[${proxy.host}]` : proxy.host;
  return `${proxy.kind === "http" ? "HTTP" : "SOCKS5"} proxy ${host}:${proxy.port}`;
}

/** Reads from `socket` until `parse` has what it needs; returns its result and the bytes after. */
async function answer<T>(
  socket: FtpSocket,
  buffered: { bytes: Uint8Array },
  parse: (bytes: Uint8Array) => { value: T; length: number } | undefined,
): Promise<T> {
  for (;;) {
    const parsed = parse(buffered.bytes);
    if (parsed) {
      buffered.bytes = buffered.bytes.subarray(parsed.length);
      return parsed.value;
    }
    const chunk = await socket.read();
    if (chunk === null) throw new Error("the proxy closed the connection");
    const joined = new Uint8Array(buffered.bytes.length + chunk.length);
    joined.set(buffered.bytes);
    joined.set(chunk, buffered.bytes.length);
    buffered.bytes = joined;
  }
}

/** A codec parse as {@linkcode answer} takes it: `undefined` while more bytes are needed. */
function complete<T>(
  parsed: { need: number | true } | { value: T; length: number },
): { value: T; length: number } | undefined {
  return "need" in parsed ? undefined : parsed;
}

/** Asks the proxy on `socket` for a tunnel to `host`:`port`; returns the bytes read past its
 * answer (the target's first bytes). */
async function negotiate(
  socket: FtpSocket,
  proxy: FtpsProxySpec,
  host: string,
  port: number,
): Promise<Uint8Array> {
  const buffered = { bytes: new Uint8Array(0) };
  if (proxy.kind === "http") {
    await socket.write(encodeHttpConnect(host, port, proxy.auth));
    await answer(socket, buffered, (bytes) => {
      const parsed = parseHttpConnectResponse(bytes);
      return "need" in parsed ? undefined : { value: parsed.status, length: parsed.length };
    });
    return buffered.bytes;
  }
  const withPassword = proxy.auth !== undefined;
  await socket.write(encodeSocks5Greeting(withPassword));
  const method = await answer(
    socket,
    buffered,
    (b) => complete(parseSocks5Method(b, withPassword)),
  );
  if (method === SOCKS5_USER_PASS) {
    await socket.write(encodeSocks5Auth(proxy.auth!.user, proxy.auth!.password));
    await answer(socket, buffered, (bytes) => complete(parseSocks5AuthReply(bytes)));
  }
  await socket.write(encodeSocks5Connect(host, port));
  await answer(socket, buffered, (bytes) => complete(parseSocks5Reply(bytes)));
  return buffered.bytes;
}

/** The tunnel as a socket: its peer is the target, and the first read gives what came with the
 * proxy's answer. Under TLS the same (what came before the handshake is dropped). */
function tunnel(socket: FtpSocket, target: string, early?: Uint8Array): FtpSocket {
  let pending = early !== undefined && early.length > 0 ? early : undefined;
  return {
    get localAddress() {
      return socket.localAddress;
    },
    remoteAddress: target,
    get tls() {
      return socket.tls;
    },
    get closeNotified() {
      return socket.closeNotified;
    },
    read() {
      const first = pending;
      pending = undefined;
      return first ? Promise.resolve(first) : socket.read();
    },
    write: (bytes) => socket.write(bytes),
    end: () => socket.end(),
    close: () => socket.close(),
    ...(socket.reset ? { reset: () => socket.reset!() } : {}),
    async startTls(options) {
      pending = undefined;
      return tunnel(await socket.startTls(options), target);
    },
  };
}

/**
 * `transport` with every connection through `proxy`: each negotiation bounded by `timeoutMs` (the
 * connection to the proxy is closed when it runs out). Listening (active mode) is refused.
 */
export function proxiedTransport(
  transport: FtpTransport,
  proxy: FtpsProxySpec,
  timeoutMs: number,
): FtpTransport {
  const name = proxyName(proxy);
  return {
    async connect({ host, port, tls, sessions }) {
      // socks5:// resolves the name here; socks5h:// and HTTP send it to the proxy.
      const target = proxy.kind === "socks5" && canonicalFtpHost(host) === undefined
        ? (await within(lookup(host), timeoutMs, `Resolving ${host}`)).address
        : host;
      const store = sessions ?? tls?.sessions;
      let socket: FtpSocket;
      try {
        socket = await transport.connect({
          host: proxy.host,
          port: proxy.port,
          ...(store ? { sessions: store } : {}),
        });
      } catch (error) {
        // The system's code (ECONNREFUSED, ...) stays, for the caller to tell failures apart.
        const code = (error as { code?: unknown }).code;
        throw Object.assign(
          new Error(`The ${name}: ${(error as Error).message}`, { cause: error }),
          code !== undefined ? { code } : {},
        );
      }
      let early: Uint8Array;
      try {
        early = await within(
          negotiate(socket, proxy, target, port),
          timeoutMs,
          `The ${name}: no tunnel to ${target}:${port} within ${timeoutMs} ms`,
        );
      } catch (error) {
        socket.close();
        const message = (error as Error).message;
        throw new Error(
          message.startsWith(`The ${name}`)
            ? message
            : `The ${name} gave no tunnel to ${target}:${port}: ${message}`,
          { cause: error },
        );
      }
      const tunnelled = tunnel(socket, target, early);
      return tls ? await tunnelled.startTls(tls) : tunnelled;
    },
    listen() {
      return Promise.reject(new Error(activeRefusal(name)));
    },
    sessionStore: (server) => transport.sessionStore(server),
    resumesSessions: transport.resumesSessions,
    ...(transport.singleUseTickets !== undefined
      ? { singleUseTickets: transport.singleUseTickets }
      : {}),
  };
}

/** Why active mode cannot go through a proxy. */
export function activeRefusal(name: string): string {
  return `Active mode (passive: false) cannot go through the ${name}: the server would connect ` +
    "to this host directly; use passive mode";
}

/** {@linkcode activeRefusal} for a proxy given as an option. */
export function activeRefusalFor(proxy: FtpsProxySpec): string {
  return activeRefusal(proxyName(proxy));
}
