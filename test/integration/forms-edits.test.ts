/**
 * Forms through the real gateway: a big attachment streams to disk (the service's peak memory stays far below
 * the attachment's size), the OpenRosa edit flow with the real ODK engine (`editInstance` adds
 * meta/deprecatedID and a new instanceID; the box keeps one submission with the earlier data as a revision),
 * and per-form app users (an app user sees and submits only its forms; taking a form away works at once).
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { nodesOf, odkEngine } from "../helpers/odk-engine.js";

let app: TestAppliance;
let all: { serverUrl: string; appUser: { id: string } };
let scoped: { serverUrl: string; appUser: { id: string } };

const xform = (id: string) => `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">
<h:head><h:title>${id}</h:title><model>
<instance><data id="${id}" version="1"><what/><clip/><meta><instanceID/></meta></data></instance>
<bind nodeset="/data/what" type="string" required="true()"/>
<bind nodeset="/data/clip" type="binary"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid" calculate="concat('uuid:', uuid())"/>
</model></h:head>
<h:body><input ref="/data/what"><label>What</label></input><upload ref="/data/clip" mediatype="video/*"><label>Clip</label></upload></h:body></h:html>`;

const jsonPost = (path: string, body: unknown, method = "POST") =>
  app.api(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

async function post(base: string, xml: string, files: Record<string, Uint8Array | Blob> = {}) {
  const fd = new FormData();
  fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
  for (const [n, b] of Object.entries(files)) fd.append(n, b instanceof Blob ? b : new Blob([b]), n);
  const r = await fetch(`${base}/submission`, { method: "POST", body: fd });
  return { status: r.status, text: await r.text() };
}

const sub = (form: string, id: string, what = "leak", clip = "") =>
  `<data id="${form}" version="1"><what>${what}</what><clip>${clip}</clip><meta><instanceID>${id}</instanceID></meta></data>`;

/** The forms service's peak resident memory (VmHWM), in bytes. */
function peakRss(): number {
  const pid = app.supervisor.status().find((s) => s.name === "forms")!.pid!;
  const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;
  return Number(kb) * 1024;
}

