import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_CSP, lazyFiles, loadConsoleFiles } from "../../appliance/gateway/console-files.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { serveFiles } from "../helpers/static-files.js";

const dir = tempDir();
let base = "";
let close: () => void = () => {};

beforeAll(async () => {
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>x</title>");
  writeFileSync(join(dir, "assets", "app-abc.js"), "console.info(1)");
  writeFileSync(join(dir, "assets", "app-abc.js.gz"), gzipSync("console.info(1)"));
  ({ base, close } = await serveFiles(loadConsoleFiles(dir)!));
});

afterAll(() => {
  close();
  removeDir(dir);
});

describe("console files", () => {
  it("load on the first request for a page, never for health checks, scrapes or the API; once", async () => {
    let loads = 0;
    const lazy = lazyFiles(() => {
      loads++;
      return loadConsoleFiles(dir);
    });
    const { base: lazyBase, close: closeLazy } = await serveFiles(lazy);
    try {
      for (const path of ["/health", "/ready", "/metrics", "/api/system/info"])
        await fetch(`${lazyBase}${path}`);
      expect(loads).toBe(0);
      expect((await fetch(`${lazyBase}/`)).status).toBe(200);
      expect((await fetch(`${lazyBase}/assets/app-abc.js`)).status).toBe(200);
      expect(loads).toBe(1);
    } finally {
      closeLazy();
    }
  });

  it("is absent (null) when the console was not built", () => {
    expect(loadConsoleFiles(join(dir, "missing"))).toBeNull();
  });

  it("serves the page at / and /setup with CSP and revalidation, assets as immutable", async () => {
    for (const path of ["/", "/setup"]) {
      const r = await fetch(`${base}${path}?token=abc`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
      expect(r.headers.get("cache-control")).toBe("no-cache");
      const again = await fetch(`${base}${path}`, { headers: { "if-none-match": r.headers.get("etag")! } });
      expect(again.status).toBe(304);
    }
    const js = await fetch(`${base}/assets/app-abc.js`, { headers: { "accept-encoding": "gzip" } });
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("content-encoding")).toBe("gzip");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await js.text()).toBe("console.info(1)");
  });

  it("leaves every other path to the gateway (no directory listing, no traversal)", async () => {
    for (const path of [
      "/assets/",
      "/assets/app-abc.js.gz",
      "/assets/../index.html",
      "/index.html",
      "/assets/nope.js",
    ]) {
      const r = await fetch(`${base}${path}`);
      expect(await r.text(), path).toBe("fallthrough");
    }
  });
});
