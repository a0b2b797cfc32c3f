/**
 * Serves the hub's fleet page, built from appliance/hub/fleet-page by `npm run build` into dist/hub-fleet:
 * `index.html` at `/`, its hashed script and stylesheet under `/assets/`. Files are read once when the hub
 * starts; assets are cached for a year, the page is revalidated by ETag, and the Brotli/gzip copies made at
 * build time go to clients that accept them. CSP `default-src 'self'`: no inline script or style, nothing
 * loaded from elsewhere.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { encodedBody, loadStaticFile, type StaticFile } from "../gateway/console-files.js";
import { packageRoot } from "../paths.js";

const HEADERS = {
  "content-security-policy":
    "default-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const NOT_BUILT =
  "The fleet page was not built: run `npm run build` (it writes dist/hub-fleet) and restart the hub. " +
  "The API is at /api/hub/.\n";

/** Reads the built page from `dir`: a map from URL path to file, empty when it was not built. */
function loadFleetFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(join(dir, "index.html"))) return files;
  files.set("/", loadStaticFile(join(dir, "index.html"), false));
  const assets = join(dir, "assets");
  for (const name of existsSync(assets) ? readdirSync(assets) : []) {
    if (!name.endsWith(".br") && !name.endsWith(".gz")) {
      files.set(`/assets/${name}`, loadStaticFile(join(assets, name), true));
    }
  }
  return files;
}

/** One file's answer: 304 on a matching ETag, else the smallest copy the client accepts. */
function answer(f: StaticFile, ifNoneMatch: string | undefined, accept: string, head: boolean): Response {
  const headers: Record<string, string> = {
    ...HEADERS,
    "content-type": f.type,
    etag: f.etag,
    "cache-control": f.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    vary: "accept-encoding",
  };
  if (ifNoneMatch === f.etag) return new Response(null, { status: 304, headers });
  const { body, encoding } = encodedBody(f, accept);
  if (encoding) headers["content-encoding"] = encoding;
  headers["content-length"] = String(body.length);
  return new Response(head ? null : new Uint8Array(body), { headers });
}

/** `GET /` (the fleet page) and `/assets/*`, with the security headers; `dir` is the built page. */
export function fleetPage(dir = join(packageRoot(), "dist", "hub-fleet")): Hono {
  const files = loadFleetFiles(dir);
  const app = new Hono();
  app.on(["GET", "HEAD"], ["/", "/assets/:name"], (c) => {
    const f = files.get(c.req.path);
    if (!f) {
      if (c.req.path !== "/") return c.notFound();
      return new Response(NOT_BUILT, {
        status: 503,
        headers: { ...HEADERS, "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache" },
      });
    }
    const accept = c.req.header("accept-encoding") ?? "";
    return answer(f, c.req.header("if-none-match"), accept, c.req.method === "HEAD");
  });
  // Browsers ask for it on their own; an empty answer keeps a 404 out of their console.
  app.get("/favicon.ico", () => new Response(null, { status: 204, headers: HEADERS }));
  return app;
}
