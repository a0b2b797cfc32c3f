/**
 * What the AI service found in a file's content (`nexus.ai.file.analysed`: OCR text, speech segments) becomes
 * the file's `ai.*` metadata, replacing earlier `ai.*` keys and leaving the user's keys alone. Only the version
 * that was analysed is updated: a result for an older version (a new one was uploaded meanwhile) is dropped.
 */
import { z } from "zod";
import type { Subscription } from "../../appliance/kit/index.js";
import type { Ctx } from "./state.js";

const analysed = z.object({
  nodeId: z.string().min(1).max(64),
  version: z.number().int().positive(),
  metadata: z
    .record(z.string().regex(/^ai\.[A-Za-z0-9]{1,60}$/), z.union([z.string().max(2048), z.number()]))
    .refine((m) => Object.keys(m).length <= 16, "at most 16 ai.* keys"),
});

/** Merges an analysis into the node's metadata; false when dropped (unknown node, other version, bad event). */
export function applyAiMetadata(ctx: Ctx, data: unknown): boolean {
  const r = analysed.safeParse(data);
  if (!r.success) {
    ctx.log.warn({ issues: r.error.issues }, "ignored a malformed ai.file.analysed event");
    return false;
  }
  const { nodeId, version, metadata } = r.data;
  return ctx.tx(() => {
    const row = ctx.db
      .prepare("SELECT metadata, version FROM nodes WHERE id = ? AND kind = 'file' AND deleted_at IS NULL")
      .get(nodeId) as { metadata: string; version: number } | undefined;
    if (!row || row.version !== version) return false;
    const mine = Object.entries(JSON.parse(row.metadata) as Record<string, unknown>).filter(
      ([k]) => !k.startsWith("ai."),
    );
    const merged = { ...Object.fromEntries(mine), ...metadata };
    ctx.db.prepare("UPDATE nodes SET metadata = ? WHERE id = ?").run(JSON.stringify(merged), nodeId);
    return true;
  });
}

/** A user's new metadata (JSON) with the stored ai.* results kept: only the AI service writes those. */
export function withAiKeys(storedJson: string, mine: Record<string, unknown>): string {
  const ai = Object.entries(JSON.parse(storedJson) as Record<string, unknown>).filter(([k]) =>
    k.startsWith("ai."),
  );
  return JSON.stringify({ ...mine, ...Object.fromEntries(ai) });
}

/** The files service's subscription to the AI service's results. */
export function aiMetadataSubscriptions(ctx: Ctx): Subscription[] {
  return [
    {
      name: "ai-analysed",
      subject: "nexus.ai.file.analysed",
      handler: (event) => void applyAiMetadata(ctx, event.data),
    },
  ];
}
