/**
 * The console's Forms pages end to end: a real box (identity and forms services) and Debian's Chromium. An
 * admin uploads a broken XLSForm and sees its cell-addressed errors, uploads a good one and publishes it,
 * creates an app user and sees its QR codes, then (as ODK Collect would) submits twice over OpenRosa with the
 * app user's URL; in the submissions table approves one, rejects the other with a comment, sees the photo
 * inline with what the AI service found in it and the geopoints on the map, edits one (kept as a revision), and
 * exports CSV.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConsole } from "../../appliance/console/build.js";
import { openDatabase } from "../../appliance/kit/index.js";
import { startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { type Browser, closeBrowserAndBox, openPage, screenshot } from "../helpers/browser.js";
import { xlsx } from "../helpers/xlsx.js";

/** Chromium logs the refused upload of the broken XLSForm (400) as a failed load: that one is expected. */
const BAD_UPLOAD = /status of 400 .*\/api\/forms\/forms\)$/;
const ADMIN = { username: "admin", password: "edge-forms-pass-1" };
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
const SETTINGS = [
  ["form_id", "version", "form_title"],
  ["visit", "1", "Visit"],
];
const SURVEY = [
  ["type", "name", "label"],
  ["text", "site", "Site"],
  ["geopoint", "loc", "Location"],
  ["image", "photo", "Photo"],
];

let box: TestAppliance;
let browser: Browser;
let page: Page;
let errors: string[];
let serverUrl = "";

