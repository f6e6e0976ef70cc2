// The ftkit TFTP server's allow and deny lists and transfer port range, on the runtime running
// the tests: raw datagrams and ftkit's client from a second loopback address (127.0.0.2), and real
// clients (curl, atftp, tftp-hpa) from 127.0.0.1.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeTftpPacket, encodeTftpPacket, type TftpPacket } from "../../codec/mod.ts";
import {
  makeTftpApi,
  type ServeTftpOptions,
  type TftpAddress,
  type TftpServer,
  type TftpTransferRecord,
  type TftpUdpBind,
  type TftpUdpSocket,
} from "../../tftp/mod.ts";
import { TftpTransferError } from "../../tftp/transfer_error.ts";
import { bytesOf, freePort, missing, PEER, runPeer, tempDir } from "./_peers.ts";
import { until } from "../_wait.ts";
import { tftpUdpBind } from "../_tftp_api.ts";

/** A socket on `host` that keeps what it receives. */
async function rawClient(bind: TftpUdpBind, host: string): Promise<{
  socket: TftpUdpSocket;
  received: { packet: TftpPacket; from: TftpAddress }[];
}> {
  const received: { packet: TftpPacket; from: TftpAddress }[] = [];
  const socket = await bind({
    host,
    port: 0,
    onMessage: (bytes, from) => received.push({ packet: decodeTftpPacket(bytes), from }),
  });
  return { socket, received };
}

const rrq = (filename: string) =>
  encodeTftpPacket({ type: "rrq", filename, mode: "octet", options: {} });

