/**
 * What every Node process of the box reports about itself, under prom-client's names: CPU time, resident
 * memory, heap, open file descriptors, event-loop lag. Measured inside the process (the lag can only be),
 * so the supervisor and each service host run one sampler each.
 */
import { readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { MetricFamily, MetricType } from "./family.js";

export interface ProcessSampler {
  /** The process's families now; the event-loop lag covers the time since the last call. */
  collect(): MetricFamily[];
  stop(): void;
}

const one = (type: MetricType, name: string, help: string, value: number): MetricFamily => ({
  name,
  help,
  type,
  samples: [{ labels: {}, value }],
});

const LAG_HELP = {
  mean: "Mean event-loop delay since the last scrape, in seconds.",
  p99: "99th percentile of the event-loop delay since the last scrape, in seconds.",
  max: "Longest event-loop delay since the last scrape, in seconds.",
};

/** Open file descriptors, from /proc (null where there is no /proc: the series is left out). */
export function openFds(): number | null {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return null;
  }
}

/** Starts measuring the event loop of this process. */
export function startProcessSampler(): ProcessSampler {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  // An empty histogram (no timer tick since the last reset) reports NaN and junk percentiles: no delay.
  const seconds = (ns: number) => (lag.count > 0 && Number.isFinite(ns) ? ns / 1e9 : 0);
  return {
    collect() {
      const cpu = process.cpuUsage();
      const mem = process.memoryUsage();
      const fds = openFds();
      const families = [
        one("counter", "process_cpu_user_seconds_total", "User CPU time, in seconds.", cpu.user / 1e6),
        one("counter", "process_cpu_system_seconds_total", "System CPU time, in seconds.", cpu.system / 1e6),
        one(
          "counter",
          "process_cpu_seconds_total",
          "User and system CPU time, in seconds.",
          (cpu.user + cpu.system) / 1e6,
        ),
        one("gauge", "process_resident_memory_bytes", "Resident memory size, in bytes.", mem.rss),
        one("gauge", "nodejs_heap_size_total_bytes", "V8 heap size, in bytes.", mem.heapTotal),
        one("gauge", "nodejs_heap_size_used_bytes", "V8 heap in use, in bytes.", mem.heapUsed),
        one("gauge", "nodejs_eventloop_lag_seconds", LAG_HELP.mean, seconds(lag.mean)),
        one("gauge", "nodejs_eventloop_lag_p99_seconds", LAG_HELP.p99, seconds(lag.percentile(99))),
        one("gauge", "nodejs_eventloop_lag_max_seconds", LAG_HELP.max, seconds(lag.max)),
      ];
      lag.reset();
      if (fds !== null) families.push(one("gauge", "process_open_fds", "Open file descriptors.", fds));
      return families;
    },
    stop: () => lag.disable(),
  };
}
