/**
 * Sending a blob: ETag (the sha256), If-None-Match → 304, one `Range` → 206, If-Range, HEAD. Streams from the
 * blob store straight to the socket. Downloads are attachments in a sandbox (CSP `sandbox`, nosniff), so an
 * uploaded HTML page can never run as the console's origin; a few passive types may be shown inline.
 */
import type { ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import { ApiError } from "../../appliance/kit/index.js";
import type { Files } from "./state.js";

export interface Servable {
  sha256: string;
  size: number;
  contentType: string;
  name: string;
  modifiedAt: string;
}

const INLINE_OK =
  /^(image\/(png|jpeg|gif|webp|avif)|video\/[a-z0-9.+-]+|audio\/[a-z0-9.+-]+|text\/plain|application\/pdf)$/;

/** Parses a single `bytes=` range against `size`; null: serve it whole; "unsatisfiable": 416. */
export function parseRange(header: string | undefined, size: number) {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null; // several ranges or garbage: ignore (RFC 9110 allows it)
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable" as const;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return null;
  }
  if (start >= size || !Number.isSafeInteger(start)) return "unsatisfiable" as const;
  return { start, end };
}

const etagOf = (sha: string) => `"${sha}"`;

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const v = t.trim().replace(/^W\//, "");
    return v === "*" || v === etag;
  });
}

/** `attachment; filename="…"; filename*=UTF-8''…` safe for any name. */
export function contentDisposition(kind: "attachment" | "inline", name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  // encodeURIComponent leaves ' ( ) * as they are; RFC 8187's attr-char does not allow them.
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16)}`);
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

export interface ServeOptions {
  /** Show passive types in the browser rather than as an attachment. */
  inline?: boolean;
  /** Called once the content itself goes out (200 or 206 to a GET or POST); not for HEAD, 304 or errors. */
  onBody?: () => void;
  /** `cache-control` (default `private, no-cache`): media segments, immutable by their sha256, say more. */
  cacheControl?: string;
}

/** What sending needs of a store: the blobs and the download counter (files' runtime, or media's). */
export type BlobSource = Pick<Files, "store"> & { bytes: Pick<Files["bytes"], "downloaded"> };

/** Sends `blob` on the raw response; returns Hono's "already sent" marker. */
export async function serveBlob(c: Context, f: BlobSource, blob: Servable, opts: ServeOptions = {}) {
  const out = (c.env as { outgoing?: ServerResponse }).outgoing;
  if (!out) throw new ApiError(500, "downloads need the node server");
  const etag = etagOf(blob.sha256);
  const inline = opts.inline && INLINE_OK.test(blob.contentType);
  const headers: Record<string, string | number> = {
    etag,
    "last-modified": new Date(blob.modifiedAt).toUTCString(),
    "accept-ranges": "bytes",
    "cache-control": opts.cacheControl ?? "private, no-cache",
    "content-type": blob.contentType,
    "content-disposition": contentDisposition(inline ? "inline" : "attachment", blob.name),
    "content-security-policy": "default-src 'none'; sandbox",
    "x-content-type-options": "nosniff",
    "x-content-sha256": blob.sha256,
  };
  const requestId = c.req.header("x-request-id");
  if (requestId) headers["x-request-id"] = requestId;
  // Answers without a body go the ordinary way; only a body is streamed to the socket directly.
  const headOnly = (status: 200 | 206 | 304) => {
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) h[k] = String(v);
    return c.body(null, status, h);
  };
  if (etagMatches(c.req.header("if-none-match"), etag)) return headOnly(304);
  const ifRange = c.req.header("if-range");
  const ranged = blob.size > 0 && !(ifRange && ifRange !== etag);
  const range = ranged ? parseRange(c.req.header("range"), blob.size) : null;
  if (range === "unsatisfiable") {
    c.header("content-range", `bytes */${blob.size}`);
    throw new ApiError(416, "range not satisfiable", { size: blob.size });
  }
  let status = 200;
  if (range) {
    status = 206;
    headers["content-range"] = `bytes ${range.start}-${range.end}/${blob.size}`;
    headers["content-length"] = range.end - range.start + 1;
  } else headers["content-length"] = blob.size;
  if (c.req.method === "HEAD") return headOnly(status as 200 | 206);
  if (headers["content-length"] === 0) {
    opts.onBody?.();
    return headOnly(status as 200 | 206);
  }
  const stream = await f.store.get(blob.sha256, range ?? undefined);
  opts.onBody?.();
  out.writeHead(status, headers);
  // Counted as they go out: a download cut short counts what was sent.
  stream.on("data", (chunk: Buffer) => f.bytes.downloaded.inc(chunk.length));
  await pipeline(stream, out).catch(() => out.destroy());
  return RESPONSE_ALREADY_SENT;
}
