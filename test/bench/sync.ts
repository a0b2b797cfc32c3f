/**
 * Sync drain: a box enrolled with a real hub (`nexus hub` process, PGlite) writes N changes while the hub is
 * down; the hub comes back and we time until its fleet registry reports all N received (one inbox row per
 * applied change), and until the box has pruned its outbox (the hub's watermark came back). The box has
 * published every change to its local NEXUS_SYNC stream before the hub returns, so what is timed is the
 * sourcing over the leafnode and the hub's ingest, not the box's relay.
 *
 *   sync_drain_changes_per_s = N / (time from the leafnode link coming up to `received` = N)
 *   sync_drain_ratio         = drain rate / rate of `applyChanges` straight into a fresh hub database of the
 *                              same engine (same N records, 5,000 per transaction as the ingest uses, in this
 *                              process, run after box and hub are stopped)
 *   sync_wire_ratio          = bytes on the leafnode TCP connection (both directions, from `ss`: TCP payload,
 *                              without IP/TCP headers) per change / the change record's JSON size
 *
 * The box's nats-server monitoring endpoint (`/leafz`) gives the leaf connection's message bytes (NATS headers +
 * payload, no protocol lines) as a second reading of the wire; the leaf connection is new after the hub's
 * restart, so its counters cover exactly the reconnect and the drain. CPU per change of each process during the
 * drain shows where the time goes.
 *
 * The whole run is done twice: the hub on PGlite (metrics `sync_*`), then on a real PostgreSQL server this
 * benchmark starts (test/helpers/postgres.ts; metrics `sync_pg_*`).
 *
 * Knobs: BENCH_SYNC_CHANGES (100000), BENCH_SYNC_BULK (10000 per bulk request), BENCH_SYNC_TIMEOUT_S (3600),
 * BENCH_SYNC_DB (`pglite,postgres`: which engines).
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { applyChanges, type IncomingChange } from "../../appliance/hub/apply.js";
import { openHubDb } from "../../appliance/hub/db.js";
import { migrateHub } from "../../appliance/hub/migrations.js";
import { dataPaths } from "../../appliance/paths.js";
import type { ChangeRecord } from "../../appliance/sync/change.js";
import { removeDir, type TestAppliance, tempDir } from "../helpers/appliance.js";
import { enrolledBox, type HubProcess, hubProcess } from "../helpers/hub.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import {
  alive,
  metric as baseMetric,
  cpuMs,
  envNumber,
  note,
  onCleanup,
  removeAppliance,
  sleep,
  systemBusyMs,
} from "./util.js";

const SITE = "bench-sync";
const APPLY_BATCH = 5000; // records per transaction, as appliance/hub/ingest.ts (TX_RECORDS)

interface LeafConn {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

interface SiteView {
  id: string;
  received: number;
  lagMessages: number | null;
}

/** The box's leafnode connections as its nats-server reports them (empty while the link is down). */
async function leafz(box: TestAppliance): Promise<LeafConn[]> {
  const port = readFileSync(dataPaths(box.dataDir).natsMonitor, "utf8").trim();
  const res = await fetch(`http://127.0.0.1:${port}/leafz`);
  return ((await res.json()) as { leafs?: LeafConn[] }).leafs ?? [];
}

/** TCP payload bytes of the box's established connection(s) to the hub's leafnode port (box's view). */
function tcpBytes(leafPort: number): { sent: number; received: number } | null {
  try {
    const out = execFileSync("ss", ["-tinH", "state", "established", "dst", `127.0.0.1:${leafPort}`], {
      encoding: "utf8",
      timeout: 5000,
    });
    const sum = (field: string) =>
      [...out.matchAll(new RegExp(`\\b${field}:(\\d+)`, "g"))].reduce((a, m) => a + Number(m[1]), 0);
    if (!/bytes_received:/.test(out)) return null;
    return { sent: sum("bytes_sent"), received: sum("bytes_received") };
  } catch {
    return null;
  }
}

/** Pids of processes whose command line names `dir` (the hub process and its nats-server). */
function pidsUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir)) pids.push(Number(p));
    } catch {
      // gone
    }
  }
  return pids;
}

function processName(pid: number): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return cmd.some((c) => c.includes("nats-server")) ? "nats" : "node";
  } catch {
    return "gone";
  }
}

async function sites(hub: HubProcess): Promise<Map<string, SiteView>> {
  const r = await hub.api<{ sites: SiteView[] }>("GET", "/api/hub/sites");
  return new Map(r.body.sites.map((s) => [s.id, s]));
}

