import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { showLogs } from "../../appliance/cli/logs.js";
import { closeLog, openLog, rotateIfNeeded } from "../../appliance/supervisor/log-files.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const dir = tempDir();
afterAll(() => removeDir(dir));

describe("log rotation", () => {
  it("rotates by size, keeps N files, and the writer's descriptor keeps appending to the live file", () => {
    const file = join(dir, "svc.log");
    const fd = openLog(file);
    for (let round = 1; round <= 4; round++) {
      writeSync(fd, `${"x".repeat(100)} round ${round}\n`);
      expect(rotateIfNeeded(file, 50, 2)).toBe(true);
    }
    writeSync(fd, "after\n");
    closeLog(fd);
    expect(readFileSync(file, "utf8")).toBe("after\n");
    expect(readFileSync(`${file}.1`, "utf8")).toContain("round 4");
    expect(readFileSync(`${file}.2`, "utf8")).toContain("round 3");
    expect(existsSync(`${file}.3`)).toBe(false);
    expect(rotateIfNeeded(file, 50, 2)).toBe(false);
  });
});

describe("log rotation on a full disk (tmpfs, root)", () => {
  it("truncates the log without a copy when the disk cannot take one, instead of throwing", () => {
    if (process.getuid?.() !== 0) throw new Error("this test mounts a tmpfs and must run as root (CI does)");
    const disk = join(dir, "full");
    mkdirSync(disk);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk]);
    try {
      const file = join(disk, "svc.log");
      const fd = openLog(file);
      writeSync(fd, "x".repeat(700 * 1024)); // the copy would need another 700 KiB of the 1 MiB
      expect(rotateIfNeeded(file, 1024, 2)).toBe(true);
      expect(statSync(file).size).toBe(0);
      expect(existsSync(`${file}.1`)).toBe(false); // no partial copy holding space
      writeSync(fd, "after\n");
      closeLog(fd);
      expect(readFileSync(file, "utf8")).toBe("after\n");
    } finally {
      execFileSync("umount", ["-l", disk]);
    }
  });
});

describe("nexus logs", () => {
  it("prints history readably and follows new lines until aborted", async () => {
    const logs = join(dir, "data", "logs");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(logs, { recursive: true });
    const file = join(logs, "system.log");
    writeFileSync(
      file,
      `${JSON.stringify({ level: 30, time: "2026-11-22T10:00:00.000Z", service: "system", msg: "hello" })}\n`,
    );
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      out.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    const ac = new AbortController();
    try {
      const following = showLogs(join(dir, "data"), "system", {
        follow: true,
        lines: 10,
        raw: false,
        signal: ac.signal,
      });
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(file, "plain line\n", { flag: "a" });
      await new Promise((r) => setTimeout(r, 700));
      ac.abort();
      await following;
    } finally {
      process.stdout.write = write;
    }
    expect(out.join("")).toContain("INFO  [system] hello");
    expect(out.join("")).toContain("plain line");
    await expect(
      showLogs(join(dir, "data"), "../../etc/passwd", { follow: false, lines: 1, raw: true }),
    ).rejects.toThrow(/invalid name/);
  });
});
