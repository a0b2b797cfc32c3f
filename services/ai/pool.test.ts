/**
 * The inference pool with real worker threads whose job is a sleep (the time in `path`): the bounded queue
 * (QueueFullError with a Retry-After), time-outs (the stuck worker is ended, the next job gets a fresh one), LRU
 * unloading over the memory budget and idle unloading.
 */
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import type { Job } from "./jobs.js";
import { InferencePool, JobError, type PoolOptions, QueueFullError } from "./pool.js";

const SLEEPER = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => {
  const ms = Number(m.job.path);
  setTimeout(() => parentPort.postMessage({ id: m.id, ok: true, result: ms, providers: { [m.job.path]: m.providers[0] } }), ms);
});`;
const spawn = () => new Worker(SLEEPER, { eval: true });
const sleep = (ms: number): Job => ({ kind: "infer", path: String(ms), feeds: {} });

let pool: InferencePool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

function make(over: Partial<PoolOptions> = {}): InferencePool {
  pool = new InferencePool({
    concurrency: 1,
    queueDepth: 1,
    timeoutMs: 5000,
    idleMs: 60_000,
    budgetBytes: 1000,
    providers: ["cuda", "cpu"],
    spawn,
    ...over,
  });
  return pool;
}

describe("InferencePool", () => {
  it("runs jobs on a lane and refuses more than concurrency + queueDepth with a retry time", async () => {
    const p = make();
    const a = p.run("m", 10, sleep(200));
    const b = p.run("m", 10, sleep(10));
    const c = await p.run("m", 10, sleep(10)).catch((e) => e);
    expect(c).toBeInstanceOf(QueueFullError);
    expect(c.retryAfterS).toBeGreaterThanOrEqual(1);
    expect(await a).toEqual({ result: 200, providers: { "200": "cuda" } });
    expect((await b).result).toBe(10);
    expect(p.status()[0]).toMatchObject({ key: "m", workers: 1, running: 0, queued: 0 });
  });

  it("runs `concurrency` jobs at once", async () => {
    const p = make({ concurrency: 3, queueDepth: 0 });
    const all = Promise.all([
      p.run("m", 1, sleep(300)),
      p.run("m", 1, sleep(300)),
      p.run("m", 1, sleep(300)),
    ]);
    expect(p.status()[0]).toMatchObject({ workers: 3, running: 3, queued: 0 });
    await all;
  });

  it("times a stuck job out, ends its worker, and serves the next job on a fresh one", async () => {
    const p = make({ timeoutMs: 200 });
    const err = await p.run("m", 1, sleep(5000)).catch((e) => e);
    expect(err).toBeInstanceOf(JobError);
    expect(err.status).toBe(503);
    expect((await p.run("m", 1, sleep(5))).result).toBe(5);
  });

  it("unloads the least recently used idle lane to stay within the memory budget", async () => {
    const p = make({ budgetBytes: 100 });
    await p.run("a", 40, sleep(1));
    await p.run("b", 40, sleep(1));
    await p.run("a", 40, sleep(1)); // a is now the more recent
    await p.run("c", 40, sleep(1));
    expect(
      p
        .status()
        .map((l) => l.key)
        .sort(),
    ).toEqual(["a", "c"]);
  });

  it("unloads lanes idle for idleMs", async () => {
    const p = make({ idleMs: 100 });
    await p.run("a", 1, sleep(1));
    const t = Date.now();
    while (p.status().length > 0 && Date.now() - t < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(p.status()).toEqual([]);
  });
});
