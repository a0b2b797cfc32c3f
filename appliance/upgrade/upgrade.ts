/**
 * Install and upgrade: verify → install beside → stop → before-upgrade snapshot → switch `current` → start
 * (migrations run as the services start) → health gate → commit; any failure or crash loop in the gate rolls
 * back by itself: old version, data restored from the snapshot, the reason kept. Each step is recorded in the
 * marker first, so `resume` (the next start, or `nexus upgrade --resume`) finishes or rolls back after a
 * power cut. The snapshot is taken with the box stopped, so even a plain copy of the data dir is consistent.
 */
import type { KeyObject } from "node:crypto";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { UpgradeSnapshots } from "../backup/types.js";
import { isAlive, readPid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import type { BoxControl } from "./control.js";
import { type GateOptions, healthGate } from "./health-gate.js";
import {
  currentVersion,
  installBeside,
  installedDataDir,
  type Layout,
  switchCurrent,
  trustedKeysDir,
} from "./layout.js";
import { readManifest } from "./manifest.js";
import {
  clearMarker,
  compareVersions,
  type Marker,
  outcomeFile,
  readMarker,
  readOutcome,
  type Step,
  type UpgradeOutcome,
  writeDurable,
} from "./marker.js";
import { loadTrustedKeys, verifyBundle } from "./signature.js";

export interface UpgradeDeps {
  layout: Layout;
  control: BoxControl;
  snapshots: UpgradeSnapshots;
  gate: GateOptions;
  log: (line: string) => void;
  /** Test hook for the power-cut tests: SIGKILL this process once the marker has reached this step. */
  crashAt?: Step;
}

export interface UpgradeOptions {
  allowDowngrade?: boolean;
  /** Keys trusted for a first install (`install.sh --trust-key`); later ones use the installed version's. */
  trustKeys?: KeyObject[];
  now?: Date;
  /** The bundle dir is the upgrader's own unpacked copy: move it into place rather than copy it. */
  movable?: boolean;
  /** checkBundle only: signature, validity and version, not every file (install.sh has just hashed them). */
  signatureOnly?: boolean;
}

export type UpgradeResult =
  | { result: "installed" | "committed" | "unchanged"; version: string; seconds: number }
  | { result: "rolled-back"; version: string; reason: string; seconds: number }
  | { result: "refused"; reason: string }
  | { result: "failed"; reason: string };

/** Thrown for a bundle that must not be installed; nothing on the box was changed. */
export class UpgradeRefused extends Error {}

function mark(d: UpgradeDeps, m: Marker, step: Step, extra: Partial<Marker> = {}): Marker {
  const next = { ...m, ...extra, step };
  writeDurable(d.layout.marker, next);
  d.log(`  step: ${step}`);
  if (d.crashAt === step) process.kill(process.pid, "SIGKILL");
  return next;
}

/** Verifies a bundle dir against the installed version's keys (or `trustKeys` on a first install). */
export async function checkBundle(dir: string, l: Layout, o: UpgradeOptions) {
  const installed = currentVersion(l);
  const keys = installed ? loadTrustedKeys(trustedKeysDir(l.current)) : (o.trustKeys ?? []);
  const installedBuildTime = installed ? readManifest(l.current).buildTime : undefined;
  const v = await verifyBundle(dir, keys, { installedBuildTime, now: o.now, skipChecksums: o.signatureOnly });
  if (!v.ok) throw new UpgradeRefused(`refused: ${v.reason}`);
  const to = v.manifest.version;
  if (installed && installed !== to && compareVersions(to, installed) < 0 && !o.allowDowngrade) {
    throw new UpgradeRefused(`refused: ${to} is older than the installed ${installed} (--allow-downgrade)`);
  }
  return { installed, to };
}

/** Installs or upgrades from a bundle dir. */
export async function upgrade(
  bundleDir: string,
  d: UpgradeDeps,
  o: UpgradeOptions = {},
): Promise<UpgradeResult> {
  const t0 = Date.now();
  const secs = () => (Date.now() - t0) / 1000;
  const l = d.layout;
  const pending = readMarker(l.marker);
  if (pending) {
    return {
      result: "refused",
      reason: `an upgrade ${pending.from} → ${pending.to} is unfinished: nexus upgrade --resume`,
    };
  }
  let checked: { installed: string | null; to: string };
  try {
    checked = await checkBundle(bundleDir, l, o);
  } catch (err) {
    if (err instanceof UpgradeRefused) return { result: "refused", reason: err.message };
    throw err;
  }
  const { installed, to } = checked;
  d.log(`Bundle ${to} verified (installed: ${installed ?? "none"}).`);
  if (installed === to) {
    // Idempotent: the same bundle again only makes sure the box runs.
    const pid = readPid(dataPaths(installedDataDir(l)).supervisorPid);
    if (pid && isAlive(pid)) return { result: "unchanged", version: to, seconds: secs() };
    await d.control.start();
    const g = await healthGate(installedDataDir(l), to, d.gate);
    return g.ok
      ? { result: "unchanged", version: to, seconds: secs() }
      : { result: "failed", reason: g.reason };
  }
  installBeside(l, bundleDir, to, o.movable);
  if (!installed) {
    switchCurrent(l, to);
    await d.control.start();
    const g = await healthGate(installedDataDir(l), to, d.gate);
    return g.ok
      ? { result: "installed", version: to, seconds: secs() }
      : { result: "failed", reason: g.reason };
  }
  const dataDir = installedDataDir(l);
  let m = mark(
    d,
    { from: installed, to, step: "installed", startedAt: new Date().toISOString() },
    "installed",
  );
  await d.control.stop();
  m = mark(d, m, "stopped");
  const snap = await d.snapshots.take({ dataDir, fromVersion: installed, toVersion: to });
  m = mark(d, m, "snapshot", { snapshotId: snap.id });
  switchCurrent(l, to);
  m = mark(d, m, "switched");
  await d.control.start();
  m = mark(d, m, "started");
  const gate = await healthGate(dataDir, to, d.gate);
  if (!gate.ok) {
    d.log(`Health gate failed: ${gate.reason}. Rolling back to ${installed}.`);
    await rollback(d, m, gate.reason, true);
    return { result: "rolled-back", version: installed, reason: gate.reason, seconds: secs() };
  }
  m = mark(d, m, "committed");
  await finishCommit(d, m, secs());
  return { result: "committed", version: to, seconds: secs() };
}

/** After the commit mark: drop the snapshot and old versions, record the outcome, clear the marker. */
async function finishCommit(d: UpgradeDeps, m: Marker, seconds?: number): Promise<void> {
  const dataDir = installedDataDir(d.layout);
  if (m.snapshotId) await d.snapshots.discard({ dataDir, id: m.snapshotId }).catch(() => {});
  pruneVersions(d.layout, [m.to, m.from]);
  record(dataDir, { outcome: "committed", from: m.from, to: m.to, at: new Date().toISOString(), seconds });
  clearMarker(d.layout.marker);
}

/** Old version back, data restored from the snapshot, the reason kept. `start`: start the old version. */
async function rollback(d: UpgradeDeps, m: Marker, reason: string, start: boolean): Promise<void> {
  const l = d.layout;
  const dataDir = installedDataDir(l);
  const marked = mark(d, m, "rolling-back", { reason: m.reason ?? reason });
  await d.control.stop();
  // Before the switch no new version ran on the data: nothing to restore.
  const dataTouched = !["installed", "stopped", "snapshot"].includes(m.step);
  if (marked.snapshotId && dataTouched) await d.snapshots.restore({ dataDir, id: marked.snapshotId });
  switchCurrent(l, marked.from);
  if (marked.snapshotId) await d.snapshots.discard({ dataDir, id: marked.snapshotId }).catch(() => {});
  rmSync(l.version(marked.to), { recursive: true, force: true });
  record(dataDir, {
    outcome: "rolled-back",
    from: marked.from,
    to: marked.to,
    reason: marked.reason,
    at: new Date().toISOString(),
  });
  clearMarker(l.marker);
  if (!start) return;
  await d.control.start();
  const back = await healthGate(dataDir, marked.from, { ...d.gate, settleMs: 0 });
  d.log(back.ok ? `${marked.from} is running again.` : `${marked.from} did not come back: ${back.reason}`);
}

function record(dataDir: string, o: UpgradeOutcome): void {
  if (existsSync(dataDir)) writeDurable(outcomeFile(dataDir), o);
}

/** Removes installed versions other than `keep` (the current one and the one it replaced). */
function pruneVersions(l: Layout, keep: string[]): void {
  for (const e of readdirSync(l.opt, { withFileTypes: true })) {
    if (!e.isDirectory() || keep.includes(e.name) || !/^\d+\.\d+\.\d+/.test(e.name)) continue;
    rmSync(join(l.opt, e.name), { recursive: true, force: true });
  }
}

/**
 * After a power cut or a killed upgrade: finishes a committed upgrade, rolls back any other. The box is
 * stopped first; `start` starts the resulting version (false when systemd starts it next, ExecStartPre).
 */
export async function resume(d: UpgradeDeps, start: boolean): Promise<UpgradeOutcome | null> {
  const m = readMarker(d.layout.marker);
  if (!m) return null;
  d.log(`Unfinished upgrade ${m.from} → ${m.to} at step ${m.step}.`);
  if (m.step === "committed") {
    await finishCommit(d, m);
    if (start) await d.control.start();
  } else {
    const reason = m.reason ?? `interrupted at step ${m.step} (power cut or killed)`;
    await rollback(d, m, reason, start);
  }
  return readOutcome(installedDataDir(d.layout));
}
