/**
 * One FtpClientSession and one FtpServerSession holding whole sessions together in memory: the
 * control bytes, the TLS events (simulated), the login, the storage, and the data connections
 * (simulated too: the bytes move once both machines asked for the transfer).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type FtpHostPort,
  type FtpReply,
  parseFtpFacts,
  parseFtpListLine,
  parseFtpPath,
  parseFtpTime,
} from "../../codec/mod.ts";
import {
  type FtpClientEvent,
  FtpClientSession,
  type FtpClientSessionOptions,
  type FtpDataResult,
  FtpReplyError,
  type FtpServerEvent,
  FtpServerSession,
  type FtpServerSessionOptions,
  type FtpTransferRequest,
} from "../../ftps/mod.ts";
import { MemoryStorage, MODIFIED } from "./_memory.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The credentials the simulated driver accepts; `anonymous` gets in with any password. */
const USERS = new Map([["fred", "pass"]]);

/** A binary file holding every byte value. */
const IMAGE = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 255);

const FILES = () => ({
  "/pub": null,
  "/pub/boot.cfg": "default menu\nlabel linux\n",
  "/pub/image.bin": IMAGE,
});

/** What the test wants of one transfer's data connection. */
interface TransferPlan {
  /** An upload's bytes. */
  upload?: Uint8Array;
  /** The server ends first, and its final reply reaches the client before the client's end of
   * data (default: the client ends first). */
  serverFirst?: boolean;
  /** A failure: no data connection (passive: the client's connect is refused; active: the
   * server cannot connect), the data TLS handshake, the connection breaking, or the storage. */
  fault?: "connect" | "tls" | "broken" | "storage";
  /** Leave the data connection open once both sides asked for it (the test aborts it). */
  hold?: boolean;
}

type ClientTransfer = Extract<FtpClientEvent, { type: "transfer-data" }>;
type ServerTransfer = Extract<FtpServerEvent, { type: "transfer-data" }>;
type Outcome = Extract<FtpClientEvent, { type: "complete" | "failed" }>;

/** A data connection as the harness made it. */
interface DataRecord {
  readonly id: number;
  readonly mode: "passive" | "active";
  readonly tls: boolean;
  /** Whether the server wants the data TLS session to resume the control connection's. */
  readonly resumption: boolean;
  readonly direction: "download" | "upload";
}

/** The two machines and their simulated drivers. */
class Pair {
  readonly client: FtpClientSession;
  readonly server: FtpServerSession;
  readonly storage: MemoryStorage;
  readonly host: string;
  now = 0;
  readonly clientEvents: FtpClientEvent[] = [];
  readonly serverEvents: FtpServerEvent[] = [];
  /** The control connection's lines, `C> ` from the client, `S> ` from the server. */
  readonly transcript: string[] = [];
  readonly outcomes: Map<number, Outcome> = new Map();
  readonly downloads: Map<number, Uint8Array> = new Map();
  readonly data: DataRecord[] = [];
  readonly #plans = new Map<number, TransferPlan>();
  #ports = 0;
  /** The server's passive listener. */
  #listener: number | undefined;
  /** The client's side of the data connection: connected (passive) or listening (active). */
  #channel: { id: number; port?: number; address?: FtpHostPort } | undefined;
  #clientTransfer: ClientTransfer | undefined;
  #serverTransfer: ServerTransfer | undefined;

  constructor(
    client: FtpClientSessionOptions = {},
    server: FtpServerSessionOptions = {},
    host = "127.0.0.1",
  ) {
    this.client = new FtpClientSession({ user: "fred", password: "pass", ...client });
    this.server = new FtpServerSession(server);
    this.storage = new MemoryStorage(FILES());
    this.host = host;
    this.server.start(this.now, { local: host, remote: host });
    this.client.start(this.now);
    this.pump();
  }

  /** Queues a transfer with its plan. */
  transfer(request: FtpTransferRequest, plan: TransferPlan = {}): number {
    const id = this.client.transfer(this.now, request);
    this.#plans.set(id, plan);
    return id;
  }

