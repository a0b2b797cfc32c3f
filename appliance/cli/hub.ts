/** `nexus hub …` and `nexus enroll`: thin wrappers over appliance/hub and appliance/enroll.ts. */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { type BlobStoreConfig, blobStoreConfigSchema } from "../../services/files/blob-store/index.js";
import { enroll } from "../enroll.js";
import type { HubOptions } from "../hub/hub.js";
import { stagingOptions } from "../hub/staging.js";
import { REDACT_PATHS } from "../kit/logger.js";
import { writeFileAtomic } from "../lib/atomic-write.js";
import { cmdline, isAlive } from "../lib/pidfile.js";

/** Default hub data dir: /var/lib/nexus-hub for root, else ~/.local/share/nexus-hub. */
export function hubDataDir(flag?: string): string {
  if (flag) return resolve(flag);
  if (process.env.NEXUS_HUB_DATA_DIR) return resolve(process.env.NEXUS_HUB_DATA_DIR);
  if (process.getuid?.() === 0) return "/var/lib/nexus-hub";
  return join(process.env.XDG_DATA_HOME || join(os.homedir(), ".local", "share"), "nexus-hub");
}

const runFile = (dir: string) => join(dir, "run", "hub.json");

/** An existing NATS cluster from the flags, or from NEXUS_HUB_NATS_URL / _AUTH_FILE / _RELOAD_COMMAND (a flag wins). */
function externalNatsFrom(
  o: { natsUrl?: string; natsAuthFile?: string; natsReloadCommand?: string },
  env: NodeJS.ProcessEnv,
) {
  const url = o.natsUrl ?? (env.NEXUS_HUB_NATS_URL || undefined);
  if (!url) return undefined;
  return externalNats(
    url,
    o.natsAuthFile ?? (env.NEXUS_HUB_NATS_AUTH_FILE || undefined),
    o.natsReloadCommand ?? (env.NEXUS_HUB_NATS_RELOAD_COMMAND || undefined),
  );
}

/** A port from the environment (a service's EnvironmentFile), the flag's fallback; a bad value names the key. */
function envPort(key: string): number | undefined {
  const raw = process.env[key];
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${key}: not a port number: ${raw}`);
  return n;
}

export async function runHub(o: {
  dataDir?: string;
  port?: number;
  host?: string;
  leafPort?: number;
  leafHost?: string;
  publicLeafUrl?: string;
  databaseUrl?: string;
  natsUrl?: string;
  natsAuthFile?: string;
  natsReloadCommand?: string;
}): Promise<void> {
  const { startHub } = await import("../hub/hub.js");
  const dataDir = hubDataDir(o.dataDir);
  mkdirSync(join(dataDir, "run"), { recursive: true, mode: 0o700 });
  refuseIfRunning(dataDir);
  const log = pino({
    level: process.env.NEXUS_LOG_LEVEL ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  });
  const hub = await startHub({
    dataDir,
    log,
    httpPort: o.port ?? envPort("NEXUS_HUB_PORT") ?? 7400,
    httpHost: o.host ?? (process.env.NEXUS_HUB_HOST || "127.0.0.1"),
    leafPort: o.leafPort ?? envPort("NEXUS_HUB_LEAF_PORT") ?? 7422,
    leafHost: o.leafHost ?? (process.env.NEXUS_HUB_LEAF_HOST || undefined),
    publicLeafUrl: o.publicLeafUrl ?? (process.env.NEXUS_HUB_PUBLIC_LEAF_URL || undefined),
    databaseUrl: o.databaseUrl ?? process.env.NEXUS_HUB_DATABASE_URL,
    blobs: hubBlobConfig(process.env),
    nats: externalNatsFrom(o, process.env),
    maxClockDriftMs: process.env.NEXUS_HUB_MAX_CLOCK_DRIFT_MS
      ? Number(process.env.NEXUS_HUB_MAX_CLOCK_DRIFT_MS)
      : undefined,
    backupKeep: backupKeep(process.env.NEXUS_HUB_BACKUP_KEEP),
    backupQuotaBytes: backupQuota(process.env.NEXUS_HUB_BACKUP_QUOTA_BYTES),
    natsReloadTimeoutMs: process.env.NEXUS_HUB_NATS_RELOAD_TIMEOUT_MS
      ? Number(process.env.NEXUS_HUB_NATS_RELOAD_TIMEOUT_MS)
      : undefined,
    streamReplicas: streamReplicas(process.env.NEXUS_HUB_STREAM_REPLICAS),
    ...hubLeafTls(process.env),
    // Keys uploaded bundles may be signed by (comma-separated PEM files or folders), besides the release's own.
    bundleTrustKeys: process.env.NEXUS_HUB_BUNDLE_TRUST_KEYS?.split(",").filter(Boolean),
    // Keys uploaded model packs may be signed by, besides those above; and the largest pack taken.
    packTrustKeys: process.env.NEXUS_HUB_PACK_TRUST_KEYS?.split(",").filter(Boolean),
    packMaxBytes: process.env.NEXUS_HUB_PACK_MAX_BYTES
      ? Number(process.env.NEXUS_HUB_PACK_MAX_BYTES)
      : undefined,
    // NEXUS_HUB_STAGING_MAX_AGE_MS / NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS, read here like the others.
    staging: stagingOptions(undefined, process.env),
  });
  // Whole or not at all: tools (and tests) wait for this file and read it at once.
  writeFileAtomic(runFile(dataDir), JSON.stringify({ url: hub.url, pid: process.pid }));
  console.log(`Nexus hub running at ${hub.url} (leafnodes: ${hub.leafnodeUrl}; data dir ${dataDir})`);
  console.log(`Admin token: ${join(dataDir, "secrets", "hub-admin.token")}`);
  const tls = {
    "own-ca": `TLS, the hub's own CA (${join(dataDir, "secrets", "leaf-ca.pem")}), pinned by boxes at enrolment`,
    operator: "TLS, your certificate (NEXUS_HUB_LEAF_TLS_CERT / an existing cluster's)",
    off: "NOT ENCRYPTED (NEXUS_HUB_LEAF_TLS=off)",
  };
  console.log(`Leafnode link: ${tls[hub.leafTls]}`);
  console.log(
    "Enrol a box: nexus hub token <site>, then on the box: nexus enroll https://<this hub, behind your TLS " +
      "proxy> <token> (plain http only for a box on this machine, or with --allow-http)",
  );
  const stop = async () => {
    await hub.stop();
    rmSync(runFile(dataDir), { force: true });
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
}

