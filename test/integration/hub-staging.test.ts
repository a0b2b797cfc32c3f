/**
 * The hub's blob staging dir is cleaned: partial uploads not written for the max age, and those of revoked or
 * unknown sites at once, but never a file an upload is busy with. The sweep itself on real files (real mtimes)
 * and a real hub database; then a real hub process for the wiring (at start, on its timer, on revocation, and
 * a failed sha256 check).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HubDb, openHubDb } from "../../appliance/hub/db.js";
import { migrateHub } from "../../appliance/hub/migrations.js";
import { addSite, revokeSite } from "../../appliance/hub/sites.js";
import {
  BlobStaging,
  stagingDefaults,
  stagingOptions,
  stagingSweeper,
  sweepStaging,
} from "../../appliance/hub/staging.js";
import { removeDir, tempDir, waitFor } from "../helpers/appliance.js";
import { enrolToken, type HubProcess, hubProcess } from "../helpers/hub.js";

const DAY = 24 * 3_600_000;
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** Writes a staging file of `bytes` bytes last written `ageMs` ago. */
function staged(dir: string, name: string, bytes: number, ageMs = 0): string {
  const file = join(dir, name);
  writeFileSync(file, Buffer.alloc(bytes, 7));
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(file, t, t);
  return file;
}

describe("sweepStaging on real files and a real hub database", () => {
  let root: string;
  let db: HubDb;
  let staging: BlobStaging;
  beforeAll(async () => {
    root = tempDir("nexus-hub-staging-");
    db = await openHubDb({ kind: "pglite", dir: join(root, "pglite") });
    await migrateHub(db);
    await addSite(db, { id: "alpha" });
    await addSite(db, { id: "north-depot" });
    await addSite(db, { id: "gone" });
    await revokeSite(db, "gone");
    staging = new BlobStaging(join(root, "blob-staging"));
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    removeDir(root);
  });

  it("removes expired files and those of revoked or unknown sites, keeps fresh and busy ones", async () => {
    const dir = staging.dir;
    const fresh = staged(dir, `alpha-${sha("fresh")}`, 10, DAY);
    const dashed = staged(dir, `north-depot-${sha("dashed")}`, 11, 6 * DAY);
    const expired = staged(dir, `alpha-${sha("old")}`, 100, 8 * DAY);
    const revoked = staged(dir, `gone-${sha("revoked")}`, 1000);
    const unknown = staged(dir, `ghost-${sha("unknown")}`, 5);
    const busy = staged(dir, `alpha-${sha("busy")}`, 20, 30 * DAY);
    const strayNew = staged(dir, "stray.tmp", 3);
    const strayOld = staged(dir, "stray-old.tmp", 4, 8 * DAY);

    let release = () => {};
    const upload = staging.hold(busy, () => new Promise<void>((r) => (release = r)));
    const r = await sweepStaging(db, staging, { maxAgeMs: stagingDefaults.maxAgeMs });
    expect(r).toEqual({ removed: 4, bytes: 100 + 1000 + 5 + 4, expired: 2, orphaned: 2 });
    for (const f of [fresh, dashed, busy, strayNew]) expect(existsSync(f), f).toBe(true);
    for (const f of [expired, revoked, unknown, strayOld]) expect(existsSync(f), f).toBe(false);

    // Once the upload lets go of it, the next sweep takes it (it is still old: nothing was appended).
    release();
    await upload;
    expect(staging.isBusy(busy)).toBe(false);
    expect(await sweepStaging(db, staging, { maxAgeMs: stagingDefaults.maxAgeMs })).toEqual({
      removed: 1,
      bytes: 20,
      expired: 1,
      orphaned: 0,
    });
    expect(readdirSync(dir).sort()).toEqual(
      [`alpha-${sha("fresh")}`, `north-depot-${sha("dashed")}`, "stray.tmp"].sort(),
    );
  });

  it("the sweeper logs what it removed (count and bytes), one sweep at a time", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    const log = pino({ level: "info" }, sink);
    staged(staging.dir, `gone-${sha("again")}`, 42);
    const sweeper = stagingSweeper(db, staging, log, stagingDefaults);
    // Asked twice at once: the second waits for the first and finds nothing more.
    await Promise.all([sweeper.run(), sweeper.run()]);
    await sweeper.stop();
    const swept = lines.filter((l) => l.removed !== undefined);
    expect(swept).toHaveLength(1);
    expect(swept[0]).toMatchObject({ removed: 1, bytes: 42, orphaned: 1, expired: 0 });
    expect(existsSync(join(staging.dir, `gone-${sha("again")}`))).toBe(false);
  });

  it("settings: defaults, then the environment, then the hub's options; nonsense is refused", () => {
    expect(stagingOptions(undefined, {})).toEqual({ maxAgeMs: 7 * DAY, sweepIntervalMs: 3_600_000 });
    const env = { NEXUS_HUB_STAGING_MAX_AGE_MS: "1000", NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS: "500" };
    expect(stagingOptions(undefined, env)).toEqual({ maxAgeMs: 1000, sweepIntervalMs: 500 });
    expect(stagingOptions({ maxAgeMs: 2000 }, env)).toEqual({ maxAgeMs: 2000, sweepIntervalMs: 500 });
    expect(() => stagingOptions(undefined, { NEXUS_HUB_STAGING_MAX_AGE_MS: "a week" })).toThrow();
    expect(() => stagingOptions(undefined, { NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS: "0" })).toThrow();
    // Past a node timer's limit it would fire every millisecond.
    expect(() => stagingOptions(undefined, { NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS: "3000000000" })).toThrow();
    expect(() => stagingOptions({ sweepIntervalMs: 2 ** 31 }, {})).toThrow(/sweep interval/);
  });
});

