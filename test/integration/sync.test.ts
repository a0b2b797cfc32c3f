/**
 * Sync end to end with real processes on loopback: one hub (`nexus hub`, PGlite, its own nats-server with a
 * leafnode listener) and two enrolled boxes. Link loss (the hub stopped), kill -9 of the hub mid-ingest,
 * conflicting edits made offline, enrolment refusals, site isolation and revocation.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect, headers, type JetStreamManager, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enroll } from "../../appliance/enroll.js";
import { BATCH_FORMAT, decodeBatch, FORMAT_HEADER } from "../../appliance/sync/batch.js";
import {
  ROOT,
  removeDir,
  startTestAppliance,
  type TestAppliance,
  TSX,
  tempDir,
  waitFor,
} from "../helpers/appliance.js";
import {
  enrolledBox,
  enrolToken,
  enrolWith,
  type HubProcess,
  hubProcess,
  outboxRows,
  putNote,
  teardown,
} from "../helpers/hub.js";

const run = promisify(execFile);
let hub: HubProcess;
let a: TestAppliance;
let b: TestAppliance;

beforeAll(async () => {
  // Records stamped more than 5 s ahead of the hub's clock wait (the clock-skew test runs a box 20 s ahead).
  hub = await hubProcess({ env: { NEXUS_HUB_MAX_CLOCK_DRIFT_MS: "5000" } });
  await hub.start();
  a = await enrolledBox(hub, "site-a", ["notes"]);
  b = await enrolledBox(hub, "site-b", ["notes"]);
}, 180_000);

afterAll(() => teardown([a, b], hub));

interface HubRecord {
  key: string;
  site: string;
  hlc: string;
  data: { text: string } | null;
}
interface Site {
  id: string;
  status: string;
  received: number;
  lastSeen: string | null;
  version: string | null;
  profile: string | null;
  lagMessages: number | null;
  lagSeconds: number | null;
  watermarks: { service: string; seq: number }[];
}

const put = putNote;
async function bulk(box: TestAppliance, prefix: string, count: number) {
  const r = await box.api("/api/notes/bulk", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prefix, count }),
  });
  expect(r.status).toBe(200);
}
async function hubRecords(): Promise<Map<string, HubRecord>> {
  const r = await hub.api<{ records: HubRecord[] }>("GET", "/api/hub/records/notes");
  return new Map(r.body.records.map((x) => [x.key, x]));
}
async function sites(): Promise<Map<string, Site>> {
  const r = await hub.api<{ sites: Site[] }>("GET", "/api/hub/sites");
  return new Map(r.body.sites.map((s) => [s.id, s]));
}
/** A note's text on a box, or undefined. */
async function note(box: TestAppliance, key: string): Promise<string | undefined> {
  const r = (await (await box.api("/api/notes/notes")).json()) as { notes: { key: string; text: string }[] };
  return r.notes.find((n) => n.key === key)?.text;
}
/** Waits until the hub holds every key in `keys`. */
const hubHas = (keys: string[], timeoutMs = 60_000) =>
  waitFor(
    async () => {
      const r = await hubRecords();
      return keys.every((k) => r.has(k)) ? r : null;
    },
    timeoutMs,
    `hub to hold ${keys.length} keys`,
  );

/** Change records held in a stream: one per format 1 message, a batch's count per format 2 message. */
async function streamRecords(jsm: JetStreamManager, stream: string): Promise<number> {
  const { first_seq, last_seq, messages } = (await jsm.streams.info(stream)).state;
  if (messages === 0) return 0;
  let n = 0;
  for (let seq = first_seq; seq <= last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue;
    n += m.header?.get(FORMAT_HEADER) === BATCH_FORMAT ? decodeBatch(m.data).entries.length : 1;
  }
  return n;
}

