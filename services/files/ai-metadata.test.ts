/**
 * The AI service's results as file metadata: `ai.*` keys replace earlier ones and leave the user's keys alone;
 * a result for a version that is no longer current, an unknown node or a malformed event changes nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { openServiceOffline } from "../../appliance/kit/index.js";
import { applyAiMetadata } from "./ai-metadata.js";
import filesService from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "files-ai-meta-"));
const ctx = openServiceOffline(filesService, { dataDir: dir, site: "local", log: pino({ level: "silent" }) });
afterAll(() => {
  ctx.db.close();
  rmSync(dir, { recursive: true, force: true });
});
const now = new Date().toISOString();
ctx.db
  .prepare(
    `INSERT INTO nodes (id, space, parent_id, name, kind, version, size, sha256, content_type, metadata,
       created_by, created_at, updated_at) VALUES ('n1', 'me', NULL, 'scan.png', 'file', 2, 10, ?, 'image/png', ?,
       'u1', ?, ?)`,
  )
  .run("a".repeat(64), JSON.stringify({ owner: "ops", "ai.ocrText": "old" }), now, now);
const metadata = () =>
  JSON.parse(
    (ctx.db.prepare("SELECT metadata FROM nodes WHERE id = 'n1'").get() as { metadata: string }).metadata,
  );

describe("applyAiMetadata", () => {
  it("replaces the ai.* keys of the current version and keeps the user's", () => {
    expect(applyAiMetadata(ctx, { nodeId: "n1", version: 2, metadata: { "ai.ocrLines": 3 } })).toBe(true);
    expect(metadata()).toEqual({ owner: "ops", "ai.ocrLines": 3 });
  });

  it("drops results for another version, an unknown node, and malformed events", () => {
    const cases = [
      { nodeId: "n1", version: 1, metadata: { "ai.ocrText": "stale" } },
      { nodeId: "nope", version: 2, metadata: { "ai.ocrText": "x" } },
      { nodeId: "n1", version: 2, metadata: { owner: "hijack" } },
      { nodeId: "n1", version: 2, metadata: { "ai.ocrText": "x".repeat(3000) } },
      null,
    ];
    for (const c of cases) expect(applyAiMetadata(ctx, c)).toBe(false);
    expect(metadata()).toEqual({ owner: "ops", "ai.ocrLines": 3 });
  });
});
