// TFTP over IPv6 (::1): the ftkit server, on the runtime running the tests, answering curl,
// tftp-hpa, atftp and busybox; the ftkit client against tftpd-hpa and atftpd; a server on "::"
// answering IPv4 clients too (IPv4-mapped addresses, RFC 4291 section 2.5.5.2); and the
// `ftkit tftp` command with IPv6 addresses.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeTftpPacket, encodeTftpPacket } from "../../codec/mod.ts";
import { runCli } from "../../cli.ts";
import { parseTftpMapFile, type TftpServer, type TftpTransferRecord } from "../../tftp/mod.ts";
import { tftpApi } from "../_tftp_api.ts";
import { serveCli } from "../_cli_serve.ts";
import { until, within } from "../_wait.ts";
import { bytesOf, missing, PEER, runPeer, tempDir } from "./_peers.ts";
import { cannotServeIpv6, type RunningTftpd, startTftpd } from "./_tftp_peers.ts";

type Dir = { path: string; remove(): Promise<void> };

/** Whether `path` holds exactly `expected` (waited for, bounded: a peer may ACK before its write
 * reached the disk, peers.md). */
async function holds(path: string, expected: Uint8Array): Promise<void> {
  await until(
    async () => (await stat(path).catch(() => undefined))?.size === expected.length,
    `${path} to reach ${expected.length} bytes`,
  ).catch(() => {});
  assert.equal(Buffer.compare(await readFile(path), expected), 0, `${path} differs`);
}

/**
 * Sends an RRQ for `name` from a plain socket of `family` to `host`:`port` and returns where the
 * first DATA came from (the transfer's socket), then ends the transfer with an ERROR.
 */
function firstData(
  family: "udp4" | "udp6",
  host: string,
  port: number,
  name: string,
): Promise<{ address: string; port: number; block: number }> {
  const socket = createSocket(family);
  const answered = new Promise<{ address: string; port: number; block: number }>(
    (resolve, reject) => {
      socket.on("error", reject);
      socket.on("message", (message, from) => {
        const packet = decodeTftpPacket(new Uint8Array(message));
        if (packet.type !== "data") return reject(new Error(`got ${packet.type}`));
        const ending = encodeTftpPacket({ type: "error", code: 0, message: "enough" });
        socket.send(ending, from.port, from.address);
        resolve({ address: from.address, port: from.port, block: packet.block });
      });
    },
  );
  socket.bind(0, family === "udp6" ? "::1" : "127.0.0.1", () => {
    const request = encodeTftpPacket({ type: "rrq", filename: name, mode: "octet", options: {} });
    socket.send(request, port, host);
  });
  return within(answered, `DATA from ${host} port ${port}`).finally(() => socket.close());
}

