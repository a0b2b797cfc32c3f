/**
 * The destination spec of config (`backup.destination`) and of `nexus backup --to`: `s3://bucket/prefix`
 * (endpoint and credentials from the backup config, i.e. config.json or NEXUS_BACKUP_S3_*), `hub` (the hub
 * this box is enrolled with, at the configured bandwidth), or anything else the engine's `parseDestination`
 * takes (a folder path or `file://` URL: a mounted USB disk). Nothing in a spec is a secret, so it can be
 * shown as it is.
 */
import { loadApplianceConfig } from "../config/load.js";
import type { BackupConfig } from "./config.js";
import { parseDestination } from "./destination.js";
import { hubDestinationFor } from "./destination-hub.js";
import { s3Destination } from "./destination-s3.js";
import type { BackupDestination } from "./types.js";

export type DestinationSpec =
  | { kind: "other"; spec: string }
  | { kind: "s3"; bucket: string; prefix: string }
  | { kind: "hub" };

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** Parses a spec; throws an Error that says what is accepted. */
export function parseDestinationSpec(spec: string): DestinationSpec {
  const s = spec.trim();
  if (s === "hub") return { kind: "hub" };
  if (s.startsWith("s3://")) {
    const [bucket = "", ...rest] = s.slice(5).split("/");
    if (!BUCKET.test(bucket)) throw new Error(`backup destination: "${bucket}" is not an S3 bucket name`);
    const segments = rest.filter((p) => p !== "");
    if (segments.some((p) => !PREFIX_SEGMENT.test(p))) {
      throw new Error("backup destination: an S3 prefix is segments of letters, digits, '.', '_', '-'");
    }
    return { kind: "s3", bucket, prefix: segments.length ? `${segments.join("/")}/` : "" };
  }
  return { kind: "other", spec };
}

/** Opens the destination a spec names; `other` is the engine's `parseDestination` (folders). */
export function openDestination(
  spec: string,
  ctx: { dataDir: string; config: BackupConfig; other: (spec: string) => BackupDestination },
): BackupDestination {
  const d = parseDestinationSpec(spec);
  if (d.kind === "other") return ctx.other(d.spec);
  if (d.kind === "hub") {
    return hubDestinationFor(ctx.dataDir, { bytesPerSecond: ctx.config.hubBandwidthBytesPerSecond });
  }
  const c = ctx.config;
  if (!c.s3Endpoint || !c.s3AccessKey || !c.s3SecretKey) {
    throw new Error(
      "backup destination s3:// needs backup.s3Endpoint, s3AccessKey and s3SecretKey (or NEXUS_BACKUP_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY)",
    );
  }
  return s3Destination({
    endPoint: c.s3Endpoint,
    port: c.s3Port,
    useSSL: c.s3UseSsl,
    accessKey: c.s3AccessKey,
    secretKey: c.s3SecretKey,
    region: c.s3Region,
    bucket: d.bucket,
    prefix: d.prefix,
  });
}

/**
 * For `nexus backup --to <spec>`: any spec, with the box's backup config (S3 endpoint and credentials, hub
 * bandwidth) read from its data dir; no spec: the configured `backup.destination`.
 */
export function destinationFor(spec: string | undefined, dataDir: string): BackupDestination {
  const config = loadApplianceConfig({ dataDir }).backup;
  const chosen = spec ?? config.destination;
  if (!chosen) throw new Error("no destination: give --to, or set backup.destination in config.json");
  return openDestination(chosen, { dataDir, config, other: parseDestination });
}
