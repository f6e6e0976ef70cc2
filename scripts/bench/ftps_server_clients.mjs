// Many FTPS clients at once, for the server benchmark (ftps_server.ts): a minimal FTP client on
// node:net and node:tls, the same against every server. Each client connects, secures the control
// connection (AUTH TLS, TLS 1.3), logs in, sends PBSZ 0, PROT P, TYPE I and EPSV, connects the
// data connection, sends RETR, and only after the 150 handshakes TLS on the data connection (RFC
// 4217 order: pyftpdlib resets a data connection whose handshake comes before the command),
// resuming the control connection's newest TLS session (vsftpd requires it), reads the file to
// its end, then waits for the 226 and sends QUIT.
//
// Usage: node ftps_server_clients.mjs PORT CA USER PASSWORD PATH SIZE CLIENTS CONNECTS TIMEOUT_MS
//   Prints "ready", waits for a line on standard input, runs CLIENTS clients at once, then prints
//   one JSON line: wall ms, failures, errors by message, per-client ms and this process's CPU.
// Idle sessions: PATH "-" and SIZE 0: each client stops after PROT P (no TYPE, EPSV, RETR) and
//   holds its session open. The JSON line comes once every client is there (or failed); the
//   sessions stay until the next line on standard input, then each sends QUIT (its 221 awaited,
//   bounded by TIMEOUT_MS) and closes, and a second JSON line counts the QUITs answered.
//   At most CONNECTS clients (0: no limit) are between their connect and the server's greeting
//   at a time: beyond a server's listen backlog, Linux answers SYNs with syncookies and then
//   drops the handshake's last ACK while the accept queue is full, and the client, connected in
//   its own view, waits for a greeting that never comes (vsftpd listens with a backlog of 32).

import { connect as connectTcp } from "node:net";
import { connect as connectTls, createSecureContext } from "node:tls";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import process from "node:process";

const [port, caFile, user, password, path, size, clients, connects, timeoutMs] = process.argv
  .slice(2);
// One context for every connection, made once: the clients should cost as little CPU as they can.
const tlsOptions = {
  secureContext: createSecureContext({ ca: readFileSync(caFile, "utf8"), minVersion: "TLSv1.3" }),
  servername: "localhost",
};

/** Slots for clients between their connect and the greeting. */
const connecting = {
  free: Number(connects) || Infinity,
  queue: [],
  async take() {
    if (this.free > 0) this.free--;
    else await new Promise((resolve) => this.queue.push(resolve));
  },
  give() {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  },
};

/** FTP replies read off a control connection, whole (multi-line replies joined, RFC 959 4.2). */
class ReplyReader {
  #buffer = "";
  #lines = [];
  #replies = [];
  #waiting;
  #failure;
  #socket;

  constructor(socket) {
    this.attach(socket);
  }

  /** Reads from `socket` from now on (the TLS socket after AUTH TLS). */
  attach(socket) {
    this.#socket?.removeAllListeners("data");
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (text) => this.#take(text));
    socket.on("error", (error) => this.#fail(error));
    socket.on("close", () => this.#fail(new Error("control connection closed")));
  }

  #take(text) {
    this.#buffer += text;
    for (let end = this.#buffer.indexOf("\n"); end >= 0; end = this.#buffer.indexOf("\n")) {
      const line = this.#buffer.slice(0, end).replace(/\r$/, "");
      this.#buffer = this.#buffer.slice(end + 1);
      this.#lines.push(line);
      const first = this.#lines[0];
      // A reply ends with a line that starts with its code and a space.
      if (/^\d{3}-/.test(first) && !line.startsWith(`${first.slice(0, 3)} `)) continue;
      this.#replies.push({ code: Number(first.slice(0, 3)), text: this.#lines.join("\n") });
      this.#lines = [];
    }
    this.#wake();
  }

  #fail(error) {
    this.#failure ??= error;
    this.#wake();
  }

