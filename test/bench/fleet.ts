/**
 * Fleet simulator: N simulated sites (direct JetStream publishers, test/helpers/fleet.ts, not boxes) each with a
 * backlog, drained by 1 and then 3 hub replicas (`nexus hub` processes) on one PostgreSQL and a 3-node NATS
 * cluster (streams with 3 replicas). Each run has its own database and site ids; the backlog is in the streams
 * (and each site's ingest consumer exists) before the sites are registered, so what is timed is the ingest:
 * from the moment the sites become active (one INSERT, announced to the replicas) until each site's watermark
 * reaches the end of its backlog.
 *
 *   fleet_changes_per_s_r<R> = sites × changes per site / time until every site is applied
 *   fleet_lag_p50_s_r<R>, fleet_lag_p99_s_r<R> = per site: time until its whole backlog was applied
 *   fleet_replica_ratio = changes/s with 3 replicas / with 1 (goal ≥ 2.5)
 *   fleet_cpu_*_r<R> = CPU seconds of the hub replicas, the nats-servers, PostgreSQL and all cores busy (drain)
 *
 * Knobs: BENCH_FLEET_SITES (200), BENCH_FLEET_CHANGES (50 per site), BENCH_FLEET_TIMEOUT_S (900).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { JetStreamClient, JetStreamManager, NatsConnection } from "nats";
import pg from "pg";
import { edgeStream, ensureEdgeStream } from "../../appliance/hub/ingest.js";
import { announceSites } from "../../appliance/hub/replicas.js";
import { removeDir } from "../helpers/appliance.js";
import { hubReplica, publishChanges, simulatedSiteStream } from "../helpers/fleet.js";
import type { HubProcess } from "../helpers/hub.js";
import { type NatsCluster, startNatsCluster } from "../helpers/nats-cluster.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { cpuMs, envNumber, metric, note, onCleanup, sleep, systemBusyMs } from "./util.js";

const ADMIN = "fleet-bench-admin-token-0123456789abcdef";

interface RunResult {
  rate: number;
  lags: number[];
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** The streams, consumers and backlogs of `sites`, before any hub knows them. */
async function prepareSites(jsm: JetStreamManager, js: JetStreamClient, sites: string[], changes: number) {
  const t = performance.now();
  await pool(sites, 4, async (site) => {
    // A loaded machine times JetStream API calls out now and then: asked again (both calls are idempotent).
    for (let attempt = 0; ; attempt++) {
      try {
        await jsm.streams.info(edgeStream(site)).catch(() => simulatedSiteStream(jsm, site, 3));
        await ensureEdgeStream(jsm, site, 3);
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
  });
  note(`streams and consumers of ${sites.length} sites in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const p = performance.now();
  await pool(sites, 16, (site) => publishChanges(js, site, 1, changes, 32));
  const s = (performance.now() - p) / 1000;
  note(
    `published ${sites.length * changes} changes in ${s.toFixed(1)} s (${((sites.length * changes) / s).toFixed(0)}/s)`,
  );
}

/** CPU ms of the PostgreSQL server on `port`: its postmaster and every live child (backends, WAL writer, …). */
function postgresCpuMs(port: number): number {
  const procs = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  const read = (p: string, f: string) => {
    try {
      return readFileSync(`/proc/${p}/${f}`, "utf8");
    } catch {
      return "";
    }
  };
  const master = procs.find((p) => {
    const cmd = read(p, "cmdline").split("\0");
    // The postmaster itself, not the `runuser` that started it (its arguments name the port too).
    return (cmd[0] ?? "").endsWith("/postgres") && cmd.includes(String(port));
  });
  if (!master) return Number.NaN;
  const ppid = (p: string) => {
    const stat = read(p, "stat");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
  };
  return procs
    .filter((p) => p === master || ppid(p) === master)
    .reduce((a, p) => a + (cpuMs(Number(p)) || 0), 0);
}

function hubPid(hub: HubProcess): number {
  return (JSON.parse(readFileSync(join(hub.dir, "run", "hub.json"), "utf8")) as { pid: number }).pid;
}

async function runWith(
  replicas: number,
  env: {
    pgServer: TestPostgres;
    cluster: NatsCluster;
    nc: NatsConnection;
    jsm: JetStreamManager;
    js: JetStreamClient;
  },
  sitesN: number,
  changes: number,
): Promise<RunResult> {
  const { pgServer, cluster, jsm, js } = env;
  const sites = Array.from({ length: sitesN }, (_, i) => `f${replicas}-${String(i).padStart(4, "0")}`);
  await prepareSites(jsm, js, sites, changes);
  const url = await pgServer.createDatabase(`fleet_r${replicas}`);
  const hubs: HubProcess[] = [];
  for (let i = 0; i < replicas; i++)
    hubs.push(await hubReplica(cluster, url, ADMIN, { NEXUS_LOG_LEVEL: "error" }));
  const stopHubs = async () => {
    for (const h of hubs) {
      await h.stop();
      removeDir(h.dir);
    }
  };
  const unregister = onCleanup(stopHubs);
  await Promise.all(hubs.map((h) => h.start()));
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const pids = hubs.map(hubPid);
    const natsPids = cluster.nodes.map((n) => n.child?.pid ?? 0);
    const cpu = () => ({
      hubs: pids.reduce((a, p) => a + cpuMs(p), 0),
      nats: natsPids.reduce((a, p) => a + cpuMs(p), 0),
      pg: postgresCpuMs(pgServer.port),
      busy: systemBusyMs(),
    });
    await db.query(
      `INSERT INTO sites (id, name, status, enrolled_at) SELECT s, s, 'active', now() FROM unnest($1::text[]) s`,
      [sites],
    );
    const before = cpu();
    const t0 = performance.now();
    announceSites(env.nc);
    const done = new Map<string, number>();
    const deadline = t0 + envNumber("BENCH_FLEET_TIMEOUT_S", 900) * 1000;
    while (done.size < sites.length) {
      if (performance.now() > deadline)
        throw new Error(`fleet: ${done.size}/${sites.length} sites applied in time`);
      await sleep(200);
      const rows = await db.query<{ site: string; seq: string }>("SELECT site, seq FROM watermarks");
      const now = performance.now();
      for (const r of rows.rows)
        if (Number(r.seq) >= changes && !done.has(r.site)) done.set(r.site, now - t0);
    }
    const seconds = (performance.now() - t0) / 1000;
    const after = cpu();
    const total = sitesN * changes;
    const applied = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM inbox")).rows[0]!.n);
    if (applied !== total) throw new Error(`fleet: ${applied} inbox rows for ${total} changes`);
    const lags = [...done.values()].map((ms) => ms / 1000);
    metric(`fleet_changes_per_s_r${replicas}`, total / seconds, 0);
    metric(`fleet_lag_p50_s_r${replicas}`, quantile(lags, 0.5), 2);
    metric(`fleet_lag_p99_s_r${replicas}`, quantile(lags, 0.99), 2);
    metric(`fleet_cpu_hubs_s_r${replicas}`, (after.hubs - before.hubs) / 1000, 1);
    metric(`fleet_cpu_nats_s_r${replicas}`, (after.nats - before.nats) / 1000, 1);
    metric(`fleet_cpu_postgres_s_r${replicas}`, (after.pg - before.pg) / 1000, 1);
    metric(`fleet_cpu_all_cores_busy_s_r${replicas}`, (after.busy - before.busy) / 1000, 1);
    metric(`fleet_drain_s_r${replicas}`, seconds, 2);
    return { rate: total / seconds, lags };
  } finally {
    await db.end();
    await stopHubs();
    unregister();
  }
}

/** `npm run bench -- fleet`. */
export async function fleetBench(): Promise<void> {
  const sitesN = envNumber("BENCH_FLEET_SITES", 200);
  const changes = envNumber("BENCH_FLEET_CHANGES", 50);
  metric("fleet_sites", sitesN);
  metric("fleet_changes_per_site", changes);
  const [pgServer, cluster] = await Promise.all([startPostgres(), startNatsCluster()]);
  const unregister = onCleanup(async () => {
    await cluster.stop();
    await pgServer.stop();
  });
  const nc = await cluster.connect();
  try {
    const env = { pgServer, cluster, nc, jsm: await nc.jetstreamManager(), js: nc.jetstream() };
    const one = await runWith(1, env, sitesN, changes);
    const three = await runWith(3, env, sitesN, changes);
    metric("fleet_replica_ratio", three.rate / one.rate, 2);
  } finally {
    await nc.close();
    await cluster.stop();
    await pgServer.stop();
    unregister();
  }
}
