/**
 * Services' manifests (services/<name>/service-manifest.ts) are the one source of what the supervisor reads:
 * each definition is built from its manifest, and the supervisor's process never loads a service's code.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { manifestOf } from "../../appliance/kit/index.js";
import { loadManifest, loadService, SERVICES } from "../../services/registry.js";
import { staticImports } from "../helpers/import-graph.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("service manifests", () => {
  it("each registry line's manifest is its service's definition's", async () => {
    for (const [name, e] of Object.entries(SERVICES)) {
      expect(e.manifest.name).toBe(name);
      const def = await loadService(name);
      expect(manifestOf(def)).toEqual(e.manifest);
      expect(def.access).toBe(e.manifest.access);
      expect(def.permissions).toBe(e.manifest.permissions);
    }
  });

  it("an unknown name is refused", async () => {
    await expect(loadManifest("../ai")).rejects.toThrow(/unknown service/);
    await expect(loadManifest("constructor")).rejects.toThrow(/unknown service/);
  });
});

describe("the supervisor's process (nexus up) imports at start", () => {
  const { files, packages } = staticImports(ROOT, ["appliance/cli/main.ts", "appliance/cli/up.ts"]);

  it("no service's code: manifests and permissions only", () => {
    // The blob store's S3 client wrapper (minio itself loads on first use) serves the backup destinations.
    const allowed =
      /^services\/([^/]+\/(service-manifest|permissions)|registry|files\/blob-store\/(s3|verify))\.ts$/;
    const code = [...files].filter((f) => f.startsWith("services/") && !allowed.test(f));
    expect(code).toEqual([]);
  });

  it("none of the libraries that only services, backups, the appliance API and the hub use", () => {
    const heavy = [
      "@hono/zod-openapi",
      "better-sqlite3",
      "msgpackr",
      "minio",
      "age-encryption",
      "tar-stream",
      "exceljs",
      "onnxruntime-node",
      "@electric-sql/pglite",
      "pg",
      "fast-xml-parser",
      "busboy",
      "bcryptjs",
      "fflate",
    ];
    expect(heavy.filter((p) => packages.has(p))).toEqual([]);
  });
});
