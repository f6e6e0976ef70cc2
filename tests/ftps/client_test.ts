// FtpsClient over real loopback sockets against scripted plain-FTP servers: what only a real
// connection shows (stalls), and the retries of transfers a server refused over TLS session
// resumption, with the TLS pretended by the transport (no TLS peers).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { connectFtps, FtpReplyError } from "./_connect.ts";
import {
  FtpsClient,
  FtpSessionReuseError,
  type FtpSocket,
  type FtpTransport,
} from "../../ftps/mod.ts";
import { transport as nodeTransport } from "../../ftps/adapters/node.ts";

/** Loopback listeners and the sockets they took, closed together. */
function loopback(): {
  listen(server: Server): Promise<number>;
  track(socket: Socket): Socket;
  close(): void;
} {
  const sockets: Socket[] = [];
  const servers: Server[] = [];
  return {
    listen: (server) =>
      new Promise<number>((resolve) => {
        servers.push(server);
        server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
      }),
    track(socket) {
      sockets.push(socket);
      socket.on("error", () => {}); // a reset by the client is not the server's failure
      return socket;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      for (const server of servers) server.close();
    },
  };
}

/** The CR LF lines of a control connection's chunks, one at a time. */
function lineReader(): (chunk: Uint8Array) => string[] {
  const decoder = new TextDecoder();
  let buffer = "";
  return (chunk) => {
    buffer += decoder.decode(chunk, { stream: true });
    const lines = buffer.split("\r\n");
    buffer = lines.pop()!;
    return lines;
  };
}

/** A plain FTP server that logs anyone in, opens passive data connections, and on RETR sends
 * `head` then goes silent; on STOR it never reads. When the client drops the data connection it
 * answers 426 if `answer`, else nothing. Returns its port and a closer. */
