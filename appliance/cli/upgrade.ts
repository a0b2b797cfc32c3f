/** `nexus upgrade`: install or upgrade from a signed bundle, health-gated with automatic rollback; `--resume`. */
import { createPublicKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { upgradeSnapshots } from "../backup/index.js";
import { directControl, systemdControl } from "../upgrade/control.js";
import { reportOutcomeToHub } from "../upgrade/from-hub.js";
import {
  installedDataDir,
  installedRoot,
  installLayout,
  type Layout,
  readEnvFile,
} from "../upgrade/layout.js";
import type { Step } from "../upgrade/marker.js";
import { openBundle } from "../upgrade/open-bundle.js";
import {
  checkBundle,
  resume,
  type UpgradeDeps,
  UpgradeRefused,
  type UpgradeResult,
  upgrade,
} from "../upgrade/upgrade.js";

export interface UpgradeCliOptions {
  root?: string;
  systemd?: boolean;
  trustKey?: string;
  allowDowngrade?: boolean;
  checkOnly?: boolean;
  /** With --check-only: skip the per-file checksums (install.sh's own sha256sum pass has just done them). */
  signatureOnly?: boolean;
  resume?: boolean;
  start?: boolean;
}

/** The upgrader's parts for an installed layout (health window and settle period from nexus.env). */
export function upgradeDeps(l: Layout, o: UpgradeCliOptions): UpgradeDeps {
  const env = readEnvFile(l.envFile);
  const live = l.root === "/" && existsSync("/run/systemd/system");
  const seconds = (v: string | undefined, d: number) => (v && Number(v) > 0 ? Number(v) : d) * 1000;
  return {
    layout: l,
    control: o.systemd !== false && live ? systemdControl() : directControl(l),
    snapshots: upgradeSnapshots,
    gate: {
      windowMs: seconds(env.NEXUS_UPGRADE_HEALTH_WINDOW_S, 120),
      settleMs: seconds(env.NEXUS_UPGRADE_SETTLE_S, 10),
    },
    log: (line) => console.log(line),
    crashAt: process.env.NEXUS_UPGRADE_TEST_CRASH_AT as Step | undefined,
  };
}

/** Prints where the console is and how to log in the first time (from the supervisor's output). */
function printWelcome(l: Layout): void {
  const env = readEnvFile(l.envFile);
  const host = !env.NEXUS_HOST || env.NEXUS_HOST === "0.0.0.0" ? "<this box's address>" : env.NEXUS_HOST;
  console.log(`  Console:  http://${host}:${env.NEXUS_PORT ?? "8080"}/`);
  const out = join(l.logDir, "nexus.out");
  const lines = existsSync(out) ? readFileSync(out, "utf8").split("\n") : [];
  const at = lines.findLastIndex((x) => x.includes("First login") || x.includes("Log in with"));
  if (at >= 0)
    for (const x of lines.slice(at, at + 3))
      if (x.trim()) console.log(x);
      else
        console.log(
          "  First login: see `journalctl -u nexus` for the one-time link, or `nexus admin create`.",
        );
}

/** The command. Exit codes: 0 done, 1 refused or failed, 2 rolled back. */
export async function upgradeCommand(bundle: string | undefined, o: UpgradeCliOptions): Promise<void> {
  const l = installLayout(o.root ?? installedRoot() ?? "/");
  const d = upgradeDeps(l, o);
  if (o.resume) {
    const r = await resume(d, o.start !== false);
    console.log(
      r
        ? `Upgrade ${r.from} → ${r.to}: ${r.outcome}${r.reason ? ` (${r.reason})` : ""}`
        : "No unfinished upgrade.",
    );
    // A box enrolled with a hub tells it how the interrupted upgrade ended (a hub-offered one halts on it).
    if (r)
      await reportOutcomeToHub(installedDataDir(l), r).catch((e: Error) =>
        console.error(`Not reported to the hub: ${e.message}`),
      );
    return;
  }
  if (!bundle) throw new Error("which bundle? nexus upgrade <bundle.tar.gz | folder> (or --from-hub)");
  await applyBundle(bundle, l, d, o);
}

/** Verifies and installs one bundle (or only checks it), printing the result; null for --check-only. */
export async function applyBundle(
  bundle: string,
  l: Layout,
  d: UpgradeDeps,
  o: UpgradeCliOptions,
): Promise<UpgradeResult | null> {
  const trustKeys = o.trustKey ? [createPublicKey(readFileSync(o.trustKey, "utf8"))] : undefined;
  const { dir, cleanup, owned } = openBundle(bundle, l);
  try {
    if (o.checkOnly) {
      const c = await checkBundle(dir, l, {
        trustKeys,
        allowDowngrade: o.allowDowngrade,
        signatureOnly: o.signatureOnly,
      }).catch((e) => {
        if (e instanceof UpgradeRefused) {
          console.error(e.message);
          process.exit(1);
        }
        throw e;
      });
      console.log(`Bundle ${c.to} may be installed (installed: ${c.installed ?? "none"}).`);
      return null;
    }
    const r = await upgrade(dir, d, { trustKeys, allowDowngrade: o.allowDowngrade, movable: owned });
    if (r.result === "refused" || r.result === "failed") {
      console.error(r.reason);
      process.exitCode = 1;
    } else if (r.result === "rolled-back") {
      console.error(`Rolled back to ${r.version} in ${r.seconds.toFixed(1)} s: ${r.reason}`);
      process.exitCode = 2;
    } else {
      console.log(`Nexus Edge ${r.version}: ${r.result} (${r.seconds.toFixed(1)} s).`);
      printWelcome(l);
    }
    return r;
  } finally {
    cleanup();
  }
}
