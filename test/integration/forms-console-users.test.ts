/**
 * The web app's API for console users (`/api/forms/me/openrosa`): someone signed in with identity (session
 * cookie + CSRF header, as the web app at /collect/ sends them) gets the form list and submits, recorded as
 * `user:<id>`; the gateway holds them to their permissions (a viewer reads the list but cannot submit), a
 * POST without the CSRF header is refused, and nobody gets in without signing in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import {
  addUser,
  type Box,
  bearer,
  call,
  finishIdentityFile,
  loginOk,
  type Session,
  setupAdmin,
} from "../helpers/identity.js";

const XFORM = `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
<h:head><h:title>Visit</h:title><model>
<instance><data id="visit" version="1"><who/><meta><instanceID/></meta></data></instance>
<bind nodeset="/data/who" type="string" required="true()"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
</model></h:head><h:body><input ref="/data/who"><label>Who</label></input></h:body></h:html>`;

let app: TestAppliance;
let box: Box;
let agent: Session;
let viewer: Session;

const BASE = "/api/forms/me/openrosa";
const form = (id: string) => {
  const fd = new FormData();
  const xml = `<data id="visit" version="1"><who>Ana</who><meta><instanceID>${id}</instanceID></meta></data>`;
  fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
  return fd;
};
const asSession = (s: Session, csrf = true) => ({
  cookie: `nexus_session=${s.cookie}`,
  ...(csrf ? { "x-csrf-token": s.csrf } : {}),
});

beforeAll(async () => {
  app = await startTestAppliance({
    services: ["identity", "system", "forms"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" },
  });
  box = { app, dataDir: app.dataDir, url: app.url, db: () => expect.unreachable(), stop: () => app.stop() };
  const admin = await setupAdmin(box);
  const real = await fetch(`${app.url}/api/forms/forms?publish=true`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/xml" },
    body: XFORM,
  });
  expect(real.status, await real.clone().text()).toBe(201);
  const a = await addUser(box, admin, "agent", ["field-agent"]);
  const v = await addUser(box, admin, "looker", ["viewer"]);
  agent = await loginOk(box, a.username, a.password);
  viewer = await loginOk(box, v.username, v.password);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
  finishIdentityFile();
});

describe("console users in the web app", () => {
  it("lists forms and takes a submission from a signed-in field agent, recorded as that user", async () => {
    const list = await fetch(`${app.url}${BASE}/formList`, { headers: asSession(agent, false) });
    expect(list.status).toBe(200);
    const xml = await list.text();
    expect(xml).toContain("<formID>visit</formID>");
    expect(xml).toContain(`${BASE}/forms/visit/1/form.xml`);
    const dl = await fetch(`${app.url}${BASE}/forms/visit/1/form.xml`, { headers: asSession(agent, false) });
    expect(await dl.text()).toContain('id="visit"');
    const r = await fetch(`${app.url}${BASE}/submission`, {
      method: "POST",
      headers: asSession(agent),
      body: form("uuid:agent-1"),
    });
    expect(r.status, await r.clone().text()).toBe(201);
    const subs = await call(box, "GET", "/api/forms/submissions?formId=visit", { as: bearer(agent) });
    expect(subs.body.submissions[0]).toMatchObject({
      instanceId: "uuid:agent-1",
      submitter: `user:${agent.id}`,
    });
  });

  it("holds console users to their permissions and the CSRF check", async () => {
    const list = await fetch(`${app.url}${BASE}/formList`, { headers: asSession(viewer, false) });
    expect(list.status).toBe(200);
    const post = await fetch(`${app.url}${BASE}/submission`, {
      method: "POST",
      headers: asSession(viewer),
      body: form("uuid:viewer-1"),
    });
    expect(post.status).toBe(403);
    expect(await post.text()).toContain("forms:submit");
    const noCsrf = await fetch(`${app.url}${BASE}/submission`, {
      method: "POST",
      headers: asSession(agent, false),
      body: form("uuid:agent-2"),
    });
    expect(noCsrf.status).toBe(403);
    expect((await fetch(`${app.url}${BASE}/formList`)).status).toBe(401);
    const total = await call(box, "GET", "/api/forms/submissions?formId=visit", { as: bearer(agent) });
    expect(total.body.total).toBe(1);
  });
});
