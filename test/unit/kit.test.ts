import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { loadApplianceConfig } from "../../appliance/config/load.js";
import {
  addToOutbox,
  createServiceApp,
  defineService,
  eventSubject,
  loadConfig,
  migrate,
  openDatabase,
  outboxBacklog,
  type ServiceContext,
} from "../../appliance/kit/index.js";
import { outboxMigrations } from "../../appliance/kit/outbox.js";
import { MetricsRegistry } from "../../appliance/lib/metrics/index.js";
import { loadProfile } from "../../appliance/profiles/load.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const dir = tempDir();
afterAll(() => removeDir(dir));
const silent = pino({ level: "silent" });

describe("openDatabase + migrate", () => {
  it("uses WAL and synchronous=FULL", () => {
    const db = openDatabase(join(dir, "a.db"));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    db.close();
  });

  it("applies migrations in id order once, each in a transaction", () => {
    const db = openDatabase(join(dir, "b.db"));
    const order: string[] = [];
    const ms = [
      { id: "0000000002_second", up: () => order.push("2") },
      { id: "0000000001_first", up: () => order.push("1") },
    ];
    expect(migrate(db, ms)).toEqual(["0000000001_first", "0000000002_second"]);
    expect(migrate(db, ms)).toEqual([]);
    expect(order).toEqual(["1", "2"]);
    db.close();
  });

  it("rolls back a failing migration completely and keeps the earlier ones", () => {
    const db = openDatabase(join(dir, "c.db"));
    const ms = [
      { id: "0000000001_ok", up: (d: typeof db) => d.exec("CREATE TABLE ok (x)") },
      {
        id: "0000000002_bad",
        up: (d: typeof db) => {
          d.exec("CREATE TABLE half (x)");
          throw new Error("boom");
        },
      },
    ];
    expect(() => migrate(db, ms)).toThrow("boom");
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as {
      name: string;
    }[];
    expect(tables.map((t) => t.name)).toContain("ok");
    expect(tables.map((t) => t.name)).not.toContain("half");
    expect(db.prepare("SELECT id FROM _migrations").all()).toEqual([{ id: "0000000001_ok" }]);
    db.close();
  });

  it("refuses duplicate migration ids", () => {
    const db = openDatabase(":memory:");
    const m = { id: "0000000001_x", up: () => undefined };
    expect(() => migrate(db, [m, m])).toThrow(/duplicate/);
  });
});

describe("outbox", () => {
  const db = openDatabase(join(dir, "outbox.db"));
  migrate(db, outboxMigrations);
  const ev = { service: "echo", site: "local", type: "thing.done", data: { n: 1 } };

  it("refuses rows written outside a transaction", () => {
    expect(() => addToOutbox(db, ev)).toThrow(/inside the data change's transaction/);
  });

  it("keeps rows of committed transactions and drops those of rolled-back ones", () => {
    const id = db.transaction(() => addToOutbox(db, ev))();
    expect(() =>
      db.transaction(() => {
        addToOutbox(db, { ...ev, data: { rolledBack: true } });
        throw new Error("abort");
      })(),
    ).toThrow("abort");
    const rows = db.prepare("SELECT id, subject, payload FROM _outbox").all() as {
      id: string;
      subject: string;
      payload: string;
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toBe(id);
    expect(rows[0]!.subject).toBe("nexus.echo.thing.done");
    const event = JSON.parse(rows[0]!.payload);
    expect(event).toMatchObject({
      specversion: "1.0",
      id,
      source: "/nexus/local/echo",
      type: "nexus.echo.thing.done",
    });
    expect(outboxBacklog(db)).toBe(1);
  });
});

describe("eventSubject", () => {
  it.each([
    ["echo", "a.b", "nexus.echo.a.b"],
    ["file-store", "blob_added", "nexus.file-store.blob_added"],
  ])("%s %s → %s", (s, t, out) => expect(eventSubject(s, t)).toBe(out));
  it.each([
    ["echo", "a.>"],
    ["echo", "*"],
    ["echo", "a..b"],
    ["ec.ho", "x"],
    ["echo", "A"],
    ["echo", ""],
  ])("rejects %s %s", (s, t) => expect(() => eventSubject(s, t)).toThrow());
});

describe("loadConfig", () => {
  const schema = z.object({
    maxItems: z.number().int().default(5),
    name: z.string().default("x"),
    on: z.boolean().default(false),
  });
  it("overlays env on file values and coerces types", () => {
    const c = loadConfig(schema, {
      prefix: "NEXUS_ECHO_",
      env: { NEXUS_ECHO_MAX_ITEMS: "9", NEXUS_ECHO_ON: "true" },
      fileValues: { name: "file" },
    });
    expect(c).toEqual({ maxItems: 9, name: "file", on: true });
  });
  it("names every bad key", () => {
    expect(() =>
      loadConfig(schema, { prefix: "NEXUS_ECHO_", env: { NEXUS_ECHO_MAX_ITEMS: "many" } }),
    ).toThrow(/maxItems/);
  });
});

describe("appliance config and profiles", () => {
  it("reads defaults, config.json, then env, then flags", () => {
    const d = join(dir, "cfg");
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, "config.json"),
      JSON.stringify({ port: 9000, site: "field-7", gateway: { rateLimitMax: 5 } }),
    );
    const c = loadApplianceConfig(
      { dataDir: d, host: "0.0.0.0" },
      { NEXUS_PORT: "9100", NEXUS_GATEWAY_BODY_LIMIT_BYTES: "100" },
    );
    expect(c).toMatchObject({ port: 9100, site: "field-7", host: "0.0.0.0", profile: "generic-x86_64" });
    expect(c.gateway).toMatchObject({ rateLimitMax: 5, bodyLimitBytes: 100 });
  });
  it("rejects a bad config with the key named", () => {
    const d = join(dir, "cfg2");
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "config.json"), JSON.stringify({ site: "Bad Site!" }));
    expect(() => loadApplianceConfig({ dataDir: d }, {})).toThrow(/site/);
    writeFileSync(join(d, "config.json"), "{not json");
    expect(() => loadApplianceConfig({ dataDir: d }, {})).toThrow(/not valid JSON/);
  });
  it("loads and validates the generic profile; refuses unknown and hostile names", () => {
    expect(loadProfile("generic-x86_64")).toMatchObject({ arch: "x86_64", isolation: "process" });
    expect(() => loadProfile("nope")).toThrow(/known: .*generic-x86_64/);
    expect(() => loadProfile("../../etc")).toThrow(/invalid profile name/);
  });
});

