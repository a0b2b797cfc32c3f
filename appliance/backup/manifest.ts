/**
 * The manifest: `snapshots/<id>/manifest.json`, written last (a snapshot without it is not a backup). Its
 * clear part is what `list` and `prune` read without a key (the summary and the blob object names, which
 * are HMACs and reveal nothing); `sealed` is the age-encrypted full manifest — every part with its sha256
 * and size, every blob, the databases' migrations, the data identity. age authenticates it, and verify
 * checks that the clear summary equals the sealed one.
 */

import { openManifest, sealManifest } from "./crypto.js";
import type { BackupDecryptionKey, BackupDestination, BackupEncryptionKey, BackupSummary } from "./types.js";

export const MANIFEST_FORMAT = 1;

/** One file of the data dir in the backup (a database copy, config.json, a secret). */
export interface PartEntry {
  /** Destination key: `snapshots/<id>/parts/<n>.age`. */
  key: string;
  /** Where it goes in the data dir, e.g. `services/files/files.db`. */
  path: string;
  /** Plaintext size and sha256. */
  size: number;
  sha256: string;
  /** Size and sha256 of the stored (encrypted) object: verify names a flipped byte without decrypting. */
  storedSize: number;
  storedSha256: string;
}

export interface BlobEntry {
  sha256: string;
  size: number;
  /** `blobs/<hmac>`. */
  key: string;
}

export interface SealedManifest {
  format: number;
  summary: BackupSummary;
  dataIdentity?: string;
  parts: PartEntry[];
  blobs: BlobEntry[];
  databases: { service: string; migrations: string[] }[];
  /** How long writers were held by the write barrier while the databases were copied. */
  writeBarrierMs: number;
}

export interface ManifestFile {
  format: number;
  summary: BackupSummary;
  blobKeys: string[];
  sealed: string;
}

const ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$/;

/** Throws unless `id` is a backup id as the engine makes them (ids become destination keys). */
export function assertBackupId(id: string): void {
  if (!ID.test(id)) throw new Error(`not a backup id: ${JSON.stringify(String(id).slice(0, 80))}`);
}

export const manifestKey = (id: string) => `snapshots/${id}/manifest.json`;
export const partKey = (id: string, n: number) => `snapshots/${id}/parts/${String(n).padStart(4, "0")}.age`;

/** Builds the manifest file's bytes. */
export async function buildManifest(
  key: BackupEncryptionKey | ((text: string) => Promise<Buffer>),
  m: SealedManifest,
): Promise<Buffer> {
  const text = JSON.stringify(m);
  const sealed = typeof key === "function" ? await key(text) : await sealManifest(key, text);
  const file: ManifestFile = {
    format: MANIFEST_FORMAT,
    summary: m.summary,
    blobKeys: m.blobs.map((b) => b.key),
    sealed: sealed.toString("base64"),
  };
  return Buffer.from(`${JSON.stringify(file, null, 1)}\n`);
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** Reads a backup's manifest file (clear part only). */
export async function readManifestFile(dest: BackupDestination, id: string): Promise<ManifestFile> {
  assertBackupId(id);
  const raw = await readAll(await dest.get(manifestKey(id)));
  let m: ManifestFile;
  try {
    m = JSON.parse(raw.toString("utf8")) as ManifestFile;
  } catch {
    throw new Error(`backup ${id}: manifest.json is not valid JSON (damaged)`);
  }
  if (m.format !== MANIFEST_FORMAT) throw new Error(`backup ${id}: manifest format ${m.format} is not known`);
  return m;
}

/** Reads and decrypts a backup's full manifest; checks the clear summary was not altered. */
export async function openBackupManifest(
  dest: BackupDestination,
  id: string,
  key: BackupDecryptionKey | BackupEncryptionKey,
): Promise<{ file: ManifestFile; sealed: SealedManifest }> {
  const file = await readManifestFile(dest, id);
  const text = await openManifest(key, Buffer.from(file.sealed, "base64"), `backup ${id}'s manifest`);
  const sealed = JSON.parse(text) as SealedManifest;
  if (JSON.stringify(sealed.summary) !== JSON.stringify(file.summary)) {
    throw new Error(`backup ${id}: manifest.json's clear summary differs from its sealed copy (altered)`);
  }
  return { file, sealed };
}

/** Complete backups at the destination, newest first. */
export async function listBackups(destination: BackupDestination): Promise<BackupSummary[]> {
  const ids = (await destination.list("snapshots/"))
    .map((k) => /^snapshots\/([^/]+)\/manifest\.json$/.exec(k)?.[1])
    .filter((id): id is string => !!id && ID.test(id));
  const out: BackupSummary[] = [];
  for (const id of ids) {
    try {
      out.push((await readManifestFile(destination, id)).summary);
    } catch {
      // A damaged manifest is not a backup to offer; verify names it.
    }
  }
  return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
}

export { readAll };