describe("ftkit TFTP server on ::1 with real clients", () => {
  let root: Dir;
  let server: TftpServer;
  let port: number;
  const records: TftpTransferRecord[] = [];
  const file = bytesOf(1_000_000, 61);
  const small = bytesOf(70_000, 62);

  before(async () => {
    root = await tempDir("ftkit-v6-root-");
    await writeFile(join(root.path, "firmware.bin"), file);
    await writeFile(join(root.path, "small.bin"), small);
    const api = await tftpApi();
    const onTransfer = (record: TftpTransferRecord) => records.push(record);
    server = await api.serveTftp({
      root: root.path,
      host: "::1",
      port: 0,
      allowWrite: true,
      onTransfer,
    });
    port = server.address.port;
  });

  after(async () => {
    await server?.close();
    await root?.remove();
  });

  const url = (name: string) => `tftp://[::1]:${port}/${name}`;

  test("it listens on ::1, and answers from a transfer socket on ::1", async () => {
    assert.equal(server.address.address, "::1");
    const reply = await firstData("udp6", "::1", port, "small.bin");
    assert.equal(reply.address, "::1");
    assert.notEqual(reply.port, port);
    assert.equal(reply.block, 1);
  });

  for (const blksize of [512, 1468, 65464]) {
    test(`curl reads and writes at blksize ${blksize}`, { skip: missing("curl") }, async () => {
      const out = join(root.path, `curl-${blksize}.out`);
      const curl = (...args: string[]) =>
        runPeer(PEER.curl, ["-sS", "--tftp-blksize", String(blksize), ...args]);
      const get = await curl("-o", out, url("firmware.bin"));
      assert.equal(get.code, 0, get.stderr + get.stdout);
      await holds(out, file);
      const put = await curl("-T", join(root.path, "small.bin"), url(`up-curl-${blksize}.bin`));
      assert.equal(put.code, 0, put.stderr + put.stdout);
      await holds(join(root.path, `up-curl-${blksize}.bin`), small);
    });
  }

  test("tftp-hpa (-6) reads and writes", { skip: missing("tftpHpa") }, async () => {
    const out = join(root.path, "hpa.out");
    const hpa = (...command: string[]) =>
      runPeer(PEER.tftpHpa, ["-6", "-m", "octet", "::1", String(port), "-c", ...command]);
    const get = await hpa("get", "firmware.bin", out);
    assert.equal(get.code, 0, get.stderr + get.stdout);
    await holds(out, file);
    const put = await hpa("put", join(root.path, "small.bin"), "up-hpa.bin");
    assert.equal(put.code, 0, put.stderr + put.stdout);
    await holds(join(root.path, "up-hpa.bin"), small);
  });

  for (const windowsize of [1, 16]) {
    test(
      `atftp reads and writes at blksize 1468, windowsize ${windowsize}`,
      { skip: missing("atftp") },
      async () => {
        const options = ["--option", "blksize 1468", "--option", `windowsize ${windowsize}`];
        const out = join(root.path, `atftp-${windowsize}.out`);
        const get = await runPeer(PEER.atftp, [
          "--get",
          "-r",
          "firmware.bin",
          "-l",
          out,
          ...options,
          "::1",
          String(port),
        ]);
        assert.equal(get.code, 0, get.stderr + get.stdout);
        await holds(out, file);
        const put = await runPeer(PEER.atftp, [
          "--put",
          "-r",
          `up-atftp-${windowsize}.bin`,
          "-l",
          join(root.path, "small.bin"),
          ...options,
          "::1",
          String(port),
        ]);
        assert.equal(put.code, 0, put.stderr + put.stdout);
        await holds(join(root.path, `up-atftp-${windowsize}.bin`), small);
        // Both were negotiated (RFC 2348, RFC 7440), not fallen back to RFC 1350.
        const negotiated = (type: "rrq" | "wrq") =>
          records.some((record) =>
            record.type === type && record.outcome === "complete" &&
            record.parameters?.blksize === 1468 && record.parameters.windowsize === windowsize
          );
        await until(() => negotiated("rrq") && negotiated("wrq"), "atftp's transfers recorded")
          .catch(() => {});
        assert.ok(negotiated("rrq") && negotiated("wrq"), JSON.stringify(records.slice(-2)));
      },
    );
  }

  test("busybox tftp reads and writes at blksize 1468", { skip: missing("busybox") }, async () => {
    const out = join(root.path, "busybox.out");
    const busybox = (...args: string[]) =>
      runPeer(PEER.busybox, ["tftp", ...args, "-b", "1468", "::1", String(port)]);
    const get = await busybox("-g", "-r", "firmware.bin", "-l", out);
    assert.equal(get.code, 0, get.stderr);
    await holds(out, file);
    const put = await busybox("-p", "-r", "up-busybox.bin", "-l", join(root.path, "small.bin"));
    assert.equal(put.code, 0, put.stderr);
    await holds(join(root.path, "up-busybox.bin"), small);
  });

  test("the ftkit client reads and writes in windows", async () => {
    const api = await tftpApi();
    const options = { host: "::1", port, blksize: 8192, windowsize: 16 };
    const got = await api.tftpGet({ ...options, remote: "firmware.bin" });
    assert.equal(Buffer.compare(got, file), 0);
    await api.tftpPut({ ...options, remote: "up-ftkit.bin" }, file, file.length);
    await holds(join(root.path, "up-ftkit.bin"), file);
  });

  test("the client reaches ::1 given with a numeric zone index (::1%N, N the loopback's)", async () => {
    const api = await tftpApi();
    const index = (await readFile("/sys/class/net/lo/ifindex", "utf8")).trim();
    const got = await api.tftpGet({ host: `::1%${index}`, port, remote: "small.bin" });
    assert.equal(Buffer.compare(got, small), 0);
  });

  test("every transfer record names ::1 as the peer", () => {
    assert.ok(records.length > 0);
    assert.deepEqual([...new Set(records.map((record) => record.peer.address))], ["::1"]);
  });
});

