/**
 * Bundles the compiled code of dist/ into dist/bundle/ (part of `npm run build`, after tsc): one ES module per
 * entry (the CLI, the service host, the AI worker thread) and the chunks they share. Loading ~400 small modules
 * through Node's ESM loader was a large part of start-up (the supervisor and every service host each resolve,
 * read and link their graph); a few large files load in a fraction of that. npm packages stay external: they
 * resolve from node_modules as before (native addons, files read next to their code). bin/nexus.js runs the
 * bundle when it is at least as new as dist/appliance/cli/main.js, else the plain dist/ files.
 *   node --import tsx scripts/bundle-dist.ts
 */
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { BUNDLE_DIR } from "../appliance/lib/bundle-entry.js";

const ROOT = resolve(import.meta.dirname, "..");
const outdir = join(ROOT, BUNDLE_DIR);

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: {
    nexus: join(ROOT, "dist/appliance/cli/main.js"),
    host: join(ROOT, "dist/appliance/host/main.js"),
    "ai-worker": join(ROOT, "dist/services/ai/worker.js"),
  },
  outdir,
  bundle: true,
  // Lazy `import()`s (services' code, the backup engine, the appliance API) stay lazy: shared chunks.
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  legalComments: "none",
  logLevel: "warning",
});
