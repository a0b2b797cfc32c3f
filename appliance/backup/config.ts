/**
 * The `backup` section of the appliance config (`<data>/config.json` → `backup`, env `NEXUS_BACKUP_*`):
 * where backups go, when, how many are kept, and where the key comes from. The key is never stored next to a
 * backup: either a passphrase file on the box (0600, outside the backed-up secrets if you want a backup to be
 * useless to whoever steals the box) or an age recipient public key, which may live in config because it
 * cannot decrypt (restore then needs the matching identity, kept off the box).
 */
import { z } from "zod";
import { DEFAULT_SCHEDULE, isCron } from "./schedule.js";

const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export const backupConfigSchema = z
  .object({
    /** `s3://bucket/prefix`, `hub`, or an absolute folder path (a mounted USB disk); unset: no backups. */
    destination: z.string().min(1).max(1024).optional(),
    /** 5-field cron, local time; `off` for manual backups only. */
    schedule: z
      .string()
      .refine((s) => s === "off" || isCron(s), { message: "a 5-field cron expression or 'off'" })
      .default(DEFAULT_SCHEDULE),
    keepLast: z.number().int().min(0).max(1000).default(7),
    keepDaily: z.number().int().min(0).max(1000).default(7),
    keepWeekly: z.number().int().min(0).max(1000).default(4),
    /** Include `<data>/secrets` (site credentials, keys): needed to restore onto new hardware. */
    includeSecrets: z.boolean().default(true),
    /** Upload rate to the hub in bytes/s (0: unlimited), so a backup does not starve the sync link. */
    hubBandwidthBytesPerSecond: z
      .number()
      .int()
      .min(0)
      .default(4 * 1024 * 1024),
    /** A file holding the passphrase (first line). */
    passphraseFile: z.string().min(1).optional(),
    /** An age X25519 recipient (`age1…`): encrypt-only, safe to keep in config. */
    recipient: z.string().regex(AGE_RECIPIENT, "an age recipient: age1… (62 characters)").optional(),
    /** S3/MinIO for `s3://` destinations; NEXUS_BACKUP_S3_ACCESS_KEY / _SECRET_KEY keep secrets out of the file. */
    s3Endpoint: z.string().min(1).optional(),
    s3Port: z.number().int().min(1).max(65535).optional(),
    s3UseSsl: z.boolean().default(true),
    s3AccessKey: z.string().min(1).optional(),
    s3SecretKey: z.string().min(1).optional(),
    s3Region: z.string().min(1).default("us-east-1"),
  })
  .strict()
  .refine((c) => !(c.passphraseFile && c.recipient), {
    message: "set either passphraseFile or recipient, not both",
    path: ["recipient"],
  });

export type BackupConfig = z.infer<typeof backupConfigSchema>;
