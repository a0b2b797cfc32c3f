import type { Migration } from "../../appliance/kit/index.js";

export const migrations: Migration[] = [
  {
    id: "1763769600_settings",
    up: (db) =>
      db.exec(`CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`),
  },
  {
    id: "1763769601_boots",
    up: (db) =>
      db.exec(`CREATE TABLE boots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        pid INTEGER NOT NULL
      )`),
  },
  {
    // The HLC of the hub's last applied record per setting key (kept after a delete, so a late older
    // upsert does not bring the setting back).
    id: "1764000000_setting_hub_versions",
    up: (db) => db.exec("CREATE TABLE setting_hub_versions (key TEXT PRIMARY KEY, hlc TEXT NOT NULL)"),
  },
];
