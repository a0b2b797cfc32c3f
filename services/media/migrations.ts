/**
 * The media service's schema: the file versions it heard of (from files' events), its durable job queue,
 * the ffmpeg pids each running job holds (swept at start), the outputs each finished job published, and the
 * playback-URL signing key.
 */
import type { Migration } from "../../appliance/kit/index.js";

export const migrations: Migration[] = [
  {
    id: "1765100000_media",
    up: (db) =>
      db.exec(`
      CREATE TABLE sources (
        node_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        space TEXT NOT NULL,
        path TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (node_id, version)
      );
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        node_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        space TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        priority INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before INTEGER NOT NULL DEFAULT 0,
        kind TEXT,
        progress REAL NOT NULL DEFAULT 0,
        eta_seconds REAL,
        stage TEXT,
        encoder TEXT,
        error TEXT,
        probe TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX jobs_next ON jobs (state, priority DESC, created_at);
      CREATE INDEX jobs_source ON jobs (node_id, version);
      CREATE TABLE job_pids (job_id TEXT NOT NULL, pid INTEGER NOT NULL, PRIMARY KEY (job_id, pid));
      CREATE TABLE outputs (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        PRIMARY KEY (job_id, name)
      );
      CREATE INDEX outputs_sha ON outputs (sha256);
      CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `),
  },
  {
    // Sources from the forms service (submission attachments) beside files' versions; per-space photo
    // settings (EXIF, GPS); outputs that carry GPS get a GPS-free copy for signed (shareable) URLs.
    id: "1765200000_media_forms_exif",
    up: (db) =>
      db.exec(`
      ALTER TABLE sources ADD COLUMN origin TEXT NOT NULL DEFAULT 'files';
      ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'files';
      ALTER TABLE outputs ADD COLUMN shared_sha256 TEXT;
      ALTER TABLE outputs ADD COLUMN shared_size INTEGER;
      CREATE TABLE space_settings (space TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
    `),
  },
];
