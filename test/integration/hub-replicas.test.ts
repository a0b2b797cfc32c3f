/**
 * The hub scaled out: two `nexus hub` replicas on one real PostgreSQL and a real 3-node NATS cluster (JetStream,
 * streams with 3 replicas). Sites are enrolled through replica A, the fleet API is read through replica B, and
 * simulated sites (direct JetStream publishers, test/helpers/fleet.ts) send backlogs that both replicas ingest
 * from shared consumers. Replica A and one NATS node are killed -9 mid-ingest: every change is applied exactly
 * once (the collection is append-only, so a second apply would add a second row), nothing is lost.
 */
import { createHash } from "node:crypto";
import { connect, type JetStreamClient, type NatsConnection } from "nats";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, waitFor } from "../helpers/appliance.js";
import { hubReplica, publishChanges, SIM_COLLECTION, simulatedSiteStream } from "../helpers/fleet.js";
import { type HubProcess, withHubLog } from "../helpers/hub.js";
import { type NatsCluster, startNatsCluster } from "../helpers/nats-cluster.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { type S3TestServer, startS3Server } from "../helpers/s3-server.js";

const SITES = ["sim-a", "sim-b", "sim-c"];
const BEFORE = 700; // changes per site sent before the kills
const TOTAL = 1200; // … and after them, up to this many per site
const ADMIN = "replica-admin-token-0123456789abcdef";

let pgServer: TestPostgres;
let s3: S3TestServer;
let cluster: NatsCluster;
let db: pg.Client;
let nc: NatsConnection;
let js: JetStreamClient;
let a: HubProcess;
let b: HubProcess;
const passwords = new Map<string, string>();

beforeAll(async () => {
  [pgServer, cluster, s3] = await Promise.all([startPostgres(), startNatsCluster(), startS3Server()]);
  const url = await pgServer.createDatabase("hub_replicas");
  // Blobs in one bucket: what a box uploads through one replica, every replica has.
  const blobs = {
    NEXUS_HUB_BLOB_BACKEND: "s3",
    NEXUS_HUB_S3_ENDPOINT: s3.endPoint,
    NEXUS_HUB_S3_PORT: String(s3.port),
    NEXUS_HUB_S3_USE_SSL: "false",
    NEXUS_HUB_S3_ACCESS_KEY: s3.accessKey,
    NEXUS_HUB_S3_SECRET_KEY: s3.secretKey,
    NEXUS_HUB_S3_BUCKET: "nexus-hub-replicas",
  };
  a = await hubReplica(cluster, url, ADMIN, blobs);
  b = await hubReplica(cluster, url, ADMIN, blobs);
  await Promise.all([a.start(), b.start()]);
  db = new pg.Client({ connectionString: url });
  await db.connect();
  nc = await cluster.connect();
  js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  for (const site of SITES) await simulatedSiteStream(jsm, site, 3);
}, 120_000);

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await db?.end().catch(() => undefined);
  for (const h of [a, b]) {
    if (!h) continue;
    await h.stop();
    removeDir(h.dir);
  }
  await cluster?.stop();
  await pgServer?.stop();
  await s3?.stop();
});

/** Enrols `site` through `hub`'s public API, as `nexus enroll` does (again after a 503). */
async function enrol(hub: HubProcess, site: string): Promise<string> {
  const t = await hub.api<{ token: string }>("POST", "/api/hub/tokens", { site });
  expect(t.status).toBe(201);
  for (let i = 0; ; i++) {
    const res = await fetch(`${hub.url()}/api/hub/enrol`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: t.body.token }),
    });
    if (res.status === 201) return ((await res.json()) as { password: string }).password;
    if (res.status !== 503 || i > 10) throw withHubLog(new Error(`enrol: ${res.status}`), hub);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface FleetSite {
  id: string;
  status: string;
  received: number;
  lagMessages: number | null;
  watermarks: { service: string; seq: number }[];
}

const fleetOf = async (hub: HubProcess) =>
  (await hub.api<{ sites: FleetSite[] }>("GET", "/api/hub/sites")).body.sites;

const count = async (sql: string, params: unknown[] = []) =>
  Number((await db.query<{ n: string }>(sql, params)).rows[0]!.n);

