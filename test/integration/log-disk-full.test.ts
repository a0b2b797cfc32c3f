/**
 * A full log disk neither crashes nor stalls a service: `<data>/logs` is a real 1 MiB tmpfs (as root), filled
 * to the last block while the echo service runs. Requests keep being answered, the unit is never restarted,
 * the lost lines are counted in /metrics, and once space is back the log continues on a line of its own.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";

let app: TestAppliance;
let logs = "";

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("this test mounts a tmpfs and must run as root (CI does)");
  app = await startTestAppliance({
    services: ["echo"],
    beforeStart: (dataDir) => {
      logs = join(dataDir, "logs");
      mkdirSync(logs, { recursive: true });
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", logs]);
    },
  });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  if (logs) execFileSync("umount", ["-l", logs]);
  if (app) removeDir(app.dataDir);
});

const hello = () =>
  app.api("/api/echo/hello", { signal: AbortSignal.timeout(10_000) }).then(async (r) => {
    await r.body?.cancel();
    return r.status;
  });

async function droppedLines(): Promise<number> {
  const text = await (await app.api("/metrics")).text();
  const m = /^nexus_log_lines_dropped_total\{unit="echo"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : -1;
}

describe("a full log disk", () => {
  it("keeps the service answering, counts the dropped lines, and logs again once space is back", async () => {
    expect(await droppedLines()).toBe(0);
    const filler = join(logs, "filler");
    try {
      writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
    } catch {
      // ENOSPC is the point: the log disk is now full to the last block
    }
    // The log file's last page may still have room for a few lines (tmpfs allocates whole pages): write
    // until lines start being dropped, then count exactly.
    const statuses: number[] = [];
    for (let i = 0; i < 400 && (await droppedLines()) <= 0; i++) statuses.push(await hello());
    await waitFor(async () => (await droppedLines()) > 0, 20_000, "the first dropped line in /metrics");
    const start = await droppedLines();
    for (let i = 0; i < 40; i++) statuses.push(await hello());
    expect(statuses.every((s) => s === 200)).toBe(true);
    await waitFor(async () => (await droppedLines()) >= start + 40, 20_000, "dropped lines in /metrics");
    const echo = app.supervisor.status().find((s) => s.name === "echo")!;
    expect({ state: echo.state, restarts: echo.restarts }).toEqual({ state: "running", restarts: 0 });

    rmSync(filler);
    const before = readFileSync(join(logs, "echo.log"), "utf8").length;
    expect(await hello()).toBe(200);
    const lines = await waitFor(
      () => {
        const text = readFileSync(join(logs, "echo.log"), "utf8");
        return text.length > before && text.endsWith("\n") ? text.slice(before).split("\n") : null;
      },
      20_000,
      "a new log line",
    );
    // Written whole, on a line of its own even when the last line before the disk filled was cut.
    const fresh = (lines ?? []).filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
    expect(fresh.some((l) => l.msg === "request")).toBe(true);
  }, 90_000);
});
