/** The teardown helpers wait for a process to have exited, not just for a signal to have been sent. */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { removeDir, tempDir, waitFor } from "./appliance.js";
import { killPid, stopChild } from "./processes.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A process that, like nats-server, keeps writing into its dir for a while after SIGTERM, then exits. */
function slowStopper(dir: string, onTerm: "flush" | "ignore") {
  const script = `
    const { writeFileSync } = require("node:fs");
    const dir = ${JSON.stringify(dir)};
    process.on("SIGTERM", () => {
      if (${JSON.stringify(onTerm)} === "ignore") return;
      let i = 0;
      setInterval(() => {
        writeFileSync(dir + "/file-" + i++, "x");
        if (i === 20) { writeFileSync(dir + "/flushed", ""); process.exit(0); }
      }, 10);
    });
    writeFileSync(dir + "/ready", "");
    setInterval(() => {}, 1000);
  `;
  return spawn(process.execPath, ["-e", script], { stdio: "ignore" });
}

describe("stopChild", () => {
  it("resolves only after the process has exited, so its last writes are done and the dir can go", async () => {
    const dir = tempDir("nexus-proc-");
    dirs.push(dir);
    const child = slowStopper(dir, "flush");
    await waitFor(() => existsSync(join(dir, "ready")), 20_000, "child ready");
    await stopChild(child);
    expect(child.exitCode).toBe(0);
    expect(existsSync(join(dir, "flushed"))).toBe(true);
    removeDir(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it("SIGKILLs a process that ignores the signal once the grace time is over", async () => {
    const dir = tempDir("nexus-proc-");
    dirs.push(dir);
    const child = slowStopper(dir, "ignore");
    await waitFor(() => existsSync(join(dir, "ready")), 20_000, "child ready");
    await stopChild(child, "SIGTERM", 200);
    expect(child.signalCode).toBe("SIGKILL");
  });

  it("returns at once for a process that has already exited", async () => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await new Promise((r) => child.once("exit", r));
    await stopChild(child);
    await stopChild(undefined);
  });
});

describe("killPid", () => {
  it("kills a process that is not this one's child and waits until it is gone", async () => {
    // `sleep` is the shell's child, not ours: no exit event reaches this process for it.
    const sh = spawn("sh", ["-c", "sleep 60 & echo $!; wait"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    sh.stdout.on("data", (c) => {
      out += c;
    });
    const pid = Number(await waitFor(() => /^\d+\n/.exec(out)?.[0], 20_000, "pid of sleep"));
    await killPid(pid);
    let state = "gone";
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    } catch {
      // gone
    }
    expect(["gone", "Z", "X"]).toContain(state);
    await stopChild(sh);
  });
});
