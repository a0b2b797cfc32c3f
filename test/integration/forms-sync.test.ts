/**
 * Forms box → hub: a submission (with a photo) made on a box before it was enrolled reaches the hub once the
 * box is enrolled: its record in the append-only collection `form_submissions` under the new site, listed
 * by the hub's records API across sites, and its attachment in the hub's blob store. And hub → box: a form
 * definition the hub admin publishes reaches an enrolled box's OpenRosa form list; a replay changes nothing.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, waitFor } from "../helpers/appliance.js";
import { enrolledBox, enrolWith, type HubProcess, hubProcess, teardown } from "../helpers/hub.js";

let hub: HubProcess;

beforeAll(async () => {
  hub = await hubProcess();
  await hub.start();
}, 120_000);

afterAll(async () => {
  await teardown([], hub);
});

const XFORM = `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
<h:head><h:title>Incident</h:title><model>
<instance><data id="incident" version="2"><what/><photo/><meta><instanceID/></meta></data></instance>
<bind nodeset="/data/what" type="string" required="true()"/>
<bind nodeset="/data/photo" type="binary"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
</model></h:head>
<h:body><input ref="/data/what"><label>What</label></input><upload ref="/data/photo" mediatype="image/*"><label>Photo</label></upload></h:body>
</h:html>`;

describe("forms → hub", () => {
  it("sends a submission made offline, with its photo, once the box is enrolled", async () => {
    let box = await startTestAppliance({ services: ["forms"] });
    const dataDir = box.dataDir;
    try {
      const up = await box.api("/api/forms/forms?publish=true", {
        method: "POST",
        headers: { "content-type": "application/xml" },
        body: XFORM,
      });
      expect(up.status, await up.clone().text()).toBe(201);
      const au = (await (
        await box.api("/api/forms/app-users", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "field-phone" }),
        })
      ).json()) as { serverUrl: string };
      const photo = Buffer.alloc(20_000, 9);
      const fd = new FormData();
      const xml = `<data id="incident" version="2"><what>flood</what><photo>p.jpg</photo><meta><instanceID>uuid:off-1</instanceID></meta></data>`;
      fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
      fd.append("p.jpg", new Blob([new Uint8Array(photo)], { type: "image/jpeg" }), "p.jpg");
      expect((await fetch(`${au.serverUrl}/submission`, { method: "POST", body: fd })).status).toBe(201);
      await box.stop();
      await enrolWith(hub, dataDir, "field-depot");
      box = await startTestAppliance({ services: ["forms"], dataDir });
      const sha = createHash("sha256").update(photo).digest("hex");
      const record = await waitFor(async () => {
        const r = await hub.api<{
          records: { site: string; data: { instanceId: string; fields: object } }[];
        }>("GET", "/api/hub/records/form_submissions");
        return r.body.records.find((x) => x.data.instanceId === "uuid:off-1");
      }, 60_000);
      expect(record).toMatchObject({ site: "field-depot", data: { fields: { "/data/what": "flood" } } });
      // The hub's submissions API: per form across sites, filtered, as CSV, counted; admin token only.
      const list = await hub.api<{ total: number; submissions: { site: string; instanceId: string }[] }>(
        "GET",
        "/api/hub/forms/submissions?formId=incident&site=field-depot",
      );
      expect(list.body).toMatchObject({
        total: 1,
        submissions: [{ site: "field-depot", instanceId: "uuid:off-1" }],
      });
      expect((list.body.submissions[0] as Record<string, unknown>).xml).toBeUndefined();
      const none = await hub.api<{ total: number }>(
        "GET",
        "/api/hub/forms/submissions?formId=incident&site=elsewhere",
      );
      expect(none.body.total).toBe(0);
      const csv = await fetch(`${hub.url()}/api/hub/forms/submissions.csv?formId=incident`, {
        headers: { authorization: `Bearer ${hub.adminToken()}` },
      });
      const text = await csv.text();
      expect(text.split("\r\n")[0]).toBe(
        "site,instanceId,version,submitter,receivedAt,reviewState,revision,/data/meta/instanceID,/data/photo,/data/what",
      );
      expect(text).toContain("field-depot,uuid:off-1,2,");
      const counts = await hub.api<{ counts: object[] }>("GET", "/api/hub/forms/counts");
      expect(counts.body.counts).toContainEqual({ formId: "incident", site: "field-depot", count: 1 });
      expect((await hub.api("GET", "/api/hub/forms/submissions?limit=0")).status).toBe(400);
      expect((await hub.api("GET", "/api/hub/forms/submissions?formId=x%27%20OR%201=1")).status).toBe(400);
      expect((await fetch(`${hub.url()}/api/hub/forms/submissions`)).status).toBe(401);
      const onHub = join(hub.dir, "blobs", sha.slice(0, 2), sha.slice(2, 4), sha);
      await waitFor(() => existsSync(onHub), 60_000, "the photo on the hub");
      expect(readFileSync(onHub).equals(photo)).toBe(true);
    } finally {
      await box.stop();
      removeDir(dataDir);
    }
  }, 150_000);
});

describe("hub → boxes", () => {
  it("publishes a form written on the hub on every enrolled box", async () => {
    const box = await enrolledBox(hub, "hub-forms-depot", ["forms"]);
    try {
      const xml = XFORM.replace('id="incident" version="2"', 'id="census" version="7"').replace(
        "Incident",
        "Census",
      );
      const put = await hub.api("PUT", "/api/hub/data/forms/forms/census:7", {
        data: { xml, state: "published" },
      });
      expect(put.status, JSON.stringify(put.body)).toBe(200);
      const au = (await (
        await box.api("/api/forms/app-users", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "phone" }),
        })
      ).json()) as { serverUrl: string };
      await waitFor(
        async () =>
          (await (await fetch(`${au.serverUrl}/formList`)).text()).includes("<formID>census</formID>"),
        60_000,
        "the hub's form on the box",
      );
      const form = (await (await box.api("/api/forms/forms/census")).json()) as {
        versions: { state: string; createdBy: string }[];
      };
      expect(form.versions).toMatchObject([{ state: "published", createdBy: "hub" }]);
      const bad = await hub.api("PUT", "/api/hub/data/forms/forms/census:8", {
        data: { xml, state: "published" },
      });
      expect(bad.status).toBe(200); // the key does not match the XForm: skipped on the box, nothing changes
      const archive = await hub.api("DELETE", "/api/hub/data/forms/forms/census:7");
      expect(archive.status).toBe(200);
      await waitFor(
        async () => !(await (await fetch(`${au.serverUrl}/formList`)).text()).includes("census"),
        60_000,
        "archived on the box",
      );
      const after = (await (await box.api("/api/forms/forms/census")).json()) as {
        versions: { version: string }[];
      };
      expect(after.versions.map((v) => v.version)).toEqual(["7"]);
      // A form with a CSV attachment: uploaded to the hub, named in the record, fetched by the box, published.
      const csv = Buffer.from("name,label\nkibera,Kibera\n");
      const sha = createHash("sha256").update(csv).digest("hex");
      const withCsv = xml
        .replace('version="7"', 'version="8"')
        .replace("<instance>", '<instance id="villages" src="jr://file-csv/villages.csv"/><instance>');
      const badUp = await fetch(`${hub.url()}/api/hub/forms/attachments/${sha}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${hub.adminToken()}` },
        body: new Uint8Array(Buffer.from("not the content")),
      });
      expect(badUp.status).toBe(422);
      const up = await fetch(`${hub.url()}/api/hub/forms/attachments/${sha}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${hub.adminToken()}` },
        body: new Uint8Array(csv),
      });
      expect(up.status).toBe(201);
      const put8 = await hub.api("PUT", "/api/hub/data/forms/forms/census:8", {
        data: {
          xml: withCsv,
          state: "published",
          attachments: [{ name: "villages.csv", sha256: sha, size: csv.length, contentType: "text/csv" }],
        },
      });
      expect(put8.status).toBe(200);
      const manifestUrl = await waitFor(
        async () => /<manifestUrl>([^<]+)</.exec(await (await fetch(`${au.serverUrl}/formList`)).text())?.[1],
        60_000,
        "the hub's form with its attachment on the box",
      );
      const manifest = await (await fetch(manifestUrl!.replace(/&amp;/g, "&"))).text();
      expect(manifest).toContain(`<hash>md5:${createHash("md5").update(csv).digest("hex")}</hash>`);
      const url = /<downloadUrl>([^<]+)</.exec(manifest)![1]!.replace(/&amp;/g, "&");
      expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(csv)).toBe(true);
    } finally {
      await box.stop();
      removeDir(box.dataDir);
    }
  }, 150_000);
});
