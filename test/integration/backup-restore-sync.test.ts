/**
 * Restoring an enrolled box onto fresh hardware (same site), against a real hub process: the hub ends with
 * every change exactly once (its `received` count) and none missing, both for a backup holding changes the
 * hub never got (taken while the hub was down, restored while it is still down) and for a backup OLDER than
 * the hub's last acknowledgement (the restored box starts a new sync epoch: its new changes get seqs past the
 * hub's watermark, so the hub's acks prune them). Then the hub as a backup destination with its per-site
 * quota exceeded: the box's backup fails with "destination full" (507), the earlier backup stays valid.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubDestinationFor } from "../../appliance/backup/destination-hub.js";
import {
  BackupDestinationFullError,
  createBackup,
  folderDestination,
  listBackups,
  restoreBackup,
  verifyBackup,
} from "../../appliance/backup/index.js";
import { knownMigrations } from "../../appliance/backup/schema.js";
import { EPOCH_GAP, OFFLINE_GAP } from "../../appliance/backup/sync-epoch.js";
import { outboxMigrations } from "../../appliance/kit/outbox.js";
import { pluginMigrations } from "../../appliance/kit/plugin.js";
import { syncPlugin } from "../../appliance/sync/plugin.js";
import { notes } from "../fixtures/notes.js";
import { removeDir, startTestAppliance, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { enrolledBox, type HubProcess, hubProcess, outboxRows, putNote, teardown } from "../helpers/hub.js";

const SITE = "site-r";
const key = { passphrase: "restore sync passphrase" };
const QUOTA = 250_000;
let hub: HubProcess;
let box: TestAppliance | undefined;
let backupsDir: string;

beforeAll(async () => {
  process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR = "10";
  hub = await hubProcess({ env: { NEXUS_HUB_BACKUP_QUOTA_BYTES: String(QUOTA) } });
  await hub.start();
  backupsDir = tempDir("nexus-restore-sync-dest-");
  box = await enrolledBox(hub, SITE, ["notes"]);
}, 120_000);

afterAll(async () => {
  await teardown([box], hub);
  removeDir(backupsDir);
});

interface Site {
  id: string;
  received: number;
  watermarks: { service: string; seq: number }[];
}
async function site(): Promise<Site> {
  const r = await hub.api<{ sites: Site[] }>("GET", "/api/hub/sites");
  const s = r.body.sites.find((x) => x.id === SITE);
  if (!s) throw new Error(`the hub does not list ${SITE}`);
  return s;
}
async function hubKeys(): Promise<Set<string>> {
  const r = await hub.api<{ records: { key: string; site: string }[] }>("GET", "/api/hub/records/notes");
  return new Set(r.body.records.filter((x) => x.site === SITE).map((x) => x.key));
}
/** Waits until the hub holds every key and the box's outbox is empty (the hub acknowledged everything). */
async function synced(b: TestAppliance, keys: string[], label: string): Promise<void> {
  await waitFor(
    async () => {
      const have = await hubKeys();
      return keys.every((k) => have.has(k)) && (await outboxRows(b)) === 0;
    },
    30_000,
    label,
  );
}
async function putAll(b: TestAppliance, keys: string[]): Promise<void> {
  for (const k of keys) await putNote(b, k, `text of ${k}`);
}
/** Stops the box, wipes its data dir, restores `id` onto a fresh one and starts a box there. */
async function replaceBox(id: string, beforeStart?: () => Promise<void>) {
  await box!.stop();
  removeDir(box!.dataDir);
  box = undefined;
  const fresh = tempDir("nexus-restored-");
  const r = await restoreBackup({
    dataDir: fresh,
    destination: folderDestination(backupsDir),
    id,
    key,
    knownMigrations: notesMigrations,
  });
  await beforeStart?.();
  box = await startTestAppliance({ services: ["notes"], dataDir: fresh });
  return r;
}
/** The notes fixture is no registered service: the migrations a box running it knows. */
async function notesMigrations(service: string): Promise<Set<string> | null> {
  if (service !== "notes") return knownMigrations(service);
  const ids = [...outboxMigrations, ...pluginMigrations([syncPlugin]), ...notes.migrations].map((m) => m.id);
  return new Set(ids);
}
const keys = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i + 1}`);

describe("restore onto a fresh box enrolled as the same site", () => {
  it("a backup with changes the hub never got: the hub gets each exactly once, none missing", async () => {
    await putAll(box!, keys("n", 5));
    await synced(box!, keys("n", 5), "the first notes to reach the hub");
    expect((await site()).received).toBe(5);

    await hub.stop();
    await putAll(box!, keys("u", 3));
    expect(await outboxRows(box!)).toBe(3);
    const b1 = await createBackup({
      dataDir: box!.dataDir,
      destination: folderDestination(backupsDir),
      key,
    });
    // The box dies with its unsynced changes; the hub is still down while the new box is restored.
    const r = await replaceBox(b1.id, () => hub.start());
    const epoch = r.syncEpochs?.find((e) => e.service === "notes");
    expect(epoch).toMatchObject({ hubWatermark: null, backupSeq: expect.any(Number) });
    expect(epoch!.nextSeq).toBe(epoch!.backupSeq + OFFLINE_GAP + 1);

    const all = [...keys("n", 5), ...keys("u", 3)];
    await synced(box!, all, "the restored box's unsynced notes to reach the hub");
    expect([...(await hubKeys())].sort()).toEqual(all.sort());
    expect((await site()).received).toBe(8);
  });

  it("a backup older than the hub's last acknowledgement: new changes get fresh seqs and are acknowledged", async () => {
    const b2 = await createBackup({
      dataDir: box!.dataDir,
      destination: folderDestination(backupsDir),
      key,
    });
    await putAll(box!, keys("v", 3));
    await synced(box!, keys("v", 3), "changes after the backup to reach the hub");
    const before = await site();
    expect(before.received).toBe(11);
    const hubSeq = before.watermarks.find((w) => w.service === "notes")!.seq;

    const r = await replaceBox(b2.id);
    const epoch = r.syncEpochs?.find((e) => e.service === "notes");
    // The hub acknowledged seqs past the backup's: the restored box starts past them.
    expect(epoch!.hubWatermark).toBe(hubSeq);
    expect(epoch!.backupSeq).toBeLessThan(hubSeq);
    expect(epoch!.nextSeq).toBe(hubSeq + EPOCH_GAP + 1);

    // Two changes: with the old seq numbering they would be seqs the hub already acknowledged, its acks
    // ("seq never issued") would be ignored and the outbox would never empty.
    await putAll(box!, keys("w", 2));
    await synced(box!, keys("w", 2), "the restored box's new notes to be acknowledged");
    const after = await site();
    expect(after.received).toBe(13);
    expect(after.watermarks.find((w) => w.service === "notes")!.seq).toBe(epoch!.nextSeq + 1);
    const all = [...keys("n", 5), ...keys("u", 3), ...keys("v", 3), ...keys("w", 2)];
    expect([...(await hubKeys())].sort()).toEqual(all.sort());
  });
});

describe("the hub as destination when its store is full", () => {
  it("fails the backup with 'destination full' and leaves the earlier backup valid", async () => {
    const dest = hubDestinationFor(box!.dataDir, { bytesPerSecond: 0 });
    const first = await createBackup({ dataDir: box!.dataDir, destination: dest, key });
    expect(first.sizeBytes).toBeLessThan(QUOTA / 2);
    // Two big notes: a second backup no longer fits in what the quota leaves.
    await putNote(box!, "big-1", "x".repeat(150_000));
    await putNote(box!, "big-2", "y".repeat(150_000));
    const err = await createBackup({ dataDir: box!.dataDir, destination: dest, key }).catch((e) => e);
    expect(err).toBeInstanceOf(BackupDestinationFullError);
    expect((err as Error).message).toMatch(/full/);
    expect((await listBackups(dest)).map((b) => b.id)).toEqual([first.id]);
    expect(await verifyBackup({ destination: dest, id: first.id, key })).toEqual({ ok: true });
    // Nothing of the failed backup stays on the hub.
    expect((await dest.list("snapshots/")).every((k) => k.startsWith(`snapshots/${first.id}/`))).toBe(true);
  });
});
