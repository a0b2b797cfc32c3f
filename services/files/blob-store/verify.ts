/** Hashing while streaming, shared by the backends: content is checked against its key before it is kept. */
import { createHash, type Hash } from "node:crypto";
import { BlobIntegrityError, type BlobStat } from "../../../appliance/lib/blob-store.js";

/** A chunk from a stream as bytes (a stream in string mode yields strings). */
export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError("blob content must be bytes");
}

/** Running sha256 and byte count of what went through. */
export class ContentHash {
  private readonly hash: Hash = createHash("sha256");
  size = 0;

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  /** Throws BlobIntegrityError unless the content seen matches the expected key (and size, when given). */
  verify(sha256: string, size?: number): BlobStat {
    const actual = { sha256: this.hash.digest("hex"), size: this.size };
    if (actual.sha256 !== sha256 || (size !== undefined && size !== actual.size)) {
      throw new BlobIntegrityError({ sha256, size }, actual);
    }
    return actual;
  }
}

/** Reads a stream to its end for a blob that is already stored, still checking that it is that blob. */
export async function drainVerified(source: NodeJS.ReadableStream, sha256: string, size?: number) {
  const content = new ContentHash();
  for await (const chunk of source) content.update(toBuffer(chunk));
  return content.verify(sha256, size);
}
