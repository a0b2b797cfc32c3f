/**
 * Start-up time of the built CLI: from spawning `nexus -d <tmp> up --port 0` until it prints
 * "All N service(s) ready" (nats-server running, every unit answering /ready). Each round boots a fresh data
 * dir (first boot: secrets, JetStream store, migrations), stops it, and boots the same dir again (warm).
 * Baselines in the same run: a bare `node -e 0`, and `nexus --help` (node + loading the CLI's modules).
 *
 * The same for the core set (identity, system, files named in config.json): `startup_core_seconds`.
 *
 * Knobs: BENCH_STARTUP_RUNS (3), BENCH_BASELINE_RUNS (5).
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, removeDir, tempDir } from "../helpers/appliance.js";
import { envNumber, median, metric, note, onCleanup, requireBuild, spawnUp } from "./util.js";

const run = promisify(execFile);
/** The smallest useful box: accounts, box facts, files. */
const CORE_SET = ["identity", "system", "files"];

async function timeCommand(args: string[]): Promise<number> {
  const t0 = performance.now();
  await run(process.execPath, args, { timeout: 30_000, cwd: ROOT });
  return (performance.now() - t0) / 1000;
}

interface Boot {
  /** Spawn → "All N service(s) ready", seconds, as seen from here. */
  total: number;
  /** The same, as `nexus up` reports it (from after its modules loaded). */
  reported: number;
  /** When nats-server was up, from `nexus up`'s own clock. */
  nats: number;
  services: number;
}

async function boot(dataDir: string): Promise<Boot> {
  const t0 = performance.now();
  const up = spawnUp([], dataDir);
  const unregister = onCleanup(() => up.stop());
  try {
    const m = await up.waitOutput(/All (\d+) service\(s\) ready in ([\d.]+)s/, 90_000);
    const total = (performance.now() - t0) / 1000;
    const nats = /nats-server running \(([\d.]+)s\)/.exec(up.output());
    return { total, reported: Number(m[2]), nats: Number(nats?.[1] ?? Number.NaN), services: Number(m[1]) };
  } finally {
    await up.stop();
    unregister();
  }
}

export async function startupBench(): Promise<void> {
  requireBuild();
  const runs = envNumber("BENCH_STARTUP_RUNS", 3);
  const baselineRuns = envNumber("BENCH_BASELINE_RUNS", 5);

  const load1 = os.loadavg()[0]!;
  const nodeBare: number[] = [];
  const cliHelp: number[] = [];
  for (let i = 0; i < baselineRuns; i++) {
    nodeBare.push(await timeCommand(["-e", "0"]));
    cliHelp.push(await timeCommand([join(ROOT, "bin/nexus.js"), "--help"]));
  }

  const first: Boot[] = [];
  const warm: Boot[] = [];
  const coreFirst: Boot[] = [];
  const coreWarm: Boot[] = [];
  for (let i = 0; i < runs; i++) {
    for (const [set, services, into, intoWarm] of [
      ["default profile", null, first, warm],
      ["core set", CORE_SET, coreFirst, coreWarm],
    ] as const) {
      const dir = tempDir("nexus-bench-");
      if (services) writeFileSync(join(dir, "config.json"), JSON.stringify({ services }));
      try {
        into.push(await boot(dir));
        intoWarm.push(await boot(dir));
      } finally {
        removeDir(dir);
      }
      note(
        `round ${i + 1}, ${set}: first boot ${into.at(-1)!.total.toFixed(2)} s, warm ${intoWarm.at(-1)!.total.toFixed(2)} s`,
      );
    }
  }

  const baseline = median(nodeBare);
  const startup = median(first.map((b) => b.total));
  metric("runs", runs);
  metric("loadavg_1m_at_start", load1, 2);
  metric("services", first[0]?.services ?? 0);
  metric("startup_seconds", startup, 2);
  metric("startup_warm_seconds", median(warm.map((b) => b.total)), 2);
  metric("startup_reported_seconds", median(first.map((b) => b.reported)), 2);
  metric("startup_nats_running_seconds", median(first.map((b) => b.nats)), 2);
  metric("startup_warm_nats_running_seconds", median(warm.map((b) => b.nats)), 2);
  metric("startup_core_seconds", median(coreFirst.map((b) => b.total)), 2);
  metric("startup_core_warm_seconds", median(coreWarm.map((b) => b.total)), 2);
  metric("startup_core_reported_seconds", median(coreFirst.map((b) => b.reported)), 2);
  metric("baseline_node_seconds", baseline, 3);
  metric("baseline_cli_help_seconds", median(cliHelp), 3);
  metric("startup_baseline_ratio", startup / baseline, 1);
}
