/**
 * Encryption at rest with age (the `age-encryption` package, typage). Two modes:
 * - passphrase: the manifest is age-encrypted with the passphrase (scrypt on Node's native implementation,
 *   age-scrypt.ts; work factor 18 unless
 *   NEXUS_BACKUP_SCRYPT_WORK_FACTOR says otherwise); parts and blobs are encrypted to a random X25519 "data
 *   identity" that lives only inside that encrypted manifest, so one scrypt per backup, not one per blob. A
 *   new backup with the same passphrase reuses the data identity of the newest backup it can open (its blobs
 *   stay shared); another passphrase gets a new identity and so new blob names.
 * - recipient (`age1…`): manifest, parts and blobs are encrypted to the recipient; the box never holds the
 *   identity that decrypts them.
 * A blob is stored as `blobs/<HMAC-SHA256(name key, sha256)>`: the destination learns neither the content
 * nor its hash. The name key is derived from the data identity (passphrase mode) or the recipient.
 */
import { createHash, createHmac } from "node:crypto";
import {
  Decrypter,
  Encrypter,
  generateX25519Identity,
  type Identity,
  identityToRecipient,
} from "age-encryption";
import { scryptIdentity, scryptRecipient } from "./age-scrypt.js";
import { nativeIdentity } from "./age-stream.js";
import type { BackupDecryptionKey, BackupEncryptionKey } from "./types.js";

/** The backup cannot be opened with the key given. */
export class BackupKeyError extends Error {
  readonly code = "BACKUP_WRONG_KEY";
  constructor(what: string) {
    super(`cannot decrypt ${what}: wrong passphrase or identity`);
    this.name = "BackupKeyError";
  }
}

/** How one backup's parts and blobs are encrypted. */
export interface PartKeys {
  /** The age recipient parts and blobs are encrypted to. */
  recipient: string;
  /** Passphrase mode: the identity that decrypts them, kept only inside the encrypted manifest. */
  dataIdentity?: string;
  /** Keys blob names (HMAC). */
  nameKey: Buffer;
}

function scryptWorkFactor(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR ?? 18);
  return Number.isInteger(n) && n >= 10 && n <= 22 ? n : 18;
}

/** The part keys for a new backup; `reuse` is the data identity of an earlier backup opened with the same key. */
export async function partKeysFor(key: BackupEncryptionKey, reuse?: string): Promise<PartKeys> {
  if ("recipient" in key) {
    if (!/^age1[0-9a-z]{20,}$/.test(key.recipient))
      throw new Error("a recipient is an age public key (age1…)");
    return { recipient: key.recipient, nameKey: sha256Bytes(`nexus-backup blob names\0${key.recipient}`) };
  }
  if (!key.passphrase) throw new Error("the backup passphrase is empty");
  const dataIdentity = reuse ?? (await generateX25519Identity());
  return partKeysOfIdentity(dataIdentity);
}

/** The part keys of a passphrase-mode backup, from the data identity in its manifest. */
export async function partKeysOfIdentity(dataIdentity: string): Promise<PartKeys> {
  return {
    recipient: await identityToRecipient(dataIdentity),
    dataIdentity,
    nameKey: sha256Bytes(`nexus-backup blob names\0${dataIdentity}`),
  };
}

function sha256Bytes(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** The destination name of a blob: an HMAC of its sha256, so the name does not reveal the content's hash. */
export function blobObjectName(keys: Pick<PartKeys, "nameKey">, sha256: string): string {
  return createHmac("sha256", keys.nameKey).update(sha256).digest("hex");
}

/** Encrypts the manifest with the passphrase or to the recipient. */
export async function sealManifest(key: BackupEncryptionKey, text: string): Promise<Buffer> {
  return manifestSealer(key)(text);
}

/**
 * A sealer for one manifest, made before the manifest exists: in passphrase mode its scrypt (the costly part
 * of sealing, seconds at work factor 18) starts now, on the thread pool, and runs while the backup copies data.
 */
export function manifestSealer(key: BackupEncryptionKey): (text: string) => Promise<Buffer> {
  const recipient = "passphrase" in key ? scryptRecipient(key.passphrase, scryptWorkFactor()) : key.recipient;
  return async (text) => {
    const e = new Encrypter();
    e.addRecipient(recipient);
    return Buffer.from(await e.encrypt(text));
  };
}

/** Decrypts a manifest; a wrong key (or a damaged manifest) → BackupKeyError naming `what`. */
export async function openManifest(
  key: BackupDecryptionKey | BackupEncryptionKey,
  sealed: Buffer,
  what: string,
) {
  const d = new Decrypter();
  if ("passphrase" in key) d.addIdentity(scryptIdentity(key.passphrase));
  else if ("identity" in key) d.addIdentity(key.identity);
  else throw new BackupKeyError(what);
  try {
    return await d.decrypt(new Uint8Array(sealed), "text");
  } catch {
    throw new BackupKeyError(what);
  }
}

/**
 * The identity that decrypts parts: the manifest's data identity, or the caller's own; made once (natively
 * for X25519), for every part and blob of one restore or verify.
 */
export function partIdentity(key: BackupDecryptionKey, dataIdentity: string | undefined): string | Identity {
  if (dataIdentity) return nativeIdentity(dataIdentity);
  if ("identity" in key) return nativeIdentity(key.identity);
  throw new Error("this backup was encrypted to a recipient: restore it with --identity-file");
}
