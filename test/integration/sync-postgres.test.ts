/**
 * The hub on a real PostgreSQL server (the production setup) with two boxes, through a flapping link: the hub
 * goes down and comes back every few seconds for about a minute while both boxes keep writing. At the end the
 * hub holds exactly the union, each change applied once, the offline conflict resolved the same way as on
 * PGlite, and every box's outbox is pruned.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestAppliance, waitFor } from "../helpers/appliance.js";
import { enrolledBox, type HubProcess, hubProcess, outboxRows, putNote, teardown } from "../helpers/hub.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

let pg: TestPostgres;
let hub: HubProcess;
let a: TestAppliance;
let b: TestAppliance;

beforeAll(async () => {
  pg = await startPostgres();
  hub = await hubProcess({ databaseUrl: await pg.createDatabase("nexus_hub") });
  await hub.start();
  a = await enrolledBox(hub, "north", ["notes"]);
  b = await enrolledBox(hub, "south", ["notes"]);
}, 180_000);

afterAll(async () => {
  await teardown([a, b], hub);
  await pg?.stop();
});

const put = putNote;

describe("hub on PostgreSQL", () => {
  it("converges through a flapping link: the union, each change once, the conflict resolved", async () => {
    const written: string[] = [];
    const until = Date.now() + 60_000;
    let round = 0;
    while (Date.now() < until) {
      round++;
      await hub.stop();
      for (let i = 0; i < 10; i++) {
        await put(a, `n-${round}-${i}`, `north ${round}.${i}`);
        await put(b, `s-${round}-${i}`, `south ${round}.${i}`);
        written.push(`n-${round}-${i}`, `s-${round}-${i}`);
      }
      await hub.start();
      for (let i = 10; i < 20; i++) {
        await put(a, `n-${round}-${i}`, `north ${round}.${i}`);
        await put(b, `s-${round}-${i}`, `south ${round}.${i}`);
        written.push(`n-${round}-${i}`, `s-${round}-${i}`);
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
    expect(round).toBeGreaterThanOrEqual(3);

    // One key edited on both boxes while the link is down.
    await hub.stop();
    await put(a, "both", "north's edit");
    await new Promise((r) => setTimeout(r, 20));
    await put(b, "both", "south's edit");
    await hub.start();

    const records = await waitFor(
      async () => {
        const r = await hub.api<{ records: { key: string; site: string; data: { text: string } }[] }>(
          "GET",
          "/api/hub/records/notes",
        );
        const keys = new Set(r.body.records.map((x) => x.key));
        return [...written, "both"].every((k) => keys.has(k)) ? r.body.records : null;
      },
      120_000,
      "the union on the hub",
    );
    expect(records).toHaveLength(written.length + 1);
    expect(records!.find((x) => x.key === "both")).toMatchObject({
      site: "south",
      data: { text: "south's edit" },
    });
    await waitFor(async () => (await outboxRows(a)) === 0 && (await outboxRows(b)) === 0, 60_000, "pruning");
    const sites = await hub.api<{ sites: { id: string; received: number }[] }>("GET", "/api/hub/sites");
    const received = new Map(sites.body.sites.map((s) => [s.id, s.received]));
    expect(received.get("north")).toBe(written.length / 2 + 1);
    expect(received.get("south")).toBe(written.length / 2 + 1);
    const losers = await hub.api<{ losers: { site: string }[] }>("GET", "/api/hub/records/notes?key=both");
    expect(losers.body.losers.map((l) => l.site)).toEqual(["north"]);
  }, 300_000);
});
