/**
 * Semantic search shows each caller only what they may read (services/ai/search-access.ts), through a real
 * appliance with identity, files, forms and ai: a photo's OCR text in a team's space is found by its members and
 * no one else, and no longer by someone removed from the team; a file in one's own space is found by its owner
 * and admins only; a forms attachment's text by holders of forms:read only, no longer once the role loses it;
 * texts indexed through POST /index belong to who indexed them (others cannot find, replace or remove them),
 * and `limit` counts allowed hits only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { textImage } from "../helpers/audio.js";
import { addPerson, addTeam, login, type Person, setupAdmin } from "../helpers/people.js";

let app: TestAppliance;
let admin: Person;
let alice: Person;
let bob: Person;
let carl: Person;
let dana: Person;
let team: string;

async function call(p: Person, method: string, path: string, body?: unknown) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${p.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
  return { status: res.status, body: (await res.json()) as any };
}

/** The ids `p` finds for `query` (of `kind`, `limit` hits). */
async function found(p: Person, query: string, kind?: string, limit = 100): Promise<string[]> {
  const r = await call(p, "POST", "/api/ai/search", { query, limit, ...(kind ? { kind } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body.hits as { id: string }[]).map((h) => h.id);
}

beforeAll(async () => {
  app = await startTestAppliance({
    services: ["identity", "files", "forms", "ai"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" },
  });
  admin = await setupAdmin(app);
  const roles = [
    { name: "indexer", permissions: ["ai:index"] },
    { name: "form-searcher", permissions: ["ai:read", "forms:read"] },
    { name: "file-searcher", permissions: ["ai:read", "files:read"] },
  ];
  for (const r of roles) expect((await call(admin, "POST", "/api/identity/roles", r)).status).toBe(201);
  alice = await addPerson(app, admin, "alice", ["field-agent", "indexer"]);
  bob = await addPerson(app, admin, "bob", ["field-agent", "indexer"]);
  carl = await addPerson(app, admin, "carl", ["field-agent"]);
  dana = await addPerson(app, admin, "dana", ["form-searcher"]);
  team = await addTeam(app, admin, "crew", [alice, carl]);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

/** Uploads to `space` as `p`; the new file's id. */
async function upload(p: Person, space: string, path: string, body: Buffer, contentType: string) {
  const res = await fetch(`${app.url}/api/files/spaces/${space}/content/${path}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${p.token}`, "content-type": contentType },
    body,
  });
  expect(res.status).toBeLessThan(300);
  return ((await res.json()) as { file: { id: string } }).file.id;
}

describe("files in search", () => {
  it("a team space's OCR text: found by its members, not by others, and not after leaving the team", async () => {
    const photo = textImage(["ZEPHYR VAULT 7731", "combination secret"]);
    const id = await upload(alice, `team:${team}`, "safe.png", photo, "image/png");
    const query = "zephyr vault combination";
    await waitFor(async () => (await found(alice, query, "file-ocr")).includes(`file-ocr:${id}`), 30_000);
    expect(await found(carl, query, "file-ocr")).toContain(`file-ocr:${id}`);
    expect(await found(admin, query, "file-ocr")).toContain(`file-ocr:${id}`);
    expect(await found(bob, query, "file-ocr")).not.toContain(`file-ocr:${id}`);
    expect(await found(bob, "safe png")).not.toContain(`file:${id}`);

    const removed = await call(admin, "DELETE", `/api/identity/teams/${team}/members/${carl.id}`);
    expect(removed.status).toBe(200);
    carl.token = await login(app, carl.username, carl.password);
    expect(await found(carl, query, "file-ocr")).not.toContain(`file-ocr:${id}`);
    expect(await found(alice, query, "file-ocr")).toContain(`file-ocr:${id}`);
  }, 60_000);

  it("a file in one's own space: found by its owner and admins only", async () => {
    const id = await upload(
      alice,
      "me",
      "plans/quarantine-greenhouse-layout.txt",
      Buffer.from("x"),
      "text/plain",
    );
    const query = "greenhouse quarantine layout";
    await waitFor(async () => (await found(alice, query, "file-name")).includes(`file:${id}`), 30_000);
    expect(await found(admin, query, "file-name")).toContain(`file:${id}`);
    for (const p of [bob, carl, dana]) expect(await found(p, query)).not.toContain(`file:${id}`);
  }, 60_000);
});

describe("forms attachments in search", () => {
  const xform = `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
<h:head><h:title>Site photo</h:title><model>
<instance><data id="sitephoto" version="1"><photo/><meta><instanceID/></meta></data></instance>
<bind nodeset="/data/photo" type="binary"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
</model></h:head>
<h:body><upload ref="/data/photo" mediatype="image/*"><label>Photo</label></upload></h:body></h:html>`;

  it("is found with forms:read only, and no longer once the role loses it", async () => {
    const up = await fetch(`${app.url}/api/forms/forms?publish=true`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/xml" },
      body: xform,
    });
    expect(up.status, await up.clone().text()).toBe(201);
    const { serverUrl } = (await call(admin, "POST", "/api/forms/app-users", { name: "tablet" })).body;
    const fd = new FormData();
    const xml =
      `<data id="sitephoto" version="1"><photo>site.png</photo>` +
      `<meta><instanceID>uuid:9a0c7e1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b</instanceID></meta></data>`;
    fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
    const photo = textImage(["BORDER CROSSING KILO", "password orchid"]);
    fd.append("site.png", new Blob([new Uint8Array(photo)], { type: "image/png" }), "site.png");
    const sub = await fetch(`${serverUrl}/submission`, { method: "POST", body: fd });
    expect(sub.status, await sub.text()).toBe(201);

    const query = "border crossing kilo";
    const formHits = async (p: Person) =>
      (await found(p, query, "form-ocr")).filter((id) => id.endsWith("/site.png"));
    await waitFor(async () => (await formHits(dana)).length === 1, 30_000);
    expect(await formHits(alice)).toHaveLength(1);
    const erin = await addPerson(app, admin, "erin", ["file-searcher"]);
    expect(await formHits(erin)).toEqual([]);

    const patched = await call(admin, "PATCH", "/api/identity/roles/form-searcher", {
      permissions: ["ai:read"],
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    dana.token = await login(app, dana.username, dana.password);
    expect(await formHits(dana)).toEqual([]);
  }, 60_000);
});

describe("texts indexed through the API", () => {
  it("belong to who indexed them; limit counts allowed hits; others cannot replace or remove them", async () => {
    const mine = [{ id: "alice-note", kind: "note", text: "the spare key is under the blue flower pot" }];
    expect((await call(alice, "POST", "/api/ai/index", { documents: mine })).status).toBe(200);
    const other = [{ id: "bob-note", kind: "note", text: "bicycle repair checklist" }];
    expect((await call(bob, "POST", "/api/ai/index", { documents: other })).status).toBe(200);

    const query = "where is the spare key hidden";
    expect((await found(alice, query, "note", 1))[0]).toBe("alice-note");
    // Alice's note ranks first for this query, but bob's one allowed hit still comes back.
    expect(await found(bob, query, "note", 1)).toEqual(["bob-note"]);
    expect(await found(admin, query, "note")).toContain("alice-note");

    const steal = [{ id: "alice-note", kind: "note", text: "overwritten" }];
    expect((await call(bob, "POST", "/api/ai/index", { documents: steal })).status).toBe(409);
    expect((await call(bob, "DELETE", "/api/ai/index/alice-note")).status).toBe(404);
    expect((await found(alice, query, "note", 1))[0]).toBe("alice-note");
    expect((await call(alice, "DELETE", "/api/ai/index/alice-note")).status).toBe(200);
    expect(await found(alice, query, "note")).not.toContain("alice-note");
  }, 60_000);

  it("pipeline documents cannot be replaced or removed through the API", async () => {
    const id = await upload(bob, "me", "bobs-tractor-manual.txt", Buffer.from("x"), "text/plain");
    await waitFor(
      async () => (await found(bob, "tractor manual", "file-name")).includes(`file:${id}`),
      30_000,
    );
    const doc = [{ id: `file:${id}`, kind: "file-name", text: "hijacked" }];
    expect((await call(bob, "POST", "/api/ai/index", { documents: doc })).status).toBe(409);
    expect((await call(admin, "POST", "/api/ai/index", { documents: doc })).status).toBe(409);
    expect((await call(bob, "DELETE", `/api/ai/index/file:${id}`)).status).toBe(403);
    expect((await call(alice, "DELETE", `/api/ai/index/file:${id}`)).status).toBe(404);
  }, 60_000);
});