async function bulk(box: TestAppliance, prefix: string, count: number): Promise<void> {
  const post = () =>
    box.api("/api/notes/bulk", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prefix, count }),
    });
  let r = await post();
  // On a loaded machine the supervisor may restart the notes service that missed a health check; the gateway
  // takes its route away until it answers again (503 without forwarding), so asking again cannot write twice.
  for (const until = Date.now() + 120_000; r.status === 503 && Date.now() < until; ) {
    await sleep(1000);
    r = await post();
  }
  if (r.status !== 200) {
    let log = "";
    try {
      const logs = dataPaths(box.dataDir).logs;
      for (const f of readdirSync(logs))
        log += `== ${f}\n${readFileSync(join(logs, f), "utf8").slice(-1500)}\n`;
    } catch {
      // no log
    }
    const units = JSON.stringify(box.supervisor.status().find((u) => u.name === "notes"));
    throw new Error(`bulk write: ${r.status} ${(await r.text()).slice(0, 200)}\nnotes: ${units}\n${log}`);
  }
}

async function waitUntil(what: string, timeoutMs: number, fn: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The hub's own work, without NATS: the same records through applyChanges into a fresh database. */
async function directApply(
  changes: IncomingChange[],
  pgUrl: string | null,
): Promise<{ seconds: number; cpuMs: number; foreignPct: number }> {
  const dir = tempDir("nexus-bench-hubdb-");
  const unregister = onCleanup(async () => removeDir(dir));
  const db = await openHubDb(pgUrl ? { kind: "postgres", url: pgUrl } : { kind: "pglite", dir });
  try {
    await migrateHub(db);
    const t0 = performance.now();
    const busy0 = systemBusyMs();
    const own0 = cpuMs(process.pid);
    let lastNote = t0;
    for (let i = 0; i < changes.length; i += APPLY_BATCH) {
      const r = await applyChanges(db, changes.slice(i, i + APPLY_BATCH));
      if (r.applied !== Math.min(APPLY_BATCH, changes.length - i))
        throw new Error("direct apply skipped rows");
      if (performance.now() - lastNote > 10_000) {
        lastNote = performance.now();
        note(`direct apply: ${i + APPLY_BATCH} in ${((lastNote - t0) / 1000).toFixed(0)} s`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const own = cpuMs(process.pid) - own0;
    const foreignPct = (systemBusyMs() - busy0 - own) / seconds / 10;
    const [row] = await db.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM records");
    const keys = new Set(changes.map((c) => c.record.key)).size;
    if (Number(row?.n) !== keys) throw new Error(`direct apply: ${row?.n} records, expected ${keys}`);
    return { seconds, cpuMs: own, foreignPct };
  } finally {
    await db.close();
    removeDir(dir);
    unregister();
  }
}

export async function syncBench(): Promise<void> {
  const engines = (process.env.BENCH_SYNC_DB ?? "pglite,postgres").split(",");
  if (engines.includes("pglite")) await drainBench("sync_", null);
  if (engines.includes("postgres")) {
    const pg = await startPostgres();
    const unregister = onCleanup(() => pg.stop());
    try {
      await drainBench("sync_pg_", pg);
    } finally {
      await pg.stop();
      unregister();
    }
  }
}

/** One drain into a hub on PGlite (pg null) or on PostgreSQL; metrics named with `prefix`. */
async function drainBench(prefix: string, pg: TestPostgres | null): Promise<void> {
  const metric = (name: string, value: number, digits?: number) =>
    baseMetric(name.replace(/^sync_/, prefix), value, digits);
  let n = Math.floor(envNumber("BENCH_SYNC_CHANGES", 100_000));
  const chunk = Math.floor(envNumber("BENCH_SYNC_BULK", 10_000));
  const timeoutMs = envNumber("BENCH_SYNC_TIMEOUT_S", 3600) * 1000;

  const hub = await hubProcess(pg ? { databaseUrl: await pg.createDatabase("bench_hub") } : {});
  const unregisterHub = onCleanup(async () => {
    await Promise.race([hub.stop(), sleep(15_000)]);
    for (const pid of pidsUsing(hub.dir)) if (alive(pid)) process.kill(pid, "SIGKILL");
    removeDir(hub.dir);
  });
  await hub.start();
  // The bulk writes keep the notes host busy for seconds on a loaded machine: no restart for missed health checks.
  const box = await enrolledBox(hub, SITE, ["notes"], { config: { supervisor: { unhealthyAfter: 60 } } });
  const unregisterBox = onCleanup(() => removeAppliance(box));
  await waitUntil("the leafnode link", 30_000, async () => (await leafz(box)).length > 0);
  note(`hub ${hub.dir}, box ${box.dataDir}: linked`);

  await hub.stop();
  await waitUntil("the link to drop", 30_000, async () => (await leafz(box)).length === 0);
  note(`hub stopped; writing ${n} changes offline`);
  const tw = performance.now();
  for (let i = 0; i < n; i += chunk) await bulk(box, `n${i}`, Math.min(chunk, n - i));
  const writeSeconds = (performance.now() - tw) / 1000;

  const outbox = new Database(join(box.dataDir, "services", "notes", "notes.db"), {
    readonly: true,
    fileMustExist: true,
  });
  const unregisterOutbox = onCleanup(async () => {
    outbox.close();
  });
  const count = (where: string) =>
    (
      outbox.prepare(`SELECT COUNT(*) AS c FROM _outbox WHERE subject LIKE 'sync.%' ${where}`).get() as {
        c: number;
      }
    ).c;
  // Offline the relay still publishes into the box's own stream; wait for that, so the drain is the link's.
  await waitUntil("the local relay", 120_000, () => count("AND published_at IS NULL") === 0);
  note(`written in ${writeSeconds.toFixed(1)} s and published to the local stream`);

  const rows = outbox
    .prepare("SELECT seq, id, payload FROM _outbox WHERE subject LIKE 'sync.%' ORDER BY seq")
    .all() as { seq: number; id: string; payload: string }[];
  if (rows.length < n) throw new Error(`outbox holds ${rows.length} sync rows, expected ${n}`);
  if (rows.length > n) {
    // A bulk call the gateway gave up on (503 under load) may have written part of its notes before the retry.
    note(`outbox holds ${rows.length} sync rows (${rows.length - n} from a retried bulk call): draining all`);
    n = rows.length;
  }
  const jsonBytes = rows.reduce((a, r) => a + Buffer.byteLength(r.payload), 0);
  const firstBytes = Buffer.byteLength(rows[0]!.payload);
  note(`one change record (${firstBytes} B): ${rows[0]!.payload}`);
  const changes: IncomingChange[] = rows.map((r, i) => ({
    msgId: r.id,
    seq: r.seq,
    prevSeq: i === 0 ? 0 : rows[i - 1]!.seq,
    record: JSON.parse(r.payload) as ChangeRecord,
  }));
  rows.length = 0;

  // Reconnect and drain.
  const t0 = performance.now();
  await hub.start();
  const tHub = performance.now();
  const pids = [
    ...pidsUsing(hub.dir).map((pid) => ({ pid, name: `hub_${processName(pid)}` })),
    { pid: box.supervisor.natsState().pid ?? 0, name: "box_nats" },
    { pid: box.supervisor.status().find((s) => s.name === "notes")?.pid ?? 0, name: "box_notes" },
    { pid: process.pid, name: "bench" },
  ].filter((p) => p.pid > 0);
  let tLink = 0;
  while (tLink === 0) {
    if ((await leafz(box)).length > 0) tLink = performance.now();
    else if (performance.now() - tHub > 60_000) throw new Error("the box did not reconnect");
    else await sleep(50);
  }
  const cpu0 = pids.map((p) => cpuMs(p.pid));
  const busy0 = systemBusyMs();
  note(
    `hub up in ${((tHub - t0) / 1000).toFixed(1)} s, link up ${((tLink - tHub) / 1000).toFixed(1)} s later`,
  );

  let tSourced = 0;
  let tFirst = 0;
  let tDrained = 0;
  let lastNote = tLink;
  let lastReceived = 0;
  while (tDrained === 0) {
    if (tSourced === 0 && (await leafz(box)).some((l) => l.out_msgs > 0)) {
      tSourced = performance.now();
    }
    const site = (await sites(hub)).get(SITE);
    const received = site?.received ?? 0;
    const now = performance.now();
    if (received > 0 && tFirst === 0) tFirst = now;
    if (received >= n) tDrained = now;
    else if (now - tLink > timeoutMs) throw new Error(`drain timed out at ${received}/${n}`);
    if (now - lastNote >= 10_000) {
      const rate = ((received - lastReceived) * 1000) / (now - lastNote);
      note(`received ${received}/${n} (${rate.toFixed(0)}/s now), lag ${site?.lagMessages ?? "?"}`);
      lastNote = now;
      lastReceived = received;
    }
    if (tDrained === 0) await sleep(250);
  }
  const cpu1 = pids.map((p) => cpuMs(p.pid));
  const busy1 = systemBusyMs();
  await waitUntil("the box to prune its outbox", 120_000, () => count("") === 0);
  const tAcked = performance.now();
  const leafs = await leafz(box);
  const tcp = tcpBytes(hub.leafPort);

  // How much the 250 ms poll itself asks of the hub (COUNT(*) over the inbox on the ingest's one connection).
  const tp = performance.now();
  for (let i = 0; i < 5; i++) await sites(hub);
  const pollMs = (performance.now() - tp) / 5;

  outbox.close();
  unregisterOutbox();
  await removeAppliance(box);
  unregisterBox();
  await hub.stop();
  removeDir(hub.dir);
  unregisterHub();

  note(`direct applyChanges of the same ${n} records into a fresh ${pg ? "PostgreSQL database" : "PGlite"}`);
  const direct = await directApply(changes, pg ? await pg.createDatabase("bench_direct") : null);
  const directSeconds = direct.seconds;

  const drainSeconds = (tDrained - tLink) / 1000;
  const drainRate = n / drainSeconds;
  const directRate = n / directSeconds;
  const jsonPerChange = jsonBytes / n;
  const leaf = leafs.reduce(
    (a, l) => ({
      in_msgs: a.in_msgs + l.in_msgs,
      out_msgs: a.out_msgs + l.out_msgs,
      in_bytes: a.in_bytes + l.in_bytes,
      out_bytes: a.out_bytes + l.out_bytes,
    }),
    { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 },
  );
  const leafPerChange = (leaf.in_bytes + leaf.out_bytes) / n;
  const wirePerChange = tcp ? (tcp.sent + tcp.received) / n : leafPerChange;

  metric("sync_changes", n, 0);
  metric("sync_write_seconds", writeSeconds, 2);
  metric("sync_hub_start_seconds", (tHub - t0) / 1000, 2);
  metric("sync_link_up_seconds", (tLink - tHub) / 1000, 2);
  metric("sync_first_sourced_seconds", (tSourced - tLink) / 1000, 2);
  metric("sync_first_apply_seconds", (tFirst - tLink) / 1000, 2);
  metric("sync_drain_seconds", drainSeconds, 2);
  metric("sync_ack_seconds", (tAcked - tLink) / 1000, 2);
  metric("sync_drain_changes_per_s", drainRate, 0);
  metric("sync_direct_apply_seconds", directSeconds, 2);
  metric("sync_direct_apply_changes_per_s", directRate, 0);
  metric("sync_drain_ratio", drainRate / directRate);
  // CPU rather than wall time: less sensitive to other load on a shared machine.
  metric("sync_direct_apply_cpu_us_per_change", (direct.cpuMs * 1000) / n, 1);
  for (const [i, p] of pids.entries()) {
    const used = cpu1[i]! - cpu0[i]!;
    metric(`sync_cpu_us_per_change_${p.name}`, (used * 1000) / n, 1);
    note(
      `${p.name} (pid ${p.pid}): ${((used / 1000 / drainSeconds) * 100).toFixed(0)} % of a core during the drain`,
    );
  }
  const ownMs = cpu1.reduce((a, c, i) => a + c - cpu0[i]!, 0);
  // Other processes on the machine (not this benchmark's), in % of one core: the machine may be shared.
  metric("sync_foreign_cpu_pct_drain", Math.max(0, (busy1 - busy0 - ownMs) / drainSeconds / 10), 0);
  metric("sync_foreign_cpu_pct_direct", Math.max(0, direct.foreignPct), 0);
  metric("sync_sites_poll_ms", pollMs, 1);
  metric("sync_json_bytes_first", firstBytes, 0);
  metric("sync_json_bytes_per_change", jsonPerChange, 1);
  if (tcp) {
    metric("sync_wire_box_to_hub_bytes_per_change", tcp.sent / n, 1);
    metric("sync_wire_hub_to_box_bytes_per_change", tcp.received / n, 1);
  } else note("ss gave no TCP byte counts: the wire figures are /leafz message bytes");
  metric("sync_leafz_out_bytes_per_change", leaf.out_bytes / n, 1);
  metric("sync_leafz_in_bytes_per_change", leaf.in_bytes / n, 1);
  metric("sync_leafz_msgs_per_change", (leaf.in_msgs + leaf.out_msgs) / n, 3);
  metric("sync_leafz_ratio", leafPerChange / jsonPerChange);
  metric("sync_wire_bytes_per_change", wirePerChange, 1);
  metric("sync_wire_ratio", wirePerChange / jsonPerChange);
}
