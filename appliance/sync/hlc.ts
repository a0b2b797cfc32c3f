/**
 * Hybrid logical clock (Kulkarni et al. 2014). A timestamp is `<wall ms, 15 digits>.<counter, 5 digits>.<node>`:
 * fixed-width numbers make plain string order equal timestamp order, so SQLite and Postgres can sort and
 * compare them as text. Invariants: `now()` and `receive()` return strictly increasing timestamps, even when
 * the wall clock goes backwards; the wall part never trails the local clock and never runs more than
 * `maxDriftMs` ahead of it through a remote timestamp (those are refused with HlcDriftError).
 */
import { SITE_ID, SITE_ID_SOURCE } from "../lib/names.js";

export interface HlcTimestamp {
  /** Milliseconds since the epoch. */
  wall: number;
  counter: number;
  /** The site id that issued it. */
  node: string;
}

const MAX_WALL = 999_999_999_999_999;
const MAX_COUNTER = 99_999;
const FORMAT = new RegExp(`^(\\d{15})\\.(\\d{5})\\.(${SITE_ID_SOURCE})$`);

/** Encodes a timestamp; throws on a wall time, counter or node the format cannot hold. */
export function encodeHlc(ts: HlcTimestamp): string {
  if (!Number.isSafeInteger(ts.wall) || ts.wall < 0 || ts.wall > MAX_WALL)
    throw new RangeError(`hlc wall time out of range: ${ts.wall}`);
  if (!Number.isSafeInteger(ts.counter) || ts.counter < 0 || ts.counter > MAX_COUNTER)
    throw new RangeError(`hlc counter out of range: ${ts.counter}`);
  if (!SITE_ID.test(ts.node)) throw new RangeError(`hlc node must match ${SITE_ID}: ${ts.node}`);
  return `${String(ts.wall).padStart(15, "0")}.${String(ts.counter).padStart(5, "0")}.${ts.node}`;
}

/** Decodes a timestamp; throws on anything that is not exactly the encoded form. */
export function decodeHlc(s: string): HlcTimestamp {
  const m = typeof s === "string" ? FORMAT.exec(s) : null;
  if (!m) throw new Error(`malformed hlc timestamp: ${JSON.stringify(s)?.slice(0, 100)}`);
  return { wall: Number(m[1]), counter: Number(m[2]), node: m[3]! };
}

/** True when `s` is a well-formed timestamp. */
export function isHlc(s: unknown): s is string {
  return typeof s === "string" && FORMAT.test(s);
}

/** Orders two timestamps (-1, 0, 1); throws on a malformed one. Equal to their string order. */
export function compareHlc(a: string, b: string): -1 | 0 | 1 {
  decodeHlc(a);
  decodeHlc(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A remote timestamp too far ahead of the local clock: merging it would drag this clock into the future. */
export class HlcDriftError extends Error {
  constructor(
    readonly remote: string,
    readonly aheadMs: number,
  ) {
    super(`hlc timestamp ${remote} is ${aheadMs} ms ahead of the local clock`);
    this.name = "HlcDriftError";
  }
}

export interface HlcOptions {
  /** The wall clock in ms; tests inject their own. */
  now?: () => number;
  /** How far ahead of the local clock a remote timestamp may be. */
  maxDriftMs?: number;
  /** The last timestamp issued before (persisted): the clock continues after it. */
  last?: string;
}

/** One node's clock. Not shared across processes: persist `last` and pass it back in on start. */
export class Hlc {
  private readonly clock: () => number;
  private readonly maxDriftMs: number;
  private wall = 0;
  private counter = 0;

  constructor(
    readonly node: string,
    opts: HlcOptions = {},
  ) {
    if (!SITE_ID.test(node)) throw new RangeError(`hlc node must match ${SITE_ID}: ${node}`);
    this.clock = opts.now ?? Date.now;
    this.maxDriftMs = opts.maxDriftMs ?? 60_000;
    if (opts.last !== undefined) ({ wall: this.wall, counter: this.counter } = decodeHlc(opts.last));
  }

  /** The last timestamp issued (or the one passed in as `last`), with this clock's node. */
  get last(): string {
    return encodeHlc({ wall: this.wall, counter: this.counter, node: this.node });
  }

  /** A new timestamp for a local event. */
  now(): string {
    const pt = this.physical();
    if (pt > this.wall) this.set(pt, 0);
    else this.set(this.wall, this.counter + 1);
    return this.last;
  }

  /** Merges a remote timestamp (a change received from elsewhere) and returns the new local one. */
  receive(remote: string): string {
    const r = decodeHlc(remote);
    const pt = this.physical();
    if (r.wall - pt > this.maxDriftMs) throw new HlcDriftError(remote, r.wall - pt);
    const wall = Math.max(this.wall, r.wall, pt);
    if (wall === this.wall && wall === r.wall) this.set(wall, Math.max(this.counter, r.counter) + 1);
    else if (wall === this.wall) this.set(wall, this.counter + 1);
    else if (wall === r.wall) this.set(wall, r.counter + 1);
    else this.set(wall, 0);
    return this.last;
  }

  private physical(): number {
    const pt = Math.floor(this.clock());
    if (!Number.isSafeInteger(pt) || pt < 0 || pt > MAX_WALL) throw new RangeError(`bad wall clock: ${pt}`);
    return pt;
  }

  /** A counter past 5 digits (100,000 events in one ms, or a long stretch behind) borrows the next ms. */
  private set(wall: number, counter: number): void {
    if (counter > MAX_COUNTER) {
      if (wall >= MAX_WALL) throw new RangeError("hlc wall time out of range");
      this.wall = wall + 1;
      this.counter = 0;
    } else {
      this.wall = wall;
      this.counter = counter;
    }
  }
}
