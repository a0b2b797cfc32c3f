/**
 * The production build also bundles dist/ with esbuild into dist/bundle/ (scripts/bundle-dist.ts): one file per
 * entry (`nexus.js`, `host.js`, `ai-worker.js`) plus shared chunks, all in that one folder. Code there cannot
 * find a sibling entry by its path under dist/appliance, so it asks here by the entry's bundle name.
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder of the esbuild bundle, relative to the package root. */
export const BUNDLE_DIR = "dist/bundle";

/** The path of bundle entry `name` when `moduleUrl` is a module of the bundle, else null (dist/ or source). */
export function bundledEntry(moduleUrl: string, name: string): string | null {
  const dir = dirname(fileURLToPath(moduleUrl));
  if (basename(dir) !== "bundle" || basename(dirname(dir)) !== "dist") return null;
  return join(dir, `${name}.js`);
}
