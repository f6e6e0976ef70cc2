// FtpsClient over real loopback TLS against a scripted server that speaks raw bytes: what comes
// in plain text next to AUTH TLS's 234, and how the client ends a protected upload's data
// connection (close_notify before FIN when the file is whole; a reset, or ABOR first, when not).
// Every client transport of the runtime runs each test (on Deno: native TLS and node:tls).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FtpsClient } from "../../ftps/mod.ts";
import { clientTransports, FtpReplyError } from "./_connect.ts";
import { CA, scriptedFtps } from "./_scripted_ftps.ts";
import { until } from "../_wait.ts";

const CHUNK = new Uint8Array(64 * 1024).fill(0x5a);

/** An upload source that never ends: it can only stop by being aborted. */
async function* endless(): AsyncGenerator<Uint8Array> {
  for (;;) yield CHUNK;
}

for (const { name, transport } of clientTransports) {
  describe(`FtpsClient against a raw scripted server (${name})`, () => {
    const connect = (port: number, maxVersion?: "TLSv1.2") =>
      FtpsClient.connect({
        host: "127.0.0.1",
        port,
        ca: CA,
        servername: "localhost",
        user: "fred",
        password: "pass",
        transport,
        timeoutMs: 10_000,
        ...(maxVersion ? { maxVersion } : {}),
      });
    // Deno's native TLS cannot stop at TLS 1.2.
    const versions = name === "Deno native TLS" ? ["TLSv1.3"] : ["TLSv1.3", "TLSv1.2"];

    test("replies smuggled in plain text after AUTH's 234 are dropped: no login on a smuggled 230", async () => {
      // RFC 4217 section 4 (the CVE-2011-0411 class, client side): the 230 and 200 come in the
      // same write as the 234, before TLS; the server's protected answer to PASS is 530.
      const server = await scriptedFtps({
        afterAuth: "230 Logged in\r\n200 Command okay\r\n",
        replies: { PASS: "530 Login incorrect" },
      });
      try {
        await assert.rejects(connect(server.port), (error: unknown) => {
          assert.ok(error instanceof FtpReplyError, String(error));
          assert.equal(error.code, 530);
          assert.equal(error.command, "PASS ****");
          return true;
        });
        assert.deepEqual(server.commands, [
          "AUTH TLS",
          "PBSZ 0",
          "PROT P",
          "USER fred",
          "PASS pass",
        ]);
      } finally {
        await server.close();
      }
    });

    test("a reply begun in plain text after AUTH's 234 does not complete inside TLS", async () => {
      // "230 Logged in" without its line end, then TLS: the first protected reply (PBSZ's 200)
      // must not join it.
      const server = await scriptedFtps({ afterAuth: "230 Logged in" });
      try {
        const client = await connect(server.port);
        try {
          assert.equal(await client.pwd(), "/");
        } finally {
          await client.close();
        }
        assert.deepEqual(server.commands.slice(0, 6), [
          "AUTH TLS",
          "PBSZ 0",
          "PROT P",
          "USER fred",
          "PASS pass",
          "FEAT",
        ]);
      } finally {
        await server.close();
      }
    });

    test("a protected upload ends with close_notify before FIN, sent before the 226 is awaited", async () => {
      const server = await scriptedFtps();
      try {
        for (const version of versions) {
          const client = await connect(server.port, version === "TLSv1.2" ? version : undefined);
          try {
            for (const size of [0, 1, 3 * 1024 * 1024 + 5]) {
              const ended = server.nextUpload();
              await client.put(`up-${size}.bin`, new Uint8Array(size).fill(7));
              assert.deepEqual(
                await ended,
                { bytes: size, end: "close_notify" },
                `${version}, ${size} bytes`,
              );
            }
          } finally {
            await client.close();
          }
        }
      } finally {
        await server.close();
      }
    });

    test("a signal stops its own transfer only: one still queued is dropped, the running one goes on", async () => {
      const server = await scriptedFtps();
      try {
        const client = await connect(server.port);
        try {
          const controller = new AbortController();
          const reason = new Error("Not this one");
          const running = client.put("first.bin", new Uint8Array(1024 * 1024).fill(1));
          const queued = client.put("second.bin", "never sent", { signal: controller.signal });
          controller.abort(reason);
          await assert.rejects(queued, (error: unknown) => error === reason);
          await running;
          assert.deepEqual(server.uploads, [{ bytes: 1024 * 1024, end: "close_notify" }]);
          assert.deepEqual(
            server.commands.filter((line) => /^(STOR|ABOR)/.test(line)),
            ["STOR first.bin"],
          );
        } finally {
          await client.close();
        }
      } finally {
        await server.close();
      }
    });

    test("an aborted upload never looks finished, and rejects with the signal's reason", async () => {
      // A reset (no close_notify, no FIN) where the transport can; else the data connection stays
      // open until ABOR has made the server drop it.
      const controller = new AbortController();
      const reason = new Error("Stop now");
      const server = await scriptedFtps({
        onUploadBytes: (bytes) => {
          if (bytes >= 1024 * 1024) controller.abort(reason);
        },
        // The server reads ABOR late: a client that ends the connection meanwhile is caught.
        aborGraceMs: 1000,
      });
      try {
        const client = await connect(server.port);
        try {
          const ended = server.nextUpload();
          const put = client.put("never-whole.bin", endless(), { signal: controller.signal });
          const outcome = await put.then(() => "resolved", (error: unknown) => error);
          const end = await ended;
          assert.ok(end.end === "reset" || end.end === "abor", `ended by ${end.end}`);
          assert.equal(outcome, reason);
          // ABOR goes out with the reset; the server may read it a little later.
          await until(() => server.commands.includes("ABOR"), "ABOR at the server");
          assert.equal(await client.pwd(), "/", "the session goes on");
        } finally {
          await client.close();
        }
      } finally {
        await server.close();
      }
    });
  });
}
