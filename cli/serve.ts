// `ftkit serve`: TFTP and FTPS together on one directory or bucket, read-only unless told.

import { directory, flag, integer, type ParsedArgs, port, text, UsageError } from "./args.ts";
import type { FailureContext } from "./errors.ts";
import { logFormatFlag, usersFromFlags } from "./ftps_config.ts";
import { type StartedFtps, startFtps } from "./ftps_serve.ts";
import { type CliOutput, stopped, urlHost, where } from "./output.ts";
import { runtimeApi, tftpBucketHandler, tftpReports, tftpServing } from "./tftp.ts";
import { isS3Url, openS3Source, parseS3Url, refuseS3Flags, s3Flags } from "./_s3.ts";

/**
 * Runs `ftkit serve [DIR | s3://BUCKET/PREFIX]` until `signal` aborts (or SIGINT or SIGTERM without one).
 *
 * @param args The command line read.
 * @param output Where to write.
 * @param signal Stops both servers.
 * @param context Notes that this is a server, for a failure's hint.
 * @returns The exit code.
 */
export async function serveBoth(
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
  context: FailureContext,
): Promise<number> {
  const { values, positionals } = args;
  context.role = "server";
  if (positionals.length > 1) throw new UsageError("'serve' takes one directory");
  const host = text(values, "host") ?? "127.0.0.1";
  const tftpPort = port(values, "tftp-port") ?? 6969;
  const ftpsPort = port(values, "ftps-port") ?? 2121;
  // Read before either server starts: a bad value starts neither.
  const sessionLimits = {
    maxSessions: integer(values, "max-sessions"),
    maxSessionsPerIp: integer(values, "max-sessions-per-ip"),
  };
  const source = positionals[0] ?? ".";
  const isBucket = isS3Url(source);
  if (isBucket) parseS3Url(source);
  else refuseS3Flags(values, "an s3:// source");
  const choices = s3Flags(values);
  const allowWrite = flag(values, "allow-write");
  const allowOverwrite = flag(values, "allow-overwrite");
  const users = usersFromFlags(values.user as string[] | undefined);
  const logFormat = logFormatFlag(values, "log-format");
  const root = isBucket ? undefined : await directory(source);
  // One look-up and check of the bucket for both servers; each then has its own client.
  const bucket = isBucket ? await openS3Source(source, choices) : undefined;
  const api = await runtimeApi();
  const tftp = await api.serveTftp({
    ...(bucket
      ? { handler: await tftpBucketHandler(bucket, { allowWrite, allowOverwrite }) }
      : { root }),
    host,
    port: tftpPort,
    allowWrite,
    allowOverwrite,
    ...tftpReports(output, flag(values, "quiet")),
  });
  let ftpsServer: StartedFtps;
  try {
    ftpsServer = await startFtps(bucket ? { storage: source, choices, resolved: bucket } : root!, {
      host,
      port: ftpsPort,
      ...(users ? { users } : {}),
      cert: text(values, "cert"),
      key: text(values, "key"),
      allowWrite,
      allowOverwrite,
      ...sessionLimits,
      caOut: text(values, "ca-out"),
      quiet: flag(values, "quiet"),
      log: text(values, "log"),
      logFormat,
    }, output);
  } catch (error) {
    await tftp.close();
    throw error;
  }
  const tftpWhere = where(tftp.address.address, tftp.address.port);
  output.out(tftpServing(bucket ?? root!, tftpWhere, allowWrite));
  output.out(`Fetch a file with: curl -o FILE tftp://${urlHost(host)}:${tftp.address.port}/FILE`);
  for (const line of ftpsServer.lines) output.out(line);
  await stopped(signal);
  await Promise.all([tftp.close(), ftpsServer.server.close()]);
  return 0;
}
