/**
 * `nexus backup create|list|verify|restore|prune`: thin wrappers over appliance/backup. The key comes from
 * `--passphrase-file`, NEXUS_BACKUP_PASSPHRASE, `--recipient age1…` (create) or `--identity-file` (verify,
 * restore); it is never written next to the backup. Progress goes to stderr: a bar on a terminal, plain
 * lines otherwise; `--json` answers go to stdout.
 */
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import type { BackupDecryptionKey, BackupEncryptionKey, BackupProgress } from "../backup/index.js";
import { bytes, progressBar, table } from "../lib/format.js";
import { count } from "./usage.js";

/** The engine, loaded when a backup command runs (it is heavy: every service's migrations, age). */
const engine = () => import("../backup/index.js");

interface KeyOptions {
  passphraseFile?: string;
  recipient?: string;
  identityFile?: string;
}

function passphrase(o: KeyOptions): string {
  if (o.passphraseFile) {
    const p = readFileSync(o.passphraseFile, "utf8").replace(/\r?\n$/, "");
    if (!p) throw new Error(`${o.passphraseFile} is empty`);
    return p;
  }
  const env = process.env.NEXUS_BACKUP_PASSPHRASE;
  if (env) return env;
  throw new Error(
    "no backup key: give --passphrase-file <file> or NEXUS_BACKUP_PASSPHRASE (or --recipient / --identity-file)",
  );
}

/** The key a new backup is encrypted with. */
export function encryptionKey(o: KeyOptions): BackupEncryptionKey {
  return o.recipient ? { recipient: o.recipient.trim() } : { passphrase: passphrase(o) };
}

