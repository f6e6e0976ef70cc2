/**
 * Flags that open an existing file without waiting. Opening a FIFO waits for its other end (for
 * reading, a writer; for writing, a reader), and a wait in `node:fs` holds one of the runtime's
 * few file threads (four on Node) for as long: a few requests for a FIFO that someone placed in a
 * served tree would stop every later file operation. With `O_NONBLOCK` such an open returns at
 * once (or fails, `ENXIO`), and the caller's check that the file is regular refuses it. For a
 * regular file the flag changes nothing. Where the system has no `O_NONBLOCK` (Windows), it is 0.
 *
 * @module
 */

import { constants } from "node:fs";

const NO_WAIT: number = constants.O_NONBLOCK ?? 0;

/** Read an existing file (`"r"`), without waiting. */
export const OPEN_READ: number = constants.O_RDONLY | NO_WAIT;

/** Append to an existing file (`"a"` without creating it), without waiting. */
export const OPEN_APPEND: number = constants.O_WRONLY | constants.O_APPEND | NO_WAIT;

/** Read and write an existing file (`"r+"`), without waiting. */
export const OPEN_UPDATE: number = constants.O_RDWR | NO_WAIT;
