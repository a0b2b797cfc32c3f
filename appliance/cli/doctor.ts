/** `nexus doctor`: what the box has, what it lacks, and the command that fixes each gap. */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, statfsSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { ffmpegReport } from "../../services/media/ffmpeg/report.js";
import { table } from "../lib/format.js";
import { natsServerVersion } from "../supervisor/nats-server.js";
import { aiChecks } from "./doctor-ai.js";
import { type DoctorTarget, doctorTarget } from "./doctor-target.js";

export type CheckLevel = "ok" | "warn" | "fail";
export interface Check {
  name: string;
  level: CheckLevel;
  detail: string;
  fix?: string;
}

const run = promisify(execFile);

async function version(bin: string, args: string[], re: RegExp): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(bin, args, { timeout: 5000 });
    return re.exec(stdout + stderr)?.[1] ?? "unknown";
  } catch {
    return null;
  }
}

function cmpVersion(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** Runs every check; none of them changes anything on the box. */
export async function runDoctor(opts: DoctorTarget): Promise<Check[]> {
  const checks: Check[] = [];
  const node = process.versions.node;
  checks.push(
    cmpVersion(node, "20.19.0") >= 0
      ? { name: "node", level: "ok", detail: `v${node}` }
      : {
          name: "node",
          level: "fail",
          detail: `v${node}, need >= 20.19`,
          fix: "install Node.js 20.19 or newer",
        },
  );

  const nats = await natsServerVersion(opts.natsServer);
  checks.push(
    nats === null
      ? {
          name: "nats-server",
          level: "fail",
          detail: `${opts.natsServer} not found`,
          fix: "apt-get install nats-server",
        }
      : cmpVersion(nats, "2.9.0") < 0
        ? {
            name: "nats-server",
            level: "fail",
            detail: `v${nats}, need >= 2.9`,
            fix: "apt-get install nats-server",
          }
        : { name: "nats-server", level: "ok", detail: `v${nats}` },
  );

  checks.push(await ffmpegCheck());

  let probe = opts.dataDir;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  const fs = statfsSync(probe);
  const free = fs.bavail * fs.bsize;
  const gb = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GB`;
  checks.push({
    name: "disk",
    level: free < 200 * 1024 ** 2 ? "fail" : free < 2 * 1024 ** 3 ? "warn" : "ok",
    detail: `${gb(free)} free of ${gb(fs.blocks * fs.bsize)} at ${probe}`,
    fix:
      free < 2 * 1024 ** 3
        ? "free space on the data dir's disk, or set NEXUS_DATA_DIR to a larger one"
        : undefined,
  });
  try {
    mkdirSync(opts.dataDir, { recursive: true });
    checks.push({ name: "data dir", level: "ok", detail: `${opts.dataDir} (writable)` });
  } catch (err) {
    checks.push({
      name: "data dir",
      level: "fail",
      detail: `${opts.dataDir}: ${(err as Error).message}`,
      fix: "choose a writable directory with --data-dir or NEXUS_DATA_DIR",
    });
  }

  const mem = os.totalmem();
  checks.push({
    name: "memory",
    level: mem < 1024 ** 3 ? "warn" : "ok",
    detail: `${gb(os.freemem())} free of ${gb(mem)}`,
    fix: mem < 1024 ** 3 ? "use a profile with isolation: shared on boxes under 1 GB" : undefined,
  });

  const smi = await version(
    "nvidia-smi",
    ["--query-gpu=name,driver_version", "--format=csv,noheader"],
    /(.+)/,
  );
  checks.push(
    smi
      ? { name: "gpu", level: "ok", detail: smi.trim() }
      : existsSync("/dev/nvidia0")
        ? {
            name: "gpu",
            level: "warn",
            detail: "/dev/nvidia0 present but nvidia-smi failed",
            fix: "install the NVIDIA driver utilities",
          }
        : { name: "gpu", level: "ok", detail: "none (CPU inference and software encoding)" },
  );

  checks.push(...aiChecks(opts.dataDir));
  checks.push(await portCheck(opts));
  return checks;
}

/** The gateway port: the running box's own, or whether the one `nexus up` would take is free. */
async function portCheck(t: DoctorTarget): Promise<Check> {
  const at = `${t.host}:${t.port}`;
  if (t.running?.gateway) {
    return {
      name: "port",
      level: "ok",
      detail: `${at} (in use by the running appliance, pid ${t.running.pid})`,
    };
  }
  if (t.running) {
    return {
      name: "port",
      level: "warn",
      detail: `the appliance (pid ${t.running.pid}) runs but its control socket does not answer; its port is unknown`,
      fix: "see `nexus logs supervisor`; restart it with `nexus stop` and `nexus up`",
    };
  }
  if (t.port === 0 || (await portFree(t.port, t.host))) {
    return { name: "port", level: "ok", detail: `${at} is free` };
  }
  return {
    name: "port",
    level: "fail",
    detail: `${at} is in use`,
    fix: "stop what uses it, or start with --port N",
  };
}

/** `nexus doctor [--json]`: the data dir and gateway address it checked, each check, how to fix. Exit 1 on a failure. */
export async function doctorCommand(
  flags: { dataDir?: string; port?: number; host?: string },
  json: boolean,
): Promise<void> {
  const target = await doctorTarget(flags);
  const checks = await runDoctor(target);
  // A box that runs but does not answer has a port this command cannot know: say so, never guess.
  const gateway = target.running && !target.running.gateway ? null : `${target.host}:${target.port}`;
  if (json)
    console.log(JSON.stringify({ dataDir: target.dataDir, gateway, running: !!target.running, checks }));
  else {
    const box = target.running
      ? `the appliance running there (pid ${target.running.pid})`
      : "no appliance running";
    console.log(`Data dir ${target.dataDir}: ${box}; gateway ${gateway ?? "unknown"}\n`);
    console.log(
      table(
        ["CHECK", "RESULT", "DETAIL"],
        checks.map((c) => [c.name, c.level, c.detail]),
      ),
    );
    const fixes = checks.filter((c) => c.fix && c.level !== "ok");
    if (fixes.length) console.log(`\nTo fix:\n${fixes.map((c) => `  ${c.name}: ${c.fix}`).join("\n")}`);
  }
  if (checks.some((c) => c.level === "fail")) process.exitCode = 1;
}

/** Which ffmpeg media uses, its version and encoders; hardware encoders checked by a real 1-frame encode. */
async function ffmpegCheck(): Promise<Check> {
  try {
    const r = await ffmpegReport();
    const hw = r.hardware.map((h) => `${h.name} ${h.works ? "works" : `listed, fails (${h.reason})`}`);
    return {
      name: "ffmpeg",
      level: "ok",
      detail: `${r.version} (${r.source}: ${r.path}); encoders ${r.encoders.join(", ")}${hw.length ? `; ${hw.join("; ")}` : ""}`,
    };
  } catch (err) {
    return {
      name: "ffmpeg",
      level: "warn",
      detail: `not usable (media processing will be unavailable): ${(err as Error).message.slice(0, 200)}`,
      fix: "apt-get install ffmpeg",
    };
  }
}
