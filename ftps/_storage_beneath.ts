// Storages that wrap another (per-directory permissions) and the storage beneath each, so that
// what counts a tree (quotas) counts it once whatever wraps it.

import type { FtpStorage } from "./storage.ts";

const beneath = new WeakMap<FtpStorage, FtpStorage>();

/**
 * Notes that `wrapper` serves `storage`'s tree.
 *
 * @param wrapper The wrapping storage.
 * @param storage The storage beneath it.
 */
export function wraps(wrapper: FtpStorage, storage: FtpStorage): void {
  beneath.set(wrapper, storageBeneath(storage));
}

/**
 * The storage at the bottom of any wrapping.
 *
 * @param storage A storage, wrapped or not.
 * @returns The storage whose tree it serves.
 */
export function storageBeneath(storage: FtpStorage): FtpStorage {
  return beneath.get(storage) ?? storage;
}
