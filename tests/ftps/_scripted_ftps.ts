// A scripted FTPS server on loopback that speaks raw bytes, for client tests that must control
// exactly what arrives and see exactly how the client ends its connections: plain replies next to
// the 234 of AUTH TLS, TLS on the same socket after it, and data connections whose TLS runs over
// a stream the test feeds, so that the client's close_notify can be told from a bare FIN, and a
// download's data connection can end with one or without (a FIN alone, as a truncation would).

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { repoFile } from "../_runtime.ts";

/** The test CA, for the client. */
export const CA: string = readFileSync(repoFile("tests/fixtures/tls/ca.pem"), "utf8");

let context: SecureContext | undefined;
/** The leaf certificate's context (localhost, 127.0.0.1), made once. */
function serverContext(): SecureContext {
  context ??= createSecureContext({
    cert: readFileSync(repoFile("tests/fixtures/tls/leaf.pem"), "utf8"),
    key: readFileSync(repoFile("tests/fixtures/tls/leaf.key"), "utf8"),
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.3",
  });
  return context;
}

/** How a protected upload's data connection ended, as the server saw it. */
export interface DataEnd {
  /** The bytes of application data received. */
  readonly bytes: number;
  /**
   * `"close_notify"`: the client's TLS close_notify came before its FIN; `"fin"`: a bare FIN;
   * `"reset"`: a TCP reset (or another error); `"abor"`: the client left it open and ABOR came,
   * so the server dropped it.
   */
  readonly end: "close_notify" | "fin" | "reset" | "abor";
}

/** An upload in progress: its data connection, whether its data ended, whether ABOR dropped it. */
interface Upload {
  readonly data: Socket;
  over: boolean;
  dropped: boolean;
  ended?: Promise<void>;
}

/** Options of {@linkcode scriptedFtps}. */
export interface ScriptedFtpsOptions {
  /** Plain bytes sent in the same write as the 234 that accepts AUTH TLS. */
  afterAuth?: string;
  /** Bytes sent inside TLS as soon as the control handshake is done, before any reply. */
  firstProtected?: string;
  /** Replies by verb (a whole reply, CR LF added), over the built-in ones. */
  replies?: Readonly<Record<string, string>>;
  /** Called with how many bytes of an upload came so far (after each chunk). */
  onUploadBytes?: (bytes: number) => void;
  /** On ABOR during an upload, how long to leave its data connection to the client first: a
   * client that ends it cleanly then is seen doing so (default 0). */
  aborGraceMs?: number;
  /**
   * Downloads by command line (`"RETR f.bin"`, `"LIST"`): given the offset (REST) and the
   * attempt (1 for the first), the bytes to send from there and how the data connection ends:
   * `"close_notify"` (TLS shut down, then FIN) or `"fin"` (a bare FIN, no close_notify; what a
   * truncation looks like). The reply is 226 either way.
   */
  downloads?: Readonly<
    Record<string, (offset: number, attempt: number) => Download>
  >;
}

/** What a scripted download sends, and how its data connection ends. */
export interface Download {
  readonly bytes: Uint8Array;
  readonly end: "close_notify" | "fin";
}

/** A running scripted server. */
export interface ScriptedFtps {
  readonly port: number;
  /** The command lines received, in order, inside TLS or not: `["AUTH TLS", "PBSZ 0", ...]`. */
  readonly commands: string[];
  /** One entry per protected upload, once its data connection ended. */
  readonly uploads: DataEnd[];
  /** Resolves with the next upload's end (bounded by `timeoutMs`). */
  nextUpload(timeoutMs?: number): Promise<DataEnd>;
  close(): Promise<void>;
}

const BUILT_IN: Record<string, string> = {
  PBSZ: "200 PBSZ=0",
  PROT: "200 Protection level set",
  USER: "331 Password please",
  PASS: "230 Logged in",
  FEAT: "211-Features:\r\n PBSZ\r\n PROT\r\n EPSV\r\n211 End",
  TYPE: "200 Binary",
  PWD: '257 "/" is the current directory',
  NOOP: "200 OK",
  QUIT: "221 Bye",
};

