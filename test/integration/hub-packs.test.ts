/**
 * The hub distributing model packs (appliance/hub/pack-routes.ts, packs.ts; the box's side in
 * services/ai/hub-packs.ts) with a real hub process on PGlite and a real enrolled box running the AI service:
 * uploads verified like a box verifies them (tampered, unsigned, foreign-signed, oversized and garbage packs
 * refused), admin only (a box's credentials 403, none 401), assignment to a site list, the box installing the
 * pack through its normal install path and running it, the hub listing it installed there, a site not assigned
 * seeing and downloading nothing, an unassignment that says so removing it from the box, and a box that keeps
 * asking through a hub outage and takes what was assigned once the hub is back.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HubLink, readHubLink } from "../../appliance/sync/hub-link.js";
import { buildPack } from "../../services/ai/pack.js";
import { removeDir, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { enrolledBox, enrolWith, type HubProcess, hubProcess, teardown } from "../helpers/hub.js";
import { addManifest, addModel } from "../helpers/onnx.js";
import { rawRequest, rawRequestText } from "../helpers/raw-http.js";

const vendor = generateKeyPairSync("ed25519");
let tmp: string;
let hub: HubProcess;
let box: TestAppliance;
let other: HubLink;
const model = addModel(4);

const basic = (l: HubLink) => `Basic ${Buffer.from(`${l.user}:${l.password}`).toString("base64")}`;
const upload = async (pack: Buffer, auth = `Bearer ${hub.adminToken()}`) => {
  const res = await fetch(`${hub.url()}/api/hub/models/upload`, {
    method: "PUT",
    headers: { authorization: auth },
    body: pack,
  });
  return { status: res.status, body: (await res.json()) as { message?: string; sha256?: string } };
};
const asSite = (l: HubLink, path: string, init: RequestInit = {}) =>
  fetch(`${hub.url()}${path}`, { ...init, headers: { authorization: basic(l), ...init.headers } });
type PackView = {
  name: string;
  version: string;
  assignment: { state: string } | null;
  sites: { site: string; state: string; reason: string | null }[];
};
const view = async () => (await hub.api<{ packs: PackView[] }>("GET", "/api/hub/models")).body.packs;
const siteState = async (version: string, site: string) =>
  (await view()).find((p) => p.version === version)?.sites.find((s) => s.site === site)?.state;
const aiModel = async (name: string) => {
  const res = await box.api(`/api/ai/models/${name}`);
  return res.status === 200 ? ((await res.json()) as { version: string; signer: string | null }) : null;
};

beforeAll(async () => {
  tmp = tempDir("nexus-hub-packs-");
  const pub = join(tmp, "vendor.pem");
  writeFileSync(pub, vendor.publicKey.export({ type: "spki", format: "pem" }));
  hub = await hubProcess({ env: { NEXUS_HUB_PACK_TRUST_KEYS: pub, NEXUS_HUB_PACK_MAX_BYTES: "200000" } });
  await hub.start();
  box = await enrolledBox(hub, "site-a", ["ai"], {
    config: { serviceConfig: { ai: { hubPollMs: 250, builtinPacks: false } } },
  });
  // The box trusts the same vendor key for packs (its own trusted-keys folder).
  const keys = join(box.dataDir, "services", "ai", "trusted-keys");
  mkdirSync(keys, { recursive: true });
  writeFileSync(join(keys, "vendor.pem"), vendor.publicKey.export({ type: "spki", format: "pem" }));
  await enrolWith(hub, join(tmp, "site-b"), "site-b");
  other = readHubLink(join(tmp, "site-b")) as HubLink;
}, 120_000);

afterAll(async () => {
  await teardown([box], hub);
  if (tmp) removeDir(tmp);
}, 60_000);

describe("model packs on the hub", () => {
  it("keeps only verified packs from the admin", async () => {
    const good = await buildPack(addManifest(model), { "model.onnx": model }, vendor.privateKey);
    // The same pack twice at once: stored once, one 201 and one 200, never a 500.
    const both = await Promise.all([upload(good), upload(good)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 201]);
    expect((await upload(good)).status).toBe(200);
    const again = await buildPack(addManifest(model, 4, { description: "other" }), { "model.onnx": model });
    expect((await upload(again)).status).toBe(422); // unsigned
    // Same manifest and signature, other model bytes: the checksum gives it away.
    const tampered = await buildPack(addManifest(model), { "model.onnx": addModel(5) }, vendor.privateKey);
    const t = await upload(tampered);
    expect(t.status).toBe(422);
    expect(t.body.message).toMatch(/checksum mismatch/);
    const foreign = generateKeyPairSync("ed25519").privateKey;
    const f = await upload(await buildPack(addManifest(model), { "model.onnx": model }, foreign));
    expect(f.body.message).toMatch(/does not verify/);
    expect((await upload(Buffer.from("not a tar archive, only words ".repeat(40)))).status).toBe(422);
    // Over the hub's cap (200 kB here): refused from its declared length, or while it streams (chunked).
    const port = Number(new URL(hub.url()).port);
    const head = (framing: Record<string, string>) =>
      Buffer.from(
        rawRequestText("PUT", "/api/hub/models/upload", {
          authorization: `Bearer ${hub.adminToken()}`,
          ...framing,
        }),
      );
    const declared = Buffer.concat([head({ "content-length": "300000" }), Buffer.alloc(300_000, 1)]);
    expect((await rawRequest(port, declared)).response?.status).toBe(413);
    const chunk = Buffer.concat([Buffer.from("10000\r\n"), Buffer.alloc(0x10000, 1), Buffer.from("\r\n")]);
    const chunked = Buffer.concat([
      head({ "transfer-encoding": "chunked" }),
      ...Array(4).fill(chunk),
      Buffer.from("0\r\n\r\n"),
    ]);
    expect((await rawRequest(port, chunked)).response?.status).toBe(413);
    const other2 = await buildPack(
      addManifest(model, 4, { description: "x" }),
      { "model.onnx": model },
      vendor.privateKey,
    );
    expect((await upload(other2)).status).toBe(409); // same name and version, other content
    expect((await upload(good, basic(other))).status).toBe(403);
    expect((await upload(good, "Bearer wrong")).status).toBe(401);
    expect((await upload(good, "")).status).toBe(401);
    expect((await view()).map((p) => `${p.name}@${p.version}`)).toEqual(["tiny-add@1.0.0"]);
  });

  it.each([
    ["an unknown pack", "tiny-add/9.9.9/assign", { sites: "all" }, 404],
    ["a hostile name", "..%2F..%2Fetc/1.0.0/assign", { sites: "all" }, 400],
    ["an unknown site", "tiny-add/1.0.0/assign", { sites: ["nowhere"] }, 400],
    ["an injected site id", "tiny-add/1.0.0/assign", { sites: ["a'; DROP TABLE sites;--"] }, 400],
    ["an extra key", "tiny-add/1.0.0/assign", { sites: "all", force: true }, 400],
    ["no assignment", "tiny-add/1.0.0/unassign", {}, 404],
  ])("refuses %s", async (_what, path, body, status) => {
    expect((await hub.api("POST", `/api/hub/models/${path}`, body)).status).toBe(status);
  });

  it("an assigned site installs and runs it; another site sees nothing; unassigning removes it when told", async () => {
    const assign = await asSite(other, "/api/hub/models/tiny-add/1.0.0/assign", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sites: ["site-b"] }),
    });
    expect(assign.status).toBe(403);
    const r = await hub.api("POST", "/api/hub/models/tiny-add/1.0.0/assign", {
      sites: ["site-a"],
      removeOnUnassign: true,
    });
    expect(r.status).toBe(201);
    await waitFor(async () => (await siteState("1.0.0", "site-a")) === "installed", 30_000, "installed");
    expect((await aiModel("tiny-add"))?.signer).toMatch(/^[0-9a-f]{16}$/);
    const res = await box.api("/api/ai/infer/tiny-add", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        inputs: { a: { shape: [1, 4], data: [1, 2, 3, 4] }, b: { shape: [1, 4], data: [1, 1, 1, 1] } },
      }),
    });
    expect(((await res.json()) as { outputs: { sum: { data: number[] } } }).outputs.sum.data).toEqual([
      2, 3, 4, 5,
    ]);
    // site-b is not assigned: no offer, no download, no report.
    expect(await (await asSite(other, "/api/hub/models/offers")).json()).toEqual({ install: [], remove: [] });
    expect((await asSite(other, "/api/hub/models/tiny-add/1.0.0/file")).status).toBe(404);
    const rep = await asSite(other, "/api/hub/models/report", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "tiny-add", version: "1.0.0", outcome: "installed" }),
    });
    expect(rep.status).toBe(409);
    expect((await view())[0]?.sites.map((s) => s.site)).toEqual(["site-a"]);

    expect((await hub.api("POST", "/api/hub/models/tiny-add/1.0.0/unassign", {})).status).toBe(200);
    await waitFor(async () => (await siteState("1.0.0", "site-a")) === "removed", 30_000, "removed");
    expect(await aiModel("tiny-add")).toBeNull();
  });

  it("keeps asking while the hub is away, and takes what was assigned once it is back", async () => {
    const status = async () =>
      (await (await box.api("/api/ai/hub-packs")).json()) as { enrolled: boolean; lastError: string | null };
    expect((await status()).enrolled).toBe(true);
    await hub.stop();
    await waitFor(
      async () => /cannot reach the hub/.test((await status()).lastError ?? ""),
      20_000,
      "offline",
    );
    await hub.start();
    const next = addModel(4);
    const pack = await buildPack(
      addManifest(next, 4, { version: "1.1.0" }),
      { "model.onnx": next },
      vendor.privateKey,
    );
    expect((await upload(pack)).status).toBe(201);
    expect((await hub.api("POST", "/api/hub/models/tiny-add/1.1.0/assign", { sites: "all" })).status).toBe(
      201,
    );
    await waitFor(async () => (await aiModel("tiny-add"))?.version === "1.1.0", 30_000, "1.1.0 installed");
    await waitFor(async () => (await siteState("1.1.0", "site-a")) === "installed", 30_000, "reported");
    expect((await status()).lastError).toBeNull();
    // "all": site-b (enrolled, no box running) is listed as pending.
    expect(await siteState("1.1.0", "site-b")).toBe("pending");
  });
});
