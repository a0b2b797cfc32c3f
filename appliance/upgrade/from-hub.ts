/**
 * The box's side of hub-offered bundles (the hub's is appliance/hub/bundle-routes.ts), over the link
 * `nexus enroll` stored (site credentials, HTTP Basic): which bundle the hub offers this site, downloading it
 * (its size and sha256 checked against the offer before anything else looks at it; the upgrade then verifies
 * its signature and checksums as for any bundle), and reporting how the upgrade ended.
 */
import { downloadVerified, linkFetch } from "../lib/verified-download.js";
import { type HubLink, readHubLink } from "../sync/hub-link.js";
import type { UpgradeOutcome } from "./marker.js";

export interface HubOffer {
  version: string;
  sha256: string;
  size: number;
  buildTime: string;
}

export interface HubReport {
  version: string;
  outcome: "committed" | "rolled-back" | "refused" | "failed";
  reason?: string;
  /** The version the box runs after it. */
  running?: string;
}

type Link = Pick<HubLink, "hubUrl" | "user" | "password">;

/** The bundle the hub offers this site now, or null. */
export async function hubOffer(link: Link, timeoutMs?: number): Promise<HubOffer | null> {
  const res = await linkFetch(link, "/api/hub/bundles/offer", {}, timeoutMs);
  return ((await res.json()) as { offer: HubOffer | null }).offer;
}

/** Downloads the offered bundle to `file`; throws (and leaves no file) when its size or sha256 differ. */
export async function downloadOffer(
  link: Link,
  offer: HubOffer,
  file: string,
  onBytes?: (n: number) => void,
): Promise<void> {
  const res = await linkFetch(
    link,
    `/api/hub/bundles/${encodeURIComponent(offer.version)}/file`,
    {},
    30 * 60_000,
  );
  await downloadVerified(res, file, offer, "bundle", onBytes);
}

/** Tells the hub how the upgrade to an offered version ended (the rollout goes on or halts on it). */
export async function reportToHub(link: Link, report: HubReport): Promise<void> {
  await linkFetch(link, "/api/hub/bundles/report", { method: "POST", body: JSON.stringify(report) });
}

/** Reports a finished upgrade's outcome when the box is enrolled (no hub: nothing to do). */
export async function reportOutcomeToHub(dataDir: string, o: UpgradeOutcome): Promise<void> {
  const link = readHubLink(dataDir);
  if (!link) return;
  const outcome = o.outcome === "committed" ? "committed" : "rolled-back";
  await reportToHub(link, {
    version: o.to,
    outcome,
    reason: o.reason,
    running: outcome === "committed" ? o.to : o.from,
  });
}
