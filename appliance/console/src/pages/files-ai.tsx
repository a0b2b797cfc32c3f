/**
 * What the AI service found in a file (its `ai.*` metadata, written by services/files/ai-metadata.ts): the
 * recognised text, the moderation class with every score, the objects and faces detected, speech segments, or why
 * the content could not be read.
 */
import type { FileNode } from "../types";

type Meta = FileNode["metadata"];

/** Whether the AI service left anything on this file. */
export const hasAi = (m: Meta | undefined) => Object.keys(m ?? {}).some((k) => k.startsWith("ai."));

const ms = (v: unknown) => `${(Number(v) / 1000).toFixed(1)} s`;

/** The `ai.*` keys as labelled rows, in a fixed order (unknown keys last, as they are). */
export function aiRows(m: Meta): [string, string][] {
  const rows: [string, string][] = [];
  const has = (k: string) => m[k] !== undefined && m[k] !== null;
  if (has("ai.error")) rows.push(["Could not analyse", String(m["ai.error"])]);
  if (has("ai.moderation"))
    rows.push([
      "Moderation",
      `${m["ai.moderation"]}${m["ai.flagged"] ? " (flagged)" : ""}${
        has("ai.moderationScores") ? ` — ${m["ai.moderationScores"]}` : ""
      }`,
    ]);
  if (has("ai.objects")) rows.push(["Objects", String(m["ai.objects"]) || "none found"]);
  if (has("ai.faces")) rows.push(["Faces", String(m["ai.faces"])]);
  if (has("ai.ocrLines")) rows.push(["Text lines", String(m["ai.ocrLines"])]);
  if (has("ai.speechSegments"))
    rows.push([
      "Speech",
      `${m["ai.speechSegments"]} segments, ${ms(m["ai.speechMs"])} of ${ms(m["ai.durationMs"])}`,
    ]);
  if (has("ai.speech")) rows.push(["Segments (ms)", String(m["ai.speech"])]);
  const known = new Set([
    "ai.error",
    "ai.moderation",
    "ai.flagged",
    "ai.moderationScores",
    "ai.objects",
    "ai.faces",
    "ai.ocrLines",
    "ai.ocrText",
    "ai.speechSegments",
    "ai.speechMs",
    "ai.durationMs",
    "ai.speech",
  ]);
  for (const [k, v] of Object.entries(m))
    if (k.startsWith("ai.") && !known.has(k) && v !== null) rows.push([k.slice(3), String(v)]);
  return rows;
}

export function AiDetails({ name, metadata }: { name: string; metadata: Meta }) {
  const text = metadata["ai.ocrText"];
  return (
    <section aria-label={`AI analysis of ${name}`} class="ai-details">
      <dl>
        {aiRows(metadata).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {typeof text === "string" && text !== "" && (
        <>
          <p class="small">Recognised text</p>
          <pre class="ocr-text">{text}</pre>
        </>
      )}
    </section>
  );
}
