/**
 * Simulated sites for hub scale tests and the fleet benchmark: no boxes, only what the hub's ingest reads.
 * A site's hub stream `EDGE_<site>` is created here taking the site's sync subjects directly (a real hub
 * sources it from the box over the leafnode; `ensureEdgeStream` keeps a stream that exists), and a lightweight
 * publisher puts change records in it exactly as a box's relay sends them (`encodeChange`), each with its
 * `Nats-Msg-Id` and outbox seq headers, retrying until JetStream acknowledges it.
 */
import { headers, type JetStreamClient, type JetStreamManager, RetentionPolicy, StorageType } from "nats";
import { edgeStream } from "../../appliance/hub/ingest.js";
import { PREV_SEQ_HEADER, SEQ_HEADER } from "../../appliance/kit/outbox.js";
import type { ChangeRecord } from "../../appliance/sync/change.js";
import { encodeHlc } from "../../appliance/sync/hlc.js";
import { type HubProcess, hubProcess } from "./hub.js";
import type { NatsCluster } from "./nats-cluster.js";

export const SIM_SERVICE = "notes";
export const SIM_COLLECTION = "simnotes";

/** Creates the hub stream of a simulated site, taking its sync subjects (replicas: 3 on a cluster). */
export async function simulatedSiteStream(jsm: JetStreamManager, site: string, replicas: number) {
  await jsm.streams.add({
    name: edgeStream(site),
    subjects: [`sync.${site}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: 2 * 3600 * 1_000_000_000,
  });
}

/** The change with outbox seq `seq` of a simulated site: a new key each, so every apply is visible. */
export function simulatedChange(site: string, seq: number): ChangeRecord {
  return {
    v: 1,
    id: `${site}-${seq}`,
    site,
    service: SIM_SERVICE,
    collection: SIM_COLLECTION,
    key: `${site}-k${seq}`,
    op: "upsert",
    hlc: encodeHlc({ wall: Date.now(), counter: seq % 100_000, node: site }),
    data: { text: `note ${seq} of ${site}`, n: seq },
  };
}

/** The bytes of one change on the wire, as the box's relay publishes it (one record per message). */
export function encodeChange(r: ChangeRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r));
}

/**
 * Publishes changes `from`..`to` (outbox seqs, chained: each one's previous seq is the one before) of `site`,
 * `window` in flight; a publish that fails (a node down, a leader moving) is sent again with the same message
 * id until acknowledged, so the stream holds each once. Resolves when all are acknowledged.
 */
export async function publishChanges(
  js: JetStreamClient,
  site: string,
  from: number,
  to: number,
  window = 64,
): Promise<void> {
  let next = from;
  const one = async (seq: number) => {
    const r = simulatedChange(site, seq);
    const h = headers();
    h.set(SEQ_HEADER, String(seq));
    h.set(PREV_SEQ_HEADER, String(seq - 1));
    for (let attempt = 0; ; attempt++) {
      try {
        await js.publish(`sync.${site}.${SIM_SERVICE}.${SIM_COLLECTION}`, encodeChange(r), {
          msgID: r.id,
          headers: h,
          timeout: 5000,
        });
        return;
      } catch (err) {
        if (attempt > 100) throw err;
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  };
  const worker = async () => {
    while (next <= to) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, to - from + 1) }, worker));
}

/**
 * One hub replica (a `nexus hub` process) on the cluster and the database: streams with 3 replicas, the
 * cluster's users file and reload command, the admin token all replicas share. Not started yet.
 */
export function hubReplica(
  cluster: NatsCluster,
  databaseUrl: string,
  adminToken: string,
  env: Record<string, string> = {},
): Promise<HubProcess> {
  return hubProcess({
    databaseUrl,
    adminToken,
    args: [
      ...["--nats-url", cluster.urls, "--nats-auth-file", cluster.authFile],
      ...["--nats-reload-command", cluster.reloadCommand],
    ],
    env: {
      NEXUS_HUB_NATS_USER: cluster.user,
      NEXUS_HUB_NATS_PASSWORD: cluster.password,
      NEXUS_HUB_STREAM_REPLICAS: "3",
      NEXUS_HUB_LEAF_TLS: "off",
      ...env,
    },
  });
}