/** NEXUS_HUB_STREAM_REPLICAS: JetStream replicas of the hub's streams (1 to 5; 3 on a 3-node cluster). */
function streamReplicas(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 5)
    throw new Error(`NEXUS_HUB_STREAM_REPLICAS: 1 to 5, not ${raw}`);
  return n;
}

/**
 * One hub per data dir. A second would also end the first one's nats-server, taking it for a server left by a
 * hub killed -9 (hub/nats.ts). A run file left by a killed hub names a dead pid, or someone else's.
 */
function refuseIfRunning(dataDir: string): void {
  if (!existsSync(runFile(dataDir))) return;
  let pid = 0;
  try {
    pid = Number((JSON.parse(readFileSync(runFile(dataDir), "utf8")) as { pid?: number }).pid);
  } catch {
    return; // unreadable: written by a hub that died mid-write
  }
  const cmd = Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? cmdline(pid) : "";
  if (cmd.includes("node") && cmd.includes(" hub"))
    throw new Error(`another hub (pid ${pid}) is running on ${dataDir}; stop it first`);
}

/**
 * Leafnode TLS from NEXUS_HUB_LEAF_TLS (`auto`, the default: the hub's own CA; `off`), or the operator's
 * certificate: NEXUS_HUB_LEAF_TLS_CERT + NEXUS_HUB_LEAF_TLS_KEY, and NEXUS_HUB_LEAF_TLS_CA for boxes to pin.
 * NEXUS_HUB_LEAF_TLS_NAMES: more names (comma-separated) for the hub's own certificate.
 */
