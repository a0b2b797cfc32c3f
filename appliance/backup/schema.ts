/**
 * "Is this backup from a newer schema than this code?": each database in a backup lists the migration ids
 * it had applied; this code knows the kit's, the sync plugin's and each registered service's. A backup
 * naming one this code does not know (or a service it does not have) came from newer code.
 */
import { loadService, SERVICES } from "../../services/registry.js";
import { outboxMigrations } from "../kit/outbox.js";
import { pluginMigrations } from "../kit/plugin.js";
import { syncPlugin } from "../sync/plugin.js";

/** The backup needs newer code than this box runs. */
export class BackupTooNewError extends Error {
  readonly code = "BACKUP_TOO_NEW";
  constructor(readonly details: string) {
    super(
      `this backup is from a newer version than this box runs (${details}); upgrade the box, then restore`,
    );
    this.name = "BackupTooNewError";
  }
}

/** The migration ids this code knows for a service, or null for a service it does not have. */
export async function knownMigrations(service: string): Promise<Set<string> | null> {
  if (!Object.hasOwn(SERVICES, service)) return null;
  const def = await loadService(service);
  return new Set(
    [...outboxMigrations, ...pluginMigrations([syncPlugin]), ...def.migrations].map((m) => m.id),
  );
}

/** Throws BackupTooNewError when a database of the backup has a migration (or is a service) this code lacks. */
export async function assertSchemaKnown(
  databases: readonly { service: string; migrations: readonly string[] }[],
  known: (service: string) => Promise<Set<string> | null> = knownMigrations,
): Promise<void> {
  for (const d of databases) {
    const ids = await known(d.service);
    if (!ids) throw new BackupTooNewError(`service ${d.service} is not known to this version`);
    const unknown = d.migrations.filter((m) => !ids.has(m));
    if (unknown.length)
      throw new BackupTooNewError(`${d.service} database has migration ${unknown.join(", ")}`);
  }
}