  #wake() {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  /** The next reply. */
  async next() {
    while (this.#replies.length === 0) {
      if (this.#failure) throw this.#failure;
      await new Promise((resolve) => (this.#waiting = resolve));
    }
    return this.#replies.shift();
  }
}

/** Resolves once `socket` emits one of `events`; rejects on its error. */
function once(socket, ...events) {
  return new Promise((resolve, reject) => {
    for (const event of events) socket.once(event, resolve);
    socket.once("error", reject);
  });
}

const idle = path === "-";
/** Idle sessions: each one's QUIT, run when told. */
const parked = [];
/** Told to end the idle sessions. */
let release;
const released = new Promise((resolve) => (release = resolve));

/** One client's whole session; resolves with its milliseconds. */
async function session() {
  const started = performance.now();
  const sockets = [];
  let step = "connect";
  let expired = false;
  const track = (socket) => {
    sockets.push(socket);
    if (expired) socket.destroy(new Error(`timed out at ${step}`));
    return socket;
  };
  const timer = setTimeout(() => {
    expired = true;
    for (const socket of sockets) socket.destroy(new Error(`timed out at ${step}`));
  }, Number(timeoutMs));
  let slot = false;
  try {
    step = "connect slot";
    await connecting.take();
    slot = true;
    const raw = track(connectTcp(Number(port), "127.0.0.1"));
    const replies = new ReplyReader(raw);
    const expect = async (command, ...codes) => {
      step = command ? command.split(" ")[0] : "greeting";
      if (command) control.write(`${command}\r\n`);
      const reply = await replies.next();
      if (!codes.includes(reply.code)) throw new Error(`${step}: ${reply.text.slice(0, 100)}`);
      return reply;
    };
    let control = raw;
    await expect(undefined, 220);
    connecting.give();
    slot = false;
    await expect("AUTH TLS", 234);
    control = track(connectTls({ ...tlsOptions, socket: raw }));
    let session;
    control.on("session", (ticket) => (session = ticket));
    replies.attach(control);
    step = "TLS";
    await once(control, "secureConnect");
    const login = await expect(`USER ${user}`, 230, 331);
    if (login.code === 331) await expect(`PASS ${password}`, 230);
    await expect("PBSZ 0", 200);
    await expect("PROT P", 200);
    if (idle) {
      // Set up: the session idles here until released, outside the timer.
      clearTimeout(timer);
      const ms = performance.now() - started;
      const held = sockets.splice(0);
      parked.push(async () => {
        await released;
        const quit = setTimeout(() => control.destroy(), Number(timeoutMs));
        try {
          await expect("QUIT", 221);
          return true;
        } catch {
          return false;
        } finally {
          clearTimeout(quit);
          control.end();
          for (const socket of held) socket.destroy();
        }
      });
      return ms;
    }
    await expect("TYPE I", 200);
    const epsv = await expect("EPSV", 229);
    const dataPort = Number(/\(\|\|\|(\d+)\|\)/.exec(epsv.text)?.[1]);
    step = "data connect";
    const data = track(connectTcp(dataPort, "127.0.0.1"));
    await once(data, "connect");
    await expect(`RETR ${path}`, 150, 125);
    step = "data TLS";
    const secured = track(connectTls({ ...tlsOptions, socket: data, session }));
    let bytes = 0;
    secured.on("data", (chunk) => (bytes += chunk.length));
    await once(secured, "end", "close");
    secured.destroy();
    if (bytes !== Number(size)) throw new Error(`RETR: ${bytes} bytes, not ${size}`);
    await expect(undefined, 226);
    await expect("QUIT", 221);
    control.end();
    return performance.now() - started;
  } finally {
    if (slot) connecting.give();
    clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
  }
}

console.log("ready");
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
const cpu = process.cpuUsage();
const start = performance.now();
const settled = await Promise.allSettled(
  Array.from({ length: Number(clients) }, () => session()),
);
const wallMs = performance.now() - start;
const used = process.cpuUsage(cpu);
const errors = {};
const times = [];
for (const result of settled) {
  if (result.status === "fulfilled") times.push(result.value);
  else {
    const message = String(result.reason?.message ?? result.reason).slice(0, 160);
    errors[message] = (errors[message] ?? 0) + 1;
  }
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  wallMs,
  failures: settled.length - times.length,
  errors,
  clientMs: {
    min: times[0],
    median: times[Math.floor(times.length / 2)],
    max: times.at(-1),
  },
  cpuMs: { user: used.user / 1000, system: used.system / 1000 },
}));
if (idle) {
  const quits = parked.map((quit) => quit());
  await new Promise((resolve) => lines.once("line", resolve));
  release();
  const answered = (await Promise.all(quits)).filter(Boolean).length;
  console.log(JSON.stringify({ quits: answered }));
}
process.exit(0);
