/**
 * Where the seconds between a box's link coming up and the hub sourcing its backlog go, with two bare
 * nats-servers configured as the appliance configures them (hub: JetStream domain `hub`, a leafnode listener, a
 * stream `EDGE_<site>` sourcing the box's `NEXUS_SYNC` through `$JS.<site>.API`; box: domain = site, a leafnode
 * remote with `reconnect: <s>`). The hub's nats-server is stopped, the box writes while it is down, and the hub's
 * server starts again (as in `npm run bench -- sync`); timed from its start: the link up (box `/leafz`) and the
 * first message of the backlog in the hub's stream.
 *
 *   sync_linkup_reconnect_<s>_link_s     hub server start → leafnode link up
 *   sync_linkup_reconnect_<s>_sourced_s  hub server start → backlog in the hub stream (median of the rounds)
 *   sync_linkup_readd_sourced_s          the same, when the source is taken out of the stream and put back
 *                                        (two stream updates) as soon as the link is up
 *
 * Knobs: BENCH_LINKUP_ROUNDS (3).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { openSync, writeFileSync } from "node:fs";
import { connect, type JetStreamManager, type NatsConnection, RetentionPolicy, StorageType } from "nats";
import { freePort } from "../../appliance/lib/ports.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { envNumber, median, metric, note, onCleanup, sleep } from "./util.js";

const EDGE = "EDGE_site1";

async function waitFor(what: string, fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function connectTo(port: number): Promise<NatsConnection> {
  for (;;) {
    try {
      return await connect({ servers: `127.0.0.1:${port}`, reconnect: false });
    } catch {
      await sleep(50);
    }
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

/** One pair of servers; returns hub start → link up and hub start → sourced for each round. */
async function scenario(reconnectS: number, readd: boolean, rounds: number) {
  const dir = tempDir("nexus-bench-linkup-");
  const [hubPort, leafPort, boxPort, boxMon] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  writeFileSync(
    `${dir}/hub.conf`,
    `listen: "127.0.0.1:${hubPort}"\nserver_name: hub\njetstream { store_dir: "${dir}/hubjs", domain: hub }\n` +
      `leafnodes { listen: "127.0.0.1:${leafPort}" }\n`,
  );
  writeFileSync(
    `${dir}/box.conf`,
    `listen: "127.0.0.1:${boxPort}"\nserver_name: box\nhttp: "127.0.0.1:${boxMon}"\n` +
      `jetstream { store_dir: "${dir}/boxjs", domain: site1 }\n` +
      `leafnodes { remotes: [ { url: "nats://127.0.0.1:${leafPort}" } ], reconnect: ${reconnectS} }\n`,
  );
  const log = openSync(`${dir}/servers.log`, "a");
  const start = (name: string) =>
    spawn("nats-server", ["-c", `${dir}/${name}.conf`], { stdio: ["ignore", log, log] });
  const box = start("box");
  let hub = start("hub");
  const unregister = onCleanup(async () => {
    await stop(hub);
    await stop(box);
    removeDir(dir);
  });
  const leafs = async () => {
    const r = await fetch(`http://127.0.0.1:${boxMon}/leafz`);
    return ((await r.json()) as { leafs?: unknown[] }).leafs?.length ?? 0;
  };
  const bnc = await connectTo(boxPort);
  await (await bnc.jetstreamManager()).streams.add({
    name: "NEXUS_SYNC",
    subjects: ["sync.site1.>"],
    storage: StorageType.File,
  });
  const bjs = bnc.jetstream();
  let hnc = await connectTo(hubPort);
  let jsm: JetStreamManager = await hnc.jetstreamManager();
  await jsm.streams.add({
    name: EDGE,
    subjects: [],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    sources: [
      { name: "NEXUS_SYNC", filter_subject: "sync.site1.>", external: { api: "$JS.site1.API", deliver: "" } },
    ],
  });
  let want = 0;
  const sourced = async () => (await jsm.streams.info(EDGE)).state.messages >= want;
  const out: { link: number; sourced: number }[] = [];
  try {
    for (let r = 0; r <= rounds; r++) {
      if (r > 0) {
        await hnc.close();
        await stop(hub);
        await waitFor("the link to drop", async () => (await leafs()) === 0);
      }
      for (let i = 0; i < 10; i++) await bjs.publish("sync.site1.notes", "x");
      want += 10;
      const t0 = performance.now();
      if (r > 0) {
        hub = start("hub");
        hnc = await connectTo(hubPort);
        jsm = await hnc.jetstreamManager();
      }
      await waitFor("the link", async () => (await leafs()) > 0);
      const tLink = performance.now();
      if (readd && r > 0) {
        const { config } = await jsm.streams.info(EDGE);
        await jsm.streams.update(EDGE, { ...config, sources: [] });
        await jsm.streams.update(EDGE, config);
      }
      await waitFor("the backlog on the hub", sourced);
      // Round 0 is the first sourcing (stream just created), not a restart.
      if (r > 0) out.push({ link: (tLink - t0) / 1000, sourced: (performance.now() - t0) / 1000 });
    }
    await sleep(1000);
    const held = (await jsm.streams.info(EDGE)).state.messages;
    if (held !== want) throw new Error(`hub stream holds ${held} messages, the box wrote ${want}`);
  } finally {
    await hnc.close();
    await bnc.close();
    unregister();
    await stop(hub);
    await stop(box);
    removeDir(dir);
  }
  return out;
}

export async function syncLinkupBench(): Promise<void> {
  const rounds = Math.floor(envNumber("BENCH_LINKUP_ROUNDS", 3));
  for (const s of [1, 2, 4]) {
    const r = await scenario(s, false, rounds);
    note(
      `reconnect ${s} s: ${r.map((x) => `link ${x.link.toFixed(2)} s, sourced ${x.sourced.toFixed(2)} s`).join("; ")}`,
    );
    metric(`sync_linkup_reconnect_${s}_link_s`, median(r.map((x) => x.link)), 2);
    metric(`sync_linkup_reconnect_${s}_sourced_s`, median(r.map((x) => x.sourced)), 2);
  }
  const r = await scenario(2, true, rounds);
  note(
    `re-added source: ${r.map((x) => `link ${x.link.toFixed(2)} s, sourced ${x.sourced.toFixed(2)} s`).join("; ")}`,
  );
  metric("sync_linkup_readd_link_s", median(r.map((x) => x.link)), 2);
  metric("sync_linkup_readd_sourced_s", median(r.map((x) => x.sourced)), 2);
}