async function stallingServer(
  head: Uint8Array,
  answer: boolean,
): Promise<{ port: number; close(): void }> {
  const { listen, track, close } = loopback();
  const control = createServer((socket) => {
    track(socket);
    let data: Socket | undefined;
    let dataReady: Promise<void> = Promise.resolve();
    socket.write("220 ready\r\n");
    const read = lineReader();
    socket.on("data", async (chunk) => {
      for (const line of read(chunk)) {
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "USER") socket.write("230 in\r\n");
        else if (verb === "TYPE") socket.write("200 ok\r\n");
        else if (verb === "EPSV") {
          const listener = createServer();
          dataReady = new Promise((resolve) =>
            listener.once("connection", (connection) => {
              track(connection);
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
  return { port: await listen(control), close };
}

/**
 * A transport whose TLS is pretended over `nodeTransport`'s plain TCP: the control connection's
 * handshake hands the connection back as it is; a data connection's runs `handshake` (told
 * whether it offers the control connection's session) and, unless that fails, sends the server
 * `R` (resumed) or `F` (a full handshake) and marks the connection TLS. `offers` records, per
 * data handshake, whether the session store came along (a session offered if it holds one).
 */
function pretendTls(
  options: {
    singleUseTickets: boolean;
    ready: boolean;
    /** Awaited before a data connection's handshake is reported done. */
    handshakeEnd?: () => Promise<void>;
    /** Sees what the client reads from its control connection. */
    onControlRead?: (bytes: Uint8Array) => void;
  },
  handshake: (offered: boolean) => "resumed" | "full" | Error,
): FtpTransport & { offers: boolean[] } {
  const offers: boolean[] = [];
  // `socket` as it is, but for the TLS facts and handshake given.
  const relay = (
    socket: FtpSocket,
    tls: Pick<FtpSocket, "tls" | "startTls"> & Partial<Pick<FtpSocket, "read">>,
  ): FtpSocket => ({
    get localAddress() {
      return socket.localAddress;
    },
    get remoteAddress() {
      return socket.remoteAddress;
    },
    read: () => socket.read(),
    write: (bytes) => socket.write(bytes),
    end: () => socket.end(),
    close: () => socket.close(),
    ...(socket.reset ? { reset: () => socket.reset!() } : {}),
    ...tls,
  });
  const twice = () => Promise.reject(new Error("TLS twice"));
  const secured = (socket: FtpSocket, resumed: boolean) =>
    relay(socket, { tls: { protocol: "TLSv1.3", resumed }, startTls: twice });
  let controlPort: number | undefined;
  return {
    offers,
    resumesSessions: true,
    singleUseTickets: options.singleUseTickets,
    sessionStore: () => ({ ready: options.ready }),
    listen: () => Promise.reject(new Error("Passive only")),
    async connect({ host, port }) {
      const plain = await nodeTransport.connect({ host, port });
      // The first connection's port is the control port (a session made again connects there).
      const control = port === (controlPort ??= port);
      const socket = control && options.onControlRead
        ? relay(plain, {
          startTls: (tls) => plain.startTls(tls),
          read: async () => {
            const bytes = await plain.read();
            if (bytes) options.onControlRead!(bytes);
            return bytes;
          },
        })
        : plain;
      return relay(socket, {
        async startTls(tls) {
          if (control) return secured(socket, false);
          offers.push(tls.sessions !== undefined);
          const outcome = handshake(tls.sessions !== undefined);
          if (outcome instanceof Error) throw outcome;
          await socket.write(new TextEncoder().encode(outcome === "resumed" ? "R" : "F"));
          await options.handshakeEnd?.();
          return secured(socket, outcome === "resumed");
        },
      });
    },
  };
}

/**
 * A plain FTP server for a client whose TLS is pretended (see {@linkcode pretendTls}): AUTH TLS,
 * PBSZ and PROT are answered in plain text; each RETR or STOR is answered 150, then handed to
 * `script` with its data connection once the client's handshake byte came (`R`: resumed), or
 * answered 426 if that connection closes first. `transfers` lists the transfer commands.
 */
async function pretendFtps(
  script: (
    verb: string,
    resumed: boolean,
    data: Socket,
    reply: (line: string) => void,
    hangUp: () => void,
  ) => void,
): Promise<{ port: number; transfers: string[]; sessions: number; close(): void }> {
  const { listen, track, close } = loopback();
  const transfers: string[] = [];
  const replies: Record<string, string> = {
    AUTH: "234 Proceed",
    PBSZ: "200 PBSZ=0",
    PROT: "200 Protection level set",
    USER: "230 Logged in",
    FEAT: "211 No features",
    TYPE: "200 Binary",
    QUIT: "221 Bye",
  };
  let sessions = 0;
  const control = createServer((socket) => {
    track(socket);
    sessions++;
    const reply = (line: string) => void socket.write(`${line}\r\n`);
    let data: Promise<Socket> | undefined;
    const read = lineReader();
    socket.on("data", async (chunk) => {
      for (const line of read(chunk)) {
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "EPSV") {
          const listener = createServer();
          const connected = once(listener, "connection");
          const port = await listen(listener);
          data = connected.then(([connection]) => {
            listener.close();
            return track(connection);
          });
          reply(`229 Entering Extended Passive Mode (|||${port}|)`);
        } else if (verb === "RETR" || verb === "STOR") {
          transfers.push(verb);
          const connection = await data!;
          reply("150 Here it comes");
          let shook = false;
          connection.once("data", (first: Uint8Array) => {
            shook = true;
            if (first.length > 1) connection.unshift(first.subarray(1));
            script(verb, first[0] === 0x52, connection, reply, () => socket.end());
          });
          connection.once("close", () => shook || reply("426 Connection closed"));
        } else reply(replies[verb] ?? "502 Not implemented");
      }
    });
    reply("220 ready");
  });
  const port = await listen(control);
  return {
    port,
    transfers,
    get sessions() {
      return sessions;
    },
    close,
  };
}

/** A protected session of `transport` with the server at `port`. */
function pretended(port: number, transport: FtpTransport): Promise<FtpsClient> {
  return FtpsClient.connect({ host: "127.0.0.1", port, transport, timeoutMs: TIMEOUT_MS });
}

const FILE = new TextEncoder().encode("the file's bytes\n");

/** Sends a download's bytes and ends it, answered 226. */
function sendFile(data: Socket, reply: (line: string) => void): void {
  data.end(FILE, () => reply("226 Sent"));
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

describe("FtpsClient: a data connection reset by the server after an upload's end", () => {
  test("once the file's end was sent, the server's reply decides: 226 stored, 426 failed", async () => {
    const transport = pretendTls({ singleUseTickets: false, ready: true }, () => "resumed");
    const received: string[] = [];
    let answer = "226 Stored";
    // The server reads the upload to its end, then resets the connection rather than close it
    // (pyftpdlib was seen to), and answers.
    const server = await pretendFtps((_verb, _resumed, data, reply) => {
      const chunks: Buffer[] = [];
      data.on("data", (chunk: Buffer) => chunks.push(chunk));
      data.once("end", () => {
        received.push(Buffer.concat(chunks).toString());
        if (data.resetAndDestroy) data.resetAndDestroy();
        else data.destroy();
        reply(answer);
      });
    });
    const client = await pretended(server.port, transport);
    try {
      await client.put("a.bin", FILE);
      assert.deepEqual(received, [new TextDecoder().decode(FILE)]);
      answer = "426 Connection closed; transfer aborted";
      await assert.rejects(client.put("b.bin", FILE), (error: unknown) => {
        assert.ok(error instanceof FtpReplyError && error.code === 426, String(error));
        return true;
      });
      assert.equal(received.length, 2);
      await assert.rejects(client.raw("NOOP"), /502/, "the session answers on");
    } finally {
      await client.close();
      server.close();
    }
  });
});

describe("FtpsClient retries a refused transfer when it can be made again whole", () => {
  test("a handshake broken for offering the session: tried again without, and never offered again", async () => {
    // pyftpdlib with optional client certificates breaks such handshakes.
    const transport = pretendTls(
      { singleUseTickets: false, ready: true },
      (offered) => offered ? new Error("Handshake broken") : "full",
    );
    const server = await pretendFtps((_verb, _resumed, data, reply) => sendFile(data, reply));
    const client = await pretended(server.port, transport);
    try {
      assert.equal(Buffer.compare(await client.get("a.bin"), FILE), 0);
      assert.deepEqual(client.lastTransfer, { bytes: FILE.length, tls: true, resumed: false });
      assert.equal(Buffer.compare(await client.get("b.bin"), FILE), 0);
      assert.deepEqual(transport.offers, [true, false, false]);
      assert.deepEqual(server.transfers, ["RETR", "RETR", "RETR"]);
    } finally {
      await client.close();
      server.close();
    }
  });

  test("a 425 for want of a ticket: the connection is read to its end, then tried again", async () => {
    // ProFTPD refuses a data connection that did not resume; rustls offers each ticket once.
    let handshakes = 0;
    const transport = pretendTls(
      { singleUseTickets: true, ready: false },
      () => handshakes++ % 2 === 0 ? "full" : "resumed",
    );
    const stored: number[] = [];
    const server = await pretendFtps((verb, resumed, data, reply) => {
      if (!resumed) {
        // Refused at once; its connection ends a little later (the tickets' time).
        reply("425 Unable to build data connection: Operation not permitted");
        setTimeout(() => data.end(), 50);
      } else if (verb === "RETR") sendFile(data, reply);
      else {
        let bytes = 0;
        data.on("data", (chunk: Uint8Array) => (bytes += chunk.length));
        data.on("end", () => {
          stored.push(bytes);
          data.end(() => reply("226 Stored"));
        });
      }
    });
    const client = await pretended(server.port, transport);
    try {
      assert.equal(Buffer.compare(await client.get("a.bin"), FILE), 0);
      assert.deepEqual(client.lastTransfer, { bytes: FILE.length, tls: true, resumed: true });
      // Bytes are sent whole again; a stream already read from is not tried again.
      await client.put("b.bin", FILE);
      assert.deepEqual(stored, [FILE.length]);
      const stream = new Blob([FILE]).stream();
      await assert.rejects(client.put("c.bin", stream), (error: unknown) => {
        assert.ok(error instanceof FtpReplyError && error.code === 425, String(error));
        assert.match(error.message, /The server probably requires data connections to resume/);
        return true;
      });
      assert.deepEqual(server.transfers, ["RETR", "RETR", "STOR", "STOR", "STOR"]);
      assert.deepEqual(transport.offers, [true, true, true, true, true]);
    } finally {
      await client.close();
      server.close();
    }
  });

  test("a refusal read before this side's handshake ends: the error still says it did not resume", async () => {
    // The server's 522 can overtake the client's own view of the handshake it refuses (a loaded
    // machine, a handshake in a worker): here the handshake reports done only once the client
    // has read the 522 and gone on with it.
    let refusalRead!: () => void;
    const refused = new Promise<void>((resolve) => (refusalRead = resolve));
    const transport = pretendTls({
      singleUseTickets: false,
      ready: true,
      handshakeEnd: () => refused.then(() => new Promise((resolve) => setImmediate(resolve))),
      onControlRead: (bytes) => {
        if (new TextDecoder().decode(bytes).includes("522 ")) refusalRead();
      },
    }, () => "full");
    const server = await pretendFtps((_verb, _resumed, data, reply) => {
      reply("522 Data connections must resume the control connection's TLS session");
      data.end();
    });
    const client = await pretended(server.port, transport);
    try {
      await assert.rejects(client.get("a.bin"), (error: unknown) => {
        assert.ok(error instanceof FtpReplyError && error.code === 522, String(error));
        assert.match(error.message, /The server requires data connections to resume/);
        return true;
      });
      // The handshake was made (offering the session) and not resumed: no second try.
      assert.deepEqual(server.transfers, ["RETR"]);
      assert.deepEqual(transport.offers, [true]);
    } finally {
      await client.close();
      server.close();
    }
  });

  test("with a retry policy, a session offered and not resumed, refused with 522 and the session ended (vsftpd), is tried on a new session", async () => {
    // Tickets used up or stale (Deno offers each once, from one store per server name): the
    // first data connection makes a full handshake; a new session's resumes.
    let handshakes = 0;
    const transport = pretendTls(
      { singleUseTickets: true, ready: true },
      () => (++handshakes === 1 ? "full" : "resumed"),
    );
    const server = await pretendFtps((verb, resumed, data, reply, hangUp) => {
      if (!resumed) {
        reply("522 SSL connection failed: session reuse required");
        data.end();
        return hangUp();
      }
      sendFile(data, reply);
      void verb;
    });
    const client = await FtpsClient.connect({
      host: "127.0.0.1",
      port: server.port,
      transport,
      timeoutMs: TIMEOUT_MS,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    });
    try {
      assert.deepEqual(await client.get("a.bin"), FILE);
      assert.equal(server.sessions, 2, "a new session");
      assert.deepEqual(server.transfers, ["RETR", "RETR"]);
    } finally {
      await client.close();
      server.close();
    }
    // Without a policy, the refusal is the error, and says why.
    const alone = pretendTls({ singleUseTickets: true, ready: true }, () => "full");
    const again = await pretendFtps((_verb, resumed, data, reply, hangUp) => {
      if (resumed) return sendFile(data, reply);
      reply("522 SSL connection failed: session reuse required");
      data.end();
      hangUp();
    });
    const once = await pretended(again.port, alone);
    try {
      await assert.rejects(once.get("a.bin"), (error: unknown) => {
        assert.ok(error instanceof FtpSessionReuseError, String(error));
        assert.equal(error.code, 522);
        assert.match(error.message, /declined the session offered, or none was left to offer/);
        return true;
      });
    } finally {
      await once.close();
      again.close();
    }
  });

  test("a refusal without a session offered is not tried again, and says what the server wants", async () => {
    const transport = pretendTls({ singleUseTickets: false, ready: false }, () => "full");
    const server = await pretendFtps((_verb, _resumed, data, reply) => {
      reply("522 Data connections must resume the control connection's TLS session");
      data.end();
    });
    const client = await pretended(server.port, transport);
    try {
      await assert.rejects(client.get("a.bin"), (error: unknown) => {
        assert.ok(error instanceof FtpReplyError && error.code === 522, String(error));
        assert.match(error.message, /The server requires data connections to resume/);
        return true;
      });
      assert.deepEqual(server.transfers, ["RETR"]);
      // The store goes along, empty: no session to offer, so no offer refused.
      assert.deepEqual(transport.offers, [true]);
    } finally {
      await client.close();
      server.close();
    }
  });
});
