/** appliance/lib/metrics: exposition of families, merging across processes, counters, the process sampler. */
import { describe, expect, it } from "vitest";
import {
  MetricsRegistry,
  mergeFamilies,
  procFamilies,
  procStats,
  renderFamilies,
  startProcessSampler,
  withLabel,
} from "../../appliance/lib/metrics/index.js";

const family = (name: string, value: number) => ({
  name,
  help: `${name} help`,
  type: "gauge" as const,
  samples: [{ labels: {}, value }],
});

describe("metric families", () => {
  it("renders HELP and TYPE once per name, all series together, after merging processes", () => {
    const a = withLabel([family("x_bytes", 1), family("y_bytes", 2)], "unit", "files");
    const b = withLabel([family("x_bytes", 3)], "unit", 'shared "quoted"');
    expect(renderFamilies(mergeFamilies([...a, ...b]))).toEqual([
      "# HELP x_bytes x_bytes help",
      "# TYPE x_bytes gauge",
      'x_bytes{unit="files"} 1',
      'x_bytes{unit="shared \\"quoted\\""} 3',
      "# HELP y_bytes y_bytes help",
      "# TYPE y_bytes gauge",
      'y_bytes{unit="files"} 2',
    ]);
  });
});

describe("MetricsRegistry", () => {
  it("hands out one counter per name that only goes up", () => {
    const r = new MetricsRegistry();
    r.counter("n_total", "n").inc(5);
    r.counter("n_total", "n").inc();
    r.counter("n_total", "n").inc(-3);
    r.counter("n_total", "n").inc(Number.NaN);
    expect(r.collect()).toEqual([
      { name: "n_total", help: "n", type: "counter", samples: [{ labels: {}, value: 6 }] },
    ]);
  });

  it("reads gauges at each collect and leaves one out while it has no value", () => {
    const r = new MetricsRegistry();
    let free: number | null = 10;
    r.gauge("free_bytes", "Free.", () => free);
    expect(r.collect().map((f) => f.samples[0]!.value)).toEqual([10]);
    free = null;
    expect(r.collect()).toEqual([]);
  });

  it("includes the process's CPU, memory, heap, descriptors and event-loop lag", async () => {
    const r = new MetricsRegistry(startProcessSampler());
    try {
      const end = Date.now() + 100;
      while (Date.now() < end); // one blocked stretch of the loop, so the lag has something to show
      await new Promise((resolve) => setTimeout(resolve, 50));
      const byName = new Map(r.collect().map((f) => [f.name, f.samples[0]!.value]));
      expect(byName.get("process_cpu_seconds_total")).toBeGreaterThan(0);
      expect(byName.get("process_resident_memory_bytes")).toBeGreaterThan(1e6);
      expect(byName.get("nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
      expect(byName.get("process_open_fds")).toBeGreaterThan(2);
      expect(byName.get("nodejs_eventloop_lag_max_seconds")).toBeGreaterThan(0.01);
    } finally {
      r.stop();
    }
  });
});

describe("procStats", () => {
  it("reads another process's CPU, memory and descriptors from /proc, like the process itself sees them", () => {
    const s = procStats(process.pid)!;
    expect(s.cpuUserSeconds + s.cpuSystemSeconds).toBeGreaterThan(0);
    expect(s.cpuUserSeconds).toBeLessThanOrEqual(process.cpuUsage().user / 1e6 + 0.05);
    expect(s.residentBytes).toBeGreaterThan(1e6);
    expect(s.openFds).toBeGreaterThan(2);
    expect(procFamilies(process.pid).map((f) => f.name)).toEqual([
      "process_cpu_user_seconds_total",
      "process_cpu_system_seconds_total",
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_open_fds",
    ]);
  });

  it("gives nothing for a process that is gone", () => {
    expect(procStats(2 ** 22 + 1)).toBeNull();
    expect(procFamilies(2 ** 22 + 1)).toEqual([]);
  });
});