beforeAll(async () => {
  app = await startTestAppliance({ services: ["forms"] });
  for (const id of ["pipes", "census"]) {
    const up = await app.api("/api/forms/forms?publish=true", {
      method: "POST",
      headers: { "content-type": "application/xml" },
      body: xform(id),
    });
    expect(up.status, await up.clone().text()).toBe(201);
  }
  all = (await (await jsonPost("/api/forms/app-users", { name: "all-forms" })).json()) as typeof all;
  const r = await jsonPost("/api/forms/app-users", { name: "pipes-only", forms: ["pipes"] });
  expect(r.status).toBe(201);
  scoped = (await r.json()) as typeof scoped;
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

describe("a big attachment", () => {
  it("streams a 64 MiB video to disk: the service's peak memory grows far less than the file", async () => {
    // Warmed up first (code paths compiled, heap grown to its working size), then measured.
    const warm = await post(all.serverUrl, sub("pipes", "uuid:warm-1", "warm", "w.mp4"), {
      "w.mp4": new Uint8Array(4 * 1024 ** 2),
    });
    expect(warm.status, warm.text).toBe(201);
    const before = peakRss();
    const size = 64 * 1024 ** 2;
    const video = new Blob(Array.from({ length: 64 }, (_, i) => new Uint8Array(1024 ** 2).fill(i)));
    const r = await post(all.serverUrl, sub("pipes", "uuid:big-1", "burst", "v.mp4"), { "v.mp4": video });
    expect(r.status, r.text).toBe(201);
    // Held in memory it would cost twice its size at least (the body, then its copy); streamed, what grows is
    // the socket buffers V8 frees in steps of about 32 MiB of external memory, whatever the file's size.
    expect(peakRss() - before).toBeLessThan(size * 0.75);
    const list = (await (await app.api("/api/forms/submissions?formId=pipes")).json()) as {
      submissions: { id: string; attachments: { size: number }[]; complete: boolean }[];
    };
    expect(list.submissions[0]).toMatchObject({ complete: true, attachments: [{ size }] });
    const got = await app.api(`/api/forms/submissions/${list.submissions[0]!.id}/attachments/v.mp4`);
    const body = new Uint8Array(await got.arrayBuffer());
    expect([body.length, body[0], body[size - 1]]).toEqual([size, 0, 63]);
  });

  it("refuses a hostile attachment name and leaves no temporary file behind", async () => {
    const r = await post(all.serverUrl, sub("pipes", "uuid:evil", "x", "a.jpg"), {
      "../../etc/passwd": new Uint8Array(10),
    });
    expect(r.status).toBe(400);
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(`${app.dataDir}/services/forms/incoming`)).toEqual([]);
  });
});

describe("the OpenRosa edit flow (meta/deprecatedID)", () => {
  it("takes the ODK engine's edit of a sent submission as a new revision of the same submission", async () => {
    const first = sub("census", "uuid:edit-1", "two goats");
    expect((await post(all.serverUrl, first)).status).toBe(201);
    const { editInstance } = await odkEngine();
    const form = xform("census");
    const edited = await editInstance(
      form as never,
      {
        inputType: "FORM_INSTANCE_INPUT_RESOLVABLE",
        resolveInstance: () => first,
        attachments: new Map(),
      },
      { form: { fetchFormDefinition: async () => new Response(form) } as never },
    );
    nodesOf(edited.root)
      .find((n) => n.definition?.nodeset === "/data/what")
      .setValue("three goats");
    const payload = await (
      edited.root as never as { prepareInstancePayload(): Promise<{ status: string; data: [FormData] }> }
    ).prepareInstancePayload();
    expect(payload.status).toBe("ready");
    const xml = await (payload.data[0].get("xml_submission_file") as Blob).text();
    expect(xml).toContain("<deprecatedID>uuid:edit-1</deprecatedID>");
    const r = await fetch(`${all.serverUrl}/submission`, { method: "POST", body: payload.data[0] });
    const text = await r.text();
    expect(r.status, text).toBe(201);
    expect(text).toContain("revision 2");
    const list = (await (await app.api("/api/forms/submissions?formId=census")).json()) as {
      total: number;
      submissions: {
        id: string;
        instanceId: string;
        revision: number;
        reviewState: string;
        fields: object;
      }[];
    };
    expect(list.total).toBe(1);
    expect(list.submissions[0]).toMatchObject({
      instanceId: "uuid:edit-1",
      revision: 2,
      reviewState: "edited",
      fields: { "/data/what": "three goats" },
    });
    const history = (await (
      await app.api(`/api/forms/submissions/${list.submissions[0]!.id}/history`)
    ).json()) as { revisions: { revision: number; xml: string }[] };
    expect(history.revisions).toMatchObject([{ revision: 1 }]);
    expect(history.revisions[0]!.xml).toContain("two goats");
    // A resend of either revision stores nothing; an edit of the old one, or of nothing, is refused.
    expect((await post(all.serverUrl, first)).text).toContain("Already received");
    expect(
      (await fetch(`${all.serverUrl}/submission`, { method: "POST", body: payload.data[0] })).status,
    ).toBe(201);
    const stale = sub("census", "uuid:edit-3", "one goat").replace(
      "</instanceID>",
      "</instanceID><deprecatedID>uuid:edit-1</deprecatedID>",
    );
    expect((await post(all.serverUrl, stale)).status).toBe(409);
    const orphan = stale.replace("uuid:edit-1</dep", "uuid:nobody</dep");
    expect((await post(all.serverUrl, orphan)).status).toBe(404);
    const after = (await (await app.api("/api/forms/submissions?formId=census")).json()) as {
      total: number;
      submissions: { revision: number }[];
    };
    expect([after.total, after.submissions[0]!.revision]).toEqual([1, 2]);
  });
});

describe("per-form app users", () => {
  it("lists, serves and takes only the forms assigned, and a form taken away is closed at once", async () => {
    const list = await (await fetch(`${scoped.serverUrl}/formList`)).text();
    expect(list).toContain("<formID>pipes</formID>");
    expect(list).not.toContain("census");
    expect((await fetch(`${scoped.serverUrl}/forms/census/1/form.xml`)).status).toBe(404);
    expect((await post(scoped.serverUrl, sub("census", "uuid:scoped-1"))).status).toBe(403);
    expect((await post(scoped.serverUrl, sub("pipes", "uuid:scoped-2"))).status).toBe(201);
    const set = await jsonPost(
      `/api/forms/app-users/${scoped.appUser.id}/forms`,
      { forms: ["census"] },
      "PUT",
    );
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ forms: ["census"] });
    expect(await (await fetch(`${scoped.serverUrl}/formList`)).text()).not.toContain("pipes");
    expect((await fetch(`${scoped.serverUrl}/forms/pipes/1/form.xml`)).status).toBe(404);
    expect((await post(scoped.serverUrl, sub("pipes", "uuid:scoped-3"))).status).toBe(403);
    expect((await post(scoped.serverUrl, sub("census", "uuid:scoped-4"))).status).toBe(201);
    const bad = await jsonPost(`/api/forms/app-users/${scoped.appUser.id}/forms`, { forms: ["../x"] }, "PUT");
    expect(bad.status).toBe(400);
    const users = (await (await app.api("/api/forms/app-users")).json()) as {
      appUsers: { name: string; forms: string[] | null }[];
    };
    expect(users.appUsers.find((u) => u.name === "all-forms")!.forms).toBeNull();
    expect(
      (await app.api(`/api/forms/app-users/${scoped.appUser.id}/revoke`, { method: "POST" })).status,
    ).toBe(200);
    expect((await fetch(`${scoped.serverUrl}/formList`)).status).toBe(401);
  });
});
