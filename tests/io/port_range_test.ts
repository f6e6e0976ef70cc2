// Binding to a port of a range, on the runtime running the tests (real TCP listeners on loopback).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { bindInRange, checkPortRange } from "../../io/port_range.ts";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

const portOf = (server: Server) => (server.address() as { port: number }).port;
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe("io: port ranges", () => {
  test("checkPortRange takes [low, high] within 1-65535 and refuses anything else", () => {
    checkPortRange([1, 65535], "range");
    checkPortRange([5000, 5000], "range");
    for (const range of [[0, 1], [2, 1], [1, 65536], [1.5, 2], [Number.NaN, 3]] as const) {
      assert.throws(
        () => checkPortRange(range, "passivePorts"),
        (error: unknown) =>
          error instanceof RangeError && error.message.startsWith("passivePorts must be"),
      );
    }
  });

  test("without a range: port 0, the system's choice", async () => {
    const ports: number[] = [];
    const server = await bindInRange(undefined, 10, (port) => (ports.push(port), listen(port)));
    try {
      assert.deepEqual(ports, [0]);
      assert.ok(portOf(server) > 0);
    } finally {
      await close(server);
    }
  });

  test("a range with one port in use: the free one is taken", async () => {
    // Two ports the system gave, so both were free a moment ago; one is held.
    const first = await listen(0);
    const spare = await listen(0);
    const free = portOf(spare);
    await close(spare);
    const [low, high] = [Math.min(portOf(first), free), Math.max(portOf(first), free)];
    const tried: number[] = [];
    // Only the two ports of interest bind; the others of the range are refused as if in use.
    const server = await bindInRange([low, high], high - low + 1, (port) => {
      tried.push(port);
      return port === free ? listen(port) : Promise.reject(new Error("in use"));
    });
    try {
      assert.equal(portOf(server), free);
      assert.ok(tried.every((port) => port >= low && port <= high));
    } finally {
      await close(server);
      await close(first);
    }
  });

  test("a full range fails after at most maxTries ports, with the range in the message", async () => {
    const tried: number[] = [];
    await assert.rejects(
      bindInRange([40000, 40999], 7, (port) => {
        tried.push(port);
        return Promise.reject(new Error("in use"));
      }),
      { message: "No free port in 40000-40999" },
    );
    assert.equal(tried.length, 7);
    assert.equal(new Set(tried).size, 7, "each port once");
  });
});
