import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TftpErrorCode, tftpErrorMeaning } from "../../codec/mod.ts";

describe("TFTP error codes", () => {
  test("RFC 1350 section 5 and RFC 2347: codes 0-8 and their meanings", () => {
    assert.deepEqual(
      Object.entries(TftpErrorCode).map(([name, code]) => [code, name, tftpErrorMeaning(code)]),
      [
        [0, "NotDefined", "Not defined"],
        [1, "FileNotFound", "File not found"],
        [2, "AccessViolation", "Access violation"],
        [3, "DiskFull", "Disk full or allocation exceeded"],
        [4, "IllegalOperation", "Illegal TFTP operation"],
        [5, "UnknownTransferId", "Unknown transfer ID"],
        [6, "FileAlreadyExists", "File already exists"],
        [7, "NoSuchUser", "No such user"],
        [8, "OptionNegotiation", "Option negotiation failed"],
      ],
    );
  });

  test("any other code is named as unknown", () => {
    assert.equal(tftpErrorMeaning(9), "Unknown error code 9");
    assert.equal(tftpErrorMeaning(65535), "Unknown error code 65535");
  });
});
