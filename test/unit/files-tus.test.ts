/** tus header parsing (services/files/tus.ts): metadata, lengths and checksums, as plain values. */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../appliance/kit/index.js";
import {
  decodeMetadata,
  encodeMetadata,
  parseChecksum,
  parseUploadLength,
  targetOf,
} from "../../services/files/tus.js";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

function status(fn: () => unknown): number | "ok" {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

describe("Upload-Metadata", () => {
  it("decodes pairs, a key without a value, and round-trips what it encodes", () => {
    expect(
      decodeMetadata(`path ${b64("a/café.txt")},is_confidential, filetype ${b64("text/plain")}`),
    ).toEqual({
      path: "a/café.txt",
      is_confidential: "",
      filetype: "text/plain",
    });
    const fields = { space: "team:x", path: "ü/b c.txt" };
    expect(decodeMetadata(encodeMetadata(fields))).toEqual(fields);
    expect(decodeMetadata(undefined)).toEqual({});
  });

  it("maps path, or folder + filename, space (default me), filetype and sha256 to a target", () => {
    expect(targetOf(`path ${b64("r/x.pdf")},filetype ${b64("application/pdf")}`)).toEqual({
      space: "me",
      path: "r/x.pdf",
      contentType: "application/pdf",
    });
    const sha = "a".repeat(64);
    expect(
      targetOf(`space ${b64("team:t1")},folder ${b64("in/box")},filename ${b64("y.bin")},sha256 ${b64(sha)}`),
    ).toEqual({
      space: "team:t1",
      path: "in/box/y.bin",
      contentType: "application/octet-stream",
      sha256: sha,
    });
    expect(targetOf(`filename ${b64("z.txt")},name ${b64("ignored")}`).path).toBe("z.txt");
  });

  it.each([
    ["a traversal", `path ${b64("../x")}`],
    ["a slash in a filename", `filename ${b64("a/b")}`],
    ["not base64", "path %%%"],
    ["base64 without padding", `path ${b64("ab").replace(/=+$/, "")}`],
    ["invalid UTF-8", `path ${Buffer.from([0xc3, 0x28]).toString("base64")}`],
    ["three parts to a pair", `pa th ${b64("x")}`],
    ["neither path nor filename", `filetype ${b64("text/plain")}`],
    ["over 8 KiB", `path ${b64("x".repeat(7000))}`],
  ])("refuses %s with 400", (_what, header) => {
    expect(status(() => targetOf(header))).toBe(400);
  });
});

describe("Upload-Length and Upload-Checksum", () => {
  it("takes whole numbers only, and no deferred length", () => {
    expect(parseUploadLength("0", undefined)).toBe(0);
    expect(parseUploadLength("52428800", undefined)).toBe(52428800);
    for (const bad of [undefined, "", "-1", "1e3", "0x10", "99999999999999999"]) {
      expect(status(() => parseUploadLength(bad, undefined))).toBe(400);
    }
    expect(status(() => parseUploadLength(undefined, "1"))).toBe(400);
  });

  it("takes sha256 with a base64 32-byte digest; anything else is 400", () => {
    const d = createHash("sha256").update("x").digest();
    expect(parseChecksum(`sha256 ${d.toString("base64")}`)?.equals(d)).toBe(true);
    expect(parseChecksum(undefined)).toBeUndefined();
    for (const bad of [
      `sha1 ${d.toString("base64")}`,
      "sha256 abc",
      `sha256 ${d.toString("hex")}`,
      "sha256",
    ]) {
      expect(status(() => parseChecksum(bad))).toBe(400);
    }
  });
});
