import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fsyncDir, writeAtomic } from "./fs-atomic.js";

const dir = mkdtempSync(join(tmpdir(), "nexus-fs-atomic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("writeAtomic and shared directory fsyncs", () => {
  it("concurrent writes into one folder all land whole, with no temporary file left", async () => {
    const bodies = Array.from({ length: 12 }, (_, i) => Buffer.alloc(1000 + i, i));
    await Promise.all(bodies.map((b, i) => writeAtomic(join(dir, `f${i}`), join(dir, `f${i}.tmp`), b)));
    expect(readdirSync(dir).sort()).toEqual(bodies.map((_, i) => `f${i}`).sort());
    expect(bodies.map((_, i) => readFileSync(join(dir, `f${i}`)))).toEqual(bodies);
  });

  it("a failing directory fsync fails every caller that shared it, and the next call runs afresh", async () => {
    const missing = join(dir, "missing");
    const calls = [fsyncDir(missing), fsyncDir(missing), fsyncDir(missing)];
    for (const c of calls) await expect(c).rejects.toThrow(/ENOENT/);
    await expect(fsyncDir(dir)).resolves.toBeUndefined();
    await expect(Promise.all([fsyncDir(dir), fsyncDir(dir)])).resolves.toBeDefined();
  });
});
