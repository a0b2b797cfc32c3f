import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { pack, restage } from "../../installer/bundle/build.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { buildTestBundle, InstalledBox, run } from "../helpers/installed.js";
import { metric, note, onCleanup, requireBuild, spawnUp } from "./util.js";

const secondsOf = async (fn: () => Promise<void>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

async function checkoutUp(): Promise<number> {
  const t0 = performance.now();
  const up = spawnUp();
  const unregister = onCleanup(() => up.stop());
  try {
    await up.waitOutput(/All (\d+) service\(s\) ready/, 120_000);
    return (performance.now() - t0) / 1000;
  } finally {
    await up.stop();
    unregister();
    removeDir(up.dataDir);
  }
}

export async function bundleBench(): Promise<void> {
  requireBuild();
  const tmp = tempDir("nexus-bench-bundle-");
  onCleanup(async () => removeDir(tmp));
  note("nexus up from the checkout (baseline)");
  const up = await checkoutUp();
  note("building the bundle");
  const t0 = performance.now();
  const { built, key, pubFile: pub } = await buildTestBundle(tmp);
  const buildS = (performance.now() - t0) / 1000;
  // The test helper packs with gzip -1; a release is packed with tar's default gzip level: that is the size.
  note("packing as a release (default gzip level)");
  const releaseBytes = pack(built.stageDir, join(tmp, "release.tar.gz"));
  const unpackedMb = Number(execFileSync("du", ["-sm", built.stageDir], { encoding: "utf8" }).split("\t")[0]);
  const files = Number(
    execFileSync("sh", ["-c", `find '${built.stageDir}' -type f | wc -l`], { encoding: "utf8" }),
  );
  const box = new InstalledBox(join(tmp, "root"));
  onCleanup(() => box.stop());
  await box.configure({
    NEXUS_PROFILE: "generic-x86_64",
    NEXUS_SERVICES: "identity,system,files",
    NEXUS_SUPERVISOR_BACKOFF_BASE_MS: "500",
    NEXUS_UPGRADE_HEALTH_WINDOW_S: "120",
  });
  note("install.sh → healthy");
  const stage = built.stageDir;
  const install = await secondsOf(async () => {
    const r = await run("sh", [
      join(stage, "install.sh"),
      "--root",
      box.root,
      "--no-systemd",
      "--trust-key",
      pub,
    ]);
    if (r.code !== 0) throw new Error(`install failed: ${r.out}`);
  });
  note("upgrade → committed");
  const v2 = join(tmp, "nexus-0.2.0");
  await restage(stage, v2, "0.2.0", key);
  const upgrade = await secondsOf(async () => {
    const r = await box.upgrade(v2);
    if (r.code !== 0) throw new Error(`upgrade failed: ${r.out}`);
  });
  note("upgrade to a crash-looping build → rolled back");
  const v3 = join(tmp, "nexus-0.3.0");
  await restage(stage, v3, "0.3.0", key, {
    "app/dist/services/system/index.js": (t) => `${t}\nsetTimeout(() => process.exit(3), 50);\n`,
  });
  const rollback = await secondsOf(async () => {
    const r = await box.upgrade(v3);
    if (r.code !== 2) throw new Error(`expected a rollback: ${r.out}`);
  });
  await box.stop();

  metric("bundle_mb", releaseBytes / 1e6, 1);
  metric("bundle_gzip1_mb", built.bytes / 1e6, 1);
  metric("bundle_unpacked_mb", unpackedMb, 0);
  metric("bundle_files", files, 0);
  metric("bundle_build_s", buildS, 1);
  metric("nexus_up_checkout_s", up, 2);
  metric("install_to_healthy_s", install, 2);
  metric("install_vs_up", install / up, 2);
  metric("upgrade_to_committed_s", upgrade, 2);
  metric("upgrade_vs_up", upgrade / up, 2);
  metric("rollback_s", rollback, 2);
  metric("rollback_vs_up", rollback / up, 2);
}
