/**
 * A full data disk does not take the box down. The whole data dir sits on a real 64 MiB tmpfs (as root); it is
 * filled through the API by every upload path until each answers 507 `disk-full`. The disk reserve stays free
 * (uploads may not consume it), so afterwards login, user creation and settings work, every acknowledged file
 * downloads intact, a restart of files comes back, trash and purge work, and uploads work again.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statfsSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { filesCall, getStream, type Res, sha256 } from "../helpers/files.js";
import { addPerson, login, type Person, setupAdmin } from "../helpers/people.js";

const MiB = 1024 * 1024;
const DISK = 64 * MiB;

let app: TestAppliance;
let dataDir = "";
let admin: Person;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("this test mounts a tmpfs and must run as root (CI does)");
  dataDir = tempDir("nexus-fulldisk-");
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${DISK}`, "tmpfs", dataDir]);
  app = await startTestAppliance({ services: ["identity", "system", "files"], dataDir });
  admin = await setupAdmin(app);
}, 90_000);

afterAll(async () => {
  await app?.stop();
  if (dataDir) execFileSync("umount", ["-l", dataDir]);
  if (dataDir) removeDir(dataDir);
});

const available = () => {
  const s = statfsSync(dataDir);
  return s.bavail * s.bsize;
};
/** The default reserve: 5 % of the disk or 256 MiB, whichever is smaller. */
const reserve = () => Math.min(Math.floor(DISK * 0.05), 256 * MiB);
const call = (method: string, path: string, opts?: Parameters<typeof filesCall>[4]) =>
  filesCall(app, admin.token, method, path, opts);
const stagingFiles = () => readdirSync(join(dataDir, "services", "files", "staging"));

/** `size` bytes, different for every `seed`, so no two uploads share a blob. */
function content(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((i * 2654435761 + seed * 97) >>> 0, i);
  return b;
}

/**
 * A PUT or PATCH whose body has no Content-Length (chunked), on a connection of its own: refused early, the
 * gateway cuts a body still arriving after 5 s, which must not hit a pooled connection a later call reuses.
 */
function chunked(method: string, path: string, body: Buffer, headers: Record<string, string> = {}) {
  return new Promise<Res>((resolve, reject) => {
    const req = http.request(`${app.url}/api/files${path}`, {
      method,
      agent: false,
      headers: { authorization: `Bearer ${admin.token}`, "transfer-encoding": "chunked", ...headers },
    });
    req.on("response", async (res) => {
      let text = "";
      for await (const c of res) text += c;
      resolve({ status: res.statusCode ?? 0, text, body: text ? JSON.parse(text) : null } as Res);
    });
    req.on("error", reject);
    // Sent in pieces, so the service sees the body arrive while it streams it to disk.
    Readable.from(
      (function* () {
        for (let i = 0; i < body.length; i += 256 * 1024) yield body.subarray(i, i + 256 * 1024);
      })(),
    )
      .pipe(req)
      .on("error", () => undefined); // cut by the gateway after its answer: the answer is what counts
  });
}

/** Soft, so that one run shows every path that answers otherwise. */
function expectDiskFull(r: Res) {
  expect.soft({ status: r.status, reason: r.body?.data?.reason }, r.text).toEqual({
    status: 507,
    reason: "disk-full",
  });
}

