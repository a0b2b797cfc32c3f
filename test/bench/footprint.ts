/**
 * Idle memory of the whole appliance: VmRSS of the supervisor process + nats-server + every service host
 * process (a shared host counted once), read from /proc after BENCH_IDLE_S (3) seconds of idle after "ready".
 * RSS counts shared pages (the node binary, libraries) once per process, which is exactly what isolation
 * `process` pays for and `shared` saves, so summing RSS is the comparison the goals use. Beside it, each set's
 * PSS sum (`*_pss_mb`: shared pages divided among the processes mapping them, i.e. the memory the box really
 * occupies) and the supervisor's USS (`*_supervisor_uss_mb`: what stopping it would free).
 *
 * Three sets:
 *  - the default profile's services (the built CLI: `nexus up --isolation process|shared`, production code);
 *  - the core set identity, system, files (the same, the set named in config.json): `footprint_core_*`;
 *  - a 3-service set (echo, dependent, system fixtures). Fixtures only exist in the test harness, so a child
 *    process runs `startTestAppliance` (its own RSS counts as the supervisor's) and hosts run through tsx;
 *    a fresh child per mode so neither mode inherits the other's heap. Absolute figures are higher than the
 *    built CLI's (tsx loader in every process); the shared/process ratio is the figure to read.
 */
import { execFile, fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { ROOT, startTestAppliance, tempDir } from "../helpers/appliance.js";
import {
  alive,
  envNumber,
  metric,
  note,
  onCleanup,
  pssUss,
  removeAppliance,
  requireBuild,
  rss,
  sleep,
  track,
  withNexusUp,
} from "./util.js";

type Mode = "process" | "shared";
const MODES: Mode[] = ["process", "shared"];
const MB = 1024 * 1024;
const CHILD_FLAG = "NEXUS_BENCH_FOOTPRINT_CHILD";
const FIXTURE_SET = ["echo", "dependent", "system"];
/** The smallest useful box: accounts, box facts, files (built CLI, production code). */
const CORE_SET = ["identity", "system", "files"];

interface Pids {
  supervisor: number;
  nats: number | null;
  hosts: number[];
}

interface Footprint {
  supervisor: number;
  nats: number;
  hosts: number;
  total: number;
  hostCount: number;
  /** Sum of PSS over every process of the set. */
  pss: number;
  supervisorUss: number;
}

function measure(p: Pids): Footprint {
  const hosts = [...new Set(p.hosts)];
  const supervisor = rss(p.supervisor);
  const nats = p.nats ? rss(p.nats) : 0;
  const hostRss = hosts.reduce((sum, pid) => sum + rss(pid), 0);
  const all = [p.supervisor, ...(p.nats ? [p.nats] : []), ...hosts];
  const pss = all.reduce((sum, pid) => sum + pssUss(pid).pss, 0);
  return {
    supervisor,
    nats,
    hosts: hostRss,
    total: supervisor + nats + hostRss,
    hostCount: hosts.length,
    pss,
    supervisorUss: pssUss(p.supervisor).uss,
  };
}

function report(prefix: string, by: Record<Mode, Footprint>): void {
  for (const mode of MODES) {
    const f = by[mode];
    metric(`${prefix}_${mode}_mb`, f.total / MB, 1);
    metric(`${prefix}_${mode}_supervisor_mb`, f.supervisor / MB, 1);
    metric(`${prefix}_${mode}_nats_mb`, f.nats / MB, 1);
    metric(`${prefix}_${mode}_hosts_mb`, f.hosts / MB, 1);
    metric(`${prefix}_${mode}_host_processes`, f.hostCount);
    metric(`${prefix}_${mode}_pss_mb`, f.pss / MB, 1);
    metric(`${prefix}_${mode}_supervisor_uss_mb`, f.supervisorUss / MB, 1);
  }
  metric(`${prefix}_shared_process_ratio`, by.shared.total / by.process.total, 3);
}

/** Default profile through the built CLI; `services` (config.json) instead of the profile's set when given. */
async function defaultProfile(mode: Mode, idleMs: number, services?: string[]): Promise<Footprint> {
  const dataDir = tempDir("nexus-bench-");
  if (services) writeFileSync(join(dataDir, "config.json"), JSON.stringify({ services }));
  return withNexusUp(
    ["--isolation", mode],
    async (up) => {
      await sleep(idleMs);
      const s = await up.status();
      const hosts = s.services.map((x) => x.pid).filter((p): p is number => typeof p === "number");
      if (hosts.length === 0 || !s.nats.pid) throw new Error(`${mode}: not all processes up`);
      note(
        `${services ? "core set" : "default profile"}, ${mode}: services ${s.services.map((x) => x.name).join(", ")}`,
      );
      return measure({ supervisor: s.pid, nats: s.nats.pid, hosts });
    },
    { dataDir },
  );
}

/** The fixture set in a fresh child process running the test harness. */
function fixtureSet(mode: Mode, idleMs: number): Promise<Footprint> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ["--import", import.meta.resolve("tsx")],
    env: { ...process.env, [CHILD_FLAG]: mode },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  track(child.pid);
  let pids: Pids | null = null;
  const stopChild = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      if (child.connected) child.send({ type: "stop" });
      else child.kill("SIGTERM");
      await Promise.race([exited, sleep(25_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    const deadline = Date.now() + 5000;
    const left = () => [pids?.nats, ...(pids?.hosts ?? [])].filter((p): p is number => !!p && alive(p));
    while (left().length && Date.now() < deadline) await sleep(50);
    for (const pid of left()) process.kill(pid, "SIGKILL");
  };
  const unregister = onCleanup(stopChild);
  return new Promise<Pids>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`fixture appliance (${mode}) not ready in 90 s`)),
      90_000,
    );
    child.once("message", (m: { type: string; pids: Pids }) => {
      clearTimeout(timer);
      if (m.type !== "ready") return reject(new Error(`fixture child: ${JSON.stringify(m)}`));
      resolve(m.pids);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`fixture appliance (${mode}) exited with code ${code}`));
    });
  })
    .then(async (p) => {
      pids = p;
      for (const pid of [p.nats, ...p.hosts]) track(pid);
      await sleep(idleMs);
      return measure(p);
    })
    .finally(async () => {
      await stopChild();
      unregister();
    });
}

