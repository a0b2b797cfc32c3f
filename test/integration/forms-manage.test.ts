/**
 * The forms management API through the real gateway: versions draft → published → archived (a published one
 * immutable), form attachments (a CSV for select_one_from_file) in the OpenRosa manifest, review states with
 * a comment, edits kept as revisions, events in the outbox, counts per day, and XLSForm errors by cell.
 */
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { xlsx } from "../helpers/xlsx.js";

let app: TestAppliance;
let base: string;

const xform = (version: string, extra = "") => `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
<h:head><h:title>Water point</h:title><model>
<instance><data id="water" version="${version}"><village/><count/><meta><instanceID/></meta></data></instance>
<instance id="villages" src="jr://file-csv/villages.csv"/>
<bind nodeset="/data/village" type="string" required="true()"/>
<bind nodeset="/data/count" type="int"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
</model></h:head>
<h:body><select1 ref="/data/village"><label>Village</label><itemset nodeset="instance('villages')/root/item"><value ref="name"/><label ref="label"/></itemset></select1>
<input ref="/data/count"><label>How many</label></input>${extra}</h:body></h:html>`;

const json = async <T = Record<string, unknown>>(r: Response) => (await r.json()) as T;
const upload = (body: string) =>
  app.api("/api/forms/forms", { method: "POST", headers: { "content-type": "application/xml" }, body });