describe("a full data disk", () => {
  const acknowledged = new Map<string, string>(); // path → sha256
  const openUploads: string[] = [];

  it("refuses every upload path with 507 disk-full before the reserve is used", async () => {
    // Resumable uploads opened while there is room; their bytes come after the disk filled.
    const withLength = await call("POST", "/uploads", {
      body: { space: "me", path: "r1.bin", size: 12 * MiB },
    });
    expect(withLength.status, withLength.text).toBe(201);
    const r1 = withLength.body.upload.id as string;
    const first = await call("PATCH", `/uploads/${r1}`, {
      body: content(2 * MiB, 1),
      headers: { "upload-offset": "0" },
    });
    expect(first.status, first.text).toBe(200);
    const noLength = await call("POST", "/uploads", { body: { space: "me", path: "r2.bin", size: 8 * MiB } });
    expect(noLength.status, noLength.text).toBe(201);
    const r2 = noLength.body.upload.id as string;

    // Streaming PUT with Content-Length, 4 MiB at a time, until the disk is full.
    let refused: Res | null = null;
    for (let i = 0; i < 32 && !refused; i++) {
      const body = content(4 * MiB, 100 + i);
      const r = await call("PUT", `/spaces/me/content/fill/${i}.bin`, { body });
      if (r.status === 201) acknowledged.set(`fill/${i}.bin`, sha256(body));
      else refused = r;
    }
    expect(refused).not.toBeNull();
    expectDiskFull(refused!);
    expect(acknowledged.size).toBeGreaterThan(8);

    // Chunked PUT: refused while streaming, no partial file left.
    expectDiskFull(await chunked("PUT", "/spaces/me/content/chunked.bin", content(16 * MiB, 2)));
    // Resumable: a PATCH that declares more than fits, and one without Content-Length that fills while streaming.
    const declared = await call("PATCH", `/uploads/${r1}`, {
      body: content(10 * MiB, 3),
      headers: { "upload-offset": String(2 * MiB) },
    });
    expectDiskFull(declared);
    expectDiskFull(await chunked("PATCH", `/uploads/${r2}`, content(8 * MiB, 4), { "upload-offset": "0" }));
    // Small PUTs take what is left above the reserve; then a new resumable upload cannot fit either.
    for (let i = 0; i < 32; i++) {
      const body = content(MiB / 2, 200 + i);
      const r = await call("PUT", `/spaces/me/content/fill/small-${i}.bin`, { body });
      if (r.status !== 201) {
        expectDiskFull(r);
        break;
      }
      acknowledged.set(`fill/small-${i}.bin`, sha256(body));
    }
    expectDiskFull(await call("POST", "/uploads", { body: { space: "me", path: "r3.bin", size: MiB } }));

    // The confirmed offsets are what they were, and nothing beyond them takes space.
    expect((await call("GET", `/uploads/${r1}`)).body.upload.offset).toBe(2 * MiB);
    expect((await call("GET", `/uploads/${r2}`)).body.upload.offset).toBe(0);
    expect(stagingFiles()).toEqual([r1]);
    expect(available()).toBeGreaterThan(reserve() / 2);
    openUploads.push(r1, r2);
  }, 180_000);

  it("shows the disk against its reserve in /metrics and as a console alert", async () => {
    const metrics = await (
      await app.api("/metrics", { headers: { authorization: `Bearer ${admin.token}` } })
    ).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(metrics)?.[1]);
    expect(gauge("nexus_disk_reserve_bytes")).toBe(reserve());
    expect(gauge("nexus_disk_upload_room_bytes")).toBeLessThan(MiB / 2);
    const status = await fetch(`${app.url}/api/appliance/status`, {
      headers: { authorization: `Bearer ${admin.token}` },
    });
    const alerts = ((await status.json()) as { alerts: { id: string; level: string }[] }).alerts;
    expect(alerts.find((a) => a.id === "disk-reserve")?.level).toMatch(/^(warning|critical)$/);
  });

  it("keeps login, user creation and settings working on the full disk", async () => {
    const token = await login(app, admin.username, admin.password);
    expect(token).toBeTruthy();
    await addPerson(app, admin, "after-full", ["viewer"]);
    const setting = await fetch(`${app.url}/api/system/settings/note`, {
      method: "PUT",
      headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "the disk is full" }),
    });
    expect(setting.status, await setting.text()).toBe(200);
  }, 60_000);

  it("serves every acknowledged file, also after a restart of files", async () => {
    const downloadAll = async () => {
      for (const [path, sha] of acknowledged) {
        const r = await getStream(`${app.url}/api/files/spaces/me/content/${path}`, admin.token);
        expect({ path, status: r.status, sha: r.sha }).toEqual({ path, status: 200, sha });
      }
    };
    await downloadAll();
    await app.supervisor.restartUnit("files");
    await waitFor(
      () => app.supervisor.status().find((s) => s.name === "files")?.state === "running",
      60_000,
      "files to run again",
    );
    await downloadAll();
  }, 120_000);

  it("trashes and purges through the API, abandons uploads, then takes uploads again", async () => {
    for (const u of openUploads) expect((await call("DELETE", `/uploads/${u}`)).status).toBe(200);
    const list = await call("GET", "/spaces/me/list/fill");
    expect(list.status, list.text).toBe(200);
    for (const item of list.body.items as { id: string }[]) {
      expect((await call("DELETE", `/nodes/${item.id}`)).status).toBe(200);
      expect((await call("DELETE", `/trash/${item.id}`)).status).toBe(200);
    }
    const again = content(8 * MiB, 5);
    const up = await call("PUT", "/spaces/me/content/again.bin", { body: again });
    expect(up.status, up.text).toBe(201);
    expect(up.body.file.sha256).toBe(sha256(again));
    expect((await chunked("PUT", "/spaces/me/content/again-chunked.bin", content(MiB, 6))).status).toBe(201);
  }, 120_000);
});
