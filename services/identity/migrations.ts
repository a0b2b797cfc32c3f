import type { Migration } from "../../appliance/kit/index.js";
import { composeBuiltinRoles, writeBuiltinRoles } from "./builtin-roles.js";

export const migrations: Migration[] = [
  {
    id: "1763769600_identity",
    up: (db) => {
      db.exec(`
        CREATE TABLE users (
          id TEXT PRIMARY KEY,
          username TEXT NOT NULL UNIQUE COLLATE NOCASE,
          display_name TEXT NOT NULL DEFAULT '',
          password_hash TEXT,
          source TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'hub')),
          hub_id TEXT UNIQUE,
          status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
          must_change_password INTEGER NOT NULL DEFAULT 0,
          failed_logins INTEGER NOT NULL DEFAULT 0,
          lockouts INTEGER NOT NULL DEFAULT 0,
          locked_until INTEGER,
          totp_secret TEXT,
          totp_enabled INTEGER NOT NULL DEFAULT 0,
          totp_last_step INTEGER,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE TABLE roles (
          name TEXT PRIMARY KEY,
          description TEXT NOT NULL DEFAULT '',
          builtin INTEGER NOT NULL DEFAULT 0,
          permissions TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE user_roles (
          user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          role TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
          PRIMARY KEY (user_id, role)
        );
        CREATE TABLE teams (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at TEXT NOT NULL);
        CREATE TABLE team_members (
          team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
          user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          PRIMARY KEY (team_id, user_id)
        );
        CREATE TABLE sessions (
          id TEXT PRIMARY KEY,
          secret_hash TEXT NOT NULL UNIQUE,
          user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          csrf TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          last_seen_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          ip TEXT NOT NULL DEFAULT '',
          user_agent TEXT NOT NULL DEFAULT '',
          revoked_at INTEGER
        );
        CREATE INDEX sessions_user ON sessions (user_id);
        CREATE TABLE api_keys (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          secret_hash TEXT NOT NULL UNIQUE,
          permissions TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          expires_at INTEGER,
          revoked_at INTEGER,
          last_used_at INTEGER
        );
        CREATE TABLE recovery_codes (
          user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          code_hash TEXT NOT NULL,
          used_at INTEGER,
          PRIMARY KEY (user_id, code_hash)
        );
        CREATE TABLE signing_keys (
          kid TEXT PRIMARY KEY,
          private_pem TEXT NOT NULL,
          public_jwk TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          retired_at INTEGER
        );
        CREATE TABLE setup_tokens (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, used_at INTEGER);
        CREATE TABLE ip_failures (ip TEXT PRIMARY KEY, count INTEGER NOT NULL, window_start INTEGER NOT NULL);
        CREATE TABLE audit (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          at TEXT NOT NULL,
          actor TEXT,
          ip TEXT,
          action TEXT NOT NULL,
          target TEXT,
          outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
          details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_action ON audit (action, seq);
        CREATE INDEX audit_actor ON audit (actor, seq);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      `);
      // The built-in roles exist from the start (`nexus admin create` may run before the first start); their
      // permissions follow the box's declarations from the service's first start on (builtin-roles.ts).
      writeBuiltinRoles(db, composeBuiltinRoles({}));
    },
  },
  {
    // What the hub last sent per synced row (users by hub id, roles by name): its HLC, so that older or
    // replayed records change nothing, and for users the roles it asked for (granted once they exist).
    id: "1764000000_identity_hub_versions",
    up: (db) =>
      db.exec(`CREATE TABLE hub_versions (
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        hlc TEXT NOT NULL,
        roles TEXT,
        PRIMARY KEY (collection, key)
      )`),
  },
];