describe("ftkit TFTP server on :: answers IPv4 clients too", () => {
  const file = bytesOf(200_000, 63);
  const modes = [
    ["one socket per transfer", {}],
    ["single-port mode", { singlePort: true }],
    ["a port range", { portRange: [41000, 41999] as const }],
  ] as const;

  for (const [mode, extra] of modes) {
    test(`${mode}: curl over 127.0.0.1 and [::1], byte for byte`, async () => {
      const root = await tempDir("ftkit-v6-any-");
      const records: TftpTransferRecord[] = [];
      const api = await tftpApi();
      const server = await api.serveTftp({
        root: root.path,
        host: "::",
        port: 0,
        onTransfer: (record) => records.push(record),
        ...extra,
      });
      try {
        await writeFile(join(root.path, "a.bin"), file);
        const { port } = server.address;
        // The reply comes from the family the request came in on, from the range when given.
        for (const [family, host] of [["udp4", "127.0.0.1"], ["udp6", "::1"]] as const) {
          const reply = await firstData(family, host, port, "a.bin");
          assert.equal(reply.address, host);
          if ("singlePort" in extra) assert.equal(reply.port, port);
          else if ("portRange" in extra) assert.ok(reply.port >= 41000 && reply.port <= 41999);
          else assert.notEqual(reply.port, port);
        }
        if (missing("curl")) return;
        for (const host of ["127.0.0.1", "[::1]"]) {
          const out = join(root.path, `${host.replace(/\W/g, "")}.out`);
          const ran = await runPeer(PEER.curl, ["-sS", "-o", out, `tftp://${host}:${port}/a.bin`]);
          assert.equal(ran.code, 0, ran.stderr);
          await holds(out, file);
        }
        // A read is recorded once its final ACK arrives, which may follow curl's exit.
        const completed = () => records.filter((record) => record.outcome === "complete");
        await until(() => completed().length === 2, "both reads to be recorded").catch(() => {});
        assert.deepEqual(completed().map((record) => record.peer.address), [
          "::ffff:127.0.0.1",
          "::1",
        ]);
      } finally {
        await server.close();
        await root.remove();
      }
    });
  }

  test(
    "remap rules see an IPv4 client as IPv4 (4 and 6 flags, \\i, \\x), as tftpd-hpa on both families",
    async () => {
      const root = await tempDir("ftkit-v6-map-");
      const rules = "r4 ^family$ v4\nr6 ^family$ v6\nr ^ip$ by-ip/\\i\nr ^hex$ by-hex/\\x\n";
      const files: Record<string, string> = {
        "v4": "v4",
        "v6": "v6",
        "by-ip/127.0.0.1": "ip 127.0.0.1",
        "by-ip/::1": "ip ::1",
        "by-hex/7F000001": "hex 127.0.0.1",
        "by-hex/00000000000000000000000000000001": "hex ::1",
      };
      await mkdir(join(root.path, "by-ip"));
      await mkdir(join(root.path, "by-hex"));
      for (const [name, content] of Object.entries(files)) {
        await writeFile(join(root.path, name), content);
      }
      await writeFile(join(root.path, "rules.map"), rules);
      const api = await tftpApi();
      const server = await api.serveTftp({
        root: root.path,
        host: "::",
        port: 0,
        mapRules: parseTftpMapFile(rules),
      });
      // tftpd-hpa given no address (-a :PORT) listens on 0.0.0.0 and [::], one socket each.
      const hpa = missing("tftpdHpa")
        ? undefined
        : await startTftpd("tftpdHpa", root.path, "", ["-m", join(root.path, "rules.map")]);
      try {
        const read = async (port: number, host: string, remote: string) => {
          const bytes = await api.tftpGet({ host, port, remote }).catch((error) => error);
          return bytes instanceof Uint8Array ? new TextDecoder().decode(bytes) : String(bytes);
        };
        const expected: [string, string, string][] = [
          ["127.0.0.1", "family", "v4"],
          ["127.0.0.1", "ip", "ip 127.0.0.1"],
          ["127.0.0.1", "hex", "hex 127.0.0.1"],
          ["::1", "family", "v6"],
          ["::1", "ip", "ip ::1"],
          ["::1", "hex", "hex ::1"],
        ];
        for (const [host, remote, content] of expected) {
          assert.equal(await read(server.address.port, host, remote), content, `${host} ${remote}`);
          if (hpa) assert.equal(await read(hpa.port, host, remote), content, `tftpd-hpa: ${host}`);
        }
      } finally {
        await hpa?.daemon.stop();
        await server.close();
        await root.remove();
      }
    },
  );

  test("per-client limits hold for IPv4 clients of a server on ::", async () => {
    const root = await tempDir("ftkit-v6-limit-");
    const api = await tftpApi();
    const server = await api.serveTftp({
      root: root.path,
      host: "::",
      port: 0,
      maxTransfersPerClient: 1,
    });
    try {
      await writeFile(join(root.path, "a.bin"), file);
      // The first transfer stays open (answered once, then left waiting) while a second request
      // from the same IPv4 client arrives: it is refused as busy.
      const socket = createSocket("udp4");
      const messages: { bytes: Uint8Array; port: number }[] = [];
      socket.on(
        "message",
        (bytes, from) => messages.push({ bytes: new Uint8Array(bytes), port: from.port }),
      );
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
      try {
        const rrq = encodeTftpPacket({
          type: "rrq",
          filename: "a.bin",
          mode: "octet",
          options: {},
        });
        socket.send(rrq, server.address.port, "127.0.0.1");
        await until(() => messages.length >= 1, "the first DATA");
        const first = messages[0];
        socket.send(encodeTftpPacket({ type: "ack", block: 1 }), first.port, "127.0.0.1");
        const second = createSocket("udp4");
        try {
          const refused = new Promise<Uint8Array>((resolve) =>
            second.on("message", (bytes) => resolve(new Uint8Array(bytes)))
          );
          await new Promise<void>((resolve) => second.bind(0, "127.0.0.1", resolve));
          second.send(rrq, server.address.port, "127.0.0.1");
          const packet = decodeTftpPacket(await within(refused, "the answer to a second request"));
          assert.equal(packet.type, "error");
          assert.match(packet.type === "error" ? packet.message : "", /busy/i);
        } finally {
          second.close();
        }
      } finally {
        socket.close();
      }
    } finally {
      await server.close();
      await root.remove();
    }
  });
});

