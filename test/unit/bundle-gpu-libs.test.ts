/**
 * The bundle's GPU libraries (installer/bundle/gpu-libs.ts) staged into a small fake bundle folder with fake
 * ELF `.so` files: the providers land beside onnxruntime's binding, the rest in lib/gpu/, each listed with its
 * sha256 in the signed manifest; bad folders are refused with the reason; the launcher puts lib/gpu on
 * LD_LIBRARY_PATH; `nexus doctor`'s check sees them. No full bundle is built here (bundle.test.ts does that).
 */
import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gpuLibsCheck } from "../../appliance/cli/doctor-ai.js";
import { readManifest } from "../../appliance/upgrade/manifest.js";
import { verifyBundle } from "../../appliance/upgrade/signature.js";
import { signStaged } from "../../installer/bundle/build.js";
import { GPU_LIB_DIR, ortBinRel, stageGpuLibs } from "../../installer/bundle/gpu-libs.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const ROOT = join(import.meta.dirname, "../..");
let tmp: string;
const elf = (tag: string) =>
  Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.from(tag)]);
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A folder of GPU libraries as a vendor ships them (a versioned file and its unversioned link). */
function libsDir(name: string, extra: Record<string, Buffer> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Buffer> = {
    "libonnxruntime_providers_shared.so": elf("shared"),
    "libonnxruntime_providers_cuda.so": elf("cuda"),
    "libonnxruntime_providers_tensorrt.so": elf("trt"),
    "libcudnn.so.9.1.0": elf("cudnn"),
    "libcublasLt.so.12": elf("cublas"),
    ...extra,
  };
  for (const [f, b] of Object.entries(files)) writeFileSync(join(dir, f), b);
  return dir;
}

/** A staged bundle's skeleton: onnxruntime-node's binding folder and one other file. */
function bundleDir(name: string): string {
  const dir = join(tmp, name, "nexus-1.0.0");
  mkdirSync(join(dir, ortBinRel()), { recursive: true });
  writeFileSync(join(dir, ortBinRel(), "onnxruntime_binding.node"), elf("binding"));
  writeFileSync(join(dir, ortBinRel(), "libonnxruntime.so.1"), elf("ort"));
  writeFileSync(join(dir, "install.sh"), "#!/bin/sh\n");
  return dir;
}

beforeAll(() => {
  tmp = tempDir("nexus-gpu-libs-");
});
afterAll(() => removeDir(tmp));

