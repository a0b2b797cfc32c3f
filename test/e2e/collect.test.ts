/**
 * The data-entry web app (/collect/) end to end on a phone-sized viewport: a real appliance running the forms
 * service, an XForm published and an app user created through its API, Debian's Chromium opening the app
 * with the app user's link. Offline (network emulation) it fills the form with a photo and keeps it in the
 * queue; back online it sends it and the box stores it with the photo; offline again, the app opens from its
 * service worker with the form still listed. What is typed is kept as a draft across a reload.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCollect } from "../../appliance/console/build.js";
import { startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { type Browser, closeBrowserAndBox, openPage, screenshot } from "../helpers/browser.js";

const XFORM = `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">
<h:head><h:title>Site visit</h:title><model>
<instance><data id="site_visit" version="1"><site/><photo/><meta><instanceID/></meta></data></instance>
<bind nodeset="/data/site" type="string" required="true()"/>
<bind nodeset="/data/photo" type="binary"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
</model></h:head>
<h:body><input ref="/data/site"><label>Site name</label></input>
<upload ref="/data/photo" mediatype="image/*"><label>Photo</label></upload></h:body></h:html>`;

/** A 1×1 PNG: what the phone's camera hands the page. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);

interface Stored {
  total: number;
  submissions: { instanceId: string; fields: Record<string, string>; attachments: { present: boolean }[] }[];
}

let box: TestAppliance;
let browser: Browser;
let page: Page;
let errors: string[];
let appLink: string;

beforeAll(async () => {
  await buildCollect();
  box = await startTestAppliance({ services: ["forms"], env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" } });
  const up = await box.api("/api/forms/forms?publish=true", {
    method: "POST",
    headers: { "content-type": "application/xml" },
    body: XFORM,
  });
  expect(up.status, await up.clone().text()).toBe(201);
  const au = await box.api("/api/forms/app-users", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "phone-1" }),
  });
  const { token } = (await au.json()) as { token: string };
  appLink = `${box.url}/collect/?token=${encodeURIComponent(token)}`;
  ({ browser, page, errors } = await openPage({ viewport: { width: 390, height: 844 } }));
}, 90_000);

afterAll(() => closeBrowserAndBox(browser, box));

const stored = async () => (await (await box.api("/api/forms/submissions")).json()) as Stored;

describe("collect web app", () => {
  it("serves the app, its service worker and manifest with the right types and CSP", async () => {
    const html = await fetch(`${box.url}/collect/`);
    expect(html.status).toBe(200);
    expect(html.headers.get("content-security-policy")).toContain("script-src 'self' 'wasm-unsafe-eval'");
    const sw = await fetch(`${box.url}/collect/sw.js`);
    expect(sw.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(sw.headers.get("cache-control")).toBe("no-cache");
    expect(sw.headers.get("service-worker-allowed")).toBe("/collect/");
    const manifest = await fetch(`${box.url}/collect/manifest.webmanifest`);
    expect(manifest.headers.get("content-type")).toBe("application/manifest+json");
    expect(((await manifest.json()) as { scope: string }).scope).toBe("/collect/");
    const bare = await fetch(`${box.url}/collect`, { redirect: "manual" });
    expect(bare.status).toBe(308);
  });

  it("fills a form with a photo offline, queues it, and sends it when back online", async () => {
    await page.goto(appLink);
    await page.getByRole("link", { name: "Site visit" }).waitFor();
    expect(page.url()).not.toContain("token="); // kept in localStorage, not left in the address bar
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)");
    await page.getByRole("link", { name: "Site visit" }).click();
    await page.getByLabel("Site name").waitFor();
    // A draft: what is typed survives a reload.
    await page.getByLabel("Site name").fill("Well");
    await page.getByText(/^Draft saved/).waitFor();
    await page.reload();
    await page.getByText(/^Draft from .* reopened\.$/).waitFor();
    await expect.poll(() => page.getByLabel("Site name").inputValue()).toBe("Well");

    await browser.context.setOffline(true);
    await page.getByLabel("Site name").fill("Well 4");
    await page
      .locator("input[type=file]")
      .setInputFiles({ name: "well.png", mimeType: "image/png", buffer: PNG });
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByRole("link", { name: "← Forms" }).click();
    const waiting = page.getByRole("list", { name: "Waiting to send" }).getByRole("listitem");
    await waiting.first().waitFor();
    expect(await waiting.count()).toBe(1);
    expect(await page.locator("#net").textContent()).toBe("Offline");
    await screenshot(page, "collect-queue-offline");
    expect((await stored()).total).toBe(0);

    await browser.context.setOffline(false);
    await page.getByText("Nothing waiting").waitFor();
    await waitFor(async () => (await stored()).total === 1, 20_000, "the submission stored");
    const s = await stored();
    expect(Object.values(s.submissions[0]?.fields ?? {})).toContain("Well 4");
    expect(s.submissions[0]?.attachments).toEqual([expect.objectContaining({ present: true })]);
    expect(await page.locator("#forms").textContent()).not.toContain("draft saved"); // sent: no draft left
  });

  it("opens again with no connection, from its service worker, with the form listed", async () => {
    await browser.context.setOffline(true);
    const again = await browser.context.newPage();
    await again.goto(`${box.url}/collect/`);
    await again.getByRole("link", { name: "Site visit" }).waitFor();
    await again.getByRole("link", { name: "Site visit" }).click();
    await again.getByLabel("Site name").waitFor();
    await screenshot(again, "collect-offline-reopen");
    await again.close();
    await browser.context.setOffline(false);
  });

  it("reported no errors in the browser besides the requests refused while offline", () => {
    expect(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED/.test(e))).toEqual([]);
  });
});
