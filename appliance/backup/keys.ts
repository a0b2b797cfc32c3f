/**
 * Where a box's backup key comes from (config `backup.passphraseFile` or `backup.recipient`), never from next
 * to the backups. A recipient public key can only encrypt: verify and restore then need the age identity,
 * which is given to the CLI (`--identity`) and never kept on the box.
 */
import { readFileSync } from "node:fs";
import type { BackupConfig } from "./config.js";
import type { BackupDecryptionKey, BackupEncryptionKey } from "./types.js";

/** Thrown when the config holds no usable key for what is asked. */
export class BackupKeyConfigError extends Error {
  readonly code = "BACKUP_NO_KEY";
}

function passphrase(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new BackupKeyConfigError(
      `backup passphrase file ${file}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`,
    );
  }
  const first = text.split(/\r?\n/)[0] ?? "";
  if (first.length < 8)
    throw new BackupKeyConfigError(`backup passphrase file ${file}: the passphrase is under 8 characters`);
  return first;
}

/** The key new backups are encrypted with. */
export function encryptionKey(c: BackupConfig): BackupEncryptionKey {
  if (c.recipient) return { recipient: c.recipient };
  if (c.passphraseFile) return { passphrase: passphrase(c.passphraseFile) };
  throw new BackupKeyConfigError("no backup key: set backup.passphraseFile or backup.recipient");
}

/** The key to read backups with on the box (verify, restore dry run): only a passphrase can be. */
export function decryptionKey(c: BackupConfig): BackupDecryptionKey {
  if (c.passphraseFile) return { passphrase: passphrase(c.passphraseFile) };
  throw new BackupKeyConfigError(
    c.recipient
      ? "backups are encrypted to a recipient key: verify and restore need its identity, with `nexus backup verify --identity <file>` on the box"
      : "no backup key: set backup.passphraseFile or backup.recipient",
  );
}