/** The key that opens a backup: the identity file's `AGE-SECRET-KEY-1…` line, or the passphrase. */
export function decryptionKey(o: KeyOptions): BackupDecryptionKey {
  if (!o.identityFile) return { passphrase: passphrase(o) };
  const line = readFileSync(o.identityFile, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (!line) throw new Error(`${o.identityFile} holds no age identity (AGE-SECRET-KEY-1…)`);
  return { identity: line };
}

/** A progress printer: a redrawn bar on a terminal, a line per phase and per 10% otherwise. */
export function progressPrinter(out: NodeJS.WriteStream = process.stderr) {
  let lastLine = "";
  let lastTenth = -1;
  return {
    update(p: BackupProgress) {
      const label = `${p.phase}${p.current ? ` ${p.current}` : ""}`;
      if (out.isTTY) {
        const bar = progressBar(Math.round(p.bytesDone / 1024), Math.round(p.bytesTotal / 1024), "KiB");
        out.write(`\r\x1b[2K${bar} ${label}`.slice(0, (out.columns || 100) + 8));
        return;
      }
      const tenth = p.bytesTotal ? Math.floor((p.bytesDone / p.bytesTotal) * 10) : 0;
      const line = `${p.phase} ${bytes(p.bytesDone)}/${bytes(p.bytesTotal)}`;
      if (p.phase !== lastLine.split(" ")[0] || tenth !== lastTenth) out.write(`backup: ${line}\n`);
      lastLine = line;
      lastTenth = tenth;
    },
    end() {
      if (out.isTTY) out.write("\n");
    },
  };
}

const policyNumber = (v: string) => {
  try {
    return count(v);
  } catch {
    throw new InvalidArgumentError("expected a whole number, 0 or more");
  }
};

/** Adds `nexus backup …` to the program; `dataDir()` resolves the box's data dir. */
export function addBackupCommands(program: Command, dataDir: () => string): void {
  const backup = program.command("backup").description("consistent, encrypted backups of the whole box");
  const to = "--to <dest>";
  const toHelp =
    "destination: a folder or mounted USB disk, s3://bucket/prefix, or hub (default: backup.destination)";
  const destination = async (spec: string | undefined) =>
    (await import("../backup/destination-spec.js")).destinationFor(spec, dataDir());
  const withKeys = (c: Command, create: boolean) =>
    (create
      ? c.option("--recipient <age1…>", "encrypt to an age public key instead of a passphrase")
      : c.option("--identity-file <file>", "the age identity of a backup made with --recipient")
    ).option("--passphrase-file <file>", "the passphrase (or env NEXUS_BACKUP_PASSPHRASE)");

  withKeys(backup.command("create").description("take a backup now"), true)
    .option(to, toHelp)
    .option("--no-secrets", "leave secrets/ out of the backup")
    .option("--json", "machine-readable output")
    .action(async (o: KeyOptions & { to?: string; secrets: boolean; json?: boolean }) => {
      const bar = progressPrinter();
      const s = await (await engine()).createBackup({
        dataDir: dataDir(),
        destination: await destination(o.to),
        key: encryptionKey(o),
        includeSecrets: o.secrets,
        onProgress: bar.update,
      });
      bar.end();
      if (o.json) return console.log(JSON.stringify(s));
      console.log(
        `Backup ${s.id} written to ${o.to ?? "the configured destination"}: ${bytes(s.sizeBytes)}, ${s.blobsCopied} of ${s.blobsReferenced} blob(s) copied.`,
      );
    });

  backup
    .command("list")
    .description("complete backups at a destination, newest first")
    .option(to, toHelp)
    .option("--json", "machine-readable output")
    .action(async (o: { to?: string; json?: boolean }) => {
      const list = await (await engine()).listBackups(await destination(o.to));
      if (o.json) return console.log(JSON.stringify({ backups: list }));
      if (!list.length) return console.log(`No backup in ${o.to ?? "the configured destination"}.`);
      console.log(
        table(
          ["ID", "CREATED", "REASON", "VERSION", "SIZE", "BLOBS", "SECRETS"],
          list.map((b) => [
            b.id,
            b.createdAt,
            b.reason,
            b.applianceVersion,
            bytes(b.sizeBytes),
            `${b.blobsReferenced} (${b.blobsCopied} new)`,
            b.secretsIncluded ? "yes" : "no",
          ]),
        ),
      );
    });

  withKeys(backup.command("verify <id>").description("read and check every part of a backup"), false)
    .option(to, toHelp)
    .option("--json", "machine-readable output")
    .action(async (id: string, o: KeyOptions & { to?: string; json?: boolean }) => {
      const bar = progressPrinter();
      const r = await (await engine()).verifyBackup({
        destination: await destination(o.to),
        id,
        key: decryptionKey(o),
        onProgress: bar.update,
      });
      bar.end();
      if (o.json) console.log(JSON.stringify(r));
      else if (r.ok) console.log(`Backup ${id} is complete and intact.`);
      else for (const p of r.problems) console.error(`nexus: ${p.part}: ${p.reason}`);
      if (!r.ok) process.exitCode = 1;
    });

  withKeys(backup.command("restore <id>").description("restore a backup onto this (stopped) box"), false)
    .option(to, toHelp)
    .option("--dry-run", "list what would change, change nothing")
    .option("--json", "machine-readable output")
    .action(async (id: string, o: KeyOptions & { to?: string; dryRun?: boolean; json?: boolean }) => {
      const bar = progressPrinter();
      const r = await (await engine()).restoreBackup({
        dataDir: dataDir(),
        destination: await destination(o.to),
        id,
        key: decryptionKey(o),
        dryRun: o.dryRun,
        onProgress: bar.update,
      });
      bar.end();
      if (o.json) return console.log(JSON.stringify(r));
      for (const c of r.changes) console.log(`${c.action.padEnd(7)} ${c.path}`);
      for (const e of r.syncEpochs ?? []) {
        const hub = e.hubWatermark === null ? "hub not reachable" : `hub acknowledged ${e.hubWatermark}`;
        console.log(`sync    ${e.service}: backup seq ${e.backupSeq}, ${hub}, next change ${e.nextSeq}`);
      }
      console.log(
        r.applied ? `Backup ${id} restored.` : `Dry run: ${r.changes.length} change(s), nothing done.`,
      );
    });

  backup
    .command("prune")
    .description("remove the backups no retention rule keeps, and the blobs only they used")
    .option(to, toHelp)
    .option("--keep-last <n>", "keep the n newest", policyNumber, 0)
    .option("--keep-daily <n>", "keep the newest of each of the last n days with a backup", policyNumber, 0)
    .option("--keep-weekly <n>", "keep the newest of each of the last n weeks with a backup", policyNumber, 0)
    .option("--dry-run", "say what would go, remove nothing")
    .option("--json", "machine-readable output")
    .action(
      async (o: {
        to?: string;
        keepLast: number;
        keepDaily: number;
        keepWeekly: number;
        dryRun?: boolean;
        json?: boolean;
      }) => {
        if (o.keepLast + o.keepDaily + o.keepWeekly === 0) {
          throw new Error("a policy that keeps nothing: give --keep-last, --keep-daily or --keep-weekly");
        }
        const r = await (await engine()).pruneBackups({
          destination: await destination(o.to),
          policy: { keepLast: o.keepLast, keepDaily: o.keepDaily, keepWeekly: o.keepWeekly },
          dryRun: o.dryRun,
        });
        if (o.json) return console.log(JSON.stringify(r));
        console.log(
          `${o.dryRun ? "Would keep" : "Kept"} ${r.kept.length}, ${o.dryRun ? "would remove" : "removed"} ${r.removed.length}: ${r.removed.join(", ") || "none"}.`,
        );
      },
    );
}
