#!/usr/bin/env -S deno run -A
/**
 * The `ftkit` command: TFTP and FTPS servers and clients on the command line.
 *
 * ```sh
 * ftkit serve [DIR]                        # TFTP and FTPS together, read-only, on loopback
 * ftkit tftp serve|get|put|decode|encode   # ftkit tftp --help lists them
 * ftkit ftps serve|ls|get|put              # ftkit ftps --help lists them
 * ftkit help [TOPIC]                       # a command's help, or exit-codes
 * ```
 *
 * Runs as `deno run -A jsr:@ftkit/ftkit/cli`, `deno run -A cli.ts`, `bun cli.ts`, or the `ftkit`
 * bin of the npm package (`npx ftkit`). The command itself lives in `cli/`: main.ts (dispatch and
 * exit codes), help.ts (the table of commands and options every help text is made from), args.ts
 * (reading options and checking values), errors.ts (exit codes and hints), tftp.ts, ftps.ts,
 * ftps_serve.ts and serve.ts (the commands), password.ts (a password from the environment,
 * ~/.netrc or a prompt), output.ts (progress, formatting, signals).
 *
 * @module
 */

import { isMain, main } from "./cli/main.ts";

export { CliInterrupt, type CliOutput, runCli, VERSION } from "./cli/main.ts";

// Deno and Bun say whether this is the main module; Node (before 24) is asked through argv.
if ((import.meta as { main?: boolean }).main ?? isMain(import.meta.url)) await main();
