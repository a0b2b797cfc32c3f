/**
 * Sync with the hub as the appliance API shows it: one shared reading of `syncStatus` (at most one a second,
 * whatever the number of open status streams), and the backlog samples that feed the "sync backlog growing"
 * alert of appliance/box/alerts.ts. Samples are taken from the readings the API makes (the console's live
 * status, scripts polling `/status` or `/sync`), at most one a minute.
 */
import { type Alert, alertsFor } from "../box/alerts.js";
import { type SyncStatus, syncStatus } from "../sync-status.js";

/** A reading younger than this is shared rather than taken again (service databases are opened each time). */
const FRESH_MS = 1000;
/** One backlog sample a minute at most; the alert looks at the last 20 minutes. */
export const SAMPLE_MS = 60_000;
const MAX_SAMPLES = 30;

export interface BacklogSample {
  at: number;
  pending: number;
}

/**
 * Adds a reading to the samples (returns the new list). Only what can show growth is kept: nothing while the
 * box is not enrolled (changes wait for an enrolment, not for a broken link), and a reading that equals the
 * last sample adds nothing (a backlog that neither grew nor shrank does not break a rise, nor makes one).
 * A backlog that shrinks is kept: the rule needs a rise at every sample, so draining silences the alert.
 */
export function addSample(samples: BacklogSample[], s: SyncStatus, at: number): BacklogSample[] {
  if (!s.enrolled) return [];
  const last = samples.at(-1);
  if (last && (at - last.at < SAMPLE_MS || last.pending === s.backlog)) return samples;
  return [...samples, { at, pending: s.backlog }].slice(-MAX_SAMPLES);
}

/** The sync alerts for these samples (the shared rule, fed with sync data only). */
export function syncAlerts(samples: BacklogSample[], now: number): Alert[] {
  return alertsFor({
    services: [],
    nats: "running",
    diskUsedPercent: null,
    memoryUsedPercent: null,
    syncBacklog: samples,
    now,
  });
}

export function createSyncWatch(dataDir: string, now: () => number = Date.now) {
  let last: { at: number; reading: Promise<SyncStatus> } | null = null;
  let samples: BacklogSample[] = [];

  /** The box's sync status, shared with any reading younger than a second (or still in progress). */
  const read = (): Promise<SyncStatus> => {
    const t = now();
    if (last && t - last.at < FRESH_MS) return last.reading;
    const reading = syncStatus(dataDir, t).then((s) => {
      samples = addSample(samples, s, t);
      return s;
    });
    // A failed reading is not kept: the next call tries again.
    reading.catch(() => {
      if (last?.reading === reading) last = null;
    });
    last = { at: t, reading };
    return reading;
  };

  return { read, alerts: () => syncAlerts(samples, now()) };
}

export type SyncWatch = ReturnType<typeof createSyncWatch>;