const run = promisify(execFile);

/** RSS (MB) of a fresh `node` after importing `modules` of dist/ and a full GC; none: bare node. */
async function importRss(modules: string[]): Promise<number> {
  const urls = modules.map((m) => pathToFileURL(join(ROOT, "dist", m)).href);
  const script = `for (const u of ${JSON.stringify(urls)}) await import(u); gc(); process.stdout.write(String(process.memoryUsage().rss));`;
  const { stdout } = await run(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
    cwd: ROOT,
    timeout: 60_000,
  });
  return Number(stdout) / MB;
}

/** What loading the code costs, before anything runs: `nexus up`'s supervisor, and a host with the core set. */
async function moduleLoad(): Promise<void> {
  const bare = await importRss([]);
  const supervisor = await importRss(["appliance/cli/up.js"]);
  const host = await importRss([
    "appliance/host/run.js",
    ...CORE_SET.map((name) => `services/${name}/index.js`),
  ]);
  metric("modules_bare_node_mb", bare, 1);
  metric("modules_supervisor_mb", supervisor, 1);
  metric("modules_core_host_mb", host, 1);
  metric("modules_supervisor_over_bare_mb", supervisor - bare, 1);
}

export async function footprintBench(): Promise<void> {
  requireBuild();
  await moduleLoad();
  const idleMs = envNumber("BENCH_IDLE_S", 3) * 1000;
  const byDefault = {} as Record<Mode, Footprint>;
  const byFixture = {} as Record<Mode, Footprint>;
  const byCore = {} as Record<Mode, Footprint>;
  for (const mode of MODES) {
    byDefault[mode] = await defaultProfile(mode, idleMs);
    note(`default profile, ${mode}: ${(byDefault[mode].total / MB).toFixed(1)} MB`);
    byCore[mode] = await defaultProfile(mode, idleMs, CORE_SET);
    note(`core set ${CORE_SET.join("+")}, ${mode}: ${(byCore[mode].total / MB).toFixed(1)} MB`);
  }
  for (const mode of MODES) {
    byFixture[mode] = await fixtureSet(mode, idleMs);
    note(`fixture set ${FIXTURE_SET.join("+")}, ${mode}: ${(byFixture[mode].total / MB).toFixed(1)} MB`);
  }
  // footprint_process_mb, footprint_shared_mb, footprint_shared_process_ratio: the default profile.
  report("footprint", byDefault);
  // The goal of issue 16 part 4: the core set in shared mode ≤ 150 MB, its supervisor ≤ 50 MB.
  report("footprint_core", byCore);
  report("footprint_3svc", byFixture);
}

// Child side of `fixtureSet`: an in-process appliance that reports its pids and stops when told.
const childMode = process.env[CHILD_FLAG];
if ((childMode === "process" || childMode === "shared") && process.send) {
  const app = await startTestAppliance({ services: FIXTURE_SET, isolation: childMode });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await removeAppliance(app);
    process.exit(code);
  };
  setTimeout(() => void stop(4), 180_000).unref();
  process.on("message", (m: { type: string }) => {
    if (m.type === "stop") void stop(0);
  });
  process.on("disconnect", () => void stop(0));
  const hosts = app.supervisor.status().map((s) => s.pid);
  process.send({
    type: "ready",
    pids: {
      supervisor: process.pid,
      nats: app.supervisor.natsState().pid,
      hosts: hosts.filter((p): p is number => typeof p === "number"),
    },
  });
}
