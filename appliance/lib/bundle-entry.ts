/**
 * The production build also bundles dist/ with esbuild into dist/bundle/ (scripts/bundle-dist.ts): one file per
 * entry (`nexus.js`, `host.js`, `ai-worker.js`) plus shared chunks, all in that one folder. Code there cannot
 * find a sibling entry by its path under dist/appliance, so it asks here by the entry's bundle name.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/** The folder of the esbuild bundle, relative to the package root. */
export const BUNDLE_DIR = "dist/bundle";

/** The path of bundle entry `name` when `moduleUrl` is a module of the bundle, else null (dist/ or source). */
export function bundledEntry(moduleUrl: string, name: string): string | null {
  const dir = dirname(fileURLToPath(moduleUrl));
  if (basename(dir) !== "bundle" || basename(dirname(dir)) !== "dist") return null;
  return join(dir, `${name}.js`);
}

/**
 * Starts worker thread `stem` (a module beside `moduleUrl`): the bundle's entry `bundleName` when running from the
 * bundle, else `<stem>.js` beside the caller in dist/, else `<stem>.ts` through tsx (a source checkout, tests).
 */
export function startWorker(
  moduleUrl: string,
  bundleName: string,
  stem: string,
  options: WorkerOptions = {},
): Worker {
  const bundled = bundledEntry(moduleUrl, bundleName);
  if (bundled) return new Worker(bundled, options);
  const js = new URL(`./${stem}.js`, moduleUrl);
  if (existsSync(fileURLToPath(js))) return new Worker(js, options);
  // Source checkout (tsx): register tsx's loader in the thread first, then load the TypeScript entry.
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL(`./${stem}.ts`, moduleUrl).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => t.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`;
  return new Worker(boot, { ...options, eval: true });
}