describe("a running hub cleans its staging dir", () => {
  let hub: HubProcess;
  let dir: string;
  beforeAll(async () => {
    hub = await hubProcess({
      env: { NEXUS_HUB_STAGING_MAX_AGE_MS: String(DAY), NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS: "300" },
    });
    dir = join(hub.dir, "blob-staging");
    mkdirSync(dir, { recursive: true });
    staged(dir, `left-behind-${sha("before start")}`, 64, 2 * DAY);
    await hub.start();
  }, 90_000);
  afterAll(async () => {
    await hub?.stop();
    if (hub) removeDir(hub.dir);
  });

  const enrolled = async (site: string) => {
    const res = await fetch(`${hub.url()}/api/hub/enrol`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: await enrolToken(hub, site) }),
    });
    const link = (await res.json()) as { user: string; password: string };
    return `Basic ${Buffer.from(`${link.user}:${link.password}`).toString("base64")}`;
  };
  const put = (auth: string, name: string, body: string, size: number) =>
    fetch(`${hub.url()}/api/hub/blobs/${name}`, {
      method: "PUT",
      body,
      headers: { authorization: auth, "x-blob-size": String(size), "upload-offset": "0" },
    });

  it("at start and then on its timer", async () => {
    await waitFor(() => readdirSync(dir).length === 0, 20_000, "the sweep at start");
    const later = staged(dir, `later-${sha("after start")}`, 8, 2 * DAY);
    await waitFor(() => !existsSync(later), 20_000, "a periodic sweep");
  });

  it("a partial upload stays while its site is active and goes when the site is revoked", async () => {
    const auth = await enrolled("quarry");
    const name = sha("the whole content");
    expect((await put(auth, name, "the whole", 17)).status).toBe(200);
    const file = join(dir, `quarry-${name}`);
    expect(statSync(file).size).toBe(9);
    await new Promise((r) => setTimeout(r, 1000)); // a few sweeps
    expect(existsSync(file)).toBe(true);
    expect((await hub.api("DELETE", "/api/hub/sites/quarry")).status).toBe(200);
    await waitFor(() => !existsSync(file), 10_000, "the revoked site's partial upload removed");
  });

  it("a completed upload that fails its sha256 check leaves no staging file", async () => {
    const auth = await enrolled("smelter");
    const name = sha("expected bytes");
    expect((await put(auth, name, "other bytes!!!", 14)).status).toBe(422);
    expect(existsSync(join(dir, `smelter-${name}`))).toBe(false);
  });
});
