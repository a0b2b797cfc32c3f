/**
 * Serves the data-entry web app (dist/collect, made by `npm run build:console`) at `/collect/`: the page,
 * hashed assets (cached for a year), the web manifest, and the service worker `/collect/sw.js`, whose
 * default scope is `/collect/` (so no `Service-Worker-Allowed` is needed) and which is always revalidated so
 * a new build reaches phones. Public like the console's page: the app holds no data; the forms and
 * submissions it uses are behind the API's authentication.
 *
 * Its CSP differs from the console's: ODK Web Forms injects its stylesheet and sets style attributes at run
 * time ('unsafe-inline' styles), embeds its fonts as data: URLs, runs its XPath engine's WebAssembly
 * ('wasm-unsafe-eval'), and shows the photo just taken from a blob: URL. Scripts still come only from the box.
 */
import { existsSync, readdirSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { type ConsoleFiles, loadStaticFile, type StaticFile, sendStaticFile } from "./console-files.js";

export const COLLECT_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join("; ");

/** Loads the built web app from `dir`; null when it was not built. */
export function loadCollectFiles(dir: string): ConsoleFiles | null {
  if (!existsSync(join(dir, "index.html"))) return null;
  const files = new Map<string, StaticFile>([
    ["/collect/", loadStaticFile(join(dir, "index.html"), false)],
    ["/collect/sw.js", loadStaticFile(join(dir, "sw.js"), false)],
    ["/collect/manifest.webmanifest", loadStaticFile(join(dir, "manifest.webmanifest"), false)],
  ]);
  const assetDir = join(dir, "assets");
  for (const name of existsSync(assetDir) ? readdirSync(assetDir) : []) {
    if (name.endsWith(".br") || name.endsWith(".gz")) continue;
    files.set(`/collect/assets/${name}`, loadStaticFile(join(assetDir, name), true));
  }
  return {
    serve(req: IncomingMessage, res: ServerResponse, path: string) {
      if (path === "/collect") {
        res.writeHead(308, { location: "/collect/" });
        res.end();
        return true;
      }
      const file = files.get(path);
      if (!file) return false;
      sendStaticFile(
        req,
        res,
        file,
        COLLECT_CSP,
        path === "/collect/sw.js" ? { "service-worker-allowed": "/collect/" } : {},
      );
      return true;
    },
  };
}
