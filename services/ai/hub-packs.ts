/**
 * Model packs the hub assigns to this box (the hub's side is appliance/hub/pack-routes.ts), over the link
 * `nexus enroll` stored (site credentials, HTTP Basic). Every `hubPollMs` the box asks for its offers; each
 * assigned pack it does not have at that version is downloaded into staging (size and sha256 checked against
 * the offer while it arrives) and installed through installPack, the path a local install takes: the same
 * manifest, checksum and signature checks, so an unsigned or tampered pack is refused unless the box allows
 * unsigned packs. The outcome goes back to the hub. A pack the hub says failed here is not tried again until it
 * is assigned again; a download that fails (link down, hub restarting) is simply tried at the next poll, so
 * offers wait out the time the box is offline. An unassigned pack is removed only when its assignment said so
 * (`removeOnUnassign`), and never when it is pinned or built in.
 */
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { downloadVerified, linkFetch } from "../../appliance/lib/verified-download.js";
import { type HubLink, readHubLink } from "../../appliance/sync/hub-link.js";
import { type Ctx, getModel, installPack, removeModel } from "./models.js";
import type { AiState, HubPacksStatus } from "./state.js";

interface Offer {
  name: string;
  version: string;
  sha256: string;
  size: number;
  reported: "installed" | "failed" | "removed" | null;
}
interface Offers {
  install: Offer[];
  remove: { name: string; version: string }[];
}
type Outcome = "installed" | "failed" | "removed";

/** The box's hub credentials, or null before enrolment (ctx.dataDir is `<data>/services/ai`). */
export const hubLinkOf = (ctx: Ctx): HubLink | null => readHubLink(resolve(ctx.dataDir, "..", ".."));

/** Downloads an offered pack to `file`; throws (leaving no file) when its size or sha256 differ from the offer. */
export async function downloadPack(link: HubLink, offer: Offer, file: string): Promise<void> {
  const path = `/api/hub/models/${encodeURIComponent(offer.name)}/${encodeURIComponent(offer.version)}/file`;
  await downloadVerified(await linkFetch(link, path, {}, 30 * 60_000), file, offer, "pack");
}

const report = (link: HubLink, name: string, version: string, outcome: Outcome, reason?: string) =>
  linkFetch(link, "/api/hub/models/report", {
    method: "POST",
    body: JSON.stringify({ name, version, outcome, ...(reason ? { reason: reason.slice(0, 2000) } : {}) }),
  });

/** Installs one offer (or only reports it, when the box has that version already); returns the outcome. */
async function takeOffer(ctx: Ctx, ai: AiState, link: HubLink, o: Offer): Promise<Outcome | null> {
  if (getModel(ctx, o.name)?.version === o.version) {
    if (o.reported !== "installed") await report(link, o.name, o.version, "installed");
    return null;
  }
  if (o.reported === "failed") return null; // until the hub assigns it again
  const file = resolve(ai.stagingDir, `${randomUUID()}.pack`);
  await downloadPack(link, o, file); // a failure here is the link's: tried again at the next poll
  try {
    const m = await installPack(ctx, ai, file);
    ai.pool.unload(m.name);
    // The hub checks this on upload; a box that got something else says so rather than asking forever.
    if (m.name !== o.name || m.version !== o.version)
      throw new Error(`the pack holds ${m.name} ${m.version}, not the offered ${o.name} ${o.version}`);
  } catch (err) {
    const reason = (err as Error).message;
    ctx.log.warn({ model: o.name, version: o.version, reason }, "a model pack from the hub was refused");
    await report(link, o.name, o.version, "failed", reason);
    return "failed";
  } finally {
    await rm(file, { force: true });
  }
  ctx.log.info({ model: o.name, version: o.version }, "model pack from the hub installed");
  await report(link, o.name, o.version, "installed");
  return "installed";
}

/** Removes a pack the hub unassigned with `removeOnUnassign` (only that version, never pinned or built in). */
async function takeRemoval(ctx: Ctx, ai: AiState, link: HubLink, r: { name: string; version: string }) {
  const m = getModel(ctx, r.name);
  if (m?.version === r.version && !m.pinned && !m.builtin) {
    await removeModel(ctx, ai, r.name);
    ai.pool.unload(r.name);
    ctx.log.info({ model: r.name, version: r.version }, "model pack removed: unassigned on the hub");
  }
  await report(link, r.name, r.version, "removed");
}

/** One round: asks the hub for this site's offers and acts on each; returns what it did, by model. */
export async function syncHubPacks(ctx: Ctx, ai: AiState, link: HubLink): Promise<Record<string, Outcome>> {
  const offers = (await (await linkFetch(link, "/api/hub/models/offers")).json()) as Offers;
  const done: Record<string, Outcome> = {};
  for (const o of offers.install) {
    const outcome = await takeOffer(ctx, ai, link, o);
    if (outcome) done[o.name] = outcome;
  }
  for (const r of offers.remove) {
    await takeRemoval(ctx, ai, link, r);
    done[r.name] = "removed";
  }
  return done;
}

/** Polls the hub every `hubPollMs` while the service runs (one round at a time; timer unref'd). */
export function startHubPacks(ctx: Ctx, ai: AiState, link: HubLink): () => void {
  let busy = false;
  const status: HubPacksStatus = { lastPollAt: null, lastError: null, done: {} };
  ai.hubPacks = status;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      Object.assign(status.done, await syncHubPacks(ctx, ai, link));
      status.lastError = null;
    } catch (err) {
      status.lastError = (err as Error).message;
      ctx.log.warn({ err: status.lastError }, "model packs from the hub: will try again");
    } finally {
      status.lastPollAt = new Date().toISOString();
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), ctx.config.hubPollMs);
  timer.unref();
  void tick();
  return () => clearInterval(timer);
}