  /** Runs both machines until neither has anything left to do. */
  pump(): void {
    for (let round = 0; round < 500; round++) {
      // Every step runs in every round (an array, not `||`).
      const moved = [
        this.#clientToServer(),
        this.#serverToClient(),
        this.#drain(this.server, (event) => this.#onServerEvent(event)),
        this.#drain(this.client, (event) => this.#onClientEvent(event)),
        this.#moveData(),
      ].includes(true);
      this.now++;
      if (!moved) {
        const held = this.#clientTransfer && this.#plans.get(this.#clientTransfer.id)?.hold;
        assert.ok(
          held || (!this.#clientTransfer && !this.#serverTransfer),
          "a transfer is out on one side only",
        );
        return;
      }
    }
    throw new Error("The machines did not settle within 500 rounds");
  }

  /** The final reply of an operation that completed. */
  reply(id: number): FtpReply {
    const outcome = this.outcomes.get(id);
    if (outcome?.type !== "complete") {
      assert.fail(`operation ${id}: ${outcome ? outcome.error.message : "no outcome"}`);
    }
    return outcome.reply;
  }

  /** The error of an operation that failed. */
  error(id: number): Error {
    const outcome = this.outcomes.get(id);
    if (outcome?.type !== "failed") {
      assert.fail(`operation ${id}: ${outcome?.type ?? "no outcome"}`);
    }
    return outcome.error;
  }

  /** The reply code of an operation that failed with a reply. */
  failedWith(id: number): number {
    const error = this.error(id);
    assert.ok(error instanceof FtpReplyError, `operation ${id}: ${error.message}`);
    return error.code;
  }

  /** The events of one type, from the client (`"C"`) or the server (`"S"`). */
  count(side: "C" | "S", type: string): number {
    const events: { type: string }[] = side === "C" ? this.clientEvents : this.serverEvents;
    return events.filter((event) => event.type === type).length;
  }

  #log(from: "C>" | "S>", bytes: Uint8Array): void {
    for (const line of decoder.decode(bytes).split("\r\n")) {
      if (line !== "") this.transcript.push(`${from} ${line}`);
    }
  }