describe("defineService and the service app", () => {
  it("validates names and migration ids", () => {
    expect(() => defineService({ name: "Bad", version: "1", routes: () => undefined })).toThrow(/name/);
    expect(() =>
      defineService({
        name: "ok",
        version: "1",
        routes: () => undefined,
        migrations: [{ id: "1", up: () => undefined }],
      }),
    ).toThrow(/migration id/);
  });

  const def = defineService({
    name: "probe",
    version: "1.0.0",
    routes: (app) => {
      app.post("/echo", async (c) => c.json(await c.req.json()));
      app.get("/fail", () => {
        throw new Error("internal detail");
      });
    },
    health: () => ({ ok: false, reason: "warming up" }),
  });
  const ctx = { name: "probe", log: silent } as unknown as ServiceContext<Record<string, never>>;
  const app = createServiceApp(def, ctx, { bodyLimitBytes: 64, ready: async () => null });

  it("answers health, and not-ready with the health reason", async () => {
    expect((await app.request("/health")).status).toBe(200);
    const r = await app.request("/ready");
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ status: 503, message: "not ready", data: { reason: "warming up" } });
  });

  it("uses the error shape for 404, 413 and 500 without leaking internals", async () => {
    expect(await (await app.request("/nope")).json()).toMatchObject({
      status: 404,
      message: "no such route",
    });
    const big = await app.request("/echo", {
      method: "POST",
      body: "x".repeat(100),
      headers: { "content-type": "application/json" },
    });
    expect(big.status).toBe(413);
    const fail = await app.request("/fail");
    expect(fail.status).toBe(500);
    expect(await fail.text()).not.toContain("internal detail");
  });

  it("serves its OpenAPI document", async () => {
    const doc = (await (await app.request("/openapi.json")).json()) as { info: unknown };
    expect(doc.info).toMatchObject({ title: "nexus probe", version: "1.0.0" });
  });

  it("serves its process's metrics at /internal/metrics, to the internal token only", async () => {
    const metrics = new MetricsRegistry();
    metrics.counter("probe_things_total", "Things.").inc(3);
    const guarded = createServiceApp(def, ctx, {
      bodyLimitBytes: 64,
      ready: async () => null,
      internalToken: "secret",
      metrics,
    });
    expect((await guarded.request("/internal/metrics")).status).toBe(401);
    const r = await guarded.request("/internal/metrics", { headers: { "x-nexus-internal": "secret" } });
    expect(await r.json()).toEqual([
      { name: "probe_things_total", help: "Things.", type: "counter", samples: [{ labels: {}, value: 3 }] },
    ]);
    expect((await app.request("/internal/metrics")).status).toBe(404); // no registry given: no route
  });
});