/** How long the server waits, after a data connection's FIN, for TLS to report a close_notify
 * that came before it (the records are decrypted after the TCP end is seen). */
const CLOSE_NOTIFY_WAIT_MS = 5000;

/**
 * Server-side TLS over a stream fed from `raw`: `raw`'s end reaches TLS only when `releaseEnd` is
 * called, so a TLS end before it can only come from the peer's close_notify. (node:tls reports a
 * bare FIN as an end as well, on Node, Bun and Deno alike.)
 */
function feedTls(raw: Socket): {
  tls: TLSSocket;
  rawEnded: Promise<"fin" | "reset">;
  releaseEnd(): void;
} {
  let rawEnd: (how: "fin" | "reset") => void = () => {};
  const rawEnded = new Promise<"fin" | "reset">((resolve) => (rawEnd = resolve));
  const inner = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      if (raw.destroyed) return callback();
      raw.write(chunk, () => callback());
    },
    final(callback) {
      raw.end();
      callback();
    },
  });
  raw.on("data", (chunk: Uint8Array) => inner.push(chunk));
  raw.on("end", () => rawEnd("fin"));
  raw.on("error", () => rawEnd("reset"));
  raw.on("close", () => rawEnd("reset"));
  const tls = new TLSSocket(inner as unknown as Socket, {
    isServer: true,
    secureContext: serverContext(),
  });
  tls.on("error", () => {});
  return { tls, rawEnded, releaseEnd: () => inner.push(null) };
}

/** Splits a byte stream into CR LF lines. */
function lines(onLine: (line: string) => void): (chunk: Uint8Array) => void {
  let buffer = "";
  return (chunk) => {
    buffer += Buffer.from(chunk).toString("latin1");
    for (let end = buffer.indexOf("\r\n"); end !== -1; end = buffer.indexOf("\r\n")) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      onLine(line);
    }
  };
}

/**
 * Starts a scripted server on 127.0.0.1: explicit TLS (AUTH TLS), passive data (EPSV) under
 * PROT P, uploads (STOR) read to their end and answered 226, or 426 after ABOR.
 */
