/**
 * An upload a service refuses before reading its body (here: over the quota) is answered at once, and the rest
 * of the body is read and dropped, so the connection stays usable: a request sent after the body on the same
 * keep-alive connection is answered too, instead of the connection being cut when the linger runs out.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { filesCall } from "../helpers/files.js";
import { rawRequest } from "../helpers/raw-http.js";

const MiB = 1024 * 1024;
let app: TestAppliance;

beforeAll(async () => {
  app = await startTestAppliance({ services: ["files"] });
  const quota = await filesCall(app, app.token, "PUT", "/quotas/me", { body: { bytes: MiB } });
  expect(quota.status, quota.text).toBe(200);
}, 60_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

describe("an upload refused before its body was read", () => {
  it("keeps the keep-alive connection serving the next request", async () => {
    const auth = `authorization: Bearer ${app.token}\r\nhost: 127.0.0.1\r\n`;
    const put = `PUT /api/files/spaces/me/content/big.bin HTTP/1.1\r\n${auth}content-length: ${4 * MiB}\r\n\r\n`;
    const get = `GET /api/files/spaces HTTP/1.1\r\n${auth}connection: close\r\n\r\n`;
    const bytes = Buffer.concat([Buffer.from(put), Buffer.alloc(4 * MiB, 1), Buffer.from(get)]);
    const r = await rawRequest(app.port, bytes, { untilClose: true, timeoutMs: 30_000 });
    const statuses = [...r.raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses, r.raw.slice(0, 600)).toEqual([507, 200]);
  }, 60_000);
});