export function hubLeafTls(
  env: NodeJS.ProcessEnv,
): Pick<HubOptions, "leafTls" | "leafTlsNames" | "leafTlsCheckMs"> {
  const mode = env.NEXUS_HUB_LEAF_TLS ?? "auto";
  if (mode !== "auto" && mode !== "off")
    throw new Error(`NEXUS_HUB_LEAF_TLS is "auto" or "off", not "${mode}"`);
  const names = (env.NEXUS_HUB_LEAF_TLS_NAMES ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const check = env.NEXUS_HUB_LEAF_TLS_CHECK_MS;
  const leafTlsCheckMs = check === undefined ? undefined : Number(check);
  if (
    leafTlsCheckMs !== undefined &&
    !(Number.isInteger(leafTlsCheckMs) && leafTlsCheckMs >= 100 && leafTlsCheckMs <= 2 ** 31 - 1)
  )
    throw new Error("NEXUS_HUB_LEAF_TLS_CHECK_MS is a number of milliseconds, 100 to 2147483647");
  const own = env.NEXUS_HUB_LEAF_TLS_CERT || env.NEXUS_HUB_LEAF_TLS_KEY || env.NEXUS_HUB_LEAF_TLS_CA;
  if (mode === "off" || !own) return { leafTls: mode, leafTlsNames: names, leafTlsCheckMs };
  return {
    leafTlsCheckMs,
    leafTls: {
      certFile: env.NEXUS_HUB_LEAF_TLS_CERT || undefined,
      keyFile: env.NEXUS_HUB_LEAF_TLS_KEY || undefined,
      caFile: env.NEXUS_HUB_LEAF_TLS_CA || undefined,
    },
    leafTlsNames: names,
  };
}

/** An existing NATS cluster: the hub's user there from NEXUS_HUB_NATS_USER / NEXUS_HUB_NATS_PASSWORD. */
function externalNats(urls: string, authFile: string | undefined, reloadCommand: string | undefined) {
  const user = process.env.NEXUS_HUB_NATS_USER;
  const password = process.env.NEXUS_HUB_NATS_PASSWORD;
  if (!user || !password) throw new Error("--nats-url needs NEXUS_HUB_NATS_USER and NEXUS_HUB_NATS_PASSWORD");
  if (!authFile) throw new Error("--nats-url needs --nats-auth-file (the users file the cluster includes)");
  return { urls: urls.split(",").map((u) => u.trim()), user, password, authFile, reloadCommand };
}

/** NEXUS_HUB_BLOB_BACKEND=s3 with NEXUS_HUB_S3_{ENDPOINT,PORT,USE_SSL,ACCESS_KEY,SECRET_KEY,BUCKET,REGION,PREFIX}. */
function hubBlobConfig(env: NodeJS.ProcessEnv): BlobStoreConfig | undefined {
  if (env.NEXUS_HUB_BLOB_BACKEND !== "s3") return undefined;
  return blobStoreConfigSchema.parse({
    backend: "s3",
    s3: {
      endPoint: env.NEXUS_HUB_S3_ENDPOINT,
      port: env.NEXUS_HUB_S3_PORT ? Number(env.NEXUS_HUB_S3_PORT) : undefined,
      useSSL: env.NEXUS_HUB_S3_USE_SSL !== "false",
      accessKey: env.NEXUS_HUB_S3_ACCESS_KEY,
      secretKey: env.NEXUS_HUB_S3_SECRET_KEY,
      bucket: env.NEXUS_HUB_S3_BUCKET,
      region: env.NEXUS_HUB_S3_REGION ?? "us-east-1",
      prefix: env.NEXUS_HUB_S3_PREFIX ?? "",
    },
  });
}

/** Calls the running hub's API as its admin. */
export async function hubAdmin(
  dataDirFlag: string | undefined,
  method: string,
  path: string,
  body?: unknown,
) {
  const dataDir = hubDataDir(dataDirFlag);
  if (!existsSync(runFile(dataDir))) throw new Error(`no hub is running on ${dataDir} (start it: nexus hub)`);
  const { url } = JSON.parse(readFileSync(runFile(dataDir), "utf8")) as { url: string };
  const token = readFileSync(join(dataDir, "secrets", "hub-admin.token"), "utf8").trim();
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await res.json()) as { message?: string };
  if (!res.ok) throw new Error(`the hub refused: ${answer.message ?? res.status}`);
  return answer;
}

export async function enrollCommand(
  dataDir: string,
  hubUrl: string,
  token: string,
  opts: { allowHttp?: boolean } = {},
): Promise<void> {
  const link = await enroll({ dataDir, hubUrl, token, allowHttp: opts.allowHttp });
  console.log(`Enrolled as site ${link.site}; the box links to ${link.leafnodeUrl} from its next start.`);
  console.log("Start it: nexus up");
}

/** NEXUS_HUB_BACKUP_QUOTA_BYTES: bytes of backups one site may keep, a whole number (absent or empty: no limit). */
function backupQuota(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error("NEXUS_HUB_BACKUP_QUOTA_BYTES: a whole number of bytes");
  return n;
}

/** NEXUS_HUB_BACKUP_KEEP: backups kept per site, a whole number from 1. */
function backupKeep(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error("NEXUS_HUB_BACKUP_KEEP: a whole number of backups, 1 or more");
  return n;
}
