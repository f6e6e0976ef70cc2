// FtpsClient over real loopback sockets against a scripted plain-FTP server: what only a real
// connection shows (stalls), without TLS peers.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { connectFtps, FtpReplyError } from "./_connect.ts";

/** A plain FTP server that logs anyone in, opens passive data connections, and on RETR sends
 * `head` then goes silent; on STOR it never reads. When the client drops the data connection it
 * answers 426 if `answer`, else nothing. Returns its port and a closer. */
async function stallingServer(
  head: Uint8Array,
  answer: boolean,
): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const servers: Server[] = [];
  const listen = (server: Server) =>
    new Promise<number>((resolve) => {
      servers.push(server);
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
    });
  const control = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {}); // a reset by the client is not the server's failure
    let data: Socket | undefined;
    let dataReady: Promise<void> = Promise.resolve();
    socket.write("220 ready\r\n");
    let buffer = "";
    socket.on("data", async (chunk) => {
      buffer += chunk.toString();
      for (let end = buffer.indexOf("\r\n"); end !== -1; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "USER") socket.write("230 in\r\n");
        else if (verb === "TYPE") socket.write("200 ok\r\n");
        else if (verb === "EPSV") {
          const listener = createServer();
          dataReady = new Promise((resolve) =>
            listener.once("connection", (connection) => {
              sockets.push(connection);
              connection.on("error", () => {});
              connection.on("close", () => {
                if (answer) socket.write("426 Connection closed; transfer aborted.\r\n");
              });
              data = connection;
              resolve();
            })
          );
          socket.write(`229 Entering Extended Passive Mode (|||${await listen(listener)}|)\r\n`);
        } else if (verb === "RETR" || verb === "STOR") {
          await dataReady;
          if (verb === "STOR") data?.pause(); // Its bytes are never read.
          socket.write("150 go\r\n");
          if (verb === "RETR") data?.write(head);
        } else if (verb === "QUIT") socket.end("221 bye\r\n");
        else socket.write("502 no\r\n");
      }
    });
  });
  const port = await listen(control);
  return {
    port,
    close() {
      for (const socket of sockets) socket.destroy();
      for (const server of servers) server.close();
    },
  };
}

// The client's one timeout bounds every reply too, so it must stay well above what a reply can
// take on a loaded machine; the stalls themselves are endless, whatever it is.
const TIMEOUT_MS = 2000;

/** A client of `server` (closed with it if the connection fails). */
async function connected(server: { port: number; close(): void }, timeoutMs = TIMEOUT_MS) {
  try {
    return await connectFtps({ host: "127.0.0.1", port: server.port, secure: false, timeoutMs });
  } catch (error) {
    server.close();
    throw error;
  }
}

describe("FtpsClient on real sockets", () => {
  test("a download that stops moving fails after timeoutMs, and the session goes on", async () => {
    const server = await stallingServer(new Uint8Array(1000).fill(1), true);
    const client = await connected(server);
    try {
      const seen: number[] = [];
      await assert.rejects(
        client.get("stalls.bin", { onProgress: (bytes) => seen.push(bytes) }),
        (error: unknown) => {
          assert.ok(error instanceof FtpReplyError && error.code === 426, String(error));
          assert.match(
            error.message,
            new RegExp(`failed first: Data: nothing moved for ${TIMEOUT_MS} ms`),
          );
          return true;
        },
      );
      assert.equal(seen.at(-1), 1000, "the bytes that came were counted");
      await assert.rejects(client.raw("NOOP"), /502/, "the session answers on");
    } finally {
      await client.close();
      server.close();
    }
  });

  test("an upload the server never reads fails after timeoutMs, with that cause", async () => {
    // The server says nothing after the data connection is dropped: the session times out too,
    // and the transfer still fails with what went wrong first.
    const server = await stallingServer(new Uint8Array(0), false);
    const client = await connected(server);
    try {
      // Far more than the socket buffers hold, so a write must wait for the reader.
      await assert.rejects(
        client.put("stalls.bin", new Uint8Array(64 * 1024 * 1024)),
        new RegExp(`nothing moved for ${TIMEOUT_MS} ms`),
      );
    } finally {
      await client.close();
      server.close();
    }
  });

  test("after the server hangs up, every operation rejects (none throws)", async () => {
    const server = await stallingServer(new Uint8Array(0), false);
    const client = await connected(server);
    try {
      server.close(); // drops the control connection
      await assert.rejects(client.raw("NOOP"), /closed/);
      // The session is known closed now: each call still returns a rejected promise.
      const calls: [string, () => Promise<unknown>][] = [
        ["raw", () => client.raw("NOOP")],
        ["pwd", () => client.pwd()],
        ["cd", () => client.cd("/")],
        ["size", () => client.size("a")],
        ["get", () => client.get("a")],
        ["put", () => client.put("a", "b")],
        ["list", () => client.list()],
        ["mkdir", () => client.mkdir("a/b", { recursive: true })],
      ];
      for (const [name, call] of calls) {
        let promise: Promise<unknown> | undefined;
        assert.doesNotThrow(() => (promise = call()), name);
        await assert.rejects(promise!, /closed/, name);
      }
    } finally {
      await client.close();
      server.close();
    }
  });
});
