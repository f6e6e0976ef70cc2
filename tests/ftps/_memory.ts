/**
 * Test helpers: an in-memory tree that answers a server session's storage requests.
 *
 * @module
 */

import type { FtpStorageRequest, FtpStorageResult } from "../../ftps/mod.ts";
import { createDigest } from "../../io/digest.ts";
import { DIGESTS } from "../../ftps/_server_hash.ts";

/** A file's or directory's record. */
export interface MemoryNode {
  type: "file" | "dir";
  bytes: Uint8Array;
  modified: Date;
  /** Permission bits SITE CHMOD set. */
  mode?: number;
  /** Its `unique` fact, when a test gives one. */
  unique?: string;
}

/** What a `read`, `write` or `write-unique` request opened, for the transfer that follows. */
export type MemoryOpened =
  | { readonly kind: "read"; readonly path: string; readonly bytes: Uint8Array }
  | {
    readonly kind: "write";
    readonly path: string;
    readonly offset: number;
    readonly append: boolean;
  };

export const MODIFIED: Date = new Date("2026-11-23T10:34:00Z");
/** The wall clock the tree's listings report. */
export const WALL_CLOCK: Date = new Date("2026-11-24T00:00:00Z");

const encoder = new TextEncoder();

/** An in-memory tree: `/` plus the given paths (a string or bytes is a file, `null` a directory). */
export class MemoryStorage {
  readonly nodes: Map<string, MemoryNode> = new Map();
  readonly requests: FtpStorageRequest[] = [];
  opened: MemoryOpened | undefined;
  #unique = 0;

  constructor(entries: Record<string, string | Uint8Array | null> = {}) {
    this.nodes.set("/", { type: "dir", bytes: new Uint8Array(0), modified: MODIFIED });
    for (const [path, content] of Object.entries(entries)) {
      this.nodes.set(path, {
        type: content === null ? "dir" : "file",
        bytes: typeof content === "string" ? encoder.encode(content) : content ?? new Uint8Array(0),
        modified: MODIFIED,
      });
    }
  }

  /** The bytes of a file, as text. */
  text(path: string): string | undefined {
    const node = this.nodes.get(path);
    return node ? new TextDecoder().decode(node.bytes) : undefined;
  }

  /** Answers one request as a storage backend would. */
  answer(request: FtpStorageRequest): FtpStorageResult {
    this.requests.push(request);
    switch (request.op) {
      case "stat": {
        const node = this.nodes.get(request.path);
        if (!node) return { ok: false };
        return { ok: true, stat: this.#stat(node) };
      }
      case "list": {
        const prefix = request.path === "/" ? "/" : `${request.path}/`;
        const entries = [...this.nodes.entries()]
          .filter(([path]) => path !== "/" && path.startsWith(prefix))
          .filter(([path]) => !path.slice(prefix.length).includes("/"))
          .map(([path, node]) => ({ name: path.slice(prefix.length), ...this.#stat(node) }));
        return { ok: true, entries, now: WALL_CLOCK };
      }
      case "read": {
        const node = this.nodes.get(request.path);
        if (!node || node.type !== "file") return { ok: false, message: "Failed to open file." };
        if (request.offset > node.bytes.length) {
          return { ok: false, code: 550, message: "Restart offset past the end." };
        }
        this.opened = { kind: "read", path: request.path, bytes: node.bytes.slice(request.offset) };
        return { ok: true, size: node.bytes.length };
      }
      case "write": {
        const parent = request.path.slice(0, request.path.lastIndexOf("/")) || "/";
        if (
          this.nodes.get(parent)?.type !== "dir" || this.nodes.get(request.path)?.type === "dir"
        ) {
          return { ok: false, code: 553, message: "Cannot create file." };
        }
        this.opened = {
          kind: "write",
          path: request.path,
          offset: request.offset,
          append: request.append,
        };
        return { ok: true };
      }
      case "write-unique": {
        const name = `ftkit.${++this.#unique}`;
        const path = request.directory === "/" ? `/${name}` : `${request.directory}/${name}`;
        this.opened = { kind: "write", path, offset: 0, append: false };
        return { ok: true, path: name };
      }
      case "mkdir":
        if (this.nodes.has(request.path)) return { ok: false, message: "Exists." };
        this.nodes.set(request.path, { type: "dir", bytes: new Uint8Array(0), modified: MODIFIED });
        return { ok: true };
      case "rmdir":
      case "delete":
        return this.nodes.delete(request.path) ? { ok: true } : { ok: false };
      case "rename": {
        const node = this.nodes.get(request.from);
        if (!node) return { ok: false };
        this.nodes.delete(request.from);
        this.nodes.set(request.to, node);
        return { ok: true };
      }
      case "set-modified":
      case "chmod": {
        const node = this.nodes.get(request.path);
        if (!node) return { ok: false };
        if (request.op === "chmod") node.mode = request.mode;
        else node.modified = request.modified;
        return { ok: true };
      }
      case "hash": {
        const node = this.nodes.get(request.path);
        if (!node) return { ok: false };
        const digest = createDigest(DIGESTS[request.algorithm]);
        const from = request.offset ?? 0;
        const bytes = node.bytes.subarray(from, from + request.length);
        digest.update(bytes);
        return { ok: true, hash: digest.hex(), size: bytes.length };
      }
    }
  }

  /** Stores an upload's bytes into what the last `write` opened. */
  commit(bytes: Uint8Array): void {
    const opened = this.opened;
    if (opened?.kind !== "write") throw new Error("Nothing opened for writing");
    const old = this.nodes.get(opened.path)?.bytes ?? new Uint8Array(0);
    const keep = opened.append ? old : old.slice(0, opened.offset);
    const joined = new Uint8Array(keep.length + bytes.length);
    joined.set(keep);
    joined.set(bytes, keep.length);
    this.nodes.set(opened.path, { type: "file", bytes: joined, modified: MODIFIED });
    this.opened = undefined;
  }

  #stat(node: MemoryNode) {
    const stat = { type: node.type, size: node.bytes.length, modified: node.modified };
    return node.unique === undefined ? stat : { ...stat, unique: node.unique };
  }
}
