/**
 * Resolves a path argument against the current directory, in the server's virtual tree: `/` is
 * the top, `.` and `..` are applied, and nothing climbs above `/`. Backslashes are ordinary
 * characters; empty components are dropped.
 *
 * @example
 * ```ts
 * import { resolveFtpPath } from "@ftkit/ftkit/ftps";
 *
 * console.log(resolveFtpPath("/pub/linux", "../bsd/./iso")); // "/pub/bsd/iso"
 * console.log(resolveFtpPath("/pub", "../../../etc")); // "/etc"
 * ```
 *
 * @param cwd The current directory (absolute).
 * @param argument The path the client sent, absolute or relative.
 * @returns The absolute path.
 */
export function resolveFtpPath(cwd: string, argument: string): string {
  const parts = argument.startsWith("/") ? [] : cwd.split("/").filter((part) => part !== "");
  for (const part of argument.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}
