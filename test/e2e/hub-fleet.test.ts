/**
 * The hub's fleet page end to end: a real hub process and one enrolled box writing a note, the page opened in
 * Debian's Chromium. Security headers, a wrong token (the 401 message), the admin token entered with the
 * keyboard (kept in sessionStorage only), the site row (active, changes received), a tablet viewport, no
 * errors in the browser console, and the message when the hub cannot be reached (last: it stops the hub).
 */
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFleetPage } from "../../appliance/console/build.js";
import { buildPack } from "../../services/ai/pack.js";
import { removeDir, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { type Browser, collectErrors, launchBrowser, screenshot } from "../helpers/browser.js";
import { enrolledBox, type HubProcess, hubProcess } from "../helpers/hub.js";
import { addManifest, addModel } from "../helpers/onnx.js";

/** What Chromium logs on its own for answers the page expects: the 401 of a wrong token, a stopped hub. */
const EXPECTED = [
  /status of 401 .*\/api\/hub\/(sites|bundles|models)\)$/,
  // The sites, rollouts and model packs tables each poll the hub.
  /ERR_CONNECTION_REFUSED .*\/api\/hub\/(sites|bundles|models)\)$|Failed to fetch/,
];

let hub: HubProcess;
let box: TestAppliance;
let browser: Browser;
let page: Page;
let errors: string[];
let keyDir: string;

beforeAll(async () => {
  // The hub reads dist/hub-fleet when it starts.
  await buildFleetPage();
  // A model pack signed by a key the hub trusts, for the packs table.
  keyDir = tempDir("nexus-fleet-key-");
  const vendor = generateKeyPairSync("ed25519");
  writeFileSync(join(keyDir, "vendor.pem"), vendor.publicKey.export({ type: "spki", format: "pem" }));
  hub = await hubProcess({ env: { NEXUS_HUB_PACK_TRUST_KEYS: join(keyDir, "vendor.pem") } });
  await hub.start();
  box = await enrolledBox(hub, "site-x", ["notes"]);
  const model = addModel(4);
  const up = await fetch(`${hub.url()}/api/hub/models/upload`, {
    method: "PUT",
    headers: { authorization: `Bearer ${hub.adminToken()}` },
    body: await buildPack(addManifest(model), { "model.onnx": model }, vendor.privateKey),
  });
  expect(up.status).toBe(201);
  expect((await hub.api("POST", "/api/hub/models/tiny-add/1.0.0/assign", { sites: ["site-x"] })).status).toBe(
    201,
  );
  const r = await box.api("/api/notes/notes/k", {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text: "t" }),
  });
  expect(r.ok).toBe(true);
  browser = await launchBrowser({ viewport: { width: 1024, height: 768 } });
  page = await browser.context.newPage();
  errors = collectErrors(page);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (box) {
    await box.stop();
    removeDir(box.dataDir);
  }
  await hub?.stop();
  if (hub) removeDir(hub.dir);
  if (keyDir) removeDir(keyDir);
});

const row = () => page.locator('tr[data-site="site-x"]');

describe("hub fleet page", () => {
  it("serves the built page with the security headers, hashed assets and revalidation, no inline script", async () => {
    const res = await fetch(`${hub.url()}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<style>|https?:\/\//);
    const src = /src="(\/assets\/fleet-[0-9a-f]{12}\.js)"/.exec(html)?.[1];
    expect(src).toBeTruthy();
    expect(html).toMatch(/href="\/assets\/fleet-[0-9a-f]{12}\.css"/);
    const js = await fetch(`${hub.url()}${src}`, { headers: { "accept-encoding": "br" } });
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("content-encoding")).toBe("br");
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect(js.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect((await js.text()).length).toBeGreaterThan(0);
    const again = await fetch(`${hub.url()}/`, { headers: { "if-none-match": res.headers.get("etag")! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${hub.url()}/assets/nope.js`)).status).toBe(404);
    // The API itself still wants the token.
    expect((await fetch(`${hub.url()}/api/hub/sites`)).status).toBe(401);
  });

  it("a wrong token: the 401 message, back on the token field, nothing kept", async () => {
    await page.goto(`${hub.url()}/`);
    await page.getByLabel("Hub admin token").fill("not-the-token");
    await page.getByRole("button", { name: "Show the fleet" }).click();
    await page.getByText("The hub refused this token (401)").waitFor();
    expect(await page.evaluate("document.activeElement.id")).toBe("token");
    expect(await page.evaluate("sessionStorage.length + localStorage.length")).toBe(0);
    expect(await page.locator("table").isVisible()).toBe(false);
  });

  it("the admin token, typed with the keyboard: the site row, active, with the note received", async () => {
    // The note reaches the hub first, so the first answer already shows it.
    await waitFor(
      async () => {
        const r = await hub.api<{ sites: { id: string; received: number }[] }>("GET", "/api/hub/sites");
        return (r.body.sites.find((s) => s.id === "site-x")?.received ?? 0) >= 1;
      },
      30_000,
      "the note at the hub",
    );
    await page.getByLabel("Hub admin token").focus();
    await page.keyboard.type(hub.adminToken());
    await page.keyboard.press("Enter");
    await row().waitFor();
    expect(await page.getByRole("table", { name: /Sites enrolled with this hub/ }).isVisible()).toBe(true);
    const cells = await row().locator("th, td").allInnerTexts();
    expect(cells[0]).toBe("site-x");
    expect(cells[1]).toBe("active");
    expect(cells[2]).toMatch(/^(\d+ s|\d+ min) ago$|^never$/);
    expect(Number(cells[5]?.replace(/,/g, ""))).toBeGreaterThanOrEqual(1);
    expect(cells[9]).toContain("notes: #");
    // The token lives in this tab's sessionStorage only.
    expect(await page.evaluate("[sessionStorage.length, localStorage.length]")).toEqual([1, 0]);
    expect(await page.getByRole("status").innerText()).toBe("");
    // The model packs table beside the rollouts: the pack, its assignment, the site (a notes box: no AI).
    const pack = page.getByRole("table", { name: "Model packs and their sites" }).locator("tbody tr");
    await pack.getByText("tiny-add").waitFor();
    expect(await pack.locator("td").allInnerTexts()).toEqual([
      "tiny-add",
      "1.0.0",
      "MIT",
      "assigned to site-x",
      "site-x: pending",
    ]);
    await screenshot(page, "hub-fleet");
  });

  it("refreshes by itself, and keeps the token across a reload", async () => {
    const before = await page.locator("#updated").innerText();
    await waitFor(async () => (await page.locator("#updated").innerText()) !== before, 12_000, "a refresh");
    await page.reload();
    await row().waitFor();
  });

  it("says so when the hub cannot be reached, and nothing else went wrong in the browser", async () => {
    await hub.stop();
    await page.getByText("The hub cannot be reached").waitFor({ timeout: 15_000 });
    expect(await row().isVisible()).toBe(true);
    const unexpected = errors.filter((e) => !EXPECTED.some((re) => re.test(e)));
    expect(unexpected).toEqual([]);
  });
});
