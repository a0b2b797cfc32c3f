/**
 * Media: a 1080p clip's whole video job (thumbnails, sprite, HLS ladder 1080/720/480/360) through the
 * pipeline (API → queue → ffmpeg → blob store → done) against the same ffmpeg commands run directly in the
 * same run; thumbnails per minute; and the one-pass multi-output ladder against one ffmpeg per rendition.
 *
 *   media_overhead_ratio        = pipeline wall time / direct ffmpeg wall time (goal ≤ 1.05)
 *   media_thumbnails_per_minute = thumbnails (3 per ffmpeg run) made per minute
 *   media_onepass_speedup       = one ffmpeg per rendition, in turn / one ffmpeg for the whole ladder
 *
 * Knobs: BENCH_MEDIA_SECONDS (60), BENCH_MEDIA_PRESET (ultrafast; the service's default is veryfast).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LADDER } from "../../services/media/config.js";
import {
  ladderArgs,
  ladderFor,
  renditionArgs,
  spriteArgs,
  thumbnailArgs,
  type VideoPlan,
} from "../../services/media/ffmpeg/args.js";
import { resolveBinaries } from "../../services/media/ffmpeg/resolve.js";
import { runFfmpeg } from "../../services/media/ffmpeg/run.js";
import { startTestAppliance } from "../helpers/appliance.js";
import { makeClip } from "../helpers/media.js";
import { envNumber, metric, note, onCleanup, removeAppliance, sleep } from "./util.js";

const LIMITS = { timeoutMs: 3_600_000, maxOutputBytes: 64 * 1024 ** 3, memoryBytes: 0 };

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

export async function mediaBench(): Promise<void> {
  const seconds = envNumber("BENCH_MEDIA_SECONDS", 60);
  const preset = process.env.BENCH_MEDIA_PRESET ?? "ultrafast";
  const app = await startTestAppliance({
    services: ["files", "media"],
    env: { NEXUS_MEDIA_AUTO_PROCESS: "false", NEXUS_MEDIA_PRESET: preset, NEXUS_MEDIA_MEMORY_MB: "0" },
  });
  onCleanup(() => removeAppliance(app));
  const work = join(app.dataDir, "bench");
  mkdirSync(work, { recursive: true });
  const clip = join(work, "clip.mp4");
  note(`making a ${seconds} s 1080p clip`);
  makeClip(clip, seconds, "1920x1080");
  const bins = resolveBinaries();
  const ff = (args: string[], cwd: string) => runFfmpeg({ bin: bins.ffmpeg, args, cwd, limits: LIMITS });
  const plan: VideoPlan = {
    encoder: "libx264",
    preset,
    segmentSeconds: 4,
    fps: 25,
    hasAudio: true,
    rungs: ladderFor(DEFAULT_LADDER, 1080),
  };
  const fresh = (name: string) => {
    const d = join(work, name);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    for (let i = 0; i < plan.rungs.length; i++) mkdirSync(join(d, `r${i}`));
    return d;
  };

  // Upload (not timed), then the job from the API call to `done`.
  const up = await app.api("/api/files/spaces/me/content/clip.mp4", {
    method: "PUT",
    headers: { "content-type": "video/mp4" },
    body: readFileSync(clip),
  });
  const nodeId = ((await up.json()) as { file: { id: string } }).file.id;
  note("pipeline: thumbnails, sprite and ladder through the media service");
  // The clock starts when the API accepted the job (media has heard of the upload by then).
  const jobId = await createJob(app, nodeId);
  const t0 = performance.now();
  for (;;) {
    const d = (await (await app.api(`/api/media/jobs/${jobId}`)).json()) as {
      job: { state: string; error: string };
    };
    if (d.job.state === "done") break;
    if (d.job.state !== "queued" && d.job.state !== "running")
      throw new Error(`${d.job.state}: ${d.job.error}`);
    await sleep(100);
  }
  const pipeline = (performance.now() - t0) / 1000;

  note("direct: the same ffmpeg commands, in turn");
  const direct = await timed(async () => {
    const d = fresh("direct");
    await ff(thumbnailArgs(clip, seconds), d);
    await ff(spriteArgs(clip, seconds), d);
    await ff(ladderArgs(clip, plan), d);
  });
  metric("media_pipeline_seconds", pipeline);
  metric("media_direct_seconds", direct);
  metric("media_overhead_ratio", pipeline / direct);

  const runs = 5;
  const thumbs = await timed(async () => {
    const d = fresh("thumbs");
    for (let i = 0; i < runs; i++) await ff(thumbnailArgs(clip, seconds), d);
  });
  metric("media_thumbnails_per_minute", (runs * 3 * 60) / thumbs, 1);

  note("ladder: one pass vs one ffmpeg per rendition");
  const onePass = await timed(() => ff(ladderArgs(clip, plan), fresh("onepass")));
  const perRendition = await timed(async () => {
    const d = fresh("each");
    for (let i = 0; i < plan.rungs.length; i++) await ff(renditionArgs(clip, plan, i), d);
  });
  metric("media_ladder_onepass_seconds", onePass);
  metric("media_ladder_per_rendition_seconds", perRendition);
  metric("media_onepass_speedup", perRendition / onePass);
  metric("media_clip", `${seconds} s 1920x1080 25 fps, preset ${preset}, ${plan.rungs.length} renditions`);
  metric("ffmpeg", execFileSync(bins.ffmpeg, ["-version"], { encoding: "utf8" }).split("\n")[0] ?? "");
}

/** Asks for the job until media has heard of the upload (files' event over NATS); returns its id. */
async function createJob(
  app: Awaited<ReturnType<typeof startTestAppliance>>,
  nodeId: string,
): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const r = await app.api("/api/media/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ nodeId }),
    });
    if (r.status !== 404) return ((await r.json()) as { job: { id: string } }).job.id;
    await sleep(100);
  }
  throw new Error("media never heard of the upload");
}
