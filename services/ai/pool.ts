import type { Worker } from "node:worker_threads";
import { startWorker } from "../../appliance/lib/bundle-entry.js";
import type { Provider } from "./config.js";
import type { Job, JobReply, JobRequest } from "./jobs.js";

export interface PoolOptions {
  concurrency: number;
  queueDepth: number;
  timeoutMs: number;
  idleMs: number;
  budgetBytes: number;
  providers: Provider[];
  /** Niceness of the worker threads (Linux, per thread). */
  nice?: number;
  /** Starts a worker thread (tests may pass their own). */
  spawn?: (nice: number) => Worker;
}

/** The lane's queue is full: retry after `retryAfterS`. */
export class QueueFullError extends Error {
  constructor(readonly retryAfterS: number) {
    super("too many requests for this model; retry later");
    this.name = "QueueFullError";
  }
}

/** A job failed in the worker; `status` is a 4xx for bad input, 503 for a timeout, 500 otherwise. */
export class JobError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "JobError";
  }
}

interface Pending {
  id: number;
  job: Job;
  resolve: (r: { result: unknown; providers: Record<string, Provider> }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  slot?: Slot;
}

interface Slot {
  worker: Worker;
  busy: Pending | null;
}

interface Lane {
  key: string;
  bytes: number;
  slots: Slot[];
  queue: Pending[];
  lastUsed: number;
  providers: Record<string, Provider>;
  /** Mean run time, for Retry-After. */
  meanMs: number;
}

export interface LaneStatus {
  key: string;
  workers: number;
  running: number;
  queued: number;
  bytes: number;
  lastUsed: string;
  providers: Record<string, Provider>;
}

/** The worker entry: bundled or compiled worker.js in dist, worker.ts through tsx in development and tests. */
export function defaultSpawn(nice: number): Worker {
  return startWorker(import.meta.url, "ai-worker", "worker", { workerData: { nice } });
}

export class InferencePool {
  private lanes = new Map<string, Lane>();
  private nextId = 1;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: PoolOptions) {
    this.sweeper = setInterval(() => this.unloadIdle(), Math.min(opts.idleMs, 30_000));
    this.sweeper.unref();
  }

  /** Runs a job on the lane `key` (loaded with `bytes` of models); rejects with QueueFullError or JobError. */
  run(
    key: string,
    bytes: number,
    job: Job,
  ): Promise<{ result: unknown; providers: Record<string, Provider> }> {
    const lane = this.lane(key, bytes);
    const running = lane.slots.filter((s) => s.busy).length;
    if (running >= this.opts.concurrency && lane.queue.length >= this.opts.queueDepth) {
      const waitMs = ((lane.queue.length + 1) * lane.meanMs) / this.opts.concurrency;
      return Promise.reject(new QueueFullError(Math.max(1, Math.ceil(waitMs / 1000))));
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { id: this.nextId++, job, resolve, reject, timer: undefined as never };
      p.timer = setTimeout(() => this.expire(lane, p), this.opts.timeoutMs);
      lane.queue.push(p);
      this.dispatch(lane);
    });
  }

  /** Every loaded lane, with the provider each of its models runs on. */
  status(): LaneStatus[] {
    return [...this.lanes.values()].map((l) => ({
      key: l.key,
      workers: l.slots.length,
      running: l.slots.filter((s) => s.busy).length,
      queued: l.queue.length,
      bytes: l.bytes,
      lastUsed: new Date(l.lastUsed).toISOString(),
      providers: l.providers,
    }));
  }

  /** Unloads a lane now (a removed or replaced model). */
  unload(key: string): void {
    const lane = this.lanes.get(key);
    if (!lane) return;
    for (const p of lane.queue.splice(0)) this.fail(p, new JobError(503, "the model was unloaded"));
    for (const s of lane.slots) {
      if (s.busy) this.fail(s.busy, new JobError(503, "the model was unloaded"));
      void s.worker.terminate();
    }
    this.lanes.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const key of [...this.lanes.keys()]) this.unload(key);
  }

  private lane(key: string, bytes: number): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      this.makeRoom(bytes);
      lane = { key, bytes, slots: [], queue: [], lastUsed: Date.now(), providers: {}, meanMs: 1000 };
      this.lanes.set(key, lane);
    }
    lane.lastUsed = Date.now();
    return lane;
  }

  /** Unloads idle lanes, least recently used first, until `bytes` more fit in the budget. */
  private makeRoom(bytes: number): void {
    const used = () =>
      [...this.lanes.values()].reduce((n, l) => n + l.bytes * Math.max(1, l.slots.length), 0);
    const idle = [...this.lanes.values()]
      .filter((l) => l.queue.length === 0 && l.slots.every((s) => !s.busy))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    while (used() + bytes > this.opts.budgetBytes && idle.length > 0) this.unload((idle.shift() as Lane).key);
  }

  private unloadIdle(): void {
    const before = Date.now() - this.opts.idleMs;
    for (const l of this.lanes.values()) {
      if (l.lastUsed < before && l.queue.length === 0 && l.slots.every((s) => !s.busy)) this.unload(l.key);
    }
  }

  private dispatch(lane: Lane): void {
    while (lane.queue.length > 0) {
      let slot = lane.slots.find((s) => !s.busy);
      if (!slot && lane.slots.length < this.opts.concurrency) slot = this.addSlot(lane);
      if (!slot) return;
      const p = lane.queue.shift() as Pending;
      slot.busy = p;
      p.slot = slot;
      const started = Date.now();
      const done = p.resolve;
      p.resolve = (r) => {
        lane.meanMs = lane.meanMs * 0.8 + (Date.now() - started) * 0.2;
        done(r);
      };
      slot.worker.postMessage({ id: p.id, job: p.job, providers: this.opts.providers } satisfies JobRequest);
    }
  }

  private addSlot(lane: Lane): Slot {
    const worker = (this.opts.spawn ?? defaultSpawn)(this.opts.nice ?? 10);
    const slot: Slot = { worker, busy: null };
    worker.on("message", (r: JobReply) => {
      const p = slot.busy;
      if (!p || p.id !== r.id) return;
      slot.busy = null;
      clearTimeout(p.timer);
      if (r.ok) {
        Object.assign(lane.providers, r.providers);
        p.resolve({ result: r.result, providers: r.providers });
      } else p.reject(new JobError(r.status, r.error));
      this.dispatch(lane);
    });
    const gone = (why: string) => {
      lane.slots = lane.slots.filter((s) => s !== slot);
      if (slot.busy) this.fail(slot.busy, new JobError(500, why));
      slot.busy = null;
      if (this.lanes.get(lane.key) === lane) this.dispatch(lane);
    };
    worker.on("error", (err) => gone(`inference worker failed: ${err.message}`));
    worker.on("exit", () => gone("inference worker exited"));
    worker.unref();
    lane.slots.push(slot);
    return slot;
  }

  private expire(lane: Lane, p: Pending): void {
    const i = lane.queue.indexOf(p);
    if (i >= 0) lane.queue.splice(i, 1);
    const slot = p.slot;
    this.fail(p, new JobError(503, `the model did not answer within ${this.opts.timeoutMs} ms`));
    if (slot && slot.busy === p) {
      // Nothing stops a running session: end its worker; the next job starts a fresh one.
      slot.busy = null;
      lane.slots = lane.slots.filter((s) => s !== slot);
      void slot.worker.terminate();
      this.dispatch(lane);
    }
  }

  private fail(p: Pending, err: Error): void {
    clearTimeout(p.timer);
    p.reject(err);
  }
}
