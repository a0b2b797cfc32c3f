/**
 * The hub offering bundles (appliance/hub/bundle-routes.ts, bundles.ts) through a real hub process on PGlite:
 * upload verified against the trusted key, approval by stages, each site seeing and downloading only what is
 * offered to it, the next stage opening when a stage committed, a rollback halting the rollout, a newer
 * approval superseding an older one, and malformed, hostile and unauthorised requests refused. The bundles are
 * tiny signed folders (the real bundle, installed and upgraded from the hub, is in bundle.test.ts).
 */
import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HubLink, readHubLink } from "../../appliance/sync/hub-link.js";
import { downloadOffer, hubOffer, reportToHub } from "../../appliance/upgrade/from-hub.js";
import { publicKeyPem } from "../../appliance/upgrade/signature.js";
import { signStaged } from "../../installer/bundle/build.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { enrolWith, type HubProcess, hubProcess } from "../helpers/hub.js";

let tmp: string;
let hub: HubProcess;
let key: KeyObject;
const site: Record<string, HubLink> = {};

/** A tiny signed bundle as a tar.gz: one folder, a file, the manifest and its signature. */
async function tinyBundle(version: string, signer = key, content = "x"): Promise<string> {
  const dir = join(tmp, `b-${version}-${Math.random().toString(36).slice(2)}`, `nexus-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "install.sh"), `#!/bin/sh\n# ${content}\n`);
  await signStaged(dir, version, signer);
  const file = `${dir}.tar.gz`;
  execFileSync("tar", ["-czf", file, "-C", join(dir, ".."), `nexus-${version}`]);
  return file;
}

const upload = async (body: Buffer | string, auth = `Bearer ${hub.adminToken()}`) => {
  const res = await fetch(`${hub.url()}/api/hub/bundles/upload`, {
    method: "PUT",
    headers: { authorization: auth },
    body: typeof body === "string" ? readFileSync(body) : body,
  });
  return { status: res.status, body: (await res.json()) as { message?: string; version?: string } };
};
const approve = (version: string, stages: unknown) =>
  hub.api<{ message?: string }>("POST", `/api/hub/bundles/${version}/rollout`, { stages });
const view = async () =>
  (
    await hub.api<{
      releases: { version: string; rollout: { state: string; stage: number; reason: string } | null }[];
    }>("GET", "/api/hub/bundles")
  ).body.releases;
const rolloutOf = async (v: string) => (await view()).find((r) => r.version === v)?.rollout;
const basic = (l: HubLink) => `Basic ${Buffer.from(`${l.user}:${l.password}`).toString("base64")}`;

beforeAll(async () => {
  tmp = tempDir("nexus-hub-bundles-");
  key = generateKeyPairSync("ed25519").privateKey;
  const pub = join(tmp, "release.pem");
  writeFileSync(pub, publicKeyPem(key));
  hub = await hubProcess({ env: { NEXUS_HUB_BUNDLE_TRUST_KEYS: pub } });
  await hub.start();
  for (const s of ["site-a", "site-b", "site-c"]) {
    await enrolWith(hub, join(tmp, s), s);
    site[s] = readHubLink(join(tmp, s)) as HubLink;
  }
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (hub) removeDir(hub.dir);
  if (tmp) removeDir(tmp);
}, 60_000);

describe("bundles on the hub", () => {
  it("keeps only verified uploads from the admin; the same file again is a no-op, other content is refused", async () => {
    const good = await tinyBundle("1.0.0");
    expect((await upload(good)).status).toBe(201);
    expect((await upload(good)).status).toBe(200);
    expect((await upload(await tinyBundle("1.0.0", key, "other"))).status).toBe(409);
    const foreign = await upload(await tinyBundle("1.0.1", generateKeyPairSync("ed25519").privateKey));
    expect(foreign.status).toBe(422);
    expect(foreign.body.message).toMatch(/signature does not verify/);
    expect((await upload(Buffer.from("not a tarball at all"))).status).toBe(422);
    expect((await upload(good, "Bearer wrong")).status).toBe(401);
    expect((await upload(good, basic(site["site-a"] as HubLink))).status).toBe(401);
    expect((await view()).map((r) => r.version)).toEqual(["1.0.0"]);
  });

  it.each([
    ["a malformed version", "1.0", [{ sites: ["site-a"] }], 400],
    ["a traversal as version", "..%2F..%2Fetc", [{ sites: ["site-a"] }], 400],
    ["an unknown version", "9.9.9", [{ sites: ["site-a"] }], 404],
    ["no stage", "1.0.0", [], 400],
    ["a percentage of 0", "1.0.0", [{ percent: 0 }], 400],
    ["an unknown site", "1.0.0", [{ sites: ["nowhere"] }], 400],
    ["a hostile site id", "1.0.0", [{ sites: ["a'; DROP TABLE sites;--"] }], 400],
    ["an extra key", "1.0.0", [{ sites: ["site-a"], all: true }], 400],
  ])("refuses an approval with %s", async (_what, version, stages, status) => {
    expect((await approve(version, stages)).status).toBe(status);
  });

  it("offers stage by stage; a site sees and downloads only its offer; a rollback halts it", async () => {
    const a = site["site-a"] as HubLink;
    const b = site["site-b"] as HubLink;
    const c = site["site-c"] as HubLink;
    expect((await approve("1.0.0", [{ sites: ["site-a"] }, { percent: 100 }])).status).toBe(201);
    const offer = await hubOffer(a);
    expect(offer).toMatchObject({ version: "1.0.0" });
    expect(await hubOffer(b)).toBeNull();
    const fake = { ...(offer as NonNullable<typeof offer>) };
    await expect(downloadOffer(b, fake, join(tmp, "b.tar.gz"))).rejects.toThrow(/404/);
    const file = join(tmp, "a.tar.gz");
    await downloadOffer(a, offer as NonNullable<typeof offer>, file);
    expect(createHash("sha256").update(readFileSync(file)).digest("hex")).toBe(offer?.sha256);
    // A box that lies about the size is caught by the download, not trusted.
    await expect(
      downloadOffer(a, { ...(offer as NonNullable<typeof offer>), size: 10 }, join(tmp, "short")),
    ).rejects.toThrow(/more than the offered/);
    await reportToHub(a, { version: "1.0.0", outcome: "committed", running: "1.0.0" });
    expect(await rolloutOf("1.0.0")).toMatchObject({ stage: 1, state: "active" });
    expect(await hubOffer(b)).toMatchObject({ version: "1.0.0" });
    await reportToHub(b, { version: "1.0.0", outcome: "committed", running: "1.0.0" });
    await reportToHub(c, {
      version: "1.0.0",
      outcome: "rolled-back",
      reason: "migration failed",
      running: "0.9.0",
    });
    const ro = await rolloutOf("1.0.0");
    expect(ro).toMatchObject({ state: "halted", stage: 1 });
    expect(ro?.reason).toMatch(/site-c: rolled-back \(migration failed\)/);
    for (const l of [a, b, c]) expect(await hubOffer(l)).toBeNull();
    const sites = (await hub.api<{ sites: { id: string; version: string }[] }>("GET", "/api/hub/bundles"))
      .body.sites;
    expect(Object.fromEntries(sites.map((s) => [s.id, s.version]))).toMatchObject({
      "site-a": "1.0.0",
      "site-c": "0.9.0",
    });
  });

  it("a newer approval supersedes the active one; concurrent reports open the stages once", async () => {
    for (const v of ["1.1.0", "1.2.0"]) expect((await upload(await tinyBundle(v))).status).toBe(201);
    expect((await approve("1.1.0", [{ percent: 100 }])).status).toBe(201);
    expect((await approve("1.2.0", [{ percent: 50 }, { percent: 100 }])).status).toBe(201);
    expect(await rolloutOf("1.1.0")).toMatchObject({ state: "halted", reason: "superseded by 1.2.0" });
    const links = Object.values(site);
    const offered = (await Promise.all(links.map((l) => hubOffer(l)))).filter(Boolean);
    expect(offered.length).toBe(2); // ceil(3 × 50 %)
    await Promise.all(links.map((l) => reportToHub(l, { version: "1.2.0", outcome: "committed" })));
    expect(await rolloutOf("1.2.0")).toMatchObject({ state: "done", stage: 1 });
  });

  it("refuses malformed and oversized reports, and boxes without credentials", async () => {
    const a = site["site-a"] as HubLink;
    const post = (body: string, auth = basic(a)) =>
      fetch(`${hub.url()}/api/hub/bundles/report`, {
        method: "POST",
        headers: { authorization: auth, "content-type": "application/json" },
        body,
      }).then((r) => r.status);
    expect(await post(JSON.stringify({ version: "../../x", outcome: "committed" }))).toBe(400);
    expect(await post(JSON.stringify({ version: "1.2.0", outcome: "exploded" }))).toBe(400);
    expect(
      await post(JSON.stringify({ version: "1.2.0", outcome: "failed", reason: "r".repeat(3000) })),
    ).toBe(400);
    expect(await post("{not json")).toBe(400);
    expect(
      await post(JSON.stringify({ version: "1.2.0", outcome: "failed", reason: "x".repeat(70_000) })),
    ).toBe(413);
    expect(
      await post(JSON.stringify({ version: "1.2.0", outcome: "committed" }), "Basic c2l0ZS1hOndyb25n"),
    ).toBe(401);
    const offer = await fetch(`${hub.url()}/api/hub/bundles/offer`).then((r) => r.status);
    expect(offer).toBe(401);
    expect((await hub.api("GET", "/api/hub/bundles/1.2.0/file")).status).toBe(401);
  });
});
