// A simulated network for the TFTP machines: a virtual clock, and seeded loss, duplication,
// delay and reordering. A client machine and a server endpoint talk through it; the run is
// deterministic for a given seed.

import {
  sameTftpAddress,
  type TftpAddress,
  TftpClientTransfer,
  type TftpClientTransferOptions,
  type TftpRetransmitOptions,
  TftpServerEndpoint,
  type TftpServerEndpointOptions,
  type TftpServerTransfer,
  type TftpTransfer,
  type TftpTransferEvent,
} from "../../tftp/mod.ts";

/** A small seeded PRNG (mulberry32), so scenarios replay exactly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How the network misbehaves. */
export interface NetworkProfile {
  /** Probability that a datagram is lost. */
  loss: number;
  /** Probability that a datagram is delivered twice. */
  duplicate: number;
  /** Fixed one-way delay, in ms. */
  delay: number;
  /** Extra random delay up to this, in ms: datagrams overtake each other. */
  jitter: number;
  /** Datagrams that may be on their way to one address at once; more are dropped, as a full
   * socket receive buffer drops the tail of a burst (default: no limit). */
  queue?: number;
}

/** A scenario: one transfer between a client and a server. */
export interface Scenario {
  type: "rrq" | "wrq";
  mode: "octet" | "netascii";
  file: Uint8Array;
  seed: number;
  network: NetworkProfile;
  client?: Partial<TftpClientTransferOptions>;
  server?: TftpServerEndpointOptions;
  /** Both sides' timing (default: 50 ms, backoff 1.5 up to 400 ms, 10 retries). */
  retransmit?: TftpRetransmitOptions;
  /** Called with every datagram sent, before the network decides its fate. */
  onDatagram?: (bytes: Uint8Array, from: TftpAddress) => void;
  /** Give up the simulation after this many steps (a test failure, never reached when sound). */
  maxSteps?: number;
}

/** What happened. */
export interface Outcome {
  client: TftpTransferEvent[];
  /** The events of the server transfer the client ended up talking to (the last one started
   * when the client latched none). */
  server: TftpTransferEvent[];
  /** The bytes the receiving side delivered. */
  received: Uint8Array;
  /** Every server transfer started (a request repeated after its transfer gave up starts
   * another; a late duplicate of a request can too). */
  serverTransfers: number;
  steps: number;
  now: number;
  /** The most bytes the sending side held at once that were written but not yet acknowledged. */
  maxBuffered: number;
  datagrams: number;
}

interface InFlight {
  at: number;
  seq: number;
  from: TftpAddress;
  to: TftpAddress;
  bytes: Uint8Array;
}

const CLIENT: TftpAddress = { address: "127.0.0.1", port: 40000 };
const SERVER: TftpAddress = { address: "127.0.0.1", port: 69 };

/** One machine's side of a scenario: what it did and the file bytes it wrote and received. */
interface Side {
  machine: TftpTransfer;
  events: TftpTransferEvent[];
  received: Uint8Array[];
  /** The next file byte to give the machine when it sends. */
  cursor: number;
}

