/**
 * The hub's store, the same suite on both engines: PGlite in a temp dir, and a real PostgreSQL server this
 * file starts (test/helpers/postgres.ts). Each test gets a fresh database: a copy of a template PGlite
 * directory (a cold PGlite start costs ~4 s, a copy ~0.5 s), or a new database on the one server.
 */
import { randomUUID } from "node:crypto";
import { cpSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ApplyResult,
  appendedOf,
  applyChanges,
  type IncomingChange,
  losersOf,
  recordsOf,
  setCollectionPolicy,
  watermarkOf,
} from "../../appliance/hub/apply.js";
import { type HubDb, openHubDb } from "../../appliance/hub/db.js";
import { migrateHub, migrations } from "../../appliance/hub/migrations.js";
import {
  addSite,
  createEnrolToken,
  EnrolTokenError,
  getSite,
  listSites,
  redeemToken,
  revokeSite,
  touchSite,
} from "../../appliance/hub/sites.js";
import type { ChangeRecord } from "../../appliance/sync/change.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

interface Engine {
  name: string;
  setup(): Promise<void>;
  /** A new, empty, unmigrated database. */
  fresh(): Promise<HubDb>;
  teardown(): Promise<void>;
}

const dirs: string[] = [];
let template = "";
const pglite: Engine = {
  name: "pglite",
  setup: async () => {
    template = tempDir("nexus-hub-template-");
    dirs.push(template);
    await (await openHubDb({ kind: "pglite", dir: join(template, "db") })).close();
  },
  fresh: async () => {
    const dir = tempDir("nexus-hub-");
    dirs.push(dir);
    cpSync(join(template, "db"), join(dir, "db"), { recursive: true });
    return openHubDb({ kind: "pglite", dir: join(dir, "db") });
  },
  teardown: async () => {
    for (const d of dirs.splice(0)) removeDir(d);
  },
};

let server: TestPostgres | undefined;
let dbCount = 0;
const postgres: Engine = {
  name: "postgres",
  setup: async () => {
    server = await startPostgres();
  },
  fresh: async () => {
    if (!server) throw new Error("postgres not started");
    return openHubDb({ kind: "postgres", url: await server.createDatabase(`hub_${++dbCount}`) });
  },
  teardown: async () => {
    await server?.stop();
  },
};

// ---------------------------------------------------------------------------------------------- fixtures

const hlc = (wall: number, counter = 0, node = "n1") =>
  `${String(wall).padStart(15, "0")}.${String(counter).padStart(5, "0")}.${node}`;

let seqs = 0;
function change(r: Partial<ChangeRecord> & { key: string; hlc: string }, seq = ++seqs): IncomingChange {
  const id = randomUUID();
  const record: ChangeRecord = {
    v: 1,
    id,
    site: "site-a",
    service: "forms",
    collection: "notes",
    op: "upsert",
    data: { text: `${r.key}@${r.hlc}` },
    ...r,
  };
  return { msgId: id, seq, record };
}

/** What two stores must agree on: the current versions (not when each was written). */
const current = async (db: HubDb, collection = "notes") =>
  (await recordsOf(db, collection)).map(({ updatedAt: _, ...r }) => r);

/** Losing versions as a sorted set (which version beat each one depends on arrival order). */
const loserSet = async (db: HubDb, collection = "notes") =>
  (await losersOf(db, collection)).map((l) => JSON.stringify([l.key, l.hlc, l.site, l.op, l.data])).sort();

const one = (
  db: HubDb,
  c: IncomingChange,
  policy?: Parameters<typeof applyChanges>[2],
): Promise<ApplyResult> => applyChanges(db, [c], policy);

