/**
 * The forms service through the real gateway, with the real ODK engine (@getodk/xforms-engine) as the client:
 * an XLSForm written as a real .xlsx is uploaded and published; the engine reads the box's OpenRosa form list
 * over HTTP with an app user's key URL, downloads the form, fills it and submits its xml_submission_file.
 * Then resends, a split submission, hostile input (nothing stored), a revoked app user, exports and what stays
 * closed without credentials.
 */
import { inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { nodesOf, odkEngine } from "../helpers/odk-engine.js";
import { xlsx } from "../helpers/xlsx.js";

let app: TestAppliance;
let key: string; // the app user's OpenRosa base URL (token inside)
let appUserId: string;

const SURVEY = [
  ["type", "name", "label", "label::Français (fr)", "required", "relevant", "constraint"],
  ["text", "name", "Name", "Nom", "yes"],
  ["integer", "age", "Age", "Âge", "yes", "", ". >= 0 and . < 150"],
  ["select_one yn", "ok", "OK?", "D'accord ?"],
  ["text", "why", "Why not?", "Pourquoi ?", "", "$" + "{ok} = 'no'"],
  ["geopoint", "loc", "Where", "Où"],
  ["image", "photo", "Photo", "Photo"],
  ["begin repeat", "kids", "Kids", "Enfants"],
  ["text", "kid", "Kid", "Enfant"],
  ["end repeat"],
  ["calculate", "double", "", "", "", "", ""],
];
SURVEY[10]!.push("");
const CHOICES = [
  ["list_name", "name", "label", "label::Français (fr)"],
  ["yn", "yes", "Yes", "Oui"],
  ["yn", "no", "No", "Non"],
];

async function uploadXls(survey: string[][], settings: string[][]) {
  const body = await xlsx({ survey, choices: CHOICES, settings });
  return app.api("/api/forms/forms?publish=true", {
    method: "POST",
    headers: { "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
    body: new Uint8Array(body),
  });
}

const submissionXml = (instanceId: string, extra = "", photo = "") =>
  `<data id="household" version="1"><name>Ana</name><age>31</age><ok>yes</ok><loc>1.5 2.5 0 5</loc>` +
  `<photo>${photo}</photo><kids><kid>Bo</kid></kids><double/>${extra}<meta><instanceID>${instanceId}</instanceID></meta></data>`;

async function post(xml: string, files: Record<string, Buffer> = {}, base = key) {
  const fd = new FormData();
  fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
  for (const [n, b] of Object.entries(files))
    fd.append(n, new Blob([new Uint8Array(b)], { type: "image/jpeg" }), n);
  const r = await fetch(`${base}/submission`, { method: "POST", body: fd });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

async function total(): Promise<number> {
  return ((await (await app.api("/api/forms/submissions")).json()) as { total: number }).total;
}

beforeAll(async () => {
  app = await startTestAppliance({ services: ["forms"] });
  const survey = SURVEY.map((r) => r.slice(0, 7));
  survey[10] = ["calculate", "double", "", "", "", "", ""];
  const withCalc = survey.map((r, i) => [...r, i === 0 ? "calculation" : i === 10 ? "$" + "{age} * 2" : ""]);
  const up = await uploadXls(withCalc, [
    ["form_id", "version", "form_title"],
    ["household", "1", "Household"],
  ]);
  expect(up.status, await up.clone().text()).toBe(201);
  const au = await app.api("/api/forms/app-users", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "tablet-1" }),
  });
  expect(au.status).toBe(201);
  const created = (await au.json()) as {
    serverUrl: string;
    appUser: { id: string };
    token: string;
    qrText: string;
    collectSettings: object;
  };
  expect(JSON.parse(inflateSync(Buffer.from(created.qrText, "base64")).toString())).toEqual(
    created.collectSettings,
  );
  expect(created.collectSettings).toMatchObject({ general: { server_url: created.serverUrl } });
  key = created.serverUrl;
  appUserId = created.appUser.id;
  expect(key).toBe(`${app.url}/api/forms/openrosa/key/${created.token}`);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

describe("the ODK engine as the client", () => {
  it("loads every published form from the form list, fills it and submits it: stored and valid", async () => {
    const list = await fetch(`${key}/formList`);
    expect(list.status).toBe(200);
    expect(list.headers.get("x-openrosa-version")).toBe("1.0");
    const listXml = await list.text();
    expect(listXml).toContain('xmlns="http://openrosa.org/xforms/xformsList"');
    const urls = [...listXml.matchAll(/<downloadUrl>([^<]+)<\/downloadUrl>/g)].map((m) =>
      m[1]!.replace(/&amp;/g, "&"),
    );
    expect(urls.length).toBeGreaterThan(0);
    const { createInstance } = await odkEngine();
    for (const url of urls) {
      const xform = await (await fetch(url)).text();
      expect(listXml).toContain(
        `md5:${(await import("node:crypto")).createHash("md5").update(xform).digest("hex")}`,
      );
      const form = await createInstance(xform as never, {
        form: { fetchFormDefinition: async () => new Response(xform) } as never,
      });
      const nodes = nodesOf(form.root);
      const at = (ref: string) => nodes.find((n) => n.definition?.nodeset === ref);
      at("/data/name").setValue("Ana");
      at("/data/age").setValue(31);
      at("/data/ok").selectValue("no");
      nodesOf(form.root)
        .find((n) => n.definition?.nodeset === "/data/why")
        .setValue("tired");
      at("/data/loc").setValue({ latitude: 1.5, longitude: 2.5, altitude: 0, accuracy: 5 });
      nodesOf(form.root)
        .find((n) => n.definition?.nodeset === "/data/kids/kid")
        .setValue("Bo");
      const payload = await (
        form.root as never as { prepareInstancePayload(): Promise<{ status: string; data: [FormData] }> }
      ).prepareInstancePayload();
      expect(payload.status).toBe("ready");
      const head = await fetch(`${key}/submission`, { method: "HEAD" });
      expect(head.status).toBe(204);
      expect(Number(head.headers.get("x-openrosa-accept-content-length"))).toBeGreaterThan(0);
      const r = await fetch(`${key}/submission`, { method: "POST", body: payload.data[0] });
      expect(r.status, await r.clone().text()).toBe(201);
      expect(r.headers.get("x-openrosa-version")).toBe("1.0");
      expect(await r.text()).toContain("<OpenRosaResponse");
    }
    const s = (await (await app.api("/api/forms/submissions?formId=household")).json()) as {
      submissions: { fields: Record<string, string>; complete: boolean; reviewState: string }[];
    };
    expect(s.submissions).toHaveLength(1);
    expect(s.submissions[0]!.fields).toMatchObject({
      "/data/name": "Ana",
      "/data/age": "31",
      "/data/why": "tired",
      "/data/double": "62",
      "/data/kids[1]/kid": "Bo",
    });
    expect(s.submissions[0]!.complete).toBe(true);
  });
});

describe("OpenRosa submissions", () => {
  it("answers a resend of the same instanceID as success and stores no duplicate", async () => {
    const xml = submissionXml("uuid:resend-1");
    expect((await post(xml)).status).toBe(201);
    const before = await total();
    const again = await post(xml);
    expect(again.status).toBe(201);
    expect(again.text).toContain("Already received");
    expect(await total()).toBe(before);
    const changed = await post(submissionXml("uuid:resend-1").replace("Ana", "Eve"));
    expect(changed.status).toBe(409);
  });

  it("merges a submission split across two POSTs by instanceID", async () => {
    const xml = submissionXml("uuid:split-1", "", "p1.jpg");
    const first = await post(xml);
    expect(first.status).toBe(201);
    expect(first.text).toContain("remaining attachments");
    const photo = Buffer.alloc(50_000, 7);
    const second = await post(xml, { "p1.jpg": photo });
    expect(second.status).toBe(201);
    const list = (await (await app.api("/api/forms/submissions?formId=household")).json()) as {
      submissions: { id: string; instanceId: string; complete: boolean }[];
    };
    const sub = list.submissions.find((x) => x.instanceId === "uuid:split-1")!;
    expect(sub.complete).toBe(true);
    const got = await app.api(`/api/forms/submissions/${sub.id}/attachments/p1.jpg`);
    expect(Buffer.from(await got.arrayBuffer()).equals(photo)).toBe(true);
  });

  it.each([
    [
      "an XML bomb",
      `<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><data id="household" version="1">&b;</data>`,
      400,
      "DOCTYPE",
    ],
    ["an unknown form", submissionXml("uuid:x1").replace('id="household"', 'id="nope"'), 404, "unknown form"],
    [
      "an unknown version",
      submissionXml("uuid:x2").replace('version="1"', 'version="9"'),
      404,
      "unknown form or version",
    ],
    ["an unknown field", submissionXml("uuid:x3", "<salary>9</salary>"), 400, "/data/salary"],
    ["a wrong type", submissionXml("uuid:x4").replace("<age>31</age>", "<age>old</age>"), 400, "/data/age"],
    ["a missing required field", submissionXml("uuid:x5").replace("<name>Ana</name>", ""), 400, "/data/name"],
    ["a bad geopoint", submissionXml("uuid:x6").replace("1.5 2.5 0 5", "north"), 400, "/data/loc"],
    ["no instanceID", submissionXml(""), 400, "instanceID"],
    [
      "enormous repeats",
      submissionXml("uuid:x7").replace("<kids><kid>Bo</kid></kids>", "<kids><kid/></kids>".repeat(1001)),
      413,
      "/data/kids",
    ],
    ["not XML", "<data", 400, "well-formed"],
  ])("refuses %s with a clear 4xx and stores nothing", async (_what, xml, status, words) => {
    const before = await total();
    const r = await post(xml);
    expect(r.status, r.text).toBe(status);
    expect(r.text).toContain(words);
    expect(r.headers.get("x-openrosa-version")).toBe("1.0");
    expect(await total()).toBe(before);
  });

  it("stores one submission when the same instanceID arrives on 5 connections at once", async () => {
    const before = await total();
    const xml = submissionXml("uuid:race-1");
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(xml)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(await total()).toBe(before + 1);
  });

  it("refuses a body over the service's limit and a spreadsheet that is not one", async () => {
    const fd = new FormData();
    fd.append("xml_submission_file", new Blob([submissionXml("uuid:big")], { type: "text/xml" }), "s.xml");
    fd.append("big.jpg", new Blob([new Uint8Array(130 * 1024 * 1024)]), "big.jpg");
    const big = await fetch(`${key}/submission`, { method: "POST", body: fd });
    expect(big.status).toBe(413);
    const notXlsx = await app.api("/api/forms/forms", {
      method: "POST",
      headers: { "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
      body: "PK not really a zip",
    });
    expect(notXlsx.status).toBe(400);
    expect(await notXlsx.text()).toContain("not a readable .xlsx");
  });

  it("refuses an attachment no field names", async () => {
    const r = await post(submissionXml("uuid:att-1"), { "other.jpg": Buffer.from("x") });
    expect(r.status).toBe(400);
    expect(r.text).toContain("other.jpg");
  });
});

describe("durability", () => {
  it("keeps every acknowledged submission through a kill -9 of the service during a burst", async () => {
    const acked: string[] = [];
    const pid = app.supervisor.status().find((x) => x.name === "forms")!.pid!;
    const burst = Array.from({ length: 30 }, async (_, i) => {
      const id = `uuid:kill-${i}`;
      const r = await post(submissionXml(id, "", "k.jpg"), { "k.jpg": Buffer.alloc(30_000, i) }).catch(
        () => null,
      );
      if (r?.status === 201) acked.push(id);
    });
    setTimeout(() => process.kill(pid, "SIGKILL"), 150);
    await Promise.all(burst);
    await waitFor(() => {
      const s = app.supervisor.status().find((x) => x.name === "forms");
      return s?.state === "running" && s.pid !== pid;
    }, 30_000);
    const stored = (await (await app.api("/api/forms/submissions?formId=household&limit=1000")).json()) as {
      submissions: { instanceId: string; complete: boolean }[];
    };
    const have = new Map(stored.submissions.map((x) => [x.instanceId, x.complete]));
    for (const id of acked) expect(have.get(id), id).toBe(true);
  });
});

describe("app users and what stays closed", () => {
  it("takes HTTP Basic with the app user's name and token", async () => {
    const token = key.split("/key/")[1]!;
    const basic = `Basic ${Buffer.from(`tablet-1:${token}`).toString("base64")}`;
    const ok = await fetch(`${app.url}/api/forms/openrosa/formList`, { headers: { authorization: basic } });
    expect(ok.status).toBe(200);
    // The gateway does not authenticate OpenRosa routes: even the admin's token is no app user there.
    const admin = await fetch(`${app.url}/api/forms/openrosa/formList`, {
      headers: { authorization: `Bearer ${app.token}` },
    });
    expect(admin.status).toBe(401);
    const none = await fetch(`${app.url}/api/forms/openrosa/formList`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Basic");
    const wrongName = `Basic ${Buffer.from(`tablet-2:${token}`).toString("base64")}`;
    expect(
      (await fetch(`${app.url}/api/forms/openrosa/formList`, { headers: { authorization: wrongName } }))
        .status,
    ).toBe(401);
  });

  it("keeps every management route closed without gateway credentials, even with an app user's token", async () => {
    const token = key.split("/key/")[1]!;
    for (const [method, path] of [
      ["GET", "/api/forms/forms"],
      ["POST", "/api/forms/forms"],
      ["GET", "/api/forms/submissions"],
      ["GET", "/api/forms/app-users"],
      ["GET", "/api/forms/forms/household/export.csv"],
      ["GET", `/api/forms/key/${token}/formList`],
    ] as const) {
      const r = await fetch(`${app.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      expect(r.status, `${method} ${path}`).toBe(401);
    }
  });

  it("exports CSV and GeoJSON", async () => {
    const csv = await (await app.api("/api/forms/forms/household/export.csv")).text();
    expect(csv.split("\n")[0]).toContain("/data/name");
    expect(csv).toContain("uuid:resend-1");
    const geo = (await (await app.api("/api/forms/forms/household/export.geojson")).json()) as {
      features: { geometry: { coordinates: number[] } }[];
    };
    expect(geo.features[0]!.geometry.coordinates.slice(0, 2)).toEqual([2.5, 1.5]);
    const zip = await app.api("/api/forms/forms/household/export.zip");
    expect(zip.status).toBe(200);
    expect(
      Buffer.from(await zip.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe("PK");
  });

  it("answers 401 once the app user is revoked", async () => {
    const r = await app.api(`/api/forms/app-users/${appUserId}/revoke`, { method: "POST" });
    expect(r.status).toBe(200);
    expect((await fetch(`${key}/formList`)).status).toBe(401);
    expect((await post(submissionXml("uuid:late"))).status).toBe(401);
  });
});
