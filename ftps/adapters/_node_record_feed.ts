// A stream fed whole TLS records from a TCP socket, for node:tls to run over in either role
// (_node_tcp_server.ts, _node_tcp_client.ts) instead of over the socket itself. It tells what
// node:tls hides on every runtime: whether the peer ended TLS with close_notify, or the TCP
// stream just ended (a FIN alone may be a truncation: RFC 8446 section 6.1, RFC 4217 sections
// 12.6 and 12.7); and, once TLS is being shut down, where the plain bytes after it begin (CCC).

import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";

/** What a receive-only stream's TLS may hold back before the peer's end (see `hold`). */
const MAX_HELD_BYTES = 65536;

/** Event-loop turns the end of a TCP stream waits, once TLS has taken every record, for the
 * close_notify in them to end TLS (all three runtimes end it within one; measured). */
const CLOSE_NOTIFY_TURNS = 3;

/** And then a last wait, in ms, before the stream is taken to have ended without close_notify. */
const CLOSE_NOTIFY_GRACE_MS = 200;

/** The stream TLS runs over, and what it tells. */
export interface RecordFeed {
  /** What TLS reads from and writes to. */
  readonly stream: Duplex;
  /** To call when TLS ends ('end'), before anything else hears of it. */
  tlsEnded(): void;
  /** Once TLS ended: whether it ended with the peer's close_notify (`undefined` before). */
  closeNotified(): boolean | undefined;
  /** From now on, application data records TLS writes wait until it ended (receive-only). */
  hold(): void;
  /** Shuts `tls` down (close_notify), waits for the peer's close_notify or first plain byte, lets
   * go of the TCP socket and gives the plain bytes that came after TLS. */
  clear(tls: TLSSocket): Promise<Uint8Array[]>;
}

/**
 * Feeds TLS whole records from `raw` (which nothing else reads any more), `preread` first. The
 * TCP end is held back until TLS has taken every record: a close_notify among them ends TLS by
 * itself, and an end handed over before TLS ended (or a break) is an end without one.
 */
export function feedRecords(raw: Socket, preread: Uint8Array[] = []): RecordFeed {
  let pending: Uint8Array = new Uint8Array(0);
  let clearing = false;
  let plain: Uint8Array | undefined;
  let onPlain: (() => void) | undefined;
  /** TLS ended (close_notify, or the end handed to it). */
  let tlsEnded = false;
  /** The TCP end was handed to TLS before TLS ended by itself: no close_notify came. */
  let endHandedOver = false;
  /** The TCP stream broke (a reset, an error): whatever TLS says then, no close_notify came (Bun
   * ends a TLS socket whose stream is destroyed, as if one had). */
  let broken = false;
  /** On a receive-only stream once the handshake is done: what TLS writes before it ends. */
  let held: Uint8Array[] | undefined;
  let heldBytes = 0;
  const inner = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      if (raw.destroyed) return callback(new Error("The connection was closed"));
      // Application data records only (TLS 1.3 wraps its session tickets in them): a TLS 1.2
      // server's last handshake flight may follow the 'secure' event.
      if (held && !tlsEnded && chunk[0] === 23) {
        held.push(chunk);
        heldBytes += chunk.length;
        // A session ticket or two; a peer that keeps TLS answering (key updates) is dropped.
        if (heldBytes > MAX_HELD_BYTES) return callback(new Error("Too much TLS output held"));
        return callback();
      }
      if (held) {
        for (const before of held.splice(0)) raw.write(before);
        held = undefined;
      }
      // Taken while the TCP socket's buffer has room; past that, once it drains (or closes).
      if (raw.write(chunk)) return callback();
      const done = () => {
        raw.off("drain", done);
        raw.off("close", done);
        callback();
      };
      raw.on("drain", done);
      raw.on("close", done);
    },
    final(callback) {
      // TLS ended (close_notify sent): FIN, unless TLS is being cleared off the connection.
      if (!clearing && !raw.destroyed) raw.end();
      callback();
    },
    destroy(error, callback) {
      if (!clearing) raw.destroy();
      callback(error);
    },
  });
  const feed = () => {
    // Whole records go to TLS (RFC 8446 section 5.1: type, version 3.x, 16-bit length).
    while (pending.length >= 5) {
      const type = pending[0];
      if (clearing && (type < 20 || type > 24 || pending[1] !== 3)) {
        plain = pending;
        pending = new Uint8Array(0);
        onPlain?.();
        return;
      }
      const length = 5 + ((pending[3] << 8) | pending[4]);
      if (pending.length < length) return;
      inner.push(pending.subarray(0, length));
      pending = pending.subarray(length);
    }
    if (clearing && pending.length > 0 && (pending[0] < 20 || pending[0] > 24)) {
      plain = pending;
      pending = new Uint8Array(0);
      onPlain?.();
    }
  };
  const onData = (chunk: Uint8Array) => {
    if (plain) {
      plain = concat(plain, chunk);
      return;
    }
    pending = pending.length === 0 ? chunk : concat(pending, chunk);
    feed();
  };
  const handOverEnd = () => {
    if (!tlsEnded) endHandedOver = true;
    inner.push(null);
  };
  let rawEnded = false;
  const onEnd = async () => {
    rawEnded = true;
    // Give TLS the records it has not taken yet, and the turns to read them: a close_notify
    // among them ends it. Bounded: a peer that sent none gets its end after a short wait.
    for (let turn = 0, spins = 0; turn < CLOSE_NOTIFY_TURNS && !tlsEnded && spins < 1000; spins++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turn = inner.readableLength > 0 ? 0 : turn + 1;
    }
    if (!tlsEnded) await new Promise((resolve) => setTimeout(resolve, CLOSE_NOTIFY_GRACE_MS));
    handOverEnd();
  };
  // After close_notify, a reset or an error changes nothing of what came.
  const onError = (error: Error) => {
    if (!tlsEnded) broken = true;
    inner.destroy(error);
  };
  // A reset (a close without an end) is no end of the data.
  const onClose = () => {
    if (!clearing && !rawEnded) {
      if (!tlsEnded) broken = true;
      inner.destroy(new Error("The connection was closed before its end"));
    }
  };
  raw.on("data", onData);
  raw.on("end", onEnd);
  raw.on("error", onError);
  raw.on("close", onClose);
  for (const chunk of preread) onData(chunk);

  return {
    stream: inner,
    tlsEnded: () => (tlsEnded = true),
    closeNotified: () => tlsEnded ? !endHandedOver && !broken : undefined,
    hold: () => (held = []),
    async clear(tls) {
      clearing = true;
      feed();
      await new Promise<void>((resolve, reject) => {
        if (plain) return resolve();
        const done = () => {
          tls.off("end", done);
          raw.off("close", gone);
          onPlain = undefined;
          resolve();
        };
        const gone = () => reject(new Error("The connection was closed"));
        onPlain = done;
        tls.once("end", done);
        raw.once("close", gone);
        // Our close_notify; the peer answers with its own, or starts talking in plain.
        tls.end();
      });
      raw.off("data", onData);
      raw.off("end", onEnd);
      raw.off("error", onError);
      raw.off("close", onClose);
      return plain && plain.length > 0 ? [plain] : [];
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
