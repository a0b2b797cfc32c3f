/**
 * The backup's crypto threads: ChaCha20-Poly1305 and sha256 of every part and blob of a megabyte or more run
 * in worker threads (crypto-worker.ts; one by default, `NEXUS_BACKUP_CRYPTO_THREADS`), not on the event loop
 * of the process taking the backup (the supervisor, which also serves the box), so the requests the box
 * serves meanwhile do not wait behind a chunk's crypto. A job is one object, bound to one thread; its messages
 * are answered in order. Threads start on first use and end after 30 idle seconds (the supervisor's memory
 * stays small between backups). Two threads were measured on a 2-core box: no faster, and the box's own
 * writes slowed more (docs/benchmarks.md).
 */
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { startWorker } from "../lib/bundle-entry.js";
import { type Digest, type PayloadJobOptions, payloadJob } from "./crypto-job.js";

export type CryptoRequest =
  | ({ op: "start"; id: number } & PayloadJobOptions)
  | { op: "data"; id: number; data: Uint8Array[] }
  | { op: "end" | "abort"; id: number };

export interface CryptoReply {
  id: number;
  out?: Uint8Array[];
  error?: string;
  plain?: Digest;
  stored?: Digest;
}

/**
 * Threads at most (`NEXUS_BACKUP_CRYPTO_THREADS`, 0: every job on the calling thread). One by default: the
 * crypto leaves the event loop, and a 2-core box keeps a core for the services it runs meanwhile.
 */
export function cryptoThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.NEXUS_BACKUP_CRYPTO_THREADS ?? 1);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, availableParallelism()) : 1;
}
const THREADS = cryptoThreads();
const IDLE_MS = 30_000;

interface Thread {
  worker: Worker;
  /** Resolvers of the messages sent, in order (the thread answers in order). */
  waiting: { ok: (r: CryptoReply) => void; fail: (e: Error) => void }[];
  jobs: number;
  idle: NodeJS.Timeout | null;
}

const threads: Thread[] = [];
let nextId = 1;

/** The worker entry (bundled, compiled or through tsx: startWorker). */
function spawn(): Worker {
  return startWorker(import.meta.url, "backup-crypto-worker", "crypto-worker");
}

function startThread(): Thread {
  const t: Thread = { worker: spawn(), waiting: [], jobs: 0, idle: null };
  t.worker.unref();
  const fail = (err: Error) => {
    const i = threads.indexOf(t);
    if (i >= 0) threads.splice(i, 1);
    for (const w of t.waiting.splice(0)) w.fail(err);
  };
  t.worker.on("message", (r: CryptoReply) => {
    t.waiting.shift()?.ok(r);
    if (t.waiting.length === 0) t.worker.unref();
  });
  t.worker.on("error", fail);
  t.worker.on("exit", (code) => fail(new Error(`backup crypto thread exited (${code})`)));
  threads.push(t);
  endWhenIdle(t); // a warmed thread no job ever uses ends too
  return t;
}

/** Starts the threads now (a backup calls it first, so they boot while the databases are copied). */
export function warmCryptoPool(): void {
  while (threads.length < THREADS) startThread();
}

function pickThread(): Thread {
  const free = threads.reduce<Thread | null>((a, t) => (!a || t.jobs < a.jobs ? t : a), null);
  const t = threads.length < THREADS && (free?.jobs ?? 1) > 0 ? startThread() : free!;
  if (t.idle) clearTimeout(t.idle);
  t.idle = null;
  t.jobs++;
  return t;
}

function releaseThread(t: Thread): void {
  if (--t.jobs > 0 || !threads.includes(t)) return;
  endWhenIdle(t);
}

function endWhenIdle(t: Thread): void {
  t.idle = setTimeout(() => {
    if (t.jobs > 0) return;
    const i = threads.indexOf(t);
    if (i >= 0) threads.splice(i, 1);
    void t.worker.terminate();
  }, IDLE_MS);
  t.idle.unref();
}

function send(t: Thread, m: CryptoRequest, move: ArrayBuffer[] = []): Promise<CryptoReply> {
  return new Promise((ok, fail) => {
    t.waiting.push({ ok, fail });
    t.worker.ref(); // an answer is awaited: the process must not exit under it
    t.worker.postMessage(m, move);
  }).then((r) => {
    const reply = r as CryptoReply;
    if (reply.error) throw new Error(reply.error);
    return reply;
  });
}

/** The memory of a buffer that owns all of it (not a view into a larger or pooled one): it can be moved. */
export function ownMemory(b: Uint8Array): ArrayBuffer | undefined {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.byteLength > 0
    ? (b.buffer as ArrayBuffer)
    : undefined;
}

/** The memories of the buffers that own theirs (each at most once). */
export function movable(bs: readonly Uint8Array[]): ArrayBuffer[] {
  return [...new Set(bs.map(ownMemory).filter((m) => m !== undefined))];
}

const asBuffers = (us: Uint8Array[] | undefined) =>
  (us ?? []).map((u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** One object's sealing or opening in a crypto thread. */
export interface CryptoJob {
  /**
   * Feeds bytes; resolves to the output ready so far. `move`: each buffer that owns its memory is moved to
   * the thread (it is empty here afterwards) instead of copied.
   */
  data(bs: Buffer[], move?: boolean): Promise<Buffer[]>;
  /** The last output and the digests of the plaintext and of the stored bytes. */
  end(): Promise<{ out: Buffer[]; plain: Digest; stored: Digest }>;
  /** Drops the job (the stream failed elsewhere). */
  abort(): void;
}

/** Starts a job in a crypto thread (see PayloadJobOptions), or here when there are none. */
export function startCryptoJob(opts: PayloadJobOptions): CryptoJob {
  if (THREADS === 0) return localCryptoJob(opts);
  const t = pickThread();
  const id = nextId++;
  let open = true;
  const finish = () => {
    if (open) releaseThread(t);
    open = false;
  };
  const started = send(t, { op: "start", id, ...opts });
  started.catch(() => {});
  const call = async (m: CryptoRequest, move?: ArrayBuffer[]) => {
    await started;
    try {
      return await send(t, m, move);
    } catch (err) {
      finish();
      throw err;
    }
  };
  return {
    async data(bs, move) {
      return asBuffers((await call({ op: "data", id, data: bs }, move ? movable(bs) : undefined)).out);
    },
    async end() {
      const r = await call({ op: "end", id });
      finish();
      return { out: asBuffers(r.out), plain: r.plain!, stored: r.stored! };
    },
    abort() {
      if (!open) return;
      finish();
      if (threads.includes(t)) send(t, { op: "abort", id }).catch(() => {});
    },
  };
}

/**
 * The same job on the calling thread: for an object small enough that its crypto (well under a millisecond)
 * costs less than handing it to a thread and back.
 */
export function localCryptoJob(opts: PayloadJobOptions): CryptoJob {
  const job = payloadJob(opts);
  const some = (b: Buffer | undefined) => (b ? [b] : []);
  return {
    async data(bs) {
      return bs.flatMap((b) => some(job.push(b)));
    },
    async end() {
      const { out, plain, stored } = job.end();
      return { out: some(out), plain, stored };
    },
    abort() {},
  };
}
