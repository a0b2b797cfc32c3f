/**
 * Moving one encrypted object to and from a destination, streaming, with the hashes that verify and
 * restore check: the plaintext's sha256 and size (what the manifest promises) and the stored object's.
 */
import { createHash } from "node:crypto";
import { pipeline as pipelineCb, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Identity } from "age-encryption";
import { BackupKeyError, decryptStream, encryptStream } from "./crypto.js";
import { type BackupDestination, BackupDestinationFullError, BackupPartMissingError } from "./types.js";

/** A part of a backup is missing, damaged or does not match its manifest. */
export class BackupPartDamagedError extends Error {
  readonly code = "BACKUP_PART_DAMAGED";
  constructor(
    readonly part: string,
    readonly reason: string,
  ) {
    super(`backup part ${part}: ${reason}`);
    this.name = "BackupPartDamagedError";
  }
}

/** A pass-through that hashes and counts what flows through it. */
export function hasher(onBytes?: (n: number) => void) {
  const h = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      size += chunk.length;
      onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sha256: h.digest("hex"), size }) };
}

export interface StoredObject {
  size: number;
  sha256: string;
  storedSize: number;
  storedSha256: string;
}

/** Encrypts `src` with the backup's part keys and puts it under `key`. */
export async function putEncrypted(
  dest: BackupDestination,
  key: string,
  keys: { recipient: string; dataIdentity?: string },
  src: NodeJS.ReadableStream,
  onBytes?: (n: number) => void,
  hashStored = true,
): Promise<StoredObject> {
  const plain = hasher(onBytes);
  const stored = hashStored ? hasher() : null;
  const enc = await encryptStream(
    keys.recipient,
    pipelineCb(src, plain.stream, () => {}),
  );
  await dest.put(key, stored ? pipelineCb(enc, stored.stream, () => {}) : enc);
  const p = plain.result();
  // Blobs skip the stored hash (their check is the plaintext's sha256, their name): 0 and "" then.
  const s = stored?.result() ?? { size: 0, sha256: "" };
  return { size: p.size, sha256: p.sha256, storedSize: s.size, storedSha256: s.sha256 };
}

/**
 * Streams the object under `key`, decrypted, into `sink`; throws BackupPartDamagedError naming the key when it
 * is missing, does not decrypt, or does not hash to what the manifest says.
 */
export async function getDecrypted(
  dest: BackupDestination,
  key: string,
  identity: string | Identity,
  expect: { sha256: string; size: number; storedSha256?: string },
  sink: Writable,
  onBytes?: (n: number) => void,
  /** The sink checks the content's sha256 and size itself (the blob store does): no second hash here. */
  sinkVerifies = false,
): Promise<void> {
  const stored = expect.storedSha256 ? hasher() : null;
  const plain = sinkVerifies ? null : hasher(onBytes);
  try {
    const raw = await dest.get(key);
    const src = stored ? pipelineCb(raw, stored.stream, () => {}) : raw;
    const dec = await decryptStream(identity, src, key);
    if (plain) await pipeline(dec, plain.stream, sink);
    else await pipeline(dec, counter(onBytes), sink);
  } catch (err) {
    if (err instanceof BackupPartMissingError) throw new BackupPartDamagedError(key, "missing");
    if (err instanceof BackupDestinationFullError) throw err;
    const why = err instanceof BackupKeyError ? err.message : `does not decrypt (${(err as Error).message})`;
    throw new BackupPartDamagedError(key, why);
  }
  if (stored && stored.result().sha256 !== expect.storedSha256) {
    throw new BackupPartDamagedError(key, "stored bytes do not match the manifest's sha256");
  }
  const p = plain?.result();
  if (p && (p.sha256 !== expect.sha256 || p.size !== expect.size)) {
    throw new BackupPartDamagedError(key, "content does not match the manifest's sha256/size");
  }
}

/** A pass-through that only counts. */
function counter(onBytes?: (n: number) => void) {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
}
