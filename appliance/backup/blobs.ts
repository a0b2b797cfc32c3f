/**
 * The files service's blob store as the backup sees it: opened with the files service's own config (env
 * `NEXUS_FILES_*`, config.json's `serviceConfig.files`), read and written only through the BlobStore
 * interface. A snapshot references the blobs its copy of the files database names.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createBlobStore } from "../../services/files/blob-store/index.js";
import { blobStoreConfig, filesConfigSchema } from "../../services/files/config.js";
import { loadApplianceConfig } from "../config/load.js";
import { envPrefix, loadConfig } from "../kit/config.js";
import type { BlobStore } from "../lib/blob-store.js";

/**
 * The box's blob store (call `init()` before writing). Its settings come from `configDir`'s config.json
 * (restore reads the restored one, still in staging) and env; the default root is under `dataDir`.
 */
export function openBlobStore(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
  configDir = dataDir,
): BlobStore {
  const app = loadApplianceConfig({ dataDir: configDir }, env);
  const files = loadConfig(filesConfigSchema, {
    prefix: envPrefix("files"),
    env,
    fileValues: app.serviceConfig.files ?? {},
  });
  const home = join(dataDir, "services", "files");
  return createBlobStore({ ...blobStoreConfig(files), root: files.blobRoot ?? join(home, "blobs") }, home);
}

/** Every blob (sha256 → size) a copy of the files database references: file versions and current contents. */
export function referencedBlobs(filesDbCopy: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(filesDbCopy)) return out;
  const db = new Database(filesDbCopy, { readonly: true, fileMustExist: true });
  try {
    const has = (t: string) =>
      !!db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?").get(t);
    if (has("versions")) {
      for (const r of db.prepare("SELECT sha256, size FROM versions").iterate() as Iterable<{
        sha256: string;
        size: number;
      }>) {
        out.set(r.sha256, r.size);
      }
    }
    if (has("nodes")) {
      for (const r of db
        .prepare("SELECT sha256, size FROM nodes WHERE sha256 IS NOT NULL")
        .iterate() as Iterable<{
        sha256: string;
        size: number;
      }>) {
        out.set(r.sha256, r.size);
      }
    }
  } finally {
    db.close();
  }
  return out;
}
