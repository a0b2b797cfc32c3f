/** `nexus profile detect` and `nexus profile show`: which hardware profile fits this box, and what one holds. */
import { loadApplianceConfig } from "../config/load.js";
import { detectProfile } from "../profiles/detect.js";
import { loadProfile } from "../profiles/load.js";

/** Prints the detected profile and the reasons (or JSON); `root` is the filesystem to look at. */
export async function profileDetect(o: { root?: string; json?: boolean }): Promise<void> {
  const d = await detectProfile(o.root ?? "/");
  if (o.json) return console.log(JSON.stringify(d));
  console.log(`Profile: ${d.profile}`);
  for (const r of d.reasons) console.log(`  - ${r}`);
  console.log(`Use it with NEXUS_PROFILE=${d.profile} or "profile": "${d.profile}" in <data>/config.json.`);
}

/** Prints a profile (the named one, or the one the data dir's config selects). */
export function profileShow(dataDir: string | undefined, name: string | undefined, json: boolean): void {
  const profile = loadProfile(name ?? loadApplianceConfig({ dataDir }).profile);
  if (json) {
    console.log(JSON.stringify(profile));
    return;
  }
  console.log(`${profile.name}: ${profile.description}`);
  console.log(`  arch ${profile.arch}, GPU ${profile.gpu.vendor}, isolation ${profile.isolation}`);
  console.log(`  ONNX execution providers: ${profile.onnx.executionProviders.join(", ")}`);
  console.log(
    `  H.264 encoders: ${profile.ffmpeg.h264Encoders.join(", ")} (ffmpeg: ${profile.ffmpeg.source ?? "system"})`,
  );
  console.log(`  memory budget ${profile.memoryBudgetMb} MB, services ${profile.services.join(", ")}`);
}
