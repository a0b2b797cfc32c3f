/**
 * `npm run bench -- console`: what the web console costs a browser on loopback. Real Chromium (Debian's, via
 * playwright-core) against a real appliance (identity + system), signed in as an admin:
 * - overview_cold_ms / overview_cold_bytes: from navigation to the overview showing live data (interactive),
 *   with an empty cache; bytes as Chromium counted them on the wire (headers included, compressed bodies);
 * - overview_warm_ms / overview_warm_bytes: the same on reload (hashed assets come from the cache);
 * - baseline: the same browser loading the bare `/health` JSON; `overview_vs_health_time_ratio` is cold
 *   overview time ÷ health time, measured in the same run.
 * Medians over BENCH_ROUNDS (default 5) rounds. Needs dist/console: run `npm run build` first.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { ROOT, startTestAppliance } from "../helpers/appliance.js";
import { launchBrowser } from "../helpers/browser.js";
import { envNumber, median, metric, note, onCleanup, removeAppliance } from "./util.js";

/** Counts the bytes Chromium receives on a page (finished loads and open streams such as SSE). */
async function byteCounter(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const bytes = new Map<string, number>();
  cdp.on("Network.dataReceived", (e) =>
    bytes.set(e.requestId, (bytes.get(e.requestId) ?? 0) + e.encodedDataLength),
  );
  cdp.on("Network.loadingFinished", (e) => bytes.set(e.requestId, e.encodedDataLength));
  return {
    reset: () => bytes.clear(),
    total: () => [...bytes.values()].reduce((a, b) => a + b, 0),
    requests: () => bytes.size,
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function consoleBench(): Promise<void> {
  if (!existsSync(join(ROOT, "dist", "console", "index.html"))) {
    throw new Error("dist/console is missing: run `npm run build` before this benchmark");
  }
  const rounds = envNumber("BENCH_ROUNDS", 5);
  const app = await startTestAppliance({
    services: ["identity", "system"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000000", NEXUS_LOG_LEVEL: "warn" },
  });
  const undo = onCleanup(() => removeAppliance(app));
  try {
    const first = await app.firstLogin();
    if (first.kind !== "setup") throw new Error(`expected a setup link, got ${first.kind}`);
    const password = "measure-the-console-7";
    const post = (path: string, body: unknown) =>
      fetch(`${app.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const token = new URL(first.url).searchParams.get("token");
    const setup = await post("/api/identity/setup", { token, username: "bench", password });
    if (setup.status !== 201) throw new Error(`setup: ${setup.status}`);

    const cold: number[] = [];
    const coldBytes: number[] = [];
    const warm: number[] = [];
    const warmBytes: number[] = [];
    const health: number[] = [];
    const healthBytes: number[] = [];
    let requests = 0;
    for (let r = 0; r < rounds; r++) {
      const browser = await launchBrowser();
      try {
        const login = await post("/api/identity/login", { username: "bench", password });
        const cookies = login.headers.getSetCookie().map((c) => {
          const [pair = ""] = c.split(";");
          const eq = pair.indexOf("=");
          return { name: pair.slice(0, eq), value: pair.slice(eq + 1), url: app.url };
        });
        await browser.context.addCookies(cookies);
        const page = await browser.context.newPage();
        const counter = await byteCounter(page);
        const ready = () => page.locator("section.overview[data-ready]").waitFor({ timeout: 30_000 });

        // Baseline first, in the same fresh browser: the bare health JSON.
        health.push(await timed(() => page.goto(`${app.url}/health`)));
        // CDP reports a load's size a moment after the page event: let the counters settle (not timed).
        await page.waitForTimeout(300);
        healthBytes.push(counter.total());
        counter.reset();

        cold.push(
          await timed(async () => {
            await page.goto(`${app.url}/#/overview`);
            await ready();
          }),
        );
        await page.waitForTimeout(300);
        coldBytes.push(counter.total());
        requests = counter.requests();
        counter.reset();

        warm.push(
          await timed(async () => {
            await page.reload();
            await ready();
          }),
        );
        await page.waitForTimeout(300);
        warmBytes.push(counter.total());
        note(
          `round ${r + 1}: health ${health.at(-1)!.toFixed(1)} ms; overview cold ${cold.at(-1)!.toFixed(1)} ms ` +
            `${coldBytes.at(-1)} B, warm ${warm.at(-1)!.toFixed(1)} ms ${warmBytes.at(-1)} B`,
        );
      } finally {
        await browser.close();
      }
    }
    metric("health_ms", median(health), 1);
    metric("health_bytes", median(healthBytes), 0);
    metric("overview_cold_ms", median(cold), 1);
    metric("overview_cold_bytes", median(coldBytes), 0);
    metric("overview_cold_requests", requests, 0);
    metric("overview_warm_ms", median(warm), 1);
    metric("overview_warm_bytes", median(warmBytes), 0);
    metric("overview_vs_health_time_ratio", median(cold) / median(health), 2);
    metric("overview_vs_health_bytes_ratio", median(coldBytes) / median(healthBytes), 1);
  } finally {
    undo();
    await removeAppliance(app);
  }
}