beforeAll(async () => {
  await buildConsole();
  box = await startTestAppliance({
    services: ["identity", "forms"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" },
  });
  ({ browser, page, errors } = await openPage());
}, 90_000);

afterAll(() => closeBrowserAndBox(browser, box));

/** Sets a file input from bytes. */
async function pick(label: string, name: string, buffer: Buffer) {
  const mimeType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  await page.getByLabel(label).setInputFiles({ name, mimeType, buffer });
}

/** Submits as ODK Collect does: multipart with xml_submission_file and the photo. */
async function submit(instanceId: string, site: string, loc: string) {
  const xml =
    `<data id="visit" version="1"><site>${site}</site><loc>${loc}</loc><photo>p.png</photo>` +
    `<meta><instanceID>${instanceId}</instanceID></meta></data>`;
  const fd = new FormData();
  fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
  fd.append("p.png", new Blob([PNG], { type: "image/png" }), "p.png");
  const res = await fetch(`${serverUrl}/submission`, {
    method: "POST",
    body: fd,
    headers: { "X-OpenRosa-Version": "1.0" },
  });
  expect(res.status, await res.text()).toBe(201);
}

describe("console: forms", () => {
  it("an admin signs in and opens Forms", async () => {
    const first = await box.firstLogin();
    if (first.kind !== "setup") throw new Error(`expected a setup link, got ${first.kind}`);
    await page.goto(first.url);
    await page.getByLabel("Username").fill(ADMIN.username);
    await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
    await page.getByLabel("Password again").fill(ADMIN.password);
    await page.getByRole("button", { name: "Create administrator" }).click();
    await page.getByRole("link", { name: "Forms" }).click();
    await page.getByRole("heading", { name: "Forms" }).waitFor();
  });

  it("a broken XLSForm shows its cell-addressed errors; a good one is uploaded and published", async () => {
    const bad = await xlsx({ survey: [...SURVEY, ["slect_one", "x", "X"]], settings: SETTINGS });
    await pick("Upload an XLSForm (.xlsx) or XForm (.xml)", "bad.xlsx", bad);
    const list = page.getByRole("list", { name: "Errors in the uploaded form" });
    await list.getByText(/survey!A5/).waitFor();
    const good = await xlsx({ survey: SURVEY, settings: SETTINGS });
    await pick("Upload an XLSForm (.xlsx) or XForm (.xml)", "visit.xlsx", good);
    await page.getByText("visit.xlsx: Visit uploaded as a draft.").waitFor();
    await page.getByRole("button", { name: "Publish Visit 1" }).click();
    await page.getByRole("button", { name: "Archive Visit 1" }).waitFor();
    expect(await list.count()).toBe(0);
  });

  it("creates an app user and shows the Collect QR code and the web app's link", async () => {
    await page.getByRole("link", { name: "App users" }).click();
    await page.getByLabel("Name (the device or person)").fill("tablet-1");
    await page.getByRole("button", { name: "Create app user" }).click();
    const qr = page.getByRole("img", { name: "ODK Collect QR code for tablet-1" });
    await qr.waitFor();
    await page.getByRole("img", { name: "Web app link for tablet-1" }).waitFor();
    // Drawn: qrcode sized the canvas to the code.
    expect(await qr.evaluate((c) => (c as unknown as { width: number }).width)).toBeGreaterThan(100);
    serverUrl = (await page.locator("code.secret").textContent()) ?? "";
    expect(serverUrl).toMatch(/\/api\/forms\/openrosa\/key\/[A-Za-z0-9_-]+$/);
    expect(await page.getByRole("link", { name: "open on this device" }).getAttribute("href")).toContain(
      "/collect/?token=",
    );
    await screenshot(page, "forms-app-user");
  });

  it("submissions sent over OpenRosa are approved and rejected in the table; the photo and map show", async () => {
    await submit("uuid:00000000-0000-4000-8000-000000000001", "Well 4", "1.5 2.5 0 5");
    await submit("uuid:00000000-0000-4000-8000-000000000002", "Pump 7", "1.6 2.7 0 5");
    await page.getByRole("link", { name: "Submissions" }).click();
    await page.getByRole("img", { name: "Map of 2 geopoints" }).waitFor();
    const [one, two] = [
      "uuid:00000000-0000-4000-8000-000000000001",
      "uuid:00000000-0000-4000-8000-000000000002",
    ];
    await page.getByRole("button", { name: `Approve ${one}` }).click();
    await page
      .getByRole("row", { name: new RegExp(one) })
      .getByText("approved")
      .waitFor();
    // The AI service's results, stored by forms' handler of nexus.ai.attachment.analysed (attachment-ai.ts,
    // tested in ai-search.test.ts): written here into forms' database as that handler would.
    const db = openDatabase(join(box.dataDir, "services", "forms", "forms.db"));
    try {
      db.prepare(
        `INSERT INTO submission_attachment_ai (submission_id, name, sha256, metadata, analysed_at)
         SELECT a.submission_id, a.name, a.sha256, ?, '2026-01-01T00:00:00Z' FROM submission_attachments a
         JOIN submissions s ON s.id = a.submission_id WHERE s.instance_id = ?`,
      ).run(
        JSON.stringify({ "ai.moderation": "neutral", "ai.objects": "bottle 1 (0.62)", "ai.faces": 0 }),
        two,
      );
    } finally {
      db.close();
    }
    await page.getByRole("button", { name: `Open ${two}` }).click();
    const detail = page.getByRole("region", { name: `Submission ${two}` });
    await detail.getByRole("img", { name: "p.png" }).waitFor();
    await detail.getByText("AI: p.png").click();
    const ai = detail.getByRole("region", { name: "AI analysis of p.png" });
    await expect(ai.textContent()).resolves.toMatch(/neutral.*Objectsbottle 1 \(0\.62\)Faces0/);
    expect(
      await detail
        .getByRole("img", { name: "p.png" })
        .evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth),
    ).toBe(1);
    await detail.getByLabel("Comment").fill("photo is blank");
    await detail.getByRole("button", { name: "Reject" }).click();
    await page
      .getByRole("row", { name: new RegExp(two) })
      .getByText("rejected")
      .waitFor();
    await screenshot(page, "forms-submissions");
  });

  it("an edit of a submission's data is kept as a revision", async () => {
    const two = "uuid:00000000-0000-4000-8000-000000000002";
    const detail = page.getByRole("region", { name: `Submission ${two}` });
    await detail.getByText(/^Edit the data/).click();
    const xml = detail.getByLabel("Submission XML");
    await xml.fill((await xml.inputValue()).replace("Pump 7", "Pump 8"));
    await detail.getByRole("button", { name: "Save revision" }).click();
    await detail.getByText("Saved as a new revision.").waitFor();
    await detail
      .getByRole("list", { name: "History" })
      .getByText(/revision 1 by/)
      .waitFor();
  });

  it("exports the form's submissions as CSV", async () => {
    await page.getByLabel("Form", { exact: true }).selectOption("visit");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "CSV" }).click(),
    ]);
    const csv = readFileSync((await download.path()) ?? "", "utf8");
    expect(csv).toContain("Well 4");
    expect(csv).toContain("Pump 8");
  });

  it("reported no errors in the browser besides the broken upload's 400", () => {
    expect(errors.filter((e) => !BAD_UPLOAD.test(e))).toEqual([]);
  });
});
