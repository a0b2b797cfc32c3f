/**
 * Benchmark dispatcher: `npm run bench -- <name>` with name gateway | auth | startup | footprint | console | files | forms | media | sync | sync-phases | sync-linkup | fleet | backup | backup-remote | bundle | ai | hub-packs | all.
 * Results are `name: value` lines on stdout; progress goes to stderr. Not tests (vitest only picks *.test.ts).
 * startup and footprint spawn the built CLI, so run `npm run build` first.
 */
import { execFileSync } from "node:child_process";
import { ROOT } from "../helpers/appliance.js";
import { aiBench } from "./ai.js";
import { authBench } from "./auth.js";
import { backupBench } from "./backup.js";
import { backupRemoteBench } from "./backup-remote.js";
import { bundleBench } from "./bundle.js";
import { consoleBench } from "./console.js";
import { filesBench } from "./files.js";
import { fleetBench } from "./fleet.js";
import { footprintBench } from "./footprint.js";
import { formsBench } from "./forms.js";
import { gatewayBench } from "./gateway.js";
import { hubPacksBench } from "./hub-packs.js";
import { mediaBench } from "./media.js";
import { startupBench } from "./startup.js";
import { syncBench } from "./sync.js";
import { syncLinkupBench } from "./sync-linkup.js";
import { syncPhasesBench } from "./sync-phases.js";
import { installExitHooks, metric, note, runCleanups } from "./util.js";

const BENCHES: Record<string, () => Promise<void>> = {
  gateway: gatewayBench,
  auth: authBench,
  startup: startupBench,
  footprint: footprintBench,
  console: consoleBench,
  files: filesBench,
  forms: formsBench,
  sync: syncBench,
  "sync-phases": syncPhasesBench,
  "sync-linkup": syncLinkupBench,
  fleet: fleetBench,
  backup: backupBench,
  "backup-remote": backupRemoteBench,
  bundle: bundleBench,
  ai: aiBench,
  media: mediaBench,
  "hub-packs": hubPacksBench,
};

/** The code measured: HEAD, plus "-dirty" when appliance/ or services/ have uncommitted changes. */
function codeVersion(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", args, { cwd: ROOT, encoding: "utf8", timeout: 5000 }).trim();
    const dirty = git("status", "--porcelain", "--", "appliance", "services") !== "";
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? "-dirty" : ""}`;
  } catch {
    return "unknown";
  }
}

async function main(): Promise<number> {
  const name = process.argv[2] ?? "";
  const names = name === "all" ? Object.keys(BENCHES) : [name];
  if (!names.every((n) => n in BENCHES)) {
    console.error(`usage: npm run bench -- <${[...Object.keys(BENCHES), "all"].join("|")}>`);
    console.error(`unknown benchmark: ${name || "(none)"}`);
    return 1;
  }
  installExitHooks();
  metric("code", codeVersion());
  try {
    for (const n of names) {
      note(`benchmark ${n}`);
      await BENCHES[n]!();
    }
    return 0;
  } catch (err) {
    console.error(`benchmark failed: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await runCleanups();
  }
}

process.exitCode = await main();
// Timers left by libraries (pino destinations, nats reconnects) must not keep a finished run alive.
setTimeout(() => process.exit(), 200).unref();
