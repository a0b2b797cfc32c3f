/** The bundle's deny list (installer/bundle/prune.ts): what it drops, and that run-time files survive it. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keptAtRuntime, pruned, pruneRules } from "../../installer/bundle/prune.js";

const ROOT = join(import.meta.dirname, "../..");

describe("bundle prune rules", () => {
  const linuxX64 = pruneRules("linux", "x64");
  it.each([
    ["node_modules/onnxruntime-node/bin/napi-v6/darwin/arm64/libonnxruntime.1.dylib", true],
    ["node_modules/onnxruntime-node/bin/napi-v6/darwin", true],
    ["node_modules/onnxruntime-node/bin/napi-v6/win32/x64/DirectML.dll", true],
    ["node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1", true],
    ["node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1", false],
    ["node_modules/onnxruntime-node/bin/napi-v6/linux/x64", false],
    ["node_modules/onnxruntime-node/bin/napi-v6/linux", false],
    ["node_modules/onnxruntime-web", true],
    ["node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.wasm", true],
    ["node_modules/exceljs/dist/exceljs.min.js", true],
    ["node_modules/exceljs/lib/exceljs.nodejs.js", false],
    ["node_modules/pino/lib/tools.js.map", true],
    ["node_modules/zod/v4/index.d.cts", true],
    ["node_modules/hono/README.md", true],
    ["node_modules/hono/LICENSE", false],
    ["node_modules/better-sqlite3/deps/sqlite3/sqlite3.c", true],
    ["node_modules/better-sqlite3/build/Release/better_sqlite3.node", false],
    ["node_modules/better-sqlite3/build/Release/obj.target/x.o", true],
  ])("%s dropped: %s", (path, dropped) => {
    expect(pruned(path, linuxX64) !== null).toBe(dropped);
  });

  it("keeps the other arch's onnxruntime binary on an arm64 build, and drops x64's", () => {
    const arm = pruneRules("linux", "arm64");
    expect(
      pruned("node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1", arm),
    ).toBeNull();
    expect(
      pruned("node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1", arm),
    ).not.toBeNull();
  });

  it("leaves the static ffmpeg builds out only when the profile uses the box's ffmpeg", () => {
    const f = "node_modules/@ffmpeg-installer/linux-x64/ffmpeg";
    const p = "node_modules/@ffprobe-installer/linux-x64/ffprobe";
    expect(pruned(f, pruneRules("linux", "x64", "bundled"))).toBeNull();
    expect(pruned(f, pruneRules("linux", "x64", "system"))).not.toBeNull();
    expect(pruned(p, pruneRules("linux", "x64", "system"))).not.toBeNull();
  });

  it.each([
    ["linux", "x64"],
    ["linux", "arm64"],
  ])("no rule drops a file the appliance needs at run time (%s/%s)", (platform, arch) => {
    const rules = pruneRules(platform, arch);
    for (const f of keptAtRuntime(platform, arch)) expect(pruned(f, rules), f).toBeNull();
  });

  it("the run-time files named exist in this checkout's node_modules", () => {
    for (const f of keptAtRuntime()) expect(existsSync(join(ROOT, f)), f).toBe(true);
  });
});
