/**
 * What an FTPS server serves: the storage interface `serveFtps` drives, with its typed error.
 * Paths are absolute in the session's virtual tree (`/`, `/pub/a.iso`), already normalized by
 * the session machine (no `.` or `..` components, no trailing `/`); a storage maps them onto
 * whatever it keeps (`ftpDirectoryStorage` maps them into a directory, jailed).
 *
 * @module
 */

/** Facts about a file or directory. */
export interface FtpStorageStat {
  /** What it is. */
  readonly type: "file" | "dir" | "link" | "other";
  /** Size in bytes. */
  readonly size: number;
  /** Last modification. */
  readonly modified: Date;
  /**
   * An identifier of the underlying file, the same for every path that leads to it and different
   * for distinct files, for as long as a session lasts (the MLST/MLSD `unique` fact, RFC 3659
   * section 7.5.2): up to 64 of RFC 3659's token characters (letters, digits and
   * `,.:!@#$%^&()-_+?/\'"`; anything else gives no fact). `ftpDirectoryStorage` gives the device
   * and inode numbers in hex. Absent: no `unique` fact.
   */
  readonly unique?: string;
}

/** One entry of a directory. */
export interface FtpStorageEntry extends FtpStorageStat {
  /** Its name in the directory (no `/`). */
  readonly name: string;
}

/** Why a storage refused or failed, as an FTP reply. */
export class FtpStorageError extends Error {
  /** The reply code: 550 (not found or no access, the default), 450 (busy), 451 (local error),
   * 452 or 552 (out of space), 553 (name not allowed). */
  readonly code: 450 | 451 | 452 | 550 | 552 | 553;

  /**
   * Makes the error.
   *
   * @param code The reply code.
   * @param message The reply text: shown to the client, so never a real server path.
   */
  constructor(code: 450 | 451 | 452 | 550 | 552 | 553, message: string) {
    super(message);
    this.name = "FtpStorageError";
    this.code = code;
  }
}

/** A file opened for reading. */
export interface FtpReadStream {
  /** The file's whole size in bytes, when known (it goes in the 150 reply). */
  readonly size?: number;
  /**
   * The next bytes, or `null` at the end of the file. With `into`, a buffer the caller lends:
   * the bytes may be read into it and returned as (a view of) it, or come in new memory. The
   * caller reuses it for its next read, so a storage never keeps it.
   */
  read(into?: Uint8Array): Promise<Uint8Array | null>;
  /** Releases the file; called once, whether or not it was read to the end. */
  close(): Promise<void>;
}

/** A file opened for writing. Exactly one of `commit` and `abort` is called, once. */
export interface FtpWriteStream {
  /** Writes the next bytes. */
  write(bytes: Uint8Array): Promise<void>;
  /** The upload is complete: make it visible (a new or replaced file appears whole, atomically). */
  commit(): Promise<void>;
  /** The upload failed or was aborted: leave no trace of it (an existing file keeps its old
   * content, an appended file its old length). */
  abort(): Promise<void>;
}

/**
 * A file tree an FTPS server serves. Every method rejects with {@linkcode FtpStorageError} for a
 * refusal the client should see (other errors are answered 451 without their text).
 */
export interface FtpStorage {
  /** Facts about a path. */
  stat(path: string): Promise<FtpStorageStat>;
  /** A directory's entries. */
  list(path: string): Promise<FtpStorageEntry[]>;
  /**
   * A directory's entries a page at a time, for storages whose listings are too large to hold.
   * Optional: when present, the server sends LIST, NLST and MLSD from it page by page (each page
   * formatted and sent before the next is read; the first is read before the 150, so a refusal
   * still comes in its place), and uses `list` for everything else (STAT, quotas). The server
   * calls the iterator's `return` when it stops before the end (ABOR, a failed transfer, a
   * session closed). Errors as for `list`: the iteration rejects (or throws) with
   * {@linkcode FtpStorageError}; after the first page, any failure ends the transfer with 451.
   */
  listPages?(path: string): AsyncIterable<FtpStorageEntry[]>;
  /** Opens a file for reading from `offset`. */
  read(path: string, offset: number): Promise<FtpReadStream>;
  /**
   * Opens a file for writing: replaced whole on commit (`offset` 0), continued from `offset`
   * (REST then STOR: the bytes before it are kept), or appended to (`append`).
   */
  write(path: string, options: { offset: number; append: boolean }): Promise<FtpWriteStream>;
  /** Creates a new file under a fresh name in `directory` (STOU); returns its path. */
  writeUnique(directory: string): Promise<{ path: string; stream: FtpWriteStream }>;
  /** Makes a directory. */
  mkdir(path: string): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** Deletes a file. */
  delete(path: string): Promise<void>;
  /** Renames a file or directory. */
  rename(from: string, to: string): Promise<void>;
  /**
   * Sets a file's or directory's modification time (MFMT, draft-somers-ftp-mfxx). Optional:
   * without it, MFMT is not offered.
   */
  setModified?(path: string, modified: Date): Promise<void>;
  /**
   * Sets a file's or directory's permission bits (`SITE CHMOD`): `mode` is 0 to 0o777, never a
   * setuid, setgid or sticky bit. Optional: without it, SITE CHMOD is not offered.
   */
  chmod?(path: string, mode: number): Promise<void>;
}
