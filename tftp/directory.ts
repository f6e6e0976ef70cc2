/**
 * Serving a directory over TFTP, safely: read-only unless writes are enabled, create-only unless
 * overwriting is enabled, uploads visible only once complete, every path resolved component by
 * component inside the root.
 *
 * @module
 */

import { lstat, mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { allowedPathComponent, pathJail } from "../io/path_jail.ts";
import { type AtomicFile, createAtomicFile } from "../io/atomic_file.ts";
import { TftpErrorCode } from "../codec/mod.ts";
import {
  type TftpHandler,
  type TftpHandlerRequest,
  type TftpReadSource,
  TftpRequestError,
  type TftpWriteTarget,
} from "./handler.ts";

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
  const jail = pathJail(root);

  /** The path under the root (its components checked; links are followed by the caller). */
  async function resolve(request: TftpHandlerRequest): Promise<{ path: string; base: string }> {
    const components = tftpPathComponents(request.filename, options.allowLeadingSlash ?? false);
    const base = await jail.root();
    return { path: join(base, ...components), base };
  }

  /** The real path of `path` (it must exist), refused when a link on it leads out of the root. */
  async function realInside(base: string, path: string): Promise<string> {
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
      const { path, base } = await resolve(request);
      // A symbolic link (anywhere on the path) that leads out of the root is refused.
      const real = await realInside(base, path);
      let file;
      try {
        file = await open(real, "r");
      } catch (error) {
        throw fsError(error);
      }
      const info = await file.stat();
      if (!info.isFile()) {
        await file.close();
        throw new TftpRequestError(TftpErrorCode.FileNotFound, "File not found");
      }
      let closed = false;
      return {
        size: info.size,
        async read(limit) {
          // A small read while the client may still be a forged address.
          const size = limit === undefined ? chunkSize : Math.max(1, Math.min(limit, chunkSize));
          const buffer = new Uint8Array(size);
          const { bytesRead } = await file.read(buffer, 0, size, null);
          return bytesRead === 0 ? null : buffer.subarray(0, bytesRead);
        },
        async close() {
          if (closed) return;
          closed = true;
          await file.close();
        },
      };
    },

    write: options.allowWrite
      ? async (request): Promise<TftpWriteTarget> => {
        const { path, base } = await resolve(request);
        const directory = dirname(path);
        if (options.createDirectories) await mkdir(directory, { recursive: true }).catch(() => {});
        const realDirectory = await realInside(base, directory);
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
