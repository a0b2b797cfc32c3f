/**
 * The files service under weight: a 1 GiB upload and download through the gateway with the service's memory
 * sampled all along, and a full disk (a real tmpfs, as root) that refuses uploads cleanly and recovers.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { filesCall, generatedContent, getStream, putStream, sha256 } from "../helpers/files.js";

const MiB = 1024 * 1024;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

describe("a 1 GiB file", () => {
  let app: TestAppliance;
  beforeAll(async () => {
    app = await startTestAppliance({ services: ["files"] });
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    if (app) removeDir(app.dataDir);
  });

  it("uploads and downloads through the gateway with the service's memory flat", async () => {
    const pid = app.supervisor.status().find((s) => s.name === "files")!.pid!;
    const baseline = rssOf(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pid));
    }, 50);
    const GiB = 1024 * MiB;
    const url = `${app.url}/api/files/spaces/me/content/big/one-gib.bin`;
    const content = generatedContent(GiB);
    const up = await putStream(url, app.token, content.stream, GiB);
    expect(up.status, up.body.slice(0, 300)).toBe(201);
    const sent = content.sha();
    expect(JSON.parse(up.body).file.sha256).toBe(sent);
    const down = await getStream(url, app.token);
    clearInterval(sampler);
    expect(down).toEqual({ status: 200, size: GiB, sha: sent });
    const growth = peak - baseline;
    console.log(
      `files service RSS: baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB`,
    );
    expect(growth).toBeLessThan(96 * MiB);
  }, 300_000);
});

describe("disk full (tmpfs, root)", () => {
  let app: TestAppliance;
  let mountPoint = "";
  beforeAll(async () => {
    if (process.getuid?.() !== 0)
      throw new Error("the disk-full test mounts a tmpfs and must run as root (CI does)");
    app = await startTestAppliance({
      services: ["files"],
      beforeStart: (dataDir) => {
        mountPoint = join(dataDir, "services", "files");
        mkdirSync(mountPoint, { recursive: true });
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint]);
      },
    });
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    if (mountPoint) execFileSync("umount", ["-l", mountPoint]);
    if (app) removeDir(app.dataDir);
  });

  const call = (method: string, path: string, opts?: Parameters<typeof filesCall>[4]) =>
    filesCall(app, app.token, method, path, opts);
  const staging = () => readdirSync(join(mountPoint, "staging"));
  const blobs = () =>
    execFileSync("find", [join(mountPoint, "blobs"), "-type", "f"])
      .toString()
      .trim();

  it("refuses what does not fit with 507, leaves no partial file, keeps serving reads, and recovers", async () => {
    const small = Buffer.alloc(4 * MiB, 1);
    expect((await call("PUT", "/spaces/me/content/small.bin", { body: small })).status).toBe(201);
    const blobsBefore = blobs();

    // Declared size: refused before a byte is read.
    const declared = await call("PUT", "/spaces/me/content/big.bin", { body: Buffer.alloc(40 * MiB, 2) });
    expect(declared.status, declared.text).toBe(507);
    expect(declared.body.message).toContain("disk is full");

    // No declared size: the disk fills while streaming.
    const streamed = await fetch(`${app.url}/api/files/spaces/me/content/streamed.bin`, {
      method: "PUT",
      headers: { authorization: `Bearer ${app.token}` },
      body: new Blob([Buffer.alloc(40 * MiB, 3)]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(507);
    expect(((await streamed.json()) as { status: number }).status).toBe(507);

    // A resumable upload that cannot fit is refused up front.
    const resumable = await call("POST", "/uploads", {
      body: { space: "me", path: "r.bin", size: 40 * MiB },
    });
    expect(resumable.status).toBe(507);

    expect(staging()).toEqual([]);
    expect(blobs()).toBe(blobsBefore);
    const list = await call("GET", "/spaces/me/list");
    expect(list.body.items.map((i: { name: string }) => i.name)).toEqual(["small.bin"]);
    const read = await fetch(`${app.url}/api/files/spaces/me/content/small.bin`, {
      headers: { authorization: `Bearer ${app.token}` },
    });
    expect(sha256(Buffer.from(await read.arrayBuffer()))).toBe(sha256(small));

    // Space freed: writes work again.
    const id = list.body.items[0].id;
    await call("DELETE", `/nodes/${id}`);
    expect((await call("DELETE", `/trash/${id}`)).status).toBe(200);
    expect(
      (await call("PUT", "/spaces/me/content/again.bin", { body: Buffer.alloc(8 * MiB, 4) })).status,
    ).toBe(201);
  }, 120_000);
});
