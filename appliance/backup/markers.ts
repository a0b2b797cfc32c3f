/**
 * The files a restore leaves in the data dir for the next start, and what the supervisor reads of them. Kept
 * apart from the restore code (apply.ts, sync-epoch.ts) so `nexus up` reads them without loading it.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** The marker file of an unfinished restore (relative to the data dir). */
export const INCOMPLETE_MARKER = "restore-incomplete.json";

/** The file (in the data dir) that tells the supervisor where the restored box's sync stream starts. */
export const SYNC_STREAM_MARKER = "sync-stream-restored.json";

/** The unfinished restore named by the marker, or null. */
export async function incompleteRestore(dataDir: string): Promise<string | null> {
  const marker = join(dataDir, INCOMPLETE_MARKER);
  if (!existsSync(marker)) return null;
  try {
    return (JSON.parse(await readFile(marker, "utf8")) as { restore: string }).restore;
  } catch {
    return "unknown";
  }
}

/** The sequence a restored box's new sync stream starts at, or null when no restore left one. */
export function restoredSyncStreamSeq(dataDir: string): number | null {
  try {
    const { firstSeq } = JSON.parse(readFileSync(join(dataDir, SYNC_STREAM_MARKER), "utf8")) as {
      firstSeq?: unknown;
    };
    return typeof firstSeq === "number" && Number.isSafeInteger(firstSeq) && firstSeq > 0 ? firstSeq : null;
  } catch {
    return null;
  }
}

/** Removes the marker once the stream was started (or found holding messages). */
export function clearSyncStreamMarker(dataDir: string): void {
  rmSync(join(dataDir, SYNC_STREAM_MARKER), { force: true });
}
