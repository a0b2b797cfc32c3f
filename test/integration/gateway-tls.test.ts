/**
 * The gateway's HTTPS listener (`gateway.tls`): beside the plain one, same routes and checks, with a real
 * certificate made by openssl; a missing key file fails the start with the file named and leaves nothing running.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, tempDir } from "../helpers/appliance.js";

let dir: string;
let app: TestAppliance;
let cert: string;

/** GET over HTTPS trusting only the test's certificate. */
function httpsGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: cert, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Writes the data dir's config.json with a `gateway.tls` section. */
const withTls = (tls: Record<string, unknown>) => (dataDir: string) => {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "config.json"), JSON.stringify({ gateway: { tls } }));
};

beforeAll(async () => {
  dir = tempDir("nexus-tls-");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" }); // biome-ignore format: one openssl command
  cert = readFileSync(join(dir, "cert.pem"), "utf8");
  app = await startTestAppliance({
    services: ["echo"],
    beforeStart: withTls({
      host: "127.0.0.1",
      port: 0,
      certFile: join(dir, "cert.pem"),
      keyFile: join(dir, "key.pem"),
    }),
  });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  removeDir(app?.dataDir ?? "");
  removeDir(dir);
});

describe("gateway HTTPS listener", () => {
  it("serves the same gateway over TLS beside the plain listener", async () => {
    expect(app.tlsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await httpsGet(`${app.tlsUrl}/health`)).status).toBe(200);
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
  });

  it("applies the same authentication on the TLS listener", async () => {
    const anon = await httpsGet(`${app.tlsUrl}/api/echo/hello`);
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.body)).toMatchObject({ status: 401 });
    const authed = await httpsGet(`${app.tlsUrl}/api/echo/hello`, { authorization: `Bearer ${app.token}` });
    expect(authed.status).toBe(200);
  });

  it("refuses to start when the key cannot be read, naming the file, and leaves nothing listening", async () => {
    const missing = join(dir, "missing-key.pem");
    await expect(
      startTestAppliance({
        services: ["echo"],
        beforeStart: withTls({
          host: "127.0.0.1",
          port: 0,
          certFile: join(dir, "cert.pem"),
          keyFile: missing,
        }),
      }),
    ).rejects.toThrow(`gateway.tls.keyFile: cannot read ${missing}`);
  });
});
