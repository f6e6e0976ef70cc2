// The TFTP functions of the runtime running the tests, through its own adapter.

import type { TftpRuntimeApi, TftpUdpBind } from "../tftp/mod.ts";
import { runtime } from "./_runtime.ts";

/** The adapter entry point of the current runtime. */
export async function tftpApi(): Promise<TftpRuntimeApi> {
  if (runtime === "deno") return await import("../tftp/adapters/deno.ts");
  if (runtime === "bun") return await import("../tftp/adapters/bun.ts");
  return await import("../tftp/adapters/node.ts");
}

/** The UDP binding of the current runtime's adapter (to bind a client to a chosen address). */
export async function tftpUdpBind(): Promise<TftpUdpBind> {
  if (runtime === "deno") return (await import("../tftp/adapters/deno.ts")).bindUdp;
  if (runtime === "bun") return (await import("../tftp/adapters/bun.ts")).bindUdp;
  return (await import("../tftp/adapters/node.ts")).bindUdp;
}
