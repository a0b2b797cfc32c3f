/**
 * Builds the web console into dist/console: one JS bundle (esbuild, Preact) and one stylesheet, both with a
 * content hash in their names, an index.html that links them, and Brotli/gzip copies the gateway sends to
 * browsers that accept them. Everything comes from this checkout: no CDN, no remote fonts.
 * `npm run build:console` (part of `npm run build`); the e2e tests call buildConsole() themselves.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
export const CONSOLE_OUT = join(HERE, "..", "..", "dist", "console");

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
export async function buildConsole(outDir = CONSOLE_OUT): Promise<BuiltFile[]> {
  const result = await build({
    entryPoints: [join(HERE, "src", "main.tsx")],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["chrome100", "firefox100", "safari15"],
    jsx: "automatic",
    jsxImportSource: "preact",
    write: false,
    legalComments: "none",
    logLevel: "warning",
    define: { "process.env.NODE_ENV": '"production"' },
  });
  const js = result.outputFiles[0]?.contents;
  if (!js) throw new Error("esbuild produced no output");
  const css = readFileSync(join(HERE, "styles.css"));
  const icon = readFileSync(join(HERE, "icon.svg"));
  const names = {
    js: hashed("app", ".js", Buffer.from(js)),
    css: hashed("app", ".css", css),
    icon: hashed("icon", ".svg", icon),
  };
  const html = readFileSync(join(HERE, "index.html"), "utf8")
    .replace("{{js}}", `/assets/${names.js}`)
    .replace("{{css}}", `/assets/${names.css}`)
    .replace("{{icon}}", `/assets/${names.icon}`);
  rmSync(outDir, { recursive: true, force: true });
  return [
    emit(outDir, "index.html", html),
    emit(outDir, `assets/${names.js}`, Buffer.from(js)),
    emit(outDir, `assets/${names.css}`, css),
    emit(outDir, `assets/${names.icon}`, icon),
  ];
}

if (
  process.argv[1] &&
  basename(process.argv[1]) === "build.ts" &&
  relative(HERE, dirname(process.argv[1])) === ""
) {
  const files = await buildConsole();
  for (const f of files) {
    process.stdout.write(`  dist/console/${f.path}  ${f.bytes} B (${f.brotliBytes} B brotli)\n`);
  }
}
