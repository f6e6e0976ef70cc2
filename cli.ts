#!/usr/bin/env -S deno run -A
/**
 * The `ftkit` command.
 *
 * ```sh
 * ftkit tftp serve [DIR] --host ADDR --port N [--allow-write] [--allow-overwrite] [--single-port]
 *                  [--max-transfers N] [--max-transfers-per-client N] [--request-rate N] ...
 * ftkit tftp get HOST[:PORT] REMOTE [LOCAL] [--blksize N] [--windowsize N] [--retries N]
 * ftkit tftp put HOST[:PORT] LOCAL [REMOTE] [--blksize N] [--windowsize N] [--retries N]
 * ftkit tftp decode HEX     # decode one TFTP datagram given in hex, print it as JSON
 * ftkit tftp encode JSON    # encode a packet given as JSON, print the datagram in hex
 * ftkit serve [DIR]                       # TFTP and FTPS together, read-only, on loopback
 * ftkit ftps serve [DIR] --user NAME:PASS [--implicit] [--cert FILE --key FILE] [--allow-write]
 * ftkit ftps ls URL [--long]              # ftps://host/dir (implicit TLS), ftp://host/dir --tls
 * ftkit ftps get URL [LOCAL]              # download a file ("-": standard output)
 * ftkit ftps put LOCAL URL                # upload a file (URL ending in "/": keep LOCAL's name)
 * ```
 *
 * Runs as `deno run -A cli.ts`, `bun cli.ts`, or the `ftkit` bin of the npm package. The command
 * itself lives in `cli/`: main.ts (dispatch and exit codes), args.ts (usage text and argument
 * reading), tftp.ts, ftps.ts, ftps_serve.ts and serve.ts (the commands), output.ts (progress,
 * formatting, signals).
 *
 * @module
 */

import { isMain, main } from "./cli/main.ts";

export { CliInterrupt, type CliOutput, runCli, VERSION } from "./cli/main.ts";

if (isMain(import.meta.url)) await main();
