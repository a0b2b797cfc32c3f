/**
 * Detections of an uploaded image (or a forms photo) as `ai.*` metadata: `ai.objects` lists each COCO label
 * found with how many times and its best score ("person 2 (0.91), car 1 (0.55)", most frequent first, within
 * the 2048 characters a metadata value may hold), `ai.faces` the number of faces.
 */
import type { Detection } from "./detect-post.js";

/** The `ai.objects` and `ai.faces` values of one image's detections. */
export function detectionMetadata(found: { objects?: Detection[]; faces?: Detection[] }): {
  "ai.objects": string;
  "ai.faces": number;
} {
  const byLabel = new Map<string, { count: number; best: number }>();
  for (const d of found.objects ?? []) {
    const e = byLabel.get(d.label) ?? { count: 0, best: 0 };
    byLabel.set(d.label, { count: e.count + 1, best: Math.max(e.best, d.score) });
  }
  const items = [...byLabel]
    .sort(([la, a], [lb, b]) => b.count - a.count || b.best - a.best || la.localeCompare(lb))
    .map(([label, e]) => `${label} ${e.count} (${e.best.toFixed(2)})`);
  let objects = "";
  for (const item of items) {
    const next = objects ? `${objects}, ${item}` : item;
    if (next.length > 2048) break;
    objects = next;
  }
  return { "ai.objects": objects, "ai.faces": found.faces?.length ?? 0 };
}
