/** The hub's options and the handle `startHub` returns. */
import type { BlobStoreConfig } from "../../services/files/blob-store/index.js";
import type { Logger } from "../kit/index.js";
import type { HubDb } from "./db.js";
import type { LeafTlsSetting } from "./leaf-tls.js";
import type { StagingOptions } from "./staging.js";

export interface HubOptions {
  dataDir: string;
  log: Logger;
  httpHost?: string;
  httpPort?: number;
  leafHost?: string;
  leafPort?: number;
  /** What boxes dial, e.g. nats-leaf://hub.example.org:7422 (default: leafHost:leafPort). */
  publicLeafUrl?: string;
  /** PostgreSQL connection string; PGlite in the data dir when absent. */
  databaseUrl?: string;
  natsServer?: string;
  /** Records stamped further ahead of the hub's clock wait (default 60 s). */
  maxClockDriftMs?: number;
  /**
   * An existing NATS cluster instead of the hub's own nats-server: its URLs, the hub's user there, the file
   * the hub writes the site users to (included by the cluster's config) and the command that reloads it.
   */
  nats?: { urls: string[]; user: string; password: string; authFile: string; reloadCommand?: string };
  /** Complete backups kept per site when boxes back up to the hub (default 7; `NEXUS_HUB_BACKUP_KEEP`). */
  backupKeep?: number;
  /** Bytes of backups one site may keep on the hub (default: no limit; `NEXUS_HUB_BACKUP_QUOTA_BYTES`): past it, 507. */
  backupQuotaBytes?: number;
  /** Where blobs from the boxes go: local disk in the hub dir by default, or S3. */
  blobs?: BlobStoreConfig;
  /** Cleanup of abandoned partial uploads in `<hub dir>/blob-staging` (default: kept 7 days unwritten, swept hourly). */
  staging?: Partial<StagingOptions>;
  /**
   * TLS on the leafnode link (default "auto": the hub's own CA, pinned by boxes at enrolment; see leaf-tls.ts).
   * With an existing NATS cluster only `caFile` (what boxes pin) and "off" matter.
   */
  leafTls?: LeafTlsSetting;
  /** More names the leafnode certificate covers, besides the host in `publicLeafUrl`/`leafHost`. */
  leafTlsNames?: string[];
  /** How often the hub's own leafnode certificate is checked for renewal (default daily). */
  leafTlsCheckMs?: number;
  /** Public keys (PEM files or folders) an uploaded bundle may be signed by, besides the hub release's own. */
  bundleTrustKeys?: string[];
  /** Public keys an uploaded model pack may be signed by, besides the release's own and `bundleTrustKeys`. */
  packTrustKeys?: string[];
  /** The largest model pack an admin may upload (default 4 GiB; `NEXUS_HUB_PACK_MAX_BYTES`). */
  packMaxBytes?: number;
  /** How long the hub's own nats-server may take to confirm a reload (default 30 s). */
  natsReloadTimeoutMs?: number;
  /** JetStream replicas of each site's stream and ingest consumer (default 1; 3 on a 3-node cluster). */
  streamReplicas?: number;
  /** How often a replica re-reads the sites table besides the other replicas' announcements (default 5 s). */
  siteRefreshMs?: number;
}

export interface RunningHub {
  url: string;
  natsUrl: string;
  leafnodeUrl: string;
  /** How the leafnode link is protected: the hub's own CA, the operator's certificate, or not at all. */
  leafTls: "own-ca" | "operator" | "off";
  adminToken: string;
  db: HubDb;
  stop(): Promise<void>;
}

/** Backups the hub keeps per site unless told otherwise. */
export const DEFAULT_BACKUP_KEEP = 7;
