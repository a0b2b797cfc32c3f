#!/usr/bin/env node
// The `nexus` command. Runs the compiled CLI; `npm run build` produces it: dist/bundle/nexus.js (one bundle, quick
// to load) when it is not older than the compiled files (a `tsc` alone leaves it stale), else dist/appliance.
import { existsSync, statSync } from "node:fs";

const entry = new URL("../dist/appliance/cli/main.js", import.meta.url);
const bundle = new URL("../dist/bundle/nexus.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("nexus: not built yet. Run `npm ci && npm run build` in the checkout first.");
  process.exit(1);
}
const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= statSync(entry).mtimeMs;
await import((fresh ? bundle : entry).href);
