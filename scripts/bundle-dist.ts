/**
 * Bundles the compiled code of dist/ into dist/bundle/ (part of `npm run build`, after tsc): one ES module per
 * entry (the CLI, the service host, the AI worker thread) and the chunks they share. Loading ~400 small modules
 * through Node's ESM loader was a large part of start-up (the supervisor and every service host each resolve,
 * read and link their graph); a few large files load in a fraction of that. The pure-JS packages every process
 * loads at start (BUNDLED) go into the bundle too: CommonJS ones (nats, pino, commander) otherwise cost a parse by
 * Node's CommonJS export lexer on each start. Every other package stays external and resolves from node_modules
 * as before (native addons, files read next to their code, lazily loaded ones). The bundle's last file,
 * `inputs.json`, lists the dist/ files it was built from: bin/nexus.js runs the bundle only while none of them is
 * newer than that list (a `tsc` alone, or a file edited after the build, falls back to the plain dist/ files).
 * The list holds no package files: after a bundled package changes version, build again.
 *   node --import tsx scripts/bundle-dist.ts
 */
import { rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { build, type Plugin } from "esbuild";
import { BUNDLE_DIR } from "../appliance/lib/bundle-entry.js";

const ROOT = resolve(import.meta.dirname, "..");
const outdir = join(ROOT, BUNDLE_DIR);

/** Packages (with what they import) bundled in; no external package imports any of them (one copy each). */
const BUNDLED = new Set([
  "hono",
  "@hono/node-server",
  "@hono/zod-openapi",
  "zod",
  "nats",
  "pino",
  "commander",
]);

/** The package a bare import names: `hono/http-exception` → `hono`, `@hono/zod-openapi` → itself. */
function packageOf(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** Leaves every bare import of our own code external unless its package is in BUNDLED. */
const externals: Plugin = {
  name: "externals",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("node:")) return { external: true };
      const fromPackage = args.importer.includes("/node_modules/");
      if (fromPackage || BUNDLED.has(packageOf(args.path))) return undefined;
      return { external: true };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: {
    nexus: join(ROOT, "dist/appliance/cli/main.js"),
    host: join(ROOT, "dist/appliance/host/main.js"),
    "ai-worker": join(ROOT, "dist/services/ai/worker.js"),
    "backup-crypto-worker": join(ROOT, "dist/appliance/backup/crypto-worker.js"),
  },
  outdir,
  bundle: true,
  // Lazy `import()`s (services' code, the backup engine, the appliance API) stay lazy: shared chunks.
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  plugins: [externals],
  // CommonJS packages in an ES module bundle call require() for node's built-ins.
  banner: {
    js: 'import { createRequire as __nexusRequire } from "node:module";\nconst require = __nexusRequire(import.meta.url);',
  },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});
const dist = join(ROOT, "dist");
const inputs = Object.keys(metafile.inputs)
  .map((f) => relative(dist, resolve(ROOT, f)))
  .filter((f) => !f.startsWith(".."));
writeFileSync(join(outdir, "inputs.json"), `${JSON.stringify(inputs)}\n`);
