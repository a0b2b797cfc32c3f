/**
 * `--to <spec>` → a destination. This engine knows folders (a path, absolute or relative, or
 * `file:///path`); the remote destinations (`s3://…`, `hub`) are added here by their own module.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { folderDestination } from "./destination-folder.js";
import type { BackupDestination } from "./types.js";

/** Parses a destination spec; throws a readable error for one it does not know. */
export function parseDestination(spec: string): BackupDestination {
  const s = spec.trim();
  if (!s) throw new Error("a backup destination is a folder path (e.g. /media/usb/nexus-backups)");
  if (s.startsWith("file://")) return folderDestination(fileURLToPath(s));
  if (/^[a-z][a-z0-9+.-]*:/i.test(s)) {
    throw new Error(`unknown backup destination ${JSON.stringify(s.slice(0, 100))}: use a folder path`);
  }
  return folderDestination(resolve(s));
}
