/**
 * ffmpeg's `-progress pipe:1` output: blocks of `key=value` lines ending with `progress=continue|end`.
 * Percent and ETA come from `out_time_us` against the input's duration and the wall time so far.
 */

export interface Progress {
  /** Seconds of output written. */
  outTime: number;
  /** 0..100 */
  percent: number;
  /** Seconds left at the current speed; null until it can be told. */
  etaSeconds: number | null;
  /** Encoding speed as a multiple of real time (ffmpeg's `speed=`). */
  speed: number | null;
  done: boolean;
}

/** Feeds chunks of progress output; calls `onBlock` once per finished block. */
export class ProgressParser {
  private buffer = "";
  private block: Record<string, string> = {};
  private readonly started = Date.now();

  constructor(
    private readonly durationSeconds: number,
    private readonly onBlock: (p: Progress) => void,
  ) {}

  push(chunk: string): void {
    this.buffer += chunk;
    let nl = this.buffer.indexOf("\n");
    while (nl >= 0) {
      this.line(this.buffer.slice(0, nl).trim());
      this.buffer = this.buffer.slice(nl + 1);
      nl = this.buffer.indexOf("\n");
    }
    // A flood without newlines never grows the buffer without bound.
    if (this.buffer.length > 4096) this.buffer = "";
  }

  private line(line: string): void {
    const eq = line.indexOf("=");
    if (eq <= 0) return;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key !== "progress") {
      this.block[key] = value;
      return;
    }
    this.onBlock(progressOf(this.block, value === "end", this.durationSeconds, Date.now() - this.started));
    this.block = {};
  }
}

/** One block's figures. `elapsedMs`: wall time since ffmpeg started. */
export function progressOf(
  block: Record<string, string>,
  done: boolean,
  durationSeconds: number,
  elapsedMs: number,
): Progress {
  const us = Number(block.out_time_us ?? block.out_time_ms ?? Number.NaN);
  const outTime = Number.isFinite(us) && us > 0 ? us / 1e6 : 0;
  const speedRaw = Number.parseFloat((block.speed ?? "").replace("x", ""));
  const speed = Number.isFinite(speedRaw) && speedRaw > 0 ? speedRaw : null;
  const fraction = durationSeconds > 0 ? Math.min(1, outTime / durationSeconds) : 0;
  let etaSeconds: number | null = null;
  if (done) etaSeconds = 0;
  else if (fraction > 0.01) etaSeconds = ((elapsedMs / 1000) * (1 - fraction)) / fraction;
  return { outTime, percent: done ? 100 : Math.round(fraction * 1000) / 10, etaSeconds, speed, done };
}
