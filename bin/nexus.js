#!/usr/bin/env node
// The `nexus` command. Runs the compiled CLI; `npm run build` produces it. dist/bundle/nexus.js (the esbuild
// bundle of dist/, quick to load) runs while none of the dist/ files it was built from (its inputs.json) is newer
// than that list: a `tsc` alone, or a file of dist/ edited afterwards, runs the plain dist/ files instead.
import { existsSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const entry = `${dist}appliance/cli/main.js`;
if (!existsSync(entry)) {
  console.error("nexus: not built yet. Run `npm ci && npm run build` in the checkout first.");
  process.exit(1);
}

/** ~400 stat calls, a few ms: far less than the bundle saves. */
function bundleIsCurrent() {
  const list = `${dist}bundle/inputs.json`;
  try {
    const builtAt = statSync(list).mtimeMs;
    const inputs = JSON.parse(readFileSync(list, "utf8"));
    return inputs.every((f) => statSync(dist + f).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

await import(pathToFileURL(bundleIsCurrent() ? `${dist}bundle/nexus.js` : entry).href);
