// The floor of a JavaScript runtime for lock-step TFTP: the least a server can do per block on
// node:dgram (one receive, one send, no file I/O, no checks), with the whole file in memory. The
// benchmark runs it next to the ftkit server on each runtime, so the gap to tftpd-hpa can be read
// as the runtime's part and ftkit's part. Not a TFTP server: octet reads of one file, blksize
// only, no retransmission, no errors.
//
// Usage: node|bun|deno run -A scripts/bench/floor.mjs FILE PORT

import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import process from "node:process";

const file = readFileSync(process.argv[2]);
const port = Number(process.argv[3]);
const listener = createSocket("udp4");

listener.on("message", (request, client) => {
  // RRQ: opcode, filename NUL, mode NUL, then option NUL value NUL pairs; honour blksize only.
  const fields = request.subarray(2).toString("latin1").split("\0");
  let blksize = 512;
  for (let i = 2; i + 1 < fields.length; i += 2) {
    if (fields[i].toLowerCase() === "blksize") blksize = Number(fields[i + 1]);
  }
  const socket = createSocket("udp4");
  const packet = Buffer.alloc(4 + blksize);
  let block = 0;
  const sendBlock = () => {
    const offset = (block - 1) * blksize;
    const length = Math.max(0, Math.min(blksize, file.length - offset));
    packet.writeUInt16BE(3, 0);
    packet.writeUInt16BE(block & 0xffff, 2);
    file.copy(packet, 4, offset, offset + length);
    socket.send(packet, 0, 4 + length, client.port, client.address);
  };
  socket.on("message", (ack) => {
    if (ack.readUInt16BE(0) !== 4 || ack.readUInt16BE(2) !== (block & 0xffff)) return;
    if (block > 0 && block * blksize > file.length) return socket.close();
    block++;
    sendBlock();
  });
  socket.bind(0, "127.0.0.1", () => {
    if (blksize === 512 && !fields.slice(2).some((f) => f.toLowerCase() === "blksize")) {
      block = 1;
      sendBlock();
    } else {
      const oack = Buffer.from(`\0\x06blksize\0${blksize}\0`, "latin1");
      socket.send(oack, client.port, client.address);
    }
  });
});
listener.bind(port, "127.0.0.1");
