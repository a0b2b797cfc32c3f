/**
 * The console's Backups page end to end: a real box (identity, system) backing up to a folder, the built
 * console in Debian's Chromium. The nav entry; a backup that fails (the destination is broken) raises the
 * alert; "Back up now" then succeeds, its row appears with size and reason, and Verify says it is intact.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConsole } from "../../appliance/console/build.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { type Browser, collectErrors, launchBrowser, screenshot } from "../helpers/browser.js";
import { type Box, type Session, setupAdmin, startIdentity } from "../helpers/identity.js";

let dir: string;
let box: Box;
let admin: Session;
let browser: Browser;
let page: Page;
let errors: string[];

beforeAll(async () => {
  dir = tempDir("nexus-backup-e2e-");
  writeFileSync(join(dir, "passphrase"), "console test passphrase\n", { mode: 0o600 });
  const [, started] = await Promise.all([
    buildConsole(),
    startIdentity({
      NEXUS_BACKUP_DESTINATION: join(dir, "dest"),
      NEXUS_BACKUP_PASSPHRASE_FILE: join(dir, "passphrase"),
      NEXUS_BACKUP_SCRYPT_WORK_FACTOR: "12",
    }),
  ]);
  box = started;
  admin = await setupAdmin(box);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  errors = collectErrors(page);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await box?.stop();
  if (dir) removeDir(dir);
});

describe("console: Backups page", () => {
  it("shows a failed backup's alert, backs up now, lists the backup and verifies it", async () => {
    await page.goto(`${box.url}/`);
    await page.getByLabel("Username").fill(admin.username);
    await page.getByLabel("Password", { exact: true }).fill(admin.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("link", { name: "Backups" }).click();
    await page.getByRole("heading", { name: "Backups" }).waitFor();
    await page.getByText("No backup at the destination yet.").waitFor();
    expect(await page.locator('[data-field="destination"]').textContent()).toContain(join(dir, "dest"));
    expect(await page.locator('[data-field="next-run"]').textContent()).not.toBe("not scheduled");

    // A file where the destination needs a folder: the backup fails.
    mkdirSync(join(dir, "dest"), { recursive: true });
    writeFileSync(join(dir, "dest", "snapshots"), "in the way");
    await page.getByRole("button", { name: "Back up now" }).click();
    await page.getByRole("alert").filter({ hasText: "The backup failed" }).waitFor({ timeout: 60_000 });
    await page.locator('[data-alert="backup"]').waitFor();
    await screenshot(page, "backups-failed");

    rmSync(join(dir, "dest", "snapshots"));
    await page.getByRole("button", { name: "Back up now" }).click();
    await page.getByText("Backup done.").waitFor({ timeout: 60_000 });
    const row = page.locator("tr[data-backup]");
    await row.waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toContain("manual");
    expect(await page.locator('[data-field="last-success"]').textContent()).not.toBe("never");
    await page.locator('[data-alert="backup"]').waitFor({ state: "detached" });

    await row.getByRole("button", { name: /Verify the backup/ }).click();
    await page.getByText(/is intact/).waitFor({ timeout: 60_000 });
    await screenshot(page, "backups");
    expect(errors).toEqual([]);
  });
});
