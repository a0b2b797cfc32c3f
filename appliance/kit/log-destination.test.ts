/**
 * The log destination on a real 1 MiB tmpfs (as root) left with one free page: a line the disk cannot take is
 * dropped and counted without an exception, and once space is back the next line starts on a line of its own
 * even though the dropped one was cut mid-write.
 */
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogDestination } from "./log-destination.js";
import { createLogger } from "./logger.js";

let dir = "";

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("this test mounts a tmpfs and must run as root (CI does)");
  dir = mkdtempSync(join(os.tmpdir(), "nexus-logdest-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
});

afterAll(() => {
  if (!dir) return;
  execFileSync("umount", ["-l", dir]);
  rmSync(dir, { recursive: true, force: true });
});

describe("LogDestination on a full disk", () => {
  it("drops and counts what does not fit, and writes whole lines again once space is back", () => {
    const s = statfsSync(dir);
    const filler = join(dir, "filler");
    writeFileSync(filler, Buffer.alloc(s.bavail * s.bsize - s.bsize)); // one page left
    const fd = openSync(join(dir, "svc.log"), "a");
    const dest = new LogDestination(fd);
    const log = createLogger({ destination: dest });
    const pad = "x".repeat((s.bsize * 3) / 4);
    log.info({ pad }, "first"); // fits in the last page
    expect(() => log.info({ pad }, "second")).not.toThrow(); // only part of it fits
    log.info({ pad }, "third"); // nothing fits
    expect(dest.dropped).toBe(2);

    rmSync(filler);
    log.info("after space came back");
    closeSync(fd);
    const lines = readFileSync(join(dir, "svc.log"), "utf8").split("\n");
    expect(JSON.parse(lines[0]!).msg).toBe("first");
    expect(lines.at(-1)).toBe("");
    expect(JSON.parse(lines.at(-2)!).msg).toBe("after space came back");
  });
});