const jsonPost = (path: string, body: unknown) =>
  app.api(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

async function submit(xml: string) {
  const fd = new FormData();
  fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
  return fetch(`${base}/submission`, { method: "POST", body: fd });
}
const data = (id: string, count = "3") =>
  `<data id="water" version="1"><village>kibera</village><count>${count}</count><meta><instanceID>${id}</instanceID></meta></data>`;

beforeAll(async () => {
  app = await startTestAppliance({ services: ["forms"] });
  base = (await json<{ serverUrl: string }>(await jsonPost("/api/forms/app-users", { name: "enumerator" })))
    .serverUrl;
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

describe("versions and attachments", () => {
  it("keeps a draft off the form list until its attachments are there and it is published", async () => {
    const up = await upload(xform("1"));
    expect(up.status).toBe(201);
    expect((await json<{ version: { state: string } }>(up)).version.state).toBe("draft");
    expect(await (await fetch(`${base}/formList`)).text()).not.toContain("<formID>water</formID>");
    const early = await app.api("/api/forms/forms/water/versions/1/publish", { method: "POST" });
    expect(early.status).toBe(409);
    expect(await early.text()).toContain("villages.csv");
    const other = await app.api("/api/forms/forms/water/versions/1/attachments/other.csv", {
      method: "PUT",
      body: "x",
    });
    expect(other.status).toBe(400);
    const csv = "name,label\nkibera,Kibera\nmathare,Mathare\n";
    const put = await app.api("/api/forms/forms/water/versions/1/attachments/villages.csv", {
      method: "PUT",
      headers: { "content-type": "text/csv" },
      body: csv,
    });
    expect(put.status).toBe(200);
    expect((await app.api("/api/forms/forms/water/versions/1/publish", { method: "POST" })).status).toBe(200);
    const list = await (await fetch(`${base}/formList`)).text();
    expect(list).toContain("<formID>water</formID>");
    const manifestUrl = /<manifestUrl>([^<]+)<\/manifestUrl>/.exec(list)![1]!;
    const manifest = await (await fetch(manifestUrl)).text();
    expect(manifest).toContain("<filename>villages.csv</filename>");
    const fileUrl = /<downloadUrl>([^<]+)<\/downloadUrl>/.exec(manifest)![1]!;
    expect(await (await fetch(fileUrl)).text()).toBe(csv);
  });

  it("never changes a published version: a new definition needs a new version", async () => {
    const again = await upload(xform("1", "<!-- changed -->"));
    expect(again.status).toBe(409);
    expect((await json<{ message: string }>(again)).message).toContain("published");
    expect((await upload(xform("2"))).status).toBe(201);
  });

  it("refuses malformed XForms with a 400", async () => {
    for (const [bad, words] of [
      ["<html/>", "model"],
      [xform("3").replace("<meta><instanceID/></meta>", ""), "instanceID"],
      [xform("3").replace('nodeset="/data/count"', 'nodeset="/data/nothing"'), "/data/nothing"],
      [`<!DOCTYPE x [<!ENTITY a "b">]>${xform("3")}`, "DOCTYPE"],
      [xform("3").replace('id="water"', 'id="../etc"'), "form id"],
    ]) {
      const r = await upload(bad!);
      expect(r.status, bad).toBe(400);
      expect((await json<{ message: string }>(r)).message).toContain(words);
    }
  });

  it("answers an XLSForm with cell-addressed errors", async () => {
    const body = await xlsx({
      survey: [
        ["type", "name", "label"],
        ["slect_one yn", "a", "A"],
        ["text", "a", "B"],
      ],
    });
    const r = await app.api("/api/forms/forms", {
      method: "POST",
      body: new Uint8Array(body),
      headers: { "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
    });
    expect(r.status).toBe(400);
    const b = await json<{ data: { errors: string[] } }>(r);
    expect(b.data.errors).toContain('survey!A2: unknown type "slect_one yn"');
  });
});

describe("review", () => {
  it("approves, rejects with a comment, keeps edits as revisions and emits events", async () => {
    expect((await submit(data("uuid:r1"))).status).toBe(201);
    const list = await json<{ submissions: { id: string }[] }>(
      await app.api("/api/forms/submissions?formId=water"),
    );
    const id = list.submissions[0]!.id;
    const noComment = await jsonPost(`/api/forms/submissions/${id}/review`, { state: "rejected" });
    expect(noComment.status).toBe(400);
    const rejected = await jsonPost(`/api/forms/submissions/${id}/review`, {
      state: "rejected",
      comment: "count?",
    });
    expect(await json(rejected)).toMatchObject({ reviewState: "rejected", reviewComment: "count?" });
    const edit = await app.api(`/api/forms/submissions/${id}/xml`, {
      method: "PUT",
      body: data("uuid:r1", "4"),
    });
    expect(edit.status).toBe(200);
    expect(await json(edit)).toMatchObject({
      reviewState: "edited",
      revision: 2,
      fields: { "/data/count": "4" },
    });
    const badEdit = await app.api(`/api/forms/submissions/${id}/xml`, {
      method: "PUT",
      body: data("uuid:r1", "x"),
    });
    expect(badEdit.status).toBe(400);
    const h = await json<{ reviews: { state: string }[]; revisions: { xml: string }[] }>(
      await app.api(`/api/forms/submissions/${id}/history`),
    );
    expect(h.reviews.map((r) => r.state)).toEqual(["rejected", "edited"]);
    expect(h.revisions[0]!.xml).toContain("<count>3</count>");
    expect((await submit(data("uuid:r1"))).status).toBe(201); // the original resent after the edit: no duplicate
    const db = new Database(join(app.dataDir, "services", "forms", "forms.db"), { readonly: true });
    const subjects = (db.prepare("SELECT subject FROM _outbox").all() as { subject: string }[]).map(
      (r) => r.subject,
    );
    db.close();
    expect(subjects).toContain("nexus.forms.submitted");
    expect(subjects.filter((s) => s === "nexus.forms.reviewed")).toHaveLength(2);
  });

  it("filters, pages and counts per day", async () => {
    for (const n of [2, 3, 4]) expect((await submit(data(`uuid:p${n}`))).status).toBe(201);
    const page = await json<{ total: number; submissions: unknown[] }>(
      await app.api("/api/forms/submissions?formId=water&limit=2&offset=0"),
    );
    expect(page.total).toBe(4);
    expect(page.submissions).toHaveLength(2);
    const rejected = await json<{ total: number }>(
      await app.api("/api/forms/submissions?reviewState=edited"),
    );
    expect(rejected.total).toBe(1);
    const future = await json<{ total: number }>(await app.api("/api/forms/submissions?from=2999-01-01"));
    expect(future.total).toBe(0);
    expect((await app.api("/api/forms/submissions?from=yesterday")).status).toBe(400);
    const counts = await json<{ counts: { formId: string; count: number }[] }>(
      await app.api("/api/forms/counts"),
    );
    expect(counts.counts).toEqual([
      { formId: "water", day: new Date().toISOString().slice(0, 10), count: 4 },
    ]);
  });

  it("archives a version: off the form list, no more submissions", async () => {
    expect((await app.api("/api/forms/forms/water/versions/1/archive", { method: "POST" })).status).toBe(200);
    expect(await (await fetch(`${base}/formList`)).text()).not.toContain("<formID>water</formID>");
    const late = await submit(data("uuid:late"));
    expect(late.status).toBe(409);
    expect(await late.text()).toContain("archived");
  });
});

describe("the OpenAPI document", () => {
  it("validates, and documents the forms routes with their security (none only for OpenRosa)", async () => {
    const doc = (await (await app.api("/api/openapi.json")).json()) as {
      paths: Record<string, Record<string, { operationId: string; security?: unknown[] }>>;
    };
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
    const ops = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith("/api/forms/"))
      .flatMap(([p, item]) => Object.entries(item).map(([m, op]) => ({ p, m, op })));
    expect(ops.map((o) => o.op.operationId)).toEqual(
      expect.arrayContaining([
        "formsUploadForm",
        "formsListSubmissions",
        "formsCreateAppUser",
        "formsExportZip",
      ]),
    );
    for (const { p, op } of ops)
      if (!p.startsWith("/api/forms/openrosa")) expect(op.security?.length, p).toBeGreaterThan(0);
  });
});
