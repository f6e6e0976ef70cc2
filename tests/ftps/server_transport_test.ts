// The server transport (node:net + server-side node:tls) under the runtime running the tests:
// a socket that is not read stops its sender instead of buffering without bound, and once read
// it delivers every byte and then the end, over plain TCP, TLS on the TCP socket, and TLS over the
// record-fed stream (what CCC needs, and what Deno uses for every server TLS socket).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { nodeFtpServerTransport } from "../../ftps/adapters/_node_tcp.ts";
import type { FtpServerSocket } from "../../ftps/transport.ts";
import { repoFile } from "../_runtime.ts";
import { within } from "../_wait.ts";

const fixtures = repoFile("tests/fixtures/tls");
const ca = await readFile(join(fixtures, "ca.pem"), "utf8");
const context = nodeFtpServerTransport.tlsContext({
  cert: await readFile(join(fixtures, "leaf.pem"), "utf8"),
  key: await readFile(join(fixtures, "leaf.key"), "utf8"),
});

/** What the client sends: 64 MiB, in 64 KiB chunks of a counter pattern. */
const TOTAL = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** The largest part of `TOTAL` the client may get rid of while the server reads nothing. */
const BOUND = 24 * 1024 * 1024;

function chunkAt(index: number): Uint8Array {
  const out = new Uint8Array(CHUNK);
  const view = new DataView(out.buffer);
  for (let i = 0; i < CHUNK; i += 4) view.setUint32(i, index * CHUNK + i);
  return out;
}

/**
 * Writes `TOTAL` bytes to `socket` as fast as it takes them, then ends it; `flushed` counts the
 * bytes whose writes completed (handed to the kernel).
 */
function sender(socket: Socket): { flushed: () => number; done: Promise<void>; digest: string } {
  let flushed = 0;
  const hash = createHash("sha256");
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < TOTAL / CHUNK; i++) {
    const chunk = chunkAt(i);
    hash.update(chunk);
    chunks.push(chunk);
  }
  const done = (async () => {
    for (const chunk of chunks) {
      const more = socket.write(chunk, (error) => {
        if (!error) flushed += chunk.length;
      });
      if (!more) {
        await new Promise<void>((resolve, reject) => {
          socket.once("drain", resolve);
          socket.once("close", () => reject(new Error("closed while sending")));
        });
      }
    }
    await new Promise<void>((resolve) => socket.end(resolve));
  })();
  return { flushed: () => flushed, done, digest: hash.digest("hex") };
}

/** Waits until `value()` has not changed for `quietMs` (at most `limitMs` in all). */
async function settled(value: () => number, quietMs = 300, limitMs = 10_000): Promise<number> {
  const until = Date.now() + limitMs;
  let last = value();
  let since = Date.now();
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = value();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}

/** Reads `socket` to its end (bounded in time, each read included), hashing what came. */
async function drain(socket: FtpServerSocket): Promise<{ length: number; digest: string }> {
  const hash = createHash("sha256");
  let length = 0;
  const until = Date.now() + 120_000;
  for (;;) {
    const left = until - Date.now();
    if (left <= 0) throw new Error(`the end never came (${length} bytes read)`);
    const chunk = await within(socket.read(), `the end (${length} bytes read so far)`, left);
    if (chunk === null) break;
    hash.update(chunk);
    length += chunk.length;
  }
  return { length, digest: hash.digest("hex") };
}

const kinds: [string, "plain" | "tls" | "clearable"][] = [
  ["plain TCP", "plain"],
  ["TLS on the TCP socket", "tls"],
  ["TLS over the record-fed stream", "clearable"],
];

describe("server transport: an unread socket stops its sender; every byte and the end arrive", () => {
  for (const [name, kind] of kinds) {
    test(name, async () => {
      const listener = await nodeFtpServerTransport.listen({ host: "127.0.0.1", port: 0 });
      let client: Socket | undefined;
      let server: FtpServerSocket | undefined;
      let accepted: FtpServerSocket | null | undefined;
      const raw = tcpConnect({ host: "127.0.0.1", port: listener.port });
      try {
        raw.on("error", () => {});
        accepted = await within(listener.accept(), "the server to accept the connection");
        assert.ok(accepted);
        if (kind === "plain") {
          client = raw;
          server = accepted;
        } else {
          const secured = tlsConnect({ socket: raw, ca, servername: "localhost" });
          secured.on("error", () => {});
          [server] = await within(
            Promise.all([
              accepted.acceptTls(context, { clearable: kind === "clearable" }),
              new Promise<void>((resolve) => secured.once("secureConnect", () => resolve())),
            ]),
            "the TLS handshake",
          );
          client = secured;
        }
        const sending = sender(client);
        // The server has read nothing yet: what the client got rid of sits in kernel buffers and
        // the server's bounded read-ahead.
        const held = await settled(sending.flushed);
        assert.ok(held < BOUND, `${held} bytes were taken while nothing was read`);
        const received = await drain(server);
        await within(sending.done, "the client to finish sending");
        assert.equal(received.length, TOTAL);
        assert.equal(received.digest, sending.digest);
      } finally {
        client?.destroy();
        raw.destroy();
        server?.close();
        accepted?.close();
        listener.close();
      }
    });
  }
});
