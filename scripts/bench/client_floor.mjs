// The floor of a JavaScript runtime for a lock-step TFTP read: the least a client can do per
// block on node:dgram (one receive, one ACK, one synchronous write of the block to the file, as
// curl does). The benchmark runs it next to `ftkit tftp get` on each runtime, as a process like it, so
// the gap to curl can be read as the runtime's part and ftkit's part. Not a TFTP client: octet
// reads, blksize only, no retransmission, no checks beyond the block number.
//
// Usage: node|bun|deno run -A scripts/bench/client_floor.mjs PORT REMOTE BLKSIZE OUT

import { createSocket } from "node:dgram";
import { closeSync, openSync, writeSync } from "node:fs";
import process from "node:process";

const [port, remote, blksizeText, out] = process.argv.slice(2);
const blksize = Number(blksizeText);
const socket = createSocket({
  type: "udp4",
  lookup: (host, _options, done) => done(null, host, 4),
});
const file = openSync(out, "w");
const ack = Buffer.alloc(4);
ack.writeUInt16BE(4, 0);
let last = 0;
socket.on("message", (message, from) => {
  const opcode = message.readUInt16BE(0);
  if (opcode === 5) {
    console.error(message.subarray(4, message.length - 1).toString());
    process.exit(1);
  }
  let block = 0;
  if (opcode === 3) {
    block = message.readUInt16BE(2);
    if (block === ((last + 1) & 0xffff)) {
      last++;
      writeSync(file, message, 4, message.length - 4);
    }
  }
  ack.writeUInt16BE(block, 2);
  socket.send(ack, from.port, from.address);
  if (opcode === 3 && message.length - 4 < blksize) {
    closeSync(file);
    socket.close();
  }
});
socket.bind(0, "127.0.0.1", () => {
  const request = Buffer.from(`\0\x01${remote}\0octet\0blksize\0${blksize}\0`, "latin1");
  socket.send(request, Number(port), "127.0.0.1");
});
