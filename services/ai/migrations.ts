import type { Migration } from "../../appliance/kit/index.js";

export const migrations: Migration[] = [
  {
    id: "1765100000_models",
    up: (db) =>
      db.exec(`CREATE TABLE models (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        task TEXT NOT NULL,
        runtime TEXT NOT NULL,
        license TEXT NOT NULL,
        manifest TEXT NOT NULL,
        builtin INTEGER NOT NULL DEFAULT 0,
        pinned INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL,
        installed_at TEXT NOT NULL
      );
      CREATE TABLE model_files (
        model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
        file TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (model, file)
      );
      CREATE INDEX model_files_sha ON model_files(sha256);`),
  },
  {
    // The semantic index: one row per indexed text (OCR results, file names, form fields), its vector as
    // normalised Float32 bytes.
    id: "1765100001_documents",
    up: (db) =>
      db.exec(`CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX documents_kind ON documents(kind);`),
  },
  {
    // The key id that signed an installed pack (null: built-in, or unsigned under the dev flag).
    id: "1765100002_model_signer",
    up: (db) => db.exec("ALTER TABLE models ADD COLUMN signer TEXT"),
  },
  {
    // The resource each indexed text was read from (search-access.ts): a files space, a form, or the user who
    // indexed it. Older rows stay without one and are visible to ai:admin only, until they are indexed again.
    id: "1765100003_document_owner",
    up: (db) =>
      db.exec(`ALTER TABLE documents ADD COLUMN resource_type TEXT;
        ALTER TABLE documents ADD COLUMN resource_id TEXT;`),
  },
];
