/**
 * The box's side of hub-offered bundles (the hub's is appliance/hub/bundle-routes.ts), over the link
 * `nexus enroll` stored (site credentials, HTTP Basic): which bundle the hub offers this site, downloading it
 * (its size and sha256 checked against the offer before anything else looks at it; the upgrade then verifies
 * its signature and checksums as for any bundle), and reporting how the upgrade ended.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
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

async function call(link: Link, path: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<Response> {
  const auth = `Basic ${Buffer.from(`${link.user}:${link.password}`).toString("base64")}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, link.hubUrl), {
      ...init,
      headers: { authorization: auth, ...(init.body ? { "content-type": "application/json" } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new Error(`cannot reach the hub at ${link.hubUrl}: ${(err as Error).message}`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { message?: string } | null;
    throw new Error(`the hub answered ${res.status}: ${body?.message ?? res.statusText}`);
  }
  return res;
}

/** The bundle the hub offers this site now, or null. */
export async function hubOffer(link: Link, timeoutMs?: number): Promise<HubOffer | null> {
  const res = await call(link, "/api/hub/bundles/offer", {}, timeoutMs);
  return ((await res.json()) as { offer: HubOffer | null }).offer;
}

/** Downloads the offered bundle to `file`; throws (and leaves no file) when its size or sha256 differ. */
export async function downloadOffer(
  link: Link,
  offer: HubOffer,
  file: string,
  onBytes?: (n: number) => void,
): Promise<void> {
  const res = await call(link, `/api/hub/bundles/${encodeURIComponent(offer.version)}/file`, {}, 30 * 60_000);
  if (!res.body) throw new Error("the hub sent no bundle");
  const hash = createHash("sha256");
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > offer.size) return done(new Error(`the hub sent more than the offered ${offer.size} bytes`));
      hash.update(chunk);
      onBytes?.(size);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as never), count, createWriteStream(file, { mode: 0o600 }));
    const sha = hash.digest("hex");
    if (size !== offer.size || sha !== offer.sha256)
      throw new Error(`the downloaded bundle does not match the offer (${size} bytes, sha256 ${sha})`);
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
}

/** Tells the hub how the upgrade to an offered version ended (the rollout goes on or halts on it). */
export async function reportToHub(link: Link, report: HubReport): Promise<void> {
  await call(link, "/api/hub/bundles/report", { method: "POST", body: JSON.stringify(report) });
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
