/**
 * Disk full: a service's data dir on a 1 MiB tmpfs (needs root, as CI has). A write that does not fit is
 * refused with 507 and changes nothing; what was acknowledged before stays; reads keep working; writes work
 * again once space is freed.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, tempDir } from "../helpers/appliance.js";

let app: TestAppliance;
let mountPoint: string;
const filler = () => join(mountPoint, "filler");

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error("the disk-full test mounts a tmpfs and must run as root (CI does)");
  // The appliance's data dir is chosen by the harness; mount the service's folder before it starts.
  const base = tempDir("nexus-diskfull-");
  mountPoint = join(base, "echo");
  mkdirSync(mountPoint, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]);
  app = await startTestAppliance({
    services: ["echo"],
    beforeStart: (dataDir) => {
      mkdirSync(join(dataDir, "services"), { recursive: true });
      execFileSync("ln", ["-s", mountPoint, join(dataDir, "services", "echo")]);
    },
  });
});

afterAll(async () => {
  await app?.stop();
  if (mountPoint) execFileSync("umount", ["-l", mountPoint]);
  if (app) removeDir(app.dataDir);
});

const post = (body: string) =>
  app.api("/api/echo/items", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ body }),
  });

describe("disk full", () => {
  it("refuses writes with 507, keeps acknowledged data and reads, and recovers when space is freed", async () => {
    const before = await post("acknowledged before the disk filled");
    expect(before.status).toBe(201);
    const { id } = (await before.json()) as { id: number };

    // Fill the file system to the last block.
    try {
      writeFileSync(filler(), Buffer.alloc(2 * 1024 * 1024));
    } catch {
      // ENOSPC is the point: the tmpfs is now full
    }
    const refused = [];
    for (let i = 0; i < 5; i++) refused.push(await post(`x${i}`.repeat(200)));
    const statuses = refused.map((r) => r.status);
    expect(statuses).toContain(507);
    expect(statuses.every((s) => s === 507 || s === 201)).toBe(true);
    const body = await refused.find((r) => r.status === 507)!.json();
    expect(body).toEqual({
      status: 507,
      message: "the box's disk is full; nothing was stored",
      data: { reason: "disk-full" },
    });

    // Reads keep working and the service stays up.
    expect((await app.api("/api/echo/hello")).status).toBe(200);
    expect((await fetch(`${app.url}/ready`)).status).toBe(200);

    rmSync(filler());
    const after = await post("after space was freed");
    expect(after.status).toBe(201);
    const { id: next } = (await after.json()) as { id: number };
    expect(next).toBeGreaterThan(id);
  });
});
