import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { type NetworkProfile, type Outcome, prng, type Scenario, simulate } from "./_simnet.ts";

const CLEAN: NetworkProfile = { loss: 0, duplicate: 0, delay: 1, jitter: 0 };
const PROFILES: [string, NetworkProfile][] = [
  ["clean", CLEAN],
  ["reordering and duplication", { loss: 0, duplicate: 0.05, delay: 2, jitter: 8 }],
  ["5% loss", { loss: 0.05, duplicate: 0.02, delay: 2, jitter: 6 }],
  ["20% loss", { loss: 0.2, duplicate: 0.05, delay: 2, jitter: 10 }],
];

function finals(events: Outcome["client"]) {
  return events.filter((event) => event.type === "complete" || event.type === "failed");
}

/** A file of `length` bytes; in netascii, dense with CR, LF and NUL to exercise the conversion. */
function makeFile(length: number, seed: number, mode: "octet" | "netascii"): Uint8Array {
  const random = prng(seed);
  const file = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const r = random();
    file[i] = mode === "netascii" && r < 0.3
      ? [13, 10, 0][Math.floor(r * 10) % 3]
      : Math.floor(r * 256);
  }
  return file;
}

/** The checks every scenario must pass, whatever the network did. */
function checkOutcome(scenario: Scenario, outcome: Outcome, label: string): "complete" | "failed" {
  const clientFinals = finals(outcome.client);
  assert.equal(clientFinals.length, 1, `${label}: the client ends with exactly one final event`);
  const receiver = scenario.type === "rrq" ? outcome.client : outcome.server;
  const sender = scenario.type === "rrq" ? outcome.server : outcome.client;
  if (outcome.serverTransfers > 0) {
    assert.equal(
      finals(outcome.server).length,
      1,
      `${label}: the server ends with exactly one final event`,
    );
  }
  const receiverFinal = finals(receiver)[0];
  const senderFinal = finals(sender)[0];
  for (const final of [receiverFinal, senderFinal]) {
    if (final?.type === "failed") {
      assert.ok(
        final.reason === "timeout" || final.reason === "peer-error",
        `${label}: failed cleanly, not with ${final.reason}: ${final.message}`,
      );
    }
  }
  if (receiverFinal?.type === "complete") {
    assert.deepEqual(outcome.received, scenario.file, `${label}: delivered bytes are identical`);
  }
  if (senderFinal?.type === "complete") {
    assert.equal(
      receiverFinal?.type,
      "complete",
      `${label}: the sender completes only after the receiver`,
    );
  }
  return receiverFinal?.type === "complete" ? "complete" : "failed";
}

describe("TFTP machines over a simulated network", () => {
  const blksizes = [8, 512, 1468, 65464];
  const windowsizes = [1, 4, 16, 64];
  for (const type of ["rrq", "wrq"] as const) {
    for (const mode of ["octet", "netascii"] as const) {
      for (const blksize of blksizes) {
        for (const windowsize of windowsizes) {
          const label = `${type} ${mode} blksize ${blksize} windowsize ${windowsize}`;
          test(label, () => {
            const outcomes: Record<string, number> = {};
            for (const [profileName, network] of PROFILES) {
              for (let round = 0; round < 3; round++) {
                const seed =
                  (blksize * 131 + windowsize * 7 + round * 1009 + (type === "rrq" ? 0 : 5)) >>> 0;
                const random = prng(seed);
                const cap = Math.min(blksize * windowsize * 3, blksize === 8 ? 4000 : 300_000);
                // Exact multiples of blksize end with an empty block; cover them on purpose.
                const length = round === 0
                  ? blksize * Math.max(1, Math.floor(random() * Math.min(cap / blksize, 40)))
                  : Math.floor(random() * cap);
                const scenario: Scenario = {
                  type,
                  mode,
                  seed,
                  network,
                  file: makeFile(length, seed, mode),
                  client: {
                    options: {
                      blksize,
                      windowsize,
                      ...(type === "rrq" && mode === "octet" ? { tsize: true } : {}),
                    },
                  },
                };
                const outcome = simulate(scenario);
                const result = checkOutcome(
                  scenario,
                  outcome,
                  `${label}, ${profileName}, seed ${seed}`,
                );
                outcomes[profileName] = (outcomes[profileName] ?? 0) +
                  (result === "complete" ? 1 : 0);
                if (mode === "octet") {
                  assert.ok(
                    outcome.maxBuffered <= Math.max(blksize * windowsize, 131072) + 3 * blksize,
                    `${label}: the sender held ${outcome.maxBuffered} bytes, more than the read-ahead and a chunk`,
                  );
                }
              }
            }
            assert.equal(outcomes["clean"], 3, "every transfer completes on a clean network");
            assert.equal(
              outcomes["reordering and duplication"],
              3,
              "and despite reordering and duplicates",
            );
            assert.equal(outcomes["5% loss"], 3, "and at 5% loss");
          });
        }
      }
    }
  }
});

