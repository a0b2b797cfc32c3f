/**
 * `nexus upgrade --from-hub`: asks the hub which bundle it offers this site, downloads it over the enrolled
 * link (size and sha256 checked against the offer), upgrades from it like from any bundle (signature,
 * checksums, health gate, automatic rollback), and reports the result to the hub, whose staged rollout goes
 * on or halts on it.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { progressBar } from "../lib/format.js";
import { readHubLink } from "../sync/hub-link.js";
import { downloadOffer, type HubReport, hubOffer, reportToHub } from "../upgrade/from-hub.js";
import { currentVersion, installedDataDir, installedRoot, installLayout } from "../upgrade/layout.js";
import { applyBundle, type UpgradeCliOptions, upgradeDeps } from "./upgrade.js";

/** The command. Exit codes as `nexus upgrade`: 0 done (or nothing offered), 1 refused or failed, 2 rolled back. */
export async function upgradeFromHub(o: UpgradeCliOptions): Promise<void> {
  const l = installLayout(o.root ?? installedRoot() ?? "/");
  const link = readHubLink(installedDataDir(l));
  if (!link) throw new Error("this box is not enrolled with a hub (nexus enroll <hub-url> <token>)");
  const offer = await hubOffer(link);
  const installed = currentVersion(l);
  if (!offer) return console.log(`The hub offers no bundle to site ${link.site}.`);
  if (offer.version === installed) return console.log(`The hub offers ${offer.version}: already running.`);
  console.log(`The hub offers ${offer.version} (${(offer.size / 1e6).toFixed(1)} MB); downloading.`);
  mkdirSync(join(l.opt, ".incoming"), { recursive: true });
  const file = join(l.opt, ".incoming", `hub-${offer.version}.tar.gz`);
  let shown = 0;
  await downloadOffer(link, offer, file, (n) => {
    if (!process.stdout.isTTY || n - shown < offer.size / 50) return;
    shown = n;
    process.stdout.write(`\r  ${progressBar(n, offer.size, "bytes")}`);
  });
  if (shown) process.stdout.write("\n");
  const r = await applyBundle(file, l, upgradeDeps(l, o), { ...o, checkOnly: false }).finally(() =>
    rmSync(file, { force: true }),
  );
  if (!r) return;
  const running = currentVersion(l) ?? undefined;
  const report: HubReport =
    r.result === "rolled-back"
      ? { version: offer.version, outcome: "rolled-back", reason: r.reason, running }
      : r.result === "refused" || r.result === "failed"
        ? { version: offer.version, outcome: r.result, reason: r.reason, running }
        : { version: offer.version, outcome: "committed", running };
  await reportToHub(link, report).catch((e: Error) =>
    console.error(`The result was not reported to the hub: ${e.message}`),
  );
  console.log(`Reported to the hub: ${report.outcome}.`);
}

/** The bundle the hub offers this box (null: none, not enrolled, or the hub not reachable within 3 s). */
export async function offeredBundle(dataDir: string) {
  const link = readHubLink(dataDir);
  return link ? hubOffer(link, 3000).catch(() => null) : null;
}
