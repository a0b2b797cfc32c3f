/**
 * Serves the built web console (dist/console, made by `npm run build:console`): `index.html` at `/` and
 * `/setup` (the first-boot link), hashed assets under `/assets/`. Files are read once at start. Assets have
 * content hashes in their names and are cached for a year; the page itself is revalidated by ETag. Brotli
 * and gzip copies made at build time are sent to clients that accept them. CSP `default-src 'self'`: the
 * page has no inline script or style and loads nothing from elsewhere.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

/** `media-src blob:`: hls.js plays through a MediaSource, which a `<video>` loads from a blob: URL. */
export const CONSOLE_CSP =
  "default-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/** A built file held in memory, with its precompressed copies and ETag. */
export interface StaticFile {
  body: Buffer;
  br?: Buffer;
  gzip?: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

export interface ConsoleFiles {
  /** Answers `GET|HEAD` for the console's paths; false when `path` is not one of them. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean;
}

/** Reads `file` and its .br/.gz copies (when built); `immutable` for content-hashed assets. */
export function loadStaticFile(file: string, immutable: boolean): StaticFile {
  const body = readFileSync(file);
  const optional = (f: string) => (existsSync(f) ? readFileSync(f) : undefined);
  return {
    body,
    br: optional(`${file}.br`),
    gzip: optional(`${file}.gz`),
    type: TYPES[extname(file)] ?? "application/octet-stream",
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
    immutable,
  };
}

/** Loads the built console from `dir`; null when it was not built (the gateway then shows a plain page). */
export function loadConsoleFiles(dir: string): ConsoleFiles | null {
  if (!existsSync(join(dir, "index.html"))) return null;
  const index = loadStaticFile(join(dir, "index.html"), false);
  const assets = new Map<string, StaticFile>();
  const assetDir = join(dir, "assets");
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      if (name.endsWith(".br") || name.endsWith(".gz")) continue;
      assets.set(`/assets/${name}`, loadStaticFile(join(assetDir, name), true));
    }
  }
  return {
    serve(req, res, path) {
      const file = path === "/" || path === "/setup" ? index : assets.get(path);
      if (!file) return false;
      sendStaticFile(req, res, file);
      return true;
    },
  };
}

/** The smallest copy of `f` the client accepts (its `accept-encoding`), and that copy's content-encoding. */
export function encodedBody(f: StaticFile, accept: string): { body: Buffer; encoding?: "br" | "gzip" } {
  if (f.br && /\bbr\b/.test(accept)) return { body: f.br, encoding: "br" };
  if (f.gzip && /\bgzip\b/.test(accept)) return { body: f.gzip, encoding: "gzip" };
  return { body: f.body };
}

/** Sends `f` (304 on a matching ETag); an HTML page gets `csp` and may not be framed. */
export function sendStaticFile(
  req: IncomingMessage,
  res: ServerResponse,
  f: StaticFile,
  csp = CONSOLE_CSP,
  extra: Record<string, string> = {},
) {
  const headers: Record<string, string | number> = {
    "content-type": f.type,
    etag: f.etag,
    "cache-control": f.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    vary: "accept-encoding",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    ...extra,
  };
  if (f.type.startsWith("text/html")) {
    headers["content-security-policy"] = csp;
    headers["x-frame-options"] = "DENY";
  }
  if (req.headers["if-none-match"] === f.etag) {
    res.writeHead(304, headers);
    return res.end();
  }
  const { body, encoding } = encodedBody(f, String(req.headers["accept-encoding"] ?? ""));
  if (encoding) headers["content-encoding"] = encoding;
  headers["content-length"] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === "HEAD" ? undefined : body);
}

const NOT_PAGES = new Set(["/health", "/ready", "/metrics"]);

/**
 * `load` on the first request instead of at start: the built pages (~7 MB with the forms web app) stay out
 * of the supervisor's memory until someone opens them.
 */
export function lazyFiles(load: () => ConsoleFiles | null): ConsoleFiles {
  let files: ConsoleFiles | null | undefined;
  return {
    serve(req, res, path) {
      // Health checks and scrapes never load the pages.
      if (files === undefined && (NOT_PAGES.has(path) || path.startsWith("/api/"))) return false;
      if (files === undefined) files = load();
      return files?.serve(req, res, path) ?? false;
    },
  };
}