describe("enrolment", () => {
  it("refuses a bad, a used and an expired token, and a malformed request", async () => {
    const dir = tempDir("nexus-enrol-");
    try {
      await expect(enroll({ dataDir: dir, hubUrl: hub.url(), token: "x".repeat(43) })).rejects.toThrow(
        /unknown enrolment token/,
      );
      // Plain http to another machine would send the token and the site password in the clear.
      for (const url of ["http://hub.example.org:7400", "http://10.1.2.3:7400", "http://[fe80::1]:7400"])
        await expect(enroll({ dataDir: dir, hubUrl: url, token: "x".repeat(43) })).rejects.toThrow(
          /in the clear/,
        );
      // 0.0.0.0 is not loopback by name, yet reaches this machine's hub: the flag lets the request through.
      const viaAny = hub.url().replace("127.0.0.1", "0.0.0.0");
      await expect(
        enroll({ dataDir: dir, hubUrl: viaAny, token: "x".repeat(43), allowHttp: true }),
      ).rejects.toThrow(/unknown enrolment token/);
      await expect(
        enroll({ dataDir: dir, hubUrl: "ftp://hub.example.org", token: "x".repeat(43) }),
      ).rejects.toThrow(/http\(s\)/);
      const token = await enrolToken(hub, "site-c");
      await enroll({ dataDir: dir, hubUrl: hub.url(), token });
      await expect(enroll({ dataDir: tempDir(), hubUrl: hub.url(), token })).rejects.toThrow(/already used/);
      const short = await enrolToken(hub, "site-d", 1);
      await new Promise((r) => setTimeout(r, 1500));
      await expect(enroll({ dataDir: tempDir(), hubUrl: hub.url(), token: short })).rejects.toThrow(
        /expired/,
      );
      const raw = await fetch(`${hub.url()}/api/hub/enrol`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: "short" }),
      });
      expect(raw.status).toBe(400);
      expect((await hub.api("POST", "/api/hub/tokens", { site: "hub" })).status).toBe(400);
      expect((await hub.api("POST", "/api/hub/tokens", { site: "../etc" })).status).toBe(400);
      const anon = await fetch(`${hub.url()}/api/hub/tokens`, { method: "POST", body: "{}" });
      expect(anon.status).toBe(401);
      // The credentials are stored owner-only, and the box's site id is the hub's.
      const link = JSON.parse(readFileSync(join(dir, "secrets", "hub.json"), "utf8"));
      expect(link.site).toBe("site-c");
      expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).site).toBe("site-c");
    } finally {
      removeDir(dir);
    }
  });

  it("lists the enrolled boxes in the fleet registry", async () => {
    const s = await sites();
    expect(s.get("site-a")).toMatchObject({ status: "active", version: "0.1.0", profile: "generic-x86_64" });
    expect(s.get("site-b")?.status).toBe("active");
  });
});

