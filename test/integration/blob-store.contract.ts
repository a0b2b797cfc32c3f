/**
 * The blob-store contract: every backend runs this one suite (blob-store.test.ts wires the backends in).
 * Each test gets a fresh, initialised, empty store from `makeStore`.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BlobIntegrityError,
  BlobNotFoundError,
  type BlobStat,
  type BlobStore,
} from "../../appliance/lib/blob-store.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

export const MiB = 1024 * 1024;

export interface ContractOptions {
  /** Backend-private leftovers (temp files) that must not outlive a put. */
  leftovers?: (store: BlobStore) => Promise<string[]>;
}

/** sha256 hex of bytes. */
export function sha(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A large blob as a generator of 1 MiB chunks, with its digest: streamed, never held whole. */
export function bigBlob(size: number) {
  const block = randomBytes(MiB);
  function* chunks() {
    for (let off = 0, i = 0; off < size; off += MiB, i++) {
      const chunk = Buffer.from(block.subarray(0, Math.min(MiB, size - off)));
      chunk.writeUInt32BE(i, 0); // every chunk differs
      yield chunk;
    }
  }
  const h = createHash("sha256");
  for (const c of chunks()) h.update(c);
  return { size, sha256: h.digest("hex"), stream: () => Readable.from(chunks()) };
}

/** A stream that yields `good` bytes, then fails with `error`. */
export function failingStream(good: Buffer, error: Error): Readable {
  return Readable.from(
    (async function* () {
      yield good;
      await new Promise((r) => setTimeout(r, 20));
      throw error;
    })(),
  );
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

export async function listAll(store: BlobStore): Promise<BlobStat[]> {
  const all: BlobStat[] = [];
  for await (const s of store.list()) all.push(s);
  return all.sort((a, b) => a.sha256.localeCompare(b.sha256));
}

const put = (store: BlobStore, data: Buffer) => store.put(sha(data), Readable.from([data]));

export function blobStoreContract(
  name: string,
  makeStore: () => Promise<BlobStore>,
  opts: ContractOptions = {},
): void {
  describe(`blob store contract: ${name}`, () => {
    let store: BlobStore;
    const noLeftovers = async () => {
      if (opts.leftovers) expect(await opts.leftovers(store)).toEqual([]);
    };

    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    it("init is idempotent and a new store is empty", async () => {
      await store.init();
      await store.init();
      expect(await listAll(store)).toEqual([]);
    });

    it("round-trips an empty blob, a 1-byte blob and a 20 MiB stream", async () => {
      const empty = Buffer.alloc(0);
      const one = Buffer.from([0xa5]);
      expect(await put(store, empty)).toEqual({ sha256: sha(empty), size: 0 });
      expect(await put(store, one)).toEqual({ sha256: sha(one), size: 1 });
      const big = bigBlob(20 * MiB + 123);
      expect(await store.put(big.sha256, big.stream(), big.size)).toEqual({
        sha256: big.sha256,
        size: big.size,
      });

      expect(await store.stat(sha(empty))).toEqual({ sha256: sha(empty), size: 0 });
      expect(await store.stat(sha(one))).toEqual({ sha256: sha(one), size: 1 });
      expect(await store.stat(big.sha256)).toEqual({ sha256: big.sha256, size: big.size });
      expect((await readAll(await store.get(sha(empty)))).length).toBe(0);
      expect(await readAll(await store.get(sha(one)))).toEqual(one);
      const back = createHash("sha256");
      let size = 0;
      for await (const c of await store.get(big.sha256)) {
        back.update(c);
        size += c.length;
      }
      expect({ sha256: back.digest("hex"), size }).toEqual({ sha256: big.sha256, size: big.size });
    });

    it("putting content that is already there is a no-op", async () => {
      const data = Buffer.from("same content twice");
      const first = await put(store, data);
      expect(await put(store, data)).toEqual(first);
      expect(await listAll(store)).toEqual([first]);
    });

    it("refuses content that does not match its key and stores nothing", async () => {
      const claimed = sha("what the caller said");
      await expect(store.put(claimed, Readable.from([Buffer.from("something else")]))).rejects.toBeInstanceOf(
        BlobIntegrityError,
      );
      expect(await store.stat(claimed)).toBeNull();

      const data = Buffer.from("right content, wrong size");
      await expect(store.put(sha(data), Readable.from([data]), data.length + 1)).rejects.toBeInstanceOf(
        BlobIntegrityError,
      );
      expect(await store.stat(sha(data))).toBeNull();

      // Large enough to be uploaded in parts before the mismatch is known.
      const big = bigBlob(18 * MiB);
      const wrong = sha("not the big blob");
      await expect(store.put(wrong, big.stream())).rejects.toBeInstanceOf(BlobIntegrityError);
      expect(await store.stat(wrong)).toBeNull();
      expect(await listAll(store)).toEqual([]);
      await noLeftovers();
    });

    it("serves byte ranges: first byte, last byte, middle, whole", async () => {
      const data = randomBytes(1000);
      const key = (await put(store, data)).sha256;
      const range = async (start: number, end: number) => readAll(await store.get(key, { start, end }));
      expect(await range(0, 0)).toEqual(data.subarray(0, 1));
      expect(await range(999, 999)).toEqual(data.subarray(999));
      expect(await range(100, 499)).toEqual(data.subarray(100, 500));
      expect(await range(0, 999)).toEqual(data);
      await expect(store.get(key, { start: 10, end: 5 })).rejects.toBeInstanceOf(RangeError);
      await expect(store.get(key, { start: 0, end: 1000 })).rejects.toBeInstanceOf(RangeError);
      await expect(store.get(key, { start: -1, end: 3 })).rejects.toBeInstanceOf(RangeError);
    });

    it("absent blobs: get throws BlobNotFoundError, stat is null, delete is fine", async () => {
      const absent = sha("never stored");
      await expect(store.get(absent)).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(store.get(absent, { start: 0, end: 0 })).rejects.toBeInstanceOf(BlobNotFoundError);
      expect(await store.stat(absent)).toBeNull();
      await store.delete(absent);
    });

    it("deletes a blob", async () => {
      const data = Buffer.from("to be deleted");
      await put(store, data);
      await store.delete(sha(data));
      expect(await store.stat(sha(data))).toBeNull();
      await expect(store.get(sha(data))).rejects.toBeInstanceOf(BlobNotFoundError);
      expect(await listAll(store)).toEqual([]);
    });

    it("lists exactly what was put", async () => {
      const blobs = [0, 1, 2, 3, 4].map((i) => randomBytes(i * 100));
      const stats = await Promise.all(blobs.map((b) => put(store, b)));
      await store.delete(stats[2]!.sha256);
      const expected = stats.filter((_, i) => i !== 2).sort((a, b) => a.sha256.localeCompare(b.sha256));
      expect(await listAll(store)).toEqual(expected);
    });

    it("rejects keys that are not sha256 digests, in every method", async () => {
      const valid = sha("x");
      const bad = [
        "../x",
        valid.toUpperCase(),
        valid.slice(0, 63),
        `${valid.slice(0, 63)}\0`,
        `../${valid}`,
        "",
      ];
      for (const key of bad) {
        await expect(store.stat(key)).rejects.toThrow(/sha256/);
        await expect(store.get(key)).rejects.toThrow(/sha256/);
        await expect(store.delete(key)).rejects.toThrow(/sha256/);
        await expect(store.put(key, Readable.from([Buffer.from("x")]))).rejects.toThrow(/sha256/);
      }
      expect(await listAll(store)).toEqual([]);
    });

    it("handles 20 concurrent puts of the same content and of different contents", async () => {
      const same = randomBytes(64 * 1024);
      const results = await Promise.all(Array.from({ length: 20 }, () => put(store, same)));
      expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
      expect(await readAll(await store.get(sha(same)))).toEqual(same);

      const different = Array.from({ length: 20 }, () => randomBytes(32 * 1024));
      await Promise.all(different.map((d) => put(store, d)));
      for (const d of different) expect(await readAll(await store.get(sha(d)))).toEqual(d);
      expect((await listAll(store)).length).toBe(21);
      await noLeftovers();
    });

    it("adopts a file, consuming it, also when the blob is already there", async () => {
      const dir = tempDir("nexus-blob-src-");
      const data = randomBytes(300 * 1024);
      const file = join(dir, "upload");
      writeFileSync(file, data);
      expect(await store.put(sha(data), { file }, data.length)).toEqual({
        sha256: sha(data),
        size: data.length,
      });
      expect(existsSync(file)).toBe(false);
      expect(await readAll(await store.get(sha(data)))).toEqual(data);

      writeFileSync(file, data);
      expect(await store.put(sha(data), { file })).toEqual({ sha256: sha(data), size: data.length });
      expect(existsSync(file)).toBe(false);

      writeFileSync(file, "not what the key says");
      await expect(store.put(sha("other"), { file })).rejects.toBeInstanceOf(BlobIntegrityError);
      expect(existsSync(file)).toBe(false);
      expect(await store.stat(sha("other"))).toBeNull();
      await noLeftovers();
      removeDir(dir);
    });

    it("a source stream that fails midway leaves nothing visible", async () => {
      const boom = Object.assign(new Error("client went away"), { code: "ECONNRESET" });
      const small = sha("small");
      await expect(store.put(small, failingStream(randomBytes(1000), boom))).rejects.toBe(boom);
      // Fails after the first part of a multipart upload went out.
      const large = sha("large");
      await expect(store.put(large, failingStream(randomBytes(17 * MiB), boom))).rejects.toBe(boom);
      expect(await store.stat(small)).toBeNull();
      expect(await store.stat(large)).toBeNull();
      expect(await listAll(store)).toEqual([]);
      await noLeftovers();
    });
  });
}
