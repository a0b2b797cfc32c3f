/**
 * File and folder names. Names are only ever rows in SQLite (blobs are stored by sha256), so no name can reach
 * the filesystem; still, anything a client could use to confuse people or other programs is refused rather
 * than cleaned up: dot segments, separators, control and bidi-override characters, over-long names.
 * Names are stored in Unicode NFC, so the composed and decomposed spellings of "é" are one name.
 */
import { ApiError } from "../../appliance/kit/index.js";

export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;
export const MAX_DEPTH = 64;

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\\u202a-\u202e\u2066-\u2069\ufeff]/;

/** A valid, NFC-normalised name, or a 400 naming the problem. */
export function checkName(raw: string): string {
  const name = raw.normalize("NFC");
  if (name === "" || name.trim() === "") throw new ApiError(400, "a name cannot be empty");
  if (name === "." || name === "..") throw new ApiError(400, "'.' and '..' are not names");
  if (FORBIDDEN.test(name)) {
    throw new ApiError(400, "names cannot contain '/', '\\', control or bidi-override characters");
  }
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new ApiError(400, `a name is at most ${MAX_NAME_BYTES} bytes (UTF-8)`);
  }
  return name;
}

/** Splits a space-relative path (`a/b/c.txt`, no leading `/`) into checked names; `""` is the root. */
export function parsePath(path: string): string[] {
  if (path === "") return [];
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw new ApiError(400, `a path is at most ${MAX_PATH_BYTES} bytes`);
  }
  if (path.startsWith("/")) throw new ApiError(400, "paths are relative to the space root: no leading '/'");
  const names = path.split("/").map(checkName);
  if (names.length > MAX_DEPTH) throw new ApiError(400, `folders nest at most ${MAX_DEPTH} deep`);
  return names;
}

/** Names from the percent-encoded path segments of a URL (after `/content/` or `/list/`). */
export function parseUrlPath(encoded: string): string[] {
  if (encoded === "" || encoded === "/") return [];
  const trimmed = encoded.endsWith("/") ? encoded.slice(0, -1) : encoded;
  const segments = trimmed.split("/").map((seg) => {
    if (/%(2f|5c)/i.test(seg)) throw new ApiError(400, "encoded separators are not allowed in names");
    try {
      return decodeURIComponent(seg);
    } catch {
      throw new ApiError(400, "malformed percent-encoding in path");
    }
  });
  return parsePath(segments.join("/"));
}

/** `a/b/c` from names. */
export const joinPath = (names: readonly string[]) => names.join("/");

const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** A bare media type (`text/plain`), parameters dropped; anything unusual becomes octet-stream. */
export function contentTypeOf(header: string | undefined): string {
  const bare = (header ?? "").split(";")[0]!.trim().toLowerCase();
  return CONTENT_TYPE.test(bare) ? bare : "application/octet-stream";
}
