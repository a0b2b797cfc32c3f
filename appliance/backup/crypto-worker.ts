/**
 * A backup crypto thread (crypto-pool.ts starts it): seals or opens age payloads (age-payload.ts) and hashes
 * the plaintext and the stored bytes, for any number of jobs, one message at a time. Every reply is the
 * output of one message, in order; the output buffers are moved (transferred) to the caller, not copied.
 */
import { parentPort } from "node:worker_threads";
import { type PayloadJob, payloadJob } from "./crypto-job.js";
import { type CryptoReply, type CryptoRequest, movable } from "./crypto-pool.js";

const jobs = new Map<number, PayloadJob>();
const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const outputs = (bs: (Buffer | undefined)[]) => bs.filter((b): b is Buffer => b !== undefined);

function handle(m: CryptoRequest): CryptoReply {
  if (m.op === "start") {
    const { op: _, id, ...opts } = m;
    jobs.set(id, payloadJob(opts));
    return { id };
  }
  const job = jobs.get(m.id);
  if (!job) return { id: m.id, error: "no such crypto job" };
  if (m.op === "abort") {
    jobs.delete(m.id);
    return { id: m.id };
  }
  try {
    if (m.op === "data") return { id: m.id, out: outputs(m.data.map((d) => job.push(asBuffer(d)))) };
    jobs.delete(m.id);
    const { out, plain, stored } = job.end();
    return { id: m.id, out: outputs([out]), plain, stored };
  } catch (err) {
    jobs.delete(m.id);
    return { id: m.id, error: (err as Error).message };
  }
}

parentPort?.on("message", (m: CryptoRequest) => {
  const reply = handle(m);
  // A buffer that owns its whole memory moves; one cut from a shared pool (small ones) is copied.
  parentPort!.postMessage(reply, movable(reply.out ?? []));
});
