/**
 * A real Chromium for end-to-end tests and the console benchmark: Debian's /usr/bin/chromium driven by
 * playwright-core (never a downloaded browser), headless, no sandbox (containers), nothing fetched from the
 * network in the background, a fresh profile each launch. Fails loudly when Chromium is missing.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { ROOT, removeDir, tempDir } from "./appliance.js";

export const CHROMIUM = process.env.NEXUS_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENSHOTS = join(ROOT, "test-results", "screenshots");

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium with its own temporary profile (cookies do not leak between launches). */
export async function launchBrowser(
  opts: { viewport?: { width: number; height: number } } = {},
): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (installer/system-deps.sh does)`);
  }
  const profile = tempDir("nexus-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: opts.viewport ?? { width: 1280, height: 860 },
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      removeDir(profile);
    },
  };
}

/** Errors the page reported: console.error (failed requests included) and uncaught exceptions. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** Saves a full-page screenshot as test-results/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** A fresh Chromium with one page whose errors are collected (see collectErrors). */
export async function openPage(
  opts: { viewport?: { width: number; height: number } } = {},
): Promise<{ browser: Browser; page: Page; errors: string[] }> {
  const browser = await launchBrowser(opts);
  const page = await browser.context.newPage();
  return { browser, page, errors: collectErrors(page) };
}

/** Teardown of a browser test: the browser, then the box and its data dir (either may be missing). */
export async function closeBrowserAndBox(
  browser: Browser | undefined,
  box: { stop(): Promise<void>; dataDir: string } | undefined,
): Promise<void> {
  await browser?.close();
  await box?.stop();
  if (box) removeDir(box.dataDir);
}
