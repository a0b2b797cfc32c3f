/**
 * Media on a real appliance (identity, files, forms, media, nats-server, real ffmpeg), for what came after the
 * first cut: forms submissions' photos and audio go through media (`nexus.forms.submitted`); per-space EXIF
 * and GPS settings (validated, permission-checked) with a real JPEG carrying GPS EXIF, checked by ffprobe,
 * and the GPS-free copy served through signed URLs; and the SSE progress stream read by a real client while
 * a real job runs.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, type TestAppliance, tempDir } from "../helpers/appliance.js";
import { makeAudio, makeClip, makePhoto } from "../helpers/media.js";
import { apiCall, type Body, settledJob, startMediaBox, uploadAs } from "../helpers/media-api.js";
import type { Person } from "../helpers/people.js";

let app: TestAppliance;
let admin: Person;
let alice: Person;
let bob: Person;
const dir = tempDir("nexus-media-x-");

beforeAll(async () => {
  ({ app, admin, alice, bob } = await startMediaBox(["identity", "files", "forms", "media"], {
    NEXUS_MEDIA_SEGMENT_SECONDS: "1",
    NEXUS_MEDIA_PHOTO_WIDTHS: "160",
  }));
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
  removeDir(dir);
});

const call = (p: Person, method: string, path: string, body?: unknown) => apiCall(app, p, method, path, body);
const upload = (p: Person, name: string, file: string, type: string) => uploadAs(app, p, name, file, type);
const settled = (p: Person, nodeId: string) => settledJob(app, p, nodeId);

/** The EXIF tags ffprobe reads from a JPEG (its first frame's tags). */
function exifTags(jpeg: Buffer): Record<string, string> {
  const out = execFileSync(
    "ffprobe",
    ["-v", "error", "-show_frames", "-show_entries", "frame_tags", "-of", "json", "-"],
    { input: jpeg, encoding: "utf8" },
  );
  const tags = (JSON.parse(out).frames?.[0]?.tags ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, v.trim()]));
}

const hasGps = (tags: Record<string, string>) => Object.keys(tags).some((k) => k.startsWith("GPS"));

describe("forms attachments go through media", () => {
  const xform = `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
<h:head><h:title>Site visit</h:title><model>
<instance><data id="visit" version="1"><photo/><voice/><meta><instanceID/></meta></data></instance>
<bind nodeset="/data/photo" type="binary"/>
<bind nodeset="/data/voice" type="binary"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
</model></h:head>
<h:body><upload ref="/data/photo" mediatype="image/*"><label>Photo</label></upload>
<upload ref="/data/voice" mediatype="audio/*"><label>Voice</label></upload></h:body></h:html>`;

  it("probes a submitted photo and voice note and makes their variants, seen by forms readers", async () => {
    const up = await fetch(`${app.url}/api/forms/forms?publish=true`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/xml" },
      body: xform,
    });
    expect(up.status, await up.clone().text()).toBe(201);
    const au = await call(admin, "POST", "/api/forms/app-users", { name: "tablet" });
    expect(au.status, au.text).toBe(201);
    const fd = new FormData();
    const xml =
      `<data id="visit" version="1"><photo>site.jpg</photo><voice>note.mp3</voice>` +
      `<meta><instanceID>uuid:7d4c5e2a-1b1e-4c55-9a0f-2f1a2b3c4d5e</instanceID></meta></data>`;
    fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
    const photo = readFileSync(makePhoto(join(dir, "site.jpg"), "320x240", { gps: true }));
    const voice = readFileSync(makeAudio(join(dir, "note.mp3"), 1));
    fd.append("site.jpg", new Blob([new Uint8Array(photo)], { type: "image/jpeg" }), "site.jpg");
    fd.append("note.mp3", new Blob([new Uint8Array(voice)], { type: "audio/mpeg" }), "note.mp3");
    const sub = await fetch(`${au.body.serverUrl}/submission`, { method: "POST", body: fd });
    expect(sub.status, await sub.text()).toBe(201);
    const list = await call(admin, "GET", "/api/forms/submissions");
    const submissionId = list.body.submissions?.[0]?.id;
    expect(submissionId, list.text).toBeTruthy();

    const p = await settled(bob, `${submissionId}/site.jpg`); // bob: a field agent, may read forms
    expect(p.job.state, p.job.error).toBe("done");
    expect(p.job).toMatchObject({ origin: "forms", space: expect.stringMatching(/^form:/) });
    expect(p.job.probe).toMatchObject({ kind: "image", hasGps: true });
    expect(p.outputs.map((o: Body) => o.name).sort()).toEqual(["w160.jpg", "w160.webp"]);
    const a = await settled(bob, `${submissionId}/note.mp3`);
    expect(a.job.state, a.job.error).toBe("done");
    expect(a.outputs.map((o: Body) => o.name).sort()).toEqual(["audio.m4a", "audio.ogg", "waveform.json"]);
    const variant = await fetch(`${app.url}/api/media/jobs/${p.job.id}/files/w160.jpg`, {
      headers: { authorization: `Bearer ${bob.token}` },
    });
    expect(variant.status).toBe(200);
    expect(hasGps(exifTags(Buffer.from(await variant.arrayBuffer())))).toBe(false); // box default: strip
  }, 90_000);
});

