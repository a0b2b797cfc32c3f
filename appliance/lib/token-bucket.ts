/**
 * A token bucket shared by every stream of one sender: bytes pass at `bytesPerSecond` on average, with bursts
 * up to `burstBytes`, however many streams draw from it at once (two concurrent uploads share the rate rather
 * than each getting it). Time comes from `now`, so the arithmetic is testable without sleeping.
 */
import { Transform } from "node:stream";

export interface TokenBucket {
  /** Resolves once `bytes` may be sent (at once when the bucket holds them). */
  take(bytes: number, signal?: AbortSignal): Promise<void>;
  /** A Transform that passes its chunks on only as the bucket allows. */
  stream(): Transform;
}

/** A bucket of `bytesPerSecond` (0: unlimited) that starts full with `burstBytes` (default: 1/4 s of rate). */
export function tokenBucket(
  bytesPerSecond: number,
  opts: { burstBytes?: number; now?: () => number } = {},
): TokenBucket {
  const now = opts.now ?? (() => performance.now());
  const burst = Math.max(1, opts.burstBytes ?? Math.ceil(bytesPerSecond / 4));
  let tokens = burst;
  let at = now();
  // Waiters queue in order, so a large chunk is not starved by a stream of small ones.
  let queue: Promise<void> = Promise.resolve();

  const refill = () => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - at) / 1000) * bytesPerSecond);
    at = t;
  };
  const take = (bytes: number, signal?: AbortSignal): Promise<void> => {
    if (bytesPerSecond <= 0) return Promise.resolve();
    const turn = queue.then(async () => {
      // A chunk larger than the bucket goes through in bucket-sized pieces of waiting.
      let left = bytes;
      while (left > 0) {
        refill();
        const want = Math.min(left, burst);
        if (tokens >= want) {
          tokens -= want;
          left -= want;
          continue;
        }
        await sleep(((want - tokens) / bytesPerSecond) * 1000, signal);
      }
    });
    queue = turn.catch(() => {});
    return turn;
  };
  return {
    take,
    stream: () =>
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          take(chunk.length).then(
            () => done(null, chunk),
            (err) => done(err),
          );
        },
      }),
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(1, Math.ceil(ms)),
    );
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