export async function scriptedFtps(options: ScriptedFtpsOptions = {}): Promise<ScriptedFtps> {
  const replies = { ...BUILT_IN, ...options.replies };
  const commands: string[] = [];
  const uploads: DataEnd[] = [];
  const uploadWaiters: ((end: DataEnd) => void)[] = [];
  const sockets = new Set<Socket | TLSSocket>();
  const servers = new Set<Server>();
  const track = <T extends Socket | TLSSocket>(socket: T): T => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    return socket;
  };
  const listen = (server: Server) =>
    new Promise<number>((resolve) => {
      servers.add(server);
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
    });

  const control = createServer((raw) => {
    track(raw);
    raw.on("error", () => {});
    let out: Socket | TLSSocket = raw;
    let pendingData: Promise<Socket> | undefined;
    let transfer: Upload | undefined;
    const reply = (text: string) => out.write(`${text}\r\n`);

    const upload = async (current: Upload) => {
      const fed = feedTls(current.data);
      track(fed.tls);
      let bytes = 0;
      let tlsEnded = false;
      const tlsEnd = new Promise<void>((resolve) => fed.tls.once("end", resolve));
      fed.tls.on("end", () => (tlsEnded = true));
      fed.tls.on("data", (chunk: Uint8Array) => {
        bytes += chunk.length;
        options.onUploadBytes?.(bytes);
      });
      const how = await fed.rawEnded;
      current.over = true;
      const dropped = current.dropped;
      if (how === "fin" && !tlsEnded) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          tlsEnd,
          new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_NOTIFY_WAIT_MS))),
        ]);
        clearTimeout(timer);
      }
      const end: DataEnd = {
        bytes,
        end: dropped ? "abor" : how === "reset" ? "reset" : tlsEnded ? "close_notify" : "fin",
      };
      fed.releaseEnd();
      fed.tls.destroy();
      current.data.destroy();
      uploads.push(end);
      uploadWaiters.shift()?.(end);
      if (!dropped) reply(end.end === "reset" ? "426 Connection reset" : "226 Transfer complete");
    };

    let restAt = 0;
    /** Sends a download on its TLS data connection, ends it as told, then answers 226. */
    const download = async (data: Socket, what: Download) => {
      // A stream whose end is the test's: TLS's close_notify goes out only when asked.
      const fed = feedTls(data);
      const tls = track(fed.tls);
      void fed.rawEnded.then(() => fed.releaseEnd());
      await new Promise<void>((resolve) => tls.once("secure", resolve));
      await new Promise<void>((resolve) => tls.write(what.bytes, () => resolve()));
      if (what.end === "close_notify") tls.end();
      // A bare FIN: the TCP stream ends under TLS, which never sends its close_notify.
      else data.end();
      reply("226 Transfer complete");
      // The client closes its side: the connection is over.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise((resolve) => data.once("close", resolve)),
        new Promise((resolve) => (timer = setTimeout(resolve, 10_000))),
      ]);
      clearTimeout(timer);
      tls.destroy();
      data.destroy();
    };
    const attempts = new Map<string, number>();

    const onLine = async (line: string) => {
      commands.push(line);
      const verb = line.split(" ")[0].toUpperCase();
      if (verb === "AUTH") {
        raw.removeAllListeners("data");
        raw.write(`234 Proceed\r\n${options.afterAuth ?? ""}`);
        const tls = track(
          new TLSSocket(raw, { isServer: true, secureContext: serverContext() }),
        );
        tls.on("error", () => {});
        tls.once("secure", () => {
          out = tls;
          if (options.firstProtected) tls.write(options.firstProtected);
          tls.on("data", lines(onLine));
        });
        return;
      }
      if (verb === "EPSV") {
        const listener = createServer();
        pendingData = new Promise((resolve) =>
          listener.once("connection", (socket) => {
            listener.close();
            resolve(track(socket));
          })
        );
        reply(`229 Entering Extended Passive Mode (|||${await listen(listener)}|)`);
        return;
      }
      if (verb === "STOR") {
        const data = await pendingData!;
        pendingData = undefined;
        reply("150 Send it");
        const current: Upload = { data, dropped: false, over: false };
        current.ended = upload(current).then(() => {
          if (transfer === current) transfer = undefined;
        });
        transfer = current;
        return;
      }
      if (verb === "REST") {
        restAt = Number(line.slice(5));
        reply(`350 Restarting at ${restAt}`);
        return;
      }
      const scripted = options.downloads?.[line];
      if (scripted) {
        const attempt = (attempts.get(line) ?? 0) + 1;
        attempts.set(line, attempt);
        const what = scripted(restAt, attempt);
        restAt = 0;
        const data = await pendingData!;
        pendingData = undefined;
        reply("150 Here it comes");
        await download(data, what);
        return;
      }
      if (verb === "ABOR") {
        const running = transfer;
        transfer = undefined;
        if (running && !running.over && options.aborGraceMs) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            running.ended,
            new Promise<void>((resolve) => (timer = setTimeout(resolve, options.aborGraceMs))),
          ]);
          clearTimeout(timer);
        }
        if (running?.over) {
          // Its data ended first: its own reply goes out, then ABOR's.
          await running.ended;
          reply("225 No transfer to abort");
        } else if (running) {
          // RFC 959 section 4.1.3: the transfer's 426, then ABOR's 226.
          running.dropped = true;
          running.data.destroy();
          await running.ended;
          reply("426 Transfer aborted");
          reply("226 ABOR successful");
        } else reply("225 No transfer to abort");
        return;
      }
      reply(replies[verb] ?? "502 Not implemented");
      if (verb === "QUIT") out.end();
    };

    raw.on("data", lines(onLine));
    raw.write("220 Scripted server ready\r\n");
  });
  const port = await listen(control);
  return {
    port,
    commands,
    uploads,
    nextUpload(timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("No upload ended")), timeoutMs);
        uploadWaiters.push((end) => {
          clearTimeout(timer);
          resolve(end);
        });
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        [...servers].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
  };
}
