// A scripted plain-FTP server on loopback whose listings are whatever the test says: names with
// "/", "..", backslashes or control bytes, that no real server (nor ftkit's) would send. It logs
// in anyone, answers CWD to any path, lists with MLSD (when FEAT offers MLST) or LIST over EPSV
// data connections, and serves every RETR the same bytes.

import { once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";

/** Options of {@linkcode hostileFtp}. */
export interface HostileFtpOptions {
  /** The listing of each directory (as the client names it), one line per entry: MLSD facts
   * lines with `mlst`, else LIST lines. Unlisted directories are empty. */
  readonly listings: Readonly<Record<string, readonly string[]>>;
  /** Offer MLST in FEAT (MLSD listings). */
  readonly mlst: boolean;
  /** What every RETR sends (default "hi"). */
  readonly file?: string;
}

/** A running scripted server. */
export interface HostileFtp {
  readonly port: number;
  /** Every command line received. */
  readonly commands: string[];
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1, port 0. */
export async function hostileFtp(options: HostileFtpOptions): Promise<HostileFtp> {
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    return socket;
  };
  const listen = async (server: Server): Promise<number> => {
    servers.add(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return (server.address() as AddressInfo).port;
  };
  const control = createServer((socket) => {
    track(socket);
    let cwd = "/";
    let data: Promise<Socket> | undefined;
    const reply = (text: string) => socket.write(`${text}\r\n`);
    const send = async (bytes: string) => {
      const connection = await data!;
      data = undefined;
      reply("150 Here it comes");
      await new Promise<void>((resolve) => connection.end(bytes, () => resolve()));
      await new Promise<void>((resolve) =>
        connection.destroyed ? resolve() : connection.once("close", () => resolve())
      );
      reply("226 Done");
    };
    const onLine = async (line: string) => {
      commands.push(line);
      const space = line.indexOf(" ");
      const verb = (space === -1 ? line : line.slice(0, space)).toUpperCase();
      const argument = space === -1 ? "" : line.slice(space + 1);
      const absolute = (path: string) =>
        path === "" ? cwd : path.startsWith("/") ? path : `${cwd.replace(/\/$/, "")}/${path}`;
      if (verb === "EPSV") {
        const listener = createServer();
        data = new Promise((resolve) =>
          listener.once("connection", (connection) => {
            listener.close();
            resolve(track(connection));
          })
        );
        reply(`229 Entering Extended Passive Mode (|||${await listen(listener)}|)`);
      } else if (verb === "MLSD" || verb === "LIST") {
        const lines = options.listings[absolute(argument)] ?? [];
        await send(lines.map((entry) => `${entry}\r\n`).join(""));
      } else if (verb === "RETR") {
        await send(options.file ?? "hi");
      } else if (verb === "CWD") {
        cwd = absolute(argument);
        reply("250 OK");
      } else if (verb === "PWD") {
        reply(`257 "${cwd}" is the current directory`);
      } else if (verb === "FEAT") {
        reply(
          `211-Features:\r\n EPSV\r\n${
            options.mlst ? " MLST type*;size*;modify*;\r\n" : ""
          }211 End`,
        );
      } else if (verb === "QUIT") {
        reply("221 Bye");
        socket.end();
      } else {
        reply(
          ({
            USER: "331 Password",
            PASS: "230 Logged in",
            TYPE: "200 OK",
            NOOP: "200 OK",
          } as Record<string, string>)[verb] ?? "502 Not implemented",
        );
      }
    };
    let buffer = "";
    let chain = Promise.resolve();
    const decoder = new TextDecoder();
    socket.on("data", (chunk: Uint8Array) => {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\r\n"); end !== -1; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        chain = chain.then(() => onLine(line));
      }
    });
    reply("220 Scripted server");
  });
  const port = await listen(control);
  return {
    port,
    commands,
    close: async () => {
      sockets.forEach((socket) => socket.destroy());
      for (const server of servers) await new Promise((done) => server.close(done));
    },
  };
}