  #clientToServer(): boolean {
    let moved = false;
    for (let bytes = this.client.pollTransmit(); bytes; bytes = this.client.pollTransmit()) {
      this.#log("C>", bytes);
      this.server.receive(this.now, bytes);
      moved = true;
    }
    return moved;
  }

  #serverToClient(): boolean {
    let moved = false;
    for (let bytes = this.server.pollTransmit(); bytes; bytes = this.server.pollTransmit()) {
      this.#log("S>", bytes);
      this.client.receive(this.now, bytes);
      moved = true;
    }
    return moved;
  }

  #drain<T>(machine: { pollEvent(): T | undefined }, handle: (event: T) => void): boolean {
    let moved = false;
    for (let event = machine.pollEvent(); event; event = machine.pollEvent()) {
      handle(event);
      moved = true;
    }
    return moved;
  }

  #onServerEvent(event: FtpServerEvent): void {
    this.serverEvents.push(event);
    const { server, now } = this;
    switch (event.type) {
      case "upgrade-control":
        return server.controlUpgraded(now);
      case "clear-control":
        return server.controlCleared(now);
      case "authenticate":
        return server.loginResult(
          now,
          event.user === "anonymous" || USERS.get(event.user) === event.password,
        );
      case "storage":
        return server.storageResult(now, this.storage.answer(event.request));
      case "listen-data":
        assert.equal(event.family, this.host.includes(":") ? 6 : 4);
        this.#listener = 40000 + ++this.#ports;
        return server.dataListening(now, this.#listener);
      case "close-data":
        this.#listener = undefined;
        return;
      case "transfer-data":
        assert.equal(this.#serverTransfer, undefined, "one transfer at a time");
        this.#serverTransfer = event;
        return;
      case "abort-data":
        assert.equal(event.id, this.#serverTransfer?.id);
        this.#serverTransfer = undefined;
        this.#listener = undefined;
        return;
    }
  }

  #onClientEvent(event: FtpClientEvent): void {
    this.clientEvents.push(event);
    const { client, now } = this;
    switch (event.type) {
      case "upgrade-control":
        return client.controlUpgraded(now);
      case "clear-control":
        return client.controlCleared(now);
      case "connect-data":
        // Passive: the port the server's listener got, to the control connection's host.
        assert.equal(event.port, this.#listener, "the client connects to the server's listener");
        assert.equal(event.announcedHost, undefined, "EPSV names no host (RFC 2428 section 3)");
        if (this.#plans.get(event.id)?.fault === "connect") {
          return client.dataFailed(now, event.id, new Error("Connection refused"));
        }
        this.#channel = { id: event.id, port: event.port };
        return client.dataConnected(now, event.id);
      case "listen-data": {
        const address = { host: this.host, port: 50000 + ++this.#ports };
        this.#channel = { id: event.id, address };
        return client.dataListening(now, event.id, address);
      }
      case "transfer-data":
        assert.equal(event.id, this.#channel?.id, "transfer-data comes after the connection");
        this.#clientTransfer = event;
        return;
      case "abort-data":
        this.#clientTransfer = this.#channel = undefined;
        return;
      case "complete":
      case "failed":
        assert.ok(!this.outcomes.has(event.id), `operation ${event.id} ended twice`);
        this.outcomes.set(event.id, event);
        if (event.id === this.#channel?.id) this.#clientTransfer = this.#channel = undefined;
        return;
    }
  }

  /** Moves a transfer's bytes once both machines asked for its data connection. */
  #moveData(): boolean {
    const [ours, theirs, channel] = [this.#clientTransfer, this.#serverTransfer, this.#channel];
    if (!ours || !theirs || !channel) return false;
    const plan = this.#plans.get(ours.id) ?? {};
    if (plan.hold) return false;
    this.#clientTransfer = this.#serverTransfer = this.#channel = undefined;
    // RFC 4217 section 7: under PROT P both ends run TLS on the data connection, whichever end
    // connected; the FTP client is the TLS client.
    assert.equal(ours.tls, theirs.tls, "both ends agree on TLS for the data connection");
    assert.equal(theirs.direction, ours.direction === "download" ? "send" : "receive");
    if (channel.address) {
      assert.deepEqual(
        theirs.connect,
        channel.address,
        "the server connects where the client listens",
      );
      assert.equal(theirs.acceptFrom, undefined);
    } else {
      assert.equal(channel.port, this.#listener, "accepted on the listener the server opened");
      assert.equal(theirs.connect, undefined);
      assert.ok(theirs.acceptFrom !== undefined, "passive: only the control connection's peer");
      assert.equal(theirs.acceptFrom, this.host, "the peer as the server was given it");
      this.#listener = undefined; // It served its one connection.
    }
    this.data.push({
      id: ours.id,
      mode: channel.address ? "active" : "passive",
      tls: ours.tls,
      resumption: theirs.requireTlsResumption,
      direction: ours.direction,
    });
    const { client, server, now } = this;
    if (plan.fault === "connect") {
      // Active mode: the client's listener never sees a connection; only the server knows.
      assert.ok(channel.address, "a passive connect fails at connect-data");
      server.dataResult(now, theirs.id, { ok: false, reason: "connect" });
      return true;
    }
    if (plan.fault === "tls" || plan.fault === "broken") {
      client.dataFailed(now, ours.id, new Error(`Data connection: ${plan.fault}`));
      server.dataResult(now, theirs.id, { ok: false, reason: plan.fault });
      return true;
    }
    if (ours.direction === "download") {
      const opened = this.storage.opened;
      const bytes = theirs.listing ?? (opened?.kind === "read" ? opened.bytes : undefined);
      assert.ok(bytes, "the server has bytes to send");
      this.downloads.set(ours.id, bytes.slice());
    } else if (plan.fault !== "storage") {
      this.storage.commit(plan.upload ?? new Uint8Array(0));
    }
    const result: FtpDataResult = plan.fault === "storage"
      ? { ok: false, reason: "storage", code: 452 }
      : { ok: true };
    if (plan.serverFirst) {
      server.dataResult(now, theirs.id, result);
      this.#serverToClient();
      this.#drain(client, (event) => this.#onClientEvent(event));
      assert.ok(!this.outcomes.has(ours.id), "RFC 959: the final reply alone ends no transfer");
      client.dataEnded(now, ours.id);
    } else {
      client.dataEnded(now, ours.id);
      this.#drain(client, (event) => this.#onClientEvent(event));
      assert.ok(!this.outcomes.has(ours.id), "RFC 959: the end of data alone ends no transfer");
      server.dataResult(now, theirs.id, result);
    }
    return true;
  }
}

const text = (bytes: Uint8Array | undefined) => decoder.decode(bytes);
const lines = (bytes: Uint8Array | undefined) => text(bytes).split("\r\n").filter((l) => l !== "");

describe("FTPS client and server sessions, with data connections, in memory", () => {
  test("RFC 4217 12.7: explicit TLS, PROT P, EPSV: every transfer, file command and QUIT", () => {
    const pair = new Pair();
    const ready = pair.clientEvents.find((event) => event.type === "ready");
    assert.ok(ready?.type === "ready" && ready.protection === "P");
    assert.ok(pair.client.controlProtected && pair.server.controlProtected);
    assert.equal(pair.server.user, "fred");

    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    const stor = pair.transfer({ command: "STOR", path: "/pub/new.bin" }, {
      upload: encoder.encode("hello, "),
    });
    const appe = pair.transfer({ command: "APPE", path: "/pub/new.bin" }, {
      upload: encoder.encode("world"),
      serverFirst: true,
    });
    // RFC 3659 section 5: REST then RETR sends the rest of the file.
    const rest = pair.transfer({ command: "RETR", path: "/pub/new.bin", offset: 7 }, {
      serverFirst: true,
    });
    const list = pair.transfer({ command: "LIST", path: "/pub" });
    const nlst = pair.transfer({ command: "NLST", path: "/pub" });
    const mlsd = pair.transfer({ command: "MLSD", path: "/pub" });
    pair.pump();

    for (const id of [retr, stor, appe, rest, list, nlst, mlsd]) {
      assert.equal(pair.reply(id).code, 226);
    }
    assert.deepEqual(pair.downloads.get(retr), IMAGE, "the bytes are identical");
    assert.equal(pair.storage.text("/pub/new.bin"), "hello, world");
    assert.equal(text(pair.downloads.get(rest)), "world");
    assert.ok(
      pair.transcript.includes("C> REST 7") &&
        pair.transcript.includes("S> 350 Restarting at 7. Send RETR or STOR."),
    );

    const listed = lines(pair.downloads.get(list)).map((line) => parseFtpListLine(line));
    assert.deepEqual(
      listed.map((entry) => [entry?.name, entry?.type, entry?.size]).sort(),
      [["boot.cfg", "file", 25], ["image.bin", "file", 1000], ["new.bin", "file", 12]],
    );
    assert.deepEqual(listed[0]?.modified, { month: 11, day: 23, hour: 10, minute: 34 });
    assert.deepEqual(lines(pair.downloads.get(nlst)).sort(), ["boot.cfg", "image.bin", "new.bin"]);
    const facts = lines(pair.downloads.get(mlsd)).map((line) => parseFtpFacts(line));
    assert.deepEqual(
      facts.map(({ name, facts }) => [name, facts.type, facts.size]).sort(),
      [["boot.cfg", "file", "25"], ["image.bin", "file", "1000"], ["new.bin", "file", "12"]],
    );
    assert.deepEqual(
      pair.data.map(({ mode, tls }) => `${mode} ${tls}`),
      Array(7).fill("passive true"),
      "every data connection passive and protected",
    );

    const { client, now } = pair;
    // The rest of RFC 959's commands without data, each answered positively.
    const others = [
      ["NOOP"],
      ["SYST"],
      ["HELP"],
      ["STAT"],
      ["STAT", "/pub"],
      ["SITE", "HELP"],
      ["ALLO", "100"],
      ["MODE", "S"],
      ["STRU", "F"],
      ["TYPE", "A"],
      ["TYPE", "I"],
      ["CWD", "/pub"],
      ["CDUP"],
    ].map(([verb, argument]) => client.command(now, verb, argument));
    pair.pump();
    assert.deepEqual(
      others.map((id) => pair.reply(id).code),
      [200, 215, 214, 211, 213, 214, 200, 200, 200, 200, 200, 250, 250],
    );
    assert.equal(pair.server.cwd, "/");
    const mlst = client.command(now, "MLST", "/pub/boot.cfg");
    const size = client.command(now, "SIZE", "/pub/new.bin");
    const mdtm = client.command(now, "MDTM", "/pub/boot.cfg");
    const mkd = client.command(now, "MKD", "/pub/dir");
    const rmd = client.command(now, "RMD", "/pub/dir");
    const renamed = client.rename(now, "/pub/new.bin", "/pub/old.bin");
    const dele = client.command(now, "DELE", "/pub/old.bin");
    const cwd = client.command(now, "CWD", "/pub");
    const pwd = client.command(now, "PWD");
    const quit = client.quit(now);
    pair.pump();

    const entry = parseFtpFacts(pair.reply(mlst).lines[1]);
    assert.deepEqual(entry, {
      name: "/pub/boot.cfg",
      facts: { type: "file", size: "25", modify: "20261123103400", perm: "r" },
    });
    assert.deepEqual(pair.reply(size), { code: 213, lines: ["12"] });
    assert.equal(parseFtpTime(pair.reply(mdtm).lines[0]).getTime(), MODIFIED.getTime());
    assert.equal(parseFtpPath(pair.reply(mkd).lines[0]), "/pub/dir");
    assert.equal(pair.reply(rmd).code, 250);
    assert.equal(pair.reply(renamed).code, 250);
    assert.equal(pair.reply(dele).code, 250);
    assert.equal(
      pair.storage.nodes.has("/pub/new.bin") || pair.storage.nodes.has("/pub/old.bin"),
      false,
    );
    assert.equal(pair.reply(cwd).code, 250);
    assert.equal(parseFtpPath(pair.reply(pwd).lines[0]), "/pub");
    assert.equal(pair.reply(quit).code, 221);
    assert.deepEqual(pair.clientEvents.at(-1), { type: "closed", reason: "quit" });
    assert.deepEqual(pair.serverEvents.at(-1), { type: "closed", reason: "quit" });
    assert.ok(pair.client.isClosed() && pair.server.isClosed());
  });

  test("RFC 4217 12.6: active mode (EPRT) with PROT P: RETR and STOR, over IPv4 and IPv6", () => {
    for (const host of ["127.0.0.1", "::1"]) {
      const pair = new Pair({ dataConnections: "active" }, {}, host);
      const retr = pair.transfer({ command: "RETR", path: "/pub/boot.cfg" });
      const stor = pair.transfer({ command: "STOR", path: "/pub/up.bin" }, {
        upload: IMAGE,
        serverFirst: true,
      });
      pair.pump();
      assert.equal(pair.reply(retr).code, 226, host);
      assert.equal(text(pair.downloads.get(retr)), "default menu\nlabel linux\n");
      assert.equal(pair.reply(stor).code, 226);
      assert.deepEqual(pair.storage.nodes.get("/pub/up.bin")?.bytes, IMAGE);
      const family = host.includes(":") ? 2 : 1;
      assert.ok(pair.transcript.includes(`C> EPRT |${family}|${host}|50001|`), host);
      assert.ok(pair.transcript.includes(`C> EPRT |${family}|${host}|50002|`), host);
      assert.ok(
        !pair.transcript.some((line) => /^C> (EPSV|PASV)/.test(line)),
        "no passive commands",
      );
      assert.deepEqual(pair.data.map(({ mode, tls }) => `${mode} ${tls}`), [
        "active true",
        "active true",
      ]);
    }
  });

  test("RFC 4217 12.4/12.5 without protection: plain anonymous RETR and LIST, no TLS on data", () => {
    const pair = new Pair({ tls: "none", user: "anonymous", password: "guest@" }, {
      tls: "none",
      allowAnonymous: true,
      dataProtection: "optional",
    });
    const ready = pair.clientEvents.find((event) => event.type === "ready");
    assert.ok(ready?.type === "ready" && ready.protection === undefined);
    assert.equal(pair.server.user, "anonymous");
    assert.ok(!pair.client.controlProtected && !pair.server.controlProtected);
    assert.ok(!pair.transcript.some((line) => /^C> (AUTH|PBSZ|PROT)/.test(line)));
    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    const list = pair.transfer({ command: "LIST", path: "/pub" }, { serverFirst: true });
    pair.pump();
    assert.deepEqual(pair.downloads.get(retr), IMAGE);
    assert.deepEqual(
      lines(pair.downloads.get(list)).map((line) => parseFtpListLine(line)?.name),
      ["boot.cfg", "image.bin"],
    );
    assert.deepEqual(pair.data.map(({ tls }) => tls), [false, false]);
  });

  test("RFC 4217 10.2: PROT C against a server that requires protection: 521, the session goes on", () => {
    const pair = new Pair({ protection: "C" });
    const ready = pair.clientEvents.find((event) => event.type === "ready");
    assert.ok(ready?.type === "ready" && ready.protection === "C");
    const retr = pair.transfer({ command: "RETR", path: "/pub/boot.cfg" });
    const noop = pair.client.command(pair.now, "NOOP");
    pair.pump();
    assert.equal(pair.failedWith(retr), 521);
    assert.equal(pair.count("S", "close-data"), 1, "the passive listener is closed");
    assert.equal(pair.count("C", "transfer-data") + pair.count("S", "transfer-data"), 0);
    assert.equal(pair.reply(noop).code, 200);
  });

  test("RFC 4217 10.2: a failed TLS handshake on the data connection: 522, the session goes on", () => {
    const pair = new Pair();
    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" }, { fault: "tls" });
    const again = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    pair.pump();
    assert.equal(pair.failedWith(retr), 522);
    assert.equal(pair.downloads.has(retr), false);
    assert.deepEqual(pair.downloads.get(again), IMAGE);
  });

  test("RFC 959: a broken data connection is 426, a storage failure 452; the session goes on", () => {
    const pair = new Pair({ dataConnections: "active" });
    const broken = pair.transfer({ command: "RETR", path: "/pub/boot.cfg" }, { fault: "broken" });
    const full = pair.transfer({ command: "STOR", path: "/pub/big.bin" }, {
      upload: IMAGE,
      fault: "storage",
    });
    const noop = pair.client.command(pair.now, "NOOP");
    pair.pump();
    assert.equal(pair.failedWith(broken), 426);
    assert.equal(pair.failedWith(full), 452);
    assert.equal(pair.storage.nodes.has("/pub/big.bin"), false);
    assert.equal(pair.reply(noop).code, 200);
  });

  test("passive: a refused data connection fails the transfer; the next EPSV closes the listener", () => {
    const pair = new Pair();
    const refused = pair.transfer({ command: "RETR", path: "/pub/image.bin" }, {
      fault: "connect",
    });
    const again = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    pair.pump();
    assert.equal(pair.error(refused).message, "Connection refused");
    assert.deepEqual(
      pair.transcript.filter((line) => line.startsWith("C> ")).slice(-3),
      ["C> EPSV", "C> EPSV", "C> RETR /pub/image.bin"],
      "no RETR without a data connection",
    );
    assert.equal(pair.count("S", "close-data"), 1, "the first listener, unused, is closed");
    assert.deepEqual(pair.downloads.get(again), IMAGE);
  });

  test("RFC 959 5.4: active mode, the server cannot connect: 425 ends the transfer", () => {
    // The client's listener never sees a connection, so its driver has nothing to report: the
    // server's 425 (a final reply: the command is over) must end the transfer, or the session
    // waits for ever (no reply is awaited, so pollTimeout() gives no deadline either).
    const pair = new Pair({ dataConnections: "active" });
    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" }, { fault: "connect" });
    const noop = pair.client.command(pair.now, "NOOP");
    pair.pump();
    assert.ok(pair.transcript.includes("S> 425 Cannot open the data connection."));
    assert.equal(pair.failedWith(retr), 425);
    assert.equal(pair.reply(noop).code, 200);
  });

  test("RFC 959 4.1.3 / RFC 4217 14: ABOR during a download: 426 then 226; ABOR alone is 225", () => {
    const pair = new Pair();
    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" }, { hold: true });
    pair.pump();
    assert.equal(pair.count("C", "transfer-data"), 1);
    assert.equal(pair.count("S", "transfer-data"), 1);
    const abor = pair.client.abort(pair.now);
    pair.pump();
    assert.deepEqual(pair.clientEvents.filter((event) => event.type === "abort-data"), [{
      type: "abort-data",
      id: retr,
    }]);
    assert.equal(pair.count("S", "abort-data"), 1);
    const tail = pair.transcript.slice(pair.transcript.indexOf("C> ABOR"));
    assert.deepEqual(tail, ["C> ABOR", "S> 426 Transfer aborted.", "S> 226 ABOR successful."]);
    assert.equal(pair.error(retr).name, "AbortError");
    assert.equal(pair.reply(abor).code, 226);
    assert.equal(pair.downloads.has(retr), false);

    const after = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    pair.pump();
    assert.deepEqual(pair.downloads.get(after), IMAGE);
    const idle = pair.client.abort(pair.now);
    pair.pump();
    assert.equal(pair.reply(idle).code, 225);

    // Before the transfer command: the transfer is dropped at its next step, ABOR closes the
    // passive listener and gets 225.
    const early = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    const before = pair.client.abort(pair.now);
    pair.pump();
    assert.equal(pair.error(early).name, "AbortError");
    assert.equal(pair.reply(before).code, 225);
    assert.equal(pair.count("S", "close-data"), 1);
    assert.deepEqual(pair.transcript.filter((line) => line.startsWith("C> ")).slice(-2), [
      "C> EPSV",
      "C> ABOR",
    ]);
  });

  test("RFC 4217 13: REIN clears TLS; AUTH, PBSZ, PROT and login run again; RETR works after", () => {
    const pair = new Pair({}, { requireTlsResumption: true });
    const first = pair.transfer({ command: "RETR", path: "/pub/boot.cfg" });
    const rein = pair.client.reinitialize(pair.now);
    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    pair.pump();
    assert.equal(pair.reply(first).code, 226);
    assert.equal(pair.reply(rein).code, 220);
    assert.equal(pair.count("C", "clear-control"), 1);
    assert.equal(pair.count("S", "clear-control"), 1);
    assert.equal(pair.count("C", "upgrade-control"), 2);
    assert.equal(pair.count("S", "upgrade-control"), 2);
    assert.equal(pair.count("C", "ready"), 2);
    assert.equal(pair.count("S", "logged-in"), 2);
    const again = pair.transcript.slice(pair.transcript.indexOf("C> REIN"))
      .filter((line) => line.startsWith("C> "));
    assert.deepEqual(again.slice(0, 6), [
      "C> REIN",
      "C> AUTH TLS",
      "C> PBSZ 0",
      "C> PROT P",
      "C> USER fred",
      "C> PASS pass",
    ]);
    assert.ok(pair.client.controlProtected && pair.server.controlProtected);
    assert.equal(pair.server.protection, "P");
    assert.deepEqual(pair.downloads.get(retr), IMAGE);
    assert.deepEqual(
      pair.data.map(({ tls, resumption }) => [tls, resumption]),
      [[true, true], [true, false]],
      "session resumption is not mandated after REIN",
    );
  });

  test("RFC 4217 5: after CCC the control connection is clear, the data still protected", () => {
    const pair = new Pair({}, { allowCcc: true });
    const ccc = pair.client.clearControl(pair.now);
    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    pair.pump();
    assert.equal(pair.reply(ccc).code, 200);
    assert.ok(!pair.client.controlProtected && !pair.server.controlProtected);
    assert.deepEqual(pair.downloads.get(retr), IMAGE);
    assert.deepEqual(pair.data.map(({ tls }) => tls), [true], "PROT P stays in force");
  });

  test("RFC 4217 4: implicit TLS on both sides: no AUTH, PROT P, a protected RETR", () => {
    const pair = new Pair({ tls: "implicit" }, { tls: "implicit" }, "::1");
    assert.equal(pair.count("C", "upgrade-control") + pair.count("S", "upgrade-control"), 0);
    assert.ok(pair.transcript.every((line) => !line.startsWith("C> AUTH")));
    assert.ok(pair.client.controlProtected && pair.server.controlProtected);
    const retr = pair.transfer({ command: "RETR", path: "/pub/image.bin" });
    pair.pump();
    assert.deepEqual(pair.downloads.get(retr), IMAGE);
    assert.deepEqual(pair.data.map(({ tls }) => tls), [true]);
  });

  test("RFC 959: RETR of a missing file: 550, and the server closes its passive listener", () => {
    const pair = new Pair();
    const retr = pair.transfer({ command: "RETR", path: "/pub/missing.bin" });
    const noop = pair.client.command(pair.now, "NOOP");
    pair.pump();
    assert.equal(pair.failedWith(retr), 550);
    assert.equal(pair.count("S", "close-data"), 1);
    assert.equal(pair.count("S", "transfer-data"), 0);
    assert.equal(pair.reply(noop).code, 200);
  });
});
