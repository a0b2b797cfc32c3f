/**
 * The contract every backup destination keeps (appliance/backup/types.ts), as one suite that each
 * implementation's test runs: folder, S3 (s3rver and MinIO), hub.
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { expect, it } from "vitest";
import type { BackupDestination } from "../../appliance/backup/types.js";

/** Reads a stream to one Buffer. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A source that yields `good` bytes, then fails: what a read error or a killed snapshot looks like. */
export function failingSource(good: Buffer): Readable {
  async function* gen() {
    yield good;
    throw new Error("source broke");
  }
  return Readable.from(gen());
}

/** Registers the contract's tests; `dest()` gives the destination under test (created in beforeAll). */
export function destinationContract(dest: () => BackupDestination, opts: { bigBytes: number }) {
  it("puts, gets, lists and removes keys", async () => {
    const d = dest();
    await d.put("snapshots/a/manifest.json", Buffer.from('{"id":"a"}'));
    await d.put("snapshots/a/parts/db.1", Readable.from([Buffer.from("one"), Buffer.from("two")]));
    await d.put("blobs/0011", Buffer.alloc(0));
    expect(await d.has("snapshots/a/manifest.json")).toBe(true);
    expect(await d.has("snapshots/b/manifest.json")).toBe(false);
    expect((await readAll(await d.get("snapshots/a/parts/db.1"))).toString()).toBe("onetwo");
    expect((await readAll(await d.get("blobs/0011"))).length).toBe(0);
    expect((await d.list("snapshots/")).sort()).toEqual([
      "snapshots/a/manifest.json",
      "snapshots/a/parts/db.1",
    ]);
    await d.put("snapshots/a/manifest.json", Buffer.from('{"id":"a2"}'));
    expect((await readAll(await d.get("snapshots/a/manifest.json"))).toString()).toBe('{"id":"a2"}');
    await d.remove("snapshots/a/parts/db.1");
    await d.remove("snapshots/a/parts/db.1");
    expect(await d.list("snapshots/a/parts/")).toEqual([]);
    await expect(d.get("snapshots/a/parts/db.1")).rejects.toMatchObject({ code: "BACKUP_PART_MISSING" });
    await d.remove("snapshots/a/manifest.json");
    await d.remove("blobs/0011");
  });

  it("streams a part larger than one chunk intact", async () => {
    const d = dest();
    const big = randomBytes(opts.bigBytes);
    const pieces = Array.from({ length: Math.ceil(big.length / 65_536) }, (_, i) =>
      big.subarray(i * 65_536, (i + 1) * 65_536),
    );
    await d.put("snapshots/big/parts/blobs.1", Readable.from(pieces), big.length);
    expect(sha(await readAll(await d.get("snapshots/big/parts/blobs.1")))).toBe(sha(big));
    await d.remove("snapshots/big/parts/blobs.1");
  });

  it("shows nothing of a put whose source fails", async () => {
    const d = dest();
    await expect(d.put("snapshots/c/parts/x", failingSource(randomBytes(opts.bigBytes)))).rejects.toThrow();
    expect(await d.has("snapshots/c/parts/x")).toBe(false);
    expect(await d.list("snapshots/c/")).toEqual([]);
  });
}

/** A real backup through the engine to `dest` of a small data dir: list, verify, a second copies no blob. */
export function engineRoundTrip(dest: () => BackupDestination, dataDir: () => string) {
  it("takes real backups with the engine: listed, verified, the second copies no blob", async () => {
    process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR = "12";
    const engine = await import("../../appliance/backup/index.js");
    const key = { passphrase: "a long enough passphrase" };
    const d = dest();
    const first = await engine.createBackup({ dataDir: dataDir(), destination: d, key });
    const second = await engine.createBackup({ dataDir: dataDir(), destination: d, key });
    expect(first.blobsCopied).toBeGreaterThan(0);
    expect(second.blobsCopied).toBe(0);
    const listed = (await engine.listBackups(d)).map((b) => b.id);
    expect(listed.slice(0, 2)).toEqual([second.id, first.id]);
    expect(await engine.verifyBackup({ destination: d, id: first.id, key })).toEqual({ ok: true });
    const plan = await engine.restoreBackup({
      dataDir: dataDir(),
      destination: d,
      id: second.id,
      key,
      dryRun: true,
    });
    expect(plan.applied).toBe(false);
  });
}
