/**
 * The hub's record of the boxes' backups (appliance/hub/site-backups.ts) on a real PostgreSQL (the hub test
 * of the destination runs it on PGlite): keys per site, keep-N, content no longer referenced, concurrent
 * writes of one key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HubDb, openHubDb } from "../../appliance/hub/db.js";
import { migrateHub } from "../../appliance/hub/migrations.js";
import * as sb from "../../appliance/hub/site-backups.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

let pg: TestPostgres;
let db: HubDb;
const obj = (n: number) => ({ sha256: n.toString(16).padStart(64, "0"), size: n });

beforeAll(async () => {
  pg = await startPostgres();
  db = await openHubDb({ kind: "postgres", url: await pg.createDatabase("site_backups") });
  await migrateHub(db);
}, 60_000);

afterAll(async () => {
  await db?.close();
  await pg?.stop();
});

describe("site backups on PostgreSQL", () => {
  it("keeps keys per site, the newest N backups, and says which content is free", async () => {
    for (const [i, id] of ["b1", "b2", "b3"].entries()) {
      await sb.recordObject(db, "a", `snapshots/${id}/parts/0001.age`, obj(10 + i));
      await sb.recordObject(db, "a", `snapshots/${id}/manifest.json`, obj(20 + i));
    }
    await sb.recordObject(db, "a", "blobs/ff", obj(99));
    await sb.recordObject(db, "b", "snapshots/b1/manifest.json", obj(20));
    const { removed, freed } = await sb.keepNewest(db, "a", 2);
    expect(removed).toEqual(["b1"]);
    expect(freed.sort()).toEqual([obj(10).sha256, obj(20).sha256]);
    // Site b still points at content 20: only 10 is free.
    expect(await sb.unreferenced(db, freed)).toEqual([obj(10).sha256]);
    expect(await sb.listObjects(db, "a", "snapshots/b1/")).toEqual([]);
    expect(await sb.listObjects(db, "b", "")).toEqual(["snapshots/b1/manifest.json"]);
    expect(await sb.objectOf(db, "b", "blobs/ff")).toBeNull();
    const held = await sb.siteBackups(db, "a");
    expect(held.map((h) => [h.id, h.objects, h.snapshotBytes])).toEqual([
      ["b3", 2, 12 + 22],
      ["b2", 2, 11 + 21],
    ]);
    expect(await sb.removeObject(db, "a", "snapshots/b3/manifest.json")).toEqual([obj(22).sha256]);
    expect((await sb.siteBackups(db, "a")).map((h) => h.id)).toEqual(["b2"]);
  });

  it("one row per key under concurrent writes; a replaced key frees its old content", async () => {
    const writes = Array.from({ length: 8 }, (_, i) =>
      sb.recordObject(db, "c", "snapshots/x/manifest.json", obj(100 + i)),
    );
    await Promise.all(writes);
    expect(await sb.listObjects(db, "c", "snapshots/")).toEqual(["snapshots/x/manifest.json"]);
    expect((await sb.siteBackups(db, "c")).map((h) => h.id)).toEqual(["x"]);
    const replaced = await sb.recordObject(db, "c", "snapshots/x/manifest.json", obj(200));
    expect(replaced).toHaveLength(1);
  });

  it("accepts engine keys and refuses hostile ones", () => {
    for (const k of [
      "snapshots/20261207T023000Z-1a2b3c4d/manifest.json",
      "snapshots/x/parts/0001.age",
      "blobs/ab12",
    ]) {
      expect(sb.BACKUP_KEY.test(k), k).toBe(true);
    }
    for (const k of [
      "",
      "/abs",
      "a//b",
      "../x",
      "a/../b",
      ".git",
      "a/.b",
      "a b",
      "a\\b",
      "a/b/",
      `${"x/".repeat(9)}y`,
    ]) {
      expect(sb.BACKUP_KEY.test(k), k).toBe(false);
    }
  });
});
