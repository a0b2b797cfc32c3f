/**
 * The metrics of one process: its counters and gauges (a service counts bytes, reports free disk, …) and,
 * when given, its process sampler. A service host passes one registry to every service it runs, so in shared
 * isolation their numbers and the process's come out of one place.
 */
import { type MetricFamily, single } from "./family.js";
import type { ProcessSampler } from "./process.js";

export interface Counter {
  /** Adds `n` (default 1); negative or non-finite amounts are ignored, a counter only goes up. */
  inc(n?: number): void;
}

export class MetricsRegistry {
  private readonly counters = new Map<string, { help: string; value: number }>();
  private readonly gauges = new Map<string, { help: string; read: () => number | null }>();

  constructor(private readonly sampler: ProcessSampler | null = null) {}

  /** The counter `name` (created on first use; later calls get the same one). */
  counter(name: string, help: string): Counter {
    let c = this.counters.get(name);
    if (!c) {
      c = { help, value: 0 };
      this.counters.set(name, c);
    }
    const entry = c;
    return {
      inc(n = 1) {
        if (Number.isFinite(n) && n > 0) entry.value += n;
      },
    };
  }

  /** A gauge read at each scrape (free disk, queue length, …); `read` returning null leaves it out. */
  gauge(name: string, help: string, read: () => number | null): void {
    this.gauges.set(name, { help, read });
  }

  /** Every family of this process: the sampler's, then the counters, then the gauges. */
  collect(): MetricFamily[] {
    const out = this.sampler?.collect() ?? [];
    for (const [name, c] of this.counters) out.push(single("counter", name, c.help, c.value));
    for (const [name, g] of this.gauges) {
      const value = g.read();
      if (value !== null) out.push(single("gauge", name, g.help, value));
    }
    return out;
  }

  /** Stops the sampler. */
  stop(): void {
    this.sampler?.stop();
  }
}