describe("edge → hub", () => {
  it("records from both boxes reach the hub and each box prunes what the hub acknowledged", async () => {
    await put(a, "a-1", "from a");
    await put(b, "b-1", "from b");
    const r = await hubHas(["a-1", "b-1"]);
    expect(r!.get("a-1")).toMatchObject({ site: "site-a", data: { text: "from a" } });
    expect(r!.get("b-1")).toMatchObject({ site: "site-b", data: { text: "from b" } });
    await waitFor(async () => (await outboxRows(a)) === 0 && (await outboxRows(b)) === 0, 30_000, "pruning");
    const s = await sites();
    expect(s.get("site-a")?.lastSeen).not.toBeNull();
    expect(s.get("site-a")?.lagMessages).toBe(0);
  });

  it("writes made while the hub is down arrive exactly once when it is back", async () => {
    await hub.stop();
    await bulk(a, "offline-a", 300);
    await bulk(b, "offline-b", 300);
    expect(await outboxRows(a)).toBe(300);
    await hub.start();
    const keys = Array.from({ length: 300 }, (_, i) => [`offline-a-${i}`, `offline-b-${i}`]).flat();
    await hubHas(keys, 90_000);
    await waitFor(async () => (await outboxRows(a)) === 0 && (await outboxRows(b)) === 0, 30_000, "pruning");
    const s = await sites();
    // One inbox row per change: nothing applied twice.
    expect(s.get("site-a")?.received).toBe(301);
    expect(s.get("site-b")?.received).toBe(301);
  }, 150_000);

  it("a kill -9 of the hub mid-ingest replays without loss or duplicates", async () => {
    await hub.stop();
    await bulk(a, "killed", 3000);
    await hub.start();
    await waitFor(
      async () => {
        const n = (await sites()).get("site-a")?.received ?? 0;
        return n > 301 ? n : null;
      },
      60_000,
      "ingest to begin",
    );
    await hub.kill9();
    await hub.start();
    await hubHas(
      Array.from({ length: 3000 }, (_, i) => `killed-${i}`),
      120_000,
    );
    expect((await sites()).get("site-a")?.received).toBe(3301);
    await waitFor(async () => (await outboxRows(a)) === 0, 30_000, "pruning");
  }, 240_000);

  it("a replay of a whole edge stream from its start changes nothing", async () => {
    const before = await sites();
    const recordsBefore = await hubRecords();
    // Drop the hub's ingest consumer; at its next start the hub makes a new one that reads the stream from
    // the first message again, as a hub restored from an old backup would.
    const conf = readFileSync(join(hub.dir, "nats", "nats.conf"), "utf8");
    const port = /listen: "127\.0\.0\.1:(\d+)"/.exec(conf)![1];
    const pass = readFileSync(join(hub.dir, "secrets", "nats-hub.pass"), "utf8").trim();
    const hubNc = await connect({ servers: `127.0.0.1:${port}`, user: "nexus-hub", pass });
    const jsm = await hubNc.jetstreamManager();
    const streamSize = await streamRecords(jsm, "EDGE_site-a");
    expect(streamSize).toBeGreaterThanOrEqual(before.get("site-a")!.received);
    await jsm.consumers.delete("EDGE_site-a", "hub-ingest");
    await hubNc.close();
    await hub.stop();
    await hub.start();
    await waitFor(
      async () => ((await sites()).get("site-a")?.lagMessages ?? 1) === 0,
      120_000,
      "the replay to finish",
    );
    const after = await sites();
    expect(after.get("site-a")?.received).toBe(before.get("site-a")?.received);
    expect((await hubRecords()).size).toBe(recordsBefore.size);
  }, 180_000);

  it("one key edited on both boxes offline: the later edit wins on the hub, the other is kept", async () => {
    await hub.stop();
    await put(a, "shared", "edit on a");
    await new Promise((r) => setTimeout(r, 20));
    await put(b, "shared", "edit on b");
    await hub.start();
    const r = await hubHas(["shared"]);
    await waitFor(async () => (await outboxRows(a)) === 0 && (await outboxRows(b)) === 0, 30_000, "pruning");
    expect((await hubRecords()).get("shared")).toMatchObject({ site: "site-b", data: { text: "edit on b" } });
    expect(r!.get("shared")).toBeDefined();
    const losers = await hub.api<{ losers: { site: string; data: { text: string } }[] }>(
      "GET",
      "/api/hub/records/notes?key=shared",
    );
    expect(losers.body.losers).toEqual([
      expect.objectContaining({ site: "site-a", data: { text: "edit on a" } }),
    ]);
    // The winner goes back to the box whose edit lost: both boxes converge on it.
    await waitFor(async () => (await note(a, "shared")) === "edit on b", 30_000, "box a to converge");
    expect(await note(b, "shared")).toBe("edit on b");
  }, 120_000);
});

describe("hub → edge", () => {
  const data = (method: string, key: string, body?: unknown) =>
    hub.api(method, `/api/hub/data/notes/notes/${encodeURIComponent(key)}`, body);

  it("a change made on the hub reaches every box, and so does its deletion", async () => {
    expect((await data("PUT", "from-hub", { data: { text: "hub says hi" } })).status).toBe(200);
    await waitFor(async () => (await note(a, "from-hub")) === "hub says hi", 30_000, "box a");
    await waitFor(async () => (await note(b, "from-hub")) === "hub says hi", 30_000, "box b");
    expect((await data("DELETE", "from-hub")).status).toBe(200);
    await waitFor(async () => (await note(a, "from-hub")) === undefined, 30_000, "deleted on box a");
    await waitFor(async () => (await note(b, "from-hub")) === undefined, 30_000, "deleted on box b");
    // Applying the hub's records records nothing: no echo back to the hub.
    expect(await outboxRows(a)).toBe(0);
  }, 90_000);

  it("what the hub wrote while a box's link was down arrives when it is back", async () => {
    await hub.stop();
    await hub.start();
    expect((await data("PUT", "while-apart", { data: { text: "queued" } })).status).toBe(200);
    await waitFor(async () => (await note(a, "while-apart")) === "queued", 30_000, "box a");
  }, 90_000);

  it("refuses malformed hub data", async () => {
    expect((await hub.api("PUT", "/api/hub/data/notes/notes/k", { nope: 1 })).status).toBe(400);
    expect((await hub.api("PUT", "/api/hub/data/Bad/notes/k", { data: 1 })).status).toBe(400);
    expect((await hub.api("PUT", "/api/hub/data/notes/no.pe/k", { data: 1 })).status).toBe(400);
    const anon = await fetch(`${hub.url()}/api/hub/data/notes/notes/k`, { method: "PUT", body: "{}" });
    expect(anon.status).toBe(401);
    expect((await hub.api("GET", "/api/hub/records/Not.A.Collection")).status).toBe(400);
    expect((await hub.api("GET", `/api/hub/records/notes?key=${"k".repeat(600)}`)).status).toBe(400);
    expect((await hub.api("DELETE", "/api/hub/sites/NOT_A_SITE")).status).toBe(400);
    expect((await hub.api("POST", "/api/hub/tokens", { site: "site-z", ttlSeconds: 0 })).status).toBe(400);
    expect((await hub.api("POST", "/api/hub/tokens", { site: "site-z", extra: true })).status).toBe(400);
  });
});

