/**
 * Media: a 1080p clip's whole video job (thumbnails, sprite, HLS ladder 1080/720/480/360) through the
 * pipeline (API → queue → ffmpeg → blob store → done) against the same ffmpeg commands run directly in the
 * same run; thumbnails per minute; and the one-pass multi-output ladder against one ffmpeg per rendition.
 *
 *   media_overhead_ratio        = pipeline wall time / direct ffmpeg wall time (goal ≤ 1.05)
 *   media_thumbnails_per_minute = thumbnails (3 per ffmpeg run) made per minute
 *   media_onepass_speedup       = one ffmpeg per rendition, in turn / one ffmpeg for the whole ladder
 *
 * The pipeline is timed between two direct runs and compared with their mean (the box is shared: its load
 * changes during a run), stage by stage too (thumbnails, sprite, hls, and the pipeline's own queue, probe and
 * publish).
 *
 * Knobs: BENCH_MEDIA_SECONDS (60), BENCH_MEDIA_PRESET (ultrafast; the service's default is veryfast),
 * BENCH_MEDIA_ONEPASS=0 skips the one-pass vs per-rendition comparison.
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
  // Direct, pipeline, direct again: the pipeline is compared with the mean of the runs around it, so a change
  // in the machine's load during the run (shared box) weighs on both sides alike.
  note("direct (1): the same ffmpeg commands, in turn");
  const d1 = await directRun(ff, fresh, plan, clip, seconds);
  note("pipeline: thumbnails, sprite and ladder through the media service");
  const p = await pipelineRun(app, nodeId);
  note("direct (2)");
  const d2 = await directRun(ff, fresh, plan, clip, seconds);
  const direct = (d1.total + d2.total) / 2;
  metric("media_pipeline_seconds", p.total);
  metric(
    "media_direct_seconds",
    `${direct.toFixed(2)} (runs before / after: ${d1.total.toFixed(2)} / ${d2.total.toFixed(2)})`,
  );
  metric("media_overhead_ratio", p.total / direct);
  for (const name of ["thumbnails", "sprite", "hls"] as const)
    metric(
      `media_${name}_seconds_pipeline_vs_direct`,
      `${(p.stages[name] ?? 0).toFixed(2)} / ${((d1[name] + d2[name]) / 2).toFixed(2)}`,
    );
  metric(
    "media_pipeline_own_seconds",
    `queue+probe ${p.before.toFixed(2)}, publish ${(p.stages.publish ?? 0).toFixed(2)}`,
  );

  const runs = 5;
  const thumbs = await timed(async () => {
    const d = fresh("thumbs");
    for (let i = 0; i < runs; i++) await ff(thumbnailArgs(clip, seconds), d);
  });
  metric("media_thumbnails_per_minute", (runs * 3 * 60) / thumbs, 1);

  if (process.env.BENCH_MEDIA_ONEPASS === "0") {
    metric("media_clip", `${seconds} s 1920x1080 25 fps, preset ${preset}, ${plan.rungs.length} renditions`);
    return;
  }
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

type Ff = (args: string[], cwd: string) => Promise<unknown>;

/** The video job's ffmpeg commands run directly, each timed. */
async function directRun(
  ff: Ff,
  fresh: (name: string) => string,
  plan: VideoPlan,
  clip: string,
  seconds: number,
) {
  const d = fresh("direct");
  const r = {
    thumbnails: await timed(() => ff(thumbnailArgs(clip, seconds), d)),
    sprite: await timed(() => ff(spriteArgs(clip, seconds), d)),
    hls: await timed(() => ff(ladderArgs(clip, plan), d)),
  };
  return { ...r, total: r.thumbnails + r.sprite + r.hls };
}

/** The job through the API, from the accepted POST to `done`, with the seconds each stage took (100 ms polls). */
async function pipelineRun(app: Awaited<ReturnType<typeof startTestAppliance>>, nodeId: string) {
  const jobId = await createJob(app, nodeId);
  const t0 = performance.now();
  const stageAt = new Map<string, number>();
  for (;;) {
    const d = (await (await app.api(`/api/media/jobs/${jobId}`)).json()) as {
      job: { state: string; error: string; stage: string | null };
    };
    if (d.job.stage && !stageAt.has(d.job.stage)) stageAt.set(d.job.stage, performance.now());
    if (d.job.state === "done") break;
    if (d.job.state !== "queued" && d.job.state !== "running")
      throw new Error(`${d.job.state}: ${d.job.error}`);
    await sleep(100);
  }
  const end = performance.now();
  const list = [...stageAt.entries()];
  const stages = Object.fromEntries(
    list.map(([name, at], i) => [name, ((list[i + 1]?.[1] ?? end) - at) / 1000]),
  );
  const first = list[0]?.[1] ?? t0;
  return { total: (end - t0) / 1000, stages, before: (first - t0) / 1000 + (stages.probe ?? 0) };
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
