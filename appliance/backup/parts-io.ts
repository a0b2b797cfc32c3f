/**
 * Moving one encrypted object to and from a destination, streaming, with the hashes that verify and
 * restore check: the plaintext's sha256 and size (what the manifest promises) and the stored object's.
 */
import { pipeline as pipelineCb, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Identity } from "age-encryption";
import { type AgeDigests, newHeader, openStream, sealStream } from "./age-stream.js";
import { BackupKeyError } from "./crypto.js";
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
  const { header, fileKey } = await newHeader(keys.recipient);
  const seal = sealStream(header, fileKey, { hashStored, onBytes, moveChunks: true });
  await dest.put(
    key,
    pipelineCb(src, seal, () => {}),
  );
  // Blobs skip the stored hash (their check is the plaintext's sha256, their name): 0 and "" then.
  const { plain, stored } = seal.digests();
  return { size: plain.size, sha256: plain.sha256, storedSize: stored.size, storedSha256: stored.sha256 };
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
  let digests: AgeDigests;
  try {
    const raw = await dest.get(key);
    const open = openStream(identity, (err) => new BackupKeyError(`${key} (${err.message})`), {
      hashPlain: !sinkVerifies,
      hashStored: !!expect.storedSha256,
      onBytes,
      moveChunks: true,
    });
    await pipeline(raw, open, sink);
    digests = open.digests();
  } catch (err) {
    if (err instanceof BackupPartMissingError) throw new BackupPartDamagedError(key, "missing");
    if (err instanceof BackupDestinationFullError) throw err;
    const why = err instanceof BackupKeyError ? err.message : `does not decrypt (${(err as Error).message})`;
    throw new BackupPartDamagedError(key, why);
  }
  if (expect.storedSha256 && digests.stored.sha256 !== expect.storedSha256) {
    throw new BackupPartDamagedError(key, "stored bytes do not match the manifest's sha256");
  }
  const p = digests.plain;
  if (!sinkVerifies && (p.sha256 !== expect.sha256 || p.size !== expect.size)) {
    throw new BackupPartDamagedError(key, "content does not match the manifest's sha256/size");
  }
}
