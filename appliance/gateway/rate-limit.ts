/** Fixed-window request counting per client IP. In memory: the gateway is one process. */

export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  retryAfterSeconds: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(windowMs, 1000));
    this.sweeper.unref();
  }

  /** Counts one request from `key` and says whether it may proceed. */
  hit(key: string): RateLimitResult {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || now >= w.resetAt) {
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    const retryAfterSeconds = Math.ceil((w.resetAt - now) / 1000);
    return { allowed: w.count <= this.max, remaining: Math.max(0, this.max - w.count), retryAfterSeconds };
  }

  /** Number of clients tracked (bounded by the sweep). */
  get size(): number {
    return this.windows.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep() {
    const now = this.now();
    for (const [k, w] of this.windows) if (now >= w.resetAt) this.windows.delete(k);
  }
}