describe("EXIF and GPS per space", () => {
  it("validates the settings and who may change them", async () => {
    const get = await call(alice, "GET", "/api/media/spaces/me/settings");
    expect(get.status, get.text).toBe(200);
    expect(get.body).toEqual({
      space: `user:${alice.id}`,
      effective: { exif: "strip", gps: "strip", shareLinkGps: "strip" },
      overrides: {},
    });
    const bad: [string, unknown, number][] = [
      ["me", { exif: "maybe" }, 400],
      ["me", { exif: "keep", extra: 1 }, 400],
      ["me", "not json", 400],
      ["me", { gps: "keep".repeat(10_000) }, 400],
      [`user:${alice.id}/../x`, { exif: "keep" }, 400], // the gateway refuses encoded separators
      ["user:x';DROP TABLE jobs;--", { exif: "keep" }, 400],
      [`user:${alice.id}`, { exif: "keep" }, 200],
    ];
    for (const [space, body, status] of bad) {
      const r = await call(alice, "PUT", `/api/media/spaces/${encodeURIComponent(space)}/settings`, body);
      expect(r.status, `${space} ${JSON.stringify(body)}: ${r.text}`).toBe(status);
      if (status >= 400) expect(r.body.message, r.text).toBeTruthy();
    }
    expect(
      (await call(bob, "PUT", `/api/media/spaces/user:${alice.id}/settings`, { gps: "keep" })).status,
    ).toBe(403);
    expect((await call(bob, "GET", `/api/media/spaces/user:${alice.id}/settings`)).status).toBe(403);
    expect((await call(bob, "PUT", "/api/media/spaces/form:visit/settings", { exif: "keep" })).status).toBe(
      403,
    );
    expect((await call(admin, "PUT", "/api/media/spaces/form:visit/settings", { exif: "keep" })).status).toBe(
      200,
    );
    // Concurrent writers: the last one wins, whole (never a mix of two bodies).
    const writes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call(
          alice,
          "PUT",
          "/api/media/spaces/me/settings",
          i % 2 ? { exif: "keep" } : { exif: "keep", gps: "strip" },
        ),
      ),
    );
    expect(writes.every((w) => w.status === 200)).toBe(true);
    const now = (await call(alice, "GET", "/api/media/spaces/me/settings")).body.overrides;
    expect([{ exif: "keep" }, { exif: "keep", gps: "strip" }]).toContainEqual(now);
  });

  it("keeps EXIF upright without GPS, or with GPS for the space but never in a signed URL", async () => {
    const photo = makePhoto(join(dir, "gps.jpg"), "320x240", { orientation: 6, gps: true });
    expect(hasGps(exifTags(readFileSync(photo)))).toBe(true);

    // EXIF kept, GPS stripped (the default for gps).
    expect((await call(alice, "PUT", "/api/media/spaces/me/settings", { exif: "keep" })).status).toBe(200);
    const one = await settled(alice, await upload(alice, "one.jpg", photo, "image/jpeg"));
    expect(one.job.state, one.job.error).toBe("done");
    const kept = Buffer.from(
      await (
        await fetch(`${app.url}/api/media/jobs/${one.job.id}/files/w160.jpg`, {
          headers: { authorization: `Bearer ${alice.token}` },
        })
      ).arrayBuffer(),
    );
    const keptTags = exifTags(kept);
    expect(keptTags.Orientation).toBe("1"); // the pixels are upright already
    expect(hasGps(keptTags)).toBe(false);
    expect(kept.includes(Buffer.from("Exif\0\0"))).toBe(true);

    // EXIF and GPS kept for the space; the signed (shareable) URL serves a copy without GPS.
    expect(
      (await call(alice, "PUT", "/api/media/spaces/me/settings", { exif: "keep", gps: "keep" })).status,
    ).toBe(200);
    const two = await settled(alice, await upload(alice, "two.jpg", photo, "image/jpeg"));
    expect(two.job.state, two.job.error).toBe("done");
    const own = await fetch(`${app.url}/api/media/jobs/${two.job.id}/files/w160.jpg`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    const ownTags = exifTags(Buffer.from(await own.arrayBuffer()));
    expect(hasGps(ownTags)).toBe(true);
    expect(ownTags.Orientation).toBe("1");
    const shared = await fetch(`${app.url}${two.playback.base}w160.jpg`);
    expect(shared.status).toBe(200);
    const sharedBytes = Buffer.from(await shared.arrayBuffer());
    expect(Number(shared.headers.get("content-length"))).toBe(sharedBytes.length);
    expect(hasGps(exifTags(sharedBytes))).toBe(false);
    expect(exifTags(sharedBytes).Orientation).toBe("1");

    // Back to the box default: no EXIF at all.
    expect((await call(alice, "PUT", "/api/media/spaces/me/settings", {})).body.overrides).toEqual({});
  }, 90_000);
});

