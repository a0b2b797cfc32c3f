import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadApplianceConfig } from "../config/load.js";
import { backupConfigSchema } from "./config.js";
import { destinationFor, openDestination, parseDestinationSpec } from "./destination-spec.js";
import type { BackupDestination } from "./types.js";

describe("parseDestinationSpec", () => {
  it.each([
    ["hub", { kind: "hub" }],
    [" hub ", { kind: "hub" }],
    ["s3://nexus-backups", { kind: "s3", bucket: "nexus-backups", prefix: "" }],
    ["s3://nexus-backups/", { kind: "s3", bucket: "nexus-backups", prefix: "" }],
    ["s3://nexus-backups/site-1/box", { kind: "s3", bucket: "nexus-backups", prefix: "site-1/box/" }],
    ["/media/usb/nexus", { kind: "other", spec: "/media/usb/nexus" }],
    ["file:///media/usb", { kind: "other", spec: "file:///media/usb" }],
  ])("%j", (spec, expected) => {
    expect(parseDestinationSpec(spec)).toEqual(expected);
  });

  it.each([
    ["s3://", /bucket/],
    ["s3://UPPER", /bucket/],
    ["s3://b", /bucket/],
    ["s3://bucket/../x", /prefix/],
    ["s3://bucket/.hidden", /prefix/],
    ["s3://bucket/a b", /prefix/],
  ])("refuses %j", (spec, message) => {
    expect(() => parseDestinationSpec(spec)).toThrow(message);
  });
});

describe("openDestination", () => {
  const folder = { kind: "folder", description: "a folder" } as BackupDestination;
  const ctx = (config: Record<string, unknown> = {}) => ({
    dataDir: "/nonexistent-data-dir",
    config: backupConfigSchema.parse(config),
    other: () => folder,
  });

  it("hands folders to the engine's parser, builds S3 from config, and needs enrolment for the hub", () => {
    expect(openDestination("/media/usb", ctx())).toBe(folder);
    expect(() => openDestination("s3://bucket-1/x", ctx())).toThrow(/s3Endpoint/);
    const s3 = openDestination(
      "s3://bucket-1/x",
      ctx({ s3Endpoint: "minio.lan", s3AccessKey: "ak", s3SecretKey: "sk-secret" }),
    ) as BackupDestination & { close(): void };
    expect(s3.kind).toBe("s3");
    expect(s3.description).toBe("s3://bucket-1/x/ at minio.lan");
    s3.close();
    expect(() => openDestination("hub", ctx())).toThrow(/not enrolled/);
  });
});

describe("backup config", () => {
  it("has the defaults: daily at 02:30, keep 7/7/4, secrets included", () => {
    expect(backupConfigSchema.parse({})).toMatchObject({
      schedule: "30 2 * * *",
      keepLast: 7,
      keepDaily: 7,
      keepWeekly: 4,
      includeSecrets: true,
    });
  });

  it.each([
    [{ schedule: "every day" }, "schedule"],
    [{ schedule: "61 * * * *" }, "schedule"],
    [{ recipient: "not-a-key" }, "recipient"],
    [{ passphraseFile: "/k", recipient: `age1${"q".repeat(58)}` }, "recipient"],
    [{ keepLast: -1 }, "keepLast"],
    [{ hubBandwidthBytesPerSecond: 1.5 }, "hubBandwidthBytesPerSecond"],
    [{ passphrase: "in the config" }, ""],
  ])("refuses %j", (config, path) => {
    const r = backupConfigSchema.safeParse(config);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join("."))).toContain(path);
  });

  it("takes S3 credentials from NEXUS_BACKUP_* env over config.json", () => {
    const config = loadApplianceConfig(
      { dataDir: "/nonexistent-data-dir" },
      {
        NEXUS_BACKUP_DESTINATION: "s3://b-1/p",
        NEXUS_BACKUP_S3_SECRET_KEY: "from-env",
        NEXUS_BACKUP_SCHEDULE: "off",
        NEXUS_BACKUP_KEEP_LAST: "3",
      },
    );
    expect(config.backup).toMatchObject({
      destination: "s3://b-1/p",
      s3SecretKey: "from-env",
      schedule: "off",
      keepLast: 3,
    });
  });
});

describe("destinationFor (nexus backup --to)", () => {
  it("opens the configured destination, or the one given, with the data dir's backup config", () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-dest-for-"));
    try {
      expect(() => destinationFor(undefined, dir)).toThrow(/no destination/);
      const backup = {
        destination: "s3://b-1/site",
        s3Endpoint: "minio.lan",
        s3AccessKey: "a",
        s3SecretKey: "s",
      };
      writeFileSync(join(dir, "config.json"), JSON.stringify({ backup }));
      const s3 = destinationFor(undefined, dir) as BackupDestination & { close(): void };
      expect(s3.description).toBe("s3://b-1/site/ at minio.lan");
      s3.close();
      expect(destinationFor(join(dir, "usb"), dir).kind).toBe("folder");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
