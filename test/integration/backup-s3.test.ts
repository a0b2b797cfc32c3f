/**
 * The S3 backup destination against a real S3-protocol server (s3rver, its own process), and against real
 * MinIO when NEXUS_TEST_S3_ENDPOINT is set: the destination contract, an unreachable server, a bucket that
 * does not exist yet.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Destination } from "../../appliance/backup/destination-s3.js";
import type { BackupDestination } from "../../appliance/backup/types.js";
import { freePort } from "../../appliance/lib/ports.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { makeBackupBox } from "../helpers/backup-box.js";
import { destinationContract, engineRoundTrip } from "../helpers/backup-destination.js";
import { type S3TestServer, startS3Server } from "../helpers/s3-server.js";

const CHUNK = 5 * 1024 * 1024;

describe("S3 backup destination on s3rver", () => {
  let s3: S3TestServer;
  let dest: ReturnType<typeof s3Destination>;
  let dataDir: string;
  beforeAll(async () => {
    s3 = await startS3Server();
    dataDir = tempDir("nexus-backup-s3-box-");
    await makeBackupBox(dataDir, { blobs: 2, blobBytes: 40_000 });
    dest = s3Destination({
      ...s3,
      region: "us-east-1",
      bucket: "nexus-backups",
      prefix: "box-1/",
      chunkBytes: CHUNK,
    });
  }, 30_000);
  afterAll(async () => {
    dest?.close();
    await s3?.stop();
    removeDir(dataDir);
  });
  destinationContract(() => dest, { bigBytes: CHUNK * 2 + 1234 });
  engineRoundTrip(
    () => dest,
    () => dataDir,
  );

  it("keeps prefixes apart and describes itself without secrets", async () => {
    const other = s3Destination({ ...s3, region: "us-east-1", bucket: "nexus-backups", prefix: "box-2/" });
    await other.put("snapshots/z/manifest.json", Buffer.from("{}"));
    expect(await dest.list("snapshots/z/")).toEqual([]);
    expect(other.description).toContain("s3://nexus-backups/box-2/");
    expect(other.description).not.toContain(s3.secretKey);
    other.close();
  });
});

describe("S3 backup destination, server unreachable", () => {
  it("fails each call with an error instead of hanging", async () => {
    const port = await freePort();
    const dest = s3Destination({
      endPoint: "127.0.0.1",
      port,
      useSSL: false,
      accessKey: "x",
      secretKey: "y",
      region: "us-east-1",
      bucket: "nope",
      prefix: "",
    });
    await expect(dest.put("snapshots/a/manifest.json", Buffer.from("{}"))).rejects.toThrow(/ECONNREFUSED/);
    await expect(dest.list("snapshots/")).rejects.toThrow();
    dest.close();
  });
});

const minio = process.env.NEXUS_TEST_S3_ENDPOINT;
describe.skipIf(!minio)("S3 backup destination on MinIO (NEXUS_TEST_S3_ENDPOINT)", () => {
  let dest: ReturnType<typeof s3Destination>;
  beforeAll(() => {
    const url = new URL(minio!.includes("://") ? minio! : `http://${minio}`);
    dest = s3Destination({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      useSSL: process.env.NEXUS_TEST_S3_USE_SSL === "true" || url.protocol === "https:",
      accessKey: process.env.NEXUS_TEST_S3_ACCESS_KEY ?? "",
      secretKey: process.env.NEXUS_TEST_S3_SECRET_KEY ?? "",
      region: "us-east-1",
      bucket: "nexus-backup-test",
      prefix: `run-${Date.now()}/`,
      chunkBytes: CHUNK,
    });
  });
  afterAll(() => dest?.close());
  destinationContract(() => dest as BackupDestination, { bigBytes: CHUNK + 99 });
});
