/**
 * The backup routes of the gateway's own API against a real box (identity + system) backing up to a folder:
 * who may call what (401, 403 for a key that may only read), bad bodies, ids and queries (400 in the one
 * error shape), a backup started through the API and followed to the end, one job at a time (409), verify,
 * the restore dry run, prune, and the /metrics series afterwards.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupJobSchema, backupsSchema } from "../../appliance/gateway/appliance-backup-routes.js";
import { removeDir, tempDir, waitFor } from "../helpers/appliance.js";
import {
  type Box,
  bearer,
  type Creds,
  call,
  createKey,
  expectError,
  Raw,
  type Session,
  setupAdmin,
  startIdentity,
} from "../helpers/identity.js";
import { metricValue } from "../helpers/prometheus.js";

let box: Box;
let admin: Session;
let reader: Creds;
let dir: string;

beforeAll(async () => {
  dir = tempDir("nexus-backup-api-");
  writeFileSync(join(dir, "passphrase"), "api test passphrase\n", { mode: 0o600 });
  box = await startIdentity({
    NEXUS_BACKUP_DESTINATION: join(dir, "dest"),
    NEXUS_BACKUP_PASSPHRASE_FILE: join(dir, "passphrase"),
    NEXUS_BACKUP_SCRYPT_WORK_FACTOR: "12",
  });
  admin = await setupAdmin(box);
  reader = { key: (await createKey(box, bearer(admin), ["appliance:read"])).secret };
}, 90_000);

afterAll(async () => {
  await box?.stop();
  if (dir) removeDir(dir);
});

const api = (method: string, path: string, as?: Creds, body?: unknown) =>
  call(box, method, `/api/appliance/backups${path}`, { as, body });

/** Follows a job until it has finished; returns it. */
async function finished(id: string) {
  let job: { state: string } = { state: "running" };
  await waitFor(
    async () => {
      job = (await api("GET", `/jobs/${id}`, reader)).body;
      return job.state !== "running";
    },
    60_000,
    `backup job ${id}`,
  );
  expect(backupJobSchema.strict().safeParse(job).error).toBeUndefined();
  return job as { state: string; result: Record<string, unknown>; error: string | null };
}

describe("backups API: who may call it", () => {
  it("needs credentials (401), and appliance:write to act (403 for a read-only key)", async () => {
    expectError(await api("GET", ""), 401);
    expectError(await api("POST", ""), 401);
    expect((await api("GET", "", reader)).status).toBe(200);
    for (const [method, path] of [
      ["POST", ""],
      ["POST", "/prune"],
      ["POST", "/20261207T023000Z-00000000/verify"],
      ["POST", "/20261207T023000Z-00000000/restore-dry-run"],
    ] as const) {
      expectError(await api(method, path, reader), 403);
    }
  });
});

describe("backups API: bad input", () => {
  it("refuses bad bodies, ids and queries with 400 (415 for a body not JSON) in the one error shape", async () => {
    const as = bearer(admin);
    expectError(await api("POST", "", as, { includeSecrets: "yes" }), 400);
    expectError(await api("POST", "", as, { includeSecrets: true, rm: "-rf" }), 400);
    expectError(await api("POST", "", as, new Raw("{not json")), 400);
    expectError(await api("POST", "", as, ["x".repeat(10_000)]), 400);
    expectError(await api("POST", "/prune", as, { dryRun: true }), 400);
    const plain = await call(box, "POST", "/api/appliance/backups", {
      as,
      body: new Raw("includeSecrets=false"),
      headers: { "content-type": "text/plain" },
    });
    expectError(plain, 415);
    expectError(await api("GET", "?x=1", as), 400);
    expectError(await api("GET", "/jobs/not-a-uuid", as), 400);
    expectError(await api("GET", "/jobs/00000000-0000-4000-8000-000000000000", as), 404);
    expectError(await api("POST", "/..%2F..%2Fetc/verify", as), 400);
    expectError(await api("POST", "/a'%3B--/verify", as), 400);
    expectError(await api("POST", "/20261207T023000Z-00000000/verify", as), 404);
    expectError(await api("DELETE", "", as), 405);
  });
});

describe("backups API: a backup from start to end", () => {
  it("starts a backup (202), one job at a time (409), shows progress, lists it, verifies, dry-runs a restore, prunes", async () => {
    const as = bearer(admin);
    const empty = (await api("GET", "", as)).body;
    expect(backupsSchema.strict().safeParse(empty).error).toBeUndefined();
    expect(empty).toMatchObject({ backups: [], schedule: "30 2 * * *", lastSuccessAt: null, running: null });
    expect(empty.destination).toContain(join(dir, "dest"));
    expect(Date.parse(empty.nextRunAt)).toBeGreaterThan(Date.now());

    const [one, two] = await Promise.all([
      api("POST", "", as, { includeSecrets: false }),
      api("POST", "", as),
    ]);
    const started = [one, two].find((r) => r.status === 202)!;
    const refused = [one, two].find((r) => r.status !== 202)!;
    expectError(refused, 409, "running");
    expect(started.body).toMatchObject({ kind: "backup", reason: "manual", state: "running" });
    const job = await finished(started.body.id);
    expect(job.state, job.error ?? "").toBe("succeeded");

    const list = (await api("GET", "", reader)).body;
    expect(list.backups).toHaveLength(1);
    const backup = list.backups[0];
    expect(backup.sizeBytes).toBeGreaterThan(0);
    expect(list.lastSuccessAt).not.toBeNull();
    expect(list.lastBytes).toBe(backup.sizeBytes);

    const verify = await api("POST", `/${backup.id}/verify`, as);
    expect(verify.status, verify.text).toBe(202);
    expect((await finished(verify.body.id)).result).toEqual({ ok: true });

    const dry = await api("POST", `/${backup.id}/restore-dry-run`, as);
    expect(dry.status, dry.text).toBe(202);
    const plan = await finished(dry.body.id);
    expect(plan.state, plan.error ?? "").toBe("succeeded");
    expect(plan.result).toMatchObject({ applied: false });

    const prune = await api("POST", "/prune", as);
    expect(prune.status).toBe(202);
    expect((await finished(prune.body.id)).result).toMatchObject({ kept: [backup.id], removed: [] });

    const metrics = await fetch(`${box.url}/metrics`, {
      headers: { authorization: `Bearer ${admin.token}` },
    });
    const text = await metrics.text();
    expect(metricValue(text, "nexus_backup_last_success_timestamp_seconds")).toBeCloseTo(
      Date.parse(list.lastSuccessAt) / 1000,
    );
    expect(metricValue(text, "nexus_backup_bytes")).toBe(backup.sizeBytes);
    expect(metricValue(text, "nexus_backup_failures_total")).toBe(0);
  });
});
