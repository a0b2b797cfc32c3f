/**
 * The metrics of one process: its counters (a service counts bytes, events, …) and, when given, its process
 * sampler. A service host passes one registry to every service it runs, so in shared isolation their
 * counters and the process numbers come out of one place.
 */
import type { MetricFamily } from "./family.js";
import type { ProcessSampler } from "./process.js";

export interface Counter {
  /** Adds `n` (default 1); negative or non-finite amounts are ignored, a counter only goes up. */
  inc(n?: number): void;
}

export class MetricsRegistry {
  private readonly counters = new Map<string, { help: string; value: number }>();

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

  /** Every family of this process: the sampler's, then the counters. */
  collect(): MetricFamily[] {
    const out = this.sampler?.collect() ?? [];
    for (const [name, c] of this.counters)
      out.push({ name, help: c.help, type: "counter", samples: [{ labels: {}, value: c.value }] });
    return out;
  }

  /** Stops the sampler. */
  stop(): void {
    this.sampler?.stop();
  }
}
