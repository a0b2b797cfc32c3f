#!/usr/bin/env node
// The `nexus` command. Runs the compiled CLI; `npm run build` produces it.
import { existsSync } from "node:fs";

const entry = new URL("../dist/appliance/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("nexus: not built yet. Run `npm ci && npm run build` in the checkout first.");
  process.exit(1);
}
await import(entry.href);
