/** What applying change records at the hub works with: the incoming shape, policies and the order of versions. */
import type { ChangeRecord } from "../sync/change.js";

export type Policy = "lww" | "hub-wins" | "append-only";
export const POLICIES: readonly Policy[] = ["lww", "hub-wins", "append-only"];

/** The site id of versions written on the hub itself; no edge may enrol under it. */
export const HUB_SITE = "hub";

export interface IncomingChange {
  msgId: string;
  seq: number;
  /** The edge's `Nexus-Prev-Seq`: the previous unacknowledged sync seq of the same service (0: none). */
  prevSeq?: number;
  record: ChangeRecord;
}

export interface ApplyResult {
  applied: number;
  duplicates: number;
  watermarks: { site: string; service: string; seq: number }[];
}

/** A version, as far as conflict resolution needs it. */
export interface VersionId {
  hlc: string;
  site: string;
}

const isSurrogate = (u: number) => u >= 0xd800 && u <= 0xdfff;

/**
 * Byte-order comparison (UTF-8), as the HLC encoding expects; JS `<` compares UTF-16 units. Outside surrogate
 * pairs the two orders agree, so strings are compared unit by unit without encoding them (the hub sorts every
 * batch by it); only a difference at a surrogate falls back to comparing the UTF-8 bytes.
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (isSurrogate(x) || isSurrogate(y))
      return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** True when version a beats version b under the policy; identical versions beat nothing. */
export function beats(a: VersionId, b: VersionId, policy: Policy): boolean {
  if (policy === "hub-wins" && (a.site === HUB_SITE) !== (b.site === HUB_SITE)) return a.site === HUB_SITE;
  return (compareBytes(a.hlc, b.hlc) || compareBytes(a.site, b.site)) > 0;
}
