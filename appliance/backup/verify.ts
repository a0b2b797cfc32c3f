/** verifyBackup: reads every part and blob a backup names, decrypts it and checks it against the manifest. */
import { Writable } from "node:stream";
import { eachLimit } from "../lib/each-limit.js";
import { partIdentity } from "./crypto.js";
import { manifestKey, openBackupManifest, type SealedManifest } from "./manifest.js";
import { BackupPartDamagedError, getDecrypted } from "./parts-io.js";
import { progressReporter } from "./progress.js";
import type { BackupDecryptionKey, BackupDestination, BackupProgress } from "./types.js";

type Problem = { part: string; reason: string };

const discard = () =>
  new Writable({
    write(_c, _e, done) {
      done();
    },
  });

/** Checks backup `id`: ok, or every problem with the part it concerns. */
export async function verifyBackup(opts: {
  destination: BackupDestination;
  id: string;
  key: BackupDecryptionKey;
  onProgress?: (p: BackupProgress) => void;
}): Promise<{ ok: true } | { ok: false; problems: Problem[] }> {
  let sealed: SealedManifest;
  try {
    sealed = (await openBackupManifest(opts.destination, opts.id, opts.key)).sealed;
  } catch (err) {
    return { ok: false, problems: [{ part: manifestKey(opts.id), reason: (err as Error).message }] };
  }
  const identity = partIdentity(opts.key, sealed.dataIdentity);
  const progress = progressReporter(opts.onProgress);
  progress.total(sealed.parts.reduce((n, p) => n + p.size, 0) + sealed.blobs.reduce((n, b) => n + b.size, 0));
  progress.phase("verify");
  const found: (Problem | undefined)[] = [];
  const items = [...sealed.parts, ...sealed.blobs];
  // A few objects at once; the problems are listed in the manifest's order whatever order they were found in.
  await eachLimit(items, 4, async (item, i) => {
    try {
      await getDecrypted(opts.destination, item.key, identity, item, discard(), progress.add);
    } catch (err) {
      if (!(err instanceof BackupPartDamagedError)) throw err;
      found[i] = { part: err.part, reason: err.reason };
    }
  });
  const problems = found.filter((p): p is Problem => !!p);
  progress.done();
  return problems.length ? { ok: false, problems } : { ok: true };
}
