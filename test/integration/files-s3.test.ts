/**
 * The files service on the S3 backend, chosen through config.json's serviceConfig, against a real
 * S3-protocol server process (s3rver), end to end through the gateway. The service reaches s3rver through a
 * TCP relay the tests can shut, to make the S3 server unreachable for a while.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import {
  filesCall,
  generatedContent,
  getStream,
  putStream,
  sha256,
  type TcpGate,
  tcpGate,
} from "../helpers/files.js";
import { type S3TestServer, startS3Server } from "../helpers/s3-server.js";

let s3: S3TestServer;
let gate: TcpGate;
let app: TestAppliance;

beforeAll(async () => {
  s3 = await startS3Server();
  gate = await tcpGate(s3.port);
  app = await startTestAppliance({
    services: ["files"],
    beforeStart: (dataDir) => {
      const files = {
        backend: "s3",
        s3Endpoint: s3.endPoint,
        s3Port: gate.port,
        s3UseSsl: false,
        s3AccessKey: s3.accessKey,
        s3SecretKey: s3.secretKey,
        s3Bucket: "nexus-files-test",
      };
      writeFileSync(join(dataDir, "config.json"), JSON.stringify({ serviceConfig: { files } }));
    },
  });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
  await gate?.close();
  await s3?.stop();
});

const call = (method: string, path: string, opts?: Parameters<typeof filesCall>[4]) =>
  filesCall(app, app.token, method, path, opts);

describe("files on S3", () => {
  it("uploads, versions, ranges and downloads", async () => {
    const a = await call("PUT", "/spaces/me/content/s3/a.txt", { body: "first" });
    expect(a.status, a.text).toBe(201);
    expect((await call("PUT", "/spaces/me/content/s3/a.txt", { body: "second!" })).body.file.version).toBe(2);
    expect((await call("GET", "/spaces/me/content/s3/a.txt")).text).toBe("second!");
    expect((await call("GET", "/spaces/me/content/s3/a.txt?version=1")).text).toBe("first");
    const r = await call("GET", "/spaces/me/content/s3/a.txt", { headers: { range: "bytes=1-3" } });
    expect(r.status).toBe(206);
    expect(r.text).toBe("eco");
  });

  it("streams a 48 MiB file in parts and back, sha256 intact", async () => {
    const size = 48 * 1024 * 1024;
    const url = `${app.url}/api/files/spaces/me/content/s3/big.bin`;
    const content = generatedContent(size);
    const up = await putStream(url, app.token, content.stream, size);
    expect(up.status, up.body.slice(0, 200)).toBe(201);
    const sent = content.sha();
    expect(JSON.parse(up.body).file.sha256).toBe(sent);
    expect(await getStream(url, app.token)).toEqual({ status: 200, size, sha: sent });
  }, 120_000);

  it("completes a resumable upload and purges content for good", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 9);
    const u = (await call("POST", "/uploads", { body: { space: "me", path: "s3/r.bin", size: data.length } }))
      .body.upload;
    const half = data.length / 2;
    await call("PATCH", `/uploads/${u.id}`, {
      body: data.subarray(0, half),
      headers: { "upload-offset": "0" },
    });
    const done = await call("PATCH", `/uploads/${u.id}`, {
      body: data.subarray(half),
      headers: { "upload-offset": String(half) },
    });
    expect(done.status, done.text).toBe(201);
    expect(done.body.file.sha256).toBe(sha256(data));
    const id = done.body.file.id;
    await call("DELETE", `/nodes/${id}`);
    expect((await call("DELETE", `/trash/${id}`)).status).toBe(200);
    expect((await call("GET", "/spaces/me/content/s3/r.bin")).status).toBe(404);
  });

  it("keeps a complete resumable upload whose commit fails while S3 is down; a retry commits it", async () => {
    const data = Buffer.alloc(2 * 1024 * 1024 + 5, 3);
    const start = await call("POST", "/uploads", {
      body: { space: "me", path: "s3/outage.bin", size: data.length },
    });
    const id = start.body.upload.id;
    const half = 1024 * 1024;
    const first = await call("PATCH", `/uploads/${id}`, {
      body: data.subarray(0, half),
      headers: { "upload-offset": "0" },
    });
    expect(first.status, first.text).toBe(200);
    await gate.shut();
    let failed: Awaited<ReturnType<typeof call>>;
    try {
      failed = await call("PATCH", `/uploads/${id}`, {
        body: data.subarray(half),
        headers: { "upload-offset": String(half) },
      });
    } finally {
      await gate.open();
    }
    expect(failed.status, failed.text).toBe(503);
    expect(failed.body).toMatchObject({ status: 503, data: { offset: data.length } });
    expect(failed.body.message).toContain("kept");
    expect(failed.headers.get("upload-offset")).toBe(String(data.length));
    const kept = await call("GET", `/uploads/${id}`);
    expect(kept.status, kept.text).toBe(200);
    expect(kept.body.upload.offset).toBe(data.length);
    expect((await call("GET", "/spaces/me/content/s3/outage.bin")).status).toBe(404);
    // S3 is back: the completing request, an empty PATCH at the full offset, commits what was kept.
    const retried = await call("PATCH", `/uploads/${id}`, {
      body: "",
      headers: { "upload-offset": String(data.length) },
    });
    expect(retried.status, retried.text).toBe(201);
    expect(retried.body.file.sha256).toBe(sha256(data));
    expect(sha256(Buffer.from((await call("GET", "/spaces/me/content/s3/outage.bin")).text, "latin1"))).toBe(
      sha256(data),
    );
    const after = await call("GET", `/uploads/${id}`);
    expect(after.status).toBe(200);
    expect(after.body.upload).toMatchObject({ complete: true, offset: data.length });
    expect(readdirSync(join(app.dataDir, "services", "files", "staging"))).toEqual([]);
  });

  it("reports ready while the S3 server answers", async () => {
    const res = await fetch(`${app.url}/ready`);
    expect(res.status).toBe(200);
  });
});
