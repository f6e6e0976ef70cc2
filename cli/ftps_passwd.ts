// `ftkit ftps passwd`: a password hash for a user of `ftkit ftps serve`, printed on standard
// output, for `passwordHash` in a configuration file or `--user NAME:HASH`.

import { hashFtpsPassword } from "../ftps/password_hash.ts";
import { type ParsedArgs, text, UsageError } from "./args.ts";
import type { CliOutput } from "./output.ts";
import { newPassword } from "./password.ts";

/**
 * Runs `ftkit ftps passwd`: reads a password (see {@linkcode newPassword}) and prints its hash.
 *
 * @param args The command line read.
 * @param output Where the hash goes.
 * @param signal Interrupts the prompt.
 * @returns The exit code.
 */
export async function ftpsPasswd(
  args: ParsedArgs,
  output: CliOutput,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError("'ftps passwd' takes no operands");
  const algorithm = text(args.values, "algorithm") ?? "scrypt";
  if (algorithm !== "scrypt" && algorithm !== "pbkdf2-sha256") {
    throw new UsageError(`--algorithm takes scrypt or pbkdf2-sha256, not '${algorithm}'`);
  }
  const password = await newPassword(signal);
  output.out(await hashFtpsPassword(password, { algorithm }));
  return 0;
}