describe("ftkit TFTP client against tftpd-hpa on ::1", { skip: missing("tftpdHpa") }, () => {
  let root: Dir;
  let hpa: RunningTftpd;
  const file = bytesOf(1_500_000, 64);

  before(async () => {
    root = await tempDir("ftkit-v6-hpa-");
    await writeFile(join(root.path, "image.bin"), file);
    // -c: uploads may create files.
    hpa = await startTftpd("tftpdHpa", root.path, "::1", ["-c"]);
  });

  after(async () => {
    await hpa?.daemon.stop();
    await root?.remove();
  });

  for (const blksize of [512, 1468, 65464]) {
    test(`get and put at blksize ${blksize}`, async () => {
      const api = await tftpApi();
      const options = { host: "::1", port: hpa.port, blksize };
      const got = await api.tftpGet({ ...options, remote: "image.bin" });
      assert.equal(Buffer.compare(got, file), 0);
      await api.tftpPut({ ...options, remote: `up-${blksize}.bin` }, got);
      await holds(join(root.path, `up-${blksize}.bin`), file);
    });
  }

  test("ftkit tftp get and put [::1]:PORT, through the command", async () => {
    const local = join(root.path, "cli.out");
    const at = `[::1]:${hpa.port}`;
    const err: string[] = [];
    const io = { out: () => {}, err: (line: string) => err.push(line) };
    assert.equal(
      await runCli(["tftp", "get", at, "image.bin", local, "--blksize", "1468"], io),
      0,
      err.join("\n"),
    );
    await holds(local, file);
    assert.equal(await runCli(["tftp", "put", at, local, "up-cli.bin"], io), 0, err.join("\n"));
    await holds(join(root.path, "up-cli.bin"), file);
  });
});

