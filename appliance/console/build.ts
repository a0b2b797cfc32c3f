/**
 * Builds the web console into dist/console, the hub's fleet page into dist/hub-fleet and the forms web app
 * (appliance/collect) into dist/collect: for each, one JS
 * bundle (esbuild, Preact) and one stylesheet, both with a content hash in their names, an index.html that
 * links them, and Brotli/gzip copies the gateway (or hub) sends to browsers that accept them. Everything
 * comes from this checkout: no CDN, no remote fonts.
 * `npm run build:console` (part of `npm run build`); the e2e tests call buildConsole() / buildFleetPage() /
 * buildCollect().
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
export const CONSOLE_OUT = join(HERE, "..", "..", "dist", "console");
const FLEET_SRC = join(HERE, "..", "hub", "fleet-page");
const COLLECT_SRC = join(HERE, "..", "collect");
/** Where the gateway finds the data-entry web app (appliance/gateway/collect-files.ts). */
export const COLLECT_OUT = join(HERE, "..", "..", "dist", "collect");
/** Where the hub finds its fleet page (appliance/hub/fleet-files.ts). */
export const FLEET_OUT = join(HERE, "..", "..", "dist", "hub-fleet");

export interface BuiltFile {
  path: string;
  bytes: number;
  brotliBytes: number;
}

function hashed(name: string, ext: string, body: Buffer | string): string {
  return `${name}-${createHash("sha256").update(body).digest("hex").slice(0, 12)}${ext}`;
}

/** Writes `file` and its .br and .gz copies; returns the sizes. */
function emit(outDir: string, rel: string, body: Buffer | string): BuiltFile {
  const file = join(outDir, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, body);
  const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  writeFileSync(`${file}.br`, br);
  writeFileSync(`${file}.gz`, gzipSync(body, { level: 9 }));
  return { path: rel, bytes: Buffer.byteLength(body), brotliBytes: br.length };
}

/** Builds the console into `outDir` (replacing what was there). */
export function buildConsole(outDir = CONSOLE_OUT): Promise<BuiltFile[]> {
  return buildPage({ dir: HERE, entry: join("src", "main.tsx"), name: "app", icon: "icon.svg" }, outDir);
}

/** Builds the hub's fleet page (appliance/hub/fleet-page) into `outDir` (replacing what was there). */
export function buildFleetPage(outDir = FLEET_OUT): Promise<BuiltFile[]> {
  return buildPage({ dir: FLEET_SRC, entry: "main.tsx", name: "fleet" }, outDir);
}

/**
 * Builds the data-entry web app (appliance/collect: ODK Web Forms, a Vue component library, bundled with Vue)
 * into `outDir`, served at /collect/: its page, hashed assets, the web manifest, and the service worker with
 * the list of files it keeps for offline use.
 */
export async function buildCollect(outDir = COLLECT_OUT): Promise<BuiltFile[]> {
  const files = await buildPage(
    { dir: COLLECT_SRC, entry: join("src", "main.ts"), name: "collect", icon: "icon.svg", base: "/collect/" },
    outDir,
  );
  const icon = files.find((f) => f.path.startsWith("assets/icon-"))?.path ?? "";
  const manifest = readFileSync(join(COLLECT_SRC, "manifest.webmanifest"), "utf8").replace(
    "{{icon}}",
    `/collect/${icon}`,
  );
  files.push(emit(outDir, "manifest.webmanifest", manifest));
  const shell = [
    "/collect/",
    ...files.filter((f) => f.path !== "index.html").map((f) => `/collect/${f.path}`),
  ];
  const sw = await build({
    entryPoints: [join(COLLECT_SRC, "sw.ts")],
    bundle: true,
    minify: true,
    format: "iife",
    target: ["chrome100", "firefox100", "safari15"],
    write: false,
    logLevel: "warning",
    define: { __SHELL__: JSON.stringify(shell), __VERSION__: JSON.stringify(hashed("v", "", shell.join())) },
  });
  const swJs = sw.outputFiles[0]?.contents;
  if (!swJs) throw new Error("esbuild produced no service worker");
  files.push(emit(outDir, "sw.js", Buffer.from(swJs)));
  return files;
}

interface PageSource {
  /** The page's folder: `entry`, styles.css, index.html with `{{js}}`, `{{css}}` (and `{{icon}}`). */
  dir: string;
  entry: string;
  /** The assets' name before their hash. */
  name: string;
  icon?: string;
  /** The URL path the page is served under (default `/`). */
  base?: string;
}

/** One Preact page: its bundle, stylesheet and icon hashed under assets/, and the index.html linking them. */
async function buildPage(src: PageSource, outDir: string): Promise<BuiltFile[]> {
  const result = await build({
    entryPoints: [join(src.dir, src.entry)],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["chrome100", "firefox100", "safari15"],
    jsx: "automatic",
    jsxImportSource: "preact",
    write: false,
    legalComments: "none",
    logLevel: "warning",
    define: {
      "process.env.NODE_ENV": '"production"',
      // Vue's compile-time flags (the collect app bundles Vue; the console does not use it).
      __VUE_OPTIONS_API__: "true",
      __VUE_PROD_DEVTOOLS__: "false",
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false",
    },
  });
  const js = result.outputFiles[0]?.contents;
  if (!js) throw new Error("esbuild produced no output");
  // [placeholder in index.html, asset name, extension, content]
  const files: [string, string, string, Buffer][] = [
    ["js", src.name, ".js", Buffer.from(js)],
    ["css", src.name, ".css", readFileSync(join(src.dir, "styles.css"))],
  ];
  if (src.icon) files.push(["icon", "icon", ".svg", readFileSync(join(src.dir, src.icon))]);
  let html = readFileSync(join(src.dir, "index.html"), "utf8");
  const assets: [string, Buffer][] = [];
  for (const [placeholder, base, ext, body] of files) {
    const rel = `assets/${hashed(base, ext, body)}`;
    html = html.replace(`{{${placeholder}}}`, `${src.base ?? "/"}${rel}`);
    assets.push([rel, body]);
  }
  rmSync(outDir, { recursive: true, force: true });
  return [emit(outDir, "index.html", html), ...assets.map(([rel, body]) => emit(outDir, rel, body))];
}

if (
  process.argv[1] &&
  basename(process.argv[1]) === "build.ts" &&
  relative(HERE, dirname(process.argv[1])) === ""
) {
  for (const [out, files] of [
    ["console", await buildConsole()],
    ["hub-fleet", await buildFleetPage()],
    ["collect", await buildCollect()],
  ] as const) {
    for (const f of files) {
      process.stdout.write(`  dist/${out}/${f.path}  ${f.bytes} B (${f.brotliBytes} B brotli)\n`);
    }
  }
}