describe("TFTP machines on a hostile network with a small retry budget", () => {
  test("every transfer either delivers identical bytes or fails cleanly; both happen", () => {
    const tally = { complete: 0, failed: 0 };
    for (let seed = 1; seed <= 120; seed++) {
      const type = seed % 2 === 0 ? "rrq" : "wrq";
      const blksize = [8, 512, 1468][seed % 3];
      const windowsize = [1, 4, 16][seed % 5 % 3];
      const mode = seed % 7 === 0 ? "netascii" : "octet";
      const scenario: Scenario = {
        type,
        mode,
        seed,
        network: { loss: 0.45, duplicate: 0.1, delay: 2, jitter: 10 },
        file: makeFile(Math.floor(prng(seed)() * blksize * windowsize * 4), seed, mode),
        client: { options: { blksize, windowsize } },
        retransmit: { timeoutMs: 40, backoff: 1, retries: 2, dallyMs: 80 },
      };
      const outcome = simulate(scenario);
      tally[checkOutcome(scenario, outcome, `seed ${seed}`)]++;
    }
    assert.ok(tally.complete > 0, "some transfers get through");
    assert.ok(tally.failed > 0, "some run out of retries");
  });
});

describe("TFTP windows larger than the receiver's socket buffer", () => {
  // Every window loses its tail, and nothing after the tail comes to show a gap: without the
  // receiver's stall ACK each window waits for a full timeout.
  const file = makeFile(64 * 512 * 10 + 100, 3, "octet");
  for (const type of ["rrq", "wrq"] as const) {
    test(`${type}: windowsize 16 through a queue of 12 never waits for a timeout`, () => {
      const scenario: Scenario = {
        type,
        mode: "octet",
        seed: 11,
        network: { loss: 0, duplicate: 0, delay: 1, jitter: 0, queue: 12 },
        file,
        client: { options: { blksize: 512, windowsize: 16 } },
        retransmit: { timeoutMs: 1000, backoff: 2, maxTimeoutMs: 4000, retries: 5 },
      };
      const outcome = simulate(scenario);
      assert.equal(checkOutcome(scenario, outcome, type), "complete");
      const receiver = finals(type === "rrq" ? outcome.client : outcome.server)[0];
      const sender = finals(type === "rrq" ? outcome.server : outcome.client)[0];
      assert.equal(receiver.stats.timeouts, 0, "the receiver ACKed each stalled window at once");
      assert.equal(sender.stats.timeouts, 0, "so the sender never timed out");
      // 640 blocks in windows of at most 12: about 54 round trips of 2 ms plus a stall each.
      const took = receiver.stats.endedAt! - receiver.stats.startedAt;
      assert.ok(took < 1000, `done in ${took} ms, less than one timeout`);
    });
  }
  test("without the stall ACK (stall time = timeout) the same transfer waits on timeouts", () => {
    const scenario: Scenario = {
      type: "rrq",
      mode: "octet",
      seed: 11,
      network: { loss: 0, duplicate: 0, delay: 1, jitter: 0, queue: 12 },
      file: makeFile(16 * 512 * 3, 4, "octet"),
      client: { options: { blksize: 512, windowsize: 16 } },
      retransmit: { timeoutMs: 1000, backoff: 1, retries: 5, windowStallMs: 1000 },
    };
    const outcome = simulate(scenario);
    assert.equal(checkOutcome(scenario, outcome, "no stall ACK"), "complete");
    const { stats } = finals(outcome.client)[0];
    const took = stats.endedAt! - stats.startedAt;
    assert.ok(took > 3000, `each of the 3+ windows waited a full second: ${took} ms`);
  });
});

