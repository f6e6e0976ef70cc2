/**
 * Serving a directory over TFTP, safely: read-only unless writes are enabled, create-only unless
 * overwriting is enabled, uploads visible only once complete, every path resolved component by
 * component inside the root.
 *
 * @module
 */

import { lstat, mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { allowedPathComponent, type PathJail } from "../io/path_jail.ts";
import { type AtomicFile, createAtomicFile } from "../io/atomic_file.ts";
import { vectoredRead } from "../io/vectored_read.ts";
import { OPEN_READ } from "../io/open_flags.ts";
import { TftpErrorCode } from "../codec/tftp_error_code.ts";
import {
  type TftpHandler,
  type TftpHandlerRequest,
  type TftpReadSource,
  TftpRequestError,
  type TftpWriteTarget,
} from "./handler.ts";
import { type TftpClientRoot, tftpClientRoots } from "./_client_roots.ts";
import { FoldedListings, matchCase, slashBackslashes } from "./_name_folding.ts";

export type { TftpClientRoot } from "./_client_roots.ts";

/** How {@linkcode tftpDirectoryHandler} serves its directory. */
export interface TftpDirectoryOptions {
  /** Accept uploads (default `false`: read-only). */
  allowWrite?: boolean;
  /** Let uploads replace existing files (default `false`: ERROR 6 when the file exists). */
  allowOverwrite?: boolean;
  /** Create missing directories for uploads (default `false`). */
  createDirectories?: boolean;
  /**
   * Treat a leading `/` as the root of the served directory, as tftpd-hpa's `-s` does (default
   * `false`: absolute paths are refused).
   */
  allowLeadingSlash?: boolean;
  /** Bytes read from disk at a time (default 131072). */
  readChunkSize?: number;
  /**
   * Per-client roots (default none): a client is served from the `root` of the first entry
   * whose `network` holds its address, instead of the main root. Each root is a jail of its
   * own: no name, link, case match or backslash reaches outside it (or into another's).
   */
  clientRoots?: readonly TftpClientRoot[];
  /**
   * What clients no entry of `clientRoots` matches get: `"root"` (default), the main root, or
   * `"refuse"`, ERROR 2 (access violation, "Access denied") to every request.
   */
  unmatchedClients?: "root" | "refuse";
  /**
   * dnsmasq's `--tftp-unique-root` (`true` or `"ip"`; default off): names are looked up in the
   * subdirectory of the client's root named after its IP address (`10.0.0.7`; an IPv6 address
   * as RFC 5952 writes it, `fd00::7`), when that exists as a directory, and in the root itself
   * otherwise. It is the subdirectory's existence that decides, not the file's: a file missing
   * from it is not looked for in the root. Uploads go to the same place. The subdirectory may be
   * a link to a directory inside the root (one that leads out is refused), and links inside it
   * may lead anywhere in the root.
   */
  uniqueRoot?: boolean | "ip";
  /**
   * Find names whatever their case (default `false`), as Windows clients expect: each
   * component of a requested name matches an entry that differs from it only in the case of
   * ASCII letters. An entry spelled exactly as asked wins; otherwise the first such entry in
   * code-unit order (`BOOT.INI` before `Boot.ini` before `boot.ini`). An upload writes to the
   * existing file that matches (which then counts as existing: ERROR 6 unless
   * `allowOverwrite`), else creates the name as sent, in the case it was sent. Unlike
   * dnsmasq's `--tftp-lowercase`, which lowercases every name (so files must be stored in
   * lowercase), this finds a file in whatever case it is stored. A name not spelled as stored
   * costs a listing of its directory, kept (up to 64 directories, 65536 entries) while the
   * directory is unchanged.
   */
  caseInsensitive?: boolean;
  /**
   * Backslashes in names (default `"refuse"`, ERROR 2): `"slash"` reads each `\` as `/`, as
   * dnsmasq always does, for Windows and WDS clients (`\boot\x86\wdsnbp.com` is
   * `boot/x86/wdsnbp.com`: leading backslashes mean the root). The converted name is then
   * checked like any other, so `..\..\etc\passwd` is still refused.
   */
  backslashes?: "refuse" | "slash";
}

/**
 * Checks a requested file name and splits it into path components, refusing anything that could
 * leave the root: absolute paths, `..` and `.`, empty components, backslashes, control
 * characters and device names.
 *
 * @param filename The name the client asked for.
 * @param allowLeadingSlash Whether `/a/b` means `a/b` inside the root.
 * @returns The components.
 * @throws {TftpRequestError} Code 2 (access violation) for any refused name.
 *
 * @example
 * ```ts
 * import { tftpPathComponents } from "@ftkit/ftkit/tftp";
 *
 * tftpPathComponents("pxelinux.cfg/default", false); // ["pxelinux.cfg", "default"]
 * ```
 */
export function tftpPathComponents(filename: string, allowLeadingSlash: boolean): string[] {
  let name = filename;
  if (name.startsWith("/")) {
    if (!allowLeadingSlash) {
      throw new TftpRequestError(TftpErrorCode.AccessViolation, "Absolute paths are not allowed");
    }
    name = name.replace(/^\/+/, "");
  }
  if (name.includes("\\")) {
    throw new TftpRequestError(TftpErrorCode.AccessViolation, "Backslashes are not allowed");
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) {
    throw new TftpRequestError(TftpErrorCode.AccessViolation, "Control characters are not allowed");
  }
  const components = name.split("/");
  if (!components.every(allowedPathComponent)) {
    throw new TftpRequestError(TftpErrorCode.AccessViolation, "Path is not allowed");
  }
  return components;
}

/**
 * A handler that serves the directory `root`.
 *
 * @param root The directory to serve.
 * @param options Write policy and path rules.
 * @returns The handler, for `serveTftp({ handler })`; `serveTftp({ root })` makes one itself.
 * @throws {TypeError} When `uniqueRoot`, `unmatchedClients` or `backslashes` has a value it
 *   does not take.
 * @throws {SyntaxError} When a `network` of `clientRoots` is not a network.
 *
 * @example
 * ```ts ignore
 * import { tftpDirectoryHandler } from "@ftkit/ftkit/tftp";
 *
 * const handler = tftpDirectoryHandler("/srv/tftp", { allowWrite: true });
 * ```
 */
export function tftpDirectoryHandler(
  root: string,
  options: TftpDirectoryOptions = {},
): TftpHandler {
  const chunkSize = options.readChunkSize ?? 131072;
  const { backslashes = "refuse" } = options;
  if (backslashes !== "refuse" && backslashes !== "slash") {
    throw new TypeError(
      `backslashes takes "refuse" or "slash", not ${JSON.stringify(backslashes)}`,
    );
  }
  const placeOf = tftpClientRoots(root, options);
  const listings = new FoldedListings();

  /**
   * The path under the client's root (its components checked, backslashes and case read first
   * when told to; links are followed by the caller), and the jail it must stay in.
   */
  async function resolve(
    request: TftpHandlerRequest,
  ): Promise<{ path: string; base: string; jail: PathJail }> {
    const name = backslashes === "slash" ? slashBackslashes(request.filename) : request.filename;
    const components = tftpPathComponents(name, options.allowLeadingSlash ?? false);
    const { jail, base, directory } = await placeOf(request.peer);
    const names = options.caseInsensitive
      ? await matchCase(directory, components, listings)
      : components;
    // A case match only changes ASCII letters of names the directory listed; checked again all
    // the same.
    if (!names.every(allowedPathComponent)) {
      throw new TftpRequestError(TftpErrorCode.AccessViolation, "Path is not allowed");
    }
    return { path: join(directory, ...names), base, jail };
  }

  /** The real path of `path` (it must exist), refused when a link on it leads out of the root. */
  async function realInside(jail: PathJail, base: string, path: string): Promise<string> {
    let real: string | undefined;
    try {
      real = await jail.realInside(base, path);
    } catch (error) {
      throw fsError(error);
    }
    if (real === undefined) {
      throw new TftpRequestError(TftpErrorCode.AccessViolation, "Path is not allowed");
    }
    return real;
  }

  return {
    async read(request): Promise<TftpReadSource> {
      const { path, base, jail } = await resolve(request);
      // A symbolic link (anywhere on the path) that leads out of the root is refused.
      const real = await realInside(jail, base, path);
      let file;
      try {
        // Without waiting: a FIFO opens at once, and is refused below as not a regular file.
        file = await open(real, OPEN_READ);
      } catch (error) {
        throw fsError(error);
      }
      const info = await file.stat();
      if (!info.isFile()) {
        await file.close();
        throw new TftpRequestError(TftpErrorCode.FileNotFound, "File not found");
      }
      let closed = false;
      // One system call a window, each block read into its DATA packet (not on Deno).
      const readInto = vectoredRead(file);
      return {
        size: info.size,
        async read(limit) {
          // A small read while the client may still be a forged address.
          const size = limit === undefined ? chunkSize : Math.max(1, Math.min(limit, chunkSize));
          const buffer = new Uint8Array(size);
          const { bytesRead } = await file.read(buffer, 0, size, null);
          return bytesRead === 0 ? null : buffer.subarray(0, bytesRead);
        },
        ...(readInto ? { readInto } : {}),
        async close() {
          if (closed) return;
          closed = true;
          await file.close();
        },
      };
    },

    write: options.allowWrite
      ? async (request): Promise<TftpWriteTarget> => {
        const { path, base, jail } = await resolve(request);
        const directory = dirname(path);
        if (options.createDirectories) await mkdir(directory, { recursive: true }).catch(() => {});
        const realDirectory = await realInside(jail, base, directory);
        const target = join(realDirectory, path.slice(directory.length + 1));
        const existing = await lstat(target).catch(() => undefined);
        if (existing) {
          if (!options.allowOverwrite) {
            throw new TftpRequestError(
              TftpErrorCode.FileAlreadyExists,
              "File already exists",
            );
          }
          if (!existing.isFile()) {
            throw new TftpRequestError(
              TftpErrorCode.AccessViolation,
              "Path is not allowed",
            );
          }
        }
        // The upload goes to a temporary file beside the target and appears only when complete;
        // without allowOverwrite it never replaces a file, even one made since the check above.
        let file: AtomicFile;
        try {
          file = await createAtomicFile(target, { overwrite: options.allowOverwrite ?? false });
        } catch (error) {
          throw fsError(error);
        }
        return {
          write: (chunk) => file.write(chunk),
          async commit() {
            try {
              await file.commit();
            } catch (error) {
              // EEXIST: another upload took the name first (ERROR 6).
              throw fsError(error);
            }
          },
          abort: () => file.abort(),
        };
      }
      : undefined,
  };
}

function fsError(error: unknown): TftpRequestError {
  switch ((error as { code?: string }).code) {
    case "ENOENT":
    case "ENOTDIR":
      return new TftpRequestError(TftpErrorCode.FileNotFound, "File not found");
    case "EEXIST":
      return new TftpRequestError(TftpErrorCode.FileAlreadyExists, "File already exists");
    case "ENOSPC":
    case "EDQUOT":
      return new TftpRequestError(TftpErrorCode.DiskFull, "Disk full or allocation exceeded");
    default:
      return new TftpRequestError(TftpErrorCode.AccessViolation, "Access violation");
  }
}