describe("hub replicas on PostgreSQL and a 3-node NATS cluster", () => {
  it("enrols through replica A; replica B lists the sites, and each site's user works on every node", async () => {
    for (const site of SITES) passwords.set(site, await enrol(a, site));
    const sites = await fleetOf(b);
    expect(sites.filter((s) => SITES.includes(s.id)).map((s) => s.status)).toEqual(SITES.map(() => "active"));
    for (const node of cluster.nodes) {
      const c = await connect({
        servers: node.url,
        user: "sim-b",
        pass: passwords.get("sim-b"),
        timeout: 3000,
      });
      await c.close();
    }
  }, 60_000);

  it("takes a blob upload through replica A that replica B then has; a partial one resumes per replica", async () => {
    const body = Buffer.from("a blob uploaded through one replica ".repeat(100));
    const sha = createHash("sha256").update(body).digest("hex");
    const auth = `Basic ${Buffer.from(`sim-a:${passwords.get("sim-a")}`).toString("base64")}`;
    const put = (hub: HubProcess, offset: number, part: Buffer) =>
      fetch(`${hub.url()}/api/hub/blobs/${sha}`, {
        method: "PUT",
        headers: { authorization: auth, "x-blob-size": String(body.length), "upload-offset": String(offset) },
        body: part,
      });
    // Half through A: it stays in A's staging; B holds nothing of it, says so, and takes it whole.
    expect((await put(a, 0, body.subarray(0, 1000))).status).toBe(200);
    const resumed = await put(b, 1000, body.subarray(1000));
    expect(resumed.status).toBe(409);
    expect(resumed.headers.get("upload-offset")).toBe("0");
    expect((await put(b, 0, body)).status).toBe(201);
    const head = await fetch(`${a.url()}/api/hub/blobs/${sha}`, { headers: { authorization: auth } });
    expect(head.status).toBe(200);
    expect(((await head.json()) as { size: number }).size).toBe(body.length);
  }, 30_000);

  it("ingests on both replicas; kill -9 of replica A and a NATS node mid-ingest loses nothing, applies nothing twice", async () => {
    await db.query(
      "INSERT INTO collection_policies (collection, policy) VALUES ($1, 'append-only') ON CONFLICT DO NOTHING",
      [SIM_COLLECTION],
    );
    await Promise.all(SITES.map((s) => publishChanges(js, s, 1, BEFORE)));
    const inbox = () => count("SELECT count(*) AS n FROM inbox WHERE site = ANY($1)", [SITES]);
    await waitFor(async () => (await inbox()) >= 100, 30_000, "ingest to begin");
    // Partitioned: each replica holds the ownership lock of some of the sites (appliance/hub/replicas.ts).
    const owners = await db.query<{ n: number }>(
      `SELECT count(DISTINCT l.pid)::int AS n FROM pg_locks l JOIN unnest($1::text[]) s
         ON l.objid::text::bigint = (hashtext('owner:' || s)::bigint & 4294967295)
       WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted`,
      [SITES],
    );
    expect(owners.rows[0]!.n).toBe(2);
    const atKill = await inbox();
    await Promise.all([a.kill9(), cluster.kill9(1)]);
    // Part of the backlog arrives while a replica and a node are down.
    await Promise.all(SITES.map((s) => publishChanges(js, s, BEFORE + 1, TOTAL)));
    const total = SITES.length * TOTAL;
    expect(atKill).toBeLessThan(total);
    await waitFor(async () => (await inbox()) === total, 60_000, "replica B to apply every change");

    // Exactly once: one inbox row, one append-only row and one record per change.
    const appended = await db.query<{ n: string; keys: string }>(
      "SELECT count(*) AS n, count(DISTINCT key) AS keys FROM appended WHERE collection = $1",
      [SIM_COLLECTION],
    );
    expect(Number(appended.rows[0]!.n)).toBe(total);
    expect(Number(appended.rows[0]!.keys)).toBe(total);
    expect(await count("SELECT count(*) AS n FROM records WHERE collection = $1", [SIM_COLLECTION])).toBe(
      total,
    );

    // The fleet API of the surviving replica: everything received, watermarks at the end of each chain.
    await waitFor(
      async () => (await fleetOf(b)).filter((s) => SITES.includes(s.id) && s.lagMessages === 0).length === 3,
      30_000,
      "replica B to report no lag",
    );
    for (const s of (await fleetOf(b)).filter((x) => SITES.includes(x.id))) {
      expect(s.received).toBe(TOTAL);
      expect(s.watermarks).toEqual([expect.objectContaining({ service: "notes", seq: TOTAL })]);
    }
  }, 120_000);

  it("revokes through replica B: the site's user is refused on every running node", async () => {
    const r = await b.api("DELETE", "/api/hub/sites/sim-c");
    expect(r.status).toBe(200);
    for (const node of [cluster.nodes[0]!, cluster.nodes[2]!]) {
      await expect(
        connect({
          servers: node.url,
          user: "sim-c",
          pass: passwords.get("sim-c"),
          timeout: 3000,
          reconnect: false,
        }),
      ).rejects.toThrow();
    }
  }, 30_000);
});