// The rollover scenario moves 70000 blocks; its four cases (read or write, rollover to 0 or 1)
// take seconds each, so a run takes one of them: the one FTKIT_ROLLOVER_CASE names ("rrq-0",
// "wrq-0", "rrq-1", "wrq-1", or "all"), else one chosen at random. The test's name says which.
const ROLLOVER_CASES = [
  { type: "rrq", rollover: 0 },
  { type: "wrq", rollover: 0 },
  { type: "rrq", rollover: 1 },
  { type: "wrq", rollover: 1 },
] as const;

function rolloverCases(chosen: string | undefined): (typeof ROLLOVER_CASES)[number][] {
  if (chosen === undefined || chosen === "") {
    return [ROLLOVER_CASES[Math.floor(Math.random() * ROLLOVER_CASES.length)]];
  }
  if (chosen === "all") return [...ROLLOVER_CASES];
  const named = ROLLOVER_CASES.filter(({ type, rollover }) => `${type}-${rollover}` === chosen);
  if (named.length === 0) {
    throw new TypeError(
      `FTKIT_ROLLOVER_CASE must be rrq-0, wrq-0, rrq-1, wrq-1 or all, got "${chosen}"`,
    );
  }
  return named;
}

describe("TFTP block number rollover", () => {
  // 70000 blocks of 8 bytes: past block 65535 the wire number wraps.
  const file = makeFile(70_000 * 8 + 3, 42, "octet");
  for (const { type, rollover } of rolloverCases(process.env.FTKIT_ROLLOVER_CASE)) {
    const name = `${type}-${rollover}`;
    test(`${type} of 70000 blocks wraps to ${rollover} after 65535 (FTKIT_ROLLOVER_CASE=${name})`, () => {
      const scenario: Scenario = {
        type,
        mode: "octet",
        seed: 7 + rollover,
        network: { loss: 0.01, duplicate: 0.01, delay: 1, jitter: 3 },
        file,
        client: {
          options: { blksize: 8, windowsize: 16, ...(rollover === 1 ? { rollover } : {}) },
        },
      };
      // Watch the wire: DATA that follows block 65535 in sequence (not a retransmission of an
      // earlier window) must carry `rollover`.
      let previous = -1;
      const after65535 = new Set<number>();
      scenario.onDatagram = (bytes) => {
        if (bytes[1] !== 3) return;
        const block = (bytes[2] << 8) | bytes[3];
        if (previous === 65535 && block < 1000) after65535.add(block);
        previous = block;
      };
      const outcome = simulate(scenario);
      assert.equal(checkOutcome(scenario, outcome, `rollover ${name}`), "complete");
      assert.deepEqual([...after65535], [rollover], "DATA after 65535");
      const negotiated = outcome.client.find((event) => event.type === "negotiated");
      assert.ok(negotiated?.type === "negotiated");
      assert.equal(negotiated.parameters.rollover, rollover);
      const done = finals(outcome.client)[0];
      assert.ok(done.type === "complete" || done.type === "failed");
      assert.ok(done.stats.blocks > 65536, `${done.stats.blocks} blocks`);
    });
  }
});
