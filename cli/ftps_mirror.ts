// `ftkit ftps mirror SRC DST`: a directory tree mirrored between an FTP(S) server and a local
// directory, either way (the URL's side is the server's), as lftp's `mirror` does.

import { flag, integer, type ParsedArgs, UsageError } from "./args.ts";
import type { FailureContext } from "./errors.ts";
import { ftpsLogin, ftpTarget } from "./ftps.ts";
import { type CliOutput, delay, humanBytes, interruptedCode } from "./output.ts";
import type { FtpsMirrorEvent } from "../ftps/mod.ts";

/** Whether `text` is a URL (`scheme://...`) rather than a local path. */
const isUrl = (text: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(text);

/** A repeatable option's values. */
function all(values: ParsedArgs["values"], name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : [];
}

/** One line for a step of the mirror, or none (files up to date are only counted). */
function eventLine(event: FtpsMirrorEvent): string | undefined {
  const would = event.dryRun ? "would " : "";
  if (event.type === "copy") {
    return `${would}copy ${event.path}${
      event.bytes !== undefined ? ` (${humanBytes(event.bytes)})` : ""
    }`;
  }
  if (event.type === "mkdir") return `${would}mkdir ${event.path}/`;
  if (event.type === "delete") return `${would}delete ${event.path}`;
  if (event.type === "skip" && event.reason !== "up to date") {
    return `skip ${event.path}: ${event.reason}`;
  }
  return undefined;
}

/**
 * Runs `ftkit ftps mirror SRC DST`.
 *
 * @param args The command line read.
 * @param output Where to write: each step on standard output, failures and the summary on
 * standard error.
 * @param signal Interrupts the mirror: running transfers are aborted (ABOR), every connection
 * closed.
 * @param context Notes the local directory's direction, the TLS mode and the server.
 * @returns The exit code: 1 when any file failed.
 */
export async function ftpsMirror(
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<number> {
  const { values, positionals } = args;
  if (positionals.length !== 2) {
    throw new UsageError("'ftps mirror' takes a SOURCE and a DESTINATION (one of them a URL)");
  }
  const [source, destination] = positionals;
  if (isUrl(source) === isUrl(destination)) {
    throw new UsageError(
      "'ftps mirror' needs one URL (the server's side) and one local directory",
    );
  }
  const upload = isUrl(destination);
  const target = ftpTarget(upload ? destination : source, flag(values, "tls"));
  const local = upload ? source : destination;
  const parallel = integer(values, "parallel", { min: 1, max: 16 }) ?? 1;
  const quiet = flag(values, "quiet");
  const login = await ftpsLogin(target, values, signal, context);
  context.local = upload ? "read" : "write";
  context.localPath = local;
  const started = performance.now();
  try {
    const client = await login();
    try {
      const result = await client.mirror(
        upload ? local : target.path,
        upload ? target.path : local,
        {
          direction: upload ? "upload" : "download",
          delete: flag(values, "delete"),
          dryRun: flag(values, "dry-run"),
          onlyNewer: flag(values, "only-newer"),
          include: all(values, "include"),
          exclude: all(values, "exclude"),
          parallel,
          // Each file's checksum compared with the server's (HASH, XSHA256...).
          ...(flag(values, "verify") ? { transfer: { verify: true } } : {}),
          ...(signal ? { signal } : {}),
          onEvent: (event) => {
            if (event.type === "error") {
              output.err(`ftkit: ${event.path || "mirror"}: ${event.reason}`);
              return;
            }
            const line = quiet ? undefined : eventLine(event);
            if (line !== undefined) output.out(line);
          },
        },
      );
      for (const warning of result.warnings) output.err(`ftkit: warning: ${warning}`);
      if (!quiet) {
        const seconds = (performance.now() - started) / 1000;
        const upToDate = result.skipped.filter((skip) => skip.reason === "up to date").length;
        output.err(
          `${flag(values, "dry-run") ? "Dry run: would copy" : "Copied"} ${result.copied.length} ` +
            `files (${result.bytes} bytes) in ${seconds.toFixed(2)} s, ${upToDate} up to date, ` +
            `${result.skipped.length - upToDate} skipped, ${result.created.length} directories ` +
            `made, ${result.deleted.length} deleted, ${result.errors.length} errors ` +
            `(${result.connections} connection${result.connections === 1 ? "" : "s"})`,
        );
      }
      return result.errors.length > 0 ? 1 : 0;
    } finally {
      const closing = client.close();
      await (signal?.aborted ? Promise.race([closing, delay(2000)]) : closing);
    }
  } catch (error) {
    if (!signal?.aborted) throw error;
    const reason = signal.reason instanceof Error ? signal.reason.message : "Interrupted";
    output.err(`ftkit: ${reason}: mirror aborted`);
    return interruptedCode(signal);
  }
}
