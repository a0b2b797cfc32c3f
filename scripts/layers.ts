/**
 * The import-direction check of `npm run lint`: dependency-cruiser with `.dependency-cruiser.cjs` over
 * appliance/ and services/. It calls dependency-cruiser's API because its CLI refuses Node 20 (version 18
 * declares node >= 22 but runs here); on Node 22 `npx depcruise appliance services` checks the same.
 *   node --import tsx scripts/layers.ts [folder …]   exit 1 on any violation
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { cruise, format, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const ROOT = resolve(import.meta.dirname, "..");

/** Cruises `folders` under `baseDir` with the repo's rules; returns the violations and the report. */
export async function checkLayers(
  folders: string[],
  baseDir = ROOT,
): Promise<{ violations: IViolation[]; report: string }> {
  const options = await extractDepcruiseOptions(resolve(ROOT, ".dependency-cruiser.cjs"));
  const tsConfig = extractTSConfig(resolve(ROOT, "tsconfig.json"));
  const result = await cruise(folders, { ...options, baseDir }, undefined, { tsConfig });
  if (typeof result.output === "string")
    throw new Error("dependency-cruiser returned a report, not a result");
  const report = await format(result.output, { outputType: "err" });
  return { violations: result.output.summary.violations, report: String(report.output) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const folders = process.argv.slice(2);
  const { violations, report } = await checkLayers(folders.length ? folders : ["appliance", "services"]);
  process.stdout.write(report);
  process.exitCode = violations.length ? 1 : 0;
}
