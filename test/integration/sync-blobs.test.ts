/**
 * Files on an enrolled box reach the hub: their version rows as change records, their content in the hub's
 * blob store by sha256, resumable (the hub killed -9 mid-transfer) and within the configured bandwidth; also
 * what was stored before the box was enrolled, and never blocked by content purged before it was sent.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { filesCall, sha256 } from "../helpers/files.js";
import { enrolledBox, enrolWith, type HubProcess, hubProcess, teardown } from "../helpers/hub.js";
import { type S3TestServer, startS3Server } from "../helpers/s3-server.js";

const MiB = 1024 * 1024;
const RATE = 2 * MiB;
let hub: HubProcess;
let box: TestAppliance;

beforeAll(async () => {
  hub = await hubProcess();
  await hub.start();
  box = await enrolledBox(hub, "depot", ["files"], {
    config: { serviceConfig: { files: { hubBlobBytesPerSecond: RATE } } },
  });
}, 120_000);

afterAll(() => teardown([box], hub));

const blobOnHub = (sha: string) => join(hub.dir, "blobs", sha.slice(0, 2), sha.slice(2, 4), sha);
const put = (path: string, body: Buffer | string) =>
  filesCall(box, box.token, "PUT", `/spaces/me/content/${path}`, { body });

describe("files → hub", () => {
  it("a new file's content and version row reach the hub", async () => {
    const up = await put("docs/report.txt", "quarterly numbers");
    expect(up.status).toBe(201);
    const sha = sha256("quarterly numbers");
    await waitFor(() => existsSync(blobOnHub(sha)), 30_000, "the blob on the hub");
    expect(readFileSync(blobOnHub(sha), "utf8")).toBe("quarterly numbers");
    const records = await waitFor(async () => {
      const r = await hub.api<{ records: { key: string; data: { sha256: string; path: string } }[] }>(
        "GET",
        "/api/hub/records/versions",
      );
      return r.body.records.length ? r.body.records : null;
    }, 30_000);
    expect(records![0]!.data).toMatchObject({ sha256: sha, path: "docs/report.txt" });
  });

  it("what was uploaded while the hub was down goes when it is back", async () => {
    await hub.stop();
    await put("offline/a.txt", "made offline");
    await hub.start();
    await waitFor(() => existsSync(blobOnHub(sha256("made offline"))), 60_000, "the blob after reconnect");
  }, 90_000);

  it("a file purged before its content could be sent does not hold back the ones after it", async () => {
    await hub.stop();
    const gone = (await put("purged/early.txt", "purged before the link came back")).body as {
      file: { id: string };
    };
    expect((await filesCall(box, box.token, "DELETE", `/nodes/${gone.file.id}`)).status).toBe(200);
    expect((await filesCall(box, box.token, "DELETE", `/trash/${gone.file.id}`)).status).toBe(200);
    await put("purged/later.txt", "sent after it");
    await hub.start();
    await waitFor(() => existsSync(blobOnHub(sha256("sent after it"))), 60_000, "the later blob");
    expect(existsSync(blobOnHub(sha256("purged before the link came back")))).toBe(false);
  }, 90_000);

  it("content a live version lost from the box's store is an error on its row, and the queue goes on", async () => {
    await hub.stop();
    const damaged = "a version whose content the disk lost";
    const sha = sha256(damaged);
    expect((await put("damaged/lost.txt", damaged)).status).toBe(201);
    rmSync(join(box.dataDir, "services", "files", "blobs", sha.slice(0, 2), sha.slice(2, 4), sha));
    await put("damaged/after.txt", "queued after the damaged one");
    await hub.start();
    await waitFor(
      () => existsSync(blobOnHub(sha256("queued after the damaged one"))),
      60_000,
      "the later blob",
    );
    const db = new Database(join(box.dataDir, "services", "files", "files.db"), { readonly: true });
    try {
      const row = db.prepare("SELECT sent_at, last_error FROM blob_sync WHERE sha256 = ?").get(sha) as {
        sent_at: string | null;
        last_error: string | null;
      };
      expect(row).toMatchObject({
        sent_at: null,
        last_error: expect.stringMatching(/missing from the blob store/),
      });
    } finally {
      db.close();
    }
  }, 90_000);

  it("resumes after the hub is killed mid-transfer, within the bandwidth limit, sha256 intact", async () => {
    const data = Buffer.alloc(8 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
    const sha = sha256(data);
    const t0 = Date.now();
    expect((await put("big/video.bin", data)).status).toBe(201);
    const staging = join(hub.dir, "blob-staging");
    await waitFor(
      () => readdirSync(staging).some((f) => f.endsWith(sha)),
      30_000,
      "a partial upload on the hub",
    );
    await new Promise((r) => setTimeout(r, 1000));
    await hub.kill9();
    await hub.start();
    await waitFor(() => existsSync(blobOnHub(sha)), 90_000, "the blob after the restart");
    expect(sha256(readFileSync(blobOnHub(sha)))).toBe(sha);
    // 8 MiB at 2 MiB/s cannot take less than about 4 s, however it was split.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3500);
  }, 180_000);

  it("refuses uploads without valid site credentials, with a bad name, a wrong offset or wrong content", async () => {
    const link = JSON.parse(readFileSync(join(box.dataDir, "secrets", "hub.json"), "utf8"));
    const basic = (user: string, pass: string) =>
      `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    const good = basic(link.user, link.password);
    const sha = sha256("some bytes");
    const call = (path: string, init: RequestInit & { headers?: Record<string, string> }) =>
      fetch(`${hub.url()}/api/hub/blobs/${path}`, init);
    const putWith = (auth: string | null, headers: Record<string, string>, body = "some bytes", name = sha) =>
      call(name, { method: "PUT", body, headers: { ...(auth ? { authorization: auth } : {}), ...headers } });
    const sized = { "x-blob-size": "10", "upload-offset": "0" };
    expect((await putWith(null, sized)).status).toBe(401);
    expect((await putWith(basic(link.user, "wrong-password-123456"), sized)).status).toBe(401);
    expect((await putWith(basic("other-site", link.password), sized)).status).toBe(401);
    expect((await putWith(good, sized, "some bytes", "../../etc/passwd")).status).toBe(404);
    expect((await putWith(good, sized, "some bytes", "ABC")).status).toBe(400);
    expect((await putWith(good, { "x-blob-size": "10", "upload-offset": "5" })).status).toBe(409);
    expect((await putWith(good, { "x-blob-size": "nope" })).status).toBe(400);
    const wrong = await putWith(good, { "x-blob-size": "10", "upload-offset": "0" }, "other byte");
    expect(wrong.status).toBe(422);
    expect(existsSync(blobOnHub(sha))).toBe(false);
    expect((await putWith(good, sized)).status).toBe(201);
    expect(readFileSync(blobOnHub(sha), "utf8")).toBe("some bytes");
  });
});

describe("files stored before the box was enrolled", () => {
  it("reach the hub once it is enrolled: the version records under the new site, and the content", async () => {
    let early = await startTestAppliance({ services: ["files"] });
    const dataDir = early.dataDir;
    try {
      const up = await filesCall(early, early.token, "PUT", "/spaces/me/content/field/notes.txt", {
        body: "written in the field, offline",
      });
      expect(up.status).toBe(201);
      await early.stop();
      await enrolWith(hub, dataDir, "late-depot");
      early = await startTestAppliance({ services: ["files"], dataDir });
      const sha = sha256("written in the field, offline");
      await waitFor(() => existsSync(blobOnHub(sha)), 60_000, "the blob on the hub");
      const records = await waitFor(async () => {
        const r = await hub.api<{ records: { site: string; data: { sha256: string; path: string } }[] }>(
          "GET",
          "/api/hub/records/versions",
        );
        return r.body.records.find((x) => x.data.sha256 === sha);
      }, 30_000);
      expect(records).toMatchObject({ site: "late-depot", data: { path: "field/notes.txt" } });
    } finally {
      await early.stop();
      removeDir(dataDir);
    }
  }, 120_000);
});

describe("files → hub with the hub's blobs on S3", () => {
  let s3: S3TestServer;
  let s3hub: HubProcess;
  let s3box: TestAppliance;
  beforeAll(async () => {
    s3 = await startS3Server();
    s3hub = await hubProcess({
      env: {
        NEXUS_HUB_BLOB_BACKEND: "s3",
        NEXUS_HUB_S3_ENDPOINT: s3.endPoint,
        NEXUS_HUB_S3_PORT: String(s3.port),
        NEXUS_HUB_S3_USE_SSL: "false",
        NEXUS_HUB_S3_ACCESS_KEY: s3.accessKey,
        NEXUS_HUB_S3_SECRET_KEY: s3.secretKey,
        NEXUS_HUB_S3_BUCKET: "nexus-hub-blobs",
      },
    });
    await s3hub.start();
    s3box = await enrolledBox(s3hub, "s3-depot", ["files"]);
  }, 120_000);
  afterAll(async () => {
    await teardown([s3box], s3hub);
    await s3?.stop();
  });

  it("stores what the box sends in the bucket", async () => {
    const content = Buffer.alloc(3 * MiB, 5);
    expect(
      (await filesCall(s3box, s3box.token, "PUT", "/spaces/me/content/s3.bin", { body: content })).status,
    ).toBe(201);
    const link = JSON.parse(readFileSync(join(s3box.dataDir, "secrets", "hub.json"), "utf8"));
    const auth = `Basic ${Buffer.from(`${link.user}:${link.password}`).toString("base64")}`;
    await waitFor(
      async () =>
        (await fetch(`${s3hub.url()}/api/hub/blobs/${sha256(content)}`, { headers: { authorization: auth } }))
          .status === 200,
      60_000,
      "the blob in the hub's bucket",
    );
  }, 90_000);
});
