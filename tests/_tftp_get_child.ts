// A child process for tests/cli_test.ts: reads one file with the runtime's tftpGet, asking the
// client to dally 10 minutes after the last block, prints its size, and has nothing more to do.
// The test checks that it exits at once: the dally must not keep the process alive.
//
// Usage: tests/_tftp_get_child.ts PORT REMOTE

import process from "node:process";
import { tftpApi } from "./_tftp_api.ts";

const api = await tftpApi();
const bytes = await api.tftpGet({
  host: "127.0.0.1",
  port: Number(process.argv[2]),
  remote: process.argv[3],
  retransmit: { dallyMs: 600_000 },
});
process.stdout.write(`${bytes.length}\n`);
