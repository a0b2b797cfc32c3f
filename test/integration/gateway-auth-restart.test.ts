/**
 * Tokens across a gateway restart, with the real identity service: while the gateway does not yet hold
 * identity's keys it answers 503 with Retry-After (the caller should retry), never 401 (the caller would drop
 * a valid token); `/ready` is 200 only once tokens can be verified, and concurrent first requests share one
 * key fetch instead of verifying against an empty key set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { type Person, setupAdmin } from "../helpers/people.js";

const services = ["identity", "echo"];
const dataDir = tempDir();
let app: TestAppliance | undefined;
let admin: Person;

const hello = (token: string) =>
  fetch(`${app!.url}/api/echo/hello`, { headers: { authorization: `Bearer ${token}` } });

/** Stops the running appliance and starts a new one (a new gateway, empty key set) on the same data dir. */
async function restart(waitReady: boolean): Promise<TestAppliance> {
  await app?.stop();
  app = await startTestAppliance({ services, isolation: "shared", dataDir, waitReady });
  return app;
}

beforeAll(async () => {
  app = await startTestAppliance({ services, isolation: "shared", dataDir });
  admin = await setupAdmin(app);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  removeDir(dataDir);
});

describe("a valid token after a gateway restart", () => {
  it("gets 503 with Retry-After while identity is starting, then 200; never 401", async () => {
    const fresh = await restart(false);
    const seen: { status: number; retryAfter: string | null; body: unknown }[] = [];
    await waitFor(
      async () => {
        const r = await hello(admin.token);
        seen.push({ status: r.status, retryAfter: r.headers.get("retry-after"), body: await r.json() });
        return r.status === 200;
      },
      60_000,
      "a 200 once identity runs",
    );
    expect(seen.filter((s) => s.status !== 200 && s.status !== 503)).toEqual([]);
    for (const s of seen.filter((x) => x.status === 503)) {
      expect(s.retryAfter).toMatch(/^\d+$/);
      expect(s.body).toMatchObject({ status: 503, message: expect.any(String) });
    }
    await fresh.supervisor.ready(60_000);
  }, 90_000);

  it("16 concurrent requests the moment /ready turns 200 all get 200", async () => {
    const fresh = await restart(false);
    await waitFor(async () => (await fetch(`${fresh.url}/ready`)).status === 200, 60_000, "/ready 200");
    const statuses = await Promise.all(
      Array.from({ length: 16 }, async () => (await hello(admin.token)).status),
    );
    expect(statuses).toEqual(Array(16).fill(200));
  }, 90_000);

  it("while identity is down and its keys were never fetched: 503 with Retry-After, /ready 503", async () => {
    // Ready by the supervisor's own probes: nothing has asked the gateway for identity's keys yet.
    const fresh = await restart(true);
    await fresh.supervisor.stopUnit("services");
    await waitFor(() => !fresh.supervisor.routes().has("identity"), 20_000, "identity to stop");
    const r = await hello(admin.token);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
    // From authentication itself, not from the (also stopped) echo service behind it.
    expect(await r.json()).toMatchObject({ status: 503, message: expect.stringMatching(/authenticat/) });
    expect((await fetch(`${fresh.url}/ready`)).status).toBe(503);
    fresh.supervisor.startUnit("services");
    await waitFor(async () => (await fetch(`${fresh.url}/ready`)).status === 200, 60_000, "/ready 200");
    expect((await hello(admin.token)).status).toBe(200);
  }, 90_000);
});
