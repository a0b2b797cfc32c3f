import { describe, expect, it } from "vitest";
import { alertsFor } from "../../appliance/box/alerts.js";
import { parseNvidiaSmi } from "../../appliance/box/gpu.js";
import { cpuSampler, memoryInfo } from "../../appliance/box/resources.js";

const MIB = 1024 * 1024;

describe("parseNvidiaSmi", () => {
  it("reads one line per GPU (memory in MiB)", () => {
    const out = parseNvidiaSmi(
      "0, NVIDIA RTX A2000 12GB, 37, 1024, 12282, 54\n1, Tesla T4, 0, 0, 15360, 33\n",
    );
    expect(out).toEqual([
      {
        index: 0,
        name: "NVIDIA RTX A2000 12GB",
        utilizationPercent: 37,
        memoryUsedBytes: 1024 * MIB,
        memoryTotalBytes: 12282 * MIB,
        temperatureC: 54,
      },
      {
        index: 1,
        name: "Tesla T4",
        utilizationPercent: 0,
        memoryUsedBytes: 0,
        memoryTotalBytes: 15360 * MIB,
        temperatureC: 33,
      },
    ]);
  });

  it("keeps commas in names, maps [N/A] and [Not Supported] to null, skips junk lines", () => {
    const out = parseNvidiaSmi(
      "0, Jetson, Orin, [N/A], [Not Supported], 7620, 41\r\n\nNVIDIA-SMI has failed\nx, y, 1, 2, 3, 4\n",
    );
    expect(out).toEqual([
      {
        index: 0,
        name: "Jetson, Orin",
        utilizationPercent: null,
        memoryUsedBytes: null,
        memoryTotalBytes: 7620 * MIB,
        temperatureC: 41,
      },
    ]);
    expect(parseNvidiaSmi("")).toEqual([]);
  });
});

describe("alertsFor", () => {
  const base = {
    services: [{ name: "system", state: "running", lastError: null }],
    nats: "running",
    diskUsedPercent: 40,
    memoryUsedPercent: 30,
    now: Date.parse("2026-01-10T00:00:00Z"),
  };
  const ids = (input: Parameters<typeof alertsFor>[0]) => alertsFor(input).map((a) => `${a.level}:${a.id}`);

  it("is quiet on a healthy box", () => {
    expect(alertsFor(base)).toEqual([]);
  });

  it("raises crash loops, failed services and a stopped message bus", () => {
    expect(
      ids({
        ...base,
        nats: "failed",
        services: [
          { name: "media", state: "crashloop", lastError: "exited with code 1" },
          { name: "ai", state: "failed", lastError: null },
          { name: "system", state: "stopped", lastError: null },
        ],
      }),
    ).toEqual(["critical:crashloop:media", "critical:failed:ai", "critical:nats"]);
  });

  it("says when a service in crash loop is tried next, and that a restart tries at once", () => {
    const [alert] = alertsFor({
      ...base,
      services: [
        {
          name: "media",
          state: "crashloop",
          lastError: "exited with code 1",
          nextAttemptAt: "2026-01-10T00:04:30.000Z",
        },
      ],
    });
    expect(alert).toMatchObject({ id: "crashloop:media", level: "critical" });
    expect(alert?.message).toBe(
      "media is in crash loop (exited with code 1); next attempt at 00:04:30 UTC, or restart it to try at once",
    );
  });

  it("warns over 80 % disk and is critical over 90 %; warns over 90 % memory", () => {
    expect(ids({ ...base, diskUsedPercent: 85 })).toEqual(["warning:disk"]);
    expect(ids({ ...base, diskUsedPercent: 90 })).toEqual(["warning:disk"]);
    expect(ids({ ...base, diskUsedPercent: 90.1, memoryUsedPercent: 95 })).toEqual([
      "critical:disk",
      "warning:memory",
    ]);
    expect(ids({ ...base, diskUsedPercent: null })).toEqual([]);
  });

  it("warns when the sync backlog rose at every reading for ten minutes, not when it dipped", () => {
    const at = (minAgo: number, pending: number) => ({ at: base.now - minAgo * 60_000, pending });
    const growing = [at(12, 10), at(8, 40), at(4, 90), at(0, 200)];
    expect(ids({ ...base, syncBacklog: growing })).toEqual(["warning:sync-backlog"]);
    expect(ids({ ...base, syncBacklog: [at(12, 10), at(8, 40), at(4, 5), at(0, 200)] })).toEqual([]);
    expect(ids({ ...base, syncBacklog: [at(3, 10), at(2, 40), at(0, 200)] })).toEqual([]); // too short
  });

  it("warns about a certificate 14 days before expiry, critical from 3 days and once expired", () => {
    const cert = (days: number) => ({
      name: "box",
      notAfter: new Date(base.now + days * 86_400_000).toISOString(),
    });
    expect(ids({ ...base, certificates: [cert(30)] })).toEqual([]);
    expect(ids({ ...base, certificates: [cert(10)] })).toEqual(["warning:certificate:box"]);
    expect(ids({ ...base, certificates: [cert(2)] })).toEqual(["critical:certificate:box"]);
    expect(alertsFor({ ...base, certificates: [cert(-1)] })[0]?.message).toBe("certificate box has expired");
    expect(ids({ ...base, certificates: [{ name: "bad", notAfter: "not a date" }] })).toEqual([]);
  });

  it("warns before the disk reserve is reached and is critical once uploads are refused", () => {
    const disk = (availableMiB: number) => ({ availableBytes: availableMiB * MIB, reserveBytes: 256 * MIB });
    expect(ids({ ...base, disk: disk(2000) })).toEqual([]);
    expect(ids({ ...base, disk: disk(400) })).toEqual(["warning:disk-reserve"]);
    expect(alertsFor({ ...base, disk: disk(400) })[0]?.message).toContain("144 MiB left for uploads");
    expect(ids({ ...base, disk: disk(256) })).toEqual(["critical:disk-reserve"]);
    expect(ids({ ...base, disk: { availableBytes: 0, reserveBytes: 0 } })).toEqual([]);
  });
});

describe("resources", () => {
  it("measures CPU between calls and shares a recent figure", async () => {
    const cpu = cpuSampler(10_000);
    const first = await cpu();
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThanOrEqual(100);
    expect(await cpu()).toBe(first);
  });

  it("counts memory the kernel can give back as free", () => {
    const m = memoryInfo(1024 * MIB);
    expect(m.usedBytes + 1024 * MIB).toBe(m.totalBytes);
    expect(m.usedPercent).toBeGreaterThan(0);
  });
});
