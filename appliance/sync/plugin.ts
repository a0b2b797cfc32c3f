/**
 * The sync runtime plugin: what every service gets from `appliance/sync` when its host passes `syncPlugin`
 * to `startService` — the `_sync_state` table, `ctx.sync`, records from before enrolment rehomed on start,
 * the hub's acknowledgements and pruning, and the hub's records applied through `syncApply`. The kit knows
 * none of this; the types below extend its service contract by module augmentation.
 */
import type { ServicePlugin } from "../kit/plugin.js";
import type { ChangeRecord } from "./change.js";
import { runHubApply } from "./hub-apply.js";
import { createSyncApi, type SyncApi } from "./recorder.js";
import { rehomeSyncRecords } from "./rehome.js";
import { PACKED_RELAY_ROWS, packSyncRows, RELAY_LINGER_MS } from "./relay-pack.js";
import { syncStateMigrations } from "./state.js";
import { startSyncMaintenance } from "./watermark.js";

declare module "../kit/define-service.js" {
  interface ServiceContext<C> {
    /** Change records for the hub: `record` inside `tx`, stamped with this database's HLC. */
    sync: SyncApi;
  }
  interface ServiceDefinition<C> {
    /**
     * Applies records the hub sends for a synced collection (hub-side changes, conflict winners), by
     * collection. Runs inside a transaction; the handler compares HLCs itself (a record may be older than the
     * row it has) and must not record a change for it (that would echo it back).
     */
    syncApply?: Record<string, (ctx: ServiceContext<C>, record: ChangeRecord) => void>;
  }
}

export const syncPlugin: ServicePlugin = {
  name: "sync",
  migrations: syncStateMigrations,
  prepare({ db, site, log }) {
    // Records written before the box was enrolled (or under an earlier enrolment) go out under this site.
    const rehome = rehomeSyncRecords(db, site);
    if (rehome.rehomed)
      log.info({ rehomed: rehome.rehomed, site }, "change records from before enrolment queued for the hub");
    if (rehome.acked)
      log.info({ removed: rehome.acked }, "removed change records an earlier hub acknowledged");
    if (rehome.unreadable)
      log.error({ removed: rehome.unreadable }, "removed outbox rows that are not change records");
  },
  relay: () => ({ packer: packSyncRows, batchSize: PACKED_RELAY_ROWS, lingerMs: RELAY_LINGER_MS }),
  context: ({ db, site, service, now, onWrite }) => ({
    sync: createSyncApi(db, { site, service, now, onRecord: onWrite }),
  }),
  async start({ def, ctx, db, nc, site, service, log, wake }) {
    if (nc) await runHubApply(nc, def, ctx, log);
    return startSyncMaintenance(db, nc, { site, service, log, onRequeue: wake });
  },
};
