/**
 * What every Node process of the box reports about itself, under prom-client's names: CPU time, resident
 * memory, heap, open file descriptors, event-loop lag. Measured inside the process (the lag can only be),
 * so the supervisor and each service host run one sampler each.
 */
import { readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type MetricFamily, single } from "./family.js";
import { osFamilies } from "./proc.js";

export interface ProcessSampler {
  /** The process's families now; the event-loop lag covers the time since the last call. */
  collect(): MetricFamily[];
  stop(): void;
}

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
      const families = [
        ...osFamilies({
          cpuUserSeconds: cpu.user / 1e6,
          cpuSystemSeconds: cpu.system / 1e6,
          residentBytes: mem.rss,
          openFds: openFds(),
        }),
        single("gauge", "nodejs_heap_size_total_bytes", "V8 heap size, in bytes.", mem.heapTotal),
        single("gauge", "nodejs_heap_size_used_bytes", "V8 heap in use, in bytes.", mem.heapUsed),
        single("gauge", "nodejs_eventloop_lag_seconds", LAG_HELP.mean, seconds(lag.mean)),
        single("gauge", "nodejs_eventloop_lag_p99_seconds", LAG_HELP.p99, seconds(lag.percentile(99))),
        single("gauge", "nodejs_eventloop_lag_max_seconds", LAG_HELP.max, seconds(lag.max)),
      ];
      lag.reset();
      return families;
    },
    stop: () => lag.disable(),
  };
}
