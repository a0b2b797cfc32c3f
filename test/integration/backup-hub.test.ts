/**
 * The hub as a backup destination: a real hub process (PGlite), two sites enrolled with it, their backups
 * stored through the hub's API with each site's own credentials. The destination contract; keep-N per site;
 * one site cannot list, read or remove another's objects; bad credentials and hostile keys are refused; the
 * upload rate stays under the configured limit.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubDestination } from "../../appliance/backup/destination-hub.js";
import type { BackupDestination } from "../../appliance/backup/types.js";
import type { HubLink } from "../../appliance/sync/hub-link.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { makeBackupBox } from "../helpers/backup-box.js";
import { destinationContract, engineRoundTrip, readAll } from "../helpers/backup-destination.js";
import { enrolWith, type HubProcess, hubProcess } from "../helpers/hub.js";

let hub: HubProcess;
const dirs: string[] = [];
let linkA: HubLink;
let linkB: HubLink;
let a: BackupDestination;
let b: BackupDestination;
let boxDir: string;

async function enrolled(site: string): Promise<HubLink> {
  const dir = tempDir("nexus-backup-hub-");
  dirs.push(dir);
  await enrolWith(hub, dir, site);
  return JSON.parse(readFileSync(join(dir, "secrets", "hub.json"), "utf8")) as HubLink;
}

beforeAll(async () => {
  hub = await hubProcess({ env: { NEXUS_HUB_BACKUP_KEEP: "2" } });
  await hub.start();
  linkA = await enrolled("site-a");
  linkB = await enrolled("site-b");
  boxDir = tempDir("nexus-backup-hub-box-");
  dirs.push(boxDir);
  await makeBackupBox(boxDir, { blobs: 2, blobBytes: 40_000 });
  a = hubDestination(linkA, { bytesPerSecond: 0 });
  b = hubDestination(linkB, { bytesPerSecond: 0 });
}, 60_000);

afterAll(async () => {
  await hub?.stop();
  if (hub) removeDir(hub.dir);
  for (const d of dirs) removeDir(d);
});

describe("hub backup destination", () => {
  destinationContract(() => a, { bigBytes: 3 * 1024 * 1024 });
  engineRoundTrip(
    () => a,
    () => boxDir,
  );

  it("keeps the newest N complete backups per site and drops the older ones", async () => {
    for (const id of ["b1", "b2", "b3"]) {
      await a.put(`snapshots/${id}/parts/db`, Buffer.from(`db of ${id}`));
      await a.put(`snapshots/${id}/manifest.json`, Buffer.from(JSON.stringify({ id })));
    }
    await b.put("snapshots/b1/manifest.json", Buffer.from("{}"));
    const left = (await a.list("snapshots/")).sort();
    expect(left).toEqual([
      "snapshots/b2/manifest.json",
      "snapshots/b2/parts/db",
      "snapshots/b3/manifest.json",
      "snapshots/b3/parts/db",
    ]);
    const admin = await hub.api<{ keep: number; backups: { id: string }[] }>(
      "GET",
      "/api/hub/sites/site-a/backups",
    );
    expect(admin.body.keep).toBe(2);
    expect(admin.body.backups.map((x) => x.id)).toEqual(["b3", "b2"]);
    // Site b's own backup is not counted against site a's, nor dropped by it.
    expect(await b.has("snapshots/b1/manifest.json")).toBe(true);
  });

  it("shows a site only its own backups", async () => {
    await a.put("snapshots/mine/manifest.json", Buffer.from("secret of a"));
    expect(await b.list("")).toEqual(["snapshots/b1/manifest.json"]);
    expect(await b.has("snapshots/mine/manifest.json")).toBe(false);
    await expect(b.get("snapshots/mine/manifest.json")).rejects.toMatchObject({
      code: "BACKUP_PART_MISSING",
    });
    await b.remove("snapshots/mine/manifest.json");
    expect((await readAll(await a.get("snapshots/mine/manifest.json"))).toString()).toBe("secret of a");
    // Without the admin token the hub's per-site view is closed.
    const r = await fetch(`${hub.url()}/api/hub/sites/site-a/backups`, {
      headers: { authorization: `Basic ${Buffer.from(`site-b:${linkB.password}`).toString("base64")}` },
    });
    expect(r.status).toBe(401);
  });

  it("refuses wrong credentials and hostile keys", async () => {
    const wrong = hubDestination({ ...linkA, password: "not-it" }, { bytesPerSecond: 0 });
    await expect(wrong.list("")).rejects.toThrow(/401/);
    await expect(
      hubDestination({ ...linkA, user: "site-b" }, { bytesPerSecond: 0 }).list(""),
    ).rejects.toThrow(/401/);
    const auth = `Basic ${Buffer.from(`${linkA.user}:${linkA.password}`).toString("base64")}`;
    for (const path of [
      "/api/hub/backups/objects/..%2F..%2Fsecrets%2Fhub-admin.token",
      "/api/hub/backups/objects/snapshots/../x",
      "/api/hub/backups/objects/.hidden",
      `/api/hub/backups/objects/${"x/".repeat(20)}y`,
      "/api/hub/backups/objects?prefix=../",
    ]) {
      const r = await fetch(`${hub.url()}${path}`, { method: "GET", headers: { authorization: auth } });
      expect([400, 404], path).toContain(r.status);
      expect(((await r.json()) as { status: number }).status).toBe(r.status);
    }
  });

  it("keeps the upload rate under the configured limit", async () => {
    const rate = 256 * 1024;
    const slow = hubDestination(linkA, { bytesPerSecond: rate });
    const bytes = 768 * 1024;
    const started = performance.now();
    await slow.put("snapshots/rate/parts/x", Buffer.alloc(bytes, 7));
    const seconds = (performance.now() - started) / 1000;
    // The bucket starts with a 64 KiB burst: the rest cannot go faster than the rate (a hard floor, so this
    // cannot flake on a busy machine); the ceiling is loose.
    expect(seconds).toBeGreaterThanOrEqual((bytes - 64 * 1024) / rate - 0.05);
    expect(bytes / seconds).toBeLessThanOrEqual(rate * 1.15);
    expect(seconds).toBeLessThan(15);
    expect((await readAll(await a.get("snapshots/rate/parts/x"))).length).toBe(bytes);
  });
});
