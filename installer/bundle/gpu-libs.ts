/**
 * The GPU libraries a bundle carries when built with `--gpu-libs <dir>` (`NEXUS_BUNDLE_GPU_LIBS`):
 * onnxruntime-node's npm package ships the CPU provider only, and its CUDA/TensorRT providers are separate
 * shared libraries. onnxruntime (1.x) loads `libonnxruntime_providers_shared.so`, `_cuda.so` and `_tensorrt.so`
 * with dlopen from the folder of the `libonnxruntime.so.1` it runs from (its GetRuntimePath: the native
 * binding's folder, `node_modules/onnxruntime-node/bin/napi-v6/linux/<arch>/`), so those go there as plain
 * files. Everything else (cuDNN, cuBLAS, the CUDA runtime, TensorRT's libnvinfer…) goes to `lib/gpu/`, which the
 * `nexus` launcher puts first on LD_LIBRARY_PATH for every process it starts: the provider libraries find their
 * dependencies through the loader path. Both sets are ordinary bundle files, so the signed manifest lists each
 * with its sha256 (signing hashes the whole staged folder). Only ELF shared objects named `*.so` / `*.so.N…` are
 * taken; anything else in the folder, or a folder without the providers, stops the build with the reason.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from "node:fs";
import { join } from "node:path";

/** Where in a bundle the non-provider GPU libraries go (on LD_LIBRARY_PATH through the launcher). */
export const GPU_LIB_DIR = "lib/gpu";
/** onnxruntime's provider libraries: loaded from the folder of its own library. */
export const ORT_PROVIDER = /^libonnxruntime_providers_[a-z0-9_]+\.so$/;
const SHARED_OBJECT = /^[A-Za-z0-9][A-Za-z0-9._+-]*\.so(\.\d+)*$/;
const SHARED = "libonnxruntime_providers_shared.so";
const GPU_PROVIDERS = ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_tensorrt.so"];

/** The folder (relative to the bundle) onnxruntime-node loads its binding and providers from. */
export const ortBinRel = (arch: string = process.arch) =>
  `app/node_modules/onnxruntime-node/bin/napi-v6/linux/${arch === "arm64" ? "arm64" : "x64"}`;

export interface StagedGpuLibs {
  /** Bundle-relative paths of the provider libraries, beside onnxruntime's binding. */
  providers: string[];
  /** Bundle-relative paths of the other libraries, in lib/gpu/. */
  runtime: string[];
}

function isElf(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** The libraries `src` offers (links followed), checked: only ELF `.so` files, with the providers needed. */
export function gpuLibsIn(src: string): string[] {
  if (!existsSync(src) || !statSync(src).isDirectory())
    throw new Error(`--gpu-libs ${src}: no such directory (give the folder holding ${SHARED} and its peers)`);
  const names = readdirSync(src).sort();
  for (const name of names) {
    const st = statSync(join(src, name));
    if (!st.isFile() || !SHARED_OBJECT.test(name))
      throw new Error(
        `--gpu-libs ${src}: ${name} is not a shared library (*.so, *.so.N); only those are taken`,
      );
    if (!isElf(join(src, name))) throw new Error(`--gpu-libs ${src}: ${name} is not an ELF shared object`);
  }
  if (!names.includes(SHARED)) throw new Error(`--gpu-libs ${src}: ${SHARED} is missing`);
  if (!GPU_PROVIDERS.some((p) => names.includes(p)))
    throw new Error(`--gpu-libs ${src}: neither ${GPU_PROVIDERS.join(" nor ")} is there`);
  return names;
}

/**
 * Copies the GPU libraries of `src` into the staged bundle at `bundleDir` (after node_modules is staged): the
 * onnxruntime providers beside its binding, the rest into lib/gpu/. Throws before copying anything when `src`
 * is not acceptable (see gpuLibsIn).
 */
export function stageGpuLibs(src: string, bundleDir: string, arch: string = process.arch): StagedGpuLibs {
  const names = gpuLibsIn(src);
  const ortDir = join(bundleDir, ortBinRel(arch));
  if (!existsSync(join(ortDir, "onnxruntime_binding.node")))
    throw new Error(`onnxruntime-node's binding is not staged at ${ortDir}: stage node_modules first`);
  const out: StagedGpuLibs = { providers: [], runtime: [] };
  mkdirSync(join(bundleDir, GPU_LIB_DIR), { recursive: true });
  for (const name of names) {
    const rel = ORT_PROVIDER.test(name) ? join(ortBinRel(arch), name) : join(GPU_LIB_DIR, name);
    copyFileSync(join(src, name), join(bundleDir, rel)); // links followed: the bundle holds plain files
    (ORT_PROVIDER.test(name) ? out.providers : out.runtime).push(rel);
  }
  return out;
}
