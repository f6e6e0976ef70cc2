// The FTPS client and server of the runtime running the tests: Deno's entry point (native TLS
// for the client) on Deno, Bun's on Bun, Node's on Node.

import {
  connectFtps as onDeno,
  nodeTlsTransport as denoNodeTls,
  serveFtps as serveOnDeno,
  transport as denoNative,
} from "../../ftps/adapters/deno.ts";
import { connectFtps as onBun, serveFtps as serveOnBun } from "../../ftps/adapters/bun.ts";
import {
  connectFtps as onNode,
  serveFtps as serveOnNode,
  transport as nodeTransport,
} from "../../ftps/adapters/node.ts";
import type { FtpTransport } from "../../ftps/mod.ts";
import { runtime } from "../_runtime.ts";

/** `connectFtps` from this runtime's entry point. */
export const connectFtps: typeof onNode = runtime === "deno"
  ? onDeno
  : runtime === "bun"
  ? onBun
  : onNode;

/** `serveFtps` from this runtime's entry point. */
export const serveFtps: typeof serveOnNode = runtime === "deno"
  ? serveOnDeno
  : runtime === "bun"
  ? serveOnBun
  : serveOnNode;

/** Every client transport of this runtime, by name: Deno has two (native TLS and node:tls). */
export const clientTransports: readonly { name: string; transport: FtpTransport }[] =
  runtime === "deno"
    ? [
      { name: "Deno native TLS", transport: denoNative },
      { name: "Deno node:tls, a Worker per session", transport: denoNodeTls },
    ]
    : [{ name: `${runtime} node:tls`, transport: nodeTransport }];

export { FtpReplyError, type FtpsClient, type FtpsLogEntry } from "../../ftps/mod.ts";