describe("GPU libraries in the bundle", () => {
  it("puts the providers beside onnxruntime's binding, the rest in lib/gpu, all in the signed manifest", async () => {
    const src = libsDir("good");
    symlinkSync("libcudnn.so.9.1.0", join(src, "libcudnn.so.9"));
    const dir = bundleDir("b1");
    const staged = stageGpuLibs(src, dir);
    expect(staged.providers.sort()).toEqual(
      ["shared", "cuda", "tensorrt"].map((p) => join(ortBinRel(), `libonnxruntime_providers_${p}.so`)).sort(),
    );
    expect(staged.runtime).toEqual(
      ["libcublasLt.so.12", "libcudnn.so.9", "libcudnn.so.9.1.0"].map((f) => join(GPU_LIB_DIR, f)),
    );
    // A link in the source folder becomes a plain file of the same bytes.
    expect(readFileSync(join(dir, GPU_LIB_DIR, "libcudnn.so.9")).equals(elf("cudnn"))).toBe(true);
    const key = generateKeyPairSync("ed25519");
    await signStaged(dir, "1.0.0", key.privateKey);
    const files = readManifest(dir).files;
    expect(files.get(`./${ortBinRel()}/libonnxruntime_providers_cuda.so`)).toBe(sha(elf("cuda")));
    expect(files.get(`./${GPU_LIB_DIR}/libcublasLt.so.12`)).toBe(sha(elf("cublas")));
    expect((await verifyBundle(dir, [key.publicKey])).ok).toBe(true);
    // A library changed after signing is caught like any bundle file.
    writeFileSync(join(dir, GPU_LIB_DIR, "libcublasLt.so.12"), elf("evil"));
    expect((await verifyBundle(dir, [key.publicKey])).ok).toBe(false);
  });

  it.each([
    ["a missing folder", () => join(tmp, "nowhere"), /no such directory/],
    ["a file instead of a folder", () => join(libsDir("file-src"), "libcudnn.so.9.1.0"), /no such directory/],
    [
      "a non-.so file",
      () => libsDir("readme", { "README.txt": Buffer.from("hi") }),
      /README.txt is not a shared/,
    ],
    [
      "a script named .so",
      () => libsDir("script", { "libevil.so": Buffer.from("#!/bin/sh\n") }),
      /not an ELF/,
    ],
    ["a traversal-looking name", () => libsDir("dots", { "..so": elf("x") }), /not a shared library/],
  ])("refuses %s", (_what, src, why) => {
    const dir = bundleDir(`refused-${Math.random().toString(36).slice(2)}`);
    expect(() => stageGpuLibs(src(), dir)).toThrow(why);
  });

  it("refuses a folder without the providers, and a bundle whose node_modules is not staged", () => {
    const noShared = join(tmp, "no-shared");
    mkdirSync(noShared);
    writeFileSync(join(noShared, "libonnxruntime_providers_cuda.so"), elf("cuda"));
    expect(() => stageGpuLibs(noShared, bundleDir("n1"))).toThrow(/providers_shared.so is missing/);
    const noGpu = join(tmp, "no-gpu");
    mkdirSync(noGpu);
    writeFileSync(join(noGpu, "libonnxruntime_providers_shared.so"), elf("shared"));
    expect(() => stageGpuLibs(noGpu, bundleDir("n2"))).toThrow(/neither/);
    const empty = join(tmp, "empty-bundle");
    mkdirSync(empty);
    expect(() => stageGpuLibs(libsDir("ok2"), empty)).toThrow(/stage node_modules first/);
  });

  it("the launcher puts lib/gpu on LD_LIBRARY_PATH; doctor reports the libraries", () => {
    const dir = bundleDir("launch");
    stageGpuLibs(libsDir("ok3"), dir);
    copyFileSync(join(ROOT, "installer/bundle/launcher.sh"), join(dir, "nexus"));
    chmodSync(join(dir, "nexus"), 0o755);
    mkdirSync(join(dir, "node/bin"), { recursive: true });
    // A stand-in for the bundled Node: prints the loader path it was started with.
    writeFileSync(join(dir, "node/bin/node"), '#!/bin/sh\nprintf %s "$LD_LIBRARY_PATH"\n');
    chmodSync(join(dir, "node/bin/node"), 0o755);
    const env = {
      PATH: process.env.PATH,
      LD_LIBRARY_PATH: "/usr/local/cuda/lib64",
      NEXUS_ENV_FILE: "/nonexistent",
    };
    const out = execFileSync(join(dir, "nexus"), ["version"], { env, encoding: "utf8" });
    expect(out).toBe(`${join(dir, "lib/gpu")}:/usr/local/cuda/lib64`);
    expect(gpuLibsCheck(join(dir, "app"), true).detail).toMatch(/not run from a bundle/);
    writeFileSync(join(dir, "manifest"), "version 1.0.0\n"); // what makes it a bundle
    const check = gpuLibsCheck(join(dir, "app"), true);
    expect(check).toMatchObject({ level: "ok" });
    expect(check.detail).toMatch(/2 in the bundle .*libcublasLt\.so\.12/);
    const none = bundleDir("b-none");
    writeFileSync(join(none, "manifest"), "version 1.0.0\n");
    expect(gpuLibsCheck(join(none, "app"), true).level).toBe("warn");
    expect(gpuLibsCheck(join(none, "app"), false).level).toBe("ok");
  });
});
