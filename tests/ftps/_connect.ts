// The FTPS client of the runtime running the tests: Deno's entry point (native TLS) on Deno,
// Bun's on Bun, Node's on Node.

import { connectFtps as onDeno } from "../../ftps/adapters/deno.ts";
import { connectFtps as onBun } from "../../ftps/adapters/bun.ts";
import { connectFtps as onNode } from "../../ftps/adapters/node.ts";
import { runtime } from "../_runtime.ts";

/** `connectFtps` from this runtime's entry point. */
export const connectFtps: typeof onNode = runtime === "deno"
  ? onDeno
  : runtime === "bun"
  ? onBun
  : onNode;

export { FtpReplyError, type FtpsClient } from "../../ftps/mod.ts";
