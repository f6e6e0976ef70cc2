// The FTPS client and server of the runtime running the tests: Deno's entry point (native TLS
// for the client) on Deno, Bun's on Bun, Node's on Node.

import { connectFtps as onDeno, serveFtps as serveOnDeno } from "../../ftps/adapters/deno.ts";
import { connectFtps as onBun, serveFtps as serveOnBun } from "../../ftps/adapters/bun.ts";
import { connectFtps as onNode, serveFtps as serveOnNode } from "../../ftps/adapters/node.ts";
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

export { FtpReplyError, type FtpsClient, type FtpsLogEntry } from "../../ftps/mod.ts";
