/**
 * A supervisor (`nexus up`, run from source as its own process) killed alone with kill -9: its nats-server
 * ends within seconds through its watchdog, not at the next `nexus up`; and when one survived anyway (the
 * watchdog killed too), the next `nexus up` on the same data dir reaps it and serves.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive, readPid } from "../../appliance/lib/pidfile.js";
import { dataPaths } from "../../appliance/paths.js";
import { WATCHDOG_NAME } from "../../appliance/supervisor/nats-process.js";
import { ROOT, removeDir, TSX, tempDir, waitFor } from "../helpers/appliance.js";

interface Up {
  child: ChildProcess;
  output: () => string;
}

const started: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) {
    const pid = readPid(dataPaths(d).natsPid);
    if (pid) process.kill(pid, "SIGKILL");
    removeDir(d);
  }
});

/** `nexus up` from the TypeScript sources (no build needed), with one light service; resolves once it serves. */
async function nexusUp(dataDir: string): Promise<Up> {
  let out = "";
  const child = spawn(
    process.execPath,
    ["--import", TSX, join(ROOT, "appliance/cli/main.ts"), "-d", dataDir, "up", "--port", "0"],
    { env: { ...process.env, NEXUS_SERVICES: "system" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  started.push(child);
  for (const s of [child.stdout, child.stderr]) s?.on("data", (c) => (out += c));
  await waitFor(() => out.includes("Console:") || child.exitCode !== null, 120_000, "nexus up to serve");
  if (!out.includes("Console:")) throw new Error(`nexus up exited:\n${out}`);
  return { child, output: () => out };
}

async function kill9(up: Up): Promise<void> {
  up.child.kill("SIGKILL");
  await new Promise((r) => up.child.once("exit", r));
}

function watchdogsOf(natsPid: number): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
        return cmd.includes(WATCHDOG_NAME) && cmd.includes(String(natsPid));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("a supervisor killed alone with kill -9", () => {
  it("takes its nats-server down within seconds; the next nexus up on the data dir serves", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const up = await nexusUp(dir);
    const natsPid = readPid(dataPaths(dir).natsPid)!;
    expect(natsPid).toBeGreaterThan(0);
    await kill9(up);
    await waitFor(() => !isAlive(natsPid), 15_000, "the supervisor's nats-server to end");
    const again = await nexusUp(dir);
    expect(readPid(dataPaths(dir).natsPid)).not.toBe(natsPid);
    await kill9(again);
  }, 240_000);

  it("whose nats-server survived (watchdog gone too): the next nexus up reaps it and serves", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const up = await nexusUp(dir);
    const natsPid = readPid(dataPaths(dir).natsPid)!;
    for (const pid of watchdogsOf(natsPid)) process.kill(pid, "SIGKILL");
    await kill9(up);
    expect(isAlive(natsPid)).toBe(true);
    const again = await nexusUp(dir);
    expect(isAlive(natsPid)).toBe(false);
    expect(again.output()).toContain("killed a nats-server left by an earlier supervisor");
    await kill9(again);
  }, 240_000);
});
