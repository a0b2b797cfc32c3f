import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { BUNDLE_DIR, bundledEntry, startWorker } from "./bundle-entry.js";

describe("bundledEntry", () => {
  it("names a sibling entry for a module of dist/bundle, and nothing elsewhere", () => {
    const inBundle = pathToFileURL("/opt/nexus/app/dist/bundle/chunk-ABC.js").href;
    expect(bundledEntry(inBundle, "host")).toBe("/opt/nexus/app/dist/bundle/host.js");
    expect(
      bundledEntry(pathToFileURL("/opt/nexus/app/dist/appliance/supervisor/executor.js").href, "host"),
    ).toBeNull();
    expect(bundledEntry(pathToFileURL("/src/appliance/bundle/x.ts").href, "host")).toBeNull();
  });
});

describe("startWorker", () => {
  it("runs the backup crypto thread from the built bundle (npm run build writes it)", async () => {
    const bundle = resolve(import.meta.dirname, "../..", BUNDLE_DIR);
    if (!existsSync(join(bundle, "nexus.js")))
      throw new Error(`no bundle in ${bundle}: run npm run build first`);
    // As a module of the bundle (a shared chunk) would start it.
    const worker = startWorker(pathToFileURL(join(bundle, "chunk-any.js")).href, "backup-crypto-worker", "x");
    try {
      const reply = await new Promise((ok, fail) => {
        worker.once("message", ok);
        worker.once("error", fail);
        worker.postMessage({ op: "abort", id: 7 });
      });
      expect(reply).toEqual({ id: 7, error: "no such crypto job" });
    } finally {
      await worker.terminate();
    }
  });
});
