/**
 * The blob-store contract on every backend: local (temp dir), S3 against s3rver (a real S3-protocol server
 * process), and real MinIO when NEXUS_TEST_S3_ENDPOINT is set. Then what only the local backend promises:
 * file modes, crash leftovers, a put in flight never visible, and a full disk (a 1 MiB tmpfs, as root).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { Client } from "minio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobStore } from "../../appliance/lib/blob-store.js";
import {
  blobStoreConfigSchema,
  createBlobStore,
  LocalBlobStore,
  S3BlobStore,
} from "../../services/files/blob-store/index.js";
import { removeDir, tempDir, waitFor } from "../helpers/appliance.js";
import { type S3TestServer, startS3Server } from "../helpers/s3-server.js";
import { blobStoreContract, listAll, MiB, readAll, sha } from "./blob-store.contract.js";

const tmpFiles = (store: BlobStore) =>
  Promise.resolve(readdirSync(join((store as LocalBlobStore).root, ".tmp")));

/** Every regular file under `dir`, recursively, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

// ---------------------------------------------------------------------------------------------- local

const localDirs: string[] = [];
afterAll(() => {
  for (const d of localDirs) removeDir(d);
});

async function makeLocal(root?: string): Promise<LocalBlobStore> {
  const dir = root ?? tempDir("nexus-blobs-");
  if (!root) localDirs.push(dir);
  const store = new LocalBlobStore(join(dir, "blobs"));
  await store.init();
  return store;
}

blobStoreContract("local", makeLocal, { leftovers: tmpFiles });

// ---------------------------------------------------------------------------------------------- s3rver

describe("s3 backend on s3rver", () => {
  let server: S3TestServer;
  let n = 0;
  beforeAll(async () => {
    server = await startS3Server();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const make = (bucket = "nexus-contract", prefix = `t${n++}/`) =>
    new S3BlobStore({ ...server, bucket, region: "us-east-1", prefix });

  blobStoreContract("s3 (s3rver)", async () => {
    const store = make();
    await store.init();
    return store;
  });

  it("init creates a missing bucket", async () => {
    const store = make("nexus-fresh-bucket");
    await expect(listAll(store)).rejects.toMatchObject({ code: "NoSuchBucket" });
    await store.init();
    await store.init();
    expect(await listAll(store)).toEqual([]);
    await store.close();
  });

  it("a prefix keeps stores sharing a bucket apart", async () => {
    const [a, b] = [make(), make()];
    await Promise.all([a.init(), b.init()]);
    const data = Buffer.from("only in a");
    await a.put(sha(data), Readable.from([data]));
    expect(await b.stat(sha(data))).toBeNull();
    expect(await listAll(b)).toEqual([]);
    expect(await listAll(a)).toEqual([{ sha256: sha(data), size: data.length }]);
    await Promise.all([a.close(), b.close()]);
  });
});

// ---------------------------------------------------------------------------------------------- MinIO

const minioEndpoint = process.env.NEXUS_TEST_S3_ENDPOINT;
if (!minioEndpoint)
  console.warn("NEXUS_TEST_S3_ENDPOINT is not set: skipping the blob-store contract on MinIO");

describe.skipIf(!minioEndpoint)("s3 backend on MinIO (NEXUS_TEST_S3_ENDPOINT)", () => {
  const url = new URL(minioEndpoint?.includes("://") ? minioEndpoint : `http://${minioEndpoint}`);
  const sslEnv = process.env.NEXUS_TEST_S3_USE_SSL;
  const useSSL = sslEnv ? ["1", "true", "yes"].includes(sslEnv.toLowerCase()) : url.protocol === "https:";
  const options = {
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    useSSL,
    accessKey: process.env.NEXUS_TEST_S3_ACCESS_KEY ?? "",
    secretKey: process.env.NEXUS_TEST_S3_SECRET_KEY ?? "",
    bucket: `nexus-test-${randomUUID().slice(0, 8)}`,
    region: "us-east-1",
  };
  let n = 0;

  afterAll(async () => {
    // Leave the server as it was: empty the test bucket, then remove it.
    const store = new S3BlobStore({ ...options, prefix: "" });
    const client = new Client(options);
    const keys: string[] = [];
    for await (const item of client.listObjectsV2(options.bucket, "", true)) {
      if (item.name) keys.push(item.name);
    }
    for (const key of keys) await client.removeObject(options.bucket, key);
    await client.removeBucket(options.bucket).catch(() => {});
    await store.close();
  });

  blobStoreContract("s3 (MinIO)", async () => {
    const store = new S3BlobStore({ ...options, prefix: `t${n++}/` });
    await store.init();
    return store;
  });
});

// ---------------------------------------------------------------------------------------------- local only

describe("local backend", () => {
  it("keeps blobs 0600 and directories 0700, adopted files included", async () => {
    const store = await makeLocal();
    const data = Buffer.from("mode check");
    await store.put(sha(data), Readable.from([data]));
    const src = join(tempDir("nexus-blob-src-"), "f");
    const adopted = Buffer.from("adopted");
    writeFileSync(src, adopted, { mode: 0o644 });
    await store.put(sha(adopted), { file: src });
    removeDir(join(src, ".."));
    const mode = (p: string) => statSync(join(store.root, p)).mode & 0o777;
    for (const key of [sha(data), sha(adopted)]) {
      expect(mode(join(key.slice(0, 2), key.slice(2, 4), key))).toBe(0o600);
      expect(mode(key.slice(0, 2))).toBe(0o700);
      expect(mode(join(key.slice(0, 2), key.slice(2, 4)))).toBe(0o700);
    }
    expect(mode(".")).toBe(0o700);
    expect(mode(".tmp")).toBe(0o700);
  });

  it("init removes temp files a crash left behind (older than an hour) and keeps recent ones", async () => {
    const store = await makeLocal();
    const stale = join(store.root, ".tmp", "stale");
    const recent = join(store.root, ".tmp", "recent");
    writeFileSync(stale, "x");
    writeFileSync(recent, "x");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    await store.init();
    expect(readdirSync(join(store.root, ".tmp"))).toEqual(["recent"]);
  });

  it("init removes the temp files of a process that is gone at once, and keeps a live one's", async () => {
    const store = await makeLocal();
    // A real process that wrote a temp file and was killed (its pid is free now), and one still running.
    const gone = execFileSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).toString();
    const alive = spawn("sleep", ["30"]);
    try {
      const orphan = `${gone}-${randomUUID()}`;
      const owned = `${alive.pid}-${randomUUID()}`;
      writeFileSync(join(store.root, ".tmp", orphan), "x");
      writeFileSync(join(store.root, ".tmp", owned), "x");
      await store.init();
      expect(readdirSync(join(store.root, ".tmp"))).toEqual([owned]);
    } finally {
      alive.kill();
    }
  });

  it("names its temp files after the process writing them", async () => {
    const store = await makeLocal();
    const source = new PassThrough();
    const pending = store.put(sha("pid-named"), source).catch(() => undefined);
    source.write("some bytes");
    const tmp = await waitFor(async () => (await tmpFiles(store))[0]);
    expect(tmp?.startsWith(`${process.pid}-`)).toBe(true);
    source.destroy(new Error("stop"));
    await pending;
  });

  it("never shows a blob while its put is in flight, and leaves nothing when the put dies", async () => {
    const store = await makeLocal();
    const source = new PassThrough();
    const key = sha("the content it would have had");
    const pending = store.put(key, source);
    const settled = pending.catch((err: Error) => err);
    for (let i = 0; i < 4; i++) source.write(randomBytes(MiB));
    // 4 MiB are on disk in a temp file, and nowhere else.
    await waitFor(async () => {
      const tmp = await tmpFiles(store);
      return tmp.length === 1 && statSync(join(store.root, ".tmp", tmp[0]!)).size >= 4 * MiB;
    });
    expect(await store.stat(key)).toBeNull();
    expect(filesUnder(store.root).filter((f) => !f.startsWith(".tmp"))).toEqual([]);
    expect(await listAll(store)).toEqual([]);

    source.destroy(new Error("uploader killed"));
    expect(await settled).toMatchObject({ message: "uploader killed" });
    expect(await store.stat(key)).toBeNull();
    expect(filesUnder(store.root)).toEqual([]);
  });

  describe("on a full disk (1 MiB tmpfs)", () => {
    let base: string;
    let mountPoint: string | undefined;
    let why = "";
    beforeAll(() => {
      base = tempDir("nexus-blobs-full-");
      const dir = join(base, "mnt");
      mkdirSync(dir);
      if (process.getuid?.() !== 0) {
        why = "not root";
        return;
      }
      try {
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stdio: "pipe" });
        mountPoint = dir;
      } catch (err) {
        why = `mount failed: ${(err as Error).message.split("\n")[0]}`;
      }
    });
    afterAll(() => {
      if (mountPoint) execFileSync("umount", ["-l", mountPoint]);
      removeDir(base);
    });

    it("propagates ENOSPC, leaves no temp file, and works again once space is free", async (ctx) => {
      if (!mountPoint) {
        console.warn(`skipping the blob-store ENOSPC test: ${why} (it mounts a tmpfs, as root)`);
        ctx.skip();
        return;
      }
      const store = await makeLocal(mountPoint);
      const big = randomBytes(2 * MiB);
      await expect(
        store.put(sha(big), Readable.from([big.subarray(0, MiB), big.subarray(MiB)])),
      ).rejects.toMatchObject({ code: "ENOSPC" });
      expect(await tmpFiles(store)).toEqual([]);
      expect(await store.stat(sha(big))).toBeNull();

      // A file from another filesystem is copied, not renamed; too big for the disk → ENOSPC, file consumed.
      const srcDir = tempDir("nexus-blob-src-");
      const src = join(srcDir, "upload");
      writeFileSync(src, big);
      await expect(store.put(sha(big), { file: src })).rejects.toMatchObject({ code: "ENOSPC" });
      expect(readdirSync(srcDir)).toEqual([]);
      expect(await tmpFiles(store)).toEqual([]);

      const small = randomBytes(100 * 1024);
      writeFileSync(src, small);
      expect(await store.put(sha(small), { file: src })).toEqual({ sha256: sha(small), size: small.length });
      expect(readdirSync(srcDir)).toEqual([]);
      expect(await readAll(await store.get(sha(small)))).toEqual(small);
      expect(filesUnder(store.root)).toEqual([
        join(sha(small).slice(0, 2), sha(small).slice(2, 4), sha(small)),
      ]);
      removeDir(srcDir);
    });
  });
});

// ---------------------------------------------------------------------------------------------- config

describe("blob store config", () => {
  it("defaults to the local backend under <dataDir>/files/blobs", () => {
    const store = createBlobStore(blobStoreConfigSchema.parse({}), "/data");
    expect(store.kind).toBe("local");
    expect((store as LocalBlobStore).root).toBe("/data/files/blobs");
  });

  it("requires the S3 fields only when the backend is s3, naming the missing ones", () => {
    expect(blobStoreConfigSchema.safeParse({ backend: "local", s3: { port: 9000 } }).success).toBe(true);
    const bad = blobStoreConfigSchema.safeParse({ backend: "s3", s3: { endPoint: "minio.lan" } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe(
      'blob store backend "s3" needs s3.accessKey, s3.secretKey, s3.bucket',
    );
    const ok = blobStoreConfigSchema.parse({
      backend: "s3",
      s3: { endPoint: "minio.lan", port: 9000, accessKey: "a", secretKey: "b", bucket: "nexus" },
    });
    expect(ok.s3).toMatchObject({ useSSL: true, region: "us-east-1", prefix: "" });
    expect(createBlobStore(ok, "/data").kind).toBe("s3");
  });
});
