/** The forms service's schema: forms and versions (XForm XML), attachments, app users, submissions. */
import type { Migration } from "../../appliance/kit/index.js";

export const migrations: Migration[] = [
  {
    id: "1765000000_forms",
    up: (db) =>
      db.exec(`
      CREATE TABLE forms (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE form_versions (
        form_id TEXT NOT NULL REFERENCES forms(id),
        version TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('draft', 'published', 'archived')),
        title TEXT NOT NULL,
        xml TEXT NOT NULL,
        md5 TEXT NOT NULL,
        def TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('xform', 'xlsform')),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        published_at TEXT,
        archived_at TEXT,
        PRIMARY KEY (form_id, version)
      );
      CREATE TABLE form_attachments (
        form_id TEXT NOT NULL,
        version TEXT NOT NULL,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        md5 TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (form_id, version, name),
        FOREIGN KEY (form_id, version) REFERENCES form_versions(form_id, version)
      );
      CREATE TABLE app_users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      );
      CREATE UNIQUE INDEX app_users_live_name ON app_users (name) WHERE revoked_at IS NULL;
      CREATE TABLE submissions (
        id TEXT PRIMARY KEY,
        form_id TEXT NOT NULL,
        version TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        instance_name TEXT,
        xml TEXT NOT NULL,
        xml_sha256 TEXT NOT NULL,
        fields TEXT NOT NULL,
        expected TEXT NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0,
        review_state TEXT NOT NULL DEFAULT 'received'
          CHECK (review_state IN ('received', 'approved', 'rejected', 'edited')),
        review_comment TEXT,
        revision INTEGER NOT NULL DEFAULT 1,
        submitter TEXT NOT NULL,
        site TEXT NOT NULL,
        received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (form_id, instance_id),
        FOREIGN KEY (form_id, version) REFERENCES form_versions(form_id, version)
      );
      CREATE INDEX submissions_form_time ON submissions (form_id, received_at);
      CREATE INDEX submissions_time ON submissions (received_at);
      CREATE TABLE submission_attachments (
        submission_id TEXT NOT NULL REFERENCES submissions(id),
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (submission_id, name)
      );
      CREATE TABLE submission_revisions (
        submission_id TEXT NOT NULL REFERENCES submissions(id),
        revision INTEGER NOT NULL,
        xml TEXT NOT NULL,
        fields TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (submission_id, revision)
      );
      CREATE TABLE submission_reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        submission_id TEXT NOT NULL REFERENCES submissions(id),
        state TEXT NOT NULL,
        comment TEXT,
        by TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE INDEX submission_reviews_of ON submission_reviews (submission_id);
    `),
  },
  {
    // Attachments the hub does not have yet (queued before enrolment too; sent once enrolled).
    id: "1765000001_blob_sync",
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
    // The HLC of the last hub record applied per form version (hub-managed forms; replays change nothing).
    id: "1765000002_form_hub_versions",
    up: (db) => db.exec("CREATE TABLE form_hub_versions (key TEXT PRIMARY KEY, hlc TEXT NOT NULL)"),
  },
  {
    // OpenRosa edits (meta/deprecatedID): every instanceID a submission has had, so a resend of any revision is
    // recognised; the submission keeps its first instanceID as its identity and tracks the current one.
    id: "1765000003_submission_instances",
    up: (db) =>
      db.exec(`
        CREATE TABLE submission_instances (
          form_id TEXT NOT NULL,
          instance_id TEXT NOT NULL,
          submission_id TEXT NOT NULL REFERENCES submissions(id),
          revision INTEGER NOT NULL,
          xml_sha256 TEXT NOT NULL,
          PRIMARY KEY (form_id, instance_id)
        );
        INSERT INTO submission_instances (form_id, instance_id, submission_id, revision, xml_sha256)
          SELECT form_id, instance_id, id, revision, xml_sha256 FROM submissions;
        ALTER TABLE submissions ADD COLUMN current_instance_id TEXT;
        UPDATE submissions SET current_instance_id = instance_id;
        ALTER TABLE submission_revisions ADD COLUMN instance_id TEXT;
      `),
  },
  {
    // Per-form app users: an app user with assignments sees and submits only those forms (all_forms = 0).
    id: "1765000004_app_user_forms",
    up: (db) =>
      db.exec(`
        ALTER TABLE app_users ADD COLUMN all_forms INTEGER NOT NULL DEFAULT 1;
        CREATE TABLE app_user_forms (
          app_user_id TEXT NOT NULL REFERENCES app_users(id),
          form_id TEXT NOT NULL,
          PRIMARY KEY (app_user_id, form_id)
        );
      `),
  },
  {
    // Hub-managed form versions waiting for their attachments from the hub (then put in their hub state).
    id: "1765000005_form_hub_pending",
    up: (db) =>
      db.exec(`
        CREATE TABLE form_hub_pending (
          form_id TEXT NOT NULL,
          version TEXT NOT NULL,
          state TEXT NOT NULL,
          attachments TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          PRIMARY KEY (form_id, version)
        );
      `),
  },
  {
    // What the AI service found in each attachment (nexus.ai.attachment.analysed), for the content it analysed.
    id: "1765000006_submission_attachment_ai",
    up: (db) =>
      db.exec(`
        CREATE TABLE submission_attachment_ai (
          submission_id TEXT NOT NULL REFERENCES submissions(id),
          name TEXT NOT NULL,
          sha256 TEXT NOT NULL,
          metadata TEXT NOT NULL,
          analysed_at TEXT NOT NULL,
          PRIMARY KEY (submission_id, name)
        );
      `),
  },
];
