/**
 * Service logs for the appliance API: plain-text filters, and a log file streamed as a download. The shared
 * unit's file is cut down to the lines of the service asked (`src.keep`).
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import type { LogSource } from "../supervisor/log-files.js";

/** A case-insensitive substring match (no regular expressions from callers: nothing to backtrack on). */
export function matcher(text: string | undefined): ((line: string) => boolean) | undefined {
  if (!text) return undefined;
  const needle = text.toLowerCase();
  return (line) => line.toLowerCase().includes(needle);
}

async function* keptLines(src: LogSource) {
  const file = createReadStream(src.file);
  try {
    for await (const l of createInterface({ input: file, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (l && src.keep(l)) yield `${l}\n`;
    }
  } finally {
    file.destroy();
  }
}

/**
 * The log as a text attachment `<service>-<time>.log`; reading stops when the client leaves. For a HEAD, the
 * headers only: a file stream nobody reads would keep its descriptor open.
 */
export function downloadResponse(service: string, src: LogSource, head = false): Response {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  const body = head ? null : src.whole ? createReadStream(src.file) : Readable.from(keptLines(src));
  return new Response(body && (Readable.toWeb(body) as ReadableStream), {
    status: 200,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="${service}-${stamp}.log"`,
      "x-content-type-options": "nosniff",
      "cache-control": "no-store",
    },
  });
}
