// `ftkit serve`: TFTP and FTPS together on one directory, read-only unless told.

import { integer, parse, UsageError } from "./args.ts";
import { type StartedFtps, startFtps } from "./ftps_serve.ts";
import { type CliOutput, stopped, urlHost, where } from "./output.ts";
import { runtimeApi, tftpReports, tftpServing } from "./tftp.ts";

/**
 * Runs `ftkit serve ARGS` until `signal` aborts (or SIGINT or SIGTERM without one).
 *
 * @param args The arguments after `serve`.
 * @param output Where to write.
 * @param signal Stops both servers.
 * @returns The exit code.
 */
export async function serveBoth(
  args: string[],
  output: CliOutput,
  signal?: AbortSignal,
): Promise<number> {
  const { values, positionals } = parse(args, {
    host: { type: "string" },
    "tftp-port": { type: "string" },
    "ftps-port": { type: "string" },
    user: { type: "string", multiple: true },
    cert: { type: "string" },
    key: { type: "string" },
    "allow-write": { type: "boolean" },
    "allow-overwrite": { type: "boolean" },
    "ca-out": { type: "string" },
    quiet: { type: "boolean" },
  });
  if (positionals.length > 1) throw new UsageError("serve takes one directory");
  const root = positionals[0] ?? ".";
  const host = (values.host as string | undefined) ?? "127.0.0.1";
  const api = await runtimeApi();
  const tftp = await api.serveTftp({
    root,
    host,
    port: integer("tftp-port", values["tftp-port"] as string | undefined) ?? 6969,
    allowWrite: Boolean(values["allow-write"]),
    allowOverwrite: Boolean(values["allow-overwrite"]),
    ...tftpReports(output, values.quiet),
  });
  let ftpsServer: StartedFtps;
  try {
    ftpsServer = await startFtps(root, {
      host,
      port: integer("ftps-port", values["ftps-port"] as string | undefined) ?? 2121,
      user: values.user as string[] | undefined,
      cert: values.cert as string | undefined,
      key: values.key as string | undefined,
      allowWrite: values["allow-write"] as boolean | undefined,
      allowOverwrite: values["allow-overwrite"] as boolean | undefined,
      caOut: values["ca-out"] as string | undefined,
      quiet: values.quiet as boolean | undefined,
    }, output);
  } catch (error) {
    await tftp.close();
    throw error;
  }
  const tftpWhere = where(tftp.address.address, tftp.address.port);
  output.out(tftpServing(root, tftpWhere, values["allow-write"]));
  output.out(`Fetch a file with: curl -o FILE tftp://${urlHost(host)}:${tftp.address.port}/FILE`);
  for (const line of ftpsServer.lines) output.out(line);
  await stopped(signal);
  await Promise.all([tftp.close(), ftpsServer.server.close()]);
  return 0;
}
