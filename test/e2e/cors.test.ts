/**
 * CORS in a real browser: Debian's Chromium (playwright-core) loads a page from a second local HTTP server,
 * another origin than the box, and that page calls the box's API with fetch() and a bearer token. From an
 * origin in `cors.allowedOrigins` the calls work (preflighted ones included); from any other origin Chromium
 * blocks them with a CORS error, whether a preflight was needed or not.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { type Browser, collectErrors, launchBrowser } from "../helpers/browser.js";

/** A plain page on its own port: its origin is http://127.0.0.1:<port>. */
async function pageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>another origin</title><p>calls the box</p>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

type Outcome =
  | { ok: true; status: number; body: unknown; requestId: string | null }
  | { ok: false; error: string };

/** fetch() run inside the page; a CORS refusal surfaces there as a rejected promise. */
function fetchFromPage(
  page: Page,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
) {
  return page.evaluate(
    async ([u, i]): Promise<Outcome> => {
      try {
        const r = await fetch(u, i);
        return { ok: true, status: r.status, body: await r.json(), requestId: r.headers.get("x-request-id") };
      } catch (e) {
        return { ok: false, error: String(e) };
      }
    },
    [url, init] as const,
  );
}

let allowed: Awaited<ReturnType<typeof pageServer>>;
let other: Awaited<ReturnType<typeof pageServer>>;
let box: TestAppliance;
let browser: Browser;

beforeAll(async () => {
  allowed = await pageServer();
  other = await pageServer();
  box = await startTestAppliance({ services: ["echo"], env: { NEXUS_CORS_ALLOWED_ORIGINS: allowed.origin } });
  browser = await launchBrowser();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await box?.stop();
  if (box) removeDir(box.dataDir);
  await allowed?.close();
  await other?.close();
});

describe("fetch() from a page on another origin", () => {
  it("from an allowed origin: a bearer GET and a preflighted JSON POST work, exposed headers readable", async () => {
    const page = await browser.context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${allowed.origin}/`);
    const auth = { authorization: `Bearer ${box.token}` };
    const get = await fetchFromPage(page, `${box.url}/api/echo/hello`, { headers: auth });
    expect(get).toMatchObject({ ok: true, status: 200, body: { hello: "world" } });
    expect(get.ok && get.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const post = await fetchFromPage(page, `${box.url}/api/echo/items`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ body: "from another origin" }),
    });
    expect(post).toMatchObject({ ok: true, status: 201, body: { id: expect.any(Number) } });
    // An error answer is readable too: the page sees the 401 and its body, not a network error.
    const anon = await fetchFromPage(page, `${box.url}/api/echo/hello`, {});
    expect(anon).toMatchObject({ ok: true, status: 401, body: { status: 401 } });
    expect(errors.filter((e) => /CORS/.test(e))).toEqual([]);
    await page.close();
  });

  it("from an origin not allowed: Chromium blocks the call with a CORS error, preflighted or not", async () => {
    const page = await browser.context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${other.origin}/`);
    // Needs a preflight (Authorization): the gateway refuses it.
    const get = await fetchFromPage(page, `${box.url}/api/echo/hello`, {
      headers: { authorization: `Bearer ${box.token}` },
    });
    expect(get).toEqual({ ok: false, error: "TypeError: Failed to fetch" });
    // A simple request (no preflight) reaches the box, but its answer carries no CORS header.
    const simple = await fetchFromPage(page, `${box.url}/api/echo/public/hello`, {});
    expect(simple).toEqual({ ok: false, error: "TypeError: Failed to fetch" });
    const blocked = (await waitFor(
      () => {
        const cors = errors.filter((e) => /blocked by CORS policy/.test(e));
        return cors.length >= 2 ? cors : null;
      },
      10_000,
      `two CORS errors in the console; got:\n${errors.join("\n")}`,
    ))!;
    expect(blocked.join("\n")).toContain(`from origin '${other.origin}'`);
    await page.close();
  });
});
