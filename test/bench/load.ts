/**
 * A small closed-loop HTTP load generator (node:http, one keep-alive Agent, no dependencies).
 *
 * Why a child process: in the gateway benchmark the gateway (and the supervisor) run in the benchmark's own
 * process. A load generator on that event loop would steal turns from the very code being measured, and the
 * direct run (where the gateway's loop is idle) would not pay that cost, skewing the ratio. A worker_thread
 * would fix the event loop but still share the process (heap limits, libuv pool, one /proc entry), so the
 * generator runs as its own process: its CPU time can be read separately (/proc/<pid>/stat), and on a 2-core
 * box the OS schedules generator, gateway and service as three peers. Both paths (direct and via the gateway)
 * use the same generator, the same connection count, warm-up and duration, so the generator's own cost is the
 * same constant on both sides; what differs is only the extra hop.
 *
 * Closed loop: each of `connections` virtual users sends one request, waits for the full response, sends the
 * next. Only responses completed inside the measurement window (after warm-up) count. Every request has a
 * timeout and the whole run has a hard deadline, so nothing here can hang.
 *
 * Protocol with the parent (IPC): parent sends {type:"run", opts}; child sends {type:"mark", phase:"measure"}
 * when warm-up ends, {type:"mark", phase:"end"} when the window closes, then {type:"result", result} and exits.
 */
import { type ChildProcess, fork } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";

export interface LoadOptions {
  port: number;
  path: string;
  headers?: Record<string, string>;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Per-request timeout (default 10 s). */
  requestTimeoutMs?: number;
}

export interface LoadResult {
  /** Responses (any status) completed inside the window. */
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses with a status other than 2xx, inside the window. */
  non2xx: number;
  /** Connection errors and timeouts, whole run. */
  errors: number;
  windowMs: number;
  /** CPU the generator itself used in the window, ms. */
  loadgenCpuMs: number;
}

/** Cumulative CPU-time readers (ms) sampled at the window's start and end; `runLoad` returns the deltas. */
export type CpuProbes = Record<string, () => number>;

const CHILD_FLAG = "NEXUS_BENCH_LOAD_CHILD";

/** Runs one load phase in a fresh child process; resolves with its result and the probes' CPU deltas. */
export function runLoad(
  opts: LoadOptions,
  probes: CpuProbes = {},
): Promise<{ result: LoadResult; cpuMs: Record<string, number> }> {
  const entry = fileURLToPath(import.meta.url);
  const child: ChildProcess = fork(entry, [], {
    execArgv: ["--import", import.meta.resolve("tsx")],
    env: { ...process.env, [CHILD_FLAG]: "1" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const hardMs = opts.warmupMs + opts.durationMs + (opts.requestTimeoutMs ?? 10_000) + 20_000;
  const read = () => Object.fromEntries(Object.entries(probes).map(([k, f]) => [k, f()]));
  return new Promise((resolve, reject) => {
    let start: Record<string, number> = {};
    let end: Record<string, number> | null = null;
    let settled = false;
    const timer = setTimeout(
      () => finish(new Error(`load generator did not finish in ${hardMs} ms`)),
      hardMs,
    );
    const finish = (err: Error | null, result?: LoadResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      if (err || !result) return reject(err ?? new Error("no result"));
      const stop = end ?? read();
      const cpuMs = Object.fromEntries(Object.keys(probes).map((k) => [k, stop[k]! - start[k]!]));
      resolve({ result, cpuMs });
    };
    child.on("message", (m: { type: string; phase?: string; result?: LoadResult }) => {
      if (m.type === "mark" && m.phase === "measure") start = read();
      else if (m.type === "mark" && m.phase === "end") end = read();
      else if (m.type === "result") finish(null, m.result);
    });
    child.once("error", (err) => finish(err));
    child.once("exit", (code, signal) =>
      finish(new Error(`load generator exited (code ${code}, signal ${signal}) before reporting`)),
    );
    child.send({ type: "run", opts });
  });
}

/** Nearest-rank percentile of an ascending array. */
function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

async function generate(o: LoadOptions, mark: (phase: string) => void): Promise<LoadResult> {
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: o.connections,
    maxFreeSockets: o.connections,
  });
  const timeoutMs = o.requestTimeoutMs ?? 10_000;
  const t0 = performance.now();
  const warmEnd = t0 + o.warmupMs;
  const end = warmEnd + o.durationMs;
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let non2xx = 0;
  let errors = 0;
  let cpuStart = process.cpuUsage();
  let cpuMs = 0;
  let phase: "warmup" | "measure" | "end" = "warmup";
  // Phase changes happen on whichever comes first, a timer or a response seen past the boundary (a timer
  // can lose the race against the last responses), and each happens exactly once.
  const advance = () => {
    const now = performance.now();
    if (phase === "warmup" && now >= warmEnd) {
      phase = "measure";
      cpuStart = process.cpuUsage();
      mark("measure");
    }
    if (phase === "measure" && now >= end) {
      phase = "end";
      const u = process.cpuUsage(cpuStart);
      cpuMs = (u.user + u.system) / 1000;
      mark("end");
    }
  };
  const markTimer = setTimeout(advance, o.warmupMs);
  const endTimer = setTimeout(advance, o.warmupMs + o.durationMs);

  const once = () =>
    new Promise<number>((resolve) => {
      const req = http.request(
        { host: "127.0.0.1", port: o.port, path: o.path, method: "GET", headers: o.headers, agent },
        (res) => {
          res.on("data", () => undefined);
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", () => resolve(-1));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve(-1));
      req.end();
    });

  const user = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      const status = await once();
      const done = performance.now();
      advance();
      if (status < 0) {
        errors++;
        await new Promise((r) => setTimeout(r, 10)); // do not spin on a dead port
        continue;
      }
      if (done < warmEnd || done > end) continue;
      if (status < 200 || status > 299) non2xx++;
      if (n === lat.length) {
        const bigger = new Float64Array(lat.length * 2);
        bigger.set(lat);
        lat = bigger;
      }
      lat[n++] = done - started;
    }
  };
  await Promise.all(Array.from({ length: o.connections }, user));
  advance();
  clearTimeout(markTimer);
  clearTimeout(endTimer);
  agent.destroy();
  const sorted = lat.subarray(0, n).sort();
  return {
    requests: n,
    rps: n / (o.durationMs / 1000),
    p50Ms: pct(sorted, 50),
    p90Ms: pct(sorted, 90),
    p99Ms: pct(sorted, 99),
    maxMs: n ? sorted[n - 1]! : Number.NaN,
    non2xx,
    errors,
    windowMs: o.durationMs,
    loadgenCpuMs: cpuMs,
  };
}

if (process.env[CHILD_FLAG] === "1" && process.send) {
  const send = (m: unknown) => process.send?.(m);
  // Never outlive the parent, and never run unbounded.
  process.on("disconnect", () => process.exit(0));
  process.once("message", (m: { type: string; opts: LoadOptions }) => {
    if (m.type !== "run") return process.exit(2);
    const o = m.opts;
    setTimeout(() => process.exit(3), o.warmupMs + o.durationMs + 30_000).unref();
    generate(o, (phase) => send({ type: "mark", phase }))
      .then((result) => process.send?.({ type: "result", result }, undefined, {}, () => process.disconnect()))
      .catch((err: Error) => {
        console.error(`load generator: ${err.message}`);
        process.exit(1);
      });
  });
}
