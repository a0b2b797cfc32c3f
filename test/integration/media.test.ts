/**
 * The media service on a real appliance (identity, files, media, nats-server, real ffmpeg): uploads through
 * files trigger jobs; HLS ladders are checked segment by segment and read back by ffprobe over HTTP; photos,
 * audio and bad input; signed playback URLs; the encoder fallback (a profile encoder that fails at run time);
 * cancel; and kill -9 of the service mid-job (no orphan ffmpeg, the job completes after the restart).
 */
import { execFile, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { filesCall } from "../helpers/files.js";
import { makeAudio, makeClip, makeEmptyWav, makeLongSilence, makePhoto, makePng } from "../helpers/media.js";
import { apiCall, type Body, settledJob, startMediaBox, uploadAs } from "../helpers/media-api.js";
import type { Person } from "../helpers/people.js";

let app: TestAppliance;
let alice: Person;
let bob: Person;
const dir = tempDir("nexus-media-");

beforeAll(async () => {
  ({ app, alice, bob } = await startMediaBox(["identity", "files", "media"], {
    NEXUS_MEDIA_SEGMENT_SECONDS: "1",
    // A hardware encoder this box does not have: every video goes through the real fallback path.
    NEXUS_MEDIA_H264_ENCODERS: "h264_nvenc,libx264",
    NEXUS_MEDIA_RETRY_BASE_MS: "100",
    NEXUS_MEDIA_MAX_PIXELS: "50000000",
    NEXUS_MEDIA_MAX_DURATION_SECONDS: "14400",
  }));
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
  removeDir(dir);
});

const media = (p: Person | null, method: string, path: string, body?: unknown) =>
  apiCall(app, p, method, `/api/media${path}`, body);
/** Uploads `file` as `name` into the person's space; returns the node id. */
const upload = (p: Person, name: string, file: string, type: string) => uploadAs(app, p, name, file, type);
/** Waits for the job of `nodeId` to end; returns its detail. */
const settled = (p: Person, nodeId: string, timeoutMs = 60_000) => settledJob(app, p, nodeId, timeoutMs);

const playlistEntries = (text: string) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

describe("video", () => {
  it("makes thumbnails, a sprite and an aligned HLS ladder that ffprobe plays over HTTP", async () => {
    const clip = makeClip(join(dir, "clip.mp4"), 4, "640x480");
    const nodeId = await upload(alice, "trip/clip $(touch pwned); rm -rf x.mp4", clip, "video/mp4");
    const d = await settled(alice, nodeId);
    expect(d.job.state, d.job.error).toBe("done");
    expect(d.job.kind).toBe("video");
    expect(d.job.encoder).toBe("libx264"); // h264_nvenc failed here, the fallback took over
    expect(d.job.probe).toMatchObject({ kind: "video", video: { width: 640, height: 480 }, hasGps: false });
    const names = d.outputs.map((o: Body) => o.name);
    expect(names).toEqual(
      expect.arrayContaining(["thumb_1.jpg", "thumb_2.jpg", "thumb_3.jpg", "sprite.jpg"]),
    );
    expect(names).toContain("master.m3u8");
    // 480 and 360: never upscaled past the source's 480 lines.
    const base = `${app.url}${d.playback.base}`;
    const master = await fetch(`${base}master.m3u8`);
    expect(master.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    const variants = playlistEntries(await master.text());
    expect(variants).toEqual(["r0/index.m3u8", "r1/index.m3u8"]);
    for (const v of variants) {
      const pl = await (await fetch(`${base}${v}`)).text();
      expect(pl).toContain("#EXT-X-ENDLIST");
      const total = [...pl.matchAll(/#EXTINF:([\d.]+)/g)].reduce((s, m) => s + Number(m[1]), 0);
      expect(Math.abs(total - 4)).toBeLessThanOrEqual(0.5);
      for (const seg of playlistEntries(pl)) {
        const r = await fetch(`${base}${v.replace("index.m3u8", seg)}`, {
          headers: { range: "bytes=0-187" },
        });
        expect(r.status).toBe(206);
        expect(r.headers.get("content-type")).toBe("video/mp2t");
        expect(r.headers.get("cache-control")).toContain("immutable");
        expect((await r.arrayBuffer()).byteLength).toBe(188);
      }
    }
    // Not execFileSync: the gateway serving ffprobe runs in this process.
    const { stdout } = await promisify(execFile)("ffprobe", [
      "-v",
      "error",
      "-show_streams",
      "-of",
      "json",
      `${base}master.m3u8`,
    ]);
    const probed = JSON.parse(stdout);
    const heights = probed.streams.filter((s: Body) => s.codec_type === "video").map((s: Body) => s.height);
    expect(heights.sort()).toEqual([360, 480]);
    expect(() => readFileSync(join(process.cwd(), "pwned"))).toThrow();
  }, 90_000);

  it("serves outputs to a member of the space, not to others, and refuses bad or expired tokens", async () => {
    const [job] = (await media(alice, "GET", "/jobs?state=done")).body.jobs;
    expect((await media(alice, "GET", `/jobs/${job.id}/files/thumb_1.jpg`)).status).toBe(200);
    expect((await media(bob, "GET", `/jobs/${job.id}/files/thumb_1.jpg`)).status).toBe(404);
    expect((await media(bob, "GET", `/jobs/${job.id}`)).status).toBe(404);
    expect((await media(null, "GET", `/jobs/${job.id}`)).status).toBe(401);
    expect([400, 404]).toContain(
      (await media(alice, "GET", `/jobs/${job.id}/files/..%2F..%2Fmedia.db`)).status,
    );
    const forged = `${job.id}.${Math.floor(Date.now() / 1000) + 60}.AAAA`;
    const r = await media(null, "GET", `/play/${forged}/master.m3u8`);
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ status: 403, message: "invalid playback token" });
    expect((await media(alice, "POST", "/jobs", { nodeId: "nope" })).status).toBe(400);
    expect((await media(bob, "POST", "/jobs", { nodeId: job.nodeId })).status).toBe(404);
  });
});

describe("photos and audio", () => {
  it("makes upright JPEG and WebP variants without EXIF, and notes the GPS of the original", async () => {
    const photo = makePhoto(join(dir, "p.jpg"), "640x360", { orientation: 6, gps: true });
    const d = await settled(alice, await upload(alice, "p.jpg", photo, "image/jpeg"));
    expect(d.job.state, d.job.error).toBe("done");
    expect(d.job.probe).toMatchObject({ kind: "image", hasGps: true, orientation: 6 });
    expect(d.outputs.map((o: Body) => o.name).sort()).toEqual(["w320.jpg", "w320.webp"]);
    const jpg = Buffer.from(await (await fetch(`${app.url}${d.playback.base}w320.jpg`)).arrayBuffer());
    expect(jpg.includes(Buffer.from("Exif\0\0"))).toBe(false);
    const dims = execFileSync(
      "ffprobe",
      ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", "-"],
      {
        input: jpg,
        encoding: "utf8",
      },
    );
    expect(dims.trim()).toBe("320,568"); // 360×640 upright, scaled to 320 wide
  }, 60_000);

  it("makes AAC and Opus renditions and a waveform", async () => {
    const d = await settled(
      alice,
      await upload(alice, "a.mp3", makeAudio(join(dir, "a.mp3"), 3), "audio/mpeg"),
    );
    expect(d.job.state, d.job.error).toBe("done");
    expect(d.outputs.map((o: Body) => o.name).sort()).toEqual(["audio.m4a", "audio.ogg", "waveform.json"]);
    const wf = (await media(alice, "GET", `/jobs/${d.job.id}/files/waveform.json`)).body;
    expect(wf.peaks.length).toBeGreaterThan(100);
    expect(Math.max(...wf.peaks)).toBeGreaterThan(0.1); // lavfi's sine peaks at 1/8
  }, 60_000);
});

describe("bad input ends failed with a reason, publishing nothing", () => {
  const cases: [string, () => string, string, RegExp][] = [
    [
      "not media",
      () => writeText("notes.mp4", "just some text\n"),
      "video/mp4",
      /not a readable media file|no audio or video/,
    ],
    [
      "corrupt",
      () =>
        writeBytes("corrupt.mp4", Buffer.concat([Buffer.from("\0\0\0\x20ftypisom"), Buffer.alloc(5000, 7)])),
      "video/mp4",
      /not a readable|no audio or video|size/,
    ],
    ["truncated", () => truncated(), "video/mp4", /not a readable|no audio or video|moov|size/i],
    ["zero duration", () => makeEmptyWav(join(dir, "zero.wav")), "audio/wav", /zero duration|not a readable/],
    [
      "40000×40000",
      () => makePng(join(dir, "huge.png"), 40000, 40000, { truncate: true }),
      "image/png",
      /usable size|not a readable|MP limit/,
    ],
    [
      "decompression bomb",
      () => makePng(join(dir, "bomb.png"), 12000, 12000),
      "image/png",
      /144 MP\), over the 50 MP limit/,
    ],
    [
      "10-hour silence",
      () => makeLongSilence(join(dir, "long.wav"), 36000),
      "audio/wav",
      /36000 s long, over the 14400 s limit/,
    ],
  ];
  for (const [name, make, type, reason] of cases) {
    it(name, async () => {
      const d = await settled(alice, await upload(alice, `bad/${name}`, make(), type));
      expect(d.job.state).toBe("failed");
      expect(d.job.error).toMatch(reason);
      expect(d.outputs).toEqual([]);
      expect(d.playback).toBeNull();
    }, 30_000);
  }
});

function writeText(name: string, text: string) {
  return writeBytes(name, Buffer.from(text));
}
function writeBytes(name: string, bytes: Buffer) {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return file;
}
function truncated() {
  const full = readFileSync(makeClip(join(dir, "full.mp4"), 2, "320x240"));
  return writeBytes("truncated.mp4", full.subarray(0, Math.floor(full.length / 3)));
}

describe("jobs", () => {
  it("cancels a running job and kills its ffmpeg", async () => {
    const clip = makeClip(join(dir, "long.mp4"), 20, "640x360");
    const nodeId = await upload(bob, "long.mp4", clip, "video/mp4");
    const id = await waitFor(
      async () => (await media(bob, "GET", `/jobs?nodeId=${nodeId}&state=running`)).body.jobs?.[0]?.id,
      30_000,
      "running",
    );
    const pids = (await waitFor(() => pidsOf(id), 20_000, "an ffmpeg pid")) as number[];
    const r = await media(bob, "DELETE", `/jobs/${id}`);
    expect(r.status).toBe(200);
    await waitFor(
      async () => (await media(bob, "GET", `/jobs/${id}`)).body.job.state === "cancelled",
      20_000,
      "cancelled",
    );
    for (const pid of pids) await waitFor(() => !alive(pid), 10_000, `ffmpeg ${pid} gone`);
    expect((await media(bob, "DELETE", `/jobs/${id}`)).status).toBe(409);
  }, 60_000);

  it("kill -9 of the service mid-job: no orphan ffmpeg, and the job completes after the restart", async () => {
    const clip = makeClip(join(dir, "k9.mp4"), 12, "640x360");
    const nodeId = await upload(alice, "k9.mp4", clip, "video/mp4");
    const id = await waitFor(
      async () => (await media(alice, "GET", `/jobs?nodeId=${nodeId}&state=running`)).body.jobs?.[0]?.id,
      30_000,
      "running",
    );
    const pids = (await waitFor(() => pidsOf(id), 20_000, "an ffmpeg pid")) as number[];
    const svc = app.supervisor.status().find((s) => s.name === "media");
    expect(svc?.pid).toBeTruthy();
    process.kill(svc!.pid!, "SIGKILL");
    for (const pid of pids) await waitFor(() => !alive(pid), 30_000, `ffmpeg ${pid} gone`);
    const d = await settled(alice, nodeId, 90_000);
    expect(d.job.state, d.job.error).toBe("done");
    expect(d.job.attempts).toBeGreaterThanOrEqual(2);
  }, 120_000);
});

describe("purge", () => {
  it("removes a version's outputs when files purges the file", async () => {
    const [job] = (await media(alice, "GET", "/jobs?state=done")).body.jobs;
    const del = await filesCall(app, alice.token, "DELETE", `/nodes/${job.nodeId}`);
    expect(del.status, del.text).toBeLessThan(300);
    const trash = await filesCall(app, alice.token, "DELETE", `/trash/${job.nodeId}`);
    expect(trash.status, trash.text).toBeLessThan(300);
    await waitFor(
      async () => (await media(alice, "GET", `/jobs/${job.id}`)).status === 404,
      20_000,
      "outputs purged",
    );
  });
});

function pidsOf(jobId: string): number[] | null {
  const db = new Database(join(app.dataDir, "services", "media", "media.db"), {
    readonly: true,
    timeout: 5000,
  });
  try {
    const rows = db.prepare("SELECT pid FROM job_pids WHERE job_id = ?").all(jobId) as { pid: number }[];
    return rows.length ? rows.map((r) => r.pid) : null;
  } finally {
    db.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
