/**
 * The console plays a video through hls.js in Debian's Chromium (which has H.264 in MSE): a clip uploaded
 * through files is processed by media, the Files page's "Media" shows the player on the signed HLS URL, and
 * the video's currentTime advances with no media error; a job still running is followed over the SSE stream
 * until its player appears. Photos show their variants; audio its waveform.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConsole } from "../../appliance/console/build.js";
import { removeDir, startTestAppliance, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { type Browser, collectErrors, launchBrowser, screenshot } from "../helpers/browser.js";
import { filesCall } from "../helpers/files.js";
import { makeAudio, makeClip } from "../helpers/media.js";
import { type Person, setupAdmin } from "../helpers/people.js";

let box: TestAppliance;
let browser: Browser;
let page: Page;
let errors: string[];
let admin: Person;
const dir = tempDir("nexus-media-e2e-");

/** What the test reads of a `<video>` (the test runs in Node, without DOM types). */
interface VideoLike {
  play(): Promise<void>;
  currentTime: number;
  error: { code: number } | null;
  videoWidth: number;
  currentSrc: string;
}

beforeAll(async () => {
  await buildConsole();
  box = await startTestAppliance({
    services: ["identity", "files", "media"],
    env: {
      NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000",
      NEXUS_MEDIA_PRESET: "ultrafast",
      NEXUS_MEDIA_SEGMENT_SECONDS: "1",
    },
  });
  admin = await setupAdmin(box);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  errors = collectErrors(page);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await box?.stop();
  if (box) removeDir(box.dataDir);
  removeDir(dir);
});

async function uploadAndWait(name: string, file: string, type: string) {
  const up = await filesCall(box, admin.token, "PUT", `/spaces/me/content/${name}`, {
    body: readFileSync(file),
    headers: { "content-type": type },
  });
  expect(up.status, up.text).toBe(201);
  const nodeId = up.body.file.id as string;
  await waitFor(
    async () => {
      const r = await fetch(`${box.url}/api/media/jobs?nodeId=${nodeId}`, {
        headers: { authorization: `Bearer ${admin.token}` },
      });
      const job = ((await r.json()) as { jobs: { state: string }[] }).jobs[0];
      if (job?.state === "failed") throw new Error(JSON.stringify(job));
      return job?.state === "done";
    },
    60_000,
    `${name} processed`,
  );
}

describe("media in the console", () => {
  it("plays an uploaded video with hls.js: currentTime advances, no media error", async () => {
    await uploadAndWait("clip.mp4", makeClip(join(dir, "clip.mp4"), 4, "640x360"), "video/mp4");
    await page.goto(`${box.url}/`);
    await page.getByLabel("Username").fill(admin.username);
    await page.getByLabel("Password", { exact: true }).fill(admin.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("button", { name: "Log out" }).waitFor();
    await page.goto(`${box.url}/#/files`);
    await page.getByRole("button", { name: "Media of clip.mp4" }).click();
    const video = page.getByLabel("Video clip.mp4");
    await video.waitFor();
    await video.evaluate((v) => (v as unknown as VideoLike).play());
    // Polled from here: the console's CSP (no unsafe-eval) refuses waitForFunction's string form.
    const played = () => video.evaluate((v) => (v as unknown as VideoLike).currentTime);
    await waitFor(async () => (await played()) > 1, 20_000, "currentTime past 1 s");
    const state = await video.evaluate((el) => {
      const v = el as unknown as VideoLike;
      return { error: v.error?.code ?? null, width: v.videoWidth, src: v.currentSrc };
    });
    expect(state.error).toBeNull();
    expect(state.width).toBe(640);
    expect(state.src).toMatch(/^blob:/); // MediaSource: hls.js, not native playback
    expect(await page.getByRole("alert").count()).toBe(0);
    await screenshot(page, "media-video");
  }, 90_000);

  it("follows a job that is still running over SSE until the player appears", async () => {
    const streams: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/api/media/events")) streams.push(r.url());
    });
    // A longer clip keeps the worker (one job at a time) busy, so the short one is still queued or running
    // when its Media panel opens.
    const busy = await filesCall(box, admin.token, "PUT", "/spaces/me/content/busy.mp4", {
      body: readFileSync(makeClip(join(dir, "busy.mp4"), 8, "640x360")),
      headers: { "content-type": "video/mp4" },
    });
    expect(busy.status, busy.text).toBe(201);
    const up = await filesCall(box, admin.token, "PUT", "/spaces/me/content/later.mp4", {
      body: readFileSync(makeClip(join(dir, "later.mp4"), 2, "320x240")),
      headers: { "content-type": "video/mp4" },
    });
    expect(up.status, up.text).toBe(201);
    await page.goto(`${box.url}/#/files`);
    await page.reload();
    await page.getByRole("button", { name: "Media of later.mp4" }).click();
    await page.getByLabel("Video later.mp4").waitFor({ timeout: 60_000 });
    expect(streams.length).toBeGreaterThan(0);
  }, 90_000);

  it("shows an audio file's waveform", async () => {
    await uploadAndWait("tone.mp3", makeAudio(join(dir, "tone.mp3"), 2), "audio/mpeg");
    await page.goto(`${box.url}/#/files`);
    await page.reload();
    await page.getByRole("button", { name: "Media of tone.mp3" }).click();
    const wave = page.getByRole("img", { name: "Waveform of tone.mp3" });
    await wave.waitFor();
    // The bars come once waveform.json is fetched, after the element itself.
    await waitFor(async () => (await wave.locator("rect").count()) > 100, 20_000, "the waveform's bars");
    expect(errors).toEqual([]);
  }, 60_000);
});
