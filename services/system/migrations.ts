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
];
