/**
 * tus 1.0.0 headers as plain values: the version check, Upload-Length, Upload-Metadata (decoded, then checked
 * with zod), Upload-Checksum (sha256 only) and Upload-Expires. Nothing here touches the database or Hono; the
 * routes (routes-tus.ts) map these to the resumable uploads of uploads.ts. Every refusal is an ApiError, so it
 * reaches the client in the one error shape.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { ApiError } from "../../appliance/kit/index.js";
import { checkName, contentTypeOf, joinPath, parsePath } from "./names.js";

export const TUS_VERSION = "1.0.0";
export const TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration";
export const TUS_CHECKSUM_ALGORITHMS = "sha256";
/** The body type of PATCH (and of POST with creation-with-upload). */
export const OFFSET_STREAM = "application/offset+octet-stream";

/** Upload-Metadata larger than this is refused: it is a few names, not a document. */
export const MAX_METADATA_BYTES = 8192;
const MAX_METADATA_PAIRS = 32;
const KEY = /^[\x21-\x2b\x2d-\x7e]{1,64}$/; // printable ASCII, no space, no comma
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True when a request speaks the tus version this server does (OPTIONS is exempt, per the protocol). */
export const speaksTus = (header: string | undefined) => header?.trim() === TUS_VERSION;

/** Upload-Length: a non-negative integer. Upload-Defer-Length is not offered (no creation-defer-length). */
export function parseUploadLength(header: string | undefined, deferLength: string | undefined): number {
  if (deferLength !== undefined)
    throw new ApiError(400, "Upload-Defer-Length is not supported: send Upload-Length");
  const v = header?.trim() ?? "";
  const n = Number(v);
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(n))
    throw new ApiError(400, "Upload-Length header required (a whole number of bytes)");
  return n;
}

/** Upload-Metadata: `key base64,key base64,…` (a value may be absent) into decoded UTF-8 strings. */
export function decodeMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (header === undefined || header.trim() === "") return out;
  if (Buffer.byteLength(header) > MAX_METADATA_BYTES)
    throw new ApiError(400, `Upload-Metadata is at most ${MAX_METADATA_BYTES} bytes`);
  const pairs = header.split(",");
  if (pairs.length > MAX_METADATA_PAIRS)
    throw new ApiError(400, `Upload-Metadata has at most ${MAX_METADATA_PAIRS} keys`);
  for (const pair of pairs) {
    const [key = "", value = "", ...rest] = pair.trim().split(" ");
    if (!KEY.test(key) || rest.length > 0) throw new ApiError(400, "malformed Upload-Metadata pair");
    if (Object.hasOwn(out, key)) throw new ApiError(400, `Upload-Metadata repeats the key ${key}`);
    out[key] = decodeBase64Text(key, value);
  }
  return out;
}

function decodeBase64Text(key: string, value: string): string {
  if (!BASE64.test(value)) throw new ApiError(400, `Upload-Metadata ${key}: not base64`);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(value, "base64"));
  } catch {
    throw new ApiError(400, `Upload-Metadata ${key}: not UTF-8 text`);
  }
}

/** `key base64,…`: what HEAD echoes (the server keeps the fields, not the header it was sent). */
export function encodeMetadata(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v, "utf8").toString("base64")}`)
    .join(",");
}

/**
 * The metadata this server uses. `path` (from the space root), or `filename` with an optional `folder`;
 * `space` defaults to your own; `filetype` (what tus-js-client and Uppy send) or `contentType`; `sha256` of
 * the whole file, checked when the last byte arrives. Other keys (Uppy's `name`, `relativePath` …) are ignored.
 */
const metadataSchema = z.object({
  space: z.string().min(1).max(80).default("me"),
  path: z.string().min(1).max(4096).optional(),
  filename: z.string().min(1).max(1024).optional(),
  folder: z.string().max(4096).optional(),
  filetype: z.string().max(255).optional(),
  contentType: z.string().max(255).optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, "sha256: 64 lower-case hex digits")
    .optional(),
});

export interface TusTarget {
  space: string;
  path: string;
  contentType: string;
  sha256?: string;
}

/** Where an upload goes, from its Upload-Metadata; 400 on anything malformed, before anything is created. */
export function targetOf(header: string | undefined): TusTarget {
  const parsed = metadataSchema.safeParse(decodeMetadata(header));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    throw new ApiError(400, "invalid Upload-Metadata", { issues });
  }
  const m = parsed.data;
  if (m.path !== undefined && (m.filename !== undefined || m.folder !== undefined))
    throw new ApiError(400, "Upload-Metadata: give path, or filename (with an optional folder), not both");
  let names: string[];
  if (m.path !== undefined) names = parsePath(m.path);
  else if (m.filename !== undefined) names = [...parsePath(m.folder ?? ""), checkName(m.filename)];
  else throw new ApiError(400, "Upload-Metadata needs path, or filename");
  return {
    space: m.space,
    path: joinPath(names),
    contentType: contentTypeOf(m.filetype ?? m.contentType),
    ...(m.sha256 ? { sha256: m.sha256 } : {}),
  };
}

/** Upload-Checksum: `sha256 <base64 digest>`; undefined when absent, 400 for another algorithm or bad form. */
export function parseChecksum(header: string | undefined): Buffer | undefined {
  if (header === undefined) return undefined;
  const [algorithm = "", digest = "", ...rest] = header.trim().split(" ");
  if (algorithm.toLowerCase() !== "sha256")
    throw new ApiError(
      400,
      `Upload-Checksum: unsupported algorithm (this server takes ${TUS_CHECKSUM_ALGORITHMS})`,
    );
  const bytes = BASE64.test(digest) && rest.length === 0 ? Buffer.from(digest, "base64") : Buffer.alloc(0);
  if (bytes.length !== 32) throw new ApiError(400, "Upload-Checksum: sha256 <base64 of the 32-byte digest>");
  return bytes;
}

/** tus's own status for a chunk whose bytes do not match its Upload-Checksum. */
export const CHECKSUM_MISMATCH = 460 as ContentfulStatusCode;

/**
 * Checks the `length` bytes at `from` in `file` (just written and fsynced, not yet acknowledged) against
 * `expected`. They are read back from disk rather than hashed on the way in: what is verified is what is kept.
 * A body cut short cannot be verified, so none of it is acknowledged.
 */
export async function verifyChunk(
  file: string,
  chunk: { from: number; length: number; complete: boolean },
  expected: Buffer,
): Promise<void> {
  if (!chunk.complete)
    throw new ApiError(400, "the body ended early; a checksummed chunk is kept only whole");
  const hash = createHash("sha256");
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(Math.min(chunk.length, 1024 * 1024));
    for (let done = 0; done < chunk.length; ) {
      const { bytesRead } = await fh.read(
        buf,
        0,
        Math.min(buf.length, chunk.length - done),
        chunk.from + done,
      );
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  if (!hash.digest().equals(expected))
    throw new ApiError(CHECKSUM_MISMATCH, "Checksum Mismatch: the chunk was not stored", {
      reason: "checksum-mismatch",
    });
}

/** Upload-Expires: an HTTP date (RFC 9110). */
export const httpDate = (iso: string) => new Date(iso).toUTCString();
