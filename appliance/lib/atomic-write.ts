/** Writes a small file whole or not at all: a reader never sees it empty or half written. */
import { renameSync, writeFileSync } from "node:fs";

export function writeFileAtomic(file: string, data: string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}