describe("nexus sync status", () => {
  const status = async (box: TestAppliance) => {
    const { stdout } = await run(
      process.execPath,
      ["--import", TSX, join(ROOT, "appliance/cli/main.ts"), "-d", box.dataDir, "sync", "status", "--json"],
      { timeout: 30_000 },
    );
    return JSON.parse(stdout);
  };

  it("shows the link, the backlog and the last acknowledgement, with the hub up and down", async () => {
    await waitFor(async () => (await outboxRows(a)) === 0, 30_000, "pruning");
    const up = await status(a);
    expect(up).toMatchObject({
      enrolled: true,
      site: "site-a",
      link: "up",
      linkTls: "pinned-ca",
      backlog: 0,
      lagSeconds: 0,
    });
    expect(up.lastAckAt).not.toBeNull();
    expect(up.services).toEqual([expect.objectContaining({ service: "notes", pending: 0 })]);
    await hub.stop();
    await put(a, "while-down", "waits");
    const down = await waitFor(async () => {
      const s = await status(a);
      return s.link === "down" ? s : null;
    }, 20_000);
    expect(down.backlog).toBe(1);
    await hub.start();
    await hubHas(["while-down"]);
    await waitFor(async () => (await status(a)).backlog === 0, 30_000, "backlog drained");
  }, 90_000);
});

describe("clock skew", () => {
  let fast: TestAppliance;
  beforeAll(async () => {
    fast = await enrolledBox(hub, "site-fast", ["notes"], { hostPrefix: ["faketime", "-f", "+20s"] });
  }, 60_000);
  afterAll(async () => {
    await fast?.stop();
    if (fast) removeDir(fast.dataDir);
  });

  it("a box whose clock runs 20 s ahead: its records wait for the hub's clock, then arrive; nothing is lost", async () => {
    const t0 = Date.now();
    await put(fast, "from-the-future", "stamped ahead");
    const stamped = ((await (await fast.api("/api/notes/notes")).json()) as { notes: { key: string }[] })
      .notes;
    // Only this key: the hub's own records ("while-apart") go to every site at enrolment and may be here too.
    expect(stamped.filter((n) => n.key === "from-the-future")).toHaveLength(1);
    // Held, not applied, while it is more than 5 s in the hub's future; the registry shows the skew.
    const held = await waitFor(async () => {
      const s = (await sites()).get("site-fast") as Site & { clockAheadSeconds: number };
      return s.clockAheadSeconds >= 10 ? s : null;
    }, 15_000);
    expect(held!.clockAheadSeconds).toBeLessThanOrEqual(25);
    expect((await hubRecords()).has("from-the-future")).toBe(false);
    expect(await outboxRows(fast)).toBe(1);
    const r = await hubHas(["from-the-future"], 60_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(10_000);
    expect(Number(r!.get("from-the-future")!.hlc.slice(0, 15))).toBeGreaterThan(t0 + 15_000);
    await waitFor(async () => (await outboxRows(fast)) === 0, 30_000, "pruning");
  }, 120_000);
});

describe("isolation", () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    const creds = JSON.parse(readFileSync(join(a.dataDir, "secrets", "nats.json"), "utf8"));
    nc = await connect({ servers: a.supervisor.natsState().url!, user: creds.user, pass: creds.pass });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it("a box cannot speak for another site, reach the hub's streams, or hear another site's messages", async () => {
    // Forged records on the other site's subject (never leaves the box: no permission to publish it).
    const forged = {
      v: 1,
      id: "forged-1",
      site: "site-b",
      service: "notes",
      collection: "notes",
      key: "forged",
      op: "upsert",
      hlc: "009999999999999.00000.site-b",
      data: { text: "forged" },
    };
    nc.publish("sync.site-b.notes.notes", JSON.stringify(forged));
    // And on its own subject, claiming to be site-b: the hub refuses a record whose site is not the sender's.
    const js = nc.jetstream();
    const h = headers();
    h.set("Nexus-Seq", "999999");
    await js.publish("sync.site-a.notes.notes", JSON.stringify({ ...forged, id: "forged-2" }), {
      headers: h,
    });
    await expect(
      nc.request("$JS.hub.API.STREAM.INFO.EDGE_site-b", undefined, { timeout: 2000 }),
    ).rejects.toThrow();
    const overheard: string[] = [];
    const sub = nc.subscribe("hub.site-b.>");
    (async () => {
      for await (const m of sub) overheard.push(m.subject);
    })();
    await new Promise((r) => setTimeout(r, 6500)); // the hub re-publishes every site's watermarks every 5 s
    sub.unsubscribe();
    expect(overheard).toEqual([]);
    expect((await hubRecords()).has("forged")).toBe(false);
  }, 30_000);
});