// atftpd 0.8 takes --bind-address ::1 and logs it, yet binds an IPv4 socket: checked by starting
// it, not assumed.
const atftpdIpv6 = await cannotServeIpv6("atftpd");

describe("ftkit TFTP client against atftpd on ::1", { skip: atftpdIpv6 }, () => {
  let root: Dir;
  let atftpd: RunningTftpd;
  const file = bytesOf(1_500_000, 65);

  before(async () => {
    root = await tempDir("ftkit-v6-atftpd-");
    await writeFile(join(root.path, "image.bin"), file);
    atftpd = await startTftpd("atftpd", root.path, "::1");
  });

  after(async () => {
    await atftpd?.daemon.stop();
    await root?.remove();
  });

  test("get in windows and put at blksize 1468", async () => {
    const api = await tftpApi();
    const options = { host: "::1", port: atftpd.port, blksize: 1468 };
    const got = await api.tftpGet({ ...options, remote: "image.bin", windowsize: 16 });
    assert.equal(Buffer.compare(got, file), 0);
    await api.tftpPut({ ...options, remote: "up.bin" }, got);
    await holds(join(root.path, "up.bin"), file);
  });
});

describe("ftkit tftp with IPv6 addresses", () => {
  test("serve --host ::1 prints [::1] in its address and URL, and logs peers as [::1]:PORT", async () => {
    const root = await tempDir("ftkit-v6-cli-");
    try {
      await writeFile(join(root.path, "hello.txt"), "hello over IPv6\n");
      const serving = await serveCli(
        ["udp"],
        ([free]) => ["tftp", "serve", root.path, "--host", "::1", "--port", String(free)],
        /^Fetch a file with: /,
      );
      try {
        const port = serving.ports[0];
        assert.ok(
          serving.lines.includes(`Serving ${root.path} over TFTP on [::1]:${port} (read-only)`),
          serving.lines.join("\n"),
        );
        assert.ok(
          serving.lines.includes(`Fetch a file with: curl -o FILE tftp://[::1]:${port}/FILE`),
        );
        const out = join(root.path, "got.txt");
        const io = { out: () => {}, err: () => {} };
        assert.equal(
          await runCli(["tftp", "get", `[::1]:${port}`, "hello.txt", out, "--quiet"], io),
          0,
        );
        assert.equal(await readFile(out, "utf8"), "hello over IPv6\n");
        await serving.line(/^\[::1\]:\d+ read hello\.txt: 16 bytes in /);
      } finally {
        await serving.stop();
      }
    } finally {
      await root.remove();
    }
  });

  test("serve --host :: prints a URL on [::1]", async () => {
    const root = await tempDir("ftkit-v6-cli-any-");
    try {
      const serving = await serveCli(
        ["udp"],
        ([free]) => ["tftp", "serve", root.path, "--host", "::", "--port", String(free)],
        /^Fetch a file with: /,
      );
      try {
        const port = serving.ports[0];
        assert.ok(
          serving.lines.includes(`Fetch a file with: curl -o FILE tftp://[::1]:${port}/FILE`),
        );
      } finally {
        await serving.stop();
      }
    } finally {
      await root.remove();
    }
  });

  test("::1:6969 is refused as ambiguous; [::1]:6969 and [::1:6969] say which", async () => {
    const err: string[] = [];
    const code = await runCli(["tftp", "get", "::1:6969", "a.bin", "-"], {
      out: () => {},
      err: (line) => err.push(line),
    });
    assert.equal(code, 2);
    assert.equal(
      err[0],
      "ftkit: '::1:6969' is ambiguous: write [::1]:6969 for port 6969 of ::1, or [::1:6969] for " +
        "that address on port 69",
    );
  });
});