describe("SSE progress", () => {
  it("streams a running job's progress to its owner, up to done, and nothing to others", async () => {
    const ac = new AbortController();
    const open = (p: Person) =>
      fetch(`${app.url}/api/media/events`, {
        headers: { authorization: `Bearer ${p.token}` },
        signal: ac.signal,
      });
    const [mine, theirs] = await Promise.all([open(alice), open(bob)]);
    expect(mine.status).toBe(200);
    expect(mine.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const read = async (res: Response, until: (jobs: Body[]) => boolean) => {
      const jobs: Body[] = [];
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      try {
        while (!until(jobs)) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          for (let at = buf.indexOf("\n\n"); at >= 0; at = buf.indexOf("\n\n")) {
            const block = buf.slice(0, at);
            buf = buf.slice(at + 2);
            const data = block
              .split("\n")
              .filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trim())
              .join("\n");
            if (/^event: ?job$/m.test(block) && data) jobs.push(JSON.parse(data));
          }
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
      }
      return jobs;
    };
    const clip = makeClip(join(dir, "sse.mp4"), 2, "320x240");
    const nodeId = await upload(alice, "sse.mp4", clip, "video/mp4");
    const bobSaw = read(theirs, () => false);
    const seen = (await Promise.race([
      read(mine, (jobs) => jobs.some((j) => j.nodeId === nodeId && ["done", "failed"].includes(j.state))),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("no done event in 60 s")), 60_000).unref(),
      ),
    ])) as Body[];
    ac.abort();
    const events = seen.filter((j) => j.nodeId === nodeId);
    expect(events.at(-1).state, events.at(-1).error).toBe("done");
    const running = events.filter((j) => j.state === "running");
    expect(running.length).toBeGreaterThan(2);
    expect(running.map((j) => j.stage)).toEqual(expect.arrayContaining(["thumbnails", "hls"]));
    expect(running.some((j) => j.progress > 0 && j.progress < 100)).toBe(true);
    const progress = running.map((j) => j.progress);
    expect(progress).toEqual([...progress].sort((x, y) => x - y)); // never goes back
    expect((await bobSaw).filter((j) => j.nodeId === nodeId)).toEqual([]);
  }, 90_000);
});