describe("ftkit TFTP server access lists", () => {
  let root: { path: string; remove(): Promise<void> };
  let bind: TftpUdpBind;
  const small = bytesOf(3000, 5);

  before(async () => {
    root = await tempDir("ftkit-access-");
    await writeFile(join(root.path, "small.bin"), small);
    bind = await tftpUdpBind();
  });

  after(async () => {
    await root?.remove();
  });

  /** A server on 127.0.0.1 with these options, and what it recorded. */
  async function serve(options: Partial<ServeTftpOptions>) {
    const records: TftpTransferRecord[] = [];
    const server: TftpServer = await makeTftpApi(bind).serveTftp({
      root: root.path,
      host: "127.0.0.1",
      port: 0,
      onTransfer: (record) => records.push(record),
      ...options,
    });
    return { server, records, to: server.address };
  }

  /** ftkit's client, sending from `host`. */
  const clientFrom = (host: string) => makeTftpApi((options) => bind({ ...options, host }));

  test("a raw RRQ from a denied address gets no answer and costs no transfer", async () => {
    const { server, records, to } = await serve({ deny: ["127.0.0.2"] });
    const denied = await rawClient(bind, "127.0.0.2");
    const allowed = await rawClient(bind, "127.0.0.1");
    try {
      denied.socket.send(rrq("small.bin"), to);
      await until(() => records.length === 1, "the refusal's record");
      assert.equal(server.activeTransfers, 0, "no transfer, no socket");
      assert.deepEqual(
        { ...records[0], durationMs: 0 },
        {
          peer: denied.socket.local,
          type: "rrq",
          filename: "small.bin",
          resolvedFilename: "small.bin",
          mode: "octet",
          parameters: undefined,
          bytes: 0,
          durationMs: 0,
          retransmits: 0,
          outcome: "refused",
          reason: "denied",
        },
      );
      // A request the check let through would be answered with DATA 1 (3000 bytes: 6 blocks).
      // The allowed client's whole read comes after the denied request was dropped.
      allowed.socket.send(rrq("small.bin"), to);
      await until(() => allowed.received.length === 1, "DATA 1 to the allowed client");
      assert.equal(allowed.received[0].packet.type, "data");
      const transfer = allowed.received[0].from;
      for (let block = 1; block <= 6; block++) {
        await until(() => allowed.received.length === block, `DATA ${block}`);
        allowed.socket.send(encodeTftpPacket({ type: "ack", block }), transfer);
      }
      await until(() => records.length === 2, "the allowed read's record");
      assert.equal(records[1].outcome, "complete");
      assert.deepEqual(denied.received, [], "nothing, not even an ERROR, to the denied address");
    } finally {
      await denied.socket.close();
      await allowed.socket.close();
      await server.close();
    }
  });

  test("with an allow list, only its clients are served (ftkit's client from each)", async () => {
    const { server, records } = await serve({ allow: ["127.0.0.1/32", "::1"] });
    try {
      const port = server.address.port;
      const got = await clientFrom("127.0.0.1").tftpGet({
        host: "127.0.0.1",
        port,
        remote: "small.bin",
      });
      assert.equal(Buffer.compare(got, small), 0);
      // The server records the read once the last ACK reached it.
      await until(() => records.length === 1, "the read's record");
      const quick = { timeoutMs: 100, backoff: 1, retries: 1 };
      await assert.rejects(
        clientFrom("127.0.0.2").tftpGet({
          host: "127.0.0.1",
          port,
          remote: "small.bin",
          retransmit: quick,
        }),
        (error: Error) => error instanceof TftpTransferError && error.reason === "timeout",
      );
      // The request and its repetition, each dropped and recorded.
      assert.deepEqual(records.map((record) => [record.peer.address, record.outcome]), [
        ["127.0.0.1", "complete"],
        ...records.slice(1).map(() => ["127.0.0.2", "refused"]),
      ]);
      assert.ok(records.length >= 2);
    } finally {
      await server.close();
    }
  });

  test("per direction: 127.0.0.2 may read, its upload gets ERROR 2 before any file is made", async () => {
    const { server, records } = await serve({ allowWrite: true, deny: { write: ["127.0.0.2"] } });
    try {
      const port = server.address.port;
      const client = clientFrom("127.0.0.2");
      const got = await client.tftpGet({ host: "127.0.0.1", port, remote: "small.bin" });
      assert.equal(Buffer.compare(got, small), 0);
      await assert.rejects(
        client.tftpPut({ host: "127.0.0.1", port, remote: "up.bin" }, small, small.length),
        (error: Error) =>
          error instanceof TftpTransferError && error.code === 2 &&
          error.message === "Access denied",
      );
      await assert.rejects(readFile(join(root.path, "up.bin")), { code: "ENOENT" });
      await clientFrom("127.0.0.1").tftpPut(
        { host: "127.0.0.1", port, remote: "up-allowed.bin" },
        small,
      );
      assert.equal(Buffer.compare(await readFile(join(root.path, "up-allowed.bin")), small), 0);
      const refused = records.find((record) => record.outcome === "refused")!;
      assert.deepEqual(
        [refused.type, refused.peer.address, refused.reason, refused.error],
        ["wrq", "127.0.0.2", "denied", { code: 2, message: "Access denied" }],
      );
    } finally {
      await server.close();
    }
  });

  test("on a dual-stack socket, IPv4 rules match IPv4-mapped sources (::ffff:127.0.0.2)", async () => {
    const { server, records } = await serve({ host: "::", deny: ["127.0.0.0/31", "127.0.0.2"] });
    try {
      const port = server.address.port;
      const quick = { timeoutMs: 100, backoff: 1, retries: 0 };
      const from = (host: string) =>
        clientFrom(host).tftpGet({
          host: "127.0.0.1",
          port,
          remote: "small.bin",
          retransmit: quick,
        });
      await assert.rejects(from("127.0.0.2"), TftpTransferError);
      await until(() => records.length >= 1, "the refusal's record");
      const peers = records.map((record) => record.peer.address);
      // Every runtime reports an IPv4 client of a "::" socket in its mapped form.
      assert.deepEqual(new Set(peers), new Set(["::ffff:127.0.0.2"]));
      assert.ok(records.every((record) => record.outcome === "refused"));
      const got = await clientFrom("127.0.0.3").tftpGet({
        host: "127.0.0.1",
        port,
        remote: "small.bin",
      });
      assert.equal(Buffer.compare(got, small), 0);
    } finally {
      await server.close();
    }
  });

  test("transfers are sent from ports of portRange", async () => {
    const low = await freePort();
    const portRange: [number, number] = [Math.min(low, 65532), Math.min(low, 65532) + 3];
    const { server } = await serve({ portRange });
    const client = await rawClient(bind, "127.0.0.1");
    try {
      for (let i = 1; i <= 3; i++) {
        client.socket.send(rrq("small.bin"), server.address);
        await until(() => client.received.length === i, `DATA 1 of read ${i}`);
        const { packet, from } = client.received[i - 1];
        assert.equal(packet.type, "data");
        assert.ok(
          from.port >= portRange[0] && from.port <= portRange[1],
          `port ${from.port} in ${portRange}`,
        );
        // Ends the transfer at once: the next read may take any port of the range again.
        client.socket.send(encodeTftpPacket({ type: "error", code: 0, message: "done" }), from);
        await until(() => server.activeTransfers === 0, "the transfer to end");
      }
    } finally {
      await client.socket.close();
      await server.close();
    }
  });

  describe("real clients from 127.0.0.1", () => {
    let server: TftpServer;
    let records: TftpTransferRecord[];
    let port: number;

    before(async () => {
      ({ server, records } = await serve({
        allowWrite: true,
        allow: ["127.0.0.0/8"],
        deny: { write: ["127.0.0.1"] },
      }));
      port = server.address.port;
    });

    after(async () => {
      await server?.close();
    });

    test("curl reads; its upload is refused with ERROR 2", { skip: missing("curl") }, async () => {
      const out = join(root.path, "curl.out");
      const url = (name: string) => `tftp://127.0.0.1:${port}/${name}`;
      const get = await runPeer(PEER.curl, ["-sS", "-o", out, url("small.bin")]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(Buffer.compare(await readFile(out), small), 0);
      const put = await runPeer(PEER.curl, ["-sS", "-T", out, url("curl-up.bin")]);
      // curl turns TFTP error 2 (access violation) into CURLE_TFTP_PERM.
      assert.equal(put.code, 69, put.stderr);
      await assert.rejects(readFile(join(root.path, "curl-up.bin")), { code: "ENOENT" });
    });

    test("atftp reads; its upload is refused", { skip: missing("atftp") }, async () => {
      const out = join(root.path, "atftp.out");
      const get = await runPeer(PEER.atftp, [
        "--get",
        "-r",
        "small.bin",
        "-l",
        out,
        "127.0.0.1",
        String(port),
      ]);
      assert.equal(get.code, 0, get.stderr + get.stdout);
      assert.equal(Buffer.compare(await readFile(out), small), 0);
      const put = await runPeer(PEER.atftp, [
        "--put",
        "-r",
        "atftp-up.bin",
        "-l",
        out,
        "127.0.0.1",
        String(port),
      ]);
      assert.notEqual(put.code, 0);
      assert.match(put.stderr + put.stdout, /Access denied/);
    });

    test("tftp-hpa reads; its upload is refused", { skip: missing("tftpHpa") }, async () => {
      const out = join(root.path, "hpa.out");
      const hpa = (...command: string[]) =>
        runPeer(PEER.tftpHpa, ["-m", "octet", "127.0.0.1", String(port), "-c", ...command]);
      const get = await hpa("get", "small.bin", out);
      assert.equal(get.code, 0, get.stderr + get.stdout);
      assert.equal(Buffer.compare(await readFile(out), small), 0);
      const put = await hpa("put", out, "hpa-up.bin");
      assert.match(put.stderr + put.stdout, /Error code 2: Access denied/);
      await until(
        () => records.some((record) => record.filename === "hpa-up.bin"),
        "the refusal's record",
      );
      const refused = records.find((record) => record.filename === "hpa-up.bin")!;
      assert.equal(refused.outcome, "refused");
      assert.equal(refused.reason, "denied");
    });
  });
});