/** Runs one scenario to the end and reports what each side saw. */
export function simulate(scenario: Scenario): Outcome {
  const random = prng(scenario.seed);
  const { network } = scenario;
  const retransmit = scenario.retransmit ??
    { timeoutMs: 50, backoff: 1.5, maxTimeoutMs: 400, retries: 10 };
  const inFlight: InFlight[] = [];
  let seq = 0;
  let datagrams = 0;

  const send = (now: number, from: TftpAddress, to: TftpAddress, bytes: Uint8Array) => {
    datagrams++;
    scenario.onDatagram?.(bytes, from);
    if (random() < network.loss) return;
    if (
      network.queue !== undefined &&
      inFlight.filter((p) => p.to.port === to.port).length >= network.queue
    ) return;
    const copies = random() < network.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Copy: a machine may reuse nothing, but the network must not share memory either.
      inFlight.push({
        at: now + network.delay + random() * network.jitter,
        seq: seq++,
        from,
        to,
        bytes: bytes.slice(),
      });
    }
  };

  const client = new TftpClientTransfer({
    type: scenario.type,
    filename: "file.bin",
    server: SERVER,
    mode: scenario.mode,
    retransmit,
    ...scenario.client,
  });
  const endpoint = new TftpServerEndpoint({
    retransmit,
    maxWindowsize: 64,
    // The network here has no socket buffers (unless `queue` says so): grant every window.
    clientReceiveBuffer: Infinity,
    ...scenario.server,
  });
  const side = (machine: TftpTransfer): Side => ({ machine, events: [], received: [], cursor: 0 });
  const clientSide = side(client);
  const servers: (Side & { address: TftpAddress; transfer: TftpServerTransfer })[] = [];
  let maxBuffered = 0;

  /** Handles one machine's events; returns how many there were. */
  const drainEvents = (now: number, { machine, events, received }: Side, self: Side): number => {
    let count = 0;
    for (let event = machine.pollEvent(); event; event = machine.pollEvent()) {
      count++;
      events.push(event);
      if (event.type === "data") received.push(event.data.slice());
      if (event.type === "data-wanted") {
        const blksize = scenario.client?.options?.blksize ?? machine.parameters.blksize;
        const chunk = Math.max(1, Math.floor(random() * 3 * blksize));
        if (self.cursor < scenario.file.length) {
          const piece = scenario.file.subarray(self.cursor, self.cursor + chunk);
          self.cursor += piece.length;
          machine.write(now, piece);
        } else {
          machine.end(now);
        }
      }
    }
    if (scenario.mode === "octet") {
      // Bytes written to a sending machine and not yet sent in a block (never above 0 for a
      // receiving one).
      maxBuffered = Math.max(maxBuffered, self.cursor - machine.stats.bytes);
    }
    return count;
  };

  const flush = (now: number) => {
    for (let t = client.pollTransmit(); t; t = client.pollTransmit()) {
      send(now, CLIENT, t.to, t.bytes);
    }
    for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) {
      send(now, SERVER, t.to, t.bytes);
    }
    // Every server transfer is polled below whatever the endpoint did to it.
    while (endpoint.pollEvent());
    for (const server of servers) {
      for (let t = server.transfer.pollTransmit(); t; t = server.transfer.pollTransmit()) {
        send(now, server.address, t.to, t.bytes);
      }
    }
  };

  const settle = (now: number) => {
    // Writing data can queue more events and datagrams: repeat until quiet (bounded).
    for (let round = 0; round < 1000; round++) {
      let count = drainEvents(now, clientSide, clientSide);
      for (const server of servers) count += drainEvents(now, server, server);
      flush(now);
      if (count === 0) return;
    }
    throw new Error("Machines kept producing events without input");
  };

  let now = 0;
  client.start(now);
  settle(now);
  const maxSteps = scenario.maxSteps ?? 2_000_000;
  let steps = 0;
  for (; steps < maxSteps; steps++) {
    const deadlines = [client.pollTimeout(), ...servers.map((s) => s.transfer.pollTimeout())]
      .filter((t): t is number => t !== undefined);
    const timerAt = deadlines.length > 0 ? Math.min(...deadlines) : Infinity;
    let packetIndex = -1;
    for (let i = 0; i < inFlight.length; i++) {
      const p = inFlight[i];
      const best = inFlight[packetIndex];
      if (!best || p.at < best.at || (p.at === best.at && p.seq < best.seq)) packetIndex = i;
    }
    if (packetIndex >= 0 && inFlight[packetIndex].at > timerAt) packetIndex = -1;
    const next = packetIndex >= 0 ? inFlight[packetIndex].at : timerAt;
    if (next === Infinity) break;
    now = Math.max(now, next);
    if (packetIndex >= 0) {
      const [packet] = inFlight.splice(packetIndex, 1);
      if (packet.to.port === CLIENT.port) {
        client.handleDatagram(now, packet.bytes, packet.from);
      } else if (packet.to.port === SERVER.port) {
        const pending = endpoint.handleDatagram(now, packet.bytes, packet.from);
        if (pending) {
          const transfer = endpoint.accept(
            now,
            pending,
            scenario.mode === "octet" ? { size: scenario.file.length } : {},
          );
          if (transfer) {
            servers.push({
              ...side(transfer),
              address: { address: SERVER.address, port: 50001 + servers.length },
              transfer,
            });
          }
        }
      } else {
        servers[packet.to.port - 50001]?.transfer.handleDatagram(now, packet.bytes, packet.from);
      }
    } else {
      client.handleTimeout(now);
      for (const server of servers) server.transfer.handleTimeout(now);
    }
    settle(now);
  }
  const server = servers.find((s) => sameTftpAddress(s.address, client.peer)) ?? servers.at(-1);
  const receiver = scenario.type === "rrq" ? clientSide : server;
  return {
    client: clientSide.events,
    server: server?.events ?? [],
    received: concat(receiver?.received ?? []),
    serverTransfers: servers.length,
    steps,
    now,
    maxBuffered,
    datagrams,
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