const count = async (db: HubDb, table: string) =>
  Number((await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`))[0]?.n);

/** Fisher-Yates with a seeded LCG, so a failure can be replayed. */
function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- the suite

describe.each([pglite, postgres])("hub store on $name", (engine) => {
  const open: HubDb[] = [];
  const fresh = async () => {
    const db = await engine.fresh();
    open.push(db);
    await migrateHub(db);
    return db;
  };
  beforeAll(() => engine.setup(), 60_000);
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close();
  });
  afterAll(() => engine.teardown());

  it("migrates once, records it, and a second or concurrent run changes nothing", async () => {
    const db = await engine.fresh();
    open.push(db);
    const runs = await Promise.all([migrateHub(db), migrateHub(db), migrateHub(db)]);
    // Each migration ran exactly once across the three runs. Which run took which is up to the scheduler (one
    // may apply 1, 2 and 4 while another holds the lock for 3), so the runs' lists are compared as a set.
    expect(runs.flat().sort()).toEqual(migrations.map((m) => m.name).sort());
    expect(await migrateHub(db)).toEqual([]);
    expect(await count(db, "_migrations")).toBe(migrations.length);
    for (const t of [
      "sites",
      "enrol_tokens",
      "inbox",
      "records",
      "record_losers",
      "appended",
      "watermarks",
    ]) {
      expect(await count(db, t)).toBe(0);
    }
    await expect(
      db.query("INSERT INTO sites (id, name, status) VALUES ('x', 'x', 'gone')"),
    ).rejects.toThrow();
  });

  it("applies 1,000 changes once: replaying the batch changes nothing", async () => {
    const db = await fresh();
    const batch = Array.from({ length: 1_000 }, (_, i) =>
      change({ key: `k${i % 200}`, hlc: hlc(1_000 + i, 0, `n${i % 3}`), site: `site-${i % 3}` }, i + 1),
    );
    expect(await applyChanges(db, batch)).toMatchObject({ applied: 1_000, duplicates: 0 });
    const before = { records: await current(db), losers: await loserSet(db) };
    expect(before.records).toHaveLength(200);
    expect(before.losers).toHaveLength(800);
    expect(await applyChanges(db, batch)).toMatchObject({ applied: 0, duplicates: 1_000 });
    expect(await applyChanges(db, shuffle(batch, 7).slice(0, 10))).toMatchObject({ duplicates: 10 });
    expect(await count(db, "inbox")).toBe(1_000);
    expect(await current(db)).toEqual(before.records);
    expect(await loserSet(db)).toEqual(before.losers);
  });

  it("counts each site's new changes once (the fleet registry's 'received'), and the migration backfills it", async () => {
    const db = await fresh();
    for (const id of ["site-0", "site-1"]) await addSite(db, { id });
    const received = async () =>
      Object.fromEntries(
        (await db.query<{ id: string; received: string | number }>("SELECT id, received FROM sites")).map(
          (r) => [r.id, Number(r.received)],
        ),
      );
    const batch = Array.from({ length: 30 }, (_, i) =>
      change({ key: `c${i}`, hlc: hlc(5_000 + i), site: `site-${i % 3}` }, i + 1),
    );
    await applyChanges(db, batch);
    await applyChanges(db, [
      ...batch.slice(0, 5),
      change({ key: "one-more", hlc: hlc(6_000), site: "site-1" }),
    ]);
    expect(await received()).toEqual({ "site-0": 10, "site-1": 11 });
    // A hub that ran before the counter existed: the migration counts its inbox.
    await db.query("UPDATE sites SET received = 0");
    const backfill = migrations.find((m) => m.name.endsWith("_sites_received"))!;
    await db.query(backfill.statements[1]!);
    expect(await received()).toEqual({ "site-0": 10, "site-1": 11 });
  });

  it("a message id twice in one batch, or in concurrent batches, applies once", async () => {
    const db = await fresh();
    const c = change({ key: "k", hlc: hlc(5) });
    expect(await applyChanges(db, [c, c])).toMatchObject({ applied: 1, duplicates: 1 });
    const batch = Array.from({ length: 50 }, (_, i) => change({ key: `k${i % 5}`, hlc: hlc(10 + i) }));
    const results = await Promise.all([
      applyChanges(db, batch),
      applyChanges(db, [...batch].reverse()),
      applyChanges(db, shuffle(batch, 3)),
    ]);
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(50);
    expect(await count(db, "inbox")).toBe(51);
    // Different messages on the same keys in opposite orders, at once: no deadlock, one consistent result.
    const edit = (site: string, i: number) =>
      change({ key: `c${site === "site-a" ? i % 10 : 9 - (i % 10)}`, hlc: hlc(100 + i, 0, site), site });
    const batches = ["site-a", "site-b"].flatMap((site) =>
      [0, 20].map((from) => Array.from({ length: 20 }, (_, i) => edit(site, from + i))),
    );
    const applied = await Promise.all(batches.map((b) => applyChanges(db, b)));
    expect(applied.map((r) => r.applied)).toEqual([20, 20, 20, 20]);
    const cs = (await current(db)).filter((r) => r.key.startsWith("c"));
    expect(cs).toHaveLength(10);
    expect(await count(db, "record_losers")).toBe(50 - 5 + 80 - 10);
  });

  it("LWW: the same winner and losers whatever the arrival order", async () => {
    const versions = Array.from({ length: 60 }, (_, i) => {
      const site = `site-${"abc"[i % 3]}`;
      const op = i % 7 === 6 ? ("delete" as const) : ("upsert" as const);
      // Some versions share wall time and counter: the node (here the site) decides.
      return change({ key: `k${i % 4}`, hlc: hlc(100 + (i % 10), i % 2, site), site, op });
    });
    const [a, b] = [await fresh(), await fresh()];
    for (const c of versions) await one(a, c);
    for (const c of shuffle(versions, 42)) await one(b, c);
    expect(await current(b)).toEqual(await current(a));
    expect(await loserSet(b)).toEqual(await loserSet(a));
    for (const r of await current(a)) {
      const mine = versions.filter((v) => v.record.key === r.key).map((v) => v.record.hlc);
      expect(r.hlc).toBe(mine.sort().at(-1));
    }
    expect(await count(a, "record_losers")).toBe(60 - 4);
  });

  it("keeps every losing version, with what beat it, listed per collection or key", async () => {
    const db = await fresh();
    const old = change({ key: "doc", hlc: hlc(1, 0, "a"), site: "site-a", data: { v: "old" } });
    const mid = change({ key: "doc", hlc: hlc(2, 0, "b"), site: "site-b", data: { v: "mid" } });
    const late = change({ key: "doc", hlc: hlc(1, 5, "c"), site: "site-c", data: { v: "late" } });
    for (const c of [old, mid, late, change({ key: "other", hlc: hlc(1) })]) await one(db, c);
    const losers = await losersOf(db, "notes", "doc");
    expect(losers.map((l) => [l.site, l.data, l.lostToHlc, l.lostToSite])).toEqual([
      ["site-a", { v: "old" }, mid.record.hlc, "site-b"],
      ["site-c", { v: "late" }, mid.record.hlc, "site-b"],
    ]);
    expect(losers[0]?.at).toBeInstanceOf(Date);
    expect(await losersOf(db, "notes")).toHaveLength(2);
    expect(await losersOf(db, "other-collection")).toEqual([]);
    expect((await current(db)).find((r) => r.key === "doc")?.data).toEqual({ v: "mid" });
  });

  it("hub-wins: an edge never overwrites the hub's version, in either order", async () => {
    const [a, b] = [await fresh(), await fresh()];
    for (const db of [a, b]) await setCollectionPolicy(db, "config", "hub-wins");
    const hub = change({ collection: "config", key: "limits", hlc: hlc(10, 0, "hub"), site: "hub" });
    const edge = change({ collection: "config", key: "limits", hlc: hlc(20, 0, "e"), site: "site-a" });
    const edge2 = change({ collection: "config", key: "limits", hlc: hlc(30, 0, "e"), site: "site-b" });
    for (const c of [hub, edge, edge2]) await one(a, c);
    for (const c of [edge2, edge, hub]) await one(b, c);
    for (const db of [a, b]) {
      expect((await current(db, "config"))[0]).toMatchObject({ site: "hub", hlc: hub.record.hlc });
      expect((await losersOf(db, "config")).map((l) => l.site).sort()).toEqual(["site-a", "site-b"]);
    }
    // Among hub versions, and among edges' versions where the hub never wrote, it is LWW.
    await one(a, change({ collection: "config", key: "limits", hlc: hlc(11, 0, "hub"), site: "hub" }));
    expect((await current(a, "config"))[0]?.hlc).toBe(hlc(11, 0, "hub"));
    await one(a, change({ collection: "config", key: "free", hlc: hlc(1, 0, "e"), site: "site-a" }));
    await one(a, change({ collection: "config", key: "free", hlc: hlc(2, 0, "e"), site: "site-b" }));
    expect((await current(a, "config")).find((r) => r.key === "free")?.site).toBe("site-b");
    // A policy function given by the caller overrides the table.
    await one(a, change({ collection: "config", key: "limits", hlc: hlc(99), site: "site-c" }), () => "lww");
    expect((await current(a, "config")).find((r) => r.key === "limits")?.site).toBe("site-c");
  });

  it("append-only: every change kept in arrival order, records holds the latest by HLC", async () => {
    const db = await fresh();
    await setCollectionPolicy(db, "audit", "append-only");
    const cs = [3, 1, 2].map((w) => change({ collection: "audit", key: "door", hlc: hlc(w), data: { w } }));
    for (const c of cs) await one(db, c);
    await applyChanges(db, cs);
    expect((await appendedOf(db, "audit", "door")).map((x) => x.data)).toEqual([
      { w: 3 },
      { w: 1 },
      { w: 2 },
    ]);
    expect(await current(db, "audit")).toMatchObject([{ key: "door", hlc: hlc(3), data: { w: 3 } }]);
    expect(await losersOf(db, "audit")).toEqual([]);
  });

  it("deletes are tombstones: an older upsert stays dead, a newer one revives", async () => {
    const db = await fresh();
    await one(db, change({ key: "x", hlc: hlc(5), op: "delete", data: null })); // before the upsert it deletes
    await one(db, change({ key: "x", hlc: hlc(4), data: { v: 4 } }));
    expect(await current(db)).toMatchObject([{ key: "x", deleted: true, op: "delete", data: null }]);
    await one(db, change({ key: "x", hlc: hlc(6), data: { v: 6 } }));
    expect(await current(db)).toMatchObject([{ key: "x", deleted: false, op: "upsert", data: { v: 6 } }]);
    await one(db, change({ key: "x", hlc: hlc(7), op: "delete", data: null }));
    expect(await current(db)).toMatchObject([{ key: "x", deleted: true, hlc: hlc(7) }]);
    expect((await losersOf(db, "notes", "x")).map((l) => [l.op, l.hlc])).toEqual([
      ["upsert", hlc(4)],
      ["delete", hlc(5)],
      ["upsert", hlc(6)],
    ]);
  });

  it("watermarks only move forward, per site and service", async () => {
    const db = await fresh();
    const at = (seq: number, service = "forms") => change({ key: `k${seq}`, hlc: hlc(seq), service }, seq);
    expect((await applyChanges(db, [at(3), at(5), at(4)])).watermarks).toEqual([
      { site: "site-a", service: "forms", seq: 5 },
    ]);
    expect((await applyChanges(db, [at(2), at(1, "files")])).watermarks).toEqual([
      { site: "site-a", service: "files", seq: 1 },
      { site: "site-a", service: "forms", seq: 5 },
    ]);
    expect(await watermarkOf(db, "site-a", "forms")).toMatchObject({ seq: 5, hlc: hlc(5) });
    expect(await watermarkOf(db, "site-a", "files")).toMatchObject({ seq: 1 });
    expect(await watermarkOf(db, "site-b", "forms")).toBeNull();
  });

  it("a malformed record or one the database refuses applies nothing of its batch", async () => {
    const db = await fresh();
    const ok = change({ key: "fine", hlc: hlc(1) });
    await expect(applyChanges(db, [ok, change({ key: "k", hlc: "yesterday" })])).rejects.toThrow(
      /malformed hlc/,
    );
    await expect(applyChanges(db, [ok, change({ key: "nul\u0000", hlc: hlc(2) })])).rejects.toThrow();
    expect(await count(db, "inbox")).toBe(0);
    expect(await count(db, "records")).toBe(0);
    expect(await applyChanges(db, [ok])).toMatchObject({ applied: 1 });
  });

  it("stores hostile strings and a 1 MB document verbatim, through parameters", async () => {
    const db = await fresh();
    const evil = [
      "'; DROP TABLE records; --",
      'Robert"); DELETE FROM inbox; --',
      "$1 $$ \\ \\x00 %s ' '' \"",
      "ünïcødé 𝄞 😀 ‮rtl‬ 中文",
    ];
    const big = "x".repeat(1024 * 1024);
    const cs = evil.map((s, i) =>
      change({
        collection: s,
        key: s,
        site: s,
        service: s,
        hlc: hlc(i + 1, 0, s),
        data: { s, nested: [s, { s }] },
      }),
    );
    cs.push(change({ key: "big", hlc: hlc(9), data: { big, list: evil } }));
    expect(await applyChanges(db, cs)).toMatchObject({ applied: cs.length });
    for (const s of evil) {
      expect(await current(db, s)).toMatchObject([{ key: s, site: s, data: { s, nested: [s, { s }] } }]);
      expect(await watermarkOf(db, s, s)).not.toBeNull();
    }
    expect((await current(db)).find((r) => r.key === "big")?.data).toEqual({ big, list: evil });
    const site = await addSite(db, { id: evil[0] as string, name: evil[3] as string, profile: evil[2] });
    expect(await getSite(db, site.id)).toMatchObject({ id: evil[0], name: evil[3], profile: evil[2] });
    expect(await count(db, "inbox")).toBe(cs.length);
  });

  it("an enrolment token is redeemed once, however many try at the same time", async () => {
    const db = await fresh();
    const { token, expiresAt } = await createEnrolToken(db, { ttlMs: 60_000, site: "site-a" });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt.getTime()).toBeGreaterThan(Date.now());
    const stored = JSON.stringify(await db.query("SELECT * FROM enrol_tokens"));
    expect(stored).not.toContain(token);
    const tries = await Promise.allSettled(Array.from({ length: 20 }, () => redeemToken(db, token)));
    const won = tries.filter((t) => t.status === "fulfilled");
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ value: { site: "site-a" } });
    for (const t of tries.filter((x) => x.status === "rejected")) {
      expect(t.reason).toBeInstanceOf(EnrolTokenError);
      expect(t.reason).toMatchObject({ reason: "used", message: "enrolment token already used" });
    }
  });

  it("expired and unknown tokens are refused, each with its own reason", async () => {
    const db = await fresh();
    const now = new Date("2030-01-01T00:00:00Z");
    const { token } = await createEnrolToken(db, { ttlMs: 1_000, now });
    await expect(redeemToken(db, token, new Date(now.getTime() + 1_000))).rejects.toMatchObject({
      reason: "expired",
    });
    await expect(redeemToken(db, "not-a-token")).rejects.toMatchObject({ reason: "unknown" });
    await expect(redeemToken(db, "")).rejects.toMatchObject({ reason: "unknown" });
    expect(await redeemToken(db, token, new Date(now.getTime() + 999))).toMatchObject({ site: null });
  });

  it("sites: add, touch, revoke, and list with their watermarks", async () => {
    const db = await fresh();
    await expect(addSite(db, { id: "hub", name: "impostor" })).rejects.toThrow(/reserved/);
    const a = await addSite(db, {
      id: "site-a",
      name: "Clinic A",
      natsUser: "edge-a",
      natsPasswordHash: "h",
    });
    expect(a).toMatchObject({ status: "active", revokedAt: null, lastSeen: null, natsUser: "edge-a" });
    await expect(addSite(db, { id: "site-a", name: "again" })).rejects.toThrow();
    expect(await addSite(db, { id: "site-b", version: "1.0.0" })).toMatchObject({
      name: "site-b",
      version: "1.0.0",
    });
    const seen = new Date("2030-01-02T03:04:05Z");
    expect(await touchSite(db, "site-a", { lastSeen: seen, version: "1.2.3", profile: "rpi5" })).toBe(true);
    expect(await touchSite(db, "site-a", { lastSeen: seen })).toBe(true);
    expect(await touchSite(db, "nope")).toBe(false);
    expect(await getSite(db, "site-a")).toMatchObject({ lastSeen: seen, version: "1.2.3", profile: "rpi5" });
    await applyChanges(db, [
      change({ key: "k", hlc: hlc(1) }, 41),
      change({ key: "k", hlc: hlc(2), service: "files" }, 7),
    ]);
    expect(await revokeSite(db, "site-b", seen)).toMatchObject({ status: "revoked", revokedAt: seen });
    expect(await revokeSite(db, "nope")).toBeNull();
    const list = await listSites(db);
    expect(list.map((s) => [s.id, s.status, s.watermarks.map((w) => [w.service, w.seq])])).toEqual([
      [
        "site-a",
        "active",
        [
          ["files", 7],
          ["forms", 41],
        ],
      ],
      ["site-b", "revoked", []],
    ]);
  });
});

describe("pglite data dir", () => {
  it("is private: directory 0700, files 0600", async () => {
    const dir = join(tempDir("nexus-hub-modes-"), "db");
    try {
      const db = await openHubDb({ kind: "pglite", dir });
      await migrateHub(db);
      await db.close();
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, "PG_VERSION")).mode & 0o777).toBe(0o600);
    } finally {
      removeDir(join(dir, ".."));
    }
  });
});
