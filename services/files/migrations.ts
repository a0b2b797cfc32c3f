/** The files service's schema: a tree of nodes per space, versions pointing at content-addressed blobs. */
import type { Migration } from "../../appliance/kit/index.js";

export const migrations: Migration[] = [
  {
    id: "1763800000_files",
    up: (db) =>
      db.exec(`
      CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        space TEXT NOT NULL,
        parent_id TEXT REFERENCES nodes(id),
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
        version INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT,
        content_type TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        deleted_at TEXT,
        trashed_with TEXT
      );
      -- One live node per name in a folder; trashed nodes keep their names without blocking new ones.
      CREATE UNIQUE INDEX nodes_live_name ON nodes (space, IFNULL(parent_id, ''), name) WHERE deleted_at IS NULL;
      CREATE INDEX nodes_parent ON nodes (parent_id);
      CREATE INDEX nodes_trashed_with ON nodes (trashed_with);

      CREATE TABLE versions (
        node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (node_id, version)
      );
      CREATE INDEX versions_sha256 ON versions (sha256);

      CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        space TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        received INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT,
        content_type TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );

      CREATE TABLE shares (
        id TEXT PRIMARY KEY,
        node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        password_hash TEXT,
        revoked_at TEXT,
        downloads INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX shares_node ON shares (node_id);

      CREATE TABLE quotas (space TEXT PRIMARY KEY, bytes INTEGER NOT NULL);
      CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    `),
  },
  {
    // Content the hub does not have yet (queued before enrolment too; sent once enrolled).
    id: "1763900000_blob_sync",
    up: (db) =>
      db.exec(`
        CREATE TABLE blob_sync (
          sha256 TEXT PRIMARY KEY,
          size INTEGER NOT NULL,
          queued_at TEXT NOT NULL,
          sent_at TEXT,
          attempts INTEGER NOT NULL DEFAULT 0,
          last_error TEXT
        );
        CREATE INDEX blob_sync_pending ON blob_sync (queued_at) WHERE sent_at IS NULL;
      `),
  },
  {
    // Wrong share passwords counted in the database: a restart does not reset the throttle.
    id: "1764000000_share_password_failures",
    up: (db) =>
      db.exec(`
        ALTER TABLE shares ADD COLUMN password_failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE shares ADD COLUMN password_failures_since INTEGER;
      `),
  },
  {
    // What became of a resumable upload once committed: a client whose answer to the last PATCH was lost (or
    // whose upload the service committed after a crash) asks again and learns it is done, with its file.
    id: "1764000001_finished_uploads",
    up: (db) =>
      db.exec(`
        CREATE TABLE finished_uploads (
          id TEXT PRIMARY KEY,
          space TEXT NOT NULL,
          path TEXT NOT NULL,
          size INTEGER NOT NULL,
          sha256 TEXT NOT NULL,
          content_type TEXT NOT NULL,
          created_by TEXT NOT NULL,
          created_at TEXT NOT NULL,
          node_id TEXT NOT NULL,
          version INTEGER NOT NULL,
          finished_at TEXT NOT NULL
        );
        CREATE INDEX finished_uploads_at ON finished_uploads (finished_at);
      `),
  },
];