describe("revocation", () => {
  it("cuts a site off: its new records no longer reach the hub", async () => {
    expect((await hub.api("DELETE", "/api/hub/sites/site-b")).status).toBe(200);
    expect((await sites()).get("site-b")?.status).toBe("revoked");
    await put(b, "after-revoke", "should stay home");
    await put(a, "after-revoke-a", "still flows");
    await hubHas(["after-revoke-a"]);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await hubRecords()).has("after-revoke")).toBe(false);
    expect(await outboxRows(b)).toBe(1);
    expect((await hub.api("DELETE", "/api/hub/sites/nope")).status).toBe(404);
  }, 60_000);
});

describe("a box used before its enrolment", () => {
  it("sends what it wrote offline once enrolled, under the site the hub gave it, and prunes it", async () => {
    let box = await startTestAppliance({ services: ["notes"] });
    const dataDir = box.dataDir;
    try {
      await put(box, "offline-1", "written before enrolment");
      await put(box, "offline-2", "also before");
      expect(await outboxRows(box)).toBe(2);
      await box.stop();
      await enrolWith(hub, dataDir, "site-late");
      box = await startTestAppliance({ services: ["notes"], dataDir });
      await put(box, "enrolled-1", "after enrolment");
      const r = (await hubHas(["offline-1", "offline-2", "enrolled-1"]))!;
      expect(r.get("offline-1")).toMatchObject({
        site: "site-late",
        data: { text: "written before enrolment" },
      });
      expect(r.get("offline-1")!.hlc < r.get("enrolled-1")!.hlc).toBe(true);
      // The watermark walks past the rehomed records: everything is acknowledged and pruned.
      await waitFor(async () => (await outboxRows(box)) === 0, 30_000, "pruning");
      expect((await sites()).get("site-late")?.received).toBe(3);
      // The two records under the box's first site id are still in its stream; the hub sources only the
      // site's own subjects, so it never even sees them.
      const conf = readFileSync(join(hub.dir, "nats", "nats.conf"), "utf8");
      const port = /listen: "127\.0\.0\.1:(\d+)"/.exec(conf)![1];
      const pass = readFileSync(join(hub.dir, "secrets", "nats-hub.pass"), "utf8").trim();
      const hubNc = await connect({ servers: `127.0.0.1:${port}`, user: "nexus-hub", pass });
      try {
        const jsm = await hubNc.jetstreamManager();
        expect(await streamRecords(jsm, "EDGE_site-late")).toBe(3);
      } finally {
        await hubNc.close();
      }
    } finally {
      await box.stop();
      removeDir(dataDir);
    }
  }, 120_000);
});
